package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"streamedge/media/flv"
	"streamedge/media/mediatest"
	"streamedge/media/rtmp"
	"streamedge/media/transcode"
	"streamedge/media/webrtc/rtctest"
	"streamedge/supervisor"
)

// startRTC runs streamedge with WebRTC on and n workers, each on a UDP
// port of its own, and returns it with each slot's port.
func startRTC(t *testing.T, n int) (*server, map[int]int) {
	t.Helper()
	return startRTCWith(t, serverOptions{}, n)
}

// rtcYAML turns WebRTC on, each worker on an ephemeral UDP port.
const rtcYAML = "rtc:\n  enabled: true\n  udp_port_base: 0\n"

// startRTCWith is startRTC with opts.
func startRTCWith(t *testing.T, opts serverOptions, n int) (*server, map[int]int) {
	t.Helper()
	s := startServerWith(t, opts, rtcYAML, "-w", strconv.Itoa(n))
	s.waitWorkers(t, n, nil)
	return s, s.rtcPorts(t, n)
}

// rtcPorts reads each slot's UDP port from the workers' latest "rtc
// serving" lines.
func (s *server) rtcPorts(t *testing.T, n int) map[int]int {
	t.Helper()
	s.logs.waitCount(t, "rtc serving", n, 10*time.Second)
	ports := map[int]int{}
	s.logs.mu.Lock()
	defer s.logs.mu.Unlock()
	for _, l := range s.logs.lines {
		if l["msg"] != "rtc serving" {
			continue
		}
		_, port, _ := strings.Cut(fmt.Sprint(l["udp"]), ":")
		p, _ := strconv.Atoi(port)
		ports[int(l["worker"].(float64))] = p
	}
	return ports
}

var candidatePort = regexp.MustCompile(`a=candidate:\S+ 1 udp \d+ \S+ (\d+) typ host`)

// answerSlot is the worker whose UDP port an answer names.
func answerSlot(t *testing.T, answer string, ports map[int]int) int {
	t.Helper()
	m := candidatePort.FindStringSubmatch(answer)
	if m == nil {
		t.Fatalf("no host candidate in the answer:\n%s", answer)
	}
	p, _ := strconv.Atoi(m[1])
	for slot, port := range ports {
		if port == p {
			return slot
		}
	}
	t.Fatalf("answer names port %d, no worker's (%v)", p, ports)
	return -1
}

func (s *server) rtcURL(path string) string { return "http://" + s.http + path }

// publishRTC starts a WHIP publisher of the test source on stream.
func publishRTC(t *testing.T, s *server, stream string) (*rtctest.Publisher, *rtctest.Source) {
	t.Helper()
	src := rtctest.LoadSource(t)
	pub := rtctest.NewPublisher(t, s.rtcURL("/live/"+stream+"/whip"))
	stop := make(chan struct{})
	sent := pub.Loop(src, stop)
	t.Cleanup(func() { close(stop); <-sent })
	return pub, src
}

