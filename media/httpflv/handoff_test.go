package httpflv_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"streamedge/media/flv"
	"streamedge/media/handoff"
	"streamedge/media/httpflv"
	"streamedge/media/hub"
	"streamedge/media/mediatest"
	"streamedge/media/mediatest/numbered"
)

type side struct {
	addr   string
	hub    *hub.Hub
	flv    *httpflv.Handler
	socket string
}

func startSide(t testing.TB, name string) *side {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("worker", name)
	h := hub.New(hub.DefaultOptions(), log)
	s := &side{addr: ln.Addr().String(), hub: h, flv: httpflv.New(h, log), socket: filepath.Join(t.TempDir(), name+".sock")}
	s.flv.SetPoller(mediatest.Poller(t))
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

// Test 5 of the handoff issue: a receiver that takes the socket and dies
// before it answers. The sender must not write again (the receiver might
// have written), so it closes its copy: the client gets an EOF at once,
// never a connection that hangs with nobody writing.
func TestReceiverDeadMidTransferClosesThePlayer(t *testing.T) {
	a := startSide(t, "a")
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

	path := filepath.Join(t.TempDir(), "dying.sock")
	ln, err := handoff.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.AcceptUnix()
		if err != nil {
			return
		}
		// Take the packet and its socket, then die: the socket closes
		// with the process, the answer never comes.
		oob := make([]byte, 64)
		_, oobn, _, _, err := c.ReadMsgUnix(make([]byte, handoff.MaxState), oob)
		if err == nil {
			if msgs, err := syscall.ParseSocketControlMessage(oob[:oobn]); err == nil && len(msgs) > 0 {
				fds, _ := syscall.ParseUnixRights(&msgs[0])
				for _, fd := range fds {
					syscall.Close(fd)
				}
			}
		}
		c.Close()
	}()
	s, err := handoff.Dial(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	start := time.Now()
	_, err = handoff.Move(context.Background(), a.flv, s, "test")
	if err == nil || handoff.Resumable(err) {
		t.Fatalf("move to a receiver that died: %v, want a non-resumable error", err)
	}
	// Whatever was in flight is read first; then the connection ends.
	deadline := time.After(2 * time.Second)
	for {
		select {
		case err := <-errs:
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("the player read %v, want EOF", err)
			}
			t.Logf("EOF %v after the move began", time.Since(start).Round(time.Millisecond))
			// The player's connection closes before its handler
			// returns and uncounts it: give the handler a moment.
			for wait := time.Now().Add(2 * time.Second); a.flv.Stats.Players.Load() != 0; {
				if time.Now().After(wait) {
					t.Fatalf("the sender still counts %d players 2 s after the EOF", a.flv.Stats.Players.Load())
				}
				time.Sleep(5 * time.Millisecond)
			}
			return
		case <-chk.Got():
		case <-deadline:
			t.Fatal("the player neither got data nor an EOF for 2 s: left hanging")
		}
	}
}
