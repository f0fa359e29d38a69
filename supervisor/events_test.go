package supervisor

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"streamedge/configs"
	"streamedge/ipc"
)

// The master's event handling, driven through the process seam: fake
// workers, a clock the test moves, real sockets.

// fakeProc is a worker as the master sees it, played by the test.
type fakeProc struct {
	pid, slot int
	files     []string
	msgs      chan ipc.Message // worker to master
	gone      chan struct{}
	exited    chan error
	once      sync.Once

	mu     sync.Mutex
	sent   []ipc.Message // master to worker
	killed bool
}

var errKilled = errors.New("signal: killed")

func (p *fakeProc) Pid() int { return p.pid }

func (p *fakeProc) Send(m ipc.Message) error {
	select {
	case <-p.gone:
		return io.ErrClosedPipe
	default:
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sent = append(p.sent, m)
	return nil
}

func (p *fakeProc) Receive() (ipc.Message, error) {
	select {
	case m := <-p.msgs:
		return m, nil
	case <-p.gone:
		return nil, io.EOF
	}
}

func (p *fakeProc) Kill() error {
	p.mu.Lock()
	p.killed = true
	p.mu.Unlock()
	p.exit(errKilled)
	return nil
}

func (p *fakeProc) Exited() <-chan error { return p.exited }

func (p *fakeProc) exit(err error) {
	p.once.Do(func() {
		close(p.gone)
		p.exited <- err
	})
}

func (p *fakeProc) wasKilled() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.killed
}

// commands are the names of the commands the master sent.
func (p *fakeProc) commands() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var names []string
	for _, m := range p.sent {
		if c, ok := m.(*ipc.Command); ok {
			names = append(names, c.Name)
		}
	}
	return names
}

// fakeClock runs the master's timers when the test moves it.
type fakeClock struct {
	t      time.Time
	timers []fakeTimer
}

type fakeTimer struct {
	at time.Time
	fn func()
}

func (c *fakeClock) now() time.Time { return c.t }

func (c *fakeClock) after(d time.Duration, fn func()) {
	c.timers = append(c.timers, fakeTimer{c.t.Add(d), fn})
}

// harness is a master with fake workers, run by the test goroutine as if it
// were the master loop.
type harness struct {
	t      *testing.T
	m      *Master
	clock  *fakeClock
	cfg    string // the config file
	logs   *syncBuffer
	procs  []*fakeProc // in start order
	fail   int         // starts still to fail
	nextID int
}

