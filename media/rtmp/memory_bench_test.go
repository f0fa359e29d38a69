package rtmp_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"streamedge/media/hub"
	"streamedge/media/mediatest"
	"streamedge/media/rtmp"
)

const playersEnv = "RTMP_BENCH_PLAYERS"

// TestPlayersHelper is BenchmarkPlayerMemory's client process: $RTMP_BENCH_PLAYERS
// is "ADDR N"; it opens N RTMP plays of live/s, says each plays once it has
// had three media messages, and reads until every connection ends.
func TestPlayersHelper(t *testing.T) {
	addr, nStr, ok := strings.Cut(os.Getenv(playersEnv), " ")
	n, err := strconv.Atoi(nStr)
	if !ok || err != nil {
		t.Skip("only the client process of BenchmarkPlayerMemory")
	}
	done := make(chan struct{}, n)
	for range n {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		c, err := rtmp.Dial(ctx, "rtmp://"+addr+"/live/s")
		if err == nil {
			err = c.Play(ctx)
		}
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			defer func() { done <- struct{}{} }()
			for range 3 {
				if _, err := c.ReadMedia(); err != nil {
					return
				}
			}
			mediatest.SayPlaying()
			for {
				if _, err := c.ReadMedia(); err != nil {
					return
				}
			}
		}()
	}
	for range n {
		<-done
	}
}

// BenchmarkPlayerMemory measures what an RTMP player costs the server: N
// real plays of one stream, their clients in another process. It reports
// the Go heap and stacks in use per player (after a collection) and
// goroutines per player. With $PLAYER_HEAP_PROFILE set it writes a heap
// profile there at the 1,000.
func BenchmarkPlayerMemory(b *testing.B) {
	if os.Getenv("PLAYER_HEAP_PROFILE") != "" {
		runtime.MemProfileRate = 64
	}
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
	srv.SetPoller(mediatest.Poller(b)) // as a worker's
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { srv.Serve(ctx, ln); close(served) }()
	b.Cleanup(func() { cancel(); <-served; h.Close() })
	p, err := h.Publish(hub.Key{Vhost: hub.DefaultVhost, App: "live", Name: "s"})
	if err != nil {
		b.Fatal(err)
	}
	mediatest.FeedPlayers(b, p)
	// A first player makes what every player shares (the stream's writer
	// loop, the server's pools) exist before the baseline.
	mediatest.StartPlayerProcess(b, "TestPlayersHelper", playersEnv, ln.Addr().String()+" 1").Wait(b, 1, time.Minute)
	before := mediatest.MemInUse()
	mediatest.StartPlayerProcess(b, "TestPlayersHelper", playersEnv, fmt.Sprintf("%s %d", ln.Addr(), n)).Wait(b, n, 2*time.Minute)
	after := mediatest.MemInUse()
	if path := os.Getenv("PLAYER_HEAP_PROFILE"); path != "" && n == 1000 {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		pprof.WriteHeapProfile(f)
		f.Close()
	}
	for b.Loop() {
		// The figures are of the setup; the loop only satisfies the harness.
	}
	mediatest.ReportPerPlayer(b, before, after, n)
}