// TestRTCPublishPlayOnEveryWorker (issue tests 1 and 2): a WHIP publisher
// on a -w 2 server; WHEP and JSON API players land on both workers (the
// one without the publisher pulls it over the relay, Opus and all) and get
// the publisher's very pictures, starting on a keyframe. RTMP and HTTP-FLV
// players see the WHIP video; a second publisher of the name is refused
// whichever worker it reaches.
func TestRTCPublishPlayOnEveryWorker(t *testing.T) {
	heavy(t)
	s, ports := startRTC(t, 2)
	_, src := publishRTC(t, s, "w")
	seen := map[int]bool{}
	var players []*rtctest.Player
	for i := range 4 {
		p := rtctest.NewPlayer(t)
		if i%2 == 0 {
			p.Play(t, s.rtcURL("/rtc/v1/whep/?app=live&stream=w"))
		} else {
			p.PlayJSON(t, s.rtcURL(""), "webrtc://"+s.http+"/live/w")
		}
		seen[answerSlot(t, p.Answer, ports)] = true
		players = append(players, p)
	}
	if len(seen) != 2 {
		t.Fatalf("players placed on workers %v, want both", seen)
	}
	for i, p := range players {
		frames, opus := p.AwaitFrames(t, 20)
		rtctest.CheckFrames(t, fmt.Sprintf("player %d", i), src, frames, opus)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 2 {
		src, name, err := playMixed(ctx, s, "w", i)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		checkFLVForm(t, name, src)
		src.close()
	}
	av := rtctest.OfferOf(t, webrtc.RTPTransceiverDirectionSendonly, webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio)
	for range 4 { // placement alternates: both workers refuse
		if code, body, _ := rtctest.Post(t, s.rtcURL("/live/w/whip"), "application/sdp", av); code != http.StatusConflict {
			t.Fatalf("second publisher: %d %q", code, body)
		}
	}
	body := `{"api":"x","streamurl":"webrtc://h/live/none","sdp":` + strconv.Quote(av) + `}`
	if code, resp, _ := rtctest.Post(t, s.rtcURL("/rtc/v1/play/"), "application/json", body); code != http.StatusNotFound || !strings.Contains(resp, `"code":404`) {
		t.Fatalf("JSON API play of nothing: %d %s", code, resp)
	}
}

// checkFLVForm reads an RTMP or HTTP-FLV player of a WHIP stream until it
// has seen what those players need: an AVC sequence header with the
// publisher's 320x240 SPS, the enhanced-RTMP Opus sequence start, and a
// keyframe picture. With audio transcoding built, the audio is AAC.
func checkFLVForm(t *testing.T, name string, src mediaSource) {
	t.Helper()
	var size string
	opus, key := false, false
	for size == "" || !opus || !key {
		f, err := src.next()
		if err != nil {
			t.Fatalf("%s: %v (size %q, opus %v, keyframe %v)", name, err, size, opus, key)
		}
		switch {
		case f.Type == flv.TagVideo && flv.IsVideoSequenceHeader(f.Data):
			cfg, err := flv.ParseAVCConfig(f.Data)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			size = fmt.Sprintf("%dx%d", cfg.Width, cfg.Height)
		case f.Type == flv.TagVideo && flv.IsVideoKeyPicture(f.Data):
			key = size != ""
		case f.Type == flv.TagAudio && flv.IsAudioSequenceHeader(f.Data):
			if transcode.Built() {
				opus = flv.AudioCodecID(f.Data) == flv.AudioCodecAAC
			} else {
				opus = flv.AudioCodecID(f.Data) == flv.AudioCodecExHeader && string(f.Data[1:5]) == "Opus"
			}
		}
	}
	if size != "320x240" {
		t.Fatalf("%s: picture %s, want 320x240", name, size)
	}
}

// forwards counts the requests workers forwarded to another worker.
func (s *server) forwards(method string) int {
	s.logs.mu.Lock()
	defer s.logs.mu.Unlock()
	n := 0
	for _, l := range s.logs.lines {
		if l["msg"] == "rtc request forwarded" && l["method"] == method {
			n++
		}
	}
	return n
}

// freshClient makes every request on a new connection, so the kernel
// picks a worker for each.
var freshClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

func send(t *testing.T, method, url, ctype, body string) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	resp, err := freshClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestRTCPatchDeleteReachTheOwner (issue test 3): PATCH and DELETE of a
// session go to the worker that owns it, whichever the kernel hands them.
func TestRTCPatchDeleteReachTheOwner(t *testing.T) {
	t.Parallel()
	s, _ := startRTC(t, 2)
	pub, _ := publishRTC(t, s, "p")
	frag := "a=ice-ufrag:x\r\na=ice-pwd:y\r\nm=video 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n" +
		"a=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host\r\na=end-of-candidates\r\n"
	for i := 0; s.forwards(http.MethodPatch) == 0; i++ {
		if i == 60 {
			t.Fatal("60 PATCHes and none landed on the other worker")
		}
		if code := send(t, http.MethodPatch, s.rtcURL(pub.Location), "application/trickle-ice-sdpfrag", frag); code != http.StatusNoContent {
			t.Fatalf("PATCH %d: %d", i, code)
		}
	}
	for i := 0; s.forwards(http.MethodDelete) == 0; i++ {
		if i == 12 {
			t.Fatal("12 DELETEs and none landed on the other worker")
		}
		p := rtctest.NewPlayer(t).Play(t, s.rtcURL("/live/p/whep"))
		if code := send(t, http.MethodDelete, s.rtcURL(p.Location), "", ""); code != http.StatusOK {
			t.Fatalf("DELETE %d: %d", i, code)
		}
		if code := send(t, http.MethodDelete, s.rtcURL(p.Location), "", ""); code != http.StatusNotFound {
			t.Fatalf("second DELETE %d: %d (the first did not end the session)", i, code)
		}
	}
}

// TestRTCPlacementAvoidsAHotWorker (issue test 4): with worker 0 reporting
// 95 % CPU, 20 new WHEP sessions all get worker 1's port.
func TestRTCPlacementAvoidsAHotWorker(t *testing.T) {
	s, ports := startRTCWith(t, serverOptions{env: []string{"STREAMEDGE_FAULT_CPU=0:95"}}, 2)
	s.waitWorkers(t, 2, func(ws []supervisor.WorkerInfo) bool {
		return ws[0].Load.CPUPercent >= 95 && ws[1].Load.CPUPercent < 80
	})
	publishRTC(t, s, "hot")
	// Only the answers matter: the offers' peers are gone before ICE, and
	// the sessions time out on their own, costing the worker no media.
	offer := rtctest.OfferOf(t, webrtc.RTPTransceiverDirectionRecvonly, webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio)
	for i := range 20 {
		code, answer, _ := rtctest.Post(t, s.rtcURL("/live/hot/whep"), "application/sdp", offer)
		if code != http.StatusCreated {
			t.Fatalf("session %d: %d %q", i, code, answer)
		}
		if slot := answerSlot(t, answer, ports); slot != 1 {
			t.Fatalf("session %d placed on worker %d, the hot one", i, slot)
		}
	}
}

// TestRTCWorkerKilled (issue test 6): kill -9 of the worker holding a WHIP
// session ends it, a new publisher succeeds at once on the other worker,
// and the killed slot's UDP port serves again once its worker is back.
func TestRTCWorkerKilled(t *testing.T) {
	t.Parallel()
	s, ports := startRTC(t, 2)
	pub, _ := publishRTC(t, s, "k")
	victim := -1
	for slot, port := range ports {
		if strings.Contains(pub.PC.CurrentRemoteDescription().SDP, " "+strconv.Itoa(port)+" typ host") {
			victim = slot
		}
	}
	if victim < 0 {
		t.Fatal("cannot tell the publisher's worker")
	}
	pid := s.workers(t)[victim].PID
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Keep-alive connections to the killed worker died with it: a client
	// dials again, as a browser would.
	http.DefaultClient.CloseIdleConnections()
	// The stream ends with its worker; a new publisher of it is placed on
	// the survivor and connects.
	av := rtctest.OfferOf(t, webrtc.RTPTransceiverDirectionSendonly, webrtc.RTPCodecTypeVideo)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := freshClient.Post(s.rtcURL("/live/k/whip"), "application/sdp", strings.NewReader(av))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusCreated {
				send(t, http.MethodDelete, s.rtcURL(resp.Header.Get("Location")), "", "")
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new publisher of the stream after the kill: %v %v", resp, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	rtctest.NewPublisher(t, s.rtcURL("/live/k2/whip")) // it connects, wherever it is placed
	ws := s.waitWorkers(t, 2, func(ws []supervisor.WorkerInfo) bool { return ws[victim].PID != pid })
	if ws[victim].Restarts < 1 {
		t.Fatalf("slot %d not restarted: %+v", victim, ws[victim])
	}
	// The restarted worker serves on the port its slot always had.
	for i := 0; ; i++ {
		if i == 6 {
			t.Fatal("no session placed on the restarted worker")
		}
		p := rtctest.NewPlayer(t).Play(t, s.rtcURL("/live/k2/whep"))
		if answerSlot(t, p.Answer, ports) == victim {
			rtctest.AwaitConnected(t, p.PC)
			break
		}
	}
}

// TestRTCEnabledByReload: turning rtc on with a reload opens the UDP
// sockets and gives the slots workers that serve WebRTC.
func TestRTCEnabledByReload(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "-w", "2")
	s.waitWorkers(t, 2, nil)
	if code, _, _ := rtctest.Post(t, s.rtcURL("/live/r/whip"), "application/sdp", "v=0"); code != http.StatusMethodNotAllowed {
		t.Fatalf("WHIP with rtc off: %d, want 405 (HTTP-FLV's answer)", code)
	}
	s.reload("rtc:\n  enabled: true\n  udp_port_base: 0\n")
	ports := s.rtcPorts(t, 2)
	http.DefaultClient.CloseIdleConnections() // the old workers drain
	var pub *rtctest.Publisher
	deadline := time.Now().Add(15 * time.Second)
	for pub == nil {
		av := rtctest.OfferOf(t, webrtc.RTPTransceiverDirectionSendonly, webrtc.RTPCodecTypeVideo)
		resp, err := freshClient.Post(s.rtcURL("/live/r/whip"), "application/sdp", strings.NewReader(av))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusCreated {
				send(t, http.MethodDelete, s.rtcURL(resp.Header.Get("Location")), "", "")
				pub = rtctest.NewPublisher(t, s.rtcURL("/live/r/whip"))
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no WHIP after the reload: %v %v", resp, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	answerSlot(t, pub.PC.CurrentRemoteDescription().SDP, ports)
}

// TestRTCKeyframeAcrossWorkers: with no GOP cache and no periodic
// keyframes, a WHEP player on the worker without the publisher has nothing
// to start on: its keyframe request reaches the WHIP publisher on the other
// worker.
func TestRTCKeyframeAcrossWorkers(t *testing.T) {
	t.Parallel()
	s := startServer(t, "play:\n  gop_cache: false\nrtc:\n  enabled: true\n  udp_port_base: 0\n  keyframe_interval: 0\n", "-w", "2")
	s.waitWorkers(t, 2, nil)
	ports := s.rtcPorts(t, 2)
	pub, _ := publishRTC(t, s, "kx")
	owner := answerSlot(t, pub.PC.CurrentRemoteDescription().SDP, ports)
	// The publisher's own start-up requests (before its first keyframe)
	// fall in the rate limit's window: wait it out, then count.
	time.Sleep(time.Second)
	before := pub.PLIs()
	p := rtctest.NewPlayer(t).Play(t, s.rtcURL("/live/kx/whep"))
	if slot := answerSlot(t, p.Answer, ports); slot == owner {
		t.Fatalf("player placed with the publisher on worker %d", slot)
	}
	deadline := time.Now().Add(15 * time.Second)
	for pub.PLIs() <= before {
		if time.Now().After(deadline) {
			t.Fatalf("no PLI reached the publisher on worker %d (%d before)", owner, before)
		}
		time.Sleep(20 * time.Millisecond)
	}
	frames, _ := p.AwaitFrames(t, 5)
	if !rtctest.HasIDR(rtctest.SplitAnnexB(frames[0])) {
		t.Fatal("first frame is not a keyframe")
	}
}

// TestRenditionNamesRefused (issue 15): NAME@rtc is the server's own
// WebRTC rendition of NAME, so no client may publish it: ffmpeg over RTMP
// is refused with NetStream.Publish.BadName and the reason, WHIP and SRS's
// JSON API with a 400 and the reason, and nothing is published.
func TestRenditionNamesRefused(t *testing.T) {
	t.Parallel()
	mediatest.RequireFFmpeg(t)
	s, _ := startRTC(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	file := mediatest.FLVFile(t, mediatest.Media{Duration: 2 * time.Second})
	out, err := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-nostdin", "-re", "-i", file,
		"-c", "copy", "-f", "flv", s.rtmpURL("x@rtc")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "reserved") {
		t.Fatalf("ffmpeg publishing x@rtc: %v: %s", err, out)
	}
	c, err := rtmp.Dial(ctx, s.rtmpURL("x@rtc"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var st *rtmp.StatusError
	if err := c.Publish(ctx); !errors.As(err, &st) || st.Code != "NetStream.Publish.BadName" || !strings.Contains(st.Description, "reserved") {
		t.Fatalf("RTMP publish of x@rtc: %v, want NetStream.Publish.BadName", err)
	}
	offer := rtctest.OfferOf(t, webrtc.RTPTransceiverDirectionSendonly, webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio)
	if code, body, _ := rtctest.Post(t, s.rtcURL("/live/x@rtc/whip"), "application/sdp", offer); code != http.StatusBadRequest || !strings.Contains(body, "reserved") {
		t.Fatalf("WHIP publish of x@rtc: %d %q, want 400 and the reason", code, body)
	}
	b, _ := json.Marshal(map[string]string{"api": "", "streamurl": "webrtc://" + s.http + "/live/x@rtc", "sdp": offer})
	if code, body, _ := rtctest.Post(t, s.rtcURL("/rtc/v1/publish/"), "application/json", string(b)); code != http.StatusBadRequest || !strings.Contains(body, "reserved") {
		t.Fatalf("JSON API publish of x@rtc: %d %q, want 400 and the reason", code, body)
	}
	if n := s.logs.count("rtmp publish start") + s.logs.count("rtc publish start"); n != 0 {
		t.Fatalf("%d publishes started", n)
	}
}
