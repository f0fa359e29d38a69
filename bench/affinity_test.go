package bench

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseCPUList(t *testing.T) {
	tests := []struct {
		in   string
		want CPUList
		str  string
		err  bool
	}{
		{"", nil, "", false},
		{"1", CPUList{1}, "1", false},
		{" 0-3 ", CPUList{0, 1, 2, 3}, "0-3", false},
		{"5,0-2", CPUList{0, 1, 2, 5}, "0-2,5", false},
		{"1,1,0", CPUList{0, 1}, "0-1", false},
		{"0,2,4-5,7", CPUList{0, 2, 4, 5, 7}, "0,2,4-5,7", false},
		{"a", nil, "", true},
		{"2-1", nil, "", true},
		{"-1", nil, "", true},
		{"0-", nil, "", true},
		{"1,", nil, "", true},
		{"1024", nil, "", true},
	}
	for _, tt := range tests {
		got, err := ParseCPUList(tt.in)
		if (err != nil) != tt.err || !slices.Equal(got, tt.want) || got.String() != tt.str {
			t.Errorf("ParseCPUList(%q) = %v (%q), %v; want %v (%q), error %v", tt.in, got, got.String(), err, tt.want, tt.str, tt.err)
		}
	}
}

func TestPinningCheck(t *testing.T) {
	tests := []struct {
		name string
		pin  Pinning
		want string // in the error; "" for none
	}{
		{"none", Pinning{}, ""},
		{"apart", Pinning{Server: CPUList{0}, Client: CPUList{1}}, ""},
		{"server only", Pinning{Server: CPUList{0}}, ""},
		{"shared", Pinning{Server: CPUList{0, 1}, Client: CPUList{1}}, "share a CPU"},
		{"no such CPU", Pinning{Client: CPUList{maxCPU - 1}}, "-client-cpus 1023: this machine has CPUs 0-"},
		{"nice", Pinning{Nice: -21}, "-nice -21: want -20 to 19"},
	}
	for _, tt := range tests {
		err := tt.pin.check()
		if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: check() = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestParseAllowedList(t *testing.T) {
	status := "Name:\tstreamedge\nCpus_allowed:\t1\nCpus_allowed_list:\t0-1,3\nMems_allowed_list:\t0\n"
	if got, err := parseAllowedList([]byte(status)); err != nil || got != "0-1,3" {
		t.Errorf("parseAllowedList = %q, %v; want 0-1,3", got, err)
	}
	if _, err := parseAllowedList([]byte("Name:\tx\n")); err == nil {
		t.Error("no error for a status without Cpus_allowed_list")
	}
	if _, err := parseAllowedList([]byte("Cpus_allowed_list:\tx\n")); err == nil {
		t.Error("no error for a bad Cpus_allowed_list")
	}
}

func TestParseCoresBusy(t *testing.T) {
	stat := "cpu  10 0 10 100 0 0 0 0 0 0\ncpu0 1 2 3 50 5 6 7 8 0 0\ncpu1 10 0 10 40 0 0 1 0 0 0\nintr 5\n"
	tests := []struct {
		cpus CPUList
		want time.Duration
		err  bool
	}{
		{CPUList{0}, 27 * clockTick, false}, // idle and iowait left out
		{CPUList{1}, 21 * clockTick, false},
		{CPUList{0, 1}, 48 * clockTick, false},
		{CPUList{2}, 0, true}, // no such core
	}
	for _, tt := range tests {
		got, err := parseCoresBusy([]byte(stat), tt.cpus)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("parseCoresBusy(%v) = %v, %v; want %v, error %v", tt.cpus, got, err, tt.want, tt.err)
		}
	}
	if _, err := parseCoresBusy([]byte("cpu0 1 2\n"), CPUList{0}); err == nil {
		t.Error("no error for a short cpu line")
	}
	if d, err := coresBusy(CPUList{0}); err != nil || d <= 0 {
		t.Errorf("coresBusy(0) = %v, %v", d, err)
	}
}

func TestCoresPct(t *testing.T) {
	s := func(t, v float64) Sample { return Sample{T: t, Probes: map[string]float64{serverCoresProbe: v}} }
	tests := []struct {
		name string
		a, b Sample
		n    int
		want float64
	}{
		{"one core half busy", s(1, 10), s(5, 12), 1, 50},
		{"two cores", s(0, 0), s(2, 3), 2, 75},
		{"no probe", Sample{T: 0}, s(2, 3), 1, 0},
		{"no time", s(2, 1), s(2, 3), 1, 0},
	}
	for _, tt := range tests {
		if got := coresPct(tt.a, tt.b, serverCoresProbe, tt.n); got != tt.want {
			t.Errorf("%s: coresPct = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestStartPinned: a child started pinned, and what it starts, run on the
// CPUs asked for, and the bench's own threads keep theirs.
func TestStartPinned(t *testing.T) {
	before, err := pidsAffinity([]int{os.Getpid()})
	if err != nil {
		t.Fatal(err)
	}
	// The first CPU this test may use: a cpuset need not hold CPU 0.
	have, err := ParseCPUList(before.CPUs)
	if err != nil || len(have) == 0 {
		t.Fatalf("the test's CPUs %q: %v", before.CPUs, err)
	}
	cpu0 := have[:1]
	before0, err := currentPlacement()
	if err != nil {
		t.Fatal(err)
	}
	// The child reads its own mask and its child's: the shell's
	// background job is a process the child forked, as workers are.
	// Nice 5 lowers the child only, which needs no privilege.
	cmd := exec.Command("/bin/sh", "-c", "sleep 5 & grep Cpus_allowed_list /proc/self/status /proc/$!/status; kill $!; cut -d' ' -f19 /proc/self/stat")
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := startPlaced(cmd, Pinning{Server: cpu0, Nice: 5}); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v\n%s", err, out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("child wrote %q, want two Cpus_allowed_list lines and a nice", out.String())
	}
	if lines[2] != "5" {
		t.Errorf("child's nice %q, want 5", lines[2])
	}
	for _, l := range lines[:2] {
		if !strings.HasSuffix(l, "\t"+cpu0.String()) {
			t.Errorf("child process not pinned to CPU %s: %q", cpu0, l)
		}
	}
	after, err := pidsAffinity([]int{os.Getpid()})
	if err != nil {
		t.Fatal(err)
	}
	if after.CPUs != before.CPUs || after.Mixed {
		t.Errorf("the bench's threads were on %s, now %s", before, after)
	}
	if now, err := currentPlacement(); err != nil || now.nice != before0.nice {
		t.Errorf("this thread's nice was %d, now %d (%v)", before0.nice, now.nice, err)
	}
	// Unpinned, the child gets what the bench has.
	cmd = exec.Command("/bin/sh", "-c", "grep Cpus_allowed_list /proc/self/status")
	out.Reset()
	cmd.Stdout = &out
	if err := startPlaced(cmd, Pinning{}); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil || !strings.HasSuffix(strings.TrimSpace(out.String()), "\t"+before.CPUs) {
		t.Errorf("unpinned child: %q, %v; want the bench's %s", out.String(), err, before.CPUs)
	}
}

// TestPinningApply pins the test process to the CPUs it already has, so
// nothing else in the run changes, and checks that Apply read it back.
func TestPinningApply(t *testing.T) {
	a, err := pidsAffinity([]int{os.Getpid()})
	if err != nil || a.Mixed {
		t.Fatalf("affinity of the test: %v, %v", a, err)
	}
	have, err := ParseCPUList(a.CPUs)
	if err != nil {
		t.Fatal(err)
	}
	procs := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(procs)
	undo, err := Pinning{Client: have}.Apply()
	if err != nil {
		t.Fatal(err)
	}
	undo()
	if got := runtime.GOMAXPROCS(0); got != len(have) {
		t.Errorf("GOMAXPROCS %d after pinning to %s", got, have)
	}
	if _, err := (Pinning{Server: CPUList{0}, Client: CPUList{0}}).Apply(); err == nil {
		t.Error("Apply pinned a server and a client on one CPU")
	}
}

func TestWriteAffinityRows(t *testing.T) {
	pin := Pinning{Server: CPUList{0}, Client: CPUList{1}}
	good := affinityRow{"1000 players", &Affinity{Processes: 2, Threads: 14, CPUs: "0"}, &Affinity{Processes: 1, Threads: 8, CPUs: "1"}}
	bad := affinityRow{"2000 players", &Affinity{Processes: 2, Threads: 15, CPUs: "0 | 0-1", Mixed: true}, good.client}
	tests := []struct {
		name string
		pin  Pinning
		rows []affinityRow
		want []string
	}{
		{"held", pin, []affinityRow{good, good}, []string{"every server thread on 0 (last: 0, 2 processes, 14 threads)", "every bench thread on 1"}},
		{"broken", pin, []affinityRow{good, bad}, []string{"affinity at the end of 2000 players: server 0 | 0-1 (NOT all the same)", "affinity at the end of 1000 players"}},
		{"not read", pin, []affinityRow{{label: "x"}}, []string{"server unknown"}},
		{"not pinned", Pinning{}, []affinityRow{bad}, nil},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		writeAffinityRows(&b, tt.pin, tt.rows)
		for _, w := range tt.want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("%s: no %q in\n%s", tt.name, w, b.String())
			}
		}
		if tt.want == nil && b.Len() > 0 {
			t.Errorf("%s: wrote %q", tt.name, b.String())
		}
	}
}

// TestAutogroupNice sets and undoes the nice of a file shaped like
// /proc/self/autogroup, and leaves a machine without one alone.
func TestAutogroupNice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "autogroup")
	// A real autogroup file reads back as "/autogroup-N nice X"; a plain
	// file reads back what was written, so the test writes the line back.
	if err := os.WriteFile(path, []byte("/autogroup-7 nice 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	undo, err := setAutogroupNice(path, -5)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "-5" {
		t.Errorf("wrote %q, want -5", b)
	}
	undo()
	if b, _ := os.ReadFile(path); string(b) != "2" {
		t.Errorf("undo wrote %q, want 2", b)
	}
	if _, err := setAutogroupNice(filepath.Join(t.TempDir(), "none"), -5); err != nil {
		t.Errorf("no autogroup file: %v", err)
	}
	os.WriteFile(path, []byte("garbage"), 0o644)
	if _, err := setAutogroupNice(path, -5); err == nil {
		t.Error("no error for a bad autogroup line")
	}
	if undo, err := setAutogroupNice(path, 0); err != nil || undo == nil {
		t.Errorf("nice 0: %v", err)
	}
}
