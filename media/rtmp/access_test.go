package rtmp_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"streamedge/media/access"
	"streamedge/media/rtmp"
)

// hookLog is a hook server that refuses any stream named "denied" and
// records the actions it was told of, in order.
type hookLog struct {
	mu      sync.Mutex
	actions []string
	ended   chan string
}

func startHooks(t *testing.T) (*hookLog, string) {
	h := &hookLog{ended: make(chan string, 16)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		body := string(b)
		action := body[strings.Index(body, `"action":"`)+10:]
		action = action[:strings.IndexByte(action, '"')]
		h.mu.Lock()
		h.actions = append(h.actions, action)
		h.mu.Unlock()
		if action == "on_unpublish" || action == "on_stop" {
			h.ended <- action
		}
		if strings.Contains(body, `"stream":"denied"`) {
			io.WriteString(w, "1")
			return
		}
		io.WriteString(w, "0")
	}))
	t.Cleanup(srv.Close)
	return h, srv.URL
}

func TestGateHooksAndSignedPlay(t *testing.T) {
	addr, srv := startServerWith(t)
	hooks, url := startHooks(t)
	all := []string{url}
	g := access.New(access.Options{ServerID: "test", Policies: access.Policies{Default: access.Policy{
		Hooks:  access.Hooks{OnConnect: all, OnPublish: all, OnUnpublish: all, OnPlay: all, OnStop: all, Timeout: 2 * time.Second},
		Secure: access.Secure{PlayKey: "k"},
	}}})
	ctx := ctxFor(t, 20*time.Second)
	go g.Run(ctx)
	srv.SetGate(g)

	// A refused publish is told why, with the protocol's code.
	c, err := rtmp.Dial(ctx, "rtmp://"+addr+"/live/denied")
	if err != nil {
		t.Fatal(err)
	}
	var st *rtmp.StatusError
	if err := c.Publish(ctx); !errors.As(err, &st) || st.Code != "NetStream.Publish.Unauthorized" || !strings.Contains(st.Description, "on_publish hook") {
		t.Fatalf("publish of a denied name: %v, want NetStream.Publish.Unauthorized from the hook", err)
	}
	c.Close()

	pub, err := rtmp.Dial(ctx, "rtmp://"+addr+"/live/s")
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(ctx); err != nil {
		t.Fatalf("publish of an allowed name: %v", err)
	}

	// Play needs a signed URL.
	unsigned, err := rtmp.Dial(ctx, "rtmp://"+addr+"/live/s")
	if err != nil {
		t.Fatal(err)
	}
	if err := unsigned.Play(ctx); !errors.As(err, &st) || st.Code != "NetStream.Play.Unauthorized" {
		t.Fatalf("unsigned play: %v, want NetStream.Play.Unauthorized", err)
	}
	unsigned.Close()
	signed, err := rtmp.Dial(ctx, "rtmp://"+addr+"/live/s?"+access.SignedQuery("k", "/live/s", time.Now().Add(time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	if err := signed.Play(ctx); err != nil {
		t.Fatalf("signed play: %v", err)
	}
	signed.Close()
	pub.Close()
	ended := map[string]int{}
	for range 2 {
		select {
		case got := <-hooks.ended:
			ended[got]++
		case <-ctx.Done():
			t.Fatalf("told only %v of the ends", ended)
		}
	}
	if ended["on_stop"] != 1 || ended["on_unpublish"] != 1 {
		t.Fatalf("ends told: %v, want one on_stop and one on_unpublish", ended)
	}
	hooks.mu.Lock()
	connects := strings.Count(strings.Join(hooks.actions, " "), "on_connect")
	hooks.mu.Unlock()
	if connects != 4 {
		t.Fatalf("on_connect told %d times, want once per connection (4)", connects)
	}
	if s := g.Stats(); s.Refusals[access.ReasonHookDenied] != 1 || s.Refusals[access.ReasonUnsigned] != 1 {
		t.Fatalf("refusals %v, want one hook_denied and one unsigned", s.Refusals)
	}
}
