package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"time"

	"streamedge/configs"
	"streamedge/ipc"
	"streamedge/media/hub"
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
// master passed by name, says hello, takes its configuration, then runs
// the process loop until the master says quit or goes away.
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
	if w.cpuBias = faultCPU(p.Slot); w.cpuBias != 0 {
		log.Warn("reported cpu raised (fault injection)", "env", faultEnv, "percent", w.cpuBias)
	}
	ls, err := adoptListeners(w, files, conf.RelayDir, p.Slot)
	if err != nil {
		return err
	}
	w.Listen(ls)
	if w.ho, err = listenHandoffs(w, conf.RelayDir, p.Slot, cfg, log); err != nil {
		return err
	}
	pr := &cycle{conn: conn, w: w, cfg: cfg, log: log, logOut: logOut,
		link: newHostLink(conn, w, ls[relaySocket].Addr().String(), log)}
	pr.link.cfg.Store(cfg)
	w.hub.SetHost(pr.link)
	w.bal.askElsewhere(pr.link.redirect)
	if w.rtc != nil {
		w.rtc.joinHost(p.Slot, pr.link.self, pr.link.place, pr.link.lookup)
	}
	why := pr.run(ctx)
	if !errors.Is(why, errQuit) && !errors.Is(why, context.Canceled) {
		log.Info("worker stopping", "reason", why.Error())
	}
	log.Info("worker stopped")
	if errors.Is(why, errServerFailed) {
		return why
	}
	return nil
}

// Why a worker's loop ended.
var (
	errQuit         = errors.New("master said quit")
	errDrained      = errors.New("drained: no sessions left")
	errGraceOver    = errors.New("grace_final_wait is over: closing the sessions left")
	errServerFailed = errors.New("a server failed")
)

// cycle is one worker's loop, after nginx's worker cycle: IPC messages,
// the load tick and the drain deadline are events of one select; the
// servers and the relays run beneath it and end with it.
type cycle struct {
	conn   *ipc.Conn
	w      *Worker
	link   *hostLink
	cfg    *configs.Config
	log    *slog.Logger
	logOut LogOutput

	// Set while draining: the end of the grace, and the last session gone.
	graceOver <-chan time.Time
	drained   <-chan struct{}
}

// run serves until the master says quit, goes away, or a drain is over,
// and returns why, once the servers and relays are done.
func (pr *cycle) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	served := make(chan error, 1)
	wg.Go(func() { served <- pr.w.Run(ctx) })
	wg.Go(func() { pr.link.relays.Run(ctx) })
	wg.Go(func() { pr.link.edge.Run(ctx) })
	wg.Go(func() {
		if err := pr.w.ho.Run(ctx); err != nil {
			pr.log.Error("handoff socket failed", "err", err)
		}
	})
	msgs, lost := pr.receive(ctx, &wg)
	defer func() {
		cancel()
		pr.conn.Close() // ends the receiving goroutine
		close(pr.link.done)
		wg.Wait()
	}()
	relayAddr := pr.w.ls[relaySocket].Addr().String()
	if err := pr.conn.Send(&ipc.Ready{RelayAddr: relayAddr, HandoffAddr: pr.w.ho.addr()}); err != nil {
		return fmt.Errorf("ready: %w", err)
	}
	pr.log.Info("worker serving", "gomaxprocs", runtime.GOMAXPROCS(0))
	load, err := newLoadSampler(pr.w)
	if err != nil {
		pr.log.Error("load sampling unavailable", "err", err)
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case err := <-served:
			return fmt.Errorf("%w: %v", errServerFailed, err)
		case err := <-lost:
			// EOF: the master is gone, and a worker must not outlive it.
			return fmt.Errorf("master connection: %w", err)
		case m := <-msgs:
			if err := pr.onMessage(ctx, m); err != nil {
				return err
			}
		case now := <-tick.C:
			if load != nil {
				if err := pr.conn.Send(load.sample(now)); err != nil {
					pr.log.Warn("load report not sent", "err", err)
				}
			}
		case <-pr.drained:
			return errDrained
		case <-pr.graceOver:
			return errGraceOver
		}
	}
}

