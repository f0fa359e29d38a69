// Package handoff moves a playing viewer's connection from one process to
// another without the viewer noticing: the handing side stops writing at a
// message boundary, sends the socket (SCM_RIGHTS) with a small State frame
// over a unix socket, and waits for the receiver's answer; the receiver
// subscribes to the stream and goes on writing where the other stopped.
//
// The package holds what both protocol servers (media/rtmp, media/httpflv)
// share: the versioned, size-capped State codec, the resume rule that keeps
// timestamps going forward with no message twice, and the transfer with its
// one safety rule: a socket is resumed by its sender only when the receiver
// certainly does not have it, and is otherwise closed, so it is never left
// with nobody writing nor written by two.
package handoff

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// MaxState caps an encoded State. A player's state is a few hundred bytes;
// what a client sent and we had not parsed yet rides along, and a session
// whose state would not fit does not move (it is closed instead, as before).
const MaxState = 32 << 10

// version is the first byte after the magic; a receiver refuses others.
const version = 1

var magic = [3]byte{'S', 'E', 'H'}

// Errors of the codec.
var (
	ErrTooLarge = errors.New("handoff: state too large")
	ErrVersion  = errors.New("handoff: unknown state version")
	ErrCorrupt  = errors.New("handoff: corrupt state")
)

// Protocol is the kind of session a State is for.
type Protocol uint8

const (
	HTTPFLV Protocol = 1
	RTMP    Protocol = 2
)

func (p Protocol) String() string {
	switch p {
	case HTTPFLV:
		return "flv_play"
	case RTMP:
		return "rtmp_play"
	}
	return fmt.Sprintf("Protocol(%d)", uint8(p))
}

// Track indexes in State.Last.
const (
	TrackAudio = iota
	TrackVideo
	TrackData
	numTracks
)

// Mark is the last message of one track the client got: its timestamp on
// the client's timeline, and how many messages of the track carried that
// same timestamp (so a resume skips exactly those).
type Mark struct {
	TS   uint32
	Same uint32
	Seen bool
}

// State is everything a receiving worker needs to go on writing to a
// player's socket as if it had written every byte before.
type State struct {
	Protocol Protocol
	Stream   string // vhost/app/name
	From     string // the sender, for the receiver's log ("worker 0")
	Since    int64  // when the session started, unix nanoseconds
	Stopped  int64  // when the sender wrote its last byte, unix nanoseconds
	// Skew is the client's timeline minus the host's (the owning worker's
	// timeline of the stream), modulo 2^32: zero for a player that never
	// moved across timelines.
	Skew uint32
	Last [numTracks]Mark
	// HasAudio, HasVideo: the tracks the FLV header announced.
	HasAudio, HasVideo bool
	BytesSent          uint64 // media bytes the session sent so far
	// Unparsed is what was read from the socket and not yet parsed.
	Unparsed []byte
	// Hook is the play the access gate admitted, so the receiver tells
	// the gate when it ends (on_stop) and the sender does not; nil when no
	// gate is in use.
	Hook *Hook
	// RTMP is set for Protocol RTMP.
	RTMP *RTMPState
}

// Hook is what the access gate was told of the play when it started.
type Hook struct {
	ClientID, IP, Vhost, App, Stream, Param, TcURL, PageURL string
}

// RTMPState is the RTMP connection's own state.
type RTMPState struct {
	Vhost, App   string // the connect's target
	OutChunkSize uint32 // what we announced to the client
	StreamID     uint32 // the play's message stream id
	NextStreamID uint32 // what createStream hands out next
	PeerWindow   uint32 // the client's window acknowledgement size
	LastAck      uint64 // BytesRead when we last acknowledged
	InChunkSize  uint32 // the client's chunk size
	BytesRead    uint64 // bytes the chunk reader consumed
	In           []ChunkStream
}

// ChunkStream is the last header of one inbound chunk stream, so the next
// type 1-3 chunk the client sends can be parsed; Partial is a message on
// that stream that had started but not ended.
type ChunkStream struct {
	CSID                      uint32
	Timestamp, Delta, Length  uint32
	TypeID                    uint8
	StreamID                  uint32
	Extended, Started, HasBuf bool
	Partial                   []byte
}

// maxChunkStreams bounds what a decoder accepts, as the chunk reader does.
const maxChunkStreams = 256

// Marshal encodes s, or fails with ErrTooLarge.
func Marshal(s *State) ([]byte, error) {
	b := make([]byte, 0, 256+len(s.Unparsed))
	b = append(b, magic[:]...)
	b = append(b, version, byte(s.Protocol))
	b = appendString(b, s.Stream)
	b = appendString(b, s.From)
	b = binary.AppendVarint(b, s.Since)
	b = binary.AppendVarint(b, s.Stopped)
	b = binary.AppendUvarint(b, uint64(s.Skew))
	for _, m := range s.Last {
		b = append(b, boolByte(m.Seen))
		b = binary.AppendUvarint(b, uint64(m.TS))
		b = binary.AppendUvarint(b, uint64(m.Same))
	}
	b = append(b, boolByte(s.HasAudio), boolByte(s.HasVideo))
	b = binary.AppendUvarint(b, s.BytesSent)
	b = appendBytes(b, s.Unparsed)
	if s.Hook == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		for _, v := range []string{s.Hook.ClientID, s.Hook.IP, s.Hook.Vhost, s.Hook.App, s.Hook.Stream, s.Hook.Param, s.Hook.TcURL, s.Hook.PageURL} {
			b = appendString(b, v)
		}
	}
	if s.RTMP == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = appendRTMP(b, s.RTMP)
	}
	if len(b) > MaxState {
		return nil, fmt.Errorf("%w: %d bytes (max %d)", ErrTooLarge, len(b), MaxState)
	}
	return b, nil
}

