package bench

import (
	"os"
	"slices"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	tests := []struct {
		name string
		line string
		want procStat
		err  bool
	}{
		{
			name: "plain",
			line: "1234 (streamedge) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 10 5 20 0 8 0 100 0 0",
			want: procStat{pid: 1234, ppid: 1, utime: 250, stime: 75, cutime: 10, cstime: 5},
		},
		{
			// A name may hold spaces and parentheses: count from the last ')'.
			name: "awkward name",
			line: "42 (a (b) c) R 7 42 42 0 -1 0 0 0 0 0 3 4 5 6 20 0 1 0 1 0 0",
			want: procStat{pid: 42, ppid: 7, utime: 3, stime: 4, cutime: 5, cstime: 6},
		},
		{name: "short", line: "42 (x) R 7 42", err: true},
		{name: "no name", line: "42 R 7 42 42 0 -1 0 0 0 0 0 3 4 5 6", err: true},
		{name: "negative time", line: "42 (x) R 7 42 42 0 -1 0 0 0 0 0 -3 4 5 6 20 0", err: true},
	}
	for _, tt := range tests {
		got, err := parseProcStat([]byte(tt.line))
		if (err != nil) != tt.err || (!tt.err && got != tt.want) {
			t.Errorf("%s: parseProcStat = %+v, %v; want %+v, error %v", tt.name, got, err, tt.want, tt.err)
		}
	}
}

func TestTreeCPU(t *testing.T) {
	stats := map[int]procStat{
		1:  {pid: 1, ppid: 0, utime: 1000},
		10: {pid: 10, ppid: 1, utime: 20, stime: 10, cutime: 5, cstime: 5}, // the master, with a reaped worker
		11: {pid: 11, ppid: 10, utime: 100, stime: 50},                     // worker 0
		12: {pid: 12, ppid: 10, utime: 200, stime: 0},                      // worker 1
		13: {pid: 13, ppid: 12, utime: 7},                                  // a worker's child
		20: {pid: 20, ppid: 1, utime: 999},                                 // someone else
	}
	if got, want := treeCPU(stats, 10), 397*clockTick; got != want {
		t.Errorf("treeCPU = %v, want %v", got, want)
	}
	if user, sys := treeCPUSplit(stats, 10); user != 332*clockTick || sys != 65*clockTick {
		t.Errorf("treeCPUSplit = %v user, %v system; want %v, %v", user, sys, 332*clockTick, 65*clockTick)
	}
}

func TestProcessTreeCPUOfSelf(t *testing.T) {
	// Burn a little CPU so there is something to see at 10 ms resolution.
	deadline := time.Now().Add(50 * time.Millisecond)
	for time.Now().Before(deadline) {
	}
	d, err := ProcessTreeCPU(os.Getpid())
	if err != nil || d <= 0 {
		t.Fatalf("ProcessTreeCPU(self) = %v, %v", d, err)
	}
	if _, err := ProcessTreeCPU(1 << 30); err == nil {
		t.Error("no error for a pid that does not exist")
	}
}

func TestParseHostBusy(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"cpu  100 5 50 1000 7 3 2 1 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n", 161 * clockTick, false},
		{"cpu  100 5 50 1000 7 3 2 1", 161 * clockTick, false},
		{"cpu0 100 5 50 1000 7 3 2 1 0 0", 0, true},
		{"cpu  100 5", 0, true},
		{"cpu  a 5 50 1000 7 3 2 1 0 0", 0, true},
	}
	for _, tt := range tests {
		got, err := parseHostBusy([]byte(tt.in))
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("parseHostBusy(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
	if d, err := hostBusy(); err != nil || d <= 0 {
		t.Errorf("hostBusy() = %v, %v", d, err)
	}
}

func TestTreePids(t *testing.T) {
	stats := map[int]procStat{
		10: {pid: 10, ppid: 1}, // the master
		11: {pid: 11, ppid: 10},
		12: {pid: 12, ppid: 10},
		13: {pid: 13, ppid: 12},
		20: {pid: 20, ppid: 1}, // someone else
	}
	got := treePids(stats, 10)
	slices.Sort(got[1:])
	if want := []int{10, 11, 12, 13}; !slices.Equal(got, want) {
		t.Errorf("treePids = %v, want %v", got, want)
	}
}

func TestParseStatmRSS(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		err  bool
	}{
		{"5964 3100 1200 300 0 900 0\n", 3100, false},
		{"5964", 0, true},
		{"5964 -3 1", 0, true},
		{"", 0, true},
	}
	for _, tt := range tests {
		got, err := parseStatmRSS([]byte(tt.in))
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("parseStatmRSS(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
	// The test binary holds far more than a megabyte.
	if rss, err := ProcessTreeRSS(os.Getpid()); err != nil || rss < 1<<20 {
		t.Errorf("ProcessTreeRSS(self) = %v, %v", rss, err)
	}
	if _, err := ProcessTreeRSS(1 << 30); err == nil {
		t.Error("no error for a pid that does not exist")
	}
}
