package httpflv

import (
	"bufio"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"streamedge/media/flv"
	"streamedge/media/hub"
	"streamedge/media/mediatest"
)

func startHandler(t *testing.T) (*httptest.Server, *hub.Hub) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := hub.New(hub.DefaultOptions(), log)
	fh := New(h, log)
	fh.SetPoller(mediatest.Poller(t))
	srv := httptest.NewServer(fh)
	t.Cleanup(func() { fh.Close(); srv.Close(); h.Close() })
	return srv, h
}

// The FLV header names the tracks the stream really has, even for a player
// that came before the first media.
func TestFileHeaderNamesTheRealTracks(t *testing.T) {
	for _, tt := range []struct {
		name  string
		media [][2]any // type, payload
		flags byte
	}{
		{"audio only", [][2]any{{flv.TagAudio, []byte{0xaf, 0, 0x12, 0x10}}, {flv.TagAudio, []byte{0xaf, 1, 1}}}, 0x04},
		{"video only", [][2]any{{flv.TagVideo, []byte{0x17, 0, 0, 0, 0, 1}}, {flv.TagVideo, []byte{0x17, 1, 0, 0, 0, 1}}}, 0x01},
		{"audio and video", [][2]any{{flv.TagVideo, []byte{0x17, 0, 0, 0, 0, 1}}, {flv.TagAudio, []byte{0xaf, 0, 0x12, 0x10}}, {flv.TagVideo, []byte{0x17, 1, 0, 0, 0, 1}}}, 0x05},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv, h := startHandler(t)
			key := hub.Key{Vhost: hub.DefaultVhost, App: "live", Name: "s"}
			p, err := h.Publish(key)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			resp, err := http.Get(srv.URL + "/live/s.flv")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatal(resp.Status)
			}
			for _, m := range tt.media {
				p.Write(uint8(m[0].(int)), 0, m[1].([]byte))
			}
			br := bufio.NewReader(resp.Body)
			head := make([]byte, flv.HeaderSize)
			if _, err := io.ReadFull(br, head); err != nil {
				t.Fatal(err)
			}
			if head[4] != tt.flags {
				t.Fatalf("FLV header flags 0x%02x, want 0x%02x", head[4], tt.flags)
			}
		})
	}
}

func TestHeadAndOptions(t *testing.T) {
	srv, h := startHandler(t)
	p, _ := h.Publish(hub.Key{Vhost: hub.DefaultVhost, App: "live", Name: "s"})
	defer p.Close()
	c := &http.Client{Timeout: 5 * time.Second}
	for _, tt := range []struct {
		method, path string
		code         int
		headers      map[string]string
	}{
		{http.MethodHead, "/live/s.flv", 200, map[string]string{"Content-Type": "video/x-flv", "Access-Control-Allow-Origin": "*"}},
		{http.MethodHead, "/live/none.flv", 404, nil},
		{http.MethodOptions, "/live/s.flv", 204, map[string]string{"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": allowedMethods, "Access-Control-Allow-Headers": "*"}},
		{http.MethodPost, "/live/s.flv", 405, map[string]string{"Allow": allowedMethods}},
	} {
		req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
		req.Header.Set("Access-Control-Request-Headers", "range")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.code {
			t.Fatalf("%s %s: %s, want %d", tt.method, tt.path, resp.Status, tt.code)
		}
		for k, v := range tt.headers {
			if got := resp.Header.Get(k); got != v {
				t.Fatalf("%s %s: %s is %q, want %q", tt.method, tt.path, k, got, v)
			}
		}
		if tt.method != http.MethodPost && len(body) != 0 {
			t.Fatalf("%s %s: a body of %d bytes", tt.method, tt.path, len(body))
		}
	}
}

// countingHost is a host whose other workers publish "elsewhere"; an edge
// host for vhost "edge". It counts what would start a relay or a pull.
type countingHost struct {
	mu     sync.Mutex
	starts []string
}

func (c *countingHost) count(what string, key hub.Key) {
	c.mu.Lock()
	c.starts = append(c.starts, what+" "+key.String())
	c.mu.Unlock()
}

func (c *countingHost) started() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.starts)
}

func (c *countingHost) Claim(hub.Key) error { return nil }
func (c *countingHost) Release(hub.Key)     {}
func (c *countingHost) Pull(key hub.Key) bool {
	c.count("pull", key)
	return key.Name == "elsewhere"
}
func (c *countingHost) Want(key hub.Key)                       { c.count("want", key) }
func (c *countingHost) Published(key hub.Key) bool             { return key.Name == "elsewhere" }
func (c *countingHost) Upstream(key hub.Key) bool              { return key.Vhost == "edge" }
func (c *countingHost) Forward(*hub.Publisher) (func(), error) { return func() {}, nil }
func (c *countingHost) PullUpstream(key hub.Key) error {
	c.count("pull upstream", key)
	return hub.ErrNotPublished
}

// TestHeadStartsNothing (issue 10): a HEAD answers from what the host
// knows, 200 for a stream another worker has and 404 for one nobody has,
// on an edge too, and never starts a relay or a pull from an origin, as
// the GET that follows does.
func TestHeadStartsNothing(t *testing.T) {
	srv, h := startHandler(t)
	host := &countingHost{}
	h.SetHost(host)
	c := &http.Client{Timeout: 5 * time.Second}
	do := func(method, path string) int {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for path, want := range map[string]int{"/live/elsewhere.flv": 200, "/live/none.flv": 404, "/live/elsewhere.flv?vhost=edge": 200, "/live/none.flv?vhost=edge": 404} {
		if got := do(http.MethodHead, path); got != want {
			t.Fatalf("HEAD %s: %d, want %d", path, got, want)
		}
	}
	if s := host.started(); len(s) != 0 {
		t.Fatalf("HEADs started %q", s)
	}
	// The GET of an edge stream nobody has asks for the pull (the fake's
	// origins do not have it either).
	if got := do(http.MethodGet, "/live/none.flv?vhost=edge"); got != 404 || !slices.Equal(host.started(), []string{"pull upstream edge/live/none"}) {
		t.Fatalf("GET of an edge stream: %d, started %q", got, host.started())
	}
}
