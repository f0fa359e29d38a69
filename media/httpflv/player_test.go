package httpflv

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"streamedge/media/flv"
	"streamedge/media/hub"
	"streamedge/media/mediatest"
)

// The handler returns once it has hijacked the connection (so net/http's
// goroutine, request and buffers go), the response goes on in the
// player's own goroutine, bytes a client sent after its request do not
// disturb it, and a client that closes is noticed while the stream is
// silent, with no write to fail: with a poller (no goroutine per player)
// and without (the player's own goroutine waits in a read).
func TestResponseOutlivesTheHandlerAndNoticesAClose(t *testing.T) {
	t.Run("poller", func(t *testing.T) { testResponseOutlivesTheHandler(t, true) })
	t.Run("goroutine", func(t *testing.T) { testResponseOutlivesTheHandler(t, false) })
}

func testResponseOutlivesTheHandler(t *testing.T, poller bool) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := hub.New(hub.DefaultOptions(), log)
	fh := New(h, log)
	if poller {
		fh.SetPoller(mediatest.Poller(t))
	}
	returned := make(chan struct{}, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fh.ServeHTTP(w, r)
		returned <- struct{}{}
	}))
	t.Cleanup(func() { fh.Close(); srv.Close(); h.Close() })
	p, err := h.Publish(hub.Key{Vhost: hub.DefaultVhost, App: "live", Name: "s"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.Write(flv.TagVideo, 0, []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f})
	p.Write(flv.TagVideo, 0, []byte{0x17, 1, 0, 0, 0, 0xaa})
	var conns []net.Conn
	for _, after := range []string{"", "GET /more HTTP/1.1\r\n"} {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, "GET /live/s.flv HTTP/1.1\r\nHost: t\r\n\r\n"+after); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("response %v, %v", resp, err)
		}
		// The FLV file header, then both tags: each a header, a body and a trailer.
		head := len(flv.AppendFileHeader(nil, false, true))
		if _, err := io.ReadFull(br, make([]byte, head+2*(flv.TagHeaderSize+4)+9+6)); err != nil {
			t.Fatalf("player %q: %v", after, err)
		}
		select {
		case <-returned:
		case <-time.After(10 * time.Second):
			t.Fatalf("player %q: the handler has not returned while its response goes on", after)
		}
	}
	if n := fh.Stats.Players.Load(); n != 2 {
		t.Fatalf("%d players counted, want 2", n)
	}
	for _, c := range conns {
		c.Close()
	}
	for deadline := time.Now().Add(10 * time.Second); fh.Stats.Players.Load() != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d players counted after their clients closed, want 0", fh.Stats.Players.Load())
		}
	}
}
