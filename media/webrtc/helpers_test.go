package webrtc

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"testing"
	"time"

	"streamedge/media/hub"
)

func testLog() *slog.Logger {
	if os.Getenv("WEBRTC_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// testServer is a Server on a loopback UDP socket behind an httptest server.
type testServer struct {
	srv  *Server
	hub  *hub.Hub
	http *httptest.Server
	url  string
	udp  *net.UDPConn
}

func startServer(t *testing.T, cfg Config) *testServer {
	t.Helper()
	baseline := runtime.NumGoroutine()
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	opts := hub.DefaultOptions()
	h := hub.New(opts, testLog())
	srv, err := New(h, udp, cfg, testLog())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- srv.Run(ctx) }()
	hs := httptest.NewServer(srv.Handler(http.NotFoundHandler()))
	ts := &testServer{srv: srv, hub: h, http: hs, url: hs.URL, udp: udp}
	t.Cleanup(func() {
		hs.Close()
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("Run: %v", err)
		}
		h.Close()
		expectGoroutines(t, baseline)
	})
	return ts
}

// expectGoroutines waits for the goroutine count to fall back to what it
// was: every session's goroutines end with the server.
func expectGoroutines(t *testing.T, baseline int) {
	t.Helper()
	http.DefaultClient.CloseIdleConnections()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > baseline {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Errorf("%d goroutines left, %d before:\n%s", runtime.NumGoroutine(), baseline, buf[:n])
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
