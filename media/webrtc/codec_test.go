package webrtc

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"streamedge/media/flv"
)

// A real 320x240 baseline SPS and a PPS (x264).
var (
	testSPS = []byte{0x67, 0x42, 0xc0, 0x0d, 0xd9, 0x01, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x42, 0xa4, 0x80}
	testPPS = []byte{0x68, 0xcb, 0x83, 0xcb, 0x20}
)

func TestAVCSequenceHeaderParses(t *testing.T) {
	tag := avcSequenceHeader(testSPS, testPPS)
	cfg, err := flv.ParseAVCConfig(tag)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(cfg.SPS, testSPS) || !bytes.Equal(cfg.PPS, testPPS) || cfg.NALULengthSize != 4 || cfg.Profile != 0x42 || cfg.Level != 0x0d {
		t.Fatalf("%+v", cfg)
	}
	if cfg.Width != 320 || cfg.Height != 240 {
		t.Fatalf("size %dx%d", cfg.Width, cfg.Height)
	}
	if vt, ok := parseVideoTag(tag); !ok || !vt.seq {
		t.Fatal("parseVideoTag does not see a sequence header")
	}
}

func avcc(nalus ...[]byte) []byte {
	var b []byte
	for _, n := range nalus {
		b = append(b, byte(len(n)>>24), byte(len(n)>>16), byte(len(n)>>8), byte(len(n)))
		b = append(b, n...)
	}
	return b
}

func TestSplitAU(t *testing.T) {
	aud, sei, idr, slice := []byte{0x09, 0xf0}, []byte{0x06, 1, 2}, []byte{0x65, 0x88, 0x84}, []byte{0x41, 0x9a}
	au, err := splitAU(avcc(aud, testSPS, testPPS, sei, idr), nil)
	if err != nil || !au.key || !bytes.Equal(au.sps, testSPS) || !bytes.Equal(au.pps, testPPS) || !bytes.Equal(au.avcc, avcc(sei, idr)) {
		t.Fatalf("keyframe: %+v %v", au, err)
	}
	au, err = splitAU(avcc(slice), nil)
	if err != nil || au.key || au.sps != nil || !bytes.Equal(au.avcc, avcc(slice)) {
		t.Fatalf("inter frame: %+v %v", au, err)
	}
	if _, err := splitAU([]byte{0, 0, 0, 9, 0x41}, nil); err == nil {
		t.Fatal("a truncated NAL unit was accepted")
	}
	if _, err := splitAU([]byte{0, 0}, nil); err == nil {
		t.Fatal("a truncated length was accepted")
	}
}

func TestParseVideoTag(t *testing.T) {
	data := avcc([]byte{0x65, 1})
	cases := []struct {
		name string
		tag  []byte
		ok   bool
		want videoTag
	}{
		{"legacy keyframe", append([]byte{0x17, 1, 0, 0, 0x28}, data...), true, videoTag{cts: 40, data: data}},
		{"legacy negative cts", append([]byte{0x27, 1, 0xff, 0xff, 0xd8}, data...), true, videoTag{cts: -40, data: data}},
		{"legacy end of sequence", []byte{0x17, 2, 0, 0, 0}, false, videoTag{}},
		{"hevc", append([]byte{0x1c, 1, 0, 0, 0}, data...), false, videoTag{}},
		{"enhanced avc1 coded frames", append([]byte{0x91, 'a', 'v', 'c', '1', 0, 0, 0x28}, data...), true, videoTag{cts: 40, data: data}},
		{"enhanced avc1 coded frames x", append([]byte{0x93, 'a', 'v', 'c', '1'}, data...), true, videoTag{data: data}},
		{"enhanced avc1 sequence start", []byte{0x90, 'a', 'v', 'c', '1', 1}, true, videoTag{seq: true}},
		{"enhanced hvc1", append([]byte{0x93, 'h', 'v', 'c', '1'}, data...), false, videoTag{}},
		{"short", []byte{0x17, 1}, false, videoTag{}},
		{"empty", nil, false, videoTag{}},
	}
	for _, c := range cases {
		got, ok := parseVideoTag(c.tag)
		if ok != c.ok || got.seq != c.want.seq || got.cts != c.want.cts || !bytes.Equal(got.data, c.want.data) {
			t.Errorf("%s: got %+v %v, want %+v %v", c.name, got, ok, c.want, c.ok)
		}
	}
}

