package flv

import "testing"

func TestVideoHelpers(t *testing.T) {
	tests := []struct {
		name      string
		data      []byte
		keyframe  bool
		seqHeader bool
		codec     uint8
		frameType uint8
		fourCC    string
	}{
		{name: "nil", data: nil},
		{name: "empty", data: []byte{}},
		{name: "avc keyframe, header only byte", data: []byte{0x17}, keyframe: true, codec: 7, frameType: 1},
		{name: "avc sequence header", data: []byte{0x17, 0x00, 0, 0, 0}, keyframe: true, seqHeader: true, codec: 7, frameType: 1},
		{name: "avc keyframe nalu", data: []byte{0x17, 0x01, 0, 0, 0}, keyframe: true, codec: 7, frameType: 1},
		{name: "avc inter frame", data: []byte{0x27, 0x01, 0, 0, 0}, codec: 7, frameType: 2},
		{name: "avc end of sequence", data: []byte{0x17, 0x02, 0, 0, 0}, keyframe: true, codec: 7, frameType: 1},
		// Inter frames never carry configuration, but the packet type alone
		// decides: encoders do send 0x27 0x00 on reconfiguration.
		{name: "avc sequence header marked inter", data: []byte{0x27, 0x00}, seqHeader: true, codec: 7, frameType: 2},
		{name: "avc command frame", data: []byte{0x57, 0x00}, codec: 7, frameType: 5},
		{name: "legacy hevc sequence header", data: []byte{0x1c, 0x00, 0, 0, 0}, keyframe: true, seqHeader: true, codec: 12, frameType: 1},
		{name: "h263 keyframe", data: []byte{0x12, 0x00}, keyframe: true, codec: 2, frameType: 1},
		{name: "ex hevc sequence start", data: []byte{0x90, 'h', 'v', 'c', '1'}, keyframe: true, seqHeader: true, frameType: 1, fourCC: "hvc1"},
		{name: "ex av1 sequence start", data: []byte{0x90, 'a', 'v', '0', '1', 0x81}, keyframe: true, seqHeader: true, frameType: 1, fourCC: "av01"},
		{name: "ex hevc coded frames", data: []byte{0x91, 'h', 'v', 'c', '1', 0, 0, 0}, keyframe: true, frameType: 1, fourCC: "hvc1"},
		{name: "ex hevc inter framesX", data: []byte{0xa3, 'h', 'v', 'c', '1'}, frameType: 2, fourCC: "hvc1"},
		{name: "ex header truncated fourcc", data: []byte{0x90, 'h', 'v'}, keyframe: true, frameType: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsVideoKeyframe(tt.data); got != tt.keyframe {
				t.Errorf("IsVideoKeyframe = %v, want %v", got, tt.keyframe)
			}
			if got := IsVideoSequenceHeader(tt.data); got != tt.seqHeader {
				t.Errorf("IsVideoSequenceHeader = %v, want %v", got, tt.seqHeader)
			}
			if got := VideoCodecID(tt.data); got != tt.codec {
				t.Errorf("VideoCodecID = %d, want %d", got, tt.codec)
			}
			if got := VideoFrameType(tt.data); got != tt.frameType {
				t.Errorf("VideoFrameType = %d, want %d", got, tt.frameType)
			}
			if got := VideoFourCC(tt.data); got != tt.fourCC {
				t.Errorf("VideoFourCC = %q, want %q", got, tt.fourCC)
			}
		})
	}
}

func TestAudioHelpers(t *testing.T) {
	tests := []struct {
		name      string
		data      []byte
		seqHeader bool
		codec     uint8
	}{
		{name: "nil", data: nil},
		{name: "aac first byte only", data: []byte{0xaf}, codec: 10},
		{name: "aac sequence header", data: []byte{0xaf, 0x00, 0x12, 0x10}, seqHeader: true, codec: 10},
		{name: "aac raw", data: []byte{0xaf, 0x01, 0x21}, codec: 10},
		{name: "aac mono 44k flags", data: []byte{0xae, 0x00}, seqHeader: true, codec: 10},
		{name: "mp3", data: []byte{0x2f, 0x00}, codec: 2},
		{name: "pcm", data: []byte{0x0f, 0x00}, codec: 0},
		{name: "ex opus sequence start", data: []byte{0x90, 'O', 'p', 'u', 's'}, seqHeader: true, codec: 9},
		{name: "ex opus coded frames", data: []byte{0x91, 'O', 'p', 'u', 's', 0}, codec: 9},
		{name: "ex truncated fourcc", data: []byte{0x90, 'O'}, codec: 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsAudioSequenceHeader(tt.data); got != tt.seqHeader {
				t.Errorf("IsAudioSequenceHeader = %v, want %v", got, tt.seqHeader)
			}
			if got := AudioCodecID(tt.data); got != tt.codec {
				t.Errorf("AudioCodecID = %d, want %d", got, tt.codec)
			}
		})
	}
}

func TestIsVideoKeyPicture(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want bool
	}{
		{"avc keyframe", []byte{0x17, 1, 0, 0, 0, 0xaa}, true},
		{"avc inter", []byte{0x27, 1, 0, 0, 0}, false},
		{"avc sequence header", []byte{0x17, 0, 0, 0, 0}, false},
		{"avc end of sequence", []byte{0x17, 2, 0, 0, 0}, false},
		{"enhanced coded frames", []byte{0x91, 'h', 'v', 'c', '1'}, true},
		{"enhanced sequence start", []byte{0x90, 'h', 'v', 'c', '1'}, false},
		{"vp6 keyframe", []byte{0x14, 0}, true},
		{"empty", nil, false},
	}
	for _, tt := range tests {
		if got := IsVideoKeyPicture(tt.data); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}
