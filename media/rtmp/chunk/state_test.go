package chunk

import (
	"bufio"
	"bytes"
	"reflect"
	"testing"
)

// A reader rebuilt from State parses the rest of a conversation exactly as
// the first would have: type 1-3 chunks lean on headers it never saw, and
// a message interleaved on another chunk stream finishes there.
func TestReaderStateCarriesOn(t *testing.T) {
	var wire []byte
	wire = AppendMessage(wire, CSIDCommand, TypeCommandAMF0, 1000, 1, bytes.Repeat([]byte{1}, 50), 128)
	// A type-2 chunk: same length, type and stream, a timestamp delta.
	wire = append(wire, 2<<6|CSIDCommand, 0, 0, 10)
	wire = append(wire, bytes.Repeat([]byte{2}, 50)...)
	// A 200-byte message on csid 4 in 128-byte chunks: its first chunk, a
	// small message on csid 3 (type 3: repeats the delta), then its rest.
	long := AppendMessage(nil, 4, TypeDataAMF0, 5, 1, bytes.Repeat([]byte{3}, 200), 128)
	firstChunk := long[:12+128]
	wire = append(wire, firstChunk...)
	split := len(wire) // the first reader stops here
	wire = append(wire, 3<<6|CSIDCommand)
	wire = append(wire, bytes.Repeat([]byte{4}, 50)...)
	wire = append(wire, long[12+128:]...)

	whole := readAll(t, NewReader(bufio.NewReader(bytes.NewReader(wire)), 1<<20))

	first := NewReader(bufio.NewReader(bytes.NewReader(wire[:split])), 1<<20)
	var got []Message
	for range 2 {
		m, err := first.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m)
	}
	if _, done, err := first.readChunk(); err != nil || done {
		t.Fatalf("the first chunk of the long message: done %v, %v", done, err)
	}
	second, err := NewReaderAt(bufio.NewReader(bytes.NewReader(wire[split:])), 1<<20, first.State())
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, readAll(t, second)...)
	if !reflect.DeepEqual(got, whole) {
		t.Fatalf("carried on with %+v, want %+v", got, whole)
	}
	if second.BytesRead != uint64(len(wire)) {
		t.Fatalf("BytesRead %d, want %d", second.BytesRead, len(wire))
	}
}

func readAll(t *testing.T, r *Reader) []Message {
	t.Helper()
	var out []Message
	for {
		m, err := r.ReadMessage()
		if err != nil {
			return out
		}
		out = append(out, m)
	}
}

func TestReaderStateRefusesTheImpossible(t *testing.T) {
	bad := []ReaderState{
		{ChunkSize: 0},
		{ChunkSize: 128, Streams: []StreamState{{CSID: 3, Length: 10, HasBuf: true, Partial: make([]byte, 10)}}},
		{ChunkSize: 128, Streams: []StreamState{{CSID: 3, Length: 1 << 30, HasBuf: true}}},
	}
	for i, st := range bad {
		if _, err := NewReaderAt(bufio.NewReader(bytes.NewReader(nil)), 1<<20, st); err == nil {
			t.Errorf("state %d accepted", i)
		}
	}
}
