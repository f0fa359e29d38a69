package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/yutopp/go-rtmp/handshake"

	"streamedge/media/flv"
	"streamedge/media/mediatest"
	"streamedge/supervisor"
)

// children lists the pids whose parent is pid.
func children(t *testing.T, pid int) map[int]bool {
	t.Helper()
	kids := map[int]bool{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// The command name may hold spaces: fields start after its ')'.
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			kids[child] = true
		}
	}
	return kids
}

func TestMasterRunsSingleThreadedWorkers(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "-w", "3")
	ws := s.waitWorkers(t, 3, nil)
	kids := children(t, s.cmd.Process.Pid)
	if len(kids) != 3 {
		t.Fatalf("master has %d children, want 3", len(kids))
	}
	for _, w := range ws {
		if !kids[w.PID] {
			t.Fatalf("API says worker %d has pid %d, which is not a child of the master (%v)", w.Slot, w.PID, kids)
		}
		if w.GOMAXPROCS != 1 {
			t.Fatalf("worker %d runs with GOMAXPROCS=%d", w.Slot, w.GOMAXPROCS)
		}
	}
	var sum struct {
		Server  struct{ PID int }
		Workers []supervisor.WorkerInfo
	}
	s.apiGet(t, "/api/v1/summaries", &sum)
	if sum.Server.PID != s.cmd.Process.Pid || len(sum.Workers) != 3 {
		t.Fatalf("summaries: %+v", sum)
	}
	for _, w := range sum.Workers {
		if !kids[w.PID] || w.Load == nil {
			t.Fatalf("summaries show worker %d with pid %d (children %v) and load %v", w.Slot, w.PID, kids, w.Load)
		}
	}
	// /metrics is valid Prometheus text with a series per worker.
	resp, err := http.Get("http://" + s.api + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	for _, name := range []string{"streamedge_worker_cpu_percent", "streamedge_worker_rss_bytes", "streamedge_worker_restarts_total", "streamedge_host_cpu_percent"} {
		f := families[name]
		if f == nil {
			t.Fatalf("/metrics has no %s", name)
		}
		if strings.HasPrefix(name, "streamedge_worker") && len(f.Metric) != 3 {
			t.Fatalf("%s has %d series, want one per worker", name, len(f.Metric))
		}
	}
}

func TestStreamsReachPlayersOnEveryWorker(t *testing.T) {
	t.Parallel()
	mediatest.RequireFFmpeg(t)
	s := startServer(t, "", "-w", "3")
	s.waitWorkers(t, 3, nil)
	publishFFmpeg(t, s, "wide")
	const players = 60
	errs := make([]error, players)
	var wg sync.WaitGroup
	for i := range players {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			src, name, err := playMixed(ctx, s, "wide", i)
			if err == nil {
				rep := watch(name, src, 100) // 4 s: still playing while the API is read
				err = rep.err
			}
			errs[i] = err
		})
	}
	// While they play, the API must show one relay per non-owner worker
	// with players, and players on more than one worker. Load reports are a
	// second old, so a relay that is starting may not show yet: ask again.
	var streams struct{ Streams []supervisor.StreamInfo }
	deadline := time.Now().Add(15 * time.Second)
	for {
		s.apiGet(t, "/api/v1/streams", &streams)
		problem := relayProblem(streams.Streams, players/2)
		if problem == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %+v", problem, streams.Streams)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The client list has the publisher and the players, each on its worker.
	var clients struct {
		Total   int
		Clients []supervisor.ClientInfo
	}
	s.apiGet(t, "/api/v1/clients", &clients)
	kinds := map[string]int{}
	for _, c := range clients.Clients {
		kinds[string(c.Kind)]++
		if c.Stream != "__defaultVhost__/live/wide" || c.PID == 0 {
			t.Fatalf("client %+v", c)
		}
	}
	if kinds["rtmp_publish"] != 1 || kinds["rtmp_play"]+kinds["flv_play"] < players/2 || clients.Total != len(clients.Clients) {
		t.Fatalf("clients by kind %v, total %d", kinds, clients.Total)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("player %d: %v", i, err)
		}
	}
}

// relayProblem says what is wrong with the streams list, if anything: one
// stream, at least minPlayers, on more than one worker, and exactly one relay
// on each worker but the owner that has players.
func relayProblem(streams []supervisor.StreamInfo, minPlayers int) string {
	if len(streams) != 1 {
		return fmt.Sprintf("%d streams, want 1", len(streams))
	}
	st := streams[0]
	if st.Players < minPlayers || len(st.PlayersBy) < 2 {
		return "players not yet on several workers"
	}
	relays := map[int]int{}
	for _, w := range st.RelayedBy {
		relays[w]++
	}
	if relays[st.Owner] != 0 {
		return "the owner relays its own stream"
	}
	for w := range st.PlayersBy {
		if w != st.Owner && relays[w] != 1 {
			return fmt.Sprintf("worker %d has players and %d relays, want exactly 1", w, relays[w])
		}
	}
	return ""
}

