package httpflv_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"runtime"
	"syscall"
	"testing"
	"time"

	"streamedge/media/handoff"
	"streamedge/media/hub"
	"streamedge/media/mediatest/numbered"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkMove moves HTTP-FLV players back and forth between two
// "workers" in this process as fast as one mover goes (one sendmsg, one
// state frame and one answer each). cpu-us/move is the process's CPU per
// move: both workers, the players' readers and the feed included, so an
// upper bound on what the two workers spend.
func BenchmarkMove(b *testing.B) {
	a, c := startSide(b, "a"), startSide(b, "b")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	numbered.Feed(b, ctx, hub.Key{Vhost: hub.DefaultVhost, App: "live", Name: "s"}, a.hub, c.hub)
	const players = 50
	for range players {
		resp, err := http.Get("http://" + a.addr + "/live/s.flv")
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		go io.Copy(io.Discard, resp.Body)
	}
	toB, err := handoff.Dial(ctx, c.socket)
	if err != nil {
		b.Fatal(err)
	}
	defer toB.Close()
	toA, err := handoff.Dial(ctx, a.socket)
	if err != nil {
		b.Fatal(err)
	}
	defer toA.Close()
	b.ResetTimer()
	start := cpuTime()
	for i := 0; i < b.N; i++ {
		// All players go a -> b, then all b -> a, and so on.
		from, to := a.flv, toB
		if (i/players)%2 == 1 {
			from, to = c.flv, toA
		}
		for {
			_, err := handoff.Move(ctx, from, to, "bench")
			if err == nil {
				break
			}
			if !errors.Is(err, handoff.ErrNoPlayer) {
				b.Fatalf("move %d: %v", i, err)
			}
			runtime.Gosched() // the last adopted players have not started yet
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-start).Microseconds())/float64(b.N), "cpu-us/move")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "moves/s")
}
