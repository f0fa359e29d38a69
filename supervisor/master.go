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
	"sync/atomic"
	"syscall"
	"time"

	"streamedge/configs"
	"streamedge/ipc"
	"streamedge/supervisor/hosts"
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
	// StartWorker starts a worker in a slot (default: ExecStart(Executable)).
	StartWorker StartFunc
}

// Master is the master process's state. Run owns it.
type Master struct {
	opts    Options
	cfg     *configs.Config
	cfgYAML []byte
	log     *slog.Logger
	runDir  string
	// bound is the socket table as the slots bind it: the configured host
	// with the port the kernel chose, so sockets added later join the group.
	bound []sockSpec

	slots    []*slot
	procs    map[uint64]*workerProc // every live worker, by generation
	api      net.Listener           // nil when listen.api is empty
	apiSrv   *http.Server
	registry *registry
	edge     *edge
	host     hostSampler
	events   chan any
	done     chan struct{} // closed when Run is over: events are dropped
	clock    clock
	gen      uint64
	started  time.Time

	bal *balancer // nil until New is done
	// lastStep is when the balancer last ran; stepSoon: a run after a
	// load report is due (see reported); hotAt: a run when a slot's
	// hot_for is up (see rebalance).
	lastStep time.Time
	stepSoon bool
	hotAt    time.Time
	store    *hosts.Store // nil unless hosts.redis is set
	hostID   string

	reloads    reloadStats
	clientReqs map[uint64]chan workerClients   // client list requests waiting for answers
	kickReqs   map[uint64]chan bool            // kicks waiting for the worker's answer
	moveReqs   map[uint64]chan *ipc.Moved      // moves waiting for the worker's answer
	apiAuth    atomic.Pointer[configs.APIAuth] // read by API requests; a reload swaps it
	apiGuard   atomic.Pointer[apiGuard]        // likewise
	nextReq    uint64
	quitting   bool // graceful quit under way: no restarts
	sdReady    bool // systemd was told READY=1
	stopping   bool // fast quit under way

	// lookupWaits are lookups waiting for their stream's owner to be ready.
	lookupWaits map[waitGroupKey]*lookupWait
}

// New opens the public sockets, so that a port in use is an error before
// anything is forked.
func New(opts Options) (*Master, error) {
	if opts.StartWorker == nil {
		exe := opts.Executable
		if exe == "" {
			var err error
			if exe, err = os.Executable(); err != nil {
				return nil, err
			}
		}
		// Checked here because a missing binary would otherwise only show
		// as every slot failing to start, with backoff, forever.
		if _, err := os.Stat(exe); err != nil {
			return nil, fmt.Errorf("worker executable: %w", err)
		}
		opts.StartWorker = ExecStart(exe)
	}
	// Workers get the configuration as the master understood it, so a
	// worker never reads a file the master did not check.
	cfgYAML, err := opts.Config.Dump()
	if err != nil {
		return nil, fmt.Errorf("configuration for the workers: %w", err)
	}
	m := &Master{opts: opts, cfg: opts.Config, cfgYAML: cfgYAML, log: opts.Log,
		procs: map[uint64]*workerProc{}, clientReqs: map[uint64]chan workerClients{}, kickReqs: map[uint64]chan bool{}, moveReqs: map[uint64]chan *ipc.Moved{}, lookupWaits: map[waitGroupKey]*lookupWait{}, registry: newRegistry(), edge: newEdge(),
		events: make(chan any, 256), done: make(chan struct{}), started: time.Now()}
	m.clock = realClock{m}
	m.apiGuard.Store(newAPIGuard(opts.Config))
	enableMigrateReq(m.log)
	setFileLimit(m.log, opts.Config)
	m.apiAuth.Store(&opts.Config.API.Auth)
	if addr := opts.Config.Listen.API; addr != "" && apiExposed(addr) && !opts.Config.API.Auth.Enabled() {
		m.log.Warn("the API listens beyond loopback without api.auth: anyone who reaches it can kick sessions and read every client", "listen", addr)
	}
	n := m.workerCount(opts.Config)
	socks, bound, err := openSlots(socketTable(opts.Config), 0, n)
	if err != nil {
		return nil, err
	}
	m.bound = bound
	if addr := opts.Config.Listen.API; addr != "" {
		if m.api, err = net.Listen(family(netTCP, addr), addr); err != nil {
			for _, s := range socks {
				s.close()
			}
			return nil, fmt.Errorf("listen api: %w", err)
		}
	}
	if m.runDir, err = makeRunDir(m.log); err != nil {
		for _, s := range socks {
			s.close()
		}
		if m.api != nil {
			m.api.Close()
		}
		return nil, err
	}
	if m.store, err = newStore(m, opts.Config.Hosts); err != nil {
		for _, s := range socks {
			s.close()
		}
		if m.api != nil {
			m.api.Close()
		}
		os.RemoveAll(m.runDir)
		return nil, err
	}
	for i, s := range socks {
		m.slots = append(m.slots, &slot{index: i, sockets: s})
	}
	m.initBalance()
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
	return m.Addr("rtmp"), m.Addr("http"), m.Addr("api")
}

