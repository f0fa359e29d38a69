package webrtc

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"streamedge/media/flv"
	"streamedge/media/hub"
)

var testKey = hub.Key{Vhost: hub.DefaultVhost, App: "live", Name: "s"}

// loop sends the source over and over until stop closes.
func (p *publishClient) loop(src *source, stop <-chan struct{}) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			p.send(src, 10*time.Millisecond, stop)
		}
	}()
	return done
}

// awaitHeaders reads the hub's view of key until it has both sequence
// headers, and returns them.
func awaitHeaders(t *testing.T, h *hub.Hub, key hub.Key) (video, audio *hub.Msg) {
	t.Helper()
	sub, err := h.Subscribe(key, false)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	deadline := time.After(15 * time.Second)
	for video == nil || audio == nil {
		batch, wait, err := sub.Fetch(nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range batch {
			switch {
			case m.Type == flv.TagVideo && m.SeqHeader:
				video = m
			case m.Type == flv.TagAudio && m.SeqHeader:
				audio = m
			}
		}
		if len(batch) == 0 {
			select {
			case <-wait:
			case <-deadline:
				t.Fatalf("no sequence headers in the hub: video %v, audio %v", video != nil, audio != nil)
			}
		}
	}
	return video, audio
}

// TestWHIPToHubInFLV: a WHIP publish is a hub stream in FLV form: an AVC
// sequence header with the publisher's SPS/PPS (so RTMP and HTTP-FLV
// players and the relay can carry it) and enhanced-RTMP Opus audio.
func TestWHIPToHubInFLV(t *testing.T) {
	ts := startServer(t, Config{})
	src := loadSource(t)
	pub := newPublisher(t, ts.url+"/rtc/v1/whip/?app=live&stream=s")
	stop := make(chan struct{})
	sent := pub.loop(src, stop)
	defer func() { close(stop); <-sent }()

	video, audio := awaitHeaders(t, ts.hub, testKey)
	cfg, err := flv.ParseAVCConfig(video.Payload)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Width != 320 || cfg.Height != 240 || !bytes.Equal(cfg.SPS, src.sps) || !bytes.Equal(cfg.PPS, src.pps) {
		t.Fatalf("sequence header: %dx%d, same SPS %v, same PPS %v", cfg.Width, cfg.Height, bytes.Equal(cfg.SPS, src.sps), bytes.Equal(cfg.PPS, src.pps))
	}
	if flv.AudioCodecID(audio.Payload) != flv.AudioCodecExHeader || string(audio.Payload[1:5]) != "Opus" || !bytes.HasPrefix(audio.Payload[5:], []byte("OpusHead")) {
		t.Fatalf("audio sequence start %q", audio.Payload)
	}
	info := ts.hub.Streams()
	if len(info) != 1 || !info[0].Publishing || !info[0].HasVideo || !info[0].HasAudio {
		t.Fatalf("hub streams: %+v", info)
	}
}

// TestPublishPlay: a WHIP publisher of real H.264 and Opus; a WHEP player
// and an SRS JSON API player each get frames identical to what was sent,
// the first one a keyframe with SPS and PPS in front.
func TestPublishPlay(t *testing.T) {
	ts := startServer(t, Config{})
	src := loadSource(t)
	pub := newPublisher(t, ts.url+"/rtc/v1/whip/?app=live&stream=s")
	stop := make(chan struct{})
	sent := pub.loop(src, stop)
	defer func() { close(stop); <-sent }()
	awaitHeaders(t, ts.hub, testKey)

	whep := newPlayer(t, ts.url+"/live/s/whep")
	api := newAPIPlayer(t, ts.url, "webrtc://localhost/live/s")
	known := map[string]bool{}
	for _, f := range src.frames {
		known[string(bytes.Join(f.nalus, []byte{0}))] = true
	}
	for name, p := range map[string]*playClient{"whep": whep, "json api": api} {
		frames, opus := p.awaitFrames(t, 30)
		first := splitAnnexB(frames[0])
		if len(first) < 3 || first[0][0]&0x1f != naluSPS || first[1][0]&0x1f != naluPPS || !bytes.Equal(first[0], src.sps) {
			t.Fatalf("%s: first frame does not start with the SPS and PPS: %d NAL units", name, len(first))
		}
		if !hasIDR(first) {
			t.Fatalf("%s: first picture has no IDR slice", name)
		}
		for i, fr := range frames {
			var nalus [][]byte
			for _, n := range splitAnnexB(fr) {
				if typ := n[0] & 0x1f; typ != naluSPS && typ != naluPPS {
					nalus = append(nalus, n)
				}
			}
			if !known[string(bytes.Join(nalus, []byte{0}))] {
				t.Fatalf("%s: frame %d (%d bytes) is not one the publisher sent", name, i, len(fr))
			}
		}
		for i, o := range opus {
			if len(o) != len(opusPacketN(0)) || o[0] != 0xfc {
				t.Fatalf("%s: opus packet %d is %d bytes %x...", name, i, len(o), o[:min(8, len(o))])
			}
		}
	}
	if got := len(ts.srv.Sessions()); got != 3 {
		t.Fatalf("%d sessions, want 3", got)
	}
	// DELETE ends each session.
	for _, loc := range []string{whep.loc, api.loc, pub.loc} {
		req, _ := http.NewRequest(http.MethodDelete, ts.url+loc, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("DELETE %s: %d", loc, resp.StatusCode)
		}
	}
	if n := ts.srv.Count(); n != 0 {
		t.Fatalf("%d sessions after DELETE", n)
	}
	if info := ts.hub.Streams(); len(info) != 0 && info[0].Publishing {
		t.Fatalf("stream still published after the publisher's DELETE: %+v", info)
	}
}

// newAPIPlayer plays through SRS's JSON API, as srs.sdk.js does.
func newAPIPlayer(t *testing.T, base, streamURL string) *playClient {
	t.Helper()
	pc, err := clientAPI(t).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
	}
	p := &playClient{pc: pc, gotFrame: make(chan struct{}, 1)}
	pc.OnTrack(p.onTrack)
	body, _ := json.Marshal(map[string]string{"api": base + "/rtc/v1/play/", "tid": "abc", "streamurl": streamURL, "clientip": "", "sdp": offer(t, pc)})
	code, resp, _ := post(t, base+"/rtc/v1/play/", "application/json", string(body))
	var answer struct {
		Code      int    `json:"code"`
		SDP       string `json:"sdp"`
		SessionID string `json:"sessionid"`
		Server    string `json:"server"`
	}
	if err := json.Unmarshal([]byte(resp), &answer); err != nil || code != http.StatusOK || answer.Code != 0 || answer.SessionID == "" || answer.Server == "" {
		t.Fatalf("play API: %d %s", code, resp)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer.SDP}); err != nil {
		t.Fatal(err)
	}
	p.loc = PathSession + answer.SessionID
	return p
}