// gapWatcher reads a player and records the longest gap between video frames.
type gapWatcher struct {
	mu      sync.Mutex
	longest time.Duration
	frames  int
	err     error
}

func watchGaps(src mediaSource, stop <-chan struct{}) *gapWatcher {
	g := &gapWatcher{}
	go func() {
		defer src.close()
		last := time.Now()
		for {
			select {
			case <-stop:
				return
			default:
			}
			f, err := src.next()
			if err != nil {
				g.mu.Lock()
				g.err = err
				g.mu.Unlock()
				return
			}
			if f.Type != flv.TagVideo {
				continue
			}
			now := time.Now()
			g.mu.Lock()
			g.frames++
			g.longest = max(g.longest, now.Sub(last))
			g.mu.Unlock()
			last = now
		}
	}()
	return g
}

func TestKilledWorkerIsRestartedWithoutRefusingAnyone(t *testing.T) {
	mediatest.RequireFFmpeg(t)
	s := startServer(t, "", "-w", "3")
	before := s.waitWorkers(t, 3, nil)
	publishFFmpeg(t, s, "crash")
	owner := int(s.logs.wait(t, "rtmp publish start", nil, 5*time.Second)["worker"].(float64))
	// Players until the two workers other than the victim have some.
	victim := (owner + 1) % 3
	stop := make(chan struct{})
	defer close(stop)
	var watchers []*gapWatcher
	for i := 0; len(watchers) < 6 && i < 60; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		src, err := playRTMP(ctx, s.rtmpURL("crash"))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		local := src.(rtmpSource).c.Conn().LocalAddr().String()
		if s.playerWorker(t, local) == victim {
			src.close()
			continue
		}
		watchers = append(watchers, watchGaps(src, stop))
	}
	if len(watchers) < 6 {
		t.Fatal("could not place players on the surviving workers")
	}
	time.Sleep(time.Second) // let them all start streaming

	syscall.Kill(before[victim].PID, syscall.SIGKILL)
	// 200 connection attempts over 5 s, both ports: every one is served.
	var wg sync.WaitGroup
	failures := make(chan error, 200)
	for i := range 200 {
		time.Sleep(25 * time.Millisecond)
		wg.Go(func() {
			if err := probeConnection(s, i%2 == 0); err != nil {
				failures <- fmt.Errorf("attempt %d: %w", i, err)
			}
		})
	}
	wg.Wait()
	close(failures)
	for err := range failures {
		t.Error(err)
	}
	after := s.waitWorkers(t, 3, func(ws []supervisor.WorkerInfo) bool { return ws[victim].Restarts == 1 })
	if after[victim].PID == before[victim].PID {
		t.Fatal("the victim's slot still has the old pid")
	}
	for i, w := range watchers {
		w.mu.Lock()
		if w.err != nil || w.longest > 1500*time.Millisecond || w.frames < 100 {
			t.Errorf("player %d on a surviving worker: %d frames, longest gap %v, err %v", i, w.frames, w.longest, w.err)
		}
		w.mu.Unlock()
	}
}

// probeConnection makes one full exchange: an RTMP handshake, or an HTTP
// request answered with the JSON 404 for an unknown stream.
func probeConnection(s *server, rtmp bool) error {
	if !rtmp {
		c := http.Client{Timeout: 5 * time.Second}
		resp, err := c.Get(s.flvURL("nothing-here"))
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			return fmt.Errorf("http: %s", resp.Status)
		}
		return nil
	}
	nc, err := net.DialTimeout("tcp", s.rtmp, 5*time.Second)
	if err != nil {
		return err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	return handshake.HandshakeWithServer(nc, nc, &handshake.Config{SkipHandshakeVerification: true})
}

func TestKilledMasterLeavesNoWorkers(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "-w", "3")
	ws := s.waitWorkers(t, 3, nil)
	s.cmd.Process.Kill()
	<-s.exited
	deadline := time.Now().Add(5 * time.Second)
	for _, w := range ws {
		for syscall.Kill(w.PID, 0) == nil {
			if time.Now().After(deadline) {
				t.Fatalf("worker %d (pid %d) outlived the master by 5 s", w.Slot, w.PID)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
