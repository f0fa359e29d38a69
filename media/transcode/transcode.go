package transcode

import (
	"errors"
	"fmt"
	"sync/atomic"
)

// Codec names a transcoder's input or output.
type Codec int

// The codecs. PCM (interleaved float32) is an output only, for tests and
// measurements.
const (
	PCM  Codec = 0
	AAC  Codec = 1
	Opus Codec = 2
)

func (c Codec) String() string {
	switch c {
	case PCM:
		return "pcm"
	case AAC:
		return "aac"
	case Opus:
		return "opus"
	}
	return fmt.Sprintf("codec(%d)", int(c))
}

// ErrNotBuilt is what New returns in a build without the codec library.
var ErrNotBuilt = errors.New("audio transcoding is not built: this binary was built without cgo/libavcodec")

// Params describe a transcoder.
type Params struct {
	From   Codec
	Config []byte // the decoder configuration: AAC's AudioSpecificConfig, Opus's OpusHead
	// InRate and InChannels hint the input format when Config does not
	// carry it (0: the decoder's default).
	InRate, InChannels int
	To                 Codec
	OutRate            int // Hz; Opus takes 48000, AAC 44100 or 48000
	OutChannels        int
	Bitrate            int // bits/s; 0 picks 64 kbit/s per channel
}

// Packet is one encoded packet (or, for PCM, a run of samples) with its
// presentation time in ms.
type Packet struct {
	Data []byte
	MS   int64
}

// Transcoder decodes one codec and encodes another, one packet at a time.
type Transcoder struct {
	p       pipe
	params  Params
	clock   clock
	closed  bool
	Dropped uint64 // input packets the decoder refused
}

// pipe is the codec library's side of a Transcoder.
type pipe interface {
	// send decodes one packet and returns the samples (at the output
	// rate) it queued for the encoder.
	send(data []byte) (samples int, err error)
	// recv returns the next output packet, valid until the next call, and
	// the samples it covers; nil when more input is needed.
	recv() (data []byte, samples int, err error)
	config() []byte
	close()
}

var open atomic.Int64

// Open is the number of transcoders not yet closed, in this process.
func Open() int64 { return open.Load() }

// Built reports whether this binary has the codec library.
func Built() bool { return built }

// New opens a transcoder; ErrNotBuilt without the codec library.
func New(p Params) (*Transcoder, error) {
	if p.From != AAC && p.From != Opus {
		return nil, fmt.Errorf("transcode: cannot decode %v", p.From)
	}
	if p.OutRate <= 0 || p.OutChannels <= 0 || p.OutChannels > 2 {
		return nil, fmt.Errorf("transcode: bad output %d Hz, %d channels", p.OutRate, p.OutChannels)
	}
	if p.Bitrate == 0 {
		p.Bitrate = 64000 * p.OutChannels
	}
	pp, err := openPipe(p)
	if err != nil {
		return nil, err
	}
	open.Add(1)
	return &Transcoder{p: pp, params: p, clock: clock{rate: int64(p.OutRate)}}, nil
}

// Config is the output's decoder configuration (AAC's AudioSpecificConfig,
// for the sequence header); nil when the codec has none.
func (t *Transcoder) Config() []byte { return t.p.config() }

// Transcode feeds one input packet presented at ms and appends to out
// what the encoder has ready, each with its own copy of the data. A packet
// the decoder refuses is dropped (counted in Dropped) and reported as the
// error; the transcoder stays usable.
func (t *Transcoder) Transcode(data []byte, ms int64, out []Packet) ([]Packet, error) {
	if t.closed {
		return out, errors.New("transcode: closed")
	}
	n, err := t.p.send(data)
	if err != nil {
		t.Dropped++
		return out, fmt.Errorf("decode %v: %w", t.params.From, err)
	}
	t.clock.input(ms, n)
	for {
		b, samples, err := t.p.recv()
		if err != nil {
			return out, fmt.Errorf("encode %v: %w", t.params.To, err)
		}
		if b == nil {
			return out, nil
		}
		if t.params.To == PCM {
			samples = len(b) / 4 / t.params.OutChannels
		}
		out = append(out, Packet{Data: append([]byte(nil), b...), MS: t.clock.output(samples)})
	}
}

// Close frees the codec library's memory. It is safe to call twice.
func (t *Transcoder) Close() {
	if !t.closed {
		t.closed = true
		t.p.close()
		open.Add(-1)
	}
}