// Addr is the address of the socket table's row name ("rtmp", "http", ...)
// or of the API ("api"), with the port the kernel chose for port 0; empty
// when there is no such socket. A UDP row's is slot 0's port.
func (m *Master) Addr(name string) string {
	if name == "api" {
		if m.api == nil {
			return ""
		}
		return m.api.Addr().String()
	}
	for _, spec := range m.bound {
		if spec.name == name {
			return spec.addr
		}
	}
	return ""
}

// Workers is the number of worker slots.
func (m *Master) Workers() int { return len(m.slots) }

// Run starts the workers and supervises them until ctx ends or a signal
// says quit, then stops them and closes the sockets.
func (m *Master) Run(ctx context.Context) error {
	defer close(m.done)
	defer os.RemoveAll(m.runDir)
	defer m.closeSockets()
	for _, s := range m.slots {
		m.startIn(s, s.sockets)
	}
	m.serveAPI()
	defer m.runStore()()
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
			p.proc.Kill()
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
		if msg.Version != m.opts.Version {
			// Only a binary replaced under the master does this: its
			// messages may not be ours.
			m.log.Error("worker of another build, killing it", "worker", p.slot, "pid", p.pid,
				"version", truncate(msg.Version, 64), "master_version", m.opts.Version)
			p.state = StateStopping
			p.proc.Kill()
			return
		}
		p.hello = msg
		if err := p.proc.Send(&ipc.Configure{ConfigYAML: m.cfgYAML, RelayDir: m.runDir}); err != nil {
			m.log.Error("configure not sent", "worker", p.slot, "pid", p.pid, "err", err)
		}
	case *ipc.Ready:
		m.onReady(p, msg)
	case *ipc.Load:
		p.load, p.rtcPlaced = msg, 0
		m.reported()
	case *ipc.Place:
		m.onPlace(p, msg)
	case *ipc.Redirect:
		m.onRedirect(p, msg)
	case *ipc.ClientList:
		m.onClientList(p, msg)
	case *ipc.Kicked:
		m.onKicked(msg)
	case *ipc.Moved:
		m.onMoved(msg)
	case *ipc.Claim:
		owner, ok := m.registry.claim(msg.Stream, p.gen)
		switch {
		case !ok:
			slot := m.slotOf(owner)
			m.log.Info("duplicate publish refused", "stream", msg.Stream, "worker", p.slot, "owner", slot)
			p.proc.Send(&ipc.ClaimReply{ID: msg.ID, Owner: slot, Err: fmt.Sprintf("stream is published on worker %d", slot)})
		case m.store != nil && !m.cfg.Remote(vhostOf(msg.Stream)):
			m.claimInCluster(p, msg) // answered when the store has
		default:
			m.grantClaim(p, msg)
		}
	case *ipc.Release:
		if m.registry.release(msg.Stream, p.gen) {
			m.broadcast(p.gen, &ipc.StreamUnpublished{Stream: msg.Stream, Owner: p.slot})
			m.releaseInCluster(msg.Stream)
		}
	case *ipc.Lookup:
		m.onLookup(p, msg, m.now().Add(pullerWait))
	case *ipc.UpstreamEvent:
		m.onUpstreamEvent(p, msg, m.now())
	default:
		m.log.Warn("unexpected message from worker", "worker", p.slot, "kind", msg.Kind().String())
	}
}

