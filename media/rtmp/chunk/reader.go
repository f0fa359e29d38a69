package chunk

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Limits a peer cannot talk us past.
const (
	// MaxChunkSize is the largest chunk size a peer may announce (SRS's limit).
	MaxChunkSize = 65536
	// maxOpenStreams caps the chunk streams with a message in flight, so a peer
	// cannot make us hold many half-read messages.
	maxOpenStreams = 64
)

// Errors a Reader returns for a peer that breaks the protocol.
var (
	ErrMessageTooLarge = errors.New("rtmp: message larger than the limit")
	ErrChunkSize       = errors.New("rtmp: chunk size out of range")
	ErrNoPrevHeader    = errors.New("rtmp: chunk continues a message that never started")
	ErrTooManyStreams  = errors.New("rtmp: too many chunk streams in flight")
	ErrTooMuchInFlight = errors.New("rtmp: too many bytes of unfinished messages")
)

// Message is one reassembled RTMP message.
type Message struct {
	CSID      uint32
	TypeID    uint8
	Timestamp uint32
	StreamID  uint32
	Payload   []byte
}

type streamState struct {
	timestamp uint32
	delta     uint32
	length    uint32
	typeID    uint8
	streamID  uint32
	extended  bool // the last header carried an extended timestamp
	started   bool
	buf       []byte // the message being assembled; nil between messages
}

// Reader reassembles messages from chunks. It is not safe for concurrent use.
type Reader struct {
	r         *bufio.Reader
	chunkSize uint32
	maxMsg    uint32
	streams   map[uint32]*streamState
	open      int
	buffered  int // bytes of the messages in flight, across chunk streams
	hdr       [11]byte
	// BytesRead counts every byte consumed, for acknowledgements.
	BytesRead uint64
}

// NewReader reads chunks from r, refusing messages over maxMessage bytes.
func NewReader(r *bufio.Reader, maxMessage int) *Reader {
	return &Reader{r: r, chunkSize: 128, maxMsg: uint32(maxMessage), streams: make(map[uint32]*streamState)}
}

// SetMaxMessage changes the largest message accepted from now on; a
// server raises it once a session has earned it (a publish).
func (r *Reader) SetMaxMessage(n int) { r.maxMsg = uint32(n) }

// SetChunkSize applies the peer's Set Chunk Size message.
func (r *Reader) SetChunkSize(n uint32) error {
	n &= 0x7FFFFFFF // the top bit is reserved and must be ignored
	if n < 1 || n > MaxChunkSize {
		return fmt.Errorf("%w: %d", ErrChunkSize, n)
	}
	r.chunkSize = n
	return nil
}

// ChunkSize is the peer's chunk size in force.
func (r *Reader) ChunkSize() uint32 { return r.chunkSize }

// Abort drops the partly read message on csid (Abort Message).
func (r *Reader) Abort(csid uint32) {
	if st := r.streams[csid]; st != nil && st.buf != nil {
		r.buffered -= len(st.buf)
		st.buf = nil
		r.open--
	}
}

func (r *Reader) readFull(b []byte) error {
	n, err := io.ReadFull(r.r, b)
	r.BytesRead += uint64(n)
	return err
}

// ReadMessage returns the next complete message. The payload is freshly
// allocated and owned by the caller.
func (r *Reader) ReadMessage() (Message, error) {
	for {
		msg, done, err := r.readChunk()
		if err != nil || done {
			return msg, err
		}
	}
}

func (r *Reader) readBasicHeader() (format byte, csid uint32, err error) {
	if err = r.readFull(r.hdr[:1]); err != nil {
		return 0, 0, err
	}
	format = r.hdr[0] >> 6
	csid = uint32(r.hdr[0] & 0x3F)
	switch csid {
	case 0:
		if err = r.readFull(r.hdr[:1]); err != nil {
			return 0, 0, unexpected(err)
		}
		csid = 64 + uint32(r.hdr[0])
	case 1:
		if err = r.readFull(r.hdr[:2]); err != nil {
			return 0, 0, unexpected(err)
		}
		csid = 64 + uint32(binary.LittleEndian.Uint16(r.hdr[:2]))
	}
	return format, csid, nil
}

