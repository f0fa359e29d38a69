package bench

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUsageErrors: a command line the bench cannot run exits 2 and says why,
// before any connection is made.
func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "usage: streamedge bench"},
		{"unknown command", []string{"attack"}, `unknown command "attack"`},
		{"play without url", []string{"play"}, "-url is required"},
		{"too many clients", []string{"play", "-url", "rtmp://127.0.0.1/live/s", "-clients", "20001"}, "clients must be between 1 and 20000"},
		{"remote target", []string{"play", "-url", "rtmp://192.0.2.1/live/s"}, "not a loopback address"},
		{"not a stream url", []string{"play", "-url", "http://127.0.0.1:8080/live/s"}, "ends in .flv"},
		{"bad bitrate", []string{"play", "-url", "rtmp://127.0.0.1/live/s", "-bitrate", "fast"}, "bad bitrate"},
		{"ramp longer than the run", []string{"play", "-url", "rtmp://127.0.0.1/live/s", "-clients", "100", "-ramp", "10/s", "-duration", "5s"}, "longer than the duration"},
		{"stray argument", []string{"play", "-url", "rtmp://127.0.0.1/live/s", "-reconnect", "true"}, "unexpected arguments: true"},
		{"publish without media", []string{"publish", "-url", "rtmp://127.0.0.1/live/s"}, "-synthetic"},
		{"publish over http", []string{"publish", "-url", "http://127.0.0.1/live/s.flv", "-synthetic", "1M"}, "publishers speak RTMP"},
		{"publish a missing file", []string{"publish", "-url", "rtmp://127.0.0.1/live/s", "-file", "/nonexistent.flv"}, "no such file"},
		{"scenario protocol", []string{"scenario", "-protocol", "hls"}, "-protocol must be flv, rtmp or whep"},
		{"scenario steps", []string{"scenario", "-steps", "200,100"}, "counts must increase"},
		{"compare protocol", []string{"compare", "-protocols", "rtmp,whep"}, `bad protocol "whep"`},
		{"compare players", []string{"compare", "-players", "2000,1000"}, "counts must increase"},
		{"compare too many players", []string{"compare", "-players", "30000"}, "-players: at most 20000"},
		{"compare duration", []string{"compare", "-duration", "0s"}, "-duration must be between"},
		{"compare starve steps", []string{"compare", "-starve-steps", "x"}, "bad steps"},
		{"scenario cpu list", []string{"scenario", "-server-cpus", "0-x"}, "bad CPU list"},
		{"compare shared cpu", []string{"compare", "-server-cpus", "0", "-client-cpus", "0"}, "share a CPU"},
		{"scenario nice", []string{"scenario", "-nice", "30"}, "-nice 30: want -20 to 19"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := Main(tt.args, &stdout, &stderr); code != ExitUsage {
				t.Errorf("exit code %d, want %d", code, ExitUsage)
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr does not say %q:\n%s", tt.want, stderr.String())
			}
		})
	}
}

func TestHelpExitsZero(t *testing.T) {
	for _, cmd := range []string{"play", "publish", "scenario", "compare"} {
		var stdout, stderr bytes.Buffer
		if code := Main([]string{cmd, "-h"}, &stdout, &stderr); code != ExitPass || !strings.Contains(stderr.String(), "usage: streamedge bench "+cmd) {
			t.Errorf("%s -h: exit code %d, output:\n%s", cmd, code, stderr.String())
		}
	}
}

// TestScenarioCommand runs the `make bench` scenario, small, through the
// real command: it starts its own server, publishes, and prints a row per
// step with figures that add up.
func TestScenarioCommand(t *testing.T) {
	out := filepath.Join(t.TempDir(), "scenario.json")
	// -max-starve 100: every step runs, however busy the machine. Whether
	// players starve is the other tests' business (they can tell whether
	// the stream kept real time); here the figures must add up.
	const rate = 1e6
	stdout, code := runBenchCommand(t, "scenario", "-server", serverBinary, "-steps", "10,20", "-cap", "20",
		"-step-duration", "3s", "-bitrate", "1M", "-max-starve", "100", "-json", out, "-q")
	if code != ExitPass {
		t.Fatalf("exit code %d\n%s", code, stdout)
	}
	for _, want := range []string{"delivered Gbit/s", "CPU-s/Gbit", "startup p99", "starving", "all steps passed"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("the table has no %q:\n%s", want, stdout)
		}
	}
	var res ScenarioResult
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Steps) != 2 {
		t.Fatalf("%d steps, want 2:\n%s", len(res.Steps), stdout)
	}
	var serverCPU float64
	for _, s := range res.Steps {
		want := float64(s.Players) * rate / 1e9
		// Whole-second samples over a step's steady seconds, as few as one
		// on a busy machine: a keyframe more or less is 28% of a second of
		// a 2 s GOP, and the scenario's own publisher falls behind there
		// (by a third in one run here), out of this test's sight. So this only
		// catches a wrong unit or window (a factor of 2 or more); the rest
		// of the tests check the bench's accuracy.
		if s.DeliveredGbps < 0.5*want || s.DeliveredGbps > 1.5*want {
			t.Errorf("%d players: %.4f Gbit/s delivered, want about %.4f", s.Players, s.DeliveredGbps, want)
		}
		// The figures add up: CPU-s per Gbit is the CPU share over the
		// delivered rate, both over the same seconds.
		if s.ServerCPUPct < 0 || math.Abs(s.CPUSecPerGbit*s.DeliveredGbps*100-s.ServerCPUPct) > 1e-6*max(1, s.ServerCPUPct) {
			t.Errorf("%d players: %.4f CPU-s/Gbit at %.4f Gbit/s is not the server's %.4f%% CPU", s.Players, s.CPUSecPerGbit, s.DeliveredGbps, s.ServerCPUPct)
		}
		serverCPU += s.ServerCPUPct
		if s.StartupP99MS <= 0 {
			t.Errorf("%d players: startup p99 %.0f ms", s.Players, s.StartupP99MS)
		}
		if sum := s.Summary; sum == nil || sum.Requested != s.Players ||
			s.StarvingPct != 100*float64(sum.Failed+sum.Starving)/float64(s.Players) {
			t.Errorf("%d players: starving %.1f%% is not the step's failed and starving players: %+v", s.Players, s.StarvingPct, sum)
		} else if s.StarvingPct > 0 {
			t.Logf("%d players: %.1f%% failed or starved (%s)", s.Players, s.StarvingPct, sum.FailedReason)
		}
	}
	// A step's steady seconds can be as few as one on a busy machine, and a
	// server forwarding tens of Mbit/s uses about a tick of /proc's 10 ms in
	// one: the server's CPU must show in one step at least.
	if serverCPU <= 0 {
		t.Errorf("the server used no CPU in any step:\n%s", stdout)
	}
}