// grantClaim tells p it publishes msg.Stream and the other workers where
// to relay it from. A worker still starting has no relay address yet: they
// are told when it is ready (announceStreams).
func (m *Master) grantClaim(p *workerProc, msg *ipc.Claim) {
	p.proc.Send(&ipc.ClaimReply{ID: msg.ID, OK: true, Owner: p.slot})
	if p.relayAddr != "" {
		m.broadcast(p.gen, &ipc.StreamPublished{Stream: msg.Stream, Owner: p.slot, RelayAddr: p.relayAddr})
	}
}

// announceStreams tells the other workers where to relay what p, now
// ready, was given to publish while it started. Edge pulls are left out:
// the others find a puller by lookups (answerOwned).
func (m *Master) announceStreams(p *workerProc) {
	for _, stream := range m.registry.of(p.gen) {
		if !m.edgeStream(stream) {
			m.broadcast(p.gen, &ipc.StreamPublished{Stream: stream, Owner: p.slot, RelayAddr: p.relayAddr})
		}
	}
}

func (m *Master) slotOf(gen uint64) int {
	if p := m.procs[gen]; p != nil {
		return p.slot
	}
	return -1
}

func (m *Master) onReady(p *workerProc, msg *ipc.Ready) {
	p.relayAddr, p.handoffAddr = msg.RelayAddr, msg.HandoffAddr
	m.resumeWaits(p.gen, "the owner is ready")
	if p.state != StateStarting {
		return
	}
	p.state = StateReady
	m.announceStreams(p)
	m.log.Info("worker ready", "worker", p.slot, "pid", p.pid, "startup", m.now().Sub(p.started).Round(time.Millisecond).String())
	if p.slot < len(m.slots) && m.slots[p.slot].next == p {
		m.promote(m.slots[p.slot])
	}
	m.bal.ready(p.slot)
	m.rebalance() // the slot rejoins its groups
	m.notifyReady()
}

// broadcast sends msg to every ready worker but the one of generation except.
func (m *Master) broadcast(except uint64, msg ipc.Message) {
	for _, p := range m.procs {
		if p.gen != except && (p.state == StateReady || p.state == StateDraining) {
			if err := p.proc.Send(msg); err != nil {
				m.log.Warn("ipc send failed", "worker", p.slot, "err", err)
			}
		}
	}
}

func (m *Master) onExit(p *workerProc, err error) {
	for _, stream := range m.registry.drop(p.gen) {
		if m.reassignPull(p, stream) {
			continue
		}
		m.broadcast(p.gen, m.unpublishedOnExit(stream, p.slot))
		m.releaseInCluster(stream)
	}
	m.resumeWaits(p.gen, "the owner exited")
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
		m.rebalance() // no connection may wait on a slot nobody serves
	case s != nil && s.next == p:
		// The replacement died: the old worker keeps serving on its old
		// sockets rather than the reload retrying a broken start forever.
		m.log.Error("replacement worker died before it was ready, the old one keeps serving", "worker", p.slot, "pid", p.pid, "reason", reason)
		s.next = nil
		if s.nextSock != s.sockets { // a balance retire shares them
			s.nextSock.close()
		}
		s.nextSock = nil
		if len(m.reloads.rollings) > 0 && m.reloads.rollings[0] == s.index {
			m.reloads.rollings = m.reloads.rollings[1:]
		}
		m.rollNext()
		return
	default:
		return
	}
	uptime := m.now().Sub(p.started)
	if uptime < quickCrash || p.state != StateReady {
		s.crashes++
	} else {
		s.crashes = 0
	}
	delay := m.restartLater(s)
	level, msg := slog.LevelWarn, "worker died, restarting"
	if s.crashes >= 5 {
		level, msg = slog.LevelError, "worker keeps crashing at start, restarting with backoff"
	}
	m.log.Log(context.Background(), level, msg, "worker", s.index, "pid", p.pid, "reason", reason,
		"uptime", uptime.Round(time.Millisecond).String(), "crashes", s.crashes, "restart_in", delay.String())
}

