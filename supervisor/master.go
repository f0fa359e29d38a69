package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"syscall"
	"time"

	"streamedge/configs"
	"streamedge/ipc"
)

// Timings of the worker lifecycle.
const (
	readyTimeout = 10 * time.Second // hello to ready, or the worker is killed
	quitTimeout  = 4 * time.Second  // a worker told to quit that is still there is killed
	quickCrash   = 5 * time.Second  // an exit this soon after start counts as a crash at start
)

// Options configure a Master.
type Options struct {
	Config     *configs.Config
	ConfigYAML []byte // what workers are configured with
	Version    string
	Log        *slog.Logger
	// Executable is the binary re-executed as `streamedge worker`
	// (default: this process's own).
	Executable string
}

// Master is the master process's state. Run owns it.
type Master struct {
	cfg     *configs.Config
	cfgYAML []byte
	version string
	log     *slog.Logger
	exe     string
	runDir  string

	slots    []*slot
	api      net.Listener // nil when listen.api is empty
	registry *registry
	host     hostSampler
	events   chan any
	gen      uint64
	stopping bool
	started  time.Time
}

// New opens the public sockets, so that a port in use is an error before
// anything is forked.
func New(opts Options) (*Master, error) {
	exe := opts.Executable
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	n := opts.Config.Workers
	if n <= 0 {
		n = runtime.NumCPU()
	}
	socks, err := openSlotSockets(opts.Config.Listen.RTMP, opts.Config.Listen.HTTP, n)
	if err != nil {
		return nil, err
	}
	var api net.Listener
	if addr := opts.Config.Listen.API; addr != "" {
		if api, err = net.Listen("tcp", addr); err != nil {
			for _, s := range socks {
				s.close()
			}
			return nil, fmt.Errorf("listen api: %w", err)
		}
	}
	runDir, err := os.MkdirTemp("", "streamedge-")
	if err != nil {
		return nil, err
	}
	m := &Master{cfg: opts.Config, cfgYAML: opts.ConfigYAML, version: opts.Version, log: opts.Log, exe: exe, runDir: runDir,
		api: api, registry: newRegistry(), events: make(chan any, 256), started: time.Now()}
	for i, s := range socks {
		m.slots = append(m.slots, &slot{index: i, sockets: s})
	}
	return m, nil
}

// Addrs are the listening addresses, with the ports the kernel chose for
// port 0; api is empty when the API is off.
func (m *Master) Addrs() (rtmp, http, api string) {
	if m.api != nil {
		api = m.api.Addr().String()
	}
	return m.slots[0].sockets.rtmp.Addr().String(), m.slots[0].sockets.http.Addr().String(), api
}

// Run starts the workers and supervises them until ctx ends, then stops
// them (killing what does not stop in time) and closes the sockets.
func (m *Master) Run(ctx context.Context) error {
	defer os.RemoveAll(m.runDir)
	defer func() {
		for _, s := range m.slots {
			s.sockets.close()
		}
	}()
	for _, s := range m.slots {
		if err := m.spawn(s); err != nil {
			m.shutdown()
			return err
		}
	}
	if m.api != nil {
		srv := &http.Server{Handler: m.apiHandler(), ReadHeaderTimeout: 10 * time.Second,
			ErrorLog: slog.NewLogLogger(m.log.With("server", "api").Handler(), slog.LevelDebug)}
		go srv.Serve(m.api)
		defer srv.Close()
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			m.shutdown()
			return nil
		case ev := <-m.events:
			m.handle(ev)
		case now := <-tick.C:
			m.onTick(now)
		}
	}
}

func (m *Master) handle(ev any) {
	switch ev := ev.(type) {
	case workerMessage:
		if p := m.current(ev.slot, ev.gen); p != nil {
			m.onMessage(m.slots[ev.slot], p, ev.msg)
		}
	case ipcClosed:
		if p := m.current(ev.slot, ev.gen); p != nil && !errors.Is(ev.err, io.EOF) && p.state != StateStopping {
			// A worker that talks garbage cannot be trusted with its sessions.
			m.log.Error("worker ipc failed, killing it", "worker", ev.slot, "pid", p.pid, "err", ev.err)
			p.state = StateStopping
			p.cmd.Process.Kill()
		}
	case workerExited:
		if p := m.current(ev.slot, ev.gen); p != nil {
			m.onExit(m.slots[ev.slot], p, ev.err)
		}
	case func(*Master):
		ev(m)
	}
}

// current returns the slot's process if gen is still it.
func (m *Master) current(slot int, gen uint64) *workerProc {
	if slot < 0 || slot >= len(m.slots) {
		return nil
	}
	if p := m.slots[slot].proc; p != nil && p.gen == gen {
		return p
	}
	return nil
}