func TestOpusTags(t *testing.T) {
	seq := opusSequenceTag(2)
	if !flv.IsAudioSequenceHeader(seq) || flv.AudioCodecID(seq) != flv.AudioCodecExHeader {
		t.Fatalf("sequence start %x is not an audio sequence header to the hub", seq)
	}
	if head := seq[5:]; len(head) != 19 || string(head[:8]) != "OpusHead" || head[9] != 2 {
		t.Fatalf("OpusHead %x", head)
	}
	if _, ok := opusPacket(seq); ok {
		t.Fatal("a sequence start was taken for a packet")
	}
	pkt := []byte{0xfc, 1, 2, 3}
	frame := opusFrameTag(pkt)
	if flv.IsAudioSequenceHeader(frame) {
		t.Fatal("a coded frame looks like a sequence header")
	}
	if got, ok := opusPacket(frame); !ok || !bytes.Equal(got, pkt) {
		t.Fatalf("round trip: %x %v", got, ok)
	}
	for _, other := range [][]byte{{0xaf, 1, 0x21}, {0x91, 'f', 'L', 'a', 'C', 1}, {0x91, 'O', 'p', 'u', 's'}, nil} {
		if _, ok := opusPacket(other); ok {
			t.Errorf("%x taken for Opus", other)
		}
	}
}

func TestClassify(t *testing.T) {
	stun := make([]byte, 20)
	rtp := append([]byte{0x80, 0x60}, make([]byte, 10)...)
	cases := []struct {
		b    []byte
		want packetClass
	}{
		{stun, classSTUN},
		{stun[:19], classGarbage},
		{append([]byte{22}, make([]byte, 12)...), classDTLS},
		{rtp, classRTP},
		{rtp[:7], classGarbage},
		{[]byte("GET / HTTP/1.1\r\n"), classGarbage},
		{[]byte{0xff, 0, 0, 0, 0, 0, 0, 0, 0}, classGarbage},
		{nil, classGarbage},
	}
	for _, c := range cases {
		if got := classify(c.b); got != c.want {
			t.Errorf("classify(%x) = %d, want %d", c.b, got, c.want)
		}
	}
}

func TestInspectOffer(t *testing.T) {
	const head = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
	video := "m=video 9 UDP/TLS/RTP/SAVPF 96 102\r\na=rtpmap:96 VP8/90000\r\na=rtpmap:102 H264/90000\r\na=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n"
	mode0 := "m=video 9 UDP/TLS/RTP/SAVPF 102\r\na=rtpmap:102 H264/90000\r\na=fmtp:102 packetization-mode=0;profile-level-id=42e01f\r\n"
	audio := "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n"
	stopped := "m=audio 0 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n"
	cases := []struct {
		name, sdp string
		want      offerMedia
		err       error
	}{
		{"video and audio", head + video + audio, offerMedia{video: true, audio: true}, nil},
		{"audio only", head + audio, offerMedia{audio: true}, nil},
		{"packetization mode 0 only", head + mode0, offerMedia{}, ErrNoCodec},
		{"stopped section", head + stopped, offerMedia{}, ErrNoCodec},
		{"no media", head, offerMedia{}, ErrBadOffer},
		{"not sdp", "hello", offerMedia{}, ErrBadOffer},
	}
	for _, c := range cases {
		got, err := inspectOffer(c.sdp)
		if got != c.want || (err == nil) != (c.err == nil) || (c.err != nil && !errorIs(err, c.err)) {
			t.Errorf("%s: %+v %v, want %+v %v", c.name, got, err, c.want, c.err)
		}
	}
}

func TestTrickleCandidates(t *testing.T) {
	frag := "a=ice-ufrag:abcd\r\na=ice-pwd:xyz\r\nm=audio 9 RTP/AVP 0\r\na=mid:0\r\n" +
		"a=candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host\r\na=end-of-candidates\r\n" +
		"m=video 9 RTP/AVP 0\r\na=candidate:2 1 udp 2130706431 127.0.0.1 5001 typ host\r\n"
	got, err := trickleCandidates(frag)
	if err != nil || len(got) != 2 {
		t.Fatalf("%+v %v", got, err)
	}
	if got[0].SDPMid == nil || *got[0].SDPMid != "0" || got[0].Candidate != "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host" {
		t.Errorf("first: %+v", got[0])
	}
	if got[1].SDPMid != nil || got[1].SDPMLineIndex == nil || *got[1].SDPMLineIndex != 1 {
		t.Errorf("second (no mid, second section): %+v", got[1])
	}
	if _, err := trickleCandidates("not sdp at all"); err == nil {
		t.Error("garbage accepted")
	}
}

