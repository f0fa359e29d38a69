package bench

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// CPUList is a set of CPU numbers, sorted and without repeats, as Linux
// writes them in Cpus_allowed_list ("0-2,5"). Empty means no pinning.
type CPUList []int

// maxCPU bounds the CPU numbers a list may name: the kernel's cpu_set_t.
const maxCPU = 1024

// ParseCPUList reads "1", "0-3" or "0,2-3"; "" is the empty list.
func ParseCPUList(s string) (CPUList, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var out CPUList
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(lo)
		b := a
		if err == nil && isRange {
			b, err = strconv.Atoi(hi)
		}
		if err != nil || a < 0 || b < a || b >= maxCPU {
			return nil, fmt.Errorf("bad CPU list %q: want numbers and ranges such as 0,2-3", s)
		}
		for c := a; c <= b; c++ {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// String writes the list the way the kernel does: runs as ranges.
func (l CPUList) String() string {
	var b strings.Builder
	for i := 0; i < len(l); {
		j := i
		for j+1 < len(l) && l[j+1] == l[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(l[i]))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(l[j]))
		}
		i = j + 1
	}
	return b.String()
}

// Overlaps says whether a CPU is in both lists.
func (l CPUList) Overlaps(o CPUList) bool {
	for _, c := range l {
		if slices.Contains(o, c) {
			return true
		}
	}
	return false
}

func (l CPUList) set() *unix.CPUSet {
	var s unix.CPUSet
	for _, c := range l {
		s.Set(c)
	}
	return &s
}

// cpuListFlag is a flag.Value for a CPUList.
type cpuListFlag struct{ l *CPUList }

func (f cpuListFlag) String() string {
	if f.l == nil {
		return ""
	}
	return f.l.String()
}

func (f cpuListFlag) Set(s string) error {
	l, err := ParseCPUList(s)
	if err == nil {
		*f.l = l
	}
	return err
}

// Pinning says which CPUs the server under test and the load client (this
// process: players and publisher) may run on. Apart, they measure the
// server alone on its cores; together (or unset) they share the machine.
// Nice, for both, keeps the other work of a shared machine from taking
// their cores' time (negative needs root).
type Pinning struct {
	Server CPUList
	Client CPUList
	Nice   int
}

// check refuses CPUs the machine does not have, and a server and client
// that share one: the point of pinning is that they do not.
func (p Pinning) check() error {
	n := runtime.NumCPU()
	for name, l := range map[string]CPUList{"-server-cpus": p.Server, "-client-cpus": p.Client} {
		if len(l) > 0 && l[len(l)-1] >= n {
			return fmt.Errorf("%s %s: this machine has CPUs 0-%d", name, l, n-1)
		}
	}
	if p.Nice < -20 || p.Nice > 19 {
		return fmt.Errorf("-nice %d: want -20 to 19", p.Nice)
	}
	if p.Server.Overlaps(p.Client) {
		return fmt.Errorf("-server-cpus %s and -client-cpus %s share a CPU", p.Server, p.Client)
	}
	return nil
}

// pinSelf puts every thread of this process on the client's CPUs at the
// client's nice and sizes GOMAXPROCS to the CPUs. Threads the runtime
// starts later inherit both from the thread that starts them.
func pinSelf(p Pinning) error {
	if len(p.Client) == 0 && p.Nice == 0 {
		return nil
	}
	tids, err := filepath.Glob("/proc/self/task/[0-9]*")
	if err != nil || len(tids) == 0 {
		return fmt.Errorf("no threads of the bench in /proc: %v", err)
	}
	for _, t := range tids {
		tid, _ := strconv.Atoi(filepath.Base(t))
		if err := p.client().apply(tid); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("thread %d: %w", tid, err)
		}
	}
	if len(p.Client) > 0 {
		runtime.GOMAXPROCS(len(p.Client))
	}
	return nil
}

// autogroupFile is the scheduler's group of this process's session.
const autogroupFile = "/proc/self/autogroup"

// setAutogroupNice sets the nice of the session's autogroup and returns
// how to set it back. With autogroup scheduling (sched_autogroup_enabled,
// the default of desktop and many server kernels) the kernel shares a
// core between sessions first, so a thread's nice ranks it only against
// its own session: what counts against the other work of a shared machine
// is the session's. The server, the bench's child, is in the same session;
// so is the shell that ran the bench, hence the undo. Without autogroups
// there is no file, and the threads' nice is what counts.
func setAutogroupNice(path string, nice int) (undo func(), err error) {
	undo = func() {}
	if nice == 0 {
		return undo, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return undo, nil
	}
	was, perr := parseAutogroupNice(b)
	if err == nil {
		err = perr
	}
	if err == nil {
		err = os.WriteFile(path, []byte(strconv.Itoa(nice)), 0)
	}
	if err != nil {
		return undo, fmt.Errorf("setting the nice of the session's autogroup (%s): %w", path, err)
	}
	return func() { os.WriteFile(path, []byte(strconv.Itoa(was)), 0) }, nil
}

// parseAutogroupNice reads "/autogroup-677 nice -10".
func parseAutogroupNice(b []byte) (int, error) {
	f := strings.Fields(string(b))
	if len(f) != 3 || f[1] != "nice" {
		return 0, fmt.Errorf("bad autogroup line %q", b)
	}
	n, err := strconv.Atoi(f[2])
	if err != nil {
		return 0, fmt.Errorf("bad autogroup line %q", b)
	}
	return n, nil
}

