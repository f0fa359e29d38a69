package rtmp_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"streamedge/media/hub"
	"streamedge/media/mediatest"
	"streamedge/media/rtmp"
)

const playersEnv = "RTMP_BENCH_PLAYERS"

// TestPlayersHelper is BenchmarkPlayerMemory's client process: RTMP plays
// of live/s, each playing once it has had three media messages.
func TestPlayersHelper(t *testing.T) {
	mediatest.PlayerClients(t, playersEnv, func(addr string) (func(), error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c, err := rtmp.Dial(ctx, "rtmp://"+addr+"/live/s")
		if err == nil {
			err = c.Play(ctx)
		}
		if err != nil {
			return nil, err
		}
		return func() {
			for i := 0; ; i++ {
				if _, err := c.ReadMedia(); err != nil {
					return
				}
				if i == 2 {
					mediatest.SayPlaying()
				}
			}
		}, nil
	})
}

// BenchmarkPlayerMemory measures what an RTMP player costs the server: N
// real plays of one stream, waiting in a read poller as a worker's do,
// their clients in another process. It reports the Go heap and stacks in
// use per player (after a collection), each, the resident set, and
// goroutines per player. With $PLAYER_HEAP_PROFILE set it writes a heap
// profile there at the 1,000.
func BenchmarkPlayerMemory(b *testing.B) {
	mediatest.ProfileRate()
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("players=%d", n), func(b *testing.B) { benchPlayerMemory(b, n) })
	}
}

func benchPlayerMemory(b *testing.B, n int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := hub.New(hub.DefaultOptions(), log)
	srv := rtmp.NewServer(h, rtmp.Config{ChunkSize: 4096, HandshakeTimeout: 10 * time.Second, MaxMessageSize: 1 << 20}, log)
	srv.SetPoller(mediatest.Poller(b))
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { srv.Serve(ctx, ln); close(served) }()
	b.Cleanup(func() { cancel(); <-served; h.Close() })
	p, err := h.Publish(hub.Key{Vhost: hub.DefaultVhost, App: "live", Name: "s"})
	if err != nil {
		b.Fatal(err)
	}
	mediatest.FeedPlayers(b, p)
	mediatest.MeasurePlayers(b, "TestPlayersHelper", playersEnv, ln.Addr().String(), n)
}
