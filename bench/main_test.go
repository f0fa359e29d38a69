package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// serverBinary is streamedge, built once from this repository for the tests
// that need a real server (and `streamedge bench` for exit codes).
var serverBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "streamedge-bench-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	serverBinary = filepath.Join(dir, "streamedge")
	if err := buildServer(serverBinary); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildServer builds ./cmd/streamedge from the module root, wherever the
// tests run from.
func buildServer(out string) error {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	cmd := exec.Command("go", "build", "-o", out, "./cmd/streamedge")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building streamedge: %v\n%s", err, b)
	}
	return nil
}

// testServer is a streamedge process with its log lines kept.
type testServer struct {
	*Server
	logs *logLines
}

func startTestServer(t *testing.T, workers int, api bool) *testServer {
	t.Helper()
	logs := &logLines{added: make(chan struct{})}
	// Without merged writes every write is one message, so what a client
	// counted matches what the server logged to the byte, even for a client
	// that leaves with a write in flight, and 5 s runs measure bitrate exactly.
	srv, err := StartServer(context.Background(), ServerOptions{Path: serverBinary, Workers: workers, API: api, OnLog: logs.add,
		ExtraYAML: "play:\n  mw_latency: 0\n"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Stop()
		if t.Failed() {
			t.Logf("server log tail:\n%s", srv.Log())
		}
	})
	return &testServer{srv, logs}
}

// publish runs a synthetic publisher to the server until the test ends.
func (s *testServer) publish(t *testing.T, stream string, bitrate float64) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := Publish(ctx, PublishConfig{URL: "rtmp://" + s.RTMP + "/live/" + stream, Publishers: 1, Synthetic: bitrate}); err != nil {
			t.Error(err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

func (s *testServer) url(proto, stream string) string {
	if proto == ProtoRTMP {
		return "rtmp://" + s.RTMP + "/live/" + stream
	}
	return "http://" + s.HTTP + "/live/" + stream + ".flv"
}

// logLines keeps the server's JSON log lines and wakes waiters on each.
type logLines struct {
	mu    sync.Mutex
	lines []map[string]any
	added chan struct{}
}

func (l *logLines) add(line map[string]any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
	close(l.added)
	l.added = make(chan struct{})
}

// waitCount waits until at least n lines with msg have been logged and
// returns them.
func (l *logLines) waitCount(t *testing.T, msg string, n int, d time.Duration) []map[string]any {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		var found []map[string]any
		for _, line := range l.lines {
			if line["msg"] == msg {
				found = append(found, line)
			}
		}
		added := l.added
		l.mu.Unlock()
		if len(found) >= n {
			return found
		}
		select {
		case <-added:
		case <-deadline.C:
			t.Fatalf("%d %q log lines after %v, want %d", len(found), msg, d, n)
		}
	}
}
