package httpflv

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"streamedge/media/hub"
	"streamedge/media/mediatest"
)

const playersEnv = "HTTPFLV_BENCH_PLAYERS"

// TestPlayersHelper is BenchmarkPlayerMemory's client process: $HTTPFLV_BENCH_PLAYERS
// is "ADDR N"; it opens N HTTP-FLV plays of /live/s.flv, says each plays
// once it has 32 KiB, and reads until every connection ends.
func TestPlayersHelper(t *testing.T) {
	addr, nStr, ok := strings.Cut(os.Getenv(playersEnv), " ")
	n, err := strconv.Atoi(nStr)
	if !ok || err != nil {
		t.Skip("only the client process of BenchmarkPlayerMemory")
	}
	done := make(chan struct{}, n)
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			defer func() { done <- struct{}{} }()
			if _, err := io.WriteString(c, "GET /live/s.flv HTTP/1.1\r\nHost: bench\r\n\r\n"); err != nil {
				return
			}
			if _, err := io.CopyN(io.Discard, c, 32<<10); err != nil {
				return
			}
			mediatest.SayPlaying()
			io.Copy(io.Discard, c)
		}()
	}
	for range n {
		<-done
	}
}

// BenchmarkPlayerMemory measures what an HTTP-FLV player costs the server:
// N real plays through a real http.Server of one stream, their clients in
// another process. It reports the Go heap and stacks in use per player
// (after a collection) and goroutines per player. With
// $PLAYER_HEAP_PROFILE set it writes a heap profile there at the 1,000.
func BenchmarkPlayerMemory(b *testing.B) {
	if os.Getenv("PLAYER_HEAP_PROFILE") != "" {
		runtime.MemProfileRate = 64
	}
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("players=%d", n), func(b *testing.B) { benchPlayerMemory(b, n) })
	}
}

func benchPlayerMemory(b *testing.B, n int) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := hub.New(hub.DefaultOptions(), log)
	fh := New(h, log)
	fh.SetPoller(mediatest.Poller(b)) // as a worker's
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