// readMessageHeader applies a chunk's message header (and extended
// timestamp) to st.
func (r *Reader) readMessageHeader(format byte, st *streamState) error {
	sizes := [4]int{11, 7, 3, 0}
	h := r.hdr[:sizes[format]]
	if err := r.readFull(h); err != nil {
		return unexpected(err)
	}
	if format == 3 {
		if st.extended {
			if err := r.readFull(r.hdr[:4]); err != nil {
				return unexpected(err)
			}
			if st.buf == nil {
				st.delta = binary.BigEndian.Uint32(r.hdr[:4])
			}
		}
		if st.buf == nil { // a type-3 chunk that starts a message repeats the last delta
			st.timestamp += st.delta
		}
		return nil
	}
	ts := uint32(h[0])<<16 | uint32(h[1])<<8 | uint32(h[2])
	if format <= 1 {
		st.length = uint32(h[3])<<16 | uint32(h[4])<<8 | uint32(h[5])
		st.typeID = h[6]
	}
	if format == 0 {
		st.streamID = binary.LittleEndian.Uint32(h[7:11])
	}
	st.extended = ts == extendedTimestamp
	if st.extended {
		if err := r.readFull(r.hdr[:4]); err != nil {
			return unexpected(err)
		}
		ts = binary.BigEndian.Uint32(r.hdr[:4])
	}
	if format == 0 {
		st.timestamp, st.delta = ts, 0
	} else {
		st.timestamp += ts
		st.delta = ts
	}
	return nil
}

func (r *Reader) readChunk() (Message, bool, error) {
	format, csid, err := r.readBasicHeader()
	if err != nil {
		return Message{}, false, err
	}
	st := r.streams[csid]
	if st == nil {
		if len(r.streams) >= maxOpenStreams*4 {
			return Message{}, false, ErrTooManyStreams
		}
		st = &streamState{}
		r.streams[csid] = st
	}
	if format != 0 && !st.started {
		return Message{}, false, fmt.Errorf("%w (csid %d, format %d)", ErrNoPrevHeader, csid, format)
	}
	if format != 3 && st.buf != nil {
		// A new header in the middle of a message: the peer gave up on it.
		r.buffered -= len(st.buf)
		st.buf = nil
		r.open--
	}
	if err := r.readMessageHeader(format, st); err != nil {
		return Message{}, false, err
	}
	st.started = true
	if st.length > r.maxMsg {
		return Message{}, false, fmt.Errorf("%w: %d bytes (limit %d)", ErrMessageTooLarge, st.length, r.maxMsg)
	}
	if st.buf == nil {
		if r.open >= maxOpenStreams {
			return Message{}, false, ErrTooManyStreams
		}
		r.open++
		// Grow as chunks arrive rather than trusting the announced length up front.
		st.buf = make([]byte, 0, min(st.length, 4*r.chunkSize))
	}
	n := min(r.chunkSize, st.length-uint32(len(st.buf)))
	// Interleaved messages may each be under the limit and still add up:
	// what is in flight together is held to twice one message.
	if r.buffered+int(n) > 2*int(r.maxMsg) {
		return Message{}, false, fmt.Errorf("%w: over %d bytes", ErrTooMuchInFlight, 2*r.maxMsg)
	}
	r.buffered += int(n)
	start := len(st.buf)
	st.buf = growTo(st.buf, start+int(n), int(st.length))
	if err := r.readFull(st.buf[start:]); err != nil {
		return Message{}, false, unexpected(err)
	}
	if uint32(len(st.buf)) < st.length {
		return Message{}, false, nil
	}
	msg := Message{CSID: csid, TypeID: st.typeID, Timestamp: st.timestamp, StreamID: st.streamID, Payload: st.buf}
	r.buffered -= len(st.buf)
	st.buf = nil
	r.open--
	return msg, true, nil
}

// growTo extends b to n bytes, doubling its capacity but never past limit.
func growTo(b []byte, n, limit int) []byte {
	if n <= cap(b) {
		return b[:n]
	}
	nb := make([]byte, n, max(n, min(2*cap(b), limit)))
	copy(nb, b)
	return nb
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
