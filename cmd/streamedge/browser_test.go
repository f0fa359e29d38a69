package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

// pageStats is what the /players/ page reports with ?report=.
type pageStats struct {
	Mode          string `json:"mode"`
	Width         int    `json:"width"`
	Height        int    `json:"height"`
	FramesDecoded int    `json:"framesDecoded"`
	FramesSent    int    `json:"framesSent"`
}

// reports collects the pages' stats by the name in the report URL's path.
type reports struct {
	mu    sync.Mutex
	by    map[string][]pageStats
	added chan struct{}
}

func newReports(t *testing.T) (*reports, *httptest.Server) {
	r := &reports{by: map[string][]pageStats{}, added: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		var s pageStats
		if b, err := io.ReadAll(io.LimitReader(req.Body, 4096)); err == nil && json.Unmarshal(b, &s) == nil {
			r.mu.Lock()
			r.by[req.URL.Path] = append(r.by[req.URL.Path], s)
			close(r.added)
			r.added = make(chan struct{})
			r.mu.Unlock()
		}
	}))
	t.Cleanup(srv.Close)
	return r, srv
}

// await waits until the reports of name satisfy ok.
func (r *reports) await(t *testing.T, name string, d time.Duration, ok func([]pageStats) bool) []pageStats {
	t.Helper()
	deadline := time.After(d)
	for {
		r.mu.Lock()
		list := append([]pageStats(nil), r.by[name]...)
		added := r.added
		r.mu.Unlock()
		if ok(list) {
			return list
		}
		select {
		case <-added:
		case <-deadline:
			t.Fatalf("%s: reports never satisfied the test: %+v", name, list)
		}
	}
}

// openPage runs headless Chromium on url, with a fake camera and
// microphone that need no permission prompt, until the test ends.
func openPage(t *testing.T, pageURL string) {
	t.Helper()
	if _, err := exec.LookPath("chromium"); err != nil {
		t.Skip("chromium is not installed (make deps installs it)")
	}
	cmd := exec.Command("chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", "--autoplay-policy=no-user-gesture-required",
		"--user-data-dir="+t.TempDir(), pageURL)
	// Its own process group, so the renderers go with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
}

// TestBrowserPublishesAndPlays (issue test 5): Chromium publishes its fake
// camera through /players/ over WHIP, a second Chromium page plays it over
// WHEP: the video element gets a size and the frames decoded keep rising.
func TestBrowserPublishesAndPlays(t *testing.T) {
	heavy(t)
	s, _ := startRTC(t, 2)
	rep, collector := newReports(t)
	page := func(auto, name string) string {
		q := url.Values{"app": {"live"}, "stream": {"browser"}, "auto": {auto}, "report": {collector.URL + "/" + name}}
		return fmt.Sprintf("http://%s/players/?%s", s.http, q.Encode())
	}
	openPage(t, page("whip", "pub"))
	rep.await(t, "/pub", 60*time.Second, func(l []pageStats) bool { return len(l) > 0 && l[len(l)-1].FramesSent > 0 })
	openPage(t, page("whep", "play"))
	var first pageStats
	rep.await(t, "/play", 60*time.Second, func(l []pageStats) bool {
		for _, st := range l {
			if st.Width > 0 && st.Height > 0 && st.FramesDecoded > 0 {
				if first.FramesDecoded == 0 {
					first = st
				} else if st.FramesDecoded > first.FramesDecoded+10 {
					return true
				}
			}
		}
		return false
	})
}
