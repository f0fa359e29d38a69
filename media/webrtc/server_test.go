package webrtc

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"streamedge/media/transcode"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"streamedge/media/flv"
	"streamedge/media/hub"
	"streamedge/media/webrtc/rtctest"
)

var testKey = hub.Key{Vhost: hub.DefaultVhost, App: "live", Name: "s"}

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

// publish starts a WHIP publisher of the test source at path, sending
// until the test ends.
func (ts *testServer) publish(t *testing.T, path string) (*rtctest.Publisher, *rtctest.Source) {
	t.Helper()
	src := rtctest.LoadSource(t)
	pub := rtctest.NewPublisher(t, ts.url+path)
	stop := make(chan struct{})
	sent := pub.Loop(src, stop)
	t.Cleanup(func() { close(stop); <-sent })
	return pub, src
}

// TestWHIPToHubInFLV: a WHIP publish is a hub stream in FLV form: an AVC
// sequence header with the publisher's SPS/PPS (so RTMP and HTTP-FLV
// players and the relay can carry it) and enhanced-RTMP Opus audio.
func TestWHIPToHubInFLV(t *testing.T) {
	ts := startServer(t, Config{})
	_, src := ts.publish(t, "/rtc/v1/whip/?app=live&stream=s")
	video, audio := awaitHeaders(t, ts.hub, testKey)
	cfg, err := flv.ParseAVCConfig(video.Payload)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Width != 320 || cfg.Height != 240 || !bytes.Equal(cfg.SPS, src.SPS) || !bytes.Equal(cfg.PPS, src.PPS) {
		t.Fatalf("sequence header: %dx%d, same SPS %v, same PPS %v", cfg.Width, cfg.Height, bytes.Equal(cfg.SPS, src.SPS), bytes.Equal(cfg.PPS, src.PPS))
	}
	opus := audio
	want := 1
	if transcode.Built() {
		// RTMP players get AAC-LC; the Opus is in the WebRTC rendition.
		if asc, ok := aacConfig(audio.Payload); !ok || asc[0]>>3 != 2 {
			t.Fatalf("audio sequence header %q is not AAC-LC", audio.Payload)
		}
		_, opus = awaitHeaders(t, ts.hub, RTCKey(testKey))
		want = 2
	}
	if flv.AudioCodecID(opus.Payload) != flv.AudioCodecExHeader || string(opus.Payload[1:5]) != "Opus" || !bytes.HasPrefix(opus.Payload[5:], []byte("OpusHead")) {
		t.Fatalf("audio sequence start %q", opus.Payload)
	}
	info := ts.hub.Streams()
	if len(info) != want || !info[0].Publishing || !info[0].HasVideo || !info[0].HasAudio {
		t.Fatalf("hub streams: %+v", info)
	}
}

// TestPublishPlay: a WHIP publisher of real H.264 and Opus; a WHEP player
// and an SRS JSON API player each get frames identical to what was sent,
// the first one a keyframe with SPS and PPS in front.
func TestPublishPlay(t *testing.T) {
	ts := startServer(t, Config{})
	pub, src := ts.publish(t, "/rtc/v1/whip/?app=live&stream=s")
	awaitHeaders(t, ts.hub, testKey)

	whep := rtctest.NewPlayer(t).Play(t, ts.url+"/live/s/whep")
	api := rtctest.NewPlayer(t).PlayJSON(t, ts.url, "webrtc://localhost/live/s")
	for name, p := range map[string]*rtctest.Player{"whep": whep, "json api": api} {
		frames, opus := p.AwaitFrames(t, 30)
		rtctest.CheckFrames(t, name, src, frames, opus)
	}
	if got := len(ts.srv.Sessions()); got != 3 {
		t.Fatalf("%d sessions, want 3", got)
	}
	// DELETE ends each session.
	for _, loc := range []string{whep.Location, api.Location, pub.Location} {
		if code := rtctest.Do(t, http.MethodDelete, ts.url+loc, "", ""); code != http.StatusOK {
			t.Fatalf("DELETE %s: %d", loc, code)
		}
	}
	if n := ts.srv.Count(); n != 0 {
		t.Fatalf("%d sessions after DELETE", n)
	}
	if info := ts.hub.Streams(); len(info) != 0 && info[0].Publishing {
		t.Fatalf("stream still published after the publisher's DELETE: %+v", info)
	}
}

