package supervisor

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"regexp"
	"testing"
	"time"

	"streamedge/ipc"
)

// call runs fn, an API client, while the test goroutine plays the master
// loop that answers it.
func (h *harness) call(fn func()) {
	h.t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case <-done:
			return
		case ev := <-h.m.events:
			h.m.handle(ev)
		case <-deadline:
			h.t.Fatal("the API did not answer in 5s")
		}
	}
}

// request asks the API for path, naming host, from a page of origin
// (none when empty).
func (h *harness) request(path, host, origin string) *httptest.ResponseRecorder {
	h.t.Helper()
	rec := httptest.NewRecorder()
	h.call(func() {
		req := httptest.NewRequest("GET", path, nil)
		req.Host = host
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		h.m.apiHandler().ServeHTTP(rec, req)
	})
	return rec
}

func (h *harness) get(path string) map[string]any {
	h.t.Helper()
	body := h.request(path, "127.0.0.1:1985", "").Body.Bytes()
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		h.t.Fatalf("%s: %v\n%s", path, err, body)
	}
	return doc
}

// snakeCase is a field name; a number is a key of data (players by slot).
var snakeCase = regexp.MustCompile(`^([a-z][a-z0-9_]*|[0-9]+)$`)

// badKeys walks a decoded JSON document and reports every key that is not
// snake_case.
func badKeys(v any, path string, bad *[]string) {
	switch v := v.(type) {
	case map[string]any:
		for k, val := range v {
			if !snakeCase.MatchString(k) {
				*bad = append(*bad, path+"."+k)
			}
			badKeys(val, path+"."+k, bad)
		}
	case []any:
		for _, val := range v {
			badKeys(val, path+"[]", bad)
		}
	}
}

func TestAPISpeaksSnakeCase(t *testing.T) {
	h := newHarness(t, 1)
	p := h.procs[0]
	h.ready(p)
	p.msgs <- &ipc.Load{Time: h.clock.t, CPUPercent: 12.5, RSSBytes: 1 << 20, Connections: 3,
		Conns:   ipc.ConnCounts{ipc.ConnRTMPPublish: 1, ipc.ConnFLVPlay: 2},
		Streams: []ipc.StreamLoad{{Stream: "__defaultVhost__/live/s", Publishing: true, Players: 2, BitrateKbps: 2000}}}
	h.until("the load report taken", func() bool { return h.gen(p).load != nil })
	for _, path := range []string{"/api/v1/summaries", "/api/v1/workers", "/api/v1/streams", "/api/v1/nothing"} {
		doc := h.get(path)
		var bad []string
		badKeys(doc, path, &bad)
		if len(bad) > 0 {
			t.Errorf("keys that are not snake_case: %v", bad)
		}
	}
	sum := h.get("/api/v1/summaries")
	reloads := sum["reloads"].(map[string]any)
	if _, ok := reloads["last_at"]; ok {
		t.Errorf("reloads.last_at is there before any reload: %v", reloads)
	}
	totals := sum["totals"].(map[string]any)
	if totals["publishers"] != 1.0 || totals["players"] != 2.0 || totals["connections"] != 3.0 {
		t.Errorf("totals %v, want 1 publisher, 2 players, 3 connections", totals)
	}
	w := h.get("/api/v1/workers")["workers"].([]any)[0].(map[string]any)
	load := w["load"].(map[string]any)
	if load["cpu_percent"] != 12.5 || load["connections_by_kind"].(map[string]any)["flv_play"] != 2.0 {
		t.Errorf("worker load %v", load)
	}
	h.writeConfig(1, "127.0.0.1:0")
	h.reload()
	if _, ok := h.get("/api/v1/summaries")["reloads"].(map[string]any)["last_at"]; !ok {
		t.Error("reloads.last_at is missing after a reload")
	}
}

// A page of another site must not read the API: not by DNS rebinding (a
// Host that names its site), not across origins unless configured.
func TestAPIGuardsAgainstBrowsers(t *testing.T) {
	h := newHarness(t, 1)
	tests := []struct {
		host, origin string
		code         int
		cors         string
	}{
		{"127.0.0.1:1985", "", 200, ""},
		{"[::1]:1985", "", 200, ""},
		{"localhost:1985", "", 200, ""},
		{"LOCALHOST.", "", 200, ""},
		{"attacker.example:1985", "", 403, ""},
		{"127.0.0.1:1985", "https://attacker.example", 200, ""}, // answered, but the browser may not read it
	}
	check := func() {
		t.Helper()
		for _, tt := range tests {
			rec := h.request("/api/v1/workers", tt.host, tt.origin)
			if rec.Code != tt.code || rec.Header().Get("Access-Control-Allow-Origin") != tt.cors {
				t.Errorf("Host %q Origin %q: %d, CORS %q; want %d, %q", tt.host, tt.origin, rec.Code,
					rec.Header().Get("Access-Control-Allow-Origin"), tt.code, tt.cors)
			}
		}
	}
	check()
	// Configured: a name of the operator's and a console's origin.
	text := "workers: 1\nlisten:\n  rtmp: 127.0.0.1:0\n  http: 127.0.0.1:0\n  api: \"\"\napi:\n  hosts: [edge.example.com]\n  cors_origins: ['https://console.example.com']\n"
	if err := os.WriteFile(h.cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	h.reload()
	tests = append(tests[:len(tests)-1],
		struct {
			host, origin string
			code         int
			cors         string
		}{"edge.example.com", "https://console.example.com", 200, "https://console.example.com"},
		struct {
			host, origin string
			code         int
			cors         string
		}{"127.0.0.1:1985", "https://attacker.example", 200, ""})
	check()
}