// receive reads the master's messages for the loop until the connection
// ends; the error comes on lost.
func (pr *cycle) receive(ctx context.Context, wg *sync.WaitGroup) (<-chan ipc.Message, <-chan error) {
	msgs, lost := make(chan ipc.Message), make(chan error, 1)
	wg.Go(func() {
		for {
			m, err := pr.conn.Receive()
			if err != nil {
				lost <- err
				return
			}
			select {
			case msgs <- m:
			case <-ctx.Done():
				return
			}
		}
	})
	return msgs, lost
}

// onMessage handles one message of the master; an error ends the loop.
func (pr *cycle) onMessage(ctx context.Context, m ipc.Message) error {
	switch m := m.(type) {
	case *ipc.ClaimReply:
		pr.link.deliver(m.ID, m)
	case *ipc.LookupReply:
		pr.link.deliver(m.ID, m)
	case *ipc.PlaceReply:
		pr.link.deliver(m.ID, m)
	case *ipc.RedirectReply:
		pr.link.deliver(m.ID, m)
	case *ipc.StreamPublished:
		if key, ok := hub.ParseKey(m.Stream); ok && m.RelayAddr != pr.link.self {
			pr.link.relays.published(key, m.RelayAddr)
		}
	case *ipc.StreamUnpublished:
		if key, ok := hub.ParseKey(m.Stream); ok {
			pr.link.relays.unpublished(key)
			if m.Err != "" {
				pr.w.hub.FailUpstream(key, upstreamFailure(m))
			}
		}
	case *ipc.Pull:
		pr.link.edge.start(m)
	case *ipc.Configure:
		pr.onConfigure(m)
	case *ipc.ListClients:
		if err := pr.conn.Send(pr.w.clientList(m.ID)); err != nil {
			pr.log.Warn("client list not sent", "err", err)
		}
	case *ipc.Move:
		// Moves take a while: the loop goes on, the answer goes when done.
		go func() {
			res := pr.w.ho.move(ctx, m)
			if m.ID != 0 {
				if err := pr.conn.Send(res); err != nil {
					pr.log.Warn("move answer not sent", "err", err)
				}
			}
		}()
	case *ipc.Kick:
		if err := pr.conn.Send(pr.w.kick(m)); err != nil {
			pr.log.Warn("kick answer not sent", "err", err)
		}
	case *ipc.Admission, *ipc.Shed, *ipc.Burn:
		pr.w.bal.onMessage(ctx, m)
	case *ipc.Command:
		switch m.Name {
		case ipc.CmdQuit:
			return errQuit
		case ipc.CmdReopenLogs:
			pr.onReopen()
		case ipc.CmdDrain:
			pr.onDrain(ctx, m.Reason)
		default:
			pr.log.Warn("unknown command from master", "command", m.Name)
		}
	default:
		pr.log.Warn("unexpected message from master", "kind", m.Kind().String())
	}
	return nil
}

// onConfigure applies a reloaded configuration's live settings.
func (pr *cycle) onConfigure(c *ipc.Configure) {
	next, err := configs.Parse("(from master)", c.ConfigYAML)
	if err != nil {
		pr.log.Error("reload from master refused", "err", err)
		return
	}
	pr.cfg = next
	pr.link.cfg.Store(next)
	pr.w.Reload(next)
	pr.w.ho.setConfig(next)
	pr.logOut.SetLevel(next.Log.SlogLevel())
	pr.log.Info("worker reloaded")
}

func (pr *cycle) onReopen() {
	if err := pr.logOut.Reopen(); err != nil {
		pr.log.Error("reopening the log file failed", "err", err)
	}
}

// onDrain stops accepting and arms the two ends of a drain: the last
// session gone, or grace_final_wait over (closing whatever is left,
// publishers too).
func (pr *cycle) onDrain(ctx context.Context, reason string) {
	if pr.drained != nil {
		return
	}
	grace := pr.cfg.GraceFinalWait.Std()
	pr.log.Info("worker draining", "reason", reason, "grace_final_wait", grace.String(), "sessions", pr.w.Sessions())
	pr.w.Drain()
	pr.drained, pr.graceOver = pr.w.idle(ctx), time.After(grace)
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
	t := time.NewTimer(helloTimeout)
	defer t.Stop()
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
	case <-t.C:
		return nil, errors.New("no configuration from the master in time")
	}
}
