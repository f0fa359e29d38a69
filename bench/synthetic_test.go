package bench

import (
	"encoding/binary"
	"math"
	"testing"

	"streamedge/media/flv"
)

func TestSyntheticHeaders(t *testing.T) {
	s := newSynthetic(2e6)
	meta, video, audio := s.next(), s.next(), s.next()
	if meta.Type != flv.TagScript || string(meta.Data[3:13]) != "onMetaData" {
		t.Errorf("first tag %d %q, want onMetaData", meta.Type, meta.Data[:13])
	}
	cfg, err := flv.ParseAVCConfig(video.Data)
	if err != nil {
		t.Fatalf("AVC sequence header: %v", err)
	}
	if cfg.Width != synthWidth || cfg.Height != synthHeight || cfg.Profile != 66 || cfg.NALULengthSize != 4 {
		t.Errorf("AVC config %+v, want %dx%d baseline with 4-byte lengths", cfg, synthWidth, synthHeight)
	}
	if !flv.IsAudioSequenceHeader(audio.Data) || flv.AudioCodecID(audio.Data) != flv.AudioCodecAAC {
		t.Errorf("audio header % x is not an AAC sequence header", audio.Data)
	}
}

func TestSyntheticStream(t *testing.T) {
	for _, rate := range []float64{300e3, 2e6, 8e6} {
		s := newSynthetic(rate)
		for range 3 {
			s.next() // headers
		}
		const seconds = 60
		var bytes int
		var video, keys, audio int
		var lastTS uint32
		for {
			tag := s.next()
			if tag.Timestamp >= seconds*1000 {
				break
			}
			if tag.Timestamp < lastTS {
				t.Fatalf("%v: timestamp went back from %d to %d", rate, lastTS, tag.Timestamp)
			}
			lastTS = tag.Timestamp
			bytes += len(tag.Data)
			switch tag.Type {
			case flv.TagVideo:
				video++
				checkNALU(t, tag.Data)
				if flv.IsVideoKeyPicture(tag.Data) {
					keys++
					if tag.Timestamp%2000 != 0 {
						t.Errorf("%v: keyframe at %d ms, want every 2 s", rate, tag.Timestamp)
					}
				}
			case flv.TagAudio:
				audio++
				if flv.AudioCodecID(tag.Data) != flv.AudioCodecAAC || tag.Data[1] != 1 {
					t.Fatalf("%v: audio tag % x is not a raw AAC frame", rate, tag.Data[:2])
				}
			}
		}
		got := float64(bytes) * 8 / seconds
		if math.Abs(got-rate)/rate > 0.005 {
			t.Errorf("%v: %v bit/s of tag bodies, want within 0.5%%", rate, got)
		}
		if video != seconds*synthFPS || keys != seconds/2 {
			t.Errorf("%v: %d video frames, %d keyframes; want %d and %d", rate, video, keys, seconds*synthFPS, seconds/2)
		}
		if wantAudio := seconds * aacSampleRate / aacFrameSamples; audio < wantAudio-1 || audio > wantAudio+1 {
			t.Errorf("%v: %d audio frames, want %d", rate, audio, wantAudio)
		}
	}
}

// checkNALU checks an AVC NALU tag: one length-prefixed NAL unit of the type
// its frame type calls for, with no start code inside.
func checkNALU(t *testing.T, b []byte) {
	t.Helper()
	if len(b) < 10 || b[1] != 1 {
		t.Fatalf("video tag % x is not an AVC NALU tag", b[:min(len(b), 10)])
	}
	if n := binary.BigEndian.Uint32(b[5:]); int(n) != len(b)-9 {
		t.Fatalf("NALU length %d, want %d", n, len(b)-9)
	}
	nalType := b[9] & 0x1f
	if key := flv.IsVideoKeyframe(b); (key && nalType != 5) || (!key && nalType != 1) {
		t.Fatalf("keyframe %v carries NAL type %d", key, nalType)
	}
	for i := 10; i+2 < len(b); i++ {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] <= 3 {
			t.Fatalf("start code or escape sequence at %d", i)
		}
	}
}
