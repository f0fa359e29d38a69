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
	drainSlack   = 2 * time.Second  // past grace_final_wait, a draining worker is killed
)

// Options configure a Master.
type Options struct {
	Config     *configs.Config
	ConfigYAML []byte // what workers are configured with
	ConfigPath string // re-read on SIGHUP; empty: the embedded default, nothing to reload
	// Workers, when >= 0, overrides the config's workers (the -w flag), on
	// reloads too.
	Workers int
	Version string
	Log     *slog.Logger
	// SetLogLevel and ReopenLogs act on the master's own log output.
	SetLogLevel func(slog.Level)
	ReopenLogs  func() error
	// Signals delivers HUP, QUIT, USR1, TERM and INT to the loop.
	Signals <-chan os.Signal
	// Executable is the binary re-executed as `streamedge worker`
	// (default: this process's own).
	Executable string
}

// Master is the master process's state. Run owns it.
type Master struct {
	opts    Options
	cfg     *configs.Config
	cfgYAML []byte
	log     *slog.Logger
	exe     string
	runDir  string
	// The addresses slots bind: the configured host with the port the
	// kernel chose, so sockets added later join the same group.
	rtmpAddr, httpAddr string

	slots    []*slot
	procs    map[uint64]*workerProc // every live worker, by generation
	api      net.Listener           // nil when listen.api is empty
	apiSrv   *http.Server
	registry *registry
	edge     *edge
	host     hostSampler
	events   chan any
	gen      uint64
	started  time.Time

	reloads    reloadStats
	clientReqs map[uint64]chan workerClients // client list requests waiting for answers
	nextReq    uint64
	quitting   bool // graceful quit under way: no restarts
	stopping   bool // fast quit under way
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
	m := &Master{opts: opts, cfg: opts.Config, cfgYAML: opts.ConfigYAML, log: opts.Log, exe: exe,
		procs: map[uint64]*workerProc{}, clientReqs: map[uint64]chan workerClients{}, registry: newRegistry(), edge: newEdge(), events: make(chan any, 256), started: time.Now()}
	enableMigrateReq(m.log)
	n := m.workerCount(opts.Config)
	socks, err := openSlotSockets(opts.Config.Listen.RTMP, opts.Config.Listen.HTTP, n)
	if err != nil {
		return nil, err
	}
	m.rtmpAddr = sameHostPort(opts.Config.Listen.RTMP, socks[0].rtmp.Addr())
	m.httpAddr = sameHostPort(opts.Config.Listen.HTTP, socks[0].http.Addr())
	if addr := opts.Config.Listen.API; addr != "" {
		if m.api, err = net.Listen("tcp", addr); err != nil {
			for _, s := range socks {
				s.close()
			}
			return nil, fmt.Errorf("listen api: %w", err)
		}
	}
	if m.runDir, err = os.MkdirTemp("", "streamedge-"); err != nil {
		return nil, err
	}
	for i, s := range socks {
		m.slots = append(m.slots, &slot{index: i, sockets: s})
	}
	return m, nil
}

// workerCount resolves the number of slots: -w, else the config, where 0
// means one per CPU.
func (m *Master) workerCount(cfg *configs.Config) int {
	n := cfg.Workers
	if m.opts.Workers >= 0 {
		n = m.opts.Workers
	}
	if n <= 0 {
		n = runtime.NumCPU()
	}
	return n
}

// enableMigrateReq turns on net.ipv4.tcp_migrate_req so that when a
// retired worker's socket closes, the connections queued on it move to the
// other workers' sockets instead of being reset.
func enableMigrateReq(log *slog.Logger) {
	const path = "/proc/sys/net/ipv4/tcp_migrate_req"
	if b, err := os.ReadFile(path); err == nil && len(b) > 0 && b[0] == '1' {
		return
	}
	if err := os.WriteFile(path, []byte("1"), 0); err != nil {
		log.Warn("cannot enable net.ipv4.tcp_migrate_req: retiring a worker may reset connections queued on its socket", "err", err)
		return
	}
	log.Info("enabled net.ipv4.tcp_migrate_req: a retired worker's queued connections move to the others")
}

