package mediatest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"streamedge/media/readpoll"
)

// PlayerProcess runs this test binary again as a process of clients: the
// test named helper, with $env set to arg. The server under test then has
// the process to itself, so what a benchmark reads of its memory and CPU is
// the server's alone. A client prints one line once it plays; Wait counts
// them. The process ends when its connections do, or with the test.
type PlayerProcess struct {
	lines chan string
	cmd   *exec.Cmd
}

// StartPlayerProcess starts the client process.
func StartPlayerProcess(tb testing.TB, helper, env, arg string) *PlayerProcess {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+helper+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env+"="+arg)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	p := &PlayerProcess{lines: make(chan string, 64), cmd: cmd}
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	tb.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return p
}

// Wait waits until n clients have said they play, for up to d.
func (p *PlayerProcess) Wait(tb testing.TB, n int, d time.Duration) {
	tb.Helper()
	deadline := time.After(d)
	for got := 0; got < n; {
		select {
		case line, ok := <-p.lines:
			if !ok {
				tb.Fatalf("client process ended after %d of %d players", got, n)
			}
			if line == PlayingLine {
				got++
			}
		case <-deadline:
			tb.Fatalf("%d of %d players playing after %v", got, n, d)
		}
	}
}

// PlayingLine is what a client of a PlayerProcess prints once it plays.
const PlayingLine = "playing"

// SayPlaying is a client's line to its PlayerProcess.
func SayPlaying() { fmt.Println(PlayingLine) }

// Mem is what a server holds, as BenchmarkPlayerMemory measures it.
type Mem struct {
	Heap, Stack uint64 // Go heap and goroutine stacks in use after a collection
	RSS         uint64 // the process's resident set, as bench compare reads a server's
	Goroutines  int
}

// MemInUse reads Mem.
func MemInUse() Mem {
	runtime.GC()
	runtime.GC() // the first may leave what finalizers freed
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return Mem{ms.HeapInuse, ms.StackInuse, rss(), runtime.NumGoroutine()}
}

// rss is VmRSS of /proc/self/status, in bytes; 0 where there is none.
func rss() uint64 {
	b, _ := os.ReadFile("/proc/self/status")
	_, after, ok := strings.Cut(string(b), "VmRSS:")
	if !ok {
		return 0
	}
	kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(strings.SplitN(after, "\n", 2)[0]), " kB"), 10, 64)
	return kb << 10
}

// PlayerClients is the body of a PlayerProcess's helper test: $env is
// "ADDR N"; it starts N players of the server at ADDR one after the other
// (start returns once one is connected and has asked to play), then runs
// each one's follow in a goroutine: follow reads until it plays, says so
// (SayPlaying), and reads until its connection ends. It skips the test in
// a normal run.
func PlayerClients(t *testing.T, env string, start func(addr string) (follow func(), err error)) {
	addr, nStr, ok := strings.Cut(os.Getenv(env), " ")
	n, err := strconv.Atoi(nStr)
	if !ok || err != nil {
		t.Skip("only the client process of a player memory benchmark")
	}
	done := make(chan struct{}, n)
	for range n {
		follow, err := start(addr)
		if err != nil {
			t.Fatal(err)
		}
		go func() { follow(); done <- struct{}{} }()
	}
	for range n {
		<-done
	}
}

// MeasurePlayers is a player memory benchmark's measurement: one player of
// the server at addr, for what every player shares, then n more through
// the helper test's PlayerProcess; it reports what the n added
// (ReportPerPlayer). With $PLAYER_HEAP_PROFILE set, it writes a heap
// profile there at 1,000 players (call ProfileRate first).
func MeasurePlayers(b *testing.B, helper, env, addr string, n int) {
	StartPlayerProcess(b, helper, env, addr+" 1").Wait(b, 1, time.Minute)
	before := MemInUse()
	StartPlayerProcess(b, helper, env, fmt.Sprintf("%s %d", addr, n)).Wait(b, n, 2*time.Minute)
	after := MemInUse()
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
	ReportPerPlayer(b, before, after, n)
}

// ProfileRate makes the heap profile of MeasurePlayers fine-grained when
// one is asked for; call it before the servers allocate.
func ProfileRate() {
	if os.Getenv("PLAYER_HEAP_PROFILE") != "" {
		runtime.MemProfileRate = 64
	}
}

// ReportPerPlayer reports what n players added from before to after:
// KiB of heap and stacks (and of each), and goroutines, per player.
func ReportPerPlayer(b *testing.B, before, after Mem, n int) {
	per := func(a, b uint64) float64 { return float64(int64(a)-int64(b)) / 1024 / float64(n) }
	b.ReportMetric(per(after.Heap+after.Stack, before.Heap+before.Stack), "KiB/player")
	b.ReportMetric(per(after.Heap, before.Heap), "heap-KiB/player")
	b.ReportMetric(per(after.Stack, before.Stack), "stack-KiB/player")
	b.ReportMetric(per(after.RSS, before.RSS), "rss-KiB/player")
	b.ReportMetric(float64(after.Goroutines-before.Goroutines)/float64(n), "goroutines/player")
}

// FeedPlayers publishes a 1.6 Mbit/s video stream to p until the test
// ends: 8000-byte frames every 40 ms, a keyframe every 2 s, so new players
// start on a keyframe, playing ones keep getting media, and what the hub
// holds of the stream stays the same size while a benchmark measures.
func FeedPlayers(tb testing.TB, p interface {
	Write(typeID uint8, timestamp uint32, payload []byte) error
}) {
	const video = 9 // FLV's tag type (mediatest cannot import flv, whose tests import it)
	stop := make(chan struct{})
	done := make(chan struct{})
	tb.Cleanup(func() { close(stop); <-done })
	frame := func(key bool) []byte {
		b := make([]byte, 8000)
		b[0], b[1] = 0x27, 1
		if key {
			b[0] = 0x17
		}
		return b
	}
	p.Write(video, 0, []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff})
	p.Write(video, 0, frame(true))
	go func() {
		defer close(done)
		tick := time.NewTicker(40 * time.Millisecond)
		defer tick.Stop()
		for n := uint32(1); ; n++ {
			select {
			case <-stop:
				return
			case <-tick.C:
				p.Write(video, n*40, frame(n%50 == 0))
			}
		}
	}()
}

// Poller runs a readpoll.Poller until the test ends.
func Poller(tb testing.TB) *readpoll.Poller {
	p, err := readpoll.New()
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("poller: %v", err)
		}
	})
	return p
}