// TestKeyframeRequest: with no GOP cache a new player cannot start at
// once, so the server asks the WHIP publisher for a keyframe (PLI).
func TestKeyframeRequest(t *testing.T) {
	ts := startServer(t, Config{})
	opts := hub.DefaultOptions()
	opts.GOPCache = false
	ts.hub.SetOptions(opts)
	src := loadSource(t)
	pub := newPublisher(t, ts.url+"/rtc/v1/whip/?app=live&stream=s")
	plis := pub.countPLIs()
	stop := make(chan struct{})
	sent := pub.loop(src, stop)
	defer func() { close(stop); <-sent }()
	awaitHeaders(t, ts.hub, testKey)
	// Let the publisher's own start-up request (before its first keyframe) pass.
	before := plis.Load()
	time.Sleep(keyframeInterval) // rate limit window, not synchronisation: the assertion below waits on the event
	before = max(before, plis.Load())
	p := newPlayer(t, ts.url+"/live/s/whep")
	deadline := time.Now().Add(10 * time.Second)
	for plis.Load() <= before {
		if time.Now().After(deadline) {
			t.Fatalf("no PLI reached the publisher after a player joined (%d before)", before)
		}
		time.Sleep(10 * time.Millisecond)
	}
	frames, _ := p.awaitFrames(t, 5)
	if !hasIDR(splitAnnexB(frames[0])) {
		t.Fatal("first frame is not a keyframe")
	}
}

