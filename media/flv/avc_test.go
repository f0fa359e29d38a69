package flv

import (
	"bytes"
	"encoding/hex"
	"errors"
	"slices"
	"testing"
)

var testPPS = []byte{0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0}

// SPS NAL units produced by ffmpeg 5.1 / libx264 for the sizes and options
// named, so the parser is checked against a real encoder's bit layout.
var realSPS = []struct {
	name          string
	hex           string
	profile       uint8
	level         uint8
	width, height int
}{
	{"high 426x240 cropped", "67640015acd941b1fe4f011000000300100000030320f162d960", 100, 21, 426, 240},
	{"high 640x360", "6764001eacd940a02ff97011000003000100000300320f162d96", 100, 30, 640, 360},
	{"high444 322x242", "67f4000d919b282a10f1f1f808800000030080000019078a14cb", 244, 13, 322, 242},
	{"high interlaced 720x480", "6764001eacd940b47b6022000003000200000300643e28532c", 100, 30, 720, 480},
	{"main 1920x1080", "674d4028eca03c0113f2e022000003000200000300641e30632c", 77, 40, 1920, 1080},
}

func deltas(n int, d int32) []int32 { return slices.Repeat([]int32{d}, n) }

// earlyStop makes the first decoded scale 0, which ends a scaling list
// after a single delta.
var earlyStop = []int32{-8}

var synthSPS = []struct {
	name          string
	sps           spsFields
	width, height int
}{
	{
		name: "scaling lists 4:2:0",
		sps: spsFields{
			profile: 100, chromaFormat: 1,
			scalingLists: [][]int32{deltas(16, 1), nil, earlyStop, deltas(16, -9), nil, nil, deltas(64, 1), earlyStop},
			widthMbs:     22, heightMapUnits: 18, frameMbsOnly: true,
		},
		width: 352, height: 288,
	},
	{
		// Separate colour planes are coded like monochrome, so cropping is
		// in luma samples.
		name: "4:4:4 separate planes with 12 scaling lists",
		sps: spsFields{
			profile: 244, chromaFormat: 3, separatePlanes: true,
			scalingLists: slices.Concat(slices.Repeat([][]int32{deltas(16, 2)}, 6), slices.Repeat([][]int32{deltas(64, 3)}, 6)),
			widthMbs:     10, heightMapUnits: 10, frameMbsOnly: true,
			crop: &[4]uint32{1, 3, 2, 2},
		},
		width: 156, height: 156,
	},
	{
		name: "4:2:2 interlaced poc type 1",
		sps: spsFields{
			profile: 122, chromaFormat: 2, pocType: 1, pocCycle: []int32{1, -2, 1 << 30}, // the big offset needs escaping
			widthMbs: 45, heightMapUnits: 15, frameMbsOnly: false,
			crop: &[4]uint32{0, 2, 0, 4},
		},
		width: 716, height: 472,
	},
	{
		name: "monochrome poc type 2",
		sps: spsFields{
			profile: 100, chromaFormat: 0, pocType: 2,
			widthMbs: 10, heightMapUnits: 10, frameMbsOnly: true,
			crop: &[4]uint32{3, 0, 0, 1},
		},
		width: 157, height: 159,
	},
	{
		name:  "baseline 720p",
		sps:   spsFields{profile: 66, widthMbs: 80, heightMapUnits: 45, frameMbsOnly: true},
		width: 1280, height: 720,
	},
	{
		name:  "baseline 1080p crops 8 rows",
		sps:   spsFields{profile: 66, widthMbs: 120, heightMapUnits: 68, frameMbsOnly: true, crop: &[4]uint32{0, 0, 0, 4}},
		width: 1920, height: 1080,
	},
	{
		name:  "max poc cycle",
		sps:   spsFields{profile: 77, pocType: 1, pocCycle: deltas(255, -1), widthMbs: 2, heightMapUnits: 2, frameMbsOnly: true},
		width: 32, height: 32,
	},
}