func TestRouteAndNames(t *testing.T) {
	routes := []struct {
		path       string
		role       Role
		json, ours bool
	}{
		{"/rtc/v1/whip/", RolePublish, false, true},
		{"/rtc/v1/whep/", RolePlay, false, true},
		{"/rtc/v1/whip-play/", RolePlay, false, true},
		{"/rtc/v1/publish/", RolePublish, true, true},
		{"/rtc/v1/play/", RolePlay, true, true},
		{"/live/s/whip", RolePublish, false, true},
		{"/a/b/s/whep", RolePlay, false, true},
		{"/rtc/v1/session/0-abc", 0, false, true},
		{"/live/s.flv", 0, false, false},
		{"/", 0, false, false},
	}
	for _, c := range routes {
		role, json, ok := Route(c.path)
		if role != c.role || json != c.json || ok != c.ours {
			t.Errorf("Route(%q) = %v %v %v", c.path, role, json, ok)
		}
	}
	urls := []struct {
		url  string
		want string
		ok   bool
	}{
		{"webrtc://localhost/live/s", "__defaultVhost__/live/s", true},
		{"webrtc://h:1985/a/b/s?vhost=v", "v/a/b/s", true},
		{"webrtc://h/onlyone", "", false},
		{"webrtc://h/live/..", "", false},
		{"::", "", false},
	}
	for _, c := range urls {
		k, ok := ParseStreamURL(c.url)
		if ok != c.ok || (ok && k.String() != c.want) {
			t.Errorf("ParseStreamURL(%q) = %v %v", c.url, k, ok)
		}
	}
	id := newSessionID(7)
	if slot, ok := SlotOf(id); !ok || slot != 7 {
		t.Errorf("SlotOf(%q) = %d %v", id, slot, ok)
	}
	for _, bad := range []string{"", "7", "x-0123456789abcdef0123456789abcdef", "-1-0123456789abcdef0123456789abcdef", "7-short"} {
		if _, ok := SlotOf(bad); ok {
			t.Errorf("SlotOf(%q) accepted", bad)
		}
	}
}

func errorIs(err, target error) bool { return errors.Is(err, target) }

func TestRTPClock(t *testing.T) {
	const wrap = 1 << 32
	tests := []struct {
		name    string
		rate    int64
		arrived time.Duration // of the first packet
		ts      []int64       // RTP timestamps, taken modulo 2^32
		want    []uint32
	}{
		{"audio starts at its arrival", 48000, 1500 * time.Millisecond, []int64{7, 7 + 960, 7 + 1920}, []uint32{1500, 1520, 1540}},
		{"video", 90000, 0, []int64{0, 3600, 7200}, []uint32{0, 40, 80}},
		{"the 32-bit wrap goes on", 48000, 0, []int64{wrap - 1920, wrap - 960, wrap, wrap + 960}, []uint32{0, 20, 40, 60}},
		{"a reordered packet is its own time", 48000, 0, []int64{0, 1920, 960, 2880}, []uint32{0, 40, 20, 60}},
		{"reordered across the wrap", 48000, 0, []int64{wrap - 960, wrap + 960, wrap, wrap + 1920}, []uint32{0, 40, 20, 60}},
		{"a gap is its length", 48000, 0, []int64{0, 960, 960 + 48000*5}, []uint32{0, 20, 5020}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := rtpClock{rate: tt.rate}
			for i, ts := range tt.ts {
				// Arrival after the first packet is ignored: jitter never moves the clock.
				if got := c.ms(uint32(ts), tt.arrived+time.Duration(i*37)*time.Millisecond); got != tt.want[i] {
					t.Fatalf("packet %d (ts %d): %d ms, want %d", i, uint32(ts), got, tt.want[i])
				}
			}
		})
	}
}
