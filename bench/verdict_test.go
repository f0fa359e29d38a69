package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"streamedge/media/mediatest"
)

// TestStarvingAndStalls plays a server that feeds some clients at half the
// stream's speed and pauses others: the slow ones must be starving, the
// paused ones stalled, the rest healthy, and the run must fail. A server in
// a busy process falls behind and catches up, which can hide up to as much
// of the 1.5 s pause as it fell behind, and make a half-speed stream look a
// little faster over a window: those margins widen by the lateness of the
// real-time stream, and that the fast clients are healthy holds only while
// it kept real time.
func TestStarvingAndStalls(t *testing.T) {
	t.Parallel()
	const rate = 1e6
	srv := pacedFLVServer(t, rate)
	names := []string{"fast", "slow", "pause"}
	var progress bytes.Buffer
	clock := watchClock(t, ProtoFLV, srv.URL+"/live/0.flv")
	res, err := Play(context.Background(), PlayConfig{
		URL: srv.URL + "/live/{i%3}.flv", Clients: 9, Duration: 4 * time.Second, Timeout: 3 * time.Second,
		Bitrate: rate, MaxFail: 10, Progress: &progress,
	})
	if err != nil {
		t.Fatal(err)
	}
	src := clock.stop()
	t.Logf("the real-time stream came at most %v behind its clock (%d frames)", src.Late, src.Frames)
	healthy := src.realTime(realTimeSlack)
	// The pause is a stall, and the only one, while what it can hide
	// leaves more than a second of it.
	stalled := src.realTime(1500*time.Millisecond - StallGap - 100*time.Millisecond)
	minGapMS := 0.0
	if src.watched() {
		minGapMS = 1400 - float64(src.Late)/float64(time.Millisecond)
	}
	for _, c := range res.Clients {
		kind := names[c.Index%3]
		switch {
		case c.Failed:
			t.Errorf("client %d (%s) failed: %s", c.Index, kind, c.FailReason)
		case kind == "fast" && healthy && (c.Starving || c.Stalls != 0):
			t.Errorf("fast client %d: starving %v at %.0f bit/s, %d stalls", c.Index, c.Starving, c.BitrateBPS, c.Stalls)
		case kind == "slow" && (!c.Starving || c.Speed > 0.6+src.rateSlack(2*time.Second)):
			t.Errorf("slow client %d: starving %v at %.0f bit/s, speed %.2f", c.Index, c.Starving, c.BitrateBPS, c.Speed)
		case kind == "pause" && (stalled && c.Stalls != 1 || c.MaxGapMS < minGapMS):
			t.Errorf("paused client %d: %d stalls, longest gap %.0f ms", c.Index, c.Stalls, c.MaxGapMS)
		}
	}
	s := res.Summary
	if s.Pass || s.Starving < 3 {
		t.Errorf("pass %v, starving %d; want a failed run with at least 3 starving", s.Pass, s.Starving)
	}
	if stalled && healthy && (s.Stalls != 3 || s.StalledClient != 3) || stalled && (s.Stalls < 3 || s.StalledClient < 3) {
		t.Errorf("stalls %d in %d clients; want the 3 paused clients' 3", s.Stalls, s.StalledClient)
	}
	if !healthy {
		t.Logf("not checking the fast clients' health: the stream fell %v behind, more than %v", src.Late, realTimeSlack)
	}
	// Not a terminal: one plain line a second, no carriage returns.
	if lines := strings.Count(progress.String(), "\n"); lines < 4 || strings.Contains(progress.String(), "\r") {
		t.Errorf("progress is not one plain line a second:\n%q", progress.String())
	}
}

// TestFailingTargets runs the command against a server that accepts and
// sends nothing and against a port where nothing listens: every client
// must fail, with the reason, and the exit code must say so.
func TestFailingTargets(t *testing.T) {
	t.Parallel()
	silent := mediatest.SilentServer(t)
	closed := listenTCP(t)
	closedAddr := closed.Addr().String()
	closed.Close()

	tests := []struct {
		name, url, reason string
	}{
		{"silent rtmp", "rtmp://" + silent + "/live/s", "connect: timed out"},
		{"silent http-flv", "http://" + silent + "/live/s.flv", "response: timed out"},
		{"refused rtmp", "rtmp://" + closedAddr + "/live/s", "connection refused"},
		{"refused http-flv", "http://" + closedAddr + "/live/s.flv", "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "result.json")
			stdout, code := runBenchCommand(t, "play", "-url", tt.url, "-clients", "5", "-ramp", "0",
				"-duration", "2s", "-timeout", "1s", "-json", out, "-q")
			if code != ExitFail {
				t.Errorf("exit code %d, want %d\n%s", code, ExitFail, stdout)
			}
			if !strings.Contains(stdout, "FAIL") || !strings.Contains(stdout, tt.reason) {
				t.Errorf("summary does not say FAIL and %q:\n%s", tt.reason, stdout)
			}
			var res Result
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &res); err != nil {
				t.Fatal(err)
			}
			s := res.Summary
			if s.Requested != 5 || s.Failed != 5 || s.GotMedia != 0 || s.Pass || len(res.Clients) != 5 {
				t.Errorf("requested %d failed %d got media %d pass %v clients %d; want 5 failed",
					s.Requested, s.Failed, s.GotMedia, s.Pass, len(res.Clients))
			}
			if len(s.Failures) != 1 || s.Failures[0].Count != 5 || !strings.Contains(s.Failures[0].Reason, tt.reason) {
				t.Errorf("failures %+v, want all 5 for %q", s.Failures, tt.reason)
			}
		})
	}
}