func TestParseAVCConfig(t *testing.T) {
	type tc struct {
		name          string
		body          []byte
		sps           []byte
		profile       uint8
		level         uint8
		width, height int
	}
	var tests []tc
	for _, s := range realSPS {
		sps, err := hex.DecodeString(s.hex)
		if err != nil {
			t.Fatal(err)
		}
		tests = append(tests, tc{s.name, avcSequenceHeader(sps, testPPS), sps, s.profile, s.level, s.width, s.height})
	}
	for _, s := range synthSPS {
		sps := s.sps.encode()
		tests = append(tests, tc{s.name, avcSequenceHeader(sps, testPPS), sps, uint8(s.sps.profile), 40, s.width, s.height})
	}
	// The same record behind an enhanced-RTMP "avc1" SequenceStart header.
	exBody := slices.Concat([]byte{0x90, 'a', 'v', 'c', '1'}, tests[0].body[5:])
	tests = append(tests, tc{"enhanced rtmp avc1", exBody, tests[0].sps, tests[0].profile, tests[0].level, tests[0].width, tests[0].height})

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseAVCConfig(tt.body)
			if err != nil {
				t.Fatal(err)
			}
			if c.Width != tt.width || c.Height != tt.height {
				t.Errorf("size = %dx%d, want %dx%d", c.Width, c.Height, tt.width, tt.height)
			}
			if c.Profile != tt.profile || c.Level != tt.level || c.NALULengthSize != 4 {
				t.Errorf("profile %d level %d length size %d, want %d %d 4", c.Profile, c.Level, c.NALULengthSize, tt.profile, tt.level)
			}
			if !bytes.Equal(c.SPS, tt.sps) || !bytes.Equal(c.PPS, testPPS) {
				t.Errorf("SPS % x PPS % x, want % x and % x", c.SPS, c.PPS, tt.sps, testPPS)
			}
			// The parameter sets are copies: reusing the tag buffer must not
			// change a config that was already handed out.
			clear(tt.body)
			if !bytes.Equal(c.SPS, tt.sps) {
				t.Error("SPS aliases the tag body")
			}
		})
	}
}

func TestSynthSPSHasEmulationPrevention(t *testing.T) {
	// Guards the test data: at least one synthesised SPS must need escaping,
	// or unescapeRBSP would only be exercised by the real samples.
	for _, s := range synthSPS {
		if bytes.Contains(s.sps.encode(), []byte{0, 0, 3}) {
			return
		}
	}
	t.Error("no synthesised SPS contains an emulation prevention byte")
}

func TestParseAVCConfigErrors(t *testing.T) {
	good := avcSequenceHeader(synthSPS[4].sps.encode(), testPPS) // baseline 720p
	spsEnd := 5 + 8 + len(synthSPS[4].sps.encode())
	with := func(edit func([]byte) []byte) []byte { return edit(slices.Clone(good)) }
	withSPS := func(f spsFields) []byte { return avcSequenceHeader(f.encode(), testPPS) }
	base := synthSPS[4].sps

	tests := []struct {
		name string
		body []byte
	}{
		{"nil", nil},
		{"video header cut short", good[:2]},
		{"video header only", good[:5]},
		{"inter frame", with(func(b []byte) []byte { b[0], b[1] = 0x27, 1; return b })},
		{"legacy hevc", with(func(b []byte) []byte { b[0] = 0x1c; return b })},
		{"enhanced hvc1", slices.Concat([]byte{0x90, 'h', 'v', 'c', '1'}, good[5:])},
		{"record too short", good[:10]},
		{"configuration version 0", with(func(b []byte) []byte { b[5] = 0; return b })},
		{"no SPS", with(func(b []byte) []byte { b[10] = 0xe0; return b })},
		{"SPS length past end", with(func(b []byte) []byte { b[11] = 0x7f; return b })},
		{"SPS length zero", with(func(b []byte) []byte { b[11], b[12] = 0, 0; return b })},
		{"second SPS truncated", with(func(b []byte) []byte { b[10] = 0xe2; return b[:spsEnd] })},
		{"missing PPS count", good[:spsEnd]},
		{"no PPS", with(func(b []byte) []byte { b[spsEnd] = 0; return b })},
		{"PPS truncated", good[:len(good)-1]},
		{"SPS is not an SPS", avcSequenceHeader(testPPS, testPPS)},
		{"SPS too short", avcSequenceHeader([]byte{0x67, 66, 0}, testPPS)},
		{"SPS truncated", avcSequenceHeader(base.encode()[:6], testPPS)},
		{"exp-golomb code too long", avcSequenceHeader([]byte{0x67, 66, 0, 30, 0, 0, 0, 0, 0, 0x80}, testPPS)},
		{"crop exceeds picture", withSPS(spsFields{profile: 66, widthMbs: 1, heightMapUnits: 1, frameMbsOnly: true, crop: &[4]uint32{4, 4, 0, 0}})},
		{"picture too large", withSPS(spsFields{profile: 66, widthMbs: 5000, heightMapUnits: 1, frameMbsOnly: true})},
		{"poc type 3", withSPS(spsFields{profile: 66, pocType: 3, widthMbs: 1, heightMapUnits: 1, frameMbsOnly: true})},
		{"poc cycle too long", withSPS(spsFields{profile: 66, pocType: 1, pocCycle: deltas(256, 1), widthMbs: 1, heightMapUnits: 1, frameMbsOnly: true})},
		{"chroma format 4", withSPS(spsFields{profile: 100, chromaFormat: 4, widthMbs: 1, heightMapUnits: 1, frameMbsOnly: true})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseAVCConfig(tt.body)
			if err == nil {
				t.Fatalf("ParseAVCConfig succeeded: %+v", c)
			}
			if !errors.Is(err, ErrInvalidAVCConfig) {
				t.Errorf("error %v does not wrap ErrInvalidAVCConfig", err)
			}
		})
	}
}