// Addrs are the listening addresses, with the ports the kernel chose for
// port 0; api is empty when the API is off.
func (m *Master) Addrs() (rtmp, http, api string) {
	if m.api != nil {
		api = m.api.Addr().String()
	}
	return m.rtmpAddr, m.httpAddr, api
}

// Workers is the number of worker slots.
func (m *Master) Workers() int { return len(m.slots) }

// Run starts the workers and supervises them until ctx ends or a signal
// says quit, then stops them and closes the sockets.
func (m *Master) Run(ctx context.Context) error {
	defer os.RemoveAll(m.runDir)
	defer m.closeSockets()
	for _, s := range m.slots {
		p, err := m.spawn(s, s.sockets)
		if err != nil {
			m.shutdown()
			return err
		}
		s.proc = p
	}
	m.serveAPI()
	defer func() {
		if m.apiSrv != nil {
			m.apiSrv.Close()
		}
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			m.shutdown()
			return nil
		case sig := <-m.opts.Signals:
			if m.onSignal(sig) {
				return nil
			}
		case ev := <-m.events:
			m.handle(ev)
		case now := <-tick.C:
			m.onTick(now)
		}
		if m.quitting && len(m.procs) == 0 {
			m.log.Info("graceful quit done")
			return nil
		}
	}
}

func (m *Master) serveAPI() {
	if m.api == nil {
		return
	}
	m.apiSrv = &http.Server{Handler: m.apiHandler(), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(m.log.With("server", "api").Handler(), slog.LevelDebug)}
	go m.apiSrv.Serve(m.api)
}

func (m *Master) closeSockets() {
	for _, s := range m.slots {
		s.sockets.close()
		if s.nextSock != nil {
			s.nextSock.close()
		}
	}
	for _, p := range m.procs {
		if p.closeOnExit != nil {
			p.closeOnExit.close()
		}
	}
}

// onSignal handles one signal and reports whether the master is done.
func (m *Master) onSignal(sig os.Signal) bool {
	switch sig {
	case syscall.SIGHUP:
		m.reload()
	case syscall.SIGUSR1:
		m.reopenLogs()
	case syscall.SIGQUIT:
		m.gracefulQuit("SIGQUIT")
	case syscall.SIGTERM:
		if m.cfg.ForceGraceQuit {
			m.gracefulQuit("SIGTERM with force_grace_quit")
			return false
		}
		m.log.Info("fast quit", "signal", sig.String())
		m.shutdown()
		return true
	case syscall.SIGINT:
		m.log.Info("fast quit", "signal", sig.String())
		m.shutdown()
		return true
	}
	return false
}

func (m *Master) reopenLogs() {
	if m.opts.ReopenLogs != nil {
		if err := m.opts.ReopenLogs(); err != nil {
			m.log.Error("reopening the log file failed", "err", err)
		}
	}
	m.log.Info("log files reopened")
	m.broadcast(0, &ipc.Command{Name: ipc.CmdReopenLogs})
}

func (m *Master) handle(ev any) {
	switch ev := ev.(type) {
	case workerMessage:
		if p := m.procs[ev.gen]; p != nil {
			m.onMessage(p, ev.msg)
		}
	case ipcClosed:
		if p := m.procs[ev.gen]; p != nil && !errors.Is(ev.err, io.EOF) && p.state != StateStopping {
			// A worker that talks garbage cannot be trusted with its sessions.
			m.log.Error("worker ipc failed, killing it", "worker", p.slot, "pid", p.pid, "err", ev.err)
			p.state = StateStopping
			p.cmd.Process.Kill()
		}
	case workerExited:
		if p := m.procs[ev.gen]; p != nil {
			delete(m.procs, ev.gen)
			m.onExit(p, ev.err)
		}
	case func(*Master):
		ev(m)
	}
}