func (m *Master) onMessage(s *slot, p *workerProc, msg ipc.Message) {
	switch msg := msg.(type) {
	case *ipc.Hello:
		p.hello = msg
		if err := p.conn.Send(&ipc.Configure{ConfigYAML: m.cfgYAML, RelayDir: m.runDir}); err != nil {
			m.log.Error("configure not sent", "worker", s.index, "pid", p.pid, "err", err)
		}
	case *ipc.Ready:
		p.state, p.relayAddr = StateReady, msg.RelayAddr
		m.log.Info("worker ready", "worker", s.index, "pid", p.pid, "startup", time.Since(p.started).Round(time.Millisecond).String())
	case *ipc.Load:
		p.load = msg
	case *ipc.Claim:
		owner, ok := m.registry.claim(msg.Stream, s.index)
		reply := &ipc.ClaimReply{ID: msg.ID, OK: ok, Owner: owner}
		if !ok {
			reply.Err = fmt.Sprintf("stream is published on worker %d", owner)
			m.log.Info("duplicate publish refused", "stream", msg.Stream, "worker", s.index, "owner", owner)
		}
		p.conn.Send(reply)
		if ok {
			m.broadcast(s.index, &ipc.StreamPublished{Stream: msg.Stream, Owner: s.index, RelayAddr: p.relayAddr})
		}
	case *ipc.Release:
		if m.registry.release(msg.Stream, s.index) {
			m.broadcast(s.index, &ipc.StreamUnpublished{Stream: msg.Stream, Owner: s.index})
		}
	case *ipc.Lookup:
		reply := &ipc.LookupReply{ID: msg.ID}
		if owner, ok := m.registry.owner(msg.Stream); ok {
			if op := m.slots[owner].proc; op != nil && op.state == StateReady {
				reply.Found, reply.Owner, reply.RelayAddr = true, owner, op.relayAddr
			}
		}
		p.conn.Send(reply)
	default:
		m.log.Warn("unexpected message from worker", "worker", s.index, "kind", msg.Kind().String())
	}
}

// broadcast sends msg to every ready worker but the one in slot except.
func (m *Master) broadcast(except int, msg ipc.Message) {
	for _, s := range m.slots {
		if s.index != except && s.proc != nil && s.proc.state == StateReady {
			if err := s.proc.conn.Send(msg); err != nil {
				m.log.Warn("ipc send failed", "worker", s.index, "err", err)
			}
		}
	}
}

func (m *Master) onExit(s *slot, p *workerProc, err error) {
	s.proc = nil
	for _, stream := range m.registry.dropSlot(s.index) {
		m.broadcast(s.index, &ipc.StreamUnpublished{Stream: stream, Owner: s.index})
	}
	if m.stopping {
		return
	}
	uptime := time.Since(p.started)
	if uptime < quickCrash || p.state != StateReady {
		s.crashes++
	} else {
		s.crashes = 0
	}
	delay := restartDelay(s.crashes)
	s.due = time.Now().Add(delay)
	reason := "exited"
	if err != nil {
		reason = err.Error()
	}
	level := slog.LevelWarn
	msg := "worker died, restarting"
	if s.crashes >= 5 {
		level, msg = slog.LevelError, "worker keeps crashing at start, restarting with backoff"
	}
	m.log.Log(context.Background(), level, msg, "worker", s.index, "pid", p.pid, "reason", reason,
		"uptime", uptime.Round(time.Millisecond).String(), "crashes", s.crashes, "restart_in", delay.String())
	time.AfterFunc(delay, func() { m.events <- func(m *Master) { m.restartDue(s) } })
}

func (m *Master) restartDue(s *slot) {
	if m.stopping || s.proc != nil || time.Now().Before(s.due) {
		return
	}
	s.restarts++
	if err := m.spawn(s); err != nil {
		s.crashes++
		delay := restartDelay(s.crashes)
		s.due = time.Now().Add(delay)
		m.log.Error("worker start failed", "worker", s.index, "err", err, "restart_in", delay.String())
		time.AfterFunc(delay, func() { m.events <- func(m *Master) { m.restartDue(s) } })
	}
}

func (m *Master) onTick(now time.Time) {
	m.host.sample(now)
	for _, s := range m.slots {
		if p := s.proc; p != nil && p.state == StateStarting && now.Sub(p.started) > readyTimeout {
			m.log.Error("worker not ready in time, killing it", "worker", s.index, "pid", p.pid, "timeout", readyTimeout.String())
			p.state = StateStopping
			p.cmd.Process.Kill()
		}
	}
}

// shutdown tells every worker to quit and kills the ones still there after
// quitTimeout.
func (m *Master) shutdown() {
	m.stopping = true
	alive := 0
	for _, s := range m.slots {
		if p := s.proc; p != nil {
			p.state = StateStopping
			if err := p.conn.Send(&ipc.Command{Name: ipc.CmdQuit, Reason: "master stopping"}); err != nil {
				p.cmd.Process.Signal(syscall.SIGTERM)
			}
			alive++
		}
	}
	deadline := time.After(quitTimeout)
	for alive > 0 {
		select {
		case ev := <-m.events:
			if ex, ok := ev.(workerExited); ok && m.current(ex.slot, ex.gen) != nil {
				m.slots[ex.slot].proc = nil
				alive--
			}
		case <-deadline:
			for _, s := range m.slots {
				if s.proc != nil {
					m.log.Warn("worker did not quit in time, killing it", "worker", s.index, "pid", s.proc.pid)
					s.proc.cmd.Process.Kill()
				}
			}
			deadline = time.After(time.Second)
		}
	}
}

// Workers is the number of worker slots.
func (m *Master) Workers() int { return len(m.slots) }
