package httpflv_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"streamedge/media/access"
	"streamedge/media/flv"
	"streamedge/media/httpflv"
	"streamedge/media/hub"
)

// A signed play gets the stream; an unsigned one 401, a bad signature 403,
// and a hook that refuses 403.
func TestGatedPlay(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	h := hub.New(hub.DefaultOptions(), log)
	defer h.Close()
	pub, err := h.Publish(hub.Key{Vhost: hub.DefaultVhost, App: "live", Name: "s"})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	// The FLV header goes out once the tracks are known: from the metadata.
	pub.Write(flv.TagScript, 0, []byte("\x02\x00\x0aonMetaData\x03\x00\x0caudiocodecid\x00\x40\x24\x00\x00\x00\x00\x00\x00\x00\x00\x09"))
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/no" {
			io.WriteString(w, `{"code": 1}`)
			return
		}
		io.WriteString(w, "0")
	}))
	defer hook.Close()
	handler := httpflv.New(h, log)
	defer handler.Close()
	g := access.New(access.Options{Policies: access.Policies{
		Default: access.Policy{Secure: access.Secure{PlayKey: "k"}},
		Vhosts:  map[string]access.Policy{"hooked": {Hooks: access.Hooks{OnPlay: []string{hook.URL + "/no"}}}},
	}})
	handler.SetGate(g)
	srv := httptest.NewServer(handler)
	defer srv.Close()

	valid := access.SignedQuery("k", "/live/s", time.Now().Add(time.Minute))
	cases := []struct {
		name, query string
		want        int
	}{
		{"unsigned", "", http.StatusUnauthorized},
		{"bad signature", access.SignedQuery("other", "/live/s", time.Now().Add(time.Minute)), http.StatusForbidden},
		{"expired", access.SignedQuery("k", "/live/s", time.Now().Add(-time.Minute)), http.StatusForbidden},
		{"hook says no", "vhost=hooked", http.StatusForbidden},
		{"signed", valid, http.StatusOK},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "hook says no" {
				pub2, err := h.Publish(hub.Key{Vhost: "hooked", App: "live", Name: "s"})
				if err != nil {
					t.Fatal(err)
				}
				defer pub2.Close()
			}
			resp, err := http.Get(srv.URL + "/live/s.flv?" + c.query)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != c.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, c.want)
			}
			if c.want == http.StatusOK {
				head := make([]byte, 3)
				if _, err := io.ReadFull(resp.Body, head); err != nil || string(head) != "FLV" {
					t.Fatalf("body starts %q, %v; want an FLV header", head, err)
				}
			}
		})
	}
}