func (m *Master) onMessage(p *workerProc, msg ipc.Message) {
	switch msg := msg.(type) {
	case *ipc.Hello:
		p.hello = msg
		if err := p.conn.Send(&ipc.Configure{ConfigYAML: m.cfgYAML, RelayDir: m.runDir}); err != nil {
			m.log.Error("configure not sent", "worker", p.slot, "pid", p.pid, "err", err)
		}
	case *ipc.Ready:
		m.onReady(p, msg)
	case *ipc.Load:
		p.load = msg
	case *ipc.ClientList:
		m.onClientList(p, msg)
	case *ipc.Claim:
		owner, ok := m.registry.claim(msg.Stream, p.gen)
		reply := &ipc.ClaimReply{ID: msg.ID, OK: ok, Owner: p.slot}
		if !ok {
			reply.Owner = m.slotOf(owner)
			reply.Err = fmt.Sprintf("stream is published on worker %d", reply.Owner)
			m.log.Info("duplicate publish refused", "stream", msg.Stream, "worker", p.slot, "owner", reply.Owner)
		}
		p.conn.Send(reply)
		if ok {
			m.broadcast(p.gen, &ipc.StreamPublished{Stream: msg.Stream, Owner: p.slot, RelayAddr: p.relayAddr})
		}
	case *ipc.Release:
		if m.registry.release(msg.Stream, p.gen) {
			m.broadcast(p.gen, &ipc.StreamUnpublished{Stream: msg.Stream, Owner: p.slot})
		}
	case *ipc.Lookup:
		reply := &ipc.LookupReply{ID: msg.ID}
		if owner, ok := m.registry.owner(msg.Stream); ok {
			if op := m.procs[owner]; op != nil && op.relayAddr != "" {
				reply.Found, reply.Owner, reply.RelayAddr = true, op.slot, op.relayAddr
			}
		} else if m.cfg.Remote(vhostOf(msg.Stream)) {
			reply = m.edgeLookup(p, msg, time.Now())
		}
		p.conn.Send(reply)
	case *ipc.UpstreamEvent:
		m.onUpstreamEvent(p, msg, time.Now())
	default:
		m.log.Warn("unexpected message from worker", "worker", p.slot, "kind", msg.Kind().String())
	}
}

func (m *Master) slotOf(gen uint64) int {
	if p := m.procs[gen]; p != nil {
		return p.slot
	}
	return -1
}

func (m *Master) onReady(p *workerProc, msg *ipc.Ready) {
	p.relayAddr = msg.RelayAddr
	if p.state != StateStarting {
		return
	}
	p.state = StateReady
	m.log.Info("worker ready", "worker", p.slot, "pid", p.pid, "startup", time.Since(p.started).Round(time.Millisecond).String())
	if p.slot < len(m.slots) && m.slots[p.slot].next == p {
		m.promote(m.slots[p.slot])
	}
}

// broadcast sends msg to every ready worker but the one of generation except.
func (m *Master) broadcast(except uint64, msg ipc.Message) {
	for _, p := range m.procs {
		if p.gen != except && (p.state == StateReady || p.state == StateDraining) {
			if err := p.conn.Send(msg); err != nil {
				m.log.Warn("ipc send failed", "worker", p.slot, "err", err)
			}
		}
	}
}