func newHarness(t *testing.T, workers int) *harness {
	h := &harness{t: t, clock: &fakeClock{t: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}, logs: &syncBuffer{},
		cfg: filepath.Join(t.TempDir(), "streamedge.yaml")}
	h.writeConfig(workers, "127.0.0.1:0")
	cfg, err := configs.Load(h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(Options{Config: cfg, ConfigPath: h.cfg, Workers: -1,
		Log: slog.New(slog.NewTextHandler(h.logs, nil)), StartWorker: h.start})
	if err != nil {
		t.Fatal(err)
	}
	m.clock = h.clock
	h.m = m
	t.Cleanup(func() {
		close(m.done)
		m.closeSockets()
		os.RemoveAll(m.runDir)
		if t.Failed() {
			t.Logf("master log:\n%s", h.logs.String())
		}
	})
	for _, s := range m.slots {
		m.startIn(s, s.sockets)
	}
	return h
}

func (h *harness) writeConfig(workers int, rtmp string) {
	text := fmt.Sprintf("workers: %d\nlisten:\n  rtmp: %s\n  http: 127.0.0.1:0\n  api: \"\"\ngrace_start_wait: 1s\ngrace_final_wait: 2s\n", workers, rtmp)
	if err := os.WriteFile(h.cfg, []byte(text), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) start(slot int, files []WorkerFile) (Process, error) {
	if h.fail > 0 {
		h.fail--
		return nil, errors.New("fork/exec: resource temporarily unavailable")
	}
	h.nextID++
	p := &fakeProc{pid: 1000 + h.nextID, slot: slot, msgs: make(chan ipc.Message, 16), gone: make(chan struct{}), exited: make(chan error, 1)}
	for _, f := range files {
		p.files = append(p.files, f.Name)
	}
	h.procs = append(h.procs, p)
	return p, nil
}

// until handles the master's events until cond holds, or fails the test.
func (h *harness) until(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.After(5 * time.Second)
	for !cond() {
		select {
		case ev := <-h.m.events:
			h.m.handle(ev)
		case <-deadline:
			h.t.Fatalf("%s: not so after 5s; slots %s", what, h.slots())
		}
	}
}

// advance moves the clock, running the timers that come due, in order.
func (h *harness) advance(d time.Duration) {
	h.clock.t = h.clock.t.Add(d)
	for {
		sort.SliceStable(h.clock.timers, func(i, j int) bool { return h.clock.timers[i].at.Before(h.clock.timers[j].at) })
		if len(h.clock.timers) == 0 || h.clock.timers[0].at.After(h.clock.t) {
			return
		}
		fn := h.clock.timers[0].fn
		h.clock.timers = h.clock.timers[1:]
		fn()
	}
}

// nextDue is how long until the earliest timer.
func (h *harness) nextDue() time.Duration {
	if len(h.clock.timers) == 0 {
		return -1
	}
	first := h.clock.timers[0].at
	for _, tm := range h.clock.timers {
		if tm.at.Before(first) {
			first = tm.at
		}
	}
	return first.Sub(h.clock.t)
}

func (h *harness) gen(p *fakeProc) *workerProc {
	for _, wp := range h.m.procs {
		if wp.proc == p {
			return wp
		}
	}
	return nil
}

// ready plays p's hello and ready and waits for the master to take them.
func (h *harness) ready(p *fakeProc) {
	h.t.Helper()
	p.msgs <- &ipc.Hello{Version: "", Slot: p.slot, PID: p.pid, GOMAXPROCS: 1}
	p.msgs <- &ipc.Ready{RelayAddr: fmt.Sprintf("/run/relay-%d.sock", p.pid)}
	h.until(fmt.Sprintf("worker %d ready", p.pid), func() bool {
		wp := h.gen(p)
		return wp != nil && wp.state != StateStarting
	})
}

// exit ends p and waits for the master to see it gone.
func (h *harness) exit(p *fakeProc, err error) {
	h.t.Helper()
	p.exit(err)
	h.until(fmt.Sprintf("worker %d gone", p.pid), func() bool { return h.gen(p) == nil })
}

func (h *harness) last() *fakeProc { return h.procs[len(h.procs)-1] }

func (h *harness) slots() string {
	var b strings.Builder
	for _, s := range h.m.slots {
		fmt.Fprintf(&b, "[%d %s restarts=%d crashes=%d next=%v] ", s.index, s.state(), s.restarts, s.crashes, s.next != nil)
	}
	return b.String()
}

func (h *harness) wantProcs(n int) {
	h.t.Helper()
	if len(h.procs) != n {
		h.t.Fatalf("%d workers started, want %d; slots %s", len(h.procs), n, h.slots())
	}
}

func (h *harness) wantState(slot int, want WorkerState) {
	h.t.Helper()
	if got := h.m.slots[slot].state(); got != want {
		h.t.Fatalf("slot %d is %s, want %s; slots %s", slot, got, want, h.slots())
	}
}

func (h *harness) wantDelay(want time.Duration) {
	h.t.Helper()
	if got := h.nextDue(); got != want {
		h.t.Fatalf("next timer in %v, want %v", got, want)
	}
}

func (h *harness) reload() {
	h.t.Helper()
	before := h.m.reloads.OK
	h.m.reload()
	if h.m.reloads.OK != before+1 {
		h.t.Fatalf("reload failed: %s", h.m.reloads.LastErr)
	}
}

func configures(p *fakeProc) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, m := range p.sent {
		if _, ok := m.(*ipc.Configure); ok {
			n++
		}
	}
	return n
}

func socketClosed(so *socket) bool { return so.control(func(int) error { return nil }) != nil }

func TestMasterEvents(t *testing.T) {
	tests := []struct {
		name    string
		workers int
		run     func(t *testing.T, h *harness)
	}{
		{"a worker gets its slot's sockets by name", 2, func(t *testing.T, h *harness) {
			h.wantProcs(2)
			for i, p := range h.procs {
				if p.slot != i || strings.Join(p.files, ",") != "rtmp,http" {
					t.Fatalf("worker %d: slot %d, files %v", i, p.slot, p.files)
				}
			}
		}},
		{"a crash at start restarts with a doubling backoff", 1, func(t *testing.T, h *harness) {
			h.exit(h.procs[0], errors.New("exit status 1"))
			h.wantState(0, StateDown)
			h.wantDelay(200 * time.Millisecond)
			h.advance(199 * time.Millisecond)
			h.wantProcs(1)
			h.advance(time.Millisecond)
			h.wantProcs(2)
			h.wantState(0, StateStarting)
			h.exit(h.last(), errors.New("exit status 1"))
			h.wantDelay(400 * time.Millisecond)
			h.advance(400 * time.Millisecond)
			h.wantProcs(3)
			if s := h.m.slots[0]; s.restarts != 2 || s.crashes != 2 {
				t.Fatalf("restarts %d crashes %d, want 2 and 2", s.restarts, s.crashes)
			}
		}},
		{"a crash later restarts at once and forgets the backoff", 1, func(t *testing.T, h *harness) {
			h.exit(h.procs[0], errors.New("exit status 1")) // one crash at start
			h.advance(200 * time.Millisecond)
			h.ready(h.last())
			h.wantState(0, StateReady)
			h.advance(10 * time.Minute)
			h.exit(h.last(), errors.New("signal: segmentation fault"))
			h.wantState(0, StateDown)
			h.wantDelay(100 * time.Millisecond)
			if s := h.m.slots[0]; s.crashes != 0 {
				t.Fatalf("crashes %d after a worker that ran for 10 minutes", s.crashes)
			}
			h.advance(100 * time.Millisecond)
			h.wantProcs(3)
		}},
		{"a worker not ready in time is killed and restarted", 1, func(t *testing.T, h *harness) {
			h.advance(readyTimeout + time.Second)
			h.m.onTick(h.clock.t)
			if !h.procs[0].wasKilled() {
				t.Fatal("a worker that never said ready was not killed")
			}
			h.until("the killed worker gone", func() bool { return h.gen(h.procs[0]) == nil })
			h.wantState(0, StateDown)
			h.advance(200 * time.Millisecond)
			h.wantProcs(2)
		}},
		{"a failed start is retried after the backoff", 2, func(t *testing.T, h *harness) {
			h.fail = 1
			h.exit(h.procs[1], errors.New("exit status 1"))
			h.advance(200 * time.Millisecond) // the restart fails
			h.wantProcs(2)
			h.wantState(1, StateDown)
			h.wantDelay(400 * time.Millisecond)
			h.advance(400 * time.Millisecond)
			h.wantProcs(3)
			h.wantState(1, StateStarting)
		}},
		{"a reload that adds slots starts them, and retries a failed start", 1, func(t *testing.T, h *harness) {
			h.ready(h.procs[0])
			h.writeConfig(3, "127.0.0.1:0")
			h.fail = 1 // slot 1's first start
			h.reload()
			if len(h.m.slots) != 3 {
				t.Fatalf("%d slots after the reload, want 3", len(h.m.slots))
			}
			h.wantProcs(2) // slot 2's
			h.wantState(1, StateDown)
			h.wantDelay(200 * time.Millisecond)
			h.advance(200 * time.Millisecond)
			h.wantProcs(3)
			h.wantState(1, StateStarting)
			if got := h.m.group("rtmp"); got[1].addr.String() != got[0].addr.String() || got[2].addr.String() != got[0].addr.String() {
				t.Fatalf("new slots bound %s and %s, not the group's %s", got[1].addr, got[2].addr, got[0].addr)
			}
		}},
		{"a worker retired by a reload hands its players to those that stay, evenly", 3, func(t *testing.T, h *harness) {
			for _, p := range h.procs {
				p.msgs <- &ipc.Hello{Slot: p.slot, PID: p.pid, GOMAXPROCS: 1}
				p.msgs <- &ipc.Ready{RelayAddr: fmt.Sprint("/run/relay-", p.pid), HandoffAddr: fmt.Sprint("/run/handoff-", p.pid)}
				p.msgs <- &ipc.Load{Conns: ipc.ConnCounts{ipc.ConnRTMPPlay: 10 * p.slot, ipc.ConnFLVPlay: 10 * p.slot}}
				h.until("worker ready with its load", func() bool { wp := h.gen(p); return wp != nil && wp.load != nil })
			}
			h.writeConfig(2, "127.0.0.1:0")
			h.reload()
			retired := h.procs[2]
			retired.mu.Lock()
			defer retired.mu.Unlock()
			var drained bool
			to := map[int]int{}
			for _, m := range retired.sent {
				switch m := m.(type) {
				case *ipc.Command:
					drained = drained || m.Name == ipc.CmdDrain
				case *ipc.Move:
					if !drained {
						t.Fatal("a move was ordered before the drain: the worker could take new players meanwhile")
					}
					if m.ToAddr != fmt.Sprint("/run/handoff-", h.procs[m.To].pid) || m.PerSec <= 0 {
						t.Fatalf("move %+v: wrong socket or no rate", m)
					}
					to[m.To] += m.N
				}
			}
			// 40 players (and a margin for the report's age) over two workers.
			if len(to) != 2 || to[0] != to[1] || to[0] < 20 {
				t.Fatalf("players moved to %v, want 40 and more split over workers 0 and 1", to)
			}
		}},
		{"a reload that removes slots drains their workers, which are not restarted", 3, func(t *testing.T, h *harness) {
			for _, p := range h.procs {
				h.ready(p)
			}
			gone := h.m.slots[2].sockets
			h.writeConfig(1, "127.0.0.1:0")
			h.reload()
			if len(h.m.slots) != 1 {
				t.Fatalf("%d slots after the reload, want 1", len(h.m.slots))
			}
			for _, p := range h.procs[1:] {
				if c := p.commands(); len(c) != 1 || c[0] != ipc.CmdDrain {
					t.Fatalf("retired worker got %v, want a drain", c)
				}
			}
			if socketClosed(gone.list[0]) {
				t.Fatal("a draining worker's socket closed before it is gone")
			}
			h.exit(h.procs[2], nil)
			h.exit(h.procs[1], nil)
			h.advance(time.Minute)
			h.wantProcs(3)
			if !socketClosed(gone.list[0]) {
				t.Fatal("a removed slot's socket is still open after its worker is gone")
			}
		}},
		{"a rolling replacement whose new worker dies before ready keeps the old one", 2, func(t *testing.T, h *harness) {
			for _, p := range h.procs {
				h.ready(p)
			}
			h.writeConfig(2, "127.0.0.2:0")
			h.reload()
			h.wantProcs(3) // slot 0's replacement, one slot at a time
			next := h.last()
			if next.slot != 0 {
				t.Fatalf("the first replacement is for slot %d", next.slot)
			}
			h.exit(next, errors.New("exit status 2"))
			h.wantState(0, StateReady)
			if h.m.slots[0].proc.proc != h.procs[0] || len(h.procs[0].commands()) != 0 {
				t.Fatalf("slot 0 lost its old worker (commands %v)", h.procs[0].commands())
			}
			// The roll goes on with slot 1, whose replacement takes over.
			h.wantProcs(4)
			if h.last().slot != 1 {
				t.Fatalf("the second replacement is for slot %d", h.last().slot)
			}
			h.ready(h.last())
			if h.m.slots[1].proc.proc != h.last() {
				t.Fatal("the ready replacement did not take slot 1")
			}
			if c := h.procs[1].commands(); len(c) != 1 || c[0] != ipc.CmdDrain {
				t.Fatalf("slot 1's old worker got %v, want a drain", c)
			}
			if !strings.Contains(h.logs.String(), "replacement worker died before it was ready") {
				t.Fatal("the dead replacement was not logged")
			}
		}},
		{"a rolling replacement whose start fails is retried", 1, func(t *testing.T, h *harness) {
			h.ready(h.procs[0])
			h.writeConfig(1, "127.0.0.2:0")
			h.fail = 1
			h.reload()
			h.wantProcs(1)
			h.wantDelay(200 * time.Millisecond)
			h.advance(200 * time.Millisecond)
			h.wantProcs(2)
			h.ready(h.last())
			if h.m.slots[0].proc.proc != h.last() || !strings.HasPrefix(h.m.Addr("rtmp"), "127.0.0.2:") {
				t.Fatalf("slot 0 not on the new address %s", h.m.Addr("rtmp"))
			}
		}},
		{"a bad reload changes nothing", 2, func(t *testing.T, h *harness) {
			for _, p := range h.procs {
				h.ready(p)
			}
			if err := os.WriteFile(h.cfg, []byte("workers: 3\nrtmp:\n  chunk_size: 99\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			h.m.reload()
			taken, err := net.Listen("tcp", "127.0.0.1:0") // no SO_REUSEPORT: nobody may join it
			if err != nil {
				t.Fatal(err)
			}
			defer taken.Close()
			h.writeConfig(3, taken.Addr().String())
			h.m.reload()
			if r := h.m.reloads; r.OK != 0 || r.Failed != 2 || !strings.Contains(r.LastErr, taken.Addr().String()) {
				t.Fatalf("reloads %+v, want two failures, the last naming the address", r)
			}
			if !strings.Contains(h.logs.String(), "streamedge.yaml:3") {
				t.Fatal("the bad value's file:line is not logged")
			}
			h.wantProcs(2)
			if len(h.m.slots) != 2 || h.m.cfg.Workers != 2 {
				t.Fatalf("%d slots, config workers %d after failed reloads", len(h.m.slots), h.m.cfg.Workers)
			}
			for _, p := range h.procs {
				if n := configures(p); n != 1 {
					t.Fatalf("a worker was configured %d times, want once (at start)", n)
				}
			}
		}},
		{"a worker of another build is killed", 1, func(t *testing.T, h *harness) {
			p := h.procs[0]
			p.msgs <- &ipc.Hello{Version: "v0-stranger", Slot: 0, PID: p.pid}
			h.until("the stranger gone", func() bool { return h.gen(p) == nil })
			if !p.wasKilled() || !strings.Contains(h.logs.String(), "worker of another build, killing it") {
				t.Fatal("a worker of another build was not killed with a clear log line")
			}
			if configures(p) != 0 {
				t.Fatal("a worker of another build was configured")
			}
		}},
		{"a drain that overruns its grace is killed", 2, func(t *testing.T, h *harness) {
			for _, p := range h.procs {
				h.ready(p)
			}
			h.m.onSignal(syscall.SIGQUIT)
			h.advance(time.Second) // grace_start_wait
			for _, p := range h.procs {
				if c := p.commands(); len(c) != 1 || c[0] != ipc.CmdDrain {
					t.Fatalf("worker got %v on graceful quit, want a drain", c)
				}
			}
			h.exit(h.procs[0], nil) // drained in time
			h.advance(2*time.Second + drainSlack)
			h.m.onTick(h.clock.t)
			if h.procs[1].wasKilled() {
				t.Fatal("killed before grace_final_wait and the slack were over")
			}
			h.advance(time.Millisecond)
			h.m.onTick(h.clock.t)
			if !h.procs[1].wasKilled() || h.procs[0].wasKilled() {
				t.Fatal("the overrunning worker was not killed, or the drained one was")
			}
			h.until("both gone", func() bool { return len(h.m.procs) == 0 })
			h.advance(time.Minute)
			h.wantProcs(2) // quitting: no restarts
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, newHarness(t, tt.workers)) })
	}
}
