package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"streamedge/configs"
	"streamedge/ipc"
)

// ErrNotByHand is what a worker started by a person says.
var ErrNotByHand = errors.New("`streamedge worker` is started by the streamedge master, not by hand; run `streamedge` instead")

// helloTimeout bounds the wait for the master's configuration.
const helloTimeout = 10 * time.Second

// Process is the options of RunProcess.
type Process struct {
	Slot    int
	Version string
	// NewLogger builds the worker's logger from the configuration the master sends.
	NewLogger func(configs.Log) (*slog.Logger, LogOutput, error)
}

// LogOutput is where a logger writes: a file that logrotate may move away.
type LogOutput interface {
	Reopen() error
	SetLevel(slog.Level)
	Close() error
}

// RunProcess is the body of a worker process: it adopts the sockets the
// master passed by name, says hello, takes its configuration, serves until
// the master says quit or goes away, and reports its load every second.
func RunProcess(ctx context.Context, p Process) error {
	// One core's worth of Go: the master spreads load over processes, and a
	// worker's CPU share is only meaningful if it cannot take more.
	runtime.GOMAXPROCS(1)
	files, err := ipc.InheritedFiles()
	if err != nil {
		return fmt.Errorf("%w (%v)", ErrNotByHand, err)
	}
	conn, err := ipc.FileConn(files["ipc"])
	if err != nil {
		return fmt.Errorf("ipc socket: %w", err)
	}
	defer conn.Close()
	if err := conn.Send(&ipc.Hello{Version: p.Version, Slot: p.Slot, PID: os.Getpid(), GOMAXPROCS: runtime.GOMAXPROCS(0)}); err != nil {
		return fmt.Errorf("hello: %w", err)
	}
	conf, err := awaitConfigure(conn)
	if err != nil {
		return err
	}
	cfg, err := configs.Parse("(from master)", conf.ConfigYAML)
	if err != nil {
		return fmt.Errorf("configuration from the master: %w", err)
	}
	log, logOut, err := p.NewLogger(cfg.Log)
	if err != nil {
		return err
	}
	defer logOut.Close()
	log = log.With("worker", p.Slot, "pid", os.Getpid())
	w := New(cfg, log)
	ls, err := adoptListeners(w, files, conf.RelayDir, p.Slot)
	if err != nil {
		return err
	}
	relayAddr := ls[relaySocket].Addr().String()
	link := newHostLink(conn, w, relayAddr, log)
	w.hub.SetHost(link)

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	served := make(chan error, 1)
	go func() { served <- w.Run(ctx, ls) }()
	if err := conn.Send(&ipc.Ready{RelayAddr: relayAddr}); err != nil {
		cancel(err)
	}
	log.Info("worker serving", "gomaxprocs", runtime.GOMAXPROCS(0))
	go reportLoad(ctx, conn, w, log)
	go func() {
		err := link.receive(ctx, commands{
			reload: func(c *ipc.Configure) {
				next, err := configs.Parse("(from master)", c.ConfigYAML)
				if err != nil {
					log.Error("reload from master refused", "err", err)
					return
				}
				cfg = next
				w.Reload(next)
				logOut.SetLevel(next.Log.SlogLevel())
				log.Info("worker reloaded")
			},
			reopenLogs: func() {
				if err := logOut.Reopen(); err != nil {
					log.Error("reopening the log file failed", "err", err)
				}
			},
			balance: func(m ipc.Message) { w.bal.onMessage(ctx, m) },
			drain: func() {
				log.Info("worker draining", "grace_final_wait", cfg.GraceFinalWait.String(), "sessions", w.Sessions())
				w.Drain(ls)
				go awaitDrained(ctx, w, cfg.GraceFinalWait.Std(), cancel)
			},
		})
		cancel(err)
	}()
	err = <-served
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) && !errors.Is(cause, errQuit) {
		log.Info("worker stopping", "reason", cause.Error())
	}
	log.Info("worker stopped")
	return err
}

// Why a draining worker stopped.
var (
	errDrained   = errors.New("drained: no sessions left")
	errGraceOver = errors.New("grace_final_wait is over: closing the sessions left")
)

// awaitDrained ends a draining worker once its last session is gone, or
// when the grace period is over (closing whatever is left, publishers too).
func awaitDrained(ctx context.Context, w *Worker, grace time.Duration, stop context.CancelCauseFunc) {
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			stop(errGraceOver)
			return
		case <-tick.C:
			if w.Sessions() == 0 {
				stop(errDrained)
				return
			}
		}
	}
}

func awaitConfigure(conn *ipc.Conn) (*ipc.Configure, error) {
	type result struct {
		m   ipc.Message
		err error
	}
	got := make(chan result, 1)
	go func() {
		m, err := conn.Receive()
		got <- result{m, err}
	}()
	select {
	case r := <-got:
		if r.err != nil {
			return nil, fmt.Errorf("waiting for the master's configuration: %w", r.err)
		}
		c, ok := r.m.(*ipc.Configure)
		if !ok {
			return nil, fmt.Errorf("master sent %v before the configuration", r.m.Kind())
		}
		return c, nil
	case <-time.After(helloTimeout):
		return nil, errors.New("no configuration from the master in time")
	}
}

// adoptListeners turns the inherited sockets into listeners, one for each
// server of w, and opens the worker's private relay socket. A socket the
// master passed that no server serves is closed.
func adoptListeners(w *Worker, files map[string]*os.File, relayDir string, slot int) (Listeners, error) {
	ls := Listeners{}
	fail := func(err error) (Listeners, error) {
		for _, ln := range ls {
			ln.Close()
		}
		return nil, err
	}
	for _, s := range w.servers {
		name := s.name()
		if name == relaySocket {
			path := filepath.Join(relayDir, fmt.Sprintf("relay-%d-%d.sock", slot, os.Getpid()))
			ln, err := net.Listen("unix", path)
			if err != nil {
				return fail(fmt.Errorf("relay socket: %w", err))
			}
			ls[name] = ln
			continue
		}
		f := files[name]
		if f == nil {
			return fail(fmt.Errorf("the master passed no %s socket", name))
		}
		ln, err := net.FileListener(f)
		if err != nil {
			return fail(fmt.Errorf("%s socket: %w", name, err))
		}
		f.Close() // FileListener holds its own copy
		delete(files, name)
		// The master may take the slot out of the reuseport group.
		ls[name] = newPausableListener(ln, nil)
	}
	for name, f := range files {
		if name != "ipc" {
			f.Close()
		}
	}
	return ls, nil
}