func (m *Master) onExit(p *workerProc, err error) {
	for _, stream := range m.registry.drop(p.gen) {
		m.broadcast(p.gen, m.unpublishedOnExit(stream, p.slot))
	}
	reason := "exited"
	if err != nil {
		reason = err.Error()
	}
	if p.closeOnExit != nil {
		p.closeOnExit.close()
	}
	if p.state == StateDraining || m.quitting || m.stopping {
		m.log.Info("worker retired", "worker", p.slot, "pid", p.pid, "reason", reason)
		return
	}
	var s *slot
	if p.slot < len(m.slots) {
		s = m.slots[p.slot]
	}
	switch {
	case s != nil && s.proc == p:
		s.proc = nil
	case s != nil && s.next == p:
		// The replacement died: the old worker keeps serving on its old
		// sockets rather than the reload retrying a broken start forever.
		m.log.Error("replacement worker died before it was ready, the old one keeps serving", "worker", p.slot, "pid", p.pid, "reason", reason)
		s.next = nil
		s.nextSock.close()
		s.nextSock = nil
		if len(m.reloads.rollings) > 0 && m.reloads.rollings[0] == s.index {
			m.reloads.rollings = m.reloads.rollings[1:]
		}
		m.rollNext()
		return
	default:
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
	level, msg := slog.LevelWarn, "worker died, restarting"
	if s.crashes >= 5 {
		level, msg = slog.LevelError, "worker keeps crashing at start, restarting with backoff"
	}
	m.log.Log(context.Background(), level, msg, "worker", s.index, "pid", p.pid, "reason", reason,
		"uptime", uptime.Round(time.Millisecond).String(), "crashes", s.crashes, "restart_in", delay.String())
	time.AfterFunc(delay, func() { m.events <- func(m *Master) { m.restartDue(s) } })
}

func (m *Master) restartDue(s *slot) {
	if m.stopping || m.quitting || s.proc != nil || s.index >= len(m.slots) || m.slots[s.index] != s || time.Now().Before(s.due) {
		return
	}
	s.restarts++
	p, err := m.spawn(s, s.sockets)
	if err != nil {
		s.crashes++
		delay := restartDelay(s.crashes)
		s.due = time.Now().Add(delay)
		m.log.Error("worker start failed", "worker", s.index, "err", err, "restart_in", delay.String())
		time.AfterFunc(delay, func() { m.events <- func(m *Master) { m.restartDue(s) } })
		return
	}
	s.proc = p
}

func (m *Master) onTick(now time.Time) {
	m.host.sample(now)
	for _, p := range m.procs {
		switch {
		case p.state == StateStarting && now.Sub(p.started) > readyTimeout:
			m.log.Error("worker not ready in time, killing it", "worker", p.slot, "pid", p.pid, "timeout", readyTimeout.String())
			p.state = StateStopping
			p.cmd.Process.Kill()
		case p.state == StateDraining && !p.drainDeadline.IsZero() && now.After(p.drainDeadline):
			m.log.Warn("draining worker outlived its grace, killing it", "worker", p.slot, "pid", p.pid)
			p.cmd.Process.Kill()
			p.drainDeadline = time.Time{}
		}
	}
}

// retire drains p: it stops accepting, its sessions run out within
// grace_final_wait, then it exits.
func (m *Master) retire(p *workerProc, reason string, closeOnExit *slotSockets) {
	p.closeOnExit = closeOnExit
	if p.state == StateStarting {
		p.state = StateDraining
		p.cmd.Process.Kill() // nothing to drain yet
		return
	}
	p.state = StateDraining
	p.drainDeadline = time.Now().Add(m.cfg.GraceFinalWait.Std() + drainSlack)
	m.log.Info("worker retiring", "worker", p.slot, "pid", p.pid, "reason", reason)
	if err := p.conn.Send(&ipc.Command{Name: ipc.CmdDrain, Reason: reason}); err != nil {
		p.cmd.Process.Kill()
	}
}

// shutdown tells every worker to quit and kills the ones still there after
// quitTimeout.
func (m *Master) shutdown() {
	m.stopping = true
	for _, p := range m.procs {
		p.state = StateStopping
		if err := p.conn.Send(&ipc.Command{Name: ipc.CmdQuit, Reason: "master stopping"}); err != nil {
			p.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	deadline := time.After(quitTimeout)
	for len(m.procs) > 0 {
		select {
		case ev := <-m.events:
			if ex, ok := ev.(workerExited); ok {
				delete(m.procs, ex.gen)
			}
		case <-deadline:
			for _, p := range m.procs {
				m.log.Warn("worker did not quit in time, killing it", "worker", p.slot, "pid", p.pid)
				p.cmd.Process.Kill()
			}
			deadline = time.After(time.Second)
		}
	}
}