// placement is where one side runs: its CPUs (none: any) and nice.
type placement struct {
	cpus CPUList
	nice int
}

func (p Pinning) client() placement { return placement{p.Client, p.Nice} }
func (p Pinning) server() placement { return placement{p.Server, p.Nice} }

func (pl placement) none() bool { return len(pl.cpus) == 0 && pl.nice == 0 }

// apply sets thread tid (0: the calling thread) to the placement.
func (pl placement) apply(tid int) error {
	if len(pl.cpus) > 0 {
		if err := unix.SchedSetaffinity(tid, pl.cpus.set()); err != nil {
			return fmt.Errorf("pinning to CPUs %s: %w", pl.cpus, err)
		}
	}
	if pl.nice != 0 {
		if err := unix.Setpriority(unix.PRIO_PROCESS, tid, pl.nice); err != nil {
			return fmt.Errorf("setting nice %d: %w", pl.nice, err)
		}
	}
	return nil
}

// restore sets the calling thread back to pl, which currentPlacement
// read: both, nice 0 included, which apply would take for "unset".
func (pl placement) restore() error {
	if err := unix.SchedSetaffinity(0, pl.cpus.set()); err != nil {
		return err
	}
	return unix.Setpriority(unix.PRIO_PROCESS, 0, pl.nice)
}

// currentPlacement is the calling thread's placement, to go back to.
func currentPlacement() (placement, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return placement{}, fmt.Errorf("reading this thread's CPUs: %w", err)
	}
	var pl placement
	for c := range maxCPU {
		if set.IsSet(c) {
			pl.cpus = append(pl.cpus, c)
		}
	}
	prio, err := unix.Getpriority(unix.PRIO_PROCESS, 0)
	if err != nil {
		return placement{}, fmt.Errorf("reading this thread's nice: %w", err)
	}
	pl.nice = 20 - prio // the raw syscall's 1..40 for nice 19..-20
	return pl, nil
}

// startMu: startPlaced changes the thread it runs on, and a second one at
// the same time must not restore the first one's placement.
var startMu sync.Mutex

// startPlaced starts cmd as the server side of p (no pinning: as it is).
// A child inherits the affinity and the nice of the thread that forks it,
// so cmd starts on a locked thread placed there for the moment of the
// fork: the server's first thread is already placed, and so is all it
// starts, workers included, with no window in which one runs elsewhere.
func startPlaced(cmd *exec.Cmd, p Pinning) error {
	pl := p.server()
	if pl.none() {
		return cmd.Start()
	}
	startMu.Lock()
	defer startMu.Unlock()
	// Locked, a thread the runtime needs meanwhile is started by its
	// template thread, not forked from this one with the server's mask.
	runtime.LockOSThread()
	was, err := currentPlacement()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	if err := pl.apply(0); err != nil {
		if rerr := was.restore(); rerr != nil {
			return errors.Join(err, rerr) // left locked: see below
		}
		runtime.UnlockOSThread()
		return err
	}
	err = cmd.Start()
	if rerr := was.restore(); rerr != nil {
		// Left locked, the thread ends with this goroutine instead of
		// going back to the runtime with the server's placement.
		return errors.Join(err, fmt.Errorf("restoring this thread: %w", rerr))
	}
	runtime.UnlockOSThread()
	return err
}

// Affinity is the CPUs that a process tree's threads may run on, as read
// back from /proc: the proof that pinning took.
type Affinity struct {
	Processes int    `json:"processes"`
	Threads   int    `json:"threads"`
	CPUs      string `json:"cpus"` // Cpus_allowed_list, when every thread has the same
	Mixed     bool   `json:"mixed,omitempty"`
}

func (a Affinity) String() string {
	if a.Threads == 0 {
		return "unknown"
	}
	mixed := ""
	if a.Mixed {
		mixed = " (NOT all the same)"
	}
	return fmt.Sprintf("%s%s, %d processes, %d threads", a.CPUs, mixed, a.Processes, a.Threads)
}

// treeAffinity reads Cpus_allowed_list of every thread of pid and of the
// processes below it.
func treeAffinity(pid int) (Affinity, error) {
	stats, err := statsWith(pid)
	if err != nil {
		return Affinity{}, err
	}
	return pidsAffinity(treePids(stats, pid))
}

// pidsAffinity reads Cpus_allowed_list of every thread of the processes.
func pidsAffinity(pids []int) (Affinity, error) {
	var a Affinity
	lists := map[string]bool{}
	for _, p := range pids {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/[0-9]*/status", p))
		counted := false
		for _, path := range tasks {
			b, err := os.ReadFile(path)
			if err != nil {
				continue // exited while we looked
			}
			l, err := parseAllowedList(b)
			if err != nil {
				return a, fmt.Errorf("%s: %w", path, err)
			}
			lists[l] = true
			a.Threads++
			if !counted {
				a.Processes, counted = a.Processes+1, true
			}
		}
	}
	all := slices.Sorted(maps.Keys(lists))
	a.CPUs, a.Mixed = strings.Join(all, " | "), len(all) > 1
	return a, nil
}

// parseAllowedList finds the Cpus_allowed_list line of a /proc status file.
func parseAllowedList(status []byte) (string, error) {
	for line := range bytes.Lines(status) {
		if v, ok := bytes.CutPrefix(line, []byte("Cpus_allowed_list:")); ok {
			l, err := ParseCPUList(string(v))
			if err != nil {
				return "", err
			}
			return l.String(), nil
		}
	}
	return "", errors.New("no Cpus_allowed_list")
}
