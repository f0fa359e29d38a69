package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"streamedge/media/access"
	"streamedge/media/mediatest"
	"streamedge/media/webrtc/rtctest"
)

// hookServer answers SRS hooks by what the session names: a stream or
// query containing "deny" is refused with code 1, "fail" gets HTTP 500,
// "hang" waits until release is closed; everything else is accepted.
type hookServer struct {
	*httptest.Server
	release chan struct{}
	hanging chan struct{} // one value per hook call that is hanging
	mu      sync.Mutex
	bodies  []map[string]any
}

func startHookServer(t *testing.T) *hookServer {
	h := &hookServer{release: make(chan struct{}), hanging: make(chan struct{}, 64)}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		h.mu.Lock()
		h.bodies = append(h.bodies, body)
		h.mu.Unlock()
		what := fmt.Sprint(body["stream"], body["param"])
		switch {
		case strings.Contains(what, "hang"):
			h.hanging <- struct{}{}
			select {
			case <-h.release:
			case <-r.Context().Done():
			}
			io.WriteString(w, "0")
		case strings.Contains(what, "deny"):
			io.WriteString(w, `{"code": 1}`)
		case strings.Contains(what, "fail"):
			w.WriteHeader(http.StatusInternalServerError)
		default:
			io.WriteString(w, "0")
		}
	}))
	t.Cleanup(func() {
		close(h.release)
		h.Close()
	})
	return h
}

func (h *hookServer) actions() []map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]map[string]any(nil), h.bodies...)
}

// ffmpegPublishOnce publishes a short file and returns ffmpeg's error and
// output: a refused publish ends ffmpeg with the server's description.
func ffmpegPublishOnce(t *testing.T, url string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := mediatest.StartFFmpegPublish(t, ctx, mediatest.FLVFile(t, mediatest.Media{}), url, false)
	<-p.Done()
	return p.Stderr(), p.Err()
}

