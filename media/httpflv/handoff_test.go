package httpflv_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"streamedge/media/flv"
	"streamedge/media/handoff"
	"streamedge/media/httpflv"
	"streamedge/media/hub"
	"streamedge/media/mediatest/numbered"
)

type side struct {
	addr   string
	hub    *hub.Hub
	flv    *httpflv.Handler
	socket string
}

func startSide(t *testing.T, name string) *side {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("worker", name)
	h := hub.New(hub.DefaultOptions(), log)
	s := &side{addr: ln.Addr().String(), hub: h, flv: httpflv.New(h, log), socket: filepath.Join(t.TempDir(), name+".sock")}
	hl, err := handoff.Listen(s.socket)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: s.flv}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go srv.Serve(ln)
	adopt := handoff.Adopters(map[handoff.Protocol]handoff.AdoptFunc{handoff.HTTPFLV: s.flv.Adopt}, nil)
	go func() { done <- handoff.Serve(ctx, hl, adopt) }()
	t.Cleanup(func() {
		cancel()
		h.Close()
		srv.Close()
		s.flv.Close()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return s
}

func TestFLVPlayerMovesBackAndForth(t *testing.T) {
	a, b := startSide(t, "a"), startSide(t, "b")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	numbered.Feed(t, ctx, hub.Key{Vhost: hub.DefaultVhost, App: "live", Name: "s"}, a.hub, b.hub)
	resp, err := http.Get("http://" + a.addr + "/live/s.flv")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := flv.NewReader(resp.Body)
	if _, _, err := r.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	chk := numbered.NewChecker()
	errs := make(chan error, 1)
	go func() {
		for {
			tag, err := r.ReadTag()
			if err == nil {
				err = chk.Add(tag.Type, tag.Timestamp, tag.Data)
			}
			if err != nil {
				errs <- err
				return
			}
		}
	}()
	chk.Await(t, 20, errs)
	sides := [2]*side{a, b}
	for i := range 10 {
		from, to := sides[i%2], sides[(i+1)%2]
		before := to.flv.Stats.BytesOut.Load()
		s, err := handoff.Dial(context.Background(), to.socket)
		if err != nil {
			t.Fatal(err)
		}
		mctx, mcancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err = handoff.Move(mctx, from.flv, s, "test")
		mcancel()
		s.Close()
		if err != nil {
			t.Fatalf("move %d: %v", i+1, err)
		}
		for to.flv.Stats.BytesOut.Load() == before {
			chk.Await(t, 1, errs)
		}
		chk.Await(t, 20, errs)
		if na, nb := a.flv.Stats.Players.Load(), b.flv.Stats.Players.Load(); na+nb != 1 || to.flv.Stats.Players.Load() != 1 {
			t.Fatalf("move %d: players counted %d and %d, want the one on the receiver", i+1, na, nb)
		}
	}
}

// A player whose receiver refuses stays with its sender and keeps playing.
func TestFLVPlayerRefusedStays(t *testing.T) {
	a := startSide(t, "a")
	b := startSide(t, "b") // b has no such stream: it refuses
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	numbered.Feed(t, ctx, hub.Key{Vhost: hub.DefaultVhost, App: "live", Name: "s"}, a.hub)
	resp, err := http.Get("http://" + a.addr + "/live/s.flv")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := flv.NewReader(resp.Body)
	r.ReadHeader()
	chk := numbered.NewChecker()
	errs := make(chan error, 1)
	go func() {
		for {
			tag, err := r.ReadTag()
			if err == nil {
				err = chk.Add(tag.Type, tag.Timestamp, tag.Data)
			}
			if err != nil {
				errs <- err
				return
			}
		}
	}()
	chk.Await(t, 10, errs)
	s, err := handoff.Dial(context.Background(), b.socket)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = handoff.Move(context.Background(), a.flv, s, "test")
	if !handoff.Resumable(err) {
		t.Fatalf("move to a receiver without the stream: %v, want a refusal", err)
	}
	chk.Await(t, 100, errs)
	if n := a.flv.Stats.Players.Load(); n != 1 {
		t.Fatalf("sender counts %d players after the refusal, want 1", n)
	}
}
