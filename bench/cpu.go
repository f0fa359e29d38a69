package bench

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"
)

// clockTick is USER_HZ, the unit of /proc's CPU times. It is 100 on every
// Linux architecture Go supports; reading sysconf(_SC_CLK_TCK) would need cgo.
const clockTick = time.Second / 100

// selfCPU is the user+system CPU time this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procStat is the part of /proc/<pid>/stat the bench needs.
type procStat struct {
	pid, ppid                    int
	utime, stime, cutime, cstime uint64 // clock ticks
}

// parseProcStat reads one /proc/<pid>/stat line. The command name is in
// parentheses and may itself hold spaces and parentheses, so the fields are
// counted from the last ')'.
func parseProcStat(b []byte) (procStat, error) {
	var st procStat
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return st, fmt.Errorf("bad /proc stat line %q", b)
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b[:open])))
	if err != nil {
		return st, fmt.Errorf("bad pid in /proc stat line %q", b)
	}
	// After the name: state(3) ppid(4) ... utime(14) stime(15) cutime(16) cstime(17).
	f := bytes.Fields(b[end+1:])
	if len(f) < 15 {
		return st, fmt.Errorf("short /proc stat line %q", b)
	}
	st.pid = pid
	nums := make([]uint64, 0, 5)
	for _, i := range []int{1, 11, 12, 13, 14} {
		v, err := strconv.ParseInt(string(f[i]), 10, 64)
		if err != nil || v < 0 {
			return st, fmt.Errorf("bad field in /proc stat line %q", b)
		}
		nums = append(nums, uint64(v))
	}
	st.ppid = int(nums[0])
	st.utime, st.stime, st.cutime, st.cstime = nums[1], nums[2], nums[3], nums[4]
	return st, nil
}

// ProcessTreeCPU is the CPU time used by pid and its descendants: their own
// time, plus what their exited and reaped children used (so a worker that
// was restarted still counts).
func ProcessTreeCPU(pid int) (time.Duration, error) {
	stats, err := statsWith(pid)
	if err != nil {
		return 0, err
	}
	return treeCPU(stats, pid), nil
}

// statsWith is every process's stat, or an error when pid is not among them.
func statsWith(pid int) (map[int]procStat, error) {
	stats, err := allProcStats()
	if err != nil {
		return nil, err
	}
	if _, ok := stats[pid]; !ok {
		return nil, fmt.Errorf("process %d is gone", pid)
	}
	return stats, nil
}

// ProcessTreeUserCPU is the part of ProcessTreeCPU spent in user space:
// the rest is the kernel's, mostly the copy of what the server sends.
func ProcessTreeUserCPU(pid int) (time.Duration, error) {
	stats, err := statsWith(pid)
	if err != nil {
		return 0, err
	}
	user, _ := treeCPUSplit(stats, pid)
	return user, nil
}

// treeCPU sums the ticks of root and everything below it.
func treeCPU(stats map[int]procStat, root int) time.Duration {
	user, sys := treeCPUSplit(stats, root)
	return user + sys
}

// treeCPUSplit is treeCPU in user and in system time.
func treeCPUSplit(stats map[int]procStat, root int) (user, sys time.Duration) {
	var u, s uint64
	for _, pid := range treePids(stats, root) {
		st := stats[pid]
		u += st.utime + st.cutime
		s += st.stime + st.cstime
	}
	return time.Duration(u) * clockTick, time.Duration(s) * clockTick
}

// treePids is root and every process below it, root first.
func treePids(stats map[int]procStat, root int) []int {
	children := map[int][]int{}
	for _, st := range stats {
		children[st.ppid] = append(children[st.ppid], st.pid)
	}
	pids := []int{root}
	for i := 0; i < len(pids); i++ {
		pids = append(pids, children[pids[i]]...)
	}
	return pids
}

