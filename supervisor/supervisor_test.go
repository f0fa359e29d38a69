package supervisor

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"streamedge/configs"
	"streamedge/ipc"
)

// childEnv makes the test binary act as a misbehaving worker when the
// master re-executes it (tableflip's trick).
const childEnv = "STREAMEDGE_SUPERVISOR_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "garbage" {
		garbageWorker()
		return
	}
	os.Exit(m.Run())
}

// garbageWorker writes bytes that are no IPC frame, then waits to be killed.
func garbageWorker() {
	files, err := ipc.InheritedFiles()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	files["ipc"].Write([]byte("\xff\xff\xff\xffthis is not a frame"))
	time.Sleep(time.Minute)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestWorkerSendingGarbageIsKilledAndRestarted(t *testing.T) {
	t.Setenv(childEnv, "garbage")
	cfg := configs.Default()
	cfg.Workers = 1
	cfg.Listen.RTMP, cfg.Listen.HTTP, cfg.Listen.API = "127.0.0.1:0", "127.0.0.1:0", ""
	var logs syncBuffer
	m, err := New(Options{Config: cfg, Log: slog.New(slog.NewTextHandler(&logs, nil)), Executable: os.Args[0]})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		snap, err := m.Snapshot(ctx)
		if err != nil {
			t.Fatalf("master stopped answering: %v", err)
		}
		if snap.Workers[0].Restarts >= 1 && strings.Contains(logs.String(), "worker ipc failed, killing it") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the garbage worker was not dropped and restarted: %+v\n%s", snap.Workers, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestRegistry(t *testing.T) {
	r := newRegistry()
	steps := []struct {
		op     string
		stream string
		slot   uint64
		want   bool
		owner  uint64
	}{
		{"claim", "v/live/a", 0, true, 0},
		{"claim", "v/live/a", 1, false, 0}, // taken on another worker
		{"claim", "v/live/a", 0, true, 0},  // the owner may claim again
		{"release", "v/live/a", 1, false, 0},
		{"claim", "v/live/b", 1, true, 1},
		{"release", "v/live/a", 0, true, 0},
		{"claim", "v/live/a", 1, true, 1},
	}
	for i, st := range steps {
		var got bool
		var owner uint64
		switch st.op {
		case "claim":
			owner, got = r.claim(st.stream, st.slot)
		case "release":
			got = r.release(st.stream, st.slot)
			owner = st.owner
		}
		if got != st.want || owner != st.owner {
			t.Fatalf("step %d %s %s by %d: got %v owner %d, want %v owner %d", i, st.op, st.stream, st.slot, got, owner, st.want, st.owner)
		}
	}
	if gone := r.drop(1); len(gone) != 2 || gone[0] != "v/live/a" || gone[1] != "v/live/b" {
		t.Fatalf("dropSlot(1) = %v", gone)
	}
	if _, ok := r.owner("v/live/a"); ok {
		t.Fatal("stream of a dead worker still owned")
	}
}

func TestRestartDelay(t *testing.T) {
	tests := []struct {
		crashes int
		want    time.Duration
	}{
		{0, 100 * time.Millisecond},
		{1, 200 * time.Millisecond},
		{3, 800 * time.Millisecond},
		{8, 25600 * time.Millisecond},
		{9, 30 * time.Second},
		{100, 30 * time.Second},
	}
	for _, tt := range tests {
		if got := restartDelay(tt.crashes); got != tt.want {
			t.Errorf("restartDelay(%d) = %v, want %v", tt.crashes, got, tt.want)
		}
	}
}
