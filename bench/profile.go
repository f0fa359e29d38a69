package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// profileHz is perf's sampling rate: enough samples in a 15 s window for
// the top of a flat profile, few enough that recording does not cost the
// worker a measurable share of the CPU it is measured on.
const profileHz = 199

// startProfile records, after delay and for d, the stacks of the
// processes master has started (the workers) with perf, into out, and
// writes perf's flat report of it to out + ".txt". wait returns once both
// are written, or at once with why not; ctx ending stops perf.
func startProfile(ctx context.Context, master int, delay, d time.Duration, out string) (wait func() error, err error) {
	perf, err := exec.LookPath("perf")
	if err != nil {
		return nil, fmt.Errorf("-profile needs perf (%v): apt-get install linux-perf, or leave -profile out", err)
	}
	workers, err := childPids(master)
	if err != nil {
		return nil, err
	}
	if len(workers) == 0 {
		return nil, fmt.Errorf("-profile: the server (pid %d) has no workers to profile", master)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
			done <- recordProfile(ctx, perf, workers, d, out)
		case <-ctx.Done():
			done <- ctx.Err()
		}
	}()
	return func() error { return <-done }, nil
}

func recordProfile(ctx context.Context, perf string, pids []int, d time.Duration, out string) error {
	ps := make([]string, len(pids))
	for i, p := range pids {
		ps[i] = strconv.Itoa(p)
	}
	// Go keeps frame pointers, so -g gives whole stacks without DWARF.
	rec := exec.CommandContext(ctx, perf, "record", "-q", "-F", strconv.Itoa(profileHz), "-g", "-o", out,
		"-p", strings.Join(ps, ","), "--", "sleep", strconv.FormatFloat(d.Seconds(), 'f', 1, 64))
	if b, err := rec.CombinedOutput(); err != nil {
		return fmt.Errorf("perf record: %v: %s", err, bounded(b))
	}
	var report bytes.Buffer
	fmt.Fprintf(&report, "perf record -F %d -g of pids %s for %v; the full data: perf report -i %s\n\n",
		profileHz, strings.Join(ps, ","), d, out)
	for _, sort := range []string{"dso", "dso,symbol"} {
		rep := exec.CommandContext(ctx, perf, "report", "-i", out, "--stdio", "--no-children", "-g", "none",
			"--sort", sort, "--percent-limit", "0.5")
		b, err := rep.Output()
		if err != nil {
			return fmt.Errorf("perf report: %v", err)
		}
		report.Write(b)
	}
	return os.WriteFile(out+".txt", report.Bytes(), 0o644)
}

// bounded is the end of a tool's output, short enough for a log line.
func bounded(b []byte) string {
	if len(b) > 500 {
		b = b[len(b)-500:]
	}
	return strings.TrimSpace(string(b))
}
