package flv

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"slices"
	"testing"
)

func TestReaderRoundTrip(t *testing.T) {
	big := make([]byte, 3*readChunk+17) // forces the body buffer to grow
	for i := range big {
		big[i] = byte(i)
	}
	tags := []Tag{
		{Type: TagScript, Timestamp: 0, Data: []byte{2, 0, 10, 'o', 'n', 'M', 'e', 't', 'a', 'D', 'a', 't', 'a'}},
		{Type: TagVideo, Timestamp: 0, Data: []byte{0x17, 0, 0, 0, 0}},
		{Type: TagAudio, Timestamp: 23, Data: []byte{0xaf, 1, 0x21}},
		{Type: TagVideo, Timestamp: 40, Data: big},
		{Type: TagAudio, Timestamp: 0x01000000, Data: []byte{0xaf, 1}}, // needs the extended byte
		{Type: TagVideo, Timestamp: 0xffffffff, Data: []byte{}},
		{Type: TagAudio, Timestamp: 50, Data: []byte{0xaf}},
	}
	stream := encodeStream(true, true, tags...)

	for _, mode := range []struct {
		name string
		opts []ReaderOption
	}{
		{"fresh slices", nil},
		{"reused buffer", []ReaderOption{WithReuseBuffer()}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(stream), mode.opts...)
			audio, video, err := r.ReadHeader()
			if err != nil || !audio || !video {
				t.Fatalf("ReadHeader() = %v, %v, %v; want true, true, nil", audio, video, err)
			}
			for i, want := range tags {
				got, err := r.ReadTag()
				if err != nil {
					t.Fatalf("tag %d: %v", i, err)
				}
				if got.Type != want.Type || got.Timestamp != want.Timestamp || !bytes.Equal(got.Data, want.Data) {
					t.Fatalf("tag %d = {%d %d %d bytes}, want {%d %d %d bytes}",
						i, got.Type, got.Timestamp, len(got.Data), want.Type, want.Timestamp, len(want.Data))
				}
			}
			if _, err := r.ReadTag(); err != io.EOF {
				t.Fatalf("after last tag: err = %v, want io.EOF itself", err)
			}
		})
	}
}

func TestReaderErrors(t *testing.T) {
	tag := Tag{Type: TagVideo, Timestamp: 1, Data: []byte{0x17, 1, 0, 0, 0, 0xaa}}
	valid := encodeStream(false, true, tag)
	headerLen := HeaderSize + TagTrailerSize

	with := func(b []byte, edit func([]byte)) []byte {
		b = slices.Clone(b)
		edit(b)
		return b
	}
	// A data offset of 12 announces 3 bytes of header extension.
	extended := slices.Concat(valid[:5], []byte{0, 0, 0, 12, 'x', 'y', 'z'}, valid[HeaderSize:])

	tests := []struct {
		name      string
		input     []byte
		opts      []ReaderOption
		headerErr error // nil: header must parse
		tags      int   // tags expected before the final error
		err       error // final error, matched with errors.Is
	}{
		{name: "empty", input: nil, headerErr: io.EOF},
		{name: "short header", input: []byte("FL"), headerErr: io.ErrUnexpectedEOF},
		{name: "bad signature", input: with(valid, func(b []byte) { b[2] = 'X' }), headerErr: ErrInvalidSignature},
		{name: "not flv at all", input: []byte("<html><body>404</body></html>"), headerErr: ErrInvalidSignature},
		{name: "version 2", input: with(valid, func(b []byte) { b[3] = 2 }), headerErr: ErrUnsupportedVersion},
		{name: "data offset too small", input: with(valid, func(b []byte) { b[8] = 8 }), headerErr: ErrInvalidDataOffset},
		{name: "data offset huge", input: with(valid, func(b []byte) { b[5] = 0x7f }), headerErr: ErrInvalidDataOffset},
		{name: "header extension skipped", input: extended, tags: 1, err: io.EOF},
		{name: "header extension truncated", input: extended[:11], headerErr: io.ErrUnexpectedEOF},
		{name: "missing PreviousTagSize0", input: valid[:HeaderSize], headerErr: io.ErrUnexpectedEOF},
		{name: "no tags", input: valid[:headerLen], err: io.EOF},
		{name: "one tag", input: valid, tags: 1, err: io.EOF},
		{name: "truncated tag header", input: valid[:headerLen+5], err: io.ErrUnexpectedEOF},
		{name: "truncated body", input: valid[:headerLen+TagHeaderSize+2], err: io.ErrUnexpectedEOF},
		{name: "missing trailer", input: valid[:len(valid)-TagTrailerSize], err: io.ErrUnexpectedEOF},
		{name: "partial trailer", input: valid[:len(valid)-1], err: io.ErrUnexpectedEOF},
		{
			name:  "wrong PreviousTagSize tolerated",
			input: with(valid, func(b []byte) { copy(b[len(b)-4:], []byte{0xde, 0xad, 0xbe, 0xef}) }),
			tags:  1, err: io.EOF,
		},
		{
			name:  "wrong PreviousTagSize0 tolerated",
			input: with(valid, func(b []byte) { b[HeaderSize+3] = 99 }),
			tags:  1, err: io.EOF,
		},
		{name: "tag at limit", input: valid, opts: []ReaderOption{WithMaxTagSize(len(tag.Data))}, tags: 1, err: io.EOF},
		{name: "tag over limit", input: valid, opts: []ReaderOption{WithMaxTagSize(len(tag.Data) - 1)}, err: ErrTagTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(tt.input), tt.opts...)
			_, _, err := r.ReadHeader()
			if !errors.Is(err, tt.headerErr) || (tt.headerErr == nil) != (err == nil) {
				t.Fatalf("ReadHeader() error = %v, want %v", err, tt.headerErr)
			}
			if err != nil {
				// Errors are sticky: tags cannot be read after a bad header.
				if _, err2 := r.ReadTag(); err2 != err {
					t.Errorf("ReadTag after header error = %v, want %v", err2, err)
				}
				return
			}
			for i := range tt.tags {
				if _, err := r.ReadTag(); err != nil {
					t.Fatalf("tag %d: %v", i, err)
				}
			}
			_, err = r.ReadTag()
			if !errors.Is(err, tt.err) {
				t.Fatalf("final ReadTag error = %v, want %v", err, tt.err)
			}
			if tt.err == io.EOF && err != io.EOF {
				t.Errorf("clean end returned %#v; callers compare with ==, so it must be io.EOF itself", err)
			}
			if _, again := r.ReadTag(); again != err {
				t.Errorf("second ReadTag error = %v, want sticky %v", again, err)
			}
		})
	}
}