// TestKeyframeRequest: with no GOP cache a new player cannot start at
// once, so the server asks the WHIP publisher for a keyframe (PLI).
func TestKeyframeRequest(t *testing.T) {
	ts := startServer(t, Config{KeyframeInterval: time.Hour}) // only players ask
	opts := hub.DefaultOptions()
	opts.GOPCache = false
	ts.hub.SetOptions(opts)
	pub, _ := ts.publish(t, "/rtc/v1/whip/?app=live&stream=s")
	awaitHeaders(t, ts.hub, testKey)
	// The publisher's own start-up request (before its first keyframe)
	// falls in the rate limit's window; wait it out, then count.
	time.Sleep(keyframeInterval)
	before := pub.PLIs()
	p := rtctest.NewPlayer(t).Play(t, ts.url+"/live/s/whep")
	deadline := time.Now().Add(10 * time.Second)
	for pub.PLIs() <= before {
		if time.Now().After(deadline) {
			t.Fatalf("no PLI reached the publisher after a player joined (%d before)", before)
		}
		time.Sleep(10 * time.Millisecond)
	}
	frames, _ := p.AwaitFrames(t, 5)
	if !rtctest.HasIDR(rtctest.SplitAnnexB(frames[0])) {
		t.Fatal("first frame is not a keyframe")
	}
}