func TestHTTPHooks(t *testing.T) {
	t.Parallel()
	mediatest.RequireFFmpeg(t)
	hooks := startHookServer(t)
	s := startServer(t, fmt.Sprintf(`workers: 2
vhosts:
  __defaultVhost__:
    http_hooks:
      on_publish: [%[1]s/publish]
      on_unpublish: [%[1]s/unpublish]
      on_play: [%[1]s/play]
      on_stop: [%[1]s/stop]
      timeout: 1s
`, hooks.URL))

	// Refused, refused on a 500, refused on a timeout: ffmpeg says why.
	for _, c := range []struct{ stream, says string }{
		{"deny", "refused by the on_publish hook"},
		{"fail", "answered HTTP 500"},
		{"hang1", "did not answer within 1s"},
	} {
		out, err := ffmpegPublishOnce(t, s.rtmpURL(c.stream))
		if err == nil || !strings.Contains(out, c.says) {
			t.Fatalf("publish %s: ffmpeg %v, output %q; want refused with %q", c.stream, err, out, c.says)
		}
	}
	<-hooks.hanging

	publishFFmpeg(t, s, "ok")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, url := range []string{s.rtmpURL("ok"), s.flvURL("ok")} {
		if res := mediatest.FFprobe(t, ctx, url); res.Err != nil {
			t.Fatalf("ffprobe %s of an allowed stream: %v\n%s", url, res.Err, res.Output)
		}
		if res := mediatest.FFprobe(t, ctx, url+"?deny=1"); res.Err == nil {
			t.Fatalf("ffprobe %s?deny=1 played, the on_play hook refuses it", url)
		}
	}

	// Plays whose hook hangs wait, and others start meanwhile: a hook
	// stalls only its own session.
	var hung sync.WaitGroup
	for i := range 6 {
		hung.Add(1)
		go func() {
			defer hung.Done()
			src, err := playRTMP(ctx, s.rtmpURL("ok")+fmt.Sprintf("?hang=%d", i))
			if err == nil {
				src.close()
			}
		}()
	}
	for range 6 {
		select {
		case <-hooks.hanging:
		case <-ctx.Done():
			t.Fatal("the hanging hooks were never called")
		}
	}
	for i := range 4 {
		src := waitPlayable(t, playFLV, s.flvURL("ok")+fmt.Sprintf("?n=%d", i))
		if _, err := src.next(); err != nil {
			t.Fatalf("a player beside hanging hooks got no media: %v", err)
		}
		src.close()
	}
	hung.Wait() // each ends at its 1 s timeout

	// The bodies are SRS's.
	var sawPublish, sawStop bool
	deadline := time.Now().Add(10 * time.Second)
	for !(sawPublish && sawStop) && time.Now().Before(deadline) {
		for _, b := range hooks.actions() {
			switch b["action"] {
			case "on_publish":
				for _, k := range []string{"server_id", "client_id", "ip", "vhost", "app", "tcUrl", "stream", "param", "stream_url"} {
					if _, ok := b[k]; !ok {
						t.Fatalf("on_publish body lacks %q: %v", k, b)
					}
				}
				sawPublish = sawPublish || b["stream"] == "ok"
			case "on_stop":
				sawStop = true
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !sawPublish || !sawStop {
		t.Fatalf("hooks told: on_publish of ok %v, on_stop %v", sawPublish, sawStop)
	}
}

func TestSignedURLs(t *testing.T) {
	t.Parallel()
	mediatest.RequireFFmpeg(t)
	const pubKey, playKey = "publish-secret-0123", "play-secret-456789"
	s := startServer(t, fmt.Sprintf("vhosts:\n  __defaultVhost__:\n    secure: {publish_key: %s, play_key: %s}\n", pubKey, playKey))
	sign := func(key, stream string, exp time.Duration) string {
		return "?" + access.SignedQuery(key, "/live/"+stream, time.Now().Add(exp))
	}
	if out, err := ffmpegPublishOnce(t, s.rtmpURL("s")); err == nil || !strings.Contains(out, "no expires/sign") {
		t.Fatalf("unsigned publish: %v %q, want refused", err, out)
	}
	if out, err := ffmpegPublishOnce(t, s.rtmpURL("s")+sign(playKey, "s", time.Minute)); err == nil || !strings.Contains(out, "does not match") {
		t.Fatalf("publish signed with the play key: %v %q, want refused", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	mediatest.StartFFmpegPublish(t, ctx, mediatest.FLVFile(t, mediatest.Media{}), s.rtmpURL("s")+sign(pubKey, "s", time.Minute), true)
	s.logs.wait(t, "rtmp publish start", nil, 10*time.Second)

	for _, c := range []struct {
		name, query string
		ok          bool
	}{
		{"valid", sign(playKey, "s", time.Minute), true},
		{"expired", sign(playKey, "s", -time.Minute), false},
		{"wrong signature", sign(pubKey, "s", time.Minute), false},
		{"other stream's", sign(playKey, "t", time.Minute), false},
		{"missing", "", false},
	} {
		for _, url := range []string{s.rtmpURL("s"), s.flvURL("s")} {
			res := mediatest.FFprobe(t, ctx, url+c.query)
			if (res.Err == nil) != c.ok {
				t.Fatalf("%s play %s: err %v, want played %v", c.name, url, res.Err, c.ok)
			}
		}
	}
}

func TestAPIAuthAndKick(t *testing.T) {
	t.Parallel()
	mediatest.RequireFFmpeg(t)
	const token = "test-token-0123456789"
	s := startServer(t, "workers: 2\napi:\n  auth: {token: "+token+"}\n")
	api := func(method, path string, auth bool) (int, []byte) {
		req, _ := http.NewRequest(method, "http://"+s.api+path, nil)
		if auth {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	for _, p := range []string{"/api/v1/summaries", "/api/v1/clients", "/metrics"} {
		if code, _ := api("GET", p, false); code != http.StatusUnauthorized {
			t.Fatalf("GET %s without the token: %d, want 401", p, code)
		}
	}
	publishFFmpeg(t, s, "k")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	player := waitPlayable(t, playRTMP, s.rtmpURL("k"))
	defer player.close()
	viewer := waitPlayable(t, playFLV, s.flvURL("k"))
	defer viewer.close()

	kick := func(kind string) {
		t.Helper()
		code, body := api("GET", "/api/v1/clients", true)
		if code != http.StatusOK {
			t.Fatalf("clients with the token: %d %s", code, body)
		}
		var list struct {
			Clients []struct {
				ID, Kind string
			}
		}
		json.Unmarshal(body, &list)
		for _, c := range list.Clients {
			if c.Kind == kind {
				if code, body := api("DELETE", "/api/v1/clients/"+c.ID, true); code != http.StatusOK {
					t.Fatalf("kick %s: %d %s", c.ID, code, body)
				}
				if code, _ := api("DELETE", "/api/v1/clients/"+c.ID, true); code != http.StatusNotFound {
					t.Fatalf("second kick of %s: %d, want 404", c.ID, code)
				}
				return
			}
		}
		t.Fatalf("no %s session among %s", kind, body)
	}
	// A kicked player stops receiving: its connection ends.
	kick("rtmp_play")
	if err := drainUntilError(ctx, player); err == nil {
		t.Fatal("the kicked RTMP player kept receiving")
	}
	// A kicked publisher ends the stream: the API lists it no more.
	kick("rtmp_publish")
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := api("GET", "/api/v1/clients", true)
		if !strings.Contains(string(body), "rtmp_publish") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the kicked publisher is still listed: %s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, _ := api("DELETE", "/api/v1/clients/1.nosuch.1", true); code != http.StatusNotFound {
		t.Fatalf("kick of an unknown id: %d, want 404", code)
	}
}

// drainUntilError reads a player until it fails, or ctx ends (nil).
func drainUntilError(ctx context.Context, src mediaSource) error {
	errc := make(chan error, 1)
	go func() {
		for {
			if _, err := src.next(); err != nil {
				errc <- err
				return
			}
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return nil
	}
}

// WHIP and WHEP offers, and SRS's JSON API, go through the same signed-URL
// check as RTMP and HTTP-FLV.
func TestSignedWebRTCOffers(t *testing.T) {
	t.Parallel()
	const pubKey = "rtc-publish-secret-0"
	s := startServer(t, "rtc:\n  enabled: true\n  udp_port_base: 0\nvhosts:\n  __defaultVhost__:\n    secure: {publish_key: "+pubKey+"}\n", "-w", "2")
	s.waitWorkers(t, 2, nil)
	offer := rtctest.OfferOf(t, webrtc.RTPTransceiverDirectionSendonly, webrtc.RTPCodecTypeVideo)
	signed := access.SignedQuery(pubKey, "/live/w", time.Now().Add(time.Minute))
	if code, body, _ := rtctest.Post(t, s.rtcURL("/live/w/whip"), "application/sdp", offer); code != http.StatusUnauthorized {
		t.Fatalf("unsigned WHIP: %d %s, want 401", code, body)
	}
	if code, body, _ := rtctest.Post(t, s.rtcURL("/live/w/whip?sign=00&expires=1"), "application/sdp", offer); code != http.StatusForbidden {
		t.Fatalf("badly signed WHIP: %d %s, want 403", code, body)
	}
	jsonBody := func(streamURL string) string {
		b, _ := json.Marshal(map[string]string{"api": "", "streamurl": streamURL, "sdp": offer})
		return string(b)
	}
	if code, body, _ := rtctest.Post(t, s.rtcURL("/rtc/v1/publish/"), "application/json", jsonBody("webrtc://x/live/w")); code != http.StatusUnauthorized || !strings.Contains(body, `"code":401`) {
		t.Fatalf("unsigned JSON publish: %d %s, want 401 with code 401", code, body)
	}
	if code, body, loc := rtctest.Post(t, s.rtcURL("/live/w/whip?"+signed), "application/sdp", offer); code != http.StatusCreated || loc == "" {
		t.Fatalf("signed WHIP: %d %s, want 201 with a Location", code, body)
	}
	// Plays need no signature on this vhost.
	play := rtctest.OfferOf(t, webrtc.RTPTransceiverDirectionRecvonly, webrtc.RTPCodecTypeVideo)
	if code, body, _ := rtctest.Post(t, s.rtcURL("/live/w/whep"), "application/sdp", play); code != http.StatusCreated {
		t.Fatalf("WHEP of a signed publish: %d %s, want 201", code, body)
	}
}
