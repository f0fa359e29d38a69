package rtmp_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"streamedge/media/handoff"
	"streamedge/media/hub"
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

func startSide(t *testing.T, name string) *side {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("worker", name)
	h := hub.New(hub.DefaultOptions(), log)
	srv := rtmp.NewServer(h, rtmp.Config{ChunkSize: 4096, HandshakeTimeout: 5 * time.Second, MaxMessageSize: 1 << 20}, log)
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

// feed publishes the same numbered media into every hub, as a relay would
// copy the owner's stream: a keyframe every 10 video frames, audio between.
// Each payload carries its track's sequence number after the codec bytes.
func feed(t *testing.T, ctx context.Context, hubs ...*hub.Hub) {
	t.Helper()
	key := hub.Key{Vhost: hub.DefaultVhost, App: "live", Name: "s"}
	var pubs []*hub.Publisher
	for _, h := range hubs {
		p, err := h.Publish(key)
		if err != nil {
			t.Fatal(err)
		}
		pubs = append(pubs, p)
	}
	write := func(typ uint8, ts uint32, b []byte) {
		for _, p := range pubs {
			p.Write(typ, ts, b)
		}
	}
	write(18, 0, amf.Append(nil, "onMetaData", []amf.Property{{Key: "width", Value: 16.0}}))
	write(9, 0, []byte{0x17, 0, 0, 0, 0, 1, 0x42, 0, 0x1e})
	write(8, 0, []byte{0xaf, 0, 0x12, 0x10})
	go func() {
		defer func() {
			for _, p := range pubs {
				p.Close()
			}
		}()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for i := uint32(0); ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			v := []byte{0x27, 1, 0, 0, 0, 0, 0, 0, 0}
			if i%10 == 0 {
				v[0] = 0x17
			}
			binary.BigEndian.PutUint32(v[5:], i)
			write(9, i*20, v)
			a := []byte{0xaf, 1, 0, 0, 0, 0}
			binary.BigEndian.PutUint32(a[2:], i)
			write(8, i*20, a) // same timestamp as the video: the resume must count
		}
	}()
}

// checker follows what a player receives: per track, numbered frames must
// come one after the other (none twice, none lost) and time never goes back.
type checker struct {
	t      *testing.T
	next   [2]int64 // audio, video: the next sequence number expected (-1: any)
	lastTS [2]uint32
	got    chan struct{}
}

func newChecker(t *testing.T) *checker {
	return &checker{t: t, next: [2]int64{-1, -1}, got: make(chan struct{}, 1<<16)}
}

func (c *checker) add(typ uint8, ts uint32, p []byte) error {
	var i, off int
	switch {
	case typ == 8 && len(p) == 6 && p[1] == 1:
		i, off = 0, 2
	case typ == 9 && len(p) == 9 && p[1] == 1:
		i, off = 1, 5
	default:
		return nil // headers and metadata
	}
	seq := int64(binary.BigEndian.Uint32(p[off:]))
	if c.next[i] >= 0 && seq != c.next[i] {
		return fmt.Errorf("%s: frame %d after %d (duplicate or lost), ts %d", [2]string{"audio", "video"}[i], seq, c.next[i]-1, ts)
	}
	if c.next[i] >= 0 && ts < c.lastTS[i] {
		return errors.New("timestamp went back")
	}
	c.next[i], c.lastTS[i] = seq+1, ts
	c.got <- struct{}{}
	return nil
}

// await waits for n more numbered frames.
func (c *checker) await(t *testing.T, n int, errs <-chan error) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for range n {
		select {
		case <-c.got:
		case err := <-errs:
			t.Fatalf("player: %v", err)
		case <-deadline:
			t.Fatal("player got no media for 10 s")
		}
	}
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
	feed(t, ctx, a.hub, b.hub)
	c, err := rtmp.Dial(ctxFor(t, 5*time.Second), "rtmp://"+a.addr+"/live/s")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Play(ctxFor(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	chk := newChecker(t)
	errs := make(chan error, 1)
	go func() {
		for {
			m, err := c.ReadMedia()
			if err == nil {
				err = chk.add(m.TypeID, m.Timestamp, m.Payload)
			}
			if err != nil {
				errs <- err
				return
			}
		}
	}()
	chk.await(t, 20, errs)
	sides := [2]*side{a, b}
	for i := range 10 {
		to := sides[(i+1)%2]
		before := to.srv.Stats.BytesOut.Load()
		move(t, sides[i%2], to)
		// Frames the client had buffered from the sender do not count:
		// wait for the receiver to have written, then for frames after that.
		for to.srv.Stats.BytesOut.Load() == before {
			chk.await(t, 1, errs)
		}
		chk.await(t, 20, errs)
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
	chk.await(t, 10, errs) // a's reading goroutine has read the half by now, most likely
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