// TestPeriodicKeyframes: a WHIP publisher is asked for a keyframe every
// KeyframeInterval, with no player asking.
func TestPeriodicKeyframes(t *testing.T) {
	ts := startServer(t, Config{KeyframeInterval: 100 * time.Millisecond})
	pub, _ := ts.publish(t, "/live/s/whip")
	awaitHeaders(t, ts.hub, testKey)
	before := pub.PLIs()
	deadline := time.Now().Add(10 * time.Second)
	for pub.PLIs() < before+3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d PLIs in 10 s at a 100 ms interval", pub.PLIs()-before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestBadInput: every refusal is a 4xx with a short body that says why.
func TestBadInput(t *testing.T) {
	ts := startServer(t, Config{})
	ts.publish(t, "/rtc/v1/whip/?app=live&stream=taken")
	av := rtctest.OfferOf(t, webrtc.RTPTransceiverDirectionSendonly, webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio)
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
		code, body, _ := rtctest.Post(t, ts.url+c.path, c.ctype, c.body)
		if code != c.code || !strings.Contains(body, c.says) || len(body) > 300 {
			t.Errorf("%s: %d %q, want %d saying %q", c.name, code, body, c.code, c.says)
		}
	}
	for _, m := range []string{http.MethodPatch, http.MethodDelete} {
		code := rtctest.Do(t, m, ts.url+PathSession+"0-0123456789abcdef0123456789abcdef", "application/trickle-ice-sdpfrag", "a=end-of-candidates\r\n")
		if code != http.StatusNotFound {
			t.Errorf("%s of an unknown session: %d", m, code)
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
	// The refused publisher left the first one (and its WebRTC rendition,
	// when audio transcoding is built) alone.
	info := ts.hub.Streams()
	want := 1
	if transcode.Built() {
		want = 2
	}
	if len(info) != want || !info[0].Publishing || !info[len(info)-1].Publishing {
		t.Errorf("streams after the refusals: %+v", info)
	}
}

func jsonOffer(url, sdp string) string {
	b, _ := json.Marshal(map[string]string{"api": "x", "streamurl": url, "sdp": sdp})
	return string(b)
}

// TestTrickle: candidates PATCHed after the offer reach the session.
func TestTrickle(t *testing.T) {
	ts := startServer(t, Config{})
	pub, _ := ts.publish(t, "/live/s/whip")
	frag := "a=ice-ufrag:x\r\na=ice-pwd:y\r\nm=video 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n" +
		"a=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host\r\na=end-of-candidates\r\n"
	if code := rtctest.Do(t, http.MethodPatch, ts.url+pub.Location, "application/trickle-ice-sdpfrag", frag); code != http.StatusNoContent {
		t.Fatalf("PATCH: %d", code)
	}
	if code := rtctest.Do(t, http.MethodPatch, ts.url+pub.Location, "application/sdp", frag); code != http.StatusUnsupportedMediaType {
		t.Fatalf("PATCH with the wrong type: %d", code)
	}
}

// TestHandshakeTimeout: a session whose peer never completes ICE is closed,
// and a publisher's name is free again.
func TestHandshakeTimeout(t *testing.T) {
	ts := startServer(t, Config{HandshakeTimeout: 300 * time.Millisecond})
	o := rtctest.OfferOf(t, webrtc.RTPTransceiverDirectionSendonly, webrtc.RTPCodecTypeVideo)
	// The peer is gone before the answer: ICE never starts.
	if code, _, _ := rtctest.Post(t, ts.url+"/live/s/whip", "application/sdp", o); code != http.StatusCreated {
		t.Fatalf("POST: %d", code)
	}
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
	pub := rtctest.NewPublisher(t, ts.url+"/live/s/whip")
	if pub.PC.ConnectionState() != webrtc.PeerConnectionStateConnected {
		t.Fatal("publisher did not connect after the garbage")
	}
}

// TestCandidates: answers announce the configured addresses, and a change
// applies to the next session.
func TestCandidates(t *testing.T) {
	ts := startServer(t, Config{Candidates: []string{"192.0.2.7"}})
	ts.publish(t, "/live/s/whip") // connects: the peer learns our real address from our checks
	offer := rtctest.OfferOf(t, webrtc.RTPTransceiverDirectionRecvonly, webrtc.RTPCodecTypeVideo)
	_, answer, _ := rtctest.Post(t, ts.url+"/live/s/whep", "application/sdp", offer)
	if !strings.Contains(answer, " 192.0.2.7 ") || strings.Contains(answer, " 127.0.0.1 ") {
		t.Fatalf("answer does not announce only 192.0.2.7:\n%s", answer)
	}
	if changed, err := ts.srv.SetCandidates([]string{"198.51.100.3"}); !changed || err != nil {
		t.Fatalf("SetCandidates: %v %v", changed, err)
	}
	if changed, _ := ts.srv.SetCandidates([]string{"198.51.100.3"}); changed {
		t.Fatal("the same candidates count as a change")
	}
	if _, err := ts.srv.SetCandidates([]string{"not-an-ip"}); err == nil {
		t.Fatal("a bad candidate was taken")
	}
	_, answer, _ = rtctest.Post(t, ts.url+"/live/s/whep", "application/sdp", offer)
	if !strings.Contains(answer, " 198.51.100.3 ") {
		t.Fatalf("answer after the change:\n%s", answer)
	}
}

// TestWritesBesideGoLock (issue 15): no write of the server waits on Go's
// write lock of its socket. With that lock held (as a queue of a hundred
// players' writes held it, for seconds, on a worker short of CPU), a WHEP
// player still connects and gets its frames.
func TestWritesBesideGoLock(t *testing.T) {
	ts := startServer(t, Config{})
	_, src := ts.publish(t, "/rtc/v1/whip/?app=live&stream=s")
	awaitHeaders(t, ts.hub, testKey)
	rc, err := ts.udp.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	held, release := make(chan struct{}), make(chan struct{})
	wrote := make(chan error, 1)
	go func() {
		// RawConn.Write holds the descriptor's write lock while f runs.
		wrote <- rc.Write(func(uintptr) bool { close(held); <-release; return true })
	}()
	<-held
	var once sync.Once
	let := func() { once.Do(func() { close(release) }) }
	defer let()
	// The deadline lets the lock go, so that a session stuck behind it
	// ends (and the test fails) rather than hangs.
	deadline := time.AfterFunc(20*time.Second, let)
	p := rtctest.NewPlayer(t).Play(t, ts.url+"/live/s/whep")
	frames, opus := p.AwaitFrames(t, 10)
	if !deadline.Stop() {
		t.Fatal("the player played only once the write lock was let go")
	}
	rtctest.CheckFrames(t, "player", src, frames, opus)
	let()
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
}
