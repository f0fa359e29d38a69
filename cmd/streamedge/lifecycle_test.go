package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"streamedge/media/mediatest"
	"streamedge/media/rtmp"
	"streamedge/supervisor"
)

func pids(ws []supervisor.WorkerInfo) string {
	var out []string
	for _, w := range ws {
		out = append(out, fmt.Sprintf("%d:%d:%s", w.Slot, w.PID, w.State))
	}
	return strings.Join(out, " ")
}

// attachPlayers starts n RTMP players that record gaps.
func attachPlayers(t *testing.T, s *server, stream string, n int, stop <-chan struct{}) []*gapWatcher {
	t.Helper()
	var ws []*gapWatcher
	for range n {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		src, err := playRTMP(ctx, s.rtmpURL(stream))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, watchGaps(src, stop))
	}
	return ws
}

// checkUnchanged asserts the same worker processes and players that never
// stopped.
func checkUnchanged(t *testing.T, s *server, before []supervisor.WorkerInfo, players []*gapWatcher) {
	t.Helper()
	time.Sleep(2 * time.Second) // players must keep receiving after the reload, not only before
	if after := s.workers(t); pids(after) != pids(before) {
		t.Fatalf("workers changed: %s -> %s", pids(before), pids(after))
	}
	checkUninterrupted(t, players, 25)
}

func checkUninterrupted(t *testing.T, ws []*gapWatcher, minFrames int) {
	t.Helper()
	for i, w := range ws {
		w.mu.Lock()
		if w.err != nil || w.longest > 1500*time.Millisecond || w.frames < minFrames {
			t.Errorf("player %d: %d frames, longest gap %v, err %v", i, w.frames, w.longest, w.err)
		}
		w.mu.Unlock()
	}
}

// startWithPlayers runs a two-worker server with yaml, an ffmpeg publisher
// of stream and four RTMP players watching for gaps.
func startWithPlayers(t *testing.T, yaml, stream string) (*server, []supervisor.WorkerInfo, []*gapWatcher) {
	t.Helper()
	mediatest.RequireFFmpeg(t)
	s := startServer(t, yaml)
	before := s.waitWorkers(t, 2, nil)
	publishFFmpeg(t, s, stream)
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	return s, before, attachPlayers(t, s, stream, 4, stop)
}

func TestBadReloadChangesNothing(t *testing.T) {
	s, before, players := startWithPlayers(t, "workers: 2\n", "steady")
	bad := []struct{ yaml, want string }{
		{"workers: 3\nrtmp: [unclosed\n", ":8: yaml: did not find expected"},
		{"workers: 3\nplay:\n  gop_cahce: false\n", `:10: unknown key "play.gop_cahce"`},
		{"workers: 3\nrtmp:\n  chunk_size: 99\n", ":10: rtmp.chunk_size must be between 128 and 65536, got 99"},
	}
	for i, b := range bad {
		s.reload(b.yaml)
		s.logs.wait(t, "reload failed, configuration unchanged", func(l map[string]any) bool {
			return strings.Contains(fmt.Sprint(l["err"]), s.cfgPath+b.want)
		}, 5*time.Second)
		if got := s.metric(t, "streamedge_reloads_total", map[string]string{"result": "failed"}); got != float64(i+1) {
			t.Fatalf("failed reloads metric = %v after %d bad reloads", got, i+1)
		}
	}
	checkUnchanged(t, s, before, players)
}

func TestLiveReloadKeepsWorkersAndSessions(t *testing.T) {
	s, before, players := startWithPlayers(t, "workers: 2\n", "live")
	s.reload("workers: 2\nrtmp:\n  chunk_size: 4096\n")
	s.logs.wait(t, "reload applied", nil, 5*time.Second)
	s.logs.waitCount(t, "worker reloaded", 2, 5*time.Second)
	// Every worker takes the new chunk size for new connections.
	for i := range 8 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := rtmp.Dial(ctx, s.rtmpURL("live"))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if got := c.PeerChunkSize(); got != 4096 {
			t.Fatalf("connection %d after reload: server chunk size %d, want 4096", i, got)
		}
		c.Close()
	}
	checkUnchanged(t, s, before, players)
}

