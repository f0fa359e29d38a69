package flv

import (
	"bytes"
	"testing"
)

func TestAppendFileHeader(t *testing.T) {
	tests := []struct {
		audio, video bool
		flags        byte
	}{
		{false, false, 0x00},
		{true, false, 0x04},
		{false, true, 0x01},
		{true, true, 0x05},
	}
	for _, tt := range tests {
		prefix := []byte("keep")
		got := AppendFileHeader(prefix, tt.audio, tt.video)
		want := append([]byte("keep"), 'F', 'L', 'V', 1, tt.flags, 0, 0, 0, 9, 0, 0, 0, 0)
		if !bytes.Equal(got, want) {
			t.Errorf("AppendFileHeader(audio=%v, video=%v) = % x, want % x", tt.audio, tt.video, got, want)
		}
	}
}

func TestPutTagHeader(t *testing.T) {
	tests := []struct {
		name      string
		tagType   uint8
		timestamp uint32
		size      int
		want      []byte
	}{
		{"zero", TagScript, 0, 0, []byte{18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		{"24-bit timestamp", TagVideo, 0x123456, 0x0a0b0c, []byte{9, 0x0a, 0x0b, 0x0c, 0x12, 0x34, 0x56, 0, 0, 0, 0}},
		// The extended byte holds the top 8 bits, after the lower 24.
		{"extended timestamp", TagAudio, 0xfe123456, MaxDataSize, []byte{8, 0xff, 0xff, 0xff, 0x12, 0x34, 0x56, 0xfe, 0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := bytes.Repeat([]byte{0xaa}, TagHeaderSize+1)
			PutTagHeader(got, tt.tagType, tt.timestamp, tt.size)
			if !bytes.Equal(got[:TagHeaderSize], tt.want) || got[TagHeaderSize] != 0xaa {
				t.Errorf("got % x, want % x", got, tt.want)
			}
		})
	}
}

func TestPutTagHeaderPanicsOnBadSize(t *testing.T) {
	for _, size := range []int{-1, MaxDataSize + 1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("PutTagHeader(size=%d) did not panic", size)
				}
			}()
			PutTagHeader(make([]byte, TagHeaderSize), TagVideo, 0, size)
		}()
	}
}

func TestPutTagTrailer(t *testing.T) {
	tests := []struct {
		size int
		want []byte
	}{
		{0, []byte{0, 0, 0, 11}},
		{5, []byte{0, 0, 0, 16}},
		{MaxDataSize, []byte{0x01, 0x00, 0x00, 0x0a}},
	}
	for _, tt := range tests {
		got := make([]byte, 4)
		PutTagTrailer(got, tt.size)
		if !bytes.Equal(got, tt.want) {
			t.Errorf("PutTagTrailer(%d) = % x, want % x", tt.size, got, tt.want)
		}
	}
}
