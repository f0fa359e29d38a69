package worker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"streamedge/configs"
	"streamedge/ipc"
)

// echoServer is a UDP protocol server: it sends every datagram back.
type echoServer struct{ sock string }

func (e *echoServer) name() string { return e.sock }
func (e *echoServer) serve(context.Context, net.Listener) error {
	return errors.New("not a TCP server")
}
func (e *echoServer) report(*ipc.Load)       {}
func (e *echoServer) sessions() []ipc.Client { return nil }
func (e *echoServer) open() int64            { return 0 }
func (e *echoServer) idle() <-chan struct{}  { c := make(chan struct{}); close(c); return c }
func (e *echoServer) drain()                 {}
func (e *echoServer) close()                 {}
func (e *echoServer) reload(*configs.Config) {}
func (e *echoServer) servePacket(ctx context.Context, pc net.PacketConn) error {
	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		pc.WriteTo(buf[:n], from)
	}
}

var _ packetServer = (*echoServer)(nil)

// inherited makes the files the master would pass: TCP listeners for the
// named servers, a UDP socket for rtc.
func inherited(t *testing.T, tcp []string, udp string) map[string]*os.File {
	t.Helper()
	files := map[string]*os.File{}
	for _, name := range tcp {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		f, err := ln.(*net.TCPListener).File()
		ln.Close()
		if err != nil {
			t.Fatal(err)
		}
		files[name] = f
	}
	if udp != "" {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		f, err := pc.(*net.UDPConn).File()
		pc.Close()
		if err != nil {
			t.Fatal(err)
		}
		files[udp] = f
	}
	return files
}

func TestWorkerServesAnInheritedUDPSocket(t *testing.T) {
	w := New(configs.Default(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	w.servers = append(w.servers, &echoServer{sock: "rtc"})
	ls, err := adoptListeners(w, inherited(t, []string{"rtmp", "http"}, "rtc"), t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 3 || ls["rtmp"] == nil || ls["http"] == nil || ls[relaySocket] == nil || w.packets["rtc"] == nil {
		t.Fatalf("adopted listeners %v, packet conns %v", ls, w.packets)
	}
	w.Listen(ls)
	addr := w.packets["rtc"].LocalAddr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("stun?")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "stun?" {
		t.Fatalf("echo %q, %v", buf[:n], err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not end with its context")
	}
}

func TestAdoptRefusesASocketOfTheWrongKind(t *testing.T) {
	w := New(configs.Default(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	w.servers = append(w.servers, &echoServer{sock: "rtc"})
	files := inherited(t, []string{"rtmp", "http", "rtc"}, "") // rtc is TCP here
	if _, err := adoptListeners(w, files, t.TempDir(), 0); err == nil || !strings.Contains(err.Error(), "rtc socket is not UDP") {
		t.Fatalf("a TCP socket adopted for a UDP server: %v", err)
	}
	if _, err := adoptListeners(New(configs.Default(), slog.New(slog.NewTextHandler(io.Discard, nil))),
		inherited(t, []string{"rtmp"}, ""), t.TempDir(), 0); err == nil || !strings.Contains(err.Error(), "no http socket") {
		t.Fatalf("a missing socket: %v", err)
	}
}
