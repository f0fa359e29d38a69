package rtmp_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"syscall"
	"testing"
	"time"

	"streamedge/media/flv"
	"streamedge/media/hub"
	"streamedge/media/mediatest"
	"streamedge/media/rtmp"
)

// feed publishes 64 KiB keyframes on key every 10 ms until ctx ends.
func feed(ctx context.Context, t *testing.T, h *hub.Hub, key hub.Key) {
	pub, err := h.Publish(key)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer pub.Close()
		pub.Write(flv.TagVideo, 0, []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff})
		frame := append([]byte{0x17, 1, 0, 0, 0}, make([]byte, 64<<10)...)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for ts := uint32(0); ; ts += 10 {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				pub.Write(flv.TagVideo, ts, frame)
			}
		}
	}()
}

// TestStalledPlayerIsReset: a player that stops reading is dropped after
// send_timeout with an RST, not a FIN that would wait behind its unsent
// bytes in an orphaned socket.
func TestStalledPlayerIsReset(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	opts := hub.DefaultOptions()
	opts.SendTimeout, opts.SendBuffer, opts.MergedWrite = time.Second, 16384, 0
	h := hub.New(opts, log)
	defer h.Close()
	srv := rtmp.NewServer(h, rtmp.Config{ChunkSize: 4096, HandshakeTimeout: 5 * time.Second, MaxMessageSize: 1 << 20}, log)
	srv.SetPoller(mediatest.Poller(t)) // as a worker's
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go srv.Serve(ctx, ln)
	feed(ctx, t, h, hub.Key{Vhost: hub.DefaultVhost, App: "live", Name: "slow"})

	pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
	defer pcancel()
	c, err := rtmp.Dial(pctx, "rtmp://"+ln.Addr().String()+"/live/slow")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Play(pctx); err != nil {
		t.Fatal(err)
	}
	// Stop reading until the server gives up on the player, then read what
	// is left: it must end in a reset.
	waitPlayers := func(n int64, what string) {
		deadline := time.Now().Add(20 * time.Second)
		for srv.Stats.Players.Load() != n {
			if time.Now().After(deadline) {
				t.Fatal(what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitPlayers(1, "the player never started")
	waitPlayers(0, "the stalled player was not dropped")
	c.Conn().SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = io.Copy(io.Discard, c.Conn())
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("after the drop the player read %v, want a connection reset", err)
	}
}
