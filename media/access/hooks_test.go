package access

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"
)

// hookServer answers every hook with answer (status, body) after delay and
// records the bodies it was sent.
type hookServer struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []map[string]any
}

func newHookServer(t *testing.T, status int, answer string, delay time.Duration) *hookServer {
	h := &hookServer{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		json.Unmarshal(b, &m)
		h.mu.Lock()
		h.bodies = append(h.bodies, m)
		h.mu.Unlock()
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookServer) received() []map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]map[string]any(nil), h.bodies...)
}

func publishReq() *Request {
	return &Request{Action: Publish, ClientID: "7", IP: "127.0.0.1", Vhost: "__defaultVhost__", App: "live",
		Stream: "livestream", Param: "token=abc", TcURL: "rtmp://127.0.0.1:1935/live"}
}

func TestHookAnswers(t *testing.T) {
	cases := []struct {
		name   string
		status int
		answer string
		delay  time.Duration
		want   string // "" admitted, else reason
	}{
		{"zero", 200, "0", 0, ""},
		{"zero with newline", 200, "0\n", 0, ""},
		{"json code 0", 200, `{"code": 0, "data": null}`, 0, ""},
		{"non-zero", 200, "1", 0, ReasonHookDenied},
		{"json non-zero", 200, `{"code": 403}`, 0, ReasonHookDenied},
		{"500", 500, "0", 0, ReasonHookFailed},
		{"not an answer", 200, "ok", 0, ReasonHookFailed},
		{"slow", 200, "0", 2 * time.Second, ReasonHookFailed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHookServer(t, c.status, c.answer, c.delay)
			g := New(Options{ServerID: "se1", Policies: Policies{Default: Policy{Hooks: Hooks{OnPublish: []string{h.URL}, Timeout: 300 * time.Millisecond}}}})
			err := g.Admit(context.Background(), publishReq())
			d, denied := IsDenied(err)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && !denied:
				t.Fatalf("admitted, want %s", c.want)
			case c.want != "" && d.Reason != c.want:
				t.Fatalf("reason %s, want %s (%v)", d.Reason, c.want, err)
			}
			if c.want != "" && g.Stats().Refusals[c.want] != 1 {
				t.Fatalf("refusals %v, want one %s", g.Stats().Refusals, c.want)
			}
		})
	}
}

// The body is SRS's: a hook server written for SRS reads the same fields.
func TestHookBodyIsSRSs(t *testing.T) {
	h := newHookServer(t, 200, "0", 0)
	g := New(Options{ServerID: "se1", ServiceID: "svc", Policies: Policies{Default: Policy{Hooks: Hooks{OnPublish: []string{h.URL}, OnConnect: []string{h.URL}}}}})
	if err := g.Admit(context.Background(), publishReq()); err != nil {
		t.Fatal(err)
	}
	conn := publishReq()
	conn.Action, conn.Stream, conn.Param, conn.PageURL = Connect, "", "", "http://example.test/page.html"
	if err := g.Admit(context.Background(), conn); err != nil {
		t.Fatal(err)
	}
	got := h.received()
	// SRS's documented on_publish body (http-callback, v5), with our values.
	wantPublish := map[string]any{"server_id": "se1", "service_id": "svc", "action": "on_publish", "client_id": "7",
		"ip": "127.0.0.1", "vhost": "__defaultVhost__", "app": "live", "tcUrl": "rtmp://127.0.0.1:1935/live",
		"stream": "livestream", "param": "?token=abc", "stream_url": "/live/livestream", "stream_id": "vid-__defaultVhost__/live/livestream"}
	wantConnect := map[string]any{"server_id": "se1", "service_id": "svc", "action": "on_connect", "client_id": "7",
		"ip": "127.0.0.1", "vhost": "__defaultVhost__", "app": "live", "tcUrl": "rtmp://127.0.0.1:1935/live",
		"param": "", "pageUrl": "http://example.test/page.html"}
	if len(got) != 2 || !reflect.DeepEqual(got[0], wantPublish) || !reflect.DeepEqual(got[1], wantConnect) {
		t.Fatalf("bodies:\n%v\nwant\n%v\n%v", got, wantPublish, wantConnect)
	}
}

func TestEveryHookMustAccept(t *testing.T) {
	yes, no := newHookServer(t, 200, "0", 0), newHookServer(t, 200, "1", 0)
	g := New(Options{Policies: Policies{Default: Policy{Hooks: Hooks{OnPlay: []string{yes.URL, no.URL}}}}})
	r := publishReq()
	r.Action = Play
	if err := g.Admit(context.Background(), r); err == nil {
		t.Fatal("admitted though the second hook refused")
	}
	if len(yes.received()) != 1 || len(no.received()) != 1 {
		t.Fatal("both hooks must be asked, in order")
	}
}

func TestVhostPolicy(t *testing.T) {
	no := newHookServer(t, 200, "1", 0)
	g := New(Options{Policies: Policies{Vhosts: map[string]Policy{"locked": {Hooks: Hooks{OnPublish: []string{no.URL}}}}}})
	r := publishReq()
	if err := g.Admit(context.Background(), r); err != nil {
		t.Fatalf("the default vhost has no hooks: %v", err)
	}
	r.Vhost = "locked"
	if err := g.Admit(context.Background(), r); err == nil {
		t.Fatal("vhost locked refuses every publish")
	}
}

func TestNotifyRetriesOffThePath(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n < 2 {
			w.WriteHeader(500)
			return
		}
		io.WriteString(w, "0")
		close(done)
	}))
	defer srv.Close()
	g := New(Options{Policies: Policies{Default: Policy{Hooks: Hooks{OnUnpublish: []string{srv.URL}}}}})
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error)
	go func() { ran <- g.Run(ctx) }()
	r := publishReq()
	r.Action = Unpublish
	start := time.Now()
	g.Notify(r)
	if time.Since(start) > 100*time.Millisecond {
		t.Fatal("Notify blocked the caller")
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the notification was not retried after a 500")
	}
	cancel()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
}

func TestNotifyQueueIsBounded(t *testing.T) {
	g := New(Options{Policies: Policies{Default: Policy{Hooks: Hooks{OnStop: []string{"http://127.0.0.1:1/"}}}}})
	r := publishReq()
	r.Action = Stop
	for range notifyQueue + 5 {
		g.Notify(r) // Run is not running: nothing drains the queue
	}
	if got := g.Stats().NotificationsDropped; got != 5 {
		t.Fatalf("dropped %d, want 5", got)
	}
}

func TestLimiter(t *testing.T) {
	var l limiter
	now := time.Unix(0, 0)
	shown := 0
	for range 100 {
		if ok, _ := l.allow(now); ok {
			shown++
		}
	}
	if shown != limitBurst {
		t.Fatalf("shown %d in one interval, want %d", shown, limitBurst)
	}
	ok, suppressed := l.allow(now.Add(limitEvery))
	if !ok || suppressed != 100-limitBurst {
		t.Fatalf("next interval: shown %v, suppressed %d, want true, %d", ok, suppressed, 100-limitBurst)
	}
}