// TestUnpublishedStream: a real server refuses HTTP-FLV for a stream
// nobody publishes, and the bench reports the server's answer.
func TestUnpublishedStream(t *testing.T) {
	t.Parallel()
	srv := startTestServer(t, 1, false)
	res, err := Play(context.Background(), PlayConfig{URL: srv.url(ProtoFLV, "nobody"), Clients: 3,
		// The timeout covers the worker's start as well (the master's
		// socket queues the connections until then): on a busy machine
		// that took over 500 ms, and the 404 never came in time.
		Duration: time.Second, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if s := res.Summary; s.Failed != 3 || s.Pass || len(s.Failures) != 1 || !strings.Contains(s.Failures[0].Reason, "404") {
		t.Errorf("failed %d pass %v failures %+v; want 3 failed with the server's 404", s.Failed, s.Pass, s.Failures)
	}
}

func listenTCP(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// runBenchCommand runs `streamedge bench args...` as a user would and
// returns its stdout and exit code.
func runBenchCommand(t *testing.T, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, serverBinary, append([]string{"bench"}, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running bench: %v", err)
	}
	if stderr.Len() > 0 {
		t.Logf("stderr:\n%s", stderr.String())
	}
	return stdout.String(), code
}

// failuresAmong reports failures that all have one of the reasons.
func failuresAmong(failures []ReasonCount, reasons ...string) bool {
	if len(failures) == 0 {
		return false
	}
	for _, f := range failures {
		if !slices.Contains(reasons, f.Reason) {
			return false
		}
	}
	return true
}

// TestReconnect plays a server that ends every response after a second:
// with -reconnect the players come back and count it, without it they fail.
func TestReconnect(t *testing.T) {
	t.Parallel()
	srv := pacedFLVServer(t, 1e6)
	for _, reconnect := range []bool{true, false} {
		// Without -reconnect the run must end as soon as every client has
		// failed, which is long before 10 s.
		cfg := PlayConfig{URL: srv.URL + "/live/3.flv", Clients: 3, Duration: 10 * time.Second, Timeout: time.Second, MaxFail: 0}
		if reconnect {
			cfg.Duration, cfg.Reconnect = 3500*time.Millisecond, true
		}
		clock := watchClock(t, ProtoFLV, srv.URL+"/live/0.flv")
		res, err := Play(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		src := clock.stop()
		s := res.Summary
		if reconnect {
			checkReconnected(t, res, src)
			continue
		}
		// The server closes each response after a second and the client
		// gives up on a second without media: under load either comes first.
		if s.Pass || s.Failed != 3 || s.Reconnects != 0 || !failuresAmong(s.Failures, "read: server closed the connection", "read: no media for 1s") {
			t.Errorf("without -reconnect: pass %v, failed %d, %d reconnects, failures %+v; want 3 failed clients",
				s.Pass, s.Failed, s.Reconnects, s.Failures)
		}
		if s.DurationS > 5 {
			t.Errorf("the run went on for %.1f s after every client had failed", s.DurationS)
		}
	}
}

// checkReconnected: every client came back at least once and its books add
// up (a play after the first is a reconnect; a session that had media and
// ended before the run did is a disconnect). Only while the stream kept
// real time: two cycles of a second of media and half a second of backoff
// each, without a stall, and playing when the run ended (a busy machine
// moves the cycles, and a client between sessions at the end has failed).
func checkReconnected(t *testing.T, res *Result, src clockReport) {
	t.Helper()
	for _, c := range res.Clients {
		if c.Reconnects < 1 || c.Reconnects != c.Sessions-1 || c.Disconnects < 1 || c.Disconnects > c.Sessions {
			t.Errorf("with -reconnect, client %d: %d sessions, %d reconnects, %d disconnects; want back at least once",
				c.Index, c.Sessions, c.Reconnects, c.Disconnects)
		}
	}
	t.Logf("the real-time stream came at most %v behind its clock (%d frames)", src.Late, src.Frames)
	if !src.realTime(realTimeSlack) {
		t.Logf("not checking the reconnects' pace: the stream fell %v behind, more than %v", src.Late, realTimeSlack)
		return
	}
	if s := res.Summary; !s.Pass || s.Failed != 0 || s.Reconnects < 6 || s.Disconnects < 6 || s.Stalls != 0 {
		t.Errorf("with -reconnect: pass %v, failed %d, %d reconnects, %d disconnects, %d stalls; want 3 healthy clients back twice each (%s)",
			s.Pass, s.Failed, s.Reconnects, s.Disconnects, s.Stalls, s.FailedReason)
	}
}
