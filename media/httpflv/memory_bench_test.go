package httpflv

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"

	"streamedge/media/hub"
	"streamedge/media/mediatest"
)

const playersEnv = "HTTPFLV_BENCH_PLAYERS"

// TestPlayersHelper is BenchmarkPlayerMemory's client process: HTTP-FLV
// plays of /live/s.flv, each playing once it has 32 KiB.
func TestPlayersHelper(t *testing.T) {
	mediatest.PlayerClients(t, playersEnv, func(addr string) (func(), error) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return nil, err
		}
		if _, err := io.WriteString(c, "GET /live/s.flv HTTP/1.1\r\nHost: bench\r\n\r\n"); err != nil {
			return nil, err
		}
		return func() {
			if _, err := io.CopyN(io.Discard, c, 32<<10); err == nil {
				mediatest.SayPlaying()
				io.Copy(io.Discard, c)
			}
		}, nil
	})
}

// BenchmarkPlayerMemory measures what an HTTP-FLV player costs the server:
// N real plays through a real http.Server of one stream, waiting in a read
// poller as a worker's do, their clients in another process. It reports
// the Go heap and stacks in use per player (after a collection), each,
// the resident set, and goroutines per player. With $PLAYER_HEAP_PROFILE
// set it writes a heap profile there at the 1,000.
func BenchmarkPlayerMemory(b *testing.B) {
	mediatest.ProfileRate()
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("players=%d", n), func(b *testing.B) { benchPlayerMemory(b, n) })
	}
}

func benchPlayerMemory(b *testing.B, n int) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := hub.New(hub.DefaultOptions(), log)
	fh := New(h, log)
	fh.SetPoller(mediatest.Poller(b))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: fh}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close(); fh.Close(); h.Close() })
	p, err := h.Publish(hub.Key{Vhost: hub.DefaultVhost, App: "live", Name: "s"})
	if err != nil {
		b.Fatal(err)
	}
	mediatest.FeedPlayers(b, p)
	mediatest.MeasurePlayers(b, "TestPlayersHelper", playersEnv, ln.Addr().String(), n)
}
