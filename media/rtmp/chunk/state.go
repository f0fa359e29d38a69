package chunk

import (
	"bufio"
	"fmt"
)

// StreamState is one inbound chunk stream's last header and, when a
// message on it has started and not ended, what arrived of it.
type StreamState struct {
	CSID                     uint32
	Timestamp, Delta, Length uint32
	TypeID                   uint8
	StreamID                 uint32
	Extended, Started        bool
	HasBuf                   bool
	Partial                  []byte
}

// ReaderState is what a Reader knows between two messages: enough for
// another Reader, in another process, to parse what the peer sends next.
type ReaderState struct {
	ChunkSize uint32
	BytesRead uint64
	Streams   []StreamState
}

// State copies the reader's state. It is only meaningful between
// messages, when ReadMessage has returned.
func (r *Reader) State() ReaderState {
	st := ReaderState{ChunkSize: r.chunkSize, BytesRead: r.BytesRead, Streams: make([]StreamState, 0, len(r.streams))}
	for csid, s := range r.streams {
		st.Streams = append(st.Streams, StreamState{CSID: csid, Timestamp: s.timestamp, Delta: s.delta, Length: s.length,
			TypeID: s.typeID, StreamID: s.streamID, Extended: s.extended, Started: s.started,
			HasBuf: s.buf != nil, Partial: append([]byte(nil), s.buf...)})
	}
	return st
}

// NewReaderAt is NewReader for a peer whose earlier chunks another Reader
// parsed, as State recorded them. It refuses a state no Reader could have.
func NewReaderAt(br *bufio.Reader, maxMessage int, st ReaderState) (*Reader, error) {
	r := NewReader(br, maxMessage)
	if err := r.SetChunkSize(st.ChunkSize); err != nil {
		return nil, err
	}
	if len(st.Streams) > maxOpenStreams*4 {
		return nil, ErrTooManyStreams
	}
	r.BytesRead = st.BytesRead
	for _, s := range st.Streams {
		if s.HasBuf && (s.Length > r.maxMsg || uint32(len(s.Partial)) >= max(s.Length, 1)) {
			return nil, fmt.Errorf("rtmp: partial message of %d bytes on csid %d cannot have length %d", len(s.Partial), s.CSID, s.Length)
		}
		ss := &streamState{timestamp: s.Timestamp, delta: s.Delta, length: s.Length, typeID: s.TypeID,
			streamID: s.StreamID, extended: s.Extended, started: s.Started}
		if s.HasBuf {
			if r.open >= maxOpenStreams {
				return nil, ErrTooManyStreams
			}
			ss.buf = append(make([]byte, 0, s.Length), s.Partial...)
			r.open++
		}
		r.streams[s.CSID] = ss
	}
	return r, nil
}
