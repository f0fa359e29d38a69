package worker

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// An HTTP server on a paused socket keeps serving once it is resumed.
func TestPausableListenerSurvivesPause(t *testing.T) {
	raw := listenFixedPort(t)
	events := make(chan bool, 8)
	ln := newPausableListener(raw, func(p bool) { events <- p })
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer srv.Close()
	get := func() {
		t.Helper()
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get("http://" + raw.Addr().String() + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	get()
	fd := sysfd(t, raw)
	if err := unix.Shutdown(fd, unix.SHUT_RD); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-events:
		if !p {
			t.Fatal("resume before pause")
		}
	case err := <-served:
		t.Fatalf("server ended on a paused socket: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("the pause was not seen")
	}
	if err := unix.Listen(fd, 128); err != nil {
		t.Fatal(err)
	}
	get()
	if p := <-events; p {
		t.Fatal("a second pause instead of the resume")
	}
	ln.Close()
	if err := <-served; !errors.Is(err, net.ErrClosed) && !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("serve after close: %v", err)
	}
}

// listenFixedPort listens on a free loopback port bound by number: a
// socket bound to port 0 loses its port when shut down.
func listenFixedPort(t *testing.T) net.Listener {
	t.Helper()
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		c.Control(func(fd uintptr) { err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1) })
		return err
	}}
	first, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	ln, err := lc.Listen(context.Background(), "tcp4", first.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func sysfd(t *testing.T, ln net.Listener) int {
	rc, err := ln.(*net.TCPListener).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var fd int
	rc.Control(func(f uintptr) { fd = int(f) })
	return fd
}