// startIn puts a new worker in slot s on socks: the slot's own sockets, or
// its next ones for a rolling replacement. This is the one way a worker is
// started, with one failure policy: a start that fails counts as a crash
// and is tried again after the backoff, so no slot stays down or keeps a
// replacement pending because one fork failed.
func (m *Master) startIn(s *slot, socks *slotSockets) {
	p, err := m.spawn(s, socks)
	if err != nil {
		s.crashes++
		delay := m.restartLater(s)
		m.log.Error("worker start failed", "worker", s.index, "err", err, "crashes", s.crashes, "restart_in", delay.String())
		return
	}
	if socks == s.nextSock {
		s.next = p
	} else {
		s.proc = p
	}
}

// restartLater schedules restartDue after the slot's backoff.
func (m *Master) restartLater(s *slot) time.Duration {
	delay := restartDelay(s.crashes)
	s.due = m.now().Add(delay)
	m.after(delay, func() { m.restartDue(s) })
	return delay
}

// restartDue starts what the slot lacks once its backoff is over: a worker
// for a down slot, or the replacement a rolling reload waits for. A
// timer that the slot's state has overtaken finds nothing to do.
func (m *Master) restartDue(s *slot) {
	if m.stopping || m.quitting || s.index >= len(m.slots) || m.slots[s.index] != s || m.now().Before(s.due) {
		return
	}
	switch {
	case s.proc == nil:
		s.restarts++
		m.startIn(s, s.sockets)
	case s.nextSock != nil && s.next == nil && m.rollingHead() == s.index:
		m.startIn(s, s.nextSock)
	}
}

func (m *Master) onTick(now time.Time) {
	m.host.sample(now)
	defer m.rebalance()
	for _, p := range m.procs {
		switch {
		case p.state == StateStarting && now.Sub(p.started) > readyTimeout:
			m.log.Error("worker not ready in time, killing it", "worker", p.slot, "pid", p.pid, "timeout", readyTimeout.String())
			p.state = StateStopping
			p.proc.Kill()
		case p.state == StateDraining && !p.drainDeadline.IsZero() && now.After(p.drainDeadline):
			m.log.Warn("draining worker outlived its grace, killing it", "worker", p.slot, "pid", p.pid)
			p.proc.Kill()
			p.drainDeadline = time.Time{}
		}
	}
}

// retire drains p: it stops accepting, its sessions run out within
// grace_final_wait, then it exits.
func (m *Master) retire(p *workerProc, reason string, closeOnExit *slotSockets) {
	p.closeOnExit = closeOnExit
	m.leaveGroups(closeOnExit) // what would queue there moves to the others now
	if p.state == StateStarting {
		p.state = StateDraining
		p.proc.Kill() // nothing to drain yet
		return
	}
	p.state = StateDraining
	p.drainDeadline = m.now().Add(m.cfg.GraceFinalWait.Std() + drainSlack)
	m.log.Info("worker retiring", "worker", p.slot, "pid", p.pid, "reason", reason)
	if err := p.proc.Send(&ipc.Command{Name: ipc.CmdDrain, Reason: reason}); err != nil {
		p.proc.Kill()
		return
	}
	// Drained first, so it takes no new players while its own move out.
	m.moveOut(p, reason)
}

// shutdown tells every worker to quit and kills the ones still there after
// quitTimeout.
func (m *Master) shutdown() {
	m.notifyStopping()
	m.stopping = true
	for _, p := range m.procs {
		p.state = StateStopping
		if err := p.proc.Send(&ipc.Command{Name: ipc.CmdQuit, Reason: "master stopping"}); err != nil {
			p.proc.Kill() // it cannot be told
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
				p.proc.Kill()
			}
			deadline = time.After(time.Second)
		}
	}
}

// truncate bounds text a worker sent before it goes into a log line.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
