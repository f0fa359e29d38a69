package hub

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"streamedge/media/flv"
)

// The players' clients of BenchmarkPlayerWrite run in a child process (this
// test binary again, as TestDrainHelper), so the CPU the benchmark reads
// from getrusage is the server side's alone.
const drainEnv = "HUB_BENCH_DRAIN"

// TestDrainHelper is the benchmark's client process: it connects to the
// address in $HUB_BENCH_DRAIN the given number of times and reads and
// discards until each connection ends. It does nothing in a normal run.
func TestDrainHelper(t *testing.T) {
	addr, n, ok := parseDrainEnv(os.Getenv(drainEnv))
	if !ok {
		t.Skip("only the client process of BenchmarkPlayerWrite")
	}
	done := make(chan struct{}, n)
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		go func() { io.Copy(io.Discard, c); done <- struct{}{} }()
	}
	for range n {
		<-done
	}
}

func parseDrainEnv(v string) (addr string, n int, ok bool) {
	for i := len(v) - 1; i >= 0; i-- {
		if v[i] == ' ' {
			n, err := strconv.Atoi(v[i+1:])
			return v[:i], n, err == nil && n > 0
		}
	}
	return "", 0, false
}

// goroutineWriter is the write path the loop replaces, for comparison: the
// player's own goroutine (Run's other path) and a deadline on every write.
type goroutineWriter struct {
	nc    net.Conn
	vecs  [][]byte
	out   net.Buffers
	wrote *atomic.Int64
}

func (w *goroutineWriter) WriteBatch(msgs []*Msg) error {
	vecs := w.vecs[:0]
	for _, m := range msgs {
		vecs = append(vecs, m.FLVHeader(), m.Payload, m.FLVTrailer())
	}
	w.vecs, w.out = vecs, vecs
	w.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := w.out.WriteTo(w.nc)
	w.wrote.Add(int64(len(msgs)))
	return err
}

// countingWriter is a sockWriter whose deliveries add to a shared count.
type countingWriter struct {
	*sockWriter
	wrote *atomic.Int64
}

func (w countingWriter) Wrote(kept []*Msg) { w.wrote.Add(int64(len(kept))) }

// BenchmarkPlayerWrite feeds N players on real loopback sockets from one
// stream, the old way (a goroutine, timer and deadline per player) and
// through the stream's writer loop, with each player's own iovecs
// (loop-own) and with the pass's shared bytes (loop), and reports the server's user and
// system CPU per player write and the memory each player adds. One
// iteration is one merge period's worth of a 2 Mbit/s stream (8 frames of
// 8000 bytes), written to every player.
func BenchmarkPlayerWrite(b *testing.B) {
	for _, players := range []int{100, 1000} {
		for _, mode := range []string{"goroutine", "loop-own", "loop"} {
			b.Run(fmt.Sprintf("mode=%s/players=%d", mode, players), func(b *testing.B) {
				benchPlayerWrite(b, mode, players)
			})
		}
	}
}

func benchPlayerWrite(b *testing.B, mode string, players int) {
	opts := DefaultOptions()
	opts.MergedWrite = 5 * time.Millisecond
	h := newTestHub(opts)
	key := Key{DefaultVhost, "live", "s"}
	p, err := h.Publish(key)
	if err != nil {
		b.Fatal(err)
	}
	const perTick, size = 8, 8000
	p.Write(flv.TagVideo, 0, frame(0, size))
	conns := drainedConns(b, players)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wrote atomic.Int64
	before := memInUse()
	ended := make(chan struct{}, players)
	for _, nc := range conns {
		sub, err := h.Subscribe(key, true)
		if err != nil {
			b.Fatal(err)
		}
		var w BatchWriter = &goroutineWriter{nc: nc, wrote: &wrote}
		if mode != "goroutine" {
			sw := newSockWriter(nc)
			sw.own = mode == "loop-own"
			w = countingWriter{sw, &wrote}
		}
		go func() { sub.Run(ctx, w); sub.Close(); ended <- struct{}{} }()
	}
	waitWrote(b, &wrote, int64(players))
	perPlayer := float64(memInUse()-before) / float64(players)
	want := int64(players)
	ts := uint32(0)
	var ru0, ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	b.ResetTimer()
	for range b.N {
		for range perTick {
			ts += 33
			p.Write(flv.TagVideo, ts, frame(1, size))
		}
		want += int64(players * perTick)
		waitWrote(b, &wrote, want)
	}
	b.StopTimer()
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	writes := float64(b.N * players)
	b.ReportMetric(float64(tvDiff(ru1.Utime, ru0.Utime).Microseconds())/writes, "user-µs/write")
	b.ReportMetric(float64(tvDiff(ru1.Stime, ru0.Stime).Microseconds())/writes, "sys-µs/write")
	b.ReportMetric(perPlayer, "B/player")
	cancel()
	for range players {
		<-ended
	}
}

// drainedConns returns n server-side connections whose clients, in a child
// process, read everything.
func drainedConns(b *testing.B, n int) []net.Conn {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDrainHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d", drainEnv, ln.Addr(), n))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	conns := make([]net.Conn, 0, n)
	b.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
		cmd.Wait()
	})
	for range n {
		c, err := ln.Accept()
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
	}
	return conns
}

// waitWrote waits until the players have been written want messages in all.
func waitWrote(b *testing.B, wrote *atomic.Int64, want int64) {
	deadline := time.Now().Add(30 * time.Second)
	for wrote.Load() < want {
		if time.Now().After(deadline) {
			b.Fatalf("players got %d messages, want %d", wrote.Load(), want)
		}
		time.Sleep(time.Millisecond)
	}
}

func memInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse
}

func tvDiff(a, b syscall.Timeval) time.Duration {
	return time.Duration(a.Nano() - b.Nano())
}
