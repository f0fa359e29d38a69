package chunk

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
)

func reader(b []byte, maxMsg int) *Reader {
	return NewReader(bufio.NewReader(bytes.NewReader(b)), maxMsg)
}

func TestRoundTrip(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789"), 30000)
	tests := []struct {
		name      string
		csid      uint32
		ts        uint32
		payload   []byte
		chunkSize int
	}{
		{"small", CSIDVideo, 40, []byte{0x17, 1, 2, 3}, 128},
		{"many chunks", CSIDAudio, 1000, big, 128},
		{"large chunks", CSIDVideo, 1000, big, 60000},
		{"extended timestamp", CSIDVideo, 0x1000000, big, 4096},
		{"two-byte csid", 100, 7, []byte("x"), 128},
		{"three-byte csid", 400, 7, big[:300], 128},
		{"empty", CSIDData, 0, nil, 128},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var wire []byte
			// A chunk size message first, then the message twice: the second
			// time its header must still decode on its own.
			wire = AppendMessage(wire, CSIDProtocol, TypeSetChunkSize, 0, 0, []byte{0, 0, byte(tt.chunkSize >> 8), byte(tt.chunkSize)}, 128)
			wire = AppendMessage(wire, tt.csid, TypeVideo, tt.ts, 1, tt.payload, tt.chunkSize)
			wire = AppendMessage(wire, tt.csid, TypeVideo, tt.ts+1, 1, tt.payload, tt.chunkSize)
			r := reader(wire, 1<<20)
			cs, err := r.ReadMessage()
			if err != nil || cs.TypeID != TypeSetChunkSize {
				t.Fatalf("chunk size message: %+v %v", cs, err)
			}
			if err := r.SetChunkSize(uint32(tt.chunkSize)); err != nil {
				t.Fatal(err)
			}
			for i := range uint32(2) {
				m, err := r.ReadMessage()
				if err != nil {
					t.Fatal(err)
				}
				if m.CSID != tt.csid || m.Timestamp != tt.ts+i || m.StreamID != 1 || !bytes.Equal(m.Payload, tt.payload) {
					t.Fatalf("message %d: csid %d ts %d stream %d len %d", i, m.CSID, m.Timestamp, m.StreamID, len(m.Payload))
				}
			}
			if _, err := r.ReadMessage(); err != io.EOF {
				t.Fatalf("at the end: %v, want EOF", err)
			}
			if r.BytesRead != uint64(len(wire)) {
				t.Fatalf("BytesRead %d, want %d", r.BytesRead, len(wire))
			}
		})
	}
}

func TestCompressedHeaders(t *testing.T) {
	// Type 1 and 2 headers carry deltas; a type 3 that starts a message
	// repeats the last delta.
	wire := []byte{
		0x06, 0, 0, 10, 0, 0, 1, TypeVideo, 1, 0, 0, 0, 'a', // type 0, ts 10
		0x46, 0, 0, 5, 0, 0, 1, TypeVideo, 'b', // type 1, delta 5 -> 15
		0x86, 0, 0, 7, 'c', // type 2, delta 7 -> 22
		0xC6, 'd', // type 3, delta 7 -> 29
	}
	r := reader(wire, 1024)
	for _, want := range []uint32{10, 15, 22, 29} {
		m, err := r.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if m.Timestamp != want {
			t.Fatalf("timestamp %d, want %d", m.Timestamp, want)
		}
	}
}

func TestReaderErrors(t *testing.T) {
	tests := []struct {
		name string
		wire []byte
		want error
	}{
		{"message over the limit", AppendMessage(nil, CSIDVideo, TypeVideo, 0, 1, make([]byte, 2000), 128), ErrMessageTooLarge},
		{"continuation without a start", []byte{0xC6, 1, 2, 3}, ErrNoPrevHeader},
		{"truncated header", []byte{0x06, 0, 0}, io.ErrUnexpectedEOF},
		{"truncated body", []byte{0x06, 0, 0, 0, 0, 0, 9, TypeVideo, 1, 0, 0, 0, 1}, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := reader(tt.wire, 1024).ReadMessage()
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	r := reader(nil, 1024)
	for _, n := range []uint32{0, MaxChunkSize + 1} {
		if err := r.SetChunkSize(n); !errors.Is(err, ErrChunkSize) {
			t.Fatalf("SetChunkSize(%d) = %v", n, err)
		}
	}
}

func TestTooManyOpenStreams(t *testing.T) {
	var wire []byte
	for csid := uint32(3); csid < 3+maxOpenStreams+1; csid++ {
		// Each announces 1000 bytes and sends one chunk of 128.
		var hdr [MaxHeaderLen]byte
		n := PutHeader(hdr[:], csid, TypeVideo, 0, 1000, 1)
		wire = append(append(wire, hdr[:n]...), make([]byte, 128)...)
	}
	r := reader(wire, 1<<20)
	if _, err := r.ReadMessage(); !errors.Is(err, ErrTooManyStreams) {
		t.Fatalf("got %v, want ErrTooManyStreams", err)
	}
}

func FuzzReader(f *testing.F) {
	f.Add(AppendMessage(nil, CSIDVideo, TypeVideo, 40, 1, []byte{0x17, 0, 0, 0, 0}, 128))
	f.Add(AppendMessage(nil, 300, TypeAudio, 0x1000000, 1, bytes.Repeat([]byte{1}, 300), 128))
	f.Add([]byte{0x06, 0, 0, 10, 0, 0, 1, TypeVideo, 1, 0, 0, 0, 'a', 0x46, 0, 0, 5, 0, 0, 1, TypeVideo, 'b', 0xC6})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := reader(b, 64<<10)
		for range 1000 {
			m, err := r.ReadMessage()
			if err != nil {
				return
			}
			if len(m.Payload) > 64<<10 {
				t.Fatalf("message of %d bytes passed a 64 KiB limit", len(m.Payload))
			}
			if m.TypeID == TypeSetChunkSize && len(m.Payload) >= 4 {
				r.SetChunkSize(uint32(m.Payload[0])<<24 | uint32(m.Payload[1])<<16 | uint32(m.Payload[2])<<8 | uint32(m.Payload[3]))
			}
		}
	})
}

func TestInterleavedMessagesAreHeldToTwiceTheLimit(t *testing.T) {
	// 16 chunk streams each start a 60 KiB message, under the 64 KiB limit
	// one by one; together they would hold 960 KiB. With chunks of 32 KiB
	// the fifth stream's chunk passes 128 KiB in flight.
	wire := AppendMessage(nil, CSIDProtocol, TypeSetChunkSize, 0, 0, []byte{0, 0, 0x80, 0}, 128)
	for csid := uint32(3); csid < 3+16; csid++ {
		var hdr [MaxHeaderLen]byte
		n := PutHeader(hdr[:], csid, TypeVideo, 0, 60<<10, 1)
		wire = append(append(wire, hdr[:n]...), make([]byte, 32<<10)...)
	}
	r := reader(wire, 64<<10)
	if m, err := r.ReadMessage(); err != nil || m.TypeID != TypeSetChunkSize {
		t.Fatalf("chunk size: %v", err)
	}
	r.SetChunkSize(32 << 10)
	if _, err := r.ReadMessage(); !errors.Is(err, ErrTooMuchInFlight) {
		t.Fatalf("got %v, want ErrTooMuchInFlight", err)
	}
}
