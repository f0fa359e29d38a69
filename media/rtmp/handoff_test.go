package rtmp_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"streamedge/media/handoff"
	"streamedge/media/hub"
	"streamedge/media/mediatest"
	"streamedge/media/mediatest/numbered"
	"streamedge/media/rtmp"
	"streamedge/media/rtmp/amf"
	"streamedge/media/rtmp/chunk"
)

// side is one "worker" of a handoff test: a hub, an RTMP server and a
// handoff socket, all in this process.
type side struct {
	addr   string
	hub    *hub.Hub
	srv    *rtmp.Server
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
	srv := rtmp.NewServer(h, rtmp.Config{ChunkSize: 4096, HandshakeTimeout: 5 * time.Second, MaxMessageSize: 1 << 20}, log)
	srv.SetPoller(mediatest.Poller(t)) // as a worker's
	s := &side{addr: ln.Addr().String(), hub: h, srv: srv, socket: filepath.Join(t.TempDir(), name+".sock")}
	hl, err := handoff.Listen(s.socket)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { done <- srv.Serve(ctx, ln) }()
	adopt := handoff.Adopters(map[handoff.Protocol]handoff.AdoptFunc{handoff.RTMP: srv.Adopt}, nil)
	go func() { done <- handoff.Serve(ctx, hl, adopt) }()
	t.Cleanup(func() {
		cancel()
		h.Close()
		srv.Close()
		for range 2 {
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	})
	return s
}

func move(t *testing.T, from, to *side) {
	t.Helper()
	s, err := handoff.Dial(context.Background(), to.socket)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := handoff.Move(ctxFor(t, 10*time.Second), from.srv, s, "test"); err != nil {
		t.Fatalf("move: %v", err)
	}
}

func TestRTMPPlayerMovesBackAndForth(t *testing.T) {
	a, b := startSide(t, "a"), startSide(t, "b")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	numbered.Feed(t, ctx, hub.Key{Vhost: hub.DefaultVhost, App: "live", Name: "s"}, a.hub, b.hub)
	c, err := rtmp.Dial(ctxFor(t, 5*time.Second), "rtmp://"+a.addr+"/live/s")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Play(ctxFor(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	chk := numbered.NewChecker()
	errs := make(chan error, 1)
	go func() {
		for {
			m, err := c.ReadMedia()
			if err == nil {
				err = chk.Add(m.TypeID, m.Timestamp, m.Payload)
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
		to := sides[(i+1)%2]
		before := to.srv.Stats.BytesOut.Load()
		move(t, sides[i%2], to)
		// Frames the client had buffered from the sender do not count:
		// wait for the receiver to have written, then for frames after that.
		for to.srv.Stats.BytesOut.Load() == before {
			chk.Await(t, 1, errs)
		}
		chk.Await(t, 20, errs)
		if n := to.srv.Stats.Players.Load(); n != 1 {
			t.Fatalf("move %d: the receiver counts %d players, want 1", i+1, n)
		}
	}
	if n := a.srv.Stats.Players.Load() + b.srv.Stats.Players.Load(); n != 1 {
		t.Fatalf("%d players counted after the moves, want 1", n)
	}

	// Half a closeStream before a move, the rest after: the receiver parses
	// it with the chunk state it was handed and ends the session.
	msg := chunk.AppendMessage(nil, chunk.CSIDCommand, chunk.TypeCommandAMF0, 0, 1, amf.Append(nil, "closeStream", 0.0, nil), 4096)
	half := len(msg) / 2
	if _, err := c.Conn().Write(msg[:half]); err != nil {
		t.Fatal(err)
	}
	chk.Await(t, 10, errs) // a's reading goroutine has read the half by now, most likely
	move(t, a, b)
	if _, err := c.Conn().Write(msg[half:]); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("after closeStream the player read %v, want EOF", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the receiver did not act on the closeStream split across the move")
	}
}
