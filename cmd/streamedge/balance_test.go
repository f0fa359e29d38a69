package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"streamedge/ipc"
	"streamedge/media/mediatest"
	"streamedge/media/rtmp"
	"streamedge/supervisor"
)

// balanceInfo is GET /api/v1/balance.
func (s *server) balanceInfo(t *testing.T) supervisor.BalanceInfo {
	t.Helper()
	var doc struct{ Balance supervisor.BalanceInfo }
	s.apiGet(t, "/api/v1/balance", &doc)
	return doc.Balance
}

// waitBalance polls the balancer until match holds.
func (s *server) waitBalance(t *testing.T, what string, match func(supervisor.BalanceInfo) bool) supervisor.BalanceInfo {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		bi := s.balanceInfo(t)
		if match(bi) {
			return bi
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(bi, "", "  ")
			t.Fatalf("balancer never showed %s:\n%s", what, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// post makes an operator's call and returns the status code.
func (s *server) post(t *testing.T, path string) int {
	t.Helper()
	resp, err := http.Post("http://"+s.api+path, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// playersBy waits until the workers' reports add up to want players and
// returns them by slot.
func (s *server) playersBy(t *testing.T, n, want int) map[int]int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		by, total := map[int]int{}, 0
		for _, w := range s.workers(t) {
			if w.Load != nil && w.State == supervisor.StateReady {
				p := w.Load.Conns.ByRole(ipc.RolePlayer)
				by[w.Slot] += p
				total += p
			}
		}
		if total == want {
			return by
		}
		if time.Now().After(deadline) {
			t.Fatalf("workers report %d players (%v), want %d", total, by, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// tinyStream publishes a small, light stream (so hundreds of players cost
// little) and waits until it plays.
func tinyStream(t *testing.T, s *server, name string) {
	t.Helper()
	file := mediatest.FLVFile(t, mediatest.Media{Width: 64, Height: 48})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	mediatest.StartFFmpegPublish(t, ctx, file, s.rtmpURL(name), true)
	waitPlayable(t, playRTMP, s.rtmpURL(name)).close()
}

// isRefusal tells a clean refusal of either protocol from other failures.
func isRefusal(err error) bool {
	var st *rtmp.StatusError
	return (errors.As(err, &st) && st.Code == "NetConnection.Connect.Rejected") ||
		(err != nil && strings.Contains(err.Error(), "503 Service Unavailable"))
}

func TestStartupLogNamesSteeringTier(t *testing.T) {
	s := startServer(t, "balance:\n  host_cpu_high: 0\n", "-w", "2")
	line := s.logs.wait(t, "steering tier", nil, 5*time.Second)
	if line["tier"] != "cbpf" || !strings.Contains(fmt.Sprint(line["reason"]), "steered") {
		t.Errorf("start-up names tier %v (%v), want cbpf on this machine", line["tier"], line["reason"])
	}
	forced := startServer(t, "balance:\n  host_cpu_high: 0\n  steering: pause\n", "-w", "2")
	line = forced.logs.wait(t, "steering tier", nil, 5*time.Second)
	if line["tier"] != "pause" || !strings.Contains(fmt.Sprint(line["reason"]), "balance.steering: pause") {
		t.Errorf("steering: pause starts with tier %v (%v)", line["tier"], line["reason"])
	}
	if bi := forced.balanceInfo(t); bi.Tier != "pause" {
		t.Errorf("the API says tier %s", bi.Tier)
	}
}

// Both tiers: a slot paused through the API gets none of 300 new players,
// and nobody is refused.
func TestPausedSlotGetsNoNewConnections(t *testing.T) {
	mediatest.RequireFFmpeg(t)
	for _, tier := range []string{"cbpf", "pause"} {
		t.Run(tier, func(t *testing.T) {
			s := startServer(t, "balance:\n  host_cpu_high: 0\n  steering: "+tier+"\n", "-w", "3")
			s.waitWorkers(t, 3, nil)
			if code := s.post(t, "/api/v1/workers/0/pause"); code != http.StatusOK {
				t.Fatalf("pause: %d", code)
			}
			s.waitBalance(t, "slot 0 held and out of the steering", func(bi supervisor.BalanceInfo) bool {
				w := bi.Workers[0]
				return w.Held && ((tier == "cbpf" && w.Weight == 0 && w.KernelWeight == 0) || (tier == "pause" && w.Paused))
			})
			tinyStream(t, s, "paused")
			var srcs []mediaSource
			defer func() {
				for _, src := range srcs {
					src.close()
				}
			}()
			for i := range 300 {
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				t.Cleanup(cancel)
				src, name, err := playMixed(ctx, s, "paused", i)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				srcs = append(srcs, src)
			}
			by := s.playersBy(t, 3, 300)
			if by[0] != 0 {
				t.Errorf("the paused slot has %d of 300 players: %v", by[0], by)
			}
			t.Logf("players by slot: %v", by)
		})
	}
}

// Pause tier: connections queued on a stopped worker's socket move to the
// others when its slot is paused; none is reset.
func TestPauseMovesWhatIsQueued(t *testing.T) {
	s := startServer(t, "balance:\n  host_cpu_high: 0\n  steering: pause\n", "-w", "3")
	ws := s.waitWorkers(t, 3, nil)
	syscall.Kill(ws[0].PID, syscall.SIGSTOP)
	defer syscall.Kill(ws[0].PID, syscall.SIGCONT)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 100 {
		wg.Go(func() {
			if err := probeConnection(s, i%2 == 0); err != nil {
				errs <- fmt.Errorf("connection %d: %w", i, err)
			}
		})
	}
	// The probes are under way, some queued on slot 0; pausing it moves them.
	if code := s.post(t, "/api/v1/workers/0/pause"); code != http.StatusOK {
		t.Fatalf("pause: %d", code)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// Caps: max_connections 50 on -w 2; of 150 players about 100 play (each
// worker's cap counts its publisher too) and the rest are refused cleanly:
// none fails another way.
func TestCapsRefuseCleanly(t *testing.T) {
	mediatest.RequireFFmpeg(t)
	s := startServer(t, "balance:\n  host_cpu_high: 0\n  max_connections: 50\n", "-w", "2")
	s.waitWorkers(t, 2, nil)
	tinyStream(t, s, "capped")
	var srcs []mediaSource
	defer func() {
		for _, src := range srcs {
			src.close()
		}
	}()
	refused := map[string]int{}
	for i := range 150 {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		t.Cleanup(cancel)
		src, name, err := playMixed(ctx, s, "capped", i)
		switch {
		case err == nil:
			srcs = append(srcs, src)
		case isRefusal(err):
			refused[name[strings.Index(name, "(")+1:len(name)-1]]++
		default:
			t.Fatalf("%s failed, not cleanly refused: %v", name, err)
		}
	}
	if len(srcs) < 98 || len(srcs) > 100 {
		t.Errorf("%d of 150 play, want 100 less the publisher's connection", len(srcs))
	}
	t.Logf("%d play, refused %v", len(srcs), refused)
	// The players kept: every one still gets media.
	for i, src := range srcs {
		done := make(chan error, 1)
		go func() {
			_, err := src.next()
			done <- err
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("player %d after the refusals: %v", i, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("player %d gets nothing", i)
		}
	}
	bi := s.balanceInfo(t)
	for _, w := range bi.Workers {
		if w.State != "capped" || w.Weight != 0 {
			t.Errorf("worker %d at its cap: state %s weight %d, want capped with weight 0", w.Slot, w.State, w.Weight)
		}
	}
}

// Host full (outbound bandwidth over host_bytes_out_max): HTTP-FLV gets
// 503 with Retry-After, RTMP a rejected connect with the reason; with a
// redirect peer, ffmpeg follows the 302 and plays there. The publisher is
// still admitted, and players already running go on.
func TestHostFullRefusesAndRedirects(t *testing.T) {
	mediatest.RequireFFmpeg(t)
	peer := startServer(t, "balance:\n  host_cpu_high: 0\n", "-w", "1")
	tinyStream(t, peer, "full")
	s := startServer(t, "balance:\n  host_cpu_high: 0\n  retry_after: 4s\n", "-w", "2")
	s.waitWorkers(t, 2, nil)
	tinyStream(t, s, "full")
	running := waitPlayable(t, playFLV, s.flvURL("full"))
	defer running.close()

	// 1 kB/s out: the loopback traffic alone is over it.
	s.reload("balance:\n  host_cpu_high: 0\n  retry_after: 4s\n  host_bytes_out_max: 1k\n")
	s.waitBalance(t, "the host full", func(bi supervisor.BalanceInfo) bool { return bi.HostFull })
	s.logs.waitCount(t, "admission", 2, 10*time.Second)
	resp, err := http.Get(s.flvURL("full"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "4" {
		t.Errorf("HTTP-FLV while full: %s Retry-After %q, want 503 with 4", resp.Status, resp.Header.Get("Retry-After"))
	}
	_, err = rtmp.Dial(context.Background(), s.rtmpURL("full"))
	var st *rtmp.StatusError
	if !errors.As(err, &st) || st.Code != "NetConnection.Connect.Rejected" || !strings.Contains(st.Description, "server busy") {
		t.Errorf("RTMP while full: %v, want NetConnection.Connect.Rejected saying the server is busy", err)
	}
	if _, err := running.next(); err != nil {
		t.Errorf("a running player was hurt: %v", err)
	}

	// With a peer: a 302 to the same path there, which ffmpeg follows.
	s.reload(fmt.Sprintf("balance:\n  host_cpu_high: 0\n  host_bytes_out_max: 1k\n  redirect: [{http: '%s', rtmp: '%s'}]\n", peer.http, peer.rtmp))
	s.logs.waitCount(t, "reload applied", 2, 10*time.Second)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := noFollow.Get(s.flvURL("full"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusFound {
			if want := "http://" + peer.http + "/live/full.flv"; resp.Header.Get("Location") != want {
				t.Fatalf("302 to %q, want %q", resp.Header.Get("Location"), want)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no 302 with a peer configured: %s", resp.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	probe := mediatest.FFprobe(t, ctx, s.flvURL("full"))
	if _, ok := probe.Stream("video"); !ok {
		t.Errorf("ffmpeg did not play through the redirect: %+v", probe)
	}
	_, err = rtmp.Dial(context.Background(), s.rtmpURL("full"))
	if !errors.As(err, &st) || st.Code != "NetConnection.Connect.Rejected" {
		t.Errorf("RTMP with a peer: %v, want rejected (with ex.redirect)", err)
	}
}

// Retire: a fresh process takes the slot, the old one exits within
// grace_final_wait, and no connection is refused during the swap.
func TestRetireSwapsTheWorker(t *testing.T) {
	s := startServer(t, "balance:\n  host_cpu_high: 0\ngrace_final_wait: 2s\n", "-w", "2")
	before := s.waitWorkers(t, 2, nil)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []error
	probes := 0
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			err := probeConnection(s, i%2 == 0)
			mu.Lock()
			probes++
			if err != nil {
				failures = append(failures, err)
			}
			mu.Unlock()
		}
	})
	if code := s.post(t, "/api/v1/workers/0/retire"); code != http.StatusOK {
		t.Fatalf("retire: %d", code)
	}
	after := s.waitWorkers(t, 2, func(ws []supervisor.WorkerInfo) bool { return ws[0].PID != before[0].PID })
	retired := s.logs.wait(t, "worker retired", func(l map[string]any) bool { return l["pid"] == float64(before[0].PID) }, 10*time.Second)
	close(stop)
	wg.Wait()
	if after[1].PID != before[1].PID {
		t.Errorf("slot 1 changed too")
	}
	if len(failures) > 0 {
		t.Errorf("%d of %d connections failed during the swap: %v", len(failures), probes, failures[0])
	}
	t.Logf("%d probes during the swap; retired: %v", probes, retired["reason"])
}

// Fault injection is refused unless the config allows it.
func TestBurnNeedsFaultInjection(t *testing.T) {
	s := startServer(t, "balance:\n  host_cpu_high: 0\n", "-w", "1")
	s.waitWorkers(t, 1, nil)
	if code := s.post(t, "/api/v1/workers/0/burn?percent=50&for=1s"); code != http.StatusForbidden {
		t.Errorf("burn without debug.fault_injection: %d, want 403", code)
	}
	s.reload("balance:\n  host_cpu_high: 0\ndebug:\n  fault_injection: true\n")
	s.logs.wait(t, "reload applied", nil, 10*time.Second)
	if code := s.post(t, "/api/v1/workers/0/burn?percent=50&for=1s"); code != http.StatusOK {
		t.Errorf("burn with debug.fault_injection: %d, want 200", code)
	}
	if code := s.post(t, "/api/v1/workers/0/burn?percent=500&for=1s"); code != http.StatusBadRequest {
		t.Errorf("burn 500%%: %d, want 400", code)
	}
	s.logs.wait(t, "burning cpu (fault injection)", nil, 5*time.Second)
}
