package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"streamedge/configs"
	"streamedge/ipc"
	"streamedge/media/hub"
)

// nopOutput is a log output with nothing to reopen.
type nopOutput struct{}

func (nopOutput) Reopen() error       { return nil }
func (nopOutput) SetLevel(slog.Level) {}
func (nopOutput) Close() error        { return nil }

// startCycle runs a worker's loop on real listeners, with the test as its
// master at the other end of the IPC socket pair.
func startCycle(t *testing.T, cfg *configs.Config) (*Worker, *ipc.Conn, <-chan error) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	w := New(cfg, log)
	rtmpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	relayLn, err := net.Listen("unix", filepath.Join(t.TempDir(), "relay.sock"))
	if err != nil {
		t.Fatal(err)
	}
	w.Listen(Listeners{"rtmp": rtmpLn, relaySocket: relayLn})
	master, workerEnd, err := ipc.Socketpair()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { master.Close() })
	conn, err := ipc.FileConn(workerEnd)
	if err != nil {
		t.Fatal(err)
	}
	pr := &cycle{conn: conn, w: w, cfg: cfg, log: log, logOut: nopOutput{}, link: newHostLink(conn, w, relayLn.Addr().String(), log)}
	w.hub.SetHost(pr.link)
	done := make(chan error, 1)
	go func() { done <- pr.run(context.Background()) }()
	if m, err := master.Receive(); err != nil || m.Kind() != ipc.KindReady {
		t.Fatalf("worker said %v (%v), want ready", m, err)
	}
	return w, master, done
}

func TestDrainEnds(t *testing.T) {
	tests := []struct {
		name     string
		sessions int
		want     error
	}{
		{"no sessions left: done at once", 0, errDrained},
		{"sessions outlive the grace: closed", 2, errGraceOver},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := configs.Default()
			cfg.GraceFinalWait = configs.Duration(300 * time.Millisecond)
			w, master, done := startCycle(t, cfg)
			// Connections that never finish the handshake are sessions a
			// drain waits for (the handshake timeout is 10 s).
			for range tt.sessions {
				c, err := net.Dial("tcp", w.ls["rtmp"].Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
			}
			for deadline := time.Now().Add(5 * time.Second); w.Sessions() != int64(tt.sessions); time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("%d sessions open, want %d", w.Sessions(), tt.sessions)
				}
			}
			start := time.Now()
			if err := master.Send(&ipc.Command{Name: ipc.CmdDrain, Reason: "test"}); err != nil {
				t.Fatal(err)
			}
			select {
			case got := <-done:
				if !errors.Is(got, tt.want) {
					t.Fatalf("stopped with %v, want %v", got, tt.want)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the drain never stopped the worker")
			}
			if tt.want == errGraceOver && time.Since(start) < 300*time.Millisecond {
				t.Fatalf("closed the sessions before the grace was over")
			}
			if n := w.Sessions(); n != 0 {
				t.Fatalf("%d sessions left open after the worker stopped", n)
			}
		})
	}
}

func TestDrainEndsAtTheLastSession(t *testing.T) {
	cfg := configs.Default()
	cfg.GraceFinalWait = configs.Duration(time.Minute)
	w, master, done := startCycle(t, cfg)
	c, err := net.Dial("tcp", w.ls["rtmp"].Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); w.Sessions() != 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the connection was never accepted")
		}
	}
	if err := master.Send(&ipc.Command{Name: ipc.CmdDrain, Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-done:
		t.Fatalf("stopped with %v while a session was open", got)
	case <-time.After(100 * time.Millisecond):
	}
	c.Close()
	select {
	case got := <-done:
		if !errors.Is(got, errDrained) {
			t.Fatalf("stopped with %v, want %v", got, errDrained)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the last session left and the drain went on")
	}
}

func TestLoadReportKeepsTheBusiestStreams(t *testing.T) {
	w := New(configs.Default(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	s, err := newLoadSampler(w)
	if err != nil {
		t.Fatal(err)
	}
	watched := map[string]bool{}
	for i := range maxStreamsReported + 10 {
		key := hub.Key{Vhost: hub.DefaultVhost, App: "live", Name: fmt.Sprint("s", i)}
		if _, err := w.hub.Publish(key); err != nil {
			t.Fatal(err)
		}
		if i%1000 == 999 {
			if _, err := w.hub.Subscribe(key, true); err != nil {
				t.Fatal(err)
			}
			watched[key.String()] = true
		}
	}
	l := s.sample(time.Now().Add(time.Second))
	if l.CPUPercent < 0 || l.RSSBytes == 0 {
		t.Fatalf("load report: CPU %v, RSS %d", l.CPUPercent, l.RSSBytes)
	}
	if len(l.Streams) != maxStreamsReported {
		t.Fatalf("%d streams reported, want the cap %d", len(l.Streams), maxStreamsReported)
	}
	for _, st := range l.Streams[:len(watched)] {
		if !watched[st.Stream] || st.Players != 1 {
			t.Fatalf("the report leads with %+v, want the watched streams first", st)
		}
	}
	if _, err := ipc.Marshal(l); err != nil {
		t.Fatalf("a capped report does not fit a frame: %v", err)
	}
}
