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
	clock   timeline
	closed  bool
	Dropped uint64 // input packets the decoder refused
}

// pipe is the codec library's side of a Transcoder.
type pipe interface {
	send(data []byte) error
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
	return &Transcoder{p: pp, params: p, clock: timeline{rate: int64(p.OutRate)}}, nil
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
	t.clock.input(ms)
	if err := t.p.send(data); err != nil {
		t.Dropped++
		return out, fmt.Errorf("decode %v: %w", t.params.From, err)
	}
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

// maxJump is how far the input may stray from the output's sample clock
// before the clock follows it: a gap in the input (loss, a paused
// publisher) or a jump back (a republish).
const maxJump = 200

// timeline stamps output packets: first input time plus samples out, so
// timestamps never drift from the audio however long the stream; it
// shifts only when the input jumps by more than maxJump ms.
type timeline struct {
	rate     int64
	started  bool
	originMS int64 // time of output sample 0
	samples  int64 // output samples so far
}

// next is the time of the next output sample.
func (c *timeline) next() int64 { return c.originMS + c.samples*1000/c.rate }

func (c *timeline) input(ms int64) {
	if !c.started {
		c.started, c.originMS = true, ms
		return
	}
	if d := ms - c.next(); d > maxJump || d < -maxJump {
		c.originMS += d
	}
}

// output returns the time of a packet of n samples and moves past it.
func (c *timeline) output(n int) int64 {
	ms := c.next()
	c.samples += int64(n)
	return ms
}
