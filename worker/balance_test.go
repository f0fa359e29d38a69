package worker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"streamedge/configs"
	"streamedge/ipc"
	"streamedge/media/rtmp"
	"streamedge/media/upstream"
)

// serveWorker runs a worker with cfg on loopback listeners.
func serveWorker(t *testing.T, cfg *configs.Config) (w *Worker, rtmpAddr, httpAddr string) {
	t.Helper()
	w = New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	rl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	w.Listen(Listeners{"rtmp": rl, "http": hl})
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	})
	return w, rl.Addr().String(), hl.Addr().String()
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func get(t *testing.T, url string) *http.Response {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, CheckRedirect: noRedirect}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func postOffer(t *testing.T, url string) *http.Response {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, CheckRedirect: noRedirect}
	resp, err := c.Post(url, "application/sdp", strings.NewReader("v=0\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestRefusalsAreClean(t *testing.T) {
	cfg := configs.Default()
	cfg.Balance.MaxConnections = 1
	cfg.Balance.RetryAfter = configs.Duration(7 * time.Second)
	w, rtmpAddr, httpAddr := serveWorker(t, cfg)
	ctx := context.Background()

	// Under the cap a play goes through to the FLV handler (404: no stream).
	if resp := get(t, "http://"+httpAddr+"/live/s.flv"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("under the cap: %s, want the handler's 404", resp.Status)
	}
	// One publisher fills the cap of 1.
	pub, err := rtmp.Dial(ctx, "rtmp://"+rtmpAddr+"/live/s")
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	resp := get(t, "http://"+httpAddr+"/live/s.flv")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "7" {
		t.Fatalf("at the cap: %s Retry-After %q, want 503 with Retry-After 7", resp.Status, resp.Header.Get("Retry-After"))
	}
	_, err = rtmp.Dial(ctx, "rtmp://"+rtmpAddr+"/live/s")
	var st *rtmp.StatusError
	if !errors.As(err, &st) || st.Code != "NetConnection.Connect.Rejected" {
		t.Fatalf("rtmp at the cap: %v, want NetConnection.Connect.Rejected", err)
	}
	// The cap holds for WebRTC offers too, WHEP and WHIP alike.
	for _, path := range []string{"/live/s/whep", "/live/s/whip"} {
		if resp := postOffer(t, "http://"+httpAddr+path); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "7" {
			t.Fatalf("%s offer at the cap: %s Retry-After %q, want 503 with Retry-After 7", path, resp.Status, resp.Header.Get("Retry-After"))
		}
	}
	pub.Close()

	// Host full: players are refused, with a 302 to a peer once configured.
	w.bal.onMessage(ctx, &ipc.Admission{Refuse: true, Reason: "host_cpu_high", Description: "server busy: host cpu 95% over 80%"})
	cfg.Balance.MaxConnections = 0
	cfg.Balance.Redirect = []configs.Peer{{HTTP: "peer.example:8080", RTMP: "peer.example:1935"}}
	w.Reload(cfg)
	resp = get(t, "http://"+httpAddr+"/live/s.flv?token=1")
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "http://peer.example:8080/live/s.flv?token=1" {
		t.Fatalf("host full with a peer: %s to %q, want 302 to the same path on the peer", resp.Status, resp.Header.Get("Location"))
	}
	_, err = rtmp.Dial(ctx, "rtmp://"+rtmpAddr+"/live/s")
	if !errors.As(err, &st) || st.Code != "NetConnection.Connect.Rejected" || st.Description != "server busy: host cpu 95% over 80%" {
		t.Fatalf("rtmp while the host is full: %v, want Rejected with the description", err)
	}
	// A WHEP offer is redirected with its method kept; a WHIP publish is
	// admitted (this worker serves no WebRTC: the mux's 404).
	resp = postOffer(t, "http://"+httpAddr+"/live/s/whep?token=1")
	if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != "http://peer.example:8080/live/s/whep?token=1" {
		t.Fatalf("whep offer while the host is full: %s to %q, want 307 to the same path on the peer", resp.Status, resp.Header.Get("Location"))
	}
	if resp := postOffer(t, "http://"+httpAddr+"/live/s/whip"); resp.StatusCode == http.StatusTemporaryRedirect || resp.StatusCode == http.StatusServiceUnavailable {
		t.Fatalf("whip publish while only the host is full: %s, want it admitted", resp.Status)
	}
	var l ipc.Load
	w.bal.counts(&l)
	refusals := l.Refusals
	for key, want := range map[string]uint64{"http_flv/capped": 1, "rtmp/capped": 1, "http_flv/host_full": 1, "rtmp/host_full": 1,
		"webrtc/capped": 2, "webrtc/host_full": 1} {
		if refusals[key] != want {
			t.Errorf("refusals[%s] = %d, want %d (all: %v)", key, refusals[key], want, refusals)
		}
	}
	w.bal.onMessage(ctx, &ipc.Admission{Refuse: false, Reason: "host_cool"})
	if resp := get(t, "http://"+httpAddr+"/live/s.flv"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("after the host cooled: %s, want the handler's 404", resp.Status)
	}
}

// Shedding with nowhere to move closes the newest player first, across
// protocols, at the rate asked; an RTMP player is told why.
func TestShedNewestFirst(t *testing.T) {
	w, rtmpAddr, httpAddr := serveWorker(t, configs.Default())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pub, err := rtmp.Dial(ctx, "rtmp://"+rtmpAddr+"/live/s")
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if err := pub.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	if err := pub.WriteMedia(9, 0, []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 0}); err != nil {
		t.Fatal(err)
	}
	player, err := rtmp.Dial(ctx, "rtmp://"+rtmpAddr+"/live/s")
	if err != nil {
		t.Fatal(err)
	}
	defer player.Close()
	if err := player.Play(ctx); err != nil {
		t.Fatal(err)
	}
	rtmpSrv, httpSrv := w.servers[0].(*rtmpServer), w.servers[2].(*httpServer)
	for rtmpSrv.srv.Stats.Players.Load() < 1 {
		if ctx.Err() != nil {
			t.Fatal("the rtmp play never counted")
		}
		time.Sleep(time.Millisecond)
	}
	resp, err := http.Get("http://" + httpAddr + "/live/s.flv")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	flvDone := make(chan time.Time, 1)
	go func() {
		io.Copy(io.Discard, resp.Body)
		flvDone <- time.Now()
	}()
	for httpSrv.flv.Stats.Players.Load() < 1 {
		if ctx.Err() != nil {
			t.Fatal("the flv play never counted")
		}
		time.Sleep(time.Millisecond)
	}
	w.bal.onMessage(ctx, &ipc.Shed{PerSec: 5, Reason: "cpu 95% over 80% for 10s"})
	player.Conn().SetDeadline(time.Now().Add(5 * time.Second))
	var st *rtmp.StatusError
	for {
		_, err := player.ReadMedia()
		if err == nil {
			continue
		}
		if !errors.As(err, &st) || st.Code != "NetConnection.Connect.Closed" {
			t.Fatalf("shed rtmp player: %v, want onStatus NetConnection.Connect.Closed", err)
		}
		break
	}
	rtmpShed := time.Now()
	select {
	case flvShed := <-flvDone:
		if !flvShed.Before(rtmpShed) {
			t.Errorf("the older rtmp player was shed before the newer flv one")
		}
	case <-ctx.Done():
		t.Fatal("the flv player was never shed")
	}
	// The count follows each close: wait for the second.
	for {
		var l ipc.Load
		if w.bal.counts(&l); l.Shed == 2 {
			break
		} else if ctx.Err() != nil {
			t.Fatalf("shed count %d, want 2", l.Shed)
		}
		time.Sleep(time.Millisecond)
	}
	w.bal.onMessage(ctx, &ipc.Shed{PerSec: 0, Reason: "cooled"})
}