func TestReaderTagTypeDropsFilterBit(t *testing.T) {
	stream := encodeStream(true, false, Tag{Type: TagAudio | 0x20 | 0xc0, Data: []byte{0xaf, 1}})
	r := NewReader(bytes.NewReader(stream))
	if _, _, err := r.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	tag, err := r.ReadTag()
	if err != nil || tag.Type != TagAudio {
		t.Fatalf("ReadTag() = type %d, %v; want %d", tag.Type, err, TagAudio)
	}
}

func TestReaderDataOwnership(t *testing.T) {
	stream := encodeStream(true, true,
		Tag{Type: TagAudio, Data: []byte{1, 2, 3, 4}},
		Tag{Type: TagAudio, Data: []byte{5, 6}},
	)
	tests := []struct {
		name   string
		opts   []ReaderOption
		shared bool
	}{
		{"fresh slices survive the next read", nil, false},
		{"reused buffer is overwritten", []ReaderOption{WithReuseBuffer()}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(stream), tt.opts...)
			if _, _, err := r.ReadHeader(); err != nil {
				t.Fatal(err)
			}
			first, _ := r.ReadTag()
			if _, err := r.ReadTag(); err != nil {
				t.Fatal(err)
			}
			overwritten := !bytes.Equal(first.Data, []byte{1, 2, 3, 4})
			if overwritten != tt.shared {
				t.Errorf("first tag data after second read = %v; overwritten=%v, want %v", first.Data, overwritten, tt.shared)
			}
		})
	}
}

// A header may claim a 16 MiB body; the Reader must not commit that memory
// until the bytes actually arrive.
func TestReaderBoundsAllocationOnLyingHeader(t *testing.T) {
	stream := AppendFileHeader(nil, false, true)
	var h [TagHeaderSize]byte
	PutTagHeader(h[:], TagVideo, 0, MaxDataSize)
	stream = append(stream, h[:]...)
	stream = append(stream, make([]byte, 100)...)

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r := NewReader(bytes.NewReader(stream))
	if _, _, err := r.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	_, err := r.ReadTag()
	runtime.ReadMemStats(&after)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("ReadTag error = %v, want io.ErrUnexpectedEOF", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Errorf("allocated %d bytes for a truncated tag of 100 bytes", alloc)
	}
}