func TestReloadWorkerCountRefusesNoOne(t *testing.T) {
	mediatest.RequireFFmpeg(t)
	s := startServer(t, "workers: 2\ngrace_final_wait: 2s\n")
	s.waitWorkers(t, 2, nil)
	publishFFmpeg(t, s, "scale")
	stop := make(chan struct{})
	defer close(stop)
	early := attachPlayers(t, s, "scale", 4, stop)

	// 300 connection attempts spread over the two reloads.
	var wg sync.WaitGroup
	failures := make(chan error, 300)
	probing := make(chan struct{})
	go func() {
		defer close(probing)
		for i := range 300 {
			time.Sleep(20 * time.Millisecond)
			wg.Go(func() {
				if err := probeConnection(s, i%2 == 0); err != nil {
					failures <- fmt.Errorf("attempt %d: %w", i, err)
				}
			})
		}
	}()
	time.Sleep(time.Second)
	s.reload("workers: 3\ngrace_final_wait: 2s\n")
	s.waitWorkers(t, 3, nil)
	// Players that join now may land on the new worker, which is retired next.
	late := attachPlayers(t, s, "scale", 6, stop)
	time.Sleep(time.Second)
	s.reload("workers: 2\ngrace_final_wait: 2s\n")
	s.logs.wait(t, "worker retired", nil, 10*time.Second)
	<-probing
	wg.Wait()
	close(failures)
	for err := range failures {
		t.Error(err)
	}
	s.waitWorkers(t, 2, func(ws []supervisor.WorkerInfo) bool { return len(ws) == 2 })
	checkUninterrupted(t, early, 100)
	// The late players either still stream or were closed by the retired
	// worker; a closed one gets the stream again at once by reconnecting.
	for i, w := range late {
		w.mu.Lock()
		err := w.err
		w.mu.Unlock()
		if err == nil {
			continue
		}
		if rep := watch(fmt.Sprint("reconnected ", i), waitPlayable(t, playFLV, s.flvURL("scale")), 25); rep.err != nil {
			t.Fatalf("late player %d (closed: %v) could not reconnect: %v", i, err, rep.err)
		}
	}
}

func TestSIGQUITQuitsGracefully(t *testing.T) {
	s, _, players := startWithPlayers(t, "workers: 2\ngrace_start_wait: 1s\ngrace_final_wait: 2s\n", "bye")
	start := time.Now()
	s.cmd.Process.Signal(syscall.SIGQUIT)
	// Still serving during grace_start_wait.
	time.Sleep(300 * time.Millisecond)
	if err := probeConnection(s, true); err != nil {
		t.Fatalf("during grace_start_wait: %v", err)
	}
	select {
	case <-s.exited:
	case <-time.After(1*time.Second + 2*time.Second + time.Second):
		t.Fatal("not gone after grace_start_wait + grace_final_wait + 1 s")
	}
	took := time.Since(start)
	if s.exitErr != nil {
		t.Fatalf("exit: %v", s.exitErr)
	}
	if took < time.Second {
		t.Fatalf("quit after %v, before grace_start_wait", took)
	}
	for i, w := range players {
		w.mu.Lock()
		if w.frames < 10 {
			t.Errorf("player %d got %d frames before the quit", i, w.frames)
		}
		w.mu.Unlock()
	}
}

func TestSIGUSR1ReopensTheLogFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	logPath := filepath.Join(dir, "streamedge.log")
	s := startServerLoggingTo(t, logPath)
	s.waitWorkers(t, 2, nil)
	rotated := logPath + ".1"
	if err := os.Rename(logPath, rotated); err != nil {
		t.Fatal(err)
	}
	s.cmd.Process.Signal(syscall.SIGUSR1)
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(logPath)
		if strings.Contains(string(b), "log files reopened") && strings.Count(string(b), "\n") >= 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new log file after SIGUSR1; it has %q", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestReloadToNewAddressesReplacesWorkersOneByOne(t *testing.T) {
	s, before, players := startWithPlayers(t, "workers: 2\ngrace_final_wait: 2s\n", "moving")
	// New addresses: "localhost:0" is not the "127.0.0.1:0" the server
	// started with, so the kernel gives new ports.
	if err := os.WriteFile(s.cfgPath, []byte("listen:\n  rtmp: localhost:0\n  http: localhost:0\n  api: "+s.api+
		"\nlog:\n  level: debug\n  format: json\nworkers: 2\ngrace_final_wait: 2s\n"+balanceYAML("")), 0o644); err != nil {
		t.Fatal(err)
	}
	s.cmd.Process.Signal(syscall.SIGHUP)
	applied := s.logs.wait(t, "reload applied", nil, 5*time.Second)
	if applied["listen_changed"] != true || applied["rtmp"] == s.rtmp {
		t.Fatalf("reload did not move the listeners: %v", applied)
	}
	s.logs.waitCount(t, "worker retired", 2, 10*time.Second)
	after := s.waitWorkers(t, 2, nil)
	for i := range after {
		if after[i].PID == before[i].PID {
			t.Fatalf("slot %d kept its worker: %s -> %s", i, pids(before), pids(after))
		}
	}
	// The players of the old workers were kept until their grace ended.
	for i, w := range players {
		w.mu.Lock()
		if w.frames < 25 {
			t.Errorf("player %d got %d frames before its worker retired", i, w.frames)
		}
		w.mu.Unlock()
	}
	// The new addresses serve the stream, which the publisher republishes
	// after its worker retired.
	s.rtmp, s.http = applied["rtmp"].(string), applied["http"].(string)
	publishFFmpeg(t, s, "moved")
	if rep := watch("player", waitPlayable(t, playFLV, s.flvURL("moved")), 25); rep.err != nil {
		t.Fatal(rep.err)
	}
}