// In a cluster a full host sends an HTTP-FLV player to the host the
// master's resolver picks for its stream, path and query kept; where the
// cluster has no host for it, to the configured peer as before.
func TestFullHostRedirectsToTheClustersChoice(t *testing.T) {
	cfg := configs.Default()
	cfg.Hosts.Redis = "redis://store.example:6379" // only the worker's "in a cluster"
	cfg.Balance.Redirect = []configs.Peer{{HTTP: "peer.example:8080"}}
	w, rtmpAddr, httpAddr := serveWorker(t, cfg)
	asked := make(chan string, 10)
	w.bal.askElsewhere(func(_ <-chan struct{}, stream string) (*ipc.RedirectReply, error) {
		asked <- stream
		if stream == "__defaultVhost__/live/nobody" {
			return &ipc.RedirectReply{Err: "every other host of the cluster is full"}, nil
		}
		return &ipc.RedirectReply{Host: "e2", HTTP: "198.18.0.4:8080", RTMP: "198.18.0.4:1935"}, nil
	})
	ctx := context.Background()

	// Not full: nobody is asked, the handler answers.
	if resp := get(t, "http://"+httpAddr+"/live/s.flv"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("not full: %s, want the handler's 404", resp.Status)
	}
	w.bal.onMessage(ctx, &ipc.Admission{Refuse: true, Reason: "host_bytes_out", Description: "server busy: host out over the limit"})
	for _, tc := range []struct{ path, stream, want string }{
		{"/live/s.flv?vhost=edge&token=1", "edge/live/s", "http://198.18.0.4:8080/live/s.flv?vhost=edge&token=1"},
		{"/live/nobody.flv", "__defaultVhost__/live/nobody", "http://peer.example:8080/live/nobody.flv"},
		{"/console/", "", "http://peer.example:8080/console/"}, // no stream: not the cluster's to place
	} {
		resp := get(t, "http://"+httpAddr+tc.path)
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != tc.want {
			t.Errorf("%s: %s to %q, want 302 to %q", tc.path, resp.Status, resp.Header.Get("Location"), tc.want)
		}
		if tc.stream == "" {
			continue
		}
		select {
		case got := <-asked:
			if got != tc.stream {
				t.Errorf("%s: the master was asked about %q, want %q", tc.path, got, tc.stream)
			}
		default:
			t.Errorf("%s: the master was not asked", tc.path)
		}
	}
	if len(asked) != 0 {
		t.Errorf("the master was asked about %q too", <-asked)
	}

	// RTMP names the stream only at play: the connect goes through, the
	// play is refused with the host and the redirect.
	c, err := rtmp.Dial(ctx, "rtmp://"+rtmpAddr+"/live/s")
	if err != nil {
		t.Fatalf("rtmp connect to a full host of a cluster: %v, want it admitted until the play", err)
	}
	defer c.Close()
	err = c.Play(ctx)
	var st *rtmp.StatusError
	if !errors.As(err, &st) || st.Code != "NetConnection.Connect.Rejected" || st.Redirect != "rtmp://198.18.0.4:1935/live" ||
		!strings.Contains(st.Description, "host e2: rtmp://198.18.0.4:1935/live/s") {
		t.Fatalf("rtmp play on a full host: %v, want Rejected naming e2, with a redirect to rtmp://198.18.0.4:1935/live", err)
	}
	if got := <-asked; got != "__defaultVhost__/live/s" {
		t.Errorf("rtmp: the master was asked about %q", got)
	}

	// An edge's pull is refused as by a host alone: the resolver's choice
	// is an edge, maybe the one asking.
	req, _ := http.NewRequest(http.MethodGet, "http://"+httpAddr+"/live/s.flv", nil)
	req.Header.Set("User-Agent", upstream.UserAgent)
	resp, err := (&http.Client{Timeout: 5 * time.Second, CheckRedirect: noRedirect}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || loc != "http://peer.example:8080/live/s.flv" {
		t.Errorf("an edge's flv pull: %s to %q, want the configured peer", resp.Status, loc)
	}
	_, err = rtmp.DialWith(ctx, "", "", "rtmp://"+rtmpAddr+"/live/s", rtmp.DialOptions{ConnectProps: upstream.Identity("e2", 1)})
	if !errors.As(err, &st) || st.Code != "NetConnection.Connect.Rejected" || st.Redirect != "" {
		t.Errorf("an edge's rtmp pull: %v, want its connect rejected with no redirect", err)
	}
	if len(asked) != 0 {
		t.Errorf("the master was asked about an edge's pull of %q", <-asked)
	}
	var l ipc.Load
	w.bal.counts(&l)
	if refusals := l.Refusals; refusals["rtmp/host_full"] != 2 || refusals["http_flv/host_full"] != 4 {
		t.Errorf("refusals %v, want 2 rtmp and 4 http_flv host_full", l.Refusals)
	}
}
