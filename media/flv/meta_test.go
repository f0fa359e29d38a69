package flv

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"
)

// ecma builds an onMetaData body the way ffmpeg does: an ECMA array whose
// values are numbers, booleans or strings.
func ecma(props ...any) []byte {
	b := []byte("\x02\x00\x0aonMetaData\x08")
	b = binary.BigEndian.AppendUint32(b, uint32(len(props)/2))
	for i := 0; i < len(props); i += 2 {
		k := props[i].(string)
		b = binary.BigEndian.AppendUint16(b, uint16(len(k)))
		b = append(b, k...)
		switch v := props[i+1].(type) {
		case float64:
			b = binary.BigEndian.AppendUint64(append(b, 0), math.Float64bits(v))
		case bool:
			c := byte(0)
			if v {
				c = 1
			}
			b = append(b, 1, c)
		case string:
			b = binary.BigEndian.AppendUint16(append(b, 2), uint16(len(v)))
			b = append(b, v...)
		}
	}
	return append(b, 0, 0, 9)
}

func TestParseMetadata(t *testing.T) {
	tests := []struct {
		name                  string
		in, live              []byte
		audio, video, declare bool
	}{
		{"ffmpeg audio+video",
			ecma("duration", 120.0, "width", 640.0, "videocodecid", 7.0, "audiocodecid", 10.0, "encoder", "Lavf", "filesize", 1e6),
			ecma("width", 640.0, "videocodecid", 7.0, "audiocodecid", 10.0, "encoder", "Lavf"), true, true, true},
		{"audio only", ecma("duration", 0.0, "audiocodecid", 10.0), ecma("audiocodecid", 10.0), true, false, true},
		{"hasVideo flags", ecma("hasAudio", false, "hasVideo", true), ecma("hasAudio", false, "hasVideo", true), false, true, true},
		{"nothing declared", ecma("encoder", "obs"), ecma("encoder", "obs"), false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md, ok := ParseMetadata(tt.in)
			if !ok {
				t.Fatal("not parsed")
			}
			if !bytes.Equal(md.Live, tt.live) {
				t.Fatalf("live metadata\n%q, want\n%q", md.Live, tt.live)
			}
			if md.Audio != tt.audio || md.Video != tt.video || md.Declared != tt.declare {
				t.Fatalf("tracks audio=%v video=%v declared=%v", md.Audio, md.Video, md.Declared)
			}
			again, _ := ParseMetadata(md.Live)
			if !bytes.Equal(again.Live, md.Live) {
				t.Fatal("stripping twice changes the bytes: a relay would alter the stream")
			}
		})
	}
	for _, bad := range [][]byte{nil, []byte("\x02\x00\x0aonCuePoint\x03"), []byte("\x02\x00\x0aonMetaData\x08\x00\x00\x00\x01\x00\x05dur"), []byte("\x02\x00\x0aonMetaData\x11")} {
		if md, ok := ParseMetadata(bad); ok || !bytes.Equal(md.Live, bad) {
			t.Fatalf("%q: ok=%v, live %q: want it refused and untouched", bad, ok, md.Live)
		}
	}
}

func FuzzParseMetadata(f *testing.F) {
	f.Add(ecma("duration", 120.0, "videocodecid", 7.0, "filesize", 1e6))
	f.Add([]byte("\x02\x00\x0aonMetaData\x03\x00\x01a\x0a\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x05\x00\x00\x09"))
	f.Fuzz(func(t *testing.T, b []byte) {
		md, ok := ParseMetadata(b)
		if !ok {
			return
		}
		if len(md.Live) > len(b) {
			t.Fatalf("stripped metadata grew: %d > %d", len(md.Live), len(b))
		}
		again, ok := ParseMetadata(md.Live)
		if !ok || !bytes.Equal(again.Live, md.Live) {
			t.Fatalf("stripped metadata does not parse to itself: %q", md.Live)
		}
	})
}
