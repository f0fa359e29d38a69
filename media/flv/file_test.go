package flv

import (
	"bytes"
	"io"
	"os"
	"testing"
	"time"

	"streamedge/media/mediatest"
)

// TestReadFFmpegFile checks the reader and helpers against what ffmpeg's FLV
// muxer really writes, in the order players and the hub depend on.
func TestReadFFmpegFile(t *testing.T) {
	tests := []struct {
		name  string
		media mediatest.Media
	}{
		{"defaults", mediatest.Media{}},
		{"cropped short gop", mediatest.Media{Width: 426, Height: 240, Duration: 2 * time.Second, GOP: 500 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := os.Open(mediatest.FLVFile(t, tt.media))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			// Fill in the defaults FLVFile applied so expectations can use them.
			m := tt.media
			if m.Width == 0 {
				m = mediatest.Media{Width: 320, Height: 240, Duration: 10 * time.Second, GOP: time.Second}
			}

			r := NewReader(f, WithReuseBuffer())
			audio, video, err := r.ReadHeader()
			if err != nil || !audio || !video {
				t.Fatalf("ReadHeader() = %v, %v, %v; want true, true, nil", audio, video, err)
			}

			var tags []Tag
			for {
				tag, err := r.ReadTag()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("tag %d: %v", len(tags), err)
				}
				tag.Data = bytes.Clone(tag.Data) // the reader reuses its buffer
				tags = append(tags, tag)
			}
			if len(tags) < 4 {
				t.Fatalf("only %d tags", len(tags))
			}

			// onMetaData first, as an AMF0 string, then both sequence headers
			// before any media, or players cannot initialise their decoders.
			if tags[0].Type != TagScript || !bytes.HasPrefix(tags[0].Data, []byte("\x02\x00\x0aonMetaData")) {
				t.Errorf("first tag: type %d data %q, want onMetaData script tag", tags[0].Type, tags[0].Data[:min(len(tags[0].Data), 13)])
			}
			if tags[1].Type != TagVideo || !IsVideoSequenceHeader(tags[1].Data) || VideoCodecID(tags[1].Data) != VideoCodecAVC {
				t.Errorf("second tag: type %d data % x, want AVC sequence header", tags[1].Type, tags[1].Data[:min(len(tags[1].Data), 5)])
			}
			if tags[2].Type != TagAudio || !IsAudioSequenceHeader(tags[2].Data) || AudioCodecID(tags[2].Data) != AudioCodecAAC {
				t.Errorf("third tag: type %d data % x, want AAC sequence header", tags[2].Type, tags[2].Data[:min(len(tags[2].Data), 2)])
			}

			cfg, err := ParseAVCConfig(tags[1].Data)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Width != m.Width || cfg.Height != m.Height {
				t.Errorf("SPS size %dx%d, want %dx%d", cfg.Width, cfg.Height, m.Width, m.Height)
			}
			if cfg.Profile != 66 {
				t.Errorf("profile %d, want 66 (baseline)", cfg.Profile)
			}

			var keyframes []uint32
			var last [32]uint32
			for i, tag := range tags[3:] {
				if tag.Timestamp < last[tag.Type] {
					t.Errorf("tag %d: type %d timestamp %d went back from %d", i+3, tag.Type, tag.Timestamp, last[tag.Type])
				}
				last[tag.Type] = tag.Timestamp
				// ffmpeg ends the file with an AVC end-of-sequence tag, which
				// also has frame type 1; only coded pictures count here.
				if tag.Type == TagVideo && IsVideoKeyframe(tag.Data) && tag.Data[1] == 1 {
					keyframes = append(keyframes, tag.Timestamp)
				}
			}
			gop := uint32(m.GOPFrames() * 1000 / mediatest.FPS)
			wantKeyframes := int((uint32(m.Duration.Milliseconds()) + gop - 1) / gop)
			if len(keyframes) != wantKeyframes {
				t.Errorf("%d keyframes at %v ms, want %d", len(keyframes), keyframes, wantKeyframes)
			}
			for i := 1; i < len(keyframes); i++ {
				if d := keyframes[i] - keyframes[i-1]; d != gop {
					t.Errorf("keyframes %d and %d are %d ms apart, want %d", i-1, i, d, gop)
				}
			}
			if end := time.Duration(last[TagVideo]) * time.Millisecond; end < m.Duration-time.Second || end > m.Duration {
				t.Errorf("last video timestamp %v, want close to %v", end, m.Duration)
			}
		})
	}
}