// TestBadInput: every refusal is a 4xx with a short body that says why.
func TestBadInput(t *testing.T) {
	ts := startServer(t, Config{})
	src := loadSource(t)
	pub := newPublisher(t, ts.url+"/rtc/v1/whip/?app=live&stream=taken")
	stop := make(chan struct{})
	sent := pub.loop(src, stop)
	defer func() { close(stop); <-sent }()

	good := func(kinds ...webrtc.RTPCodecType) string {
		pc, _ := clientAPI(t).NewPeerConnection(webrtc.Configuration{})
		defer pc.Close()
		for _, k := range kinds {
			pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		}
		return offer(t, pc)
	}
	av := good(webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio)
	vp8Only := strings.NewReplacer("H264", "XXXX", "opus", "xxxx").Replace(av)
	cases := []struct {
		name, path, ctype, body string
		code                    int
		says                    string
	}{
		{"garbage sdp", "/rtc/v1/whip/?app=live&stream=a", "application/sdp", "hello", 400, "not a valid SDP"},
		{"no usable codec", "/live/b/whip", "application/sdp", vp8Only, 400, "no usable codec"},
		{"name taken", "/live/taken/whip", "application/sdp", av, 409, "already being published"},
		{"not published", "/live/nothing/whep", "application/sdp", av, 404, "not published"},
		{"no stream name", "/rtc/v1/whip/?app=live", "application/sdp", av, 400, "stream name"},
		{"bad name", "/rtc/v1/whep/?app=live&stream=..", "application/sdp", av, 400, "stream name"},
		{"wrong content type", "/live/c/whip", "text/plain", av, 415, "application/sdp"},
		{"json api garbage", "/rtc/v1/publish/", "application/json", "{", 400, `"code":400`},
		{"json api bad url", "/rtc/v1/publish/", "application/json", `{"streamurl":"webrtc://h/onlyone","sdp":"x"}`, 400, "streamurl"},
		{"json api taken", "/rtc/v1/publish/", "application/json", jsonOffer("webrtc://h/live/taken", av), 409, `"code":409`},
		{"json api not published", "/rtc/v1/play/", "application/json", jsonOffer("webrtc://h/live/none", av), 404, `"code":404`},
	}
	for _, c := range cases {
		code, body, _ := post(t, ts.url+c.path, c.ctype, c.body)
		if code != c.code || !strings.Contains(body, c.says) || len(body) > 300 {
			t.Errorf("%s: %d %q, want %d saying %q", c.name, code, body, c.code, c.says)
		}
	}
	for _, m := range []string{http.MethodPatch, http.MethodDelete} {
		req, _ := http.NewRequest(m, ts.url+PathSession+"0-0123456789abcdef0123456789abcdef", strings.NewReader("a=end-of-candidates\r\n"))
		req.Header.Set("Content-Type", "application/trickle-ice-sdpfrag")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s of an unknown session: %d", m, resp.StatusCode)
		}
	}
	req, _ := http.NewRequest(http.MethodOptions, ts.url+"/rtc/v1/whip/?app=live&stream=x", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "Location") {
		t.Errorf("OPTIONS: %d %v", resp.StatusCode, resp.Header)
	}
	// The refused publisher left the first one alone.
	if info := ts.hub.Streams(); len(info) != 1 || !info[0].Publishing {
		t.Errorf("streams after the refusals: %+v", info)
	}
}

func jsonOffer(url, sdp string) string {
	b, _ := json.Marshal(map[string]string{"api": "x", "streamurl": url, "sdp": sdp})
	return string(b)
}

// TestHandshakeTimeout: a session whose peer never completes ICE is closed,
// and a publisher's name is free again.
func TestHandshakeTimeout(t *testing.T) {
	ts := startServer(t, Config{HandshakeTimeout: 300 * time.Millisecond})
	pc, _ := clientAPI(t).NewPeerConnection(webrtc.Configuration{})
	defer pc.Close()
	pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	code, _, _ := post(t, ts.url+"/live/s/whip", "application/sdp", offer(t, pc))
	if code != http.StatusCreated {
		t.Fatalf("POST: %d", code)
	}
	// The client never applies the answer, so ICE never starts.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for ts.srv.Count() > 0 {
		if ctx.Err() != nil {
			t.Fatal("session still open long after the handshake timeout")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if info := ts.hub.Streams(); len(info) != 0 {
		t.Fatalf("stream still held: %+v", info)
	}
}

func hasIDR(nalus [][]byte) bool {
	for _, n := range nalus {
		if n[0]&0x1f == naluIDR {
			return true
		}
	}
	return false
}

// TestGarbageDropped: junk on the UDP port is dropped and counted, and the
// port keeps serving.
func TestGarbageDropped(t *testing.T) {
	ts := startServer(t, Config{})
	c, err := net.DialUDP("udp4", nil, ts.udp.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	junk := [][]byte{[]byte("GET / HTTP/1.1\r\n\r\n"), {0xff, 0xfe}, {}, append([]byte{0x80, 0x60}, make([]byte, 30)...)}
	for _, j := range junk {
		c.Write(j)
	}
	deadline := time.Now().Add(5 * time.Second)
	for ts.srv.Stats.Garbage.Load() < 2 || ts.srv.Stats.Unrouted.Load() < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("garbage %d, unrouted %d", ts.srv.Stats.Garbage.Load(), ts.srv.Stats.Unrouted.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	pub := newPublisher(t, ts.url+"/live/s/whip")
	if pub.pc.ConnectionState() != webrtc.PeerConnectionStateConnected {
		t.Fatal("publisher did not connect after the garbage")
	}
}
