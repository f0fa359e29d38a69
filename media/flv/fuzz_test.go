package flv

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"testing"
)

// fuzzMaxTagSize is small so that any allocation above it is obviously a
// bug rather than a legitimately large tag.
const fuzzMaxTagSize = 4 << 10

func FuzzReader(f *testing.F) {
	valid := encodeStream(true, true,
		Tag{Type: TagScript, Data: []byte("\x02\x00\x0aonMetaData\x08\x00\x00\x00\x00\x00\x00\x09")},
		Tag{Type: TagVideo, Data: avcSequenceHeader(synthSPS[4].sps.encode(), testPPS)},
		Tag{Type: TagAudio, Data: []byte{0xaf, 0, 0x12, 0x10}},
		Tag{Type: TagVideo, Timestamp: 0x01000000, Data: []byte{0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x65}},
	)
	f.Add(valid)
	f.Add(valid[:HeaderSize+TagTrailerSize])
	f.Add(valid[:len(valid)-3])
	f.Add([]byte("FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00\x09\xff\xff\xff")) // oversized tag
	f.Add([]byte("FLV\x01\x05\x00\x00\x00\x0c\x00\x00\x00"))                     // truncated extension
	f.Add([]byte("FLV\x02\x05\x00\x00\x00\x09\x00\x00\x00\x00"))                 // wrong version
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data), WithMaxTagSize(fuzzMaxTagSize))
		audio, video, herr := r.ReadHeader()
		var tags []Tag
		var err error
		for {
			var tag Tag
			tag, err = r.ReadTag()
			if err != nil {
				break
			}
			if cap(tag.Data) > fuzzMaxTagSize {
				t.Fatalf("tag data capacity %d exceeds limit %d", cap(tag.Data), fuzzMaxTagSize)
			}
			tags = append(tags, tag)
		}
		if herr != nil {
			if err != herr || len(tags) > 0 {
				t.Fatalf("read %d tags and error %v after header error %v", len(tags), err, herr)
			}
			return
		}
		if err != io.EOF && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrTagTooLarge) {
			t.Fatalf("unexpected error kind: %v", err)
		}

		// Whatever parsed must survive a write/read round trip unchanged.
		again := NewReader(bytes.NewReader(encodeStream(audio, video, tags...)))
		a2, v2, err := again.ReadHeader()
		if err != nil || a2 != audio || v2 != video {
			t.Fatalf("re-read header: %v %v %v", a2, v2, err)
		}
		for i, want := range tags {
			got, err := again.ReadTag()
			if err != nil || got.Type != want.Type || got.Timestamp != want.Timestamp || !bytes.Equal(got.Data, want.Data) {
				t.Fatalf("re-read tag %d: %+v, %v; want %+v", i, got, err, want)
			}
		}
		if _, err := again.ReadTag(); err != io.EOF {
			t.Fatalf("re-read end: %v", err)
		}
	})
}

func FuzzParseAVCConfig(f *testing.F) {
	for _, s := range realSPS {
		sps, _ := hex.DecodeString(s.hex)
		f.Add(avcSequenceHeader(sps, testPPS))
	}
	for _, s := range synthSPS {
		f.Add(avcSequenceHeader(s.sps.encode(), testPPS))
	}
	f.Add([]byte{0x17, 0, 0, 0, 0, 1, 66, 0, 30, 0xff, 0xe1, 0, 4, 0x67, 66, 0, 30})
	f.Add([]byte{0x90, 'a', 'v', 'c', '1', 1})
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseAVCConfig(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidAVCConfig) {
				t.Fatalf("error %v does not wrap ErrInvalidAVCConfig", err)
			}
			return
		}
		if c.Width <= 0 || c.Height <= 0 || c.Width > maxPictureSize || c.Height > maxPictureSize {
			t.Fatalf("implausible size %dx%d accepted", c.Width, c.Height)
		}
		if len(c.SPS) == 0 || len(c.PPS) == 0 || c.NALULengthSize < 1 || c.NALULengthSize > 4 {
			t.Fatalf("incomplete config accepted: %+v", c)
		}
	})
}

func FuzzCodecHelpers(f *testing.F) {
	for _, b := range [][]byte{
		nil, {0x17}, {0x17, 0}, {0x27, 1, 0, 0, 0}, {0x57, 0}, {0x1c, 0},
		{0x90, 'h', 'v', 'c', '1'}, {0xa3, 'a', 'v'}, {0xaf, 0}, {0xaf, 1}, {0x90, 'O', 'p', 'u', 's'},
	} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		key := IsVideoKeyframe(data)
		seq := IsVideoSequenceHeader(data)
		codec := VideoCodecID(data)
		fourCC := VideoFourCC(data)
		frame := VideoFrameType(data)
		aseq := IsAudioSequenceHeader(data)
		acodec := AudioCodecID(data)

		ex := IsVideoExHeader(data)
		switch {
		case key != (frame == VideoFrameKey):
			t.Fatalf("IsVideoKeyframe %v disagrees with frame type %d", key, frame)
		case seq && len(data) < 2:
			t.Fatalf("sequence header in %d bytes", len(data))
		case ex && codec != 0:
			t.Fatalf("ExHeader tag reported legacy codec %d", codec)
		case fourCC != "" && (!ex || len(fourCC) != 4):
			t.Fatalf("FourCC %q from non-ExHeader tag", fourCC)
		case aseq && acodec != AudioCodecAAC && acodec != AudioCodecExHeader:
			t.Fatalf("audio sequence header with codec %d", acodec)
		}
	})
}