// ProcessTreeRSS is the resident memory of pid and its descendants, in
// bytes: a server's master and workers, or nginx's master and worker.
// Pages two of them share (the binary's text) count twice, as they would
// on two machines.
func ProcessTreeRSS(pid int) (uint64, error) {
	stats, err := statsWith(pid)
	if err != nil {
		return 0, err
	}
	var pages uint64
	for _, p := range treePids(stats, pid) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/statm", p))
		if err != nil {
			continue // exited while we looked
		}
		if n, err := parseStatmRSS(b); err == nil {
			pages += n
		}
	}
	return pages * uint64(os.Getpagesize()), nil
}

// parseStatmRSS reads the resident pages, the second field of
// /proc/<pid>/statm.
func parseStatmRSS(b []byte) (uint64, error) {
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0, fmt.Errorf("bad /proc statm line %q", b)
	}
	n, err := strconv.ParseUint(string(f[1]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("bad /proc statm line %q", b)
	}
	return n, nil
}

// childPids are the processes whose parent is pid: a master's workers.
func childPids(pid int) ([]int, error) {
	stats, err := allProcStats()
	if err != nil {
		return nil, err
	}
	var out []int
	for _, st := range stats {
		if st.ppid == pid {
			out = append(out, st.pid)
		}
	}
	slices.Sort(out)
	return out, nil
}

func allProcStats() (map[int]procStat, error) {
	dirs, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		return nil, err
	}
	stats := make(map[int]procStat, len(dirs))
	for _, path := range dirs {
		b, err := os.ReadFile(path)
		if err != nil {
			continue // exited while we looked
		}
		if st, err := parseProcStat(b); err == nil {
			stats[st.pid] = st
		}
	}
	if len(stats) == 0 {
		return nil, fmt.Errorf("no processes in /proc: is it mounted?")
	}
	return stats, nil
}

// hostBusy is the CPU time all of this machine's cores spent on anything
// but idling, from /proc/stat: the bench and the server share the box, and
// the kernel's loopback work is in neither process.
func hostBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	return parseHostBusy(b)
}

// parseHostBusy reads the "cpu" line: user nice system idle iowait irq
// softirq steal ...; guest time is already inside user.
func parseHostBusy(b []byte) (time.Duration, error) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) == 0 || string(f[0]) != "cpu" {
		return 0, fmt.Errorf("bad /proc/stat line %q", line)
	}
	return busyOf(line, f)
}

// coresBusy is the non-idle CPU time of some of this machine's cores: with
// the server and the load client pinned apart, each side's own cores.
func coresBusy(cpus CPUList) (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	return parseCoresBusy(b, cpus)
}

// parseCoresBusy sums the "cpuN" lines of the listed cores.
func parseCoresBusy(b []byte, cpus CPUList) (time.Duration, error) {
	var sum time.Duration
	found := 0
	for line := range bytes.Lines(b) {
		f := bytes.Fields(line)
		if len(f) == 0 || !bytes.HasPrefix(f[0], []byte("cpu")) || len(f[0]) == 3 {
			continue
		}
		n, err := strconv.Atoi(string(f[0][3:]))
		if err != nil || !slices.Contains(cpus, n) {
			continue
		}
		d, err := busyOf(line, f)
		if err != nil {
			return 0, err
		}
		sum += d
		found++
	}
	if found != len(cpus) {
		return 0, fmt.Errorf("/proc/stat has %d of the CPUs %s", found, cpus)
	}
	return sum, nil
}

// busyOf adds up a /proc/stat cpu line's fields but idle and iowait.
func busyOf(line []byte, f [][]byte) (time.Duration, error) {
	if len(f) < 9 {
		return 0, fmt.Errorf("bad /proc/stat line %q", bytes.TrimSpace(line))
	}
	var busy uint64
	for i, field := range f[1:9] {
		v, err := strconv.ParseUint(string(field), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bad /proc/stat line %q", bytes.TrimSpace(line))
		}
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return time.Duration(busy) * clockTick, nil
}