func appendRTMP(b []byte, r *RTMPState) []byte {
	b = appendString(b, r.Vhost)
	b = appendString(b, r.App)
	for _, v := range []uint64{uint64(r.OutChunkSize), uint64(r.StreamID), uint64(r.NextStreamID), uint64(r.PeerWindow),
		r.LastAck, uint64(r.InChunkSize), r.BytesRead, uint64(len(r.In))} {
		b = binary.AppendUvarint(b, v)
	}
	for _, cs := range r.In {
		for _, v := range []uint32{cs.CSID, cs.Timestamp, cs.Delta, cs.Length, cs.StreamID} {
			b = binary.AppendUvarint(b, uint64(v))
		}
		b = append(b, cs.TypeID, boolByte(cs.Extended), boolByte(cs.Started), boolByte(cs.HasBuf))
		b = appendBytes(b, cs.Partial)
	}
	return b
}

// Unmarshal decodes what Marshal made. It is strict: a wrong magic or
// version, a field out of range, or bytes left over are errors.
func Unmarshal(b []byte) (*State, error) {
	if len(b) > MaxState {
		return nil, fmt.Errorf("%w: %d bytes (max %d)", ErrTooLarge, len(b), MaxState)
	}
	if len(b) < 5 || [3]byte(b[:3]) != magic {
		return nil, fmt.Errorf("%w: no magic", ErrCorrupt)
	}
	if b[3] != version {
		return nil, fmt.Errorf("%w: %d", ErrVersion, b[3])
	}
	d := decoder{b: b[5:]}
	s := &State{Protocol: Protocol(b[4])}
	s.Stream = d.string()
	s.From = d.string()
	s.Since = d.varint()
	s.Stopped = d.varint()
	s.Skew = d.u32()
	for i := range s.Last {
		s.Last[i].Seen = d.bool()
		s.Last[i].TS = d.u32()
		s.Last[i].Same = d.u32()
	}
	s.HasAudio, s.HasVideo = d.bool(), d.bool()
	s.BytesSent = d.uvarint()
	s.Unparsed = d.bytes()
	if d.bool() {
		s.Hook = &Hook{ClientID: d.string(), IP: d.string(), Vhost: d.string(), App: d.string(), Stream: d.string(),
			Param: d.string(), TcURL: d.string(), PageURL: d.string()}
	}
	if d.bool() {
		s.RTMP = d.rtmp()
	}
	switch {
	case d.err != nil:
		return nil, d.err
	case len(d.b) != 0:
		return nil, fmt.Errorf("%w: %d bytes left over", ErrCorrupt, len(d.b))
	case s.Protocol != HTTPFLV && s.Protocol != RTMP:
		return nil, fmt.Errorf("%w: protocol %d", ErrCorrupt, s.Protocol)
	case (s.Protocol == RTMP) != (s.RTMP != nil):
		return nil, fmt.Errorf("%w: RTMP state does not match the protocol", ErrCorrupt)
	}
	return s, nil
}

func (d *decoder) rtmp() *RTMPState {
	r := &RTMPState{Vhost: d.string(), App: d.string()}
	r.OutChunkSize, r.StreamID, r.NextStreamID, r.PeerWindow = d.u32(), d.u32(), d.u32(), d.u32()
	r.LastAck, r.InChunkSize, r.BytesRead = d.uvarint(), d.u32(), d.uvarint()
	n := d.uvarint()
	if n > maxChunkStreams {
		d.fail("too many chunk streams")
		return r
	}
	for range n {
		if d.err != nil {
			break
		}
		cs := ChunkStream{CSID: d.u32(), Timestamp: d.u32(), Delta: d.u32(), Length: d.u32(), StreamID: d.u32()}
		cs.TypeID = d.byte()
		cs.Extended, cs.Started, cs.HasBuf = d.bool(), d.bool(), d.bool()
		cs.Partial = d.bytes()
		if uint32(len(cs.Partial)) > cs.Length || (!cs.HasBuf && len(cs.Partial) > 0) {
			d.fail("partial message longer than its header says")
		}
		r.In = append(r.In, cs)
	}
	return r
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBytes(b, p []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

// decoder reads fields until the first error, which it keeps.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrCorrupt, what)
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad number")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad number")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) u32() uint32 {
	v := d.uvarint()
	if v > 1<<32-1 {
		d.fail("number out of range")
	}
	return uint32(v)
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail("short")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) bool() bool {
	switch d.byte() {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail("bad flag")
	return false
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail("length past the end")
		return nil
	}
	if n == 0 {
		return nil
	}
	v := append([]byte(nil), d.b[:n]...)
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string { return string(d.bytes()) }
