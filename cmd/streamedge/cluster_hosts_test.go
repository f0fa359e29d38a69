package main

import (
	"context"
	"fmt"
	"net/url"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"streamedge/media/mediatest"
	"streamedge/supervisor"
	"streamedge/supervisor/hosts"
	"streamedge/supervisor/hosts/redistest"
)

// The cluster's timings in these tests: short, so a dead host drops out in
// seconds, but with a TTL of four heartbeats so a loaded machine's late
// heartbeat does not drop a live one.
const (
	clusterBeat = 500 * time.Millisecond
	clusterTTL  = 2 * time.Second
)

// clusterYAML is a host of the test cluster: one worker, host-full only by
// connections (every namespace shares this machine's CPU), the store in
// the router namespace.
func clusterYAML(id, ip string, resolve bool) string {
	vhosts := ""
	if resolve { // an edge: vhost "edge" plays from whichever host publishes
		vhosts = "vhosts:\n  edge:\n    cluster: {mode: remote, origin: cluster}\n"
	}
	return vhosts + fmt.Sprintf(`workers: 1
balance:
  host_cpu_high: 0   # off: every namespace shares this machine's CPU
hosts:
  redis: redis://%s:6379
  host_id: %s
  advertise: {rtmp: '%s:1935', http: '%s:8080'}
  heartbeat: %s
  ttl: %s
  resolve: %v
`, routerIP, id, ip, ip, clusterBeat, clusterTTL, resolve)
}

type resolved struct {
	Code   int    `json:"code"`
	Stream string `json:"stream"`
	Host   string `json:"host"`
	RTMP   string `json:"rtmp"`
	FLV    string `json:"flv"`
	Stale  bool   `json:"stale"`
}

func (s *server) resolve(t *testing.T, stream string) resolved {
	t.Helper()
	var r resolved
	s.apiGet(t, "/api/v1/resolve?stream="+url.QueryEscape(stream), &r)
	return r
}

type hostsDoc struct {
	Self    string         `json:"self"`
	StoreUp bool           `json:"store_up"`
	Stale   bool           `json:"stale"`
	Hosts   []hosts.Record `json:"hosts"`
}

func (s *server) clusterView(t *testing.T) hostsDoc {
	t.Helper()
	var d hostsDoc
	s.apiGet(t, "/api/v1/hosts", &d)
	return d
}

// waitView polls s's view of the cluster, which changes once a heartbeat,
// until ok holds.
func (s *server) waitView(t *testing.T, what string, d time.Duration, ok func(hostsDoc) bool) hostsDoc {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		v := s.clusterView(t)
		if ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; view: %+v", what, d, v)
		}
		time.Sleep(clusterBeat / 10)
	}
}

func viewHas(ids ...string) func(hostsDoc) bool {
	return func(v hostsDoc) bool {
		if v.Stale || len(v.Hosts) != len(ids) {
			return false
		}
		for i, h := range v.Hosts {
			if h.ID != ids[i] {
				return false
			}
		}
		return true
	}
}

func hostRecord(v hostsDoc, id string) (hosts.Record, bool) {
	for _, h := range v.Hosts {
		if h.ID == id {
			return h, true
		}
	}
	return hosts.Record{}, false
}

func streamNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("live/n%d", i)
	}
	return out
}

// TestClusterOfHosts is issue 17's cluster as three network-namespace
// hosts (an origin o, edges e1 and e2) on one Redis.
func TestClusterOfHosts(t *testing.T) {
	_, nss, inside := netnsHosts()
	if !inside {
		runInNamespaces(t, "TestClusterOfHosts", 3)
		return
	}
	mediatest.RequireFFmpeg(t)
	rd := redistest.StartWith(t, redistest.Options{Dir: t.TempDir(), URL: "redis://" + routerIP + ":6379",
		Args: []string{"--port", "6379", "--bind", routerIP, "--protected-mode", "no"}})
	o := hostServer(t, nss[0], hostIP(0), clusterYAML("o", hostIP(0), false))
	e1 := hostServer(t, nss[1], hostIP(1), clusterYAML("e1", hostIP(1), true))
	e2 := hostServer(t, nss[2], hostIP(2), clusterYAML("e2", hostIP(2), true))
	for _, s := range []*server{o, e1, e2} {
		s.waitView(t, "every host sees the cluster", 10*time.Second, viewHas("e1", "e2", "o"))
	}
	flv := mediatest.FLVFile(t, mediatest.Media{})
	publish := func(t *testing.T, s *server, stream string) *mediatest.Proc {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		t.Cleanup(cancel)
		return mediatest.StartFFmpegPublish(t, ctx, flv, "rtmp://"+s.rtmp+"/"+stream, true)
	}
	waitPublished := func(t *testing.T, s *server, stream string) {
		t.Helper()
		s.logs.wait(t, "rtmp publish start", func(l map[string]any) bool {
			return strings.HasSuffix(fmt.Sprint(l["stream"]), "/"+stream)
		}, 15*time.Second)
	}
	names := streamNames(300)
	first := map[string]string{} // the host each name resolves to on an idle cluster

	t.Run("1 edges pull from the host that publishes, once each", func(t *testing.T) {
		publish(t, o, "live/o1?vhost=edge")
		waitPublished(t, o, "live/o1")
		stop := make(chan struct{})
		defer close(stop)
		var players []*gapWatcher
		for _, e := range []*server{e1, e2, e1, e2} {
			players = append(players, watchGaps(waitPlayable(t, playFLV, "http://"+e.http+"/live/o1.flv?vhost=edge"), stop))
		}
		// And one as a player would: resolve, then play where it says.
		var r resolved
		e1.apiGet(t, "/api/v1/resolve?stream=live/o1&vhost=edge", &r)
		if !strings.HasSuffix(r.FLV, "/live/o1.flv?vhost=edge") {
			t.Fatalf("resolve answered %+v", r)
		}
		players = append(players, watchGaps(waitPlayable(t, playFLV, r.FLV), stop))
		deadline := time.Now().Add(15 * time.Second)
		for i, g := range players {
			for {
				g.mu.Lock()
				frames, err := g.frames, g.err
				g.mu.Unlock()
				if err != nil {
					t.Fatalf("player %d: %v", i, err)
				}
				if frames >= 10 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("player %d has %d frames after 15s", i, frames)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		var doc struct {
			Clients []struct {
				Kind   string `json:"kind"`
				Addr   string `json:"addr"`
				Stream string `json:"stream"`
			} `json:"clients"`
		}
		o.apiGet(t, "/api/v1/clients", &doc)
		byHost := map[string]int{}
		for _, c := range doc.Clients {
			if c.Stream == "edge/live/o1" && c.Kind != "rtmp_publish" {
				host, _, _ := strings.Cut(c.Addr, ":")
				byHost[host]++
			}
		}
		if byHost[hostIP(1)] != 1 || byHost[hostIP(2)] != 1 || len(byHost) != 2 {
			t.Fatalf("origin's clients of the stream by address: %v, want one from each edge (%s, %s); all: %+v",
				byHost, hostIP(1), hostIP(2), doc.Clients)
		}
	})

	idle := func(t *testing.T) {
		t.Helper()
		// The edges' own counts first: a view can only be as new as them.
		for _, e := range []*server{e1, e2} {
			deadline := time.Now().Add(15 * time.Second)
			for {
				var sum struct {
					Totals struct {
						Players int `json:"players"`
					} `json:"totals"`
				}
				e.apiGet(t, "/api/v1/summaries", &sum)
				if sum.Totals.Players == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s still reports %d players", e.api, sum.Totals.Players)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		// Then every host's view, since each resolves from its own, with
		// records written after that.
		since := time.Now()
		for _, s := range []*server{o, e1, e2} {
			s.waitView(t, "no players left on the edges", 15*time.Second, func(v hostsDoc) bool {
				h1, ok1 := hostRecord(v, "e1")
				h2, ok2 := hostRecord(v, "e2")
				return ok1 && ok2 && h1.UpdatedAt.After(since) && h2.UpdatedAt.After(since) &&
					h1.Load.Players == 0 && h2.Load.Players == 0
			})
		}
	}
	idle(t)

	t.Run("2 resolve splits names, keeps them, moves them off a loaded host", func(t *testing.T) {
		count := map[string]int{}
		for _, n := range names {
			r := e1.resolve(t, n)
			if r.Stale || r.Host == "" {
				t.Fatalf("%s: %+v", n, r)
			}
			first[n] = r.Host
			count[r.Host]++
		}
		t.Logf("300 names: e1 %d, e2 %d", count["e1"], count["e2"])
		if count["o"] != 0 {
			t.Errorf("the origin (resolve: false) got %d names", count["o"])
		}
		for _, h := range []string{"e1", "e2"} {
			if c := count[h]; c < 135 || c > 165 {
				t.Errorf("%s got %d of 300 names, want 150 ± 10 %%", h, c)
			}
		}
		// Any host answers, and answers the same, every time.
		for _, n := range names[:40] {
			for _, s := range []*server{o, e2, e1} {
				if r := s.resolve(t, n); r.Host != first[n] {
					t.Fatalf("%s: %s on one host, %s on %s", n, first[n], r.Host, s.api)
				}
			}
		}
		r := e2.resolve(t, names[0])
		ip := hostIP(1)
		if first[names[0]] == "e2" {
			ip = hostIP(2)
		}
		if r.RTMP != "rtmp://"+ip+":1935/"+names[0] || r.FLV != "http://"+ip+":8080/"+names[0]+".flv" {
			t.Errorf("URLs %+v, want them on %s", r, ip)
		}

		// Load e1 past c × the average: 6 players against e2's 0 (bound
		// ceil(1.25 × 7 / 2) = 5).
		pub := publish(t, e1, "live/load")
		waitPublished(t, e1, "live/load")
		for i := range 6 {
			src := waitPlayable(t, playFLV, "http://"+e1.http+"/live/load.flv")
			t.Cleanup(src.close)
			_ = i
		}
		e2.waitView(t, "e2 sees e1's players", 10*time.Second, func(v hostsDoc) bool {
			h, ok := hostRecord(v, "e1")
			return ok && h.Load.Players >= 6
		})
		moved := 0
		for _, n := range names {
			r := e2.resolve(t, n)
			if r.Host != "e2" {
				t.Fatalf("%s resolves to %s with e1 over the bound, want e2", n, r.Host)
			}
			if first[n] == "e1" {
				moved++
			}
		}
		t.Logf("e1 loaded: %d names moved to e2", moved)
		pub.Stop()
	})
	if t.Failed() {
		return
	}
	idle(t)

	t.Run("6 a name live on one host is refused on another", func(t *testing.T) {
		first := publish(t, e1, "live/dup")
		waitPublished(t, e1, "live/dup")
		second := publish(t, e2, "live/dup")
		e2.logs.wait(t, "duplicate publish refused", func(l map[string]any) bool {
			return l["host"] == "e1" && strings.HasSuffix(fmt.Sprint(l["stream"]), "/live/dup")
		}, 15*time.Second)
		select {
		case <-second.Done():
		case <-time.After(15 * time.Second):
			t.Fatal("the second publisher was not refused")
		}
		select {
		case <-first.Done():
			t.Fatalf("the first publisher stopped: %v %s", first.Err(), first.Stderr())
		default:
		}
		// Its end frees the name at once, not at the TTL.
		first.Stop()
		e1.logs.wait(t, "rtmp publish end", func(l map[string]any) bool {
			return strings.HasSuffix(fmt.Sprint(l["stream"]), "/live/dup")
		}, 10*time.Second)
		again := publish(t, e2, "live/dup")
		waitPublished(t, e2, "live/dup")
		again.Stop()
	})

	t.Run("5 a full host 302s a player to the host the resolver picks", func(t *testing.T) {
		publish(t, o, "live/full?vhost=edge")
		waitPublished(t, o, "live/full")
		stop := make(chan struct{})
		defer close(stop)
		onE1 := "http://" + e1.http + "/live/full.flv?vhost=edge"
		var staying []*gapWatcher
		for range 2 {
			staying = append(staying, watchGaps(waitPlayable(t, playFLV, onE1), stop))
		}
		for _, g := range staying {
			waitFrames(t, g, 10)
		}
		// e1 full by its balancer's own rule: host_max_connections at the
		// two players it has (its pull may count too, which only adds).
		e1.waitBalance(t, "e1 counting its players", func(b supervisor.BalanceInfo) bool {
			return len(b.Workers) == 1 && b.Workers[0].Players >= 2
		})
		full := strings.Replace(clusterYAML("e1", hostIP(1), true), "balance:\n", "balance:\n  host_max_connections: 2\n", 1)
		e1.reload(full)
		e1.waitBalance(t, "e1 full", func(b supervisor.BalanceInfo) bool { return b.HostFull })
		// Its record says so, so the others' resolvers pass it over too.
		e2.waitView(t, "e2 sees e1 full", 10*time.Second, func(v hostsDoc) bool {
			h, ok := hostRecord(v, "e1")
			return ok && h.Full
		})
		var r resolved
		e2.apiGet(t, "/api/v1/resolve?stream=live/full&vhost=edge", &r)
		if r.Host != "e2" {
			t.Fatalf("with e1 full, live/full resolves to %q, want e2", r.Host)
		}

		// ffmpeg asks e1, follows its 302 to e2 (which pulls the stream
		// from the origin) and decodes frames there.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-hide_banner", "-v", "verbose", "-rw_timeout", "10000000",
			"-i", onE1, "-map", "0:v", "-frames:v", "25", "-f", "null", "-").CombinedOutput()
		if err != nil {
			t.Fatalf("ffmpeg playing %s: %v\n%s", onE1, err, out)
		}
		if frames := lastFrameCount(string(out)); frames < 25 {
			t.Fatalf("ffmpeg decoded %d frames, want 25:\n%s", frames, out)
		}
		e1.logs.wait(t, "flv play redirected", func(l map[string]any) bool {
			return l["host"] == "e2" && l["peer"] == hostIP(2)+":8080"
		}, 5*time.Second)
		e2.logs.wait(t, "flv play start", func(l map[string]any) bool {
			return l["stream"] == "edge/live/full"
		}, 5*time.Second)
		// RTMP has no redirect ffmpeg follows: its play is refused with
		// the host to use, which ffmpeg shows.
		rtmpOnE1 := "rtmp://" + e1.rtmp + "/live/full?vhost=edge"
		ctx, cancel = context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err = exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-rw_timeout", "10000000",
			"-i", rtmpOnE1, "-map", "0:v", "-frames:v", "1", "-f", "null", "-").CombinedOutput()
		if want := "play it from host e2: rtmp://" + hostIP(2) + ":1935/live/full?vhost=edge"; err == nil || !strings.Contains(string(out), want) {
			t.Fatalf("ffmpeg playing %s: %v, want it refused with %q:\n%s", rtmpOnE1, err, want, out)
		}
		// Counted as refused, in the worker's next load report.
		for deadline := time.Now().Add(5 * time.Second); ; {
			n, _ := e1.metricSeries(t, "streamedge_worker_refusals_total", map[string]string{"protocol": "http_flv", "reason": "host_full"})
			if n >= 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("e1 counts %g refused flv plays 5s after the redirect", n)
			}
			time.Sleep(100 * time.Millisecond)
		}
		// The players e1 already had play on.
		for _, g := range staying {
			g.mu.Lock()
			frames := g.frames
			g.mu.Unlock()
			waitFrames(t, g, frames+25)
		}

		e1.reload(clusterYAML("e1", hostIP(1), true))
		e1.waitBalance(t, "e1 open again", func(b supervisor.BalanceInfo) bool { return !b.HostFull })
		for _, s := range []*server{o, e1, e2} {
			s.waitView(t, "e1 open again", 10*time.Second, func(v hostsDoc) bool {
				h, ok := hostRecord(v, "e1")
				return ok && !h.Full
			})
		}
	})

	// Test 4 resolves before and after the store goes, so the loads its
	// answer rests on must not change meanwhile.
	idle(t)

	t.Run("4 redis killed: players play, resolves answer stale, records come back", func(t *testing.T) {
		publish(t, e2, "live/r")
		waitPublished(t, e2, "live/r")
		stop := make(chan struct{})
		defer close(stop)
		player := watchGaps(waitPlayable(t, playFLV, "http://"+e2.http+"/live/r.flv"), stop)
		before := e1.resolve(t, names[0])

		rd.Kill()
		e1.waitView(t, "stale once redis is gone", 5*time.Second, func(v hostsDoc) bool { return v.Stale && !v.StoreUp })
		if r := e1.resolve(t, names[0]); !r.Stale || r.Host != before.Host {
			t.Errorf("resolve with redis down: %+v, want %s flagged stale", r, before.Host)
		}
		if up := e1.metric(t, "streamedge_cluster_store_up", nil); up != 0 {
			t.Errorf("streamedge_cluster_store_up = %g with redis down", up)
		}
		if stale := e1.metric(t, "streamedge_cluster_view_stale", nil); stale != 1 {
			t.Errorf("streamedge_cluster_view_stale = %g with redis down", stale)
		}
		player.mu.Lock()
		framesAtKill := player.frames
		player.mu.Unlock()
		// Playing on: a second of media arrives with the store down.
		deadline := time.Now().Add(10 * time.Second)
		for {
			player.mu.Lock()
			frames, err, longest := player.frames, player.err, player.longest
			player.mu.Unlock()
			if err != nil {
				t.Fatalf("player stopped with redis down: %v", err)
			}
			if frames >= framesAtKill+25 {
				if longest > time.Second {
					t.Errorf("player had a %s gap", longest)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("player got %d frames in 10s with redis down", frames-framesAtKill)
			}
			time.Sleep(50 * time.Millisecond)
		}

		rd.Restart()
		back := time.Now()
		c := redis.NewClient(&redis.Options{Addr: routerIP + ":6379"})
		defer c.Close()
		for _, id := range []string{"o", "e1", "e2"} {
			for {
				n, err := c.Exists(context.Background(), "streamedge:{hosts}:host:"+id).Result()
				if err == nil && n == 1 {
					break
				}
				if time.Since(back) > 10*time.Second {
					t.Fatalf("%s's record not rewritten in 10s after redis came back", id)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		took := time.Since(back)
		t.Logf("every record rewritten %s after redis came back (heartbeat %s)", took.Round(time.Millisecond), clusterBeat)
		if took > clusterBeat+500*time.Millisecond {
			t.Errorf("records rewritten %s after redis came back, want within a heartbeat (%s)", took, clusterBeat)
		}
		if owner, _ := c.Get(context.Background(), "streamedge:stream:__defaultVhost__/live/r").Result(); owner != "e2" {
			t.Errorf("live/r held by %q after the restart, want e2", owner)
		}
		for _, s := range []*server{o, e1, e2} {
			s.waitView(t, "fresh again", 5*time.Second, func(v hostsDoc) bool { return viewHas("e1", "e2", "o")(v) && v.StoreUp })
		}
	})

	t.Run("3 a killed host drops out within the ttl, its players re-resolve to e2", func(t *testing.T) {
		// A stream of the edge vhost whose players go to e1, published on
		// the origin, with a player on e1 as the resolver said.
		var onE1 resolved
		for i := range 100 {
			var r resolved
			e2.apiGet(t, fmt.Sprintf("/api/v1/resolve?stream=live/m%d&vhost=edge", i), &r)
			if r.Host == "e1" {
				onE1 = r
				break
			}
		}
		if onE1.Host == "" {
			t.Fatal("no stream of 100 resolves to e1")
		}
		_, name, _ := strings.Cut(onE1.Stream, "/") // edge/live/mN -> live/mN
		publish(t, o, name+"?vhost=edge")
		waitPublished(t, o, name)
		stop := make(chan struct{})
		defer close(stop)
		before := watchGaps(waitPlayable(t, playFLV, onE1.FLV), stop)
		waitFrames(t, before, 10)
		e1.cmd.Process.Kill()
		killed := time.Now()
		<-e1.exited
		var gone time.Time // when the first pass that found no e1 began
		for {
			pass, still := time.Now(), 0
			for _, n := range names {
				if e2.resolve(t, n).Host == "e1" {
					still++
				}
			}
			if still == 0 {
				gone = pass
				break
			}
			if time.Since(killed) > clusterTTL+5*time.Second {
				t.Fatalf("%d names still resolve to e1 %s after it died (ttl %s)", still, time.Since(killed), clusterTTL)
			}
		}
		t.Logf("e1 out of every resolve %s after it was killed (ttl %s)", gone.Sub(killed).Round(time.Millisecond), clusterTTL)
		if gone.Sub(killed) > clusterTTL+time.Second {
			t.Errorf("e1 resolved to until %s after it died, want within ttl %s + 1s", gone.Sub(killed), clusterTTL)
		}
		// The player lost e1 with it; it re-resolves and plays on e2, which
		// pulls the stream from the origin.
		for deadline := time.Now().Add(5 * time.Second); ; {
			before.mu.Lock()
			lost := before.err
			before.mu.Unlock()
			if lost != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the player on e1 still plays 5s after e1 was killed")
			}
			time.Sleep(20 * time.Millisecond)
		}
		var r resolved
		e2.apiGet(t, "/api/v1/resolve?stream="+name+"&vhost=edge", &r)
		if r.Host != "e2" {
			t.Fatalf("%s re-resolves to %s", onE1.Stream, r.Host)
		}
		waitFrames(t, watchGaps(waitPlayable(t, playFLV, r.FLV), stop), 10)
	})
}

var frameCount = regexp.MustCompile(`frame=\s*(\d+)`)

// lastFrameCount is the last frame count of ffmpeg's progress lines.
func lastFrameCount(out string) int {
	m := frameCount.FindAllStringSubmatch(out, -1)
	if len(m) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(m[len(m)-1][1])
	return n
}

// waitFrames waits for a player to have n video frames.
func waitFrames(t *testing.T, g *gapWatcher, n int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		g.mu.Lock()
		frames, err := g.frames, g.err
		g.mu.Unlock()
		if frames >= n {
			return
		}
		if err != nil {
			t.Fatalf("player stopped after %d frames: %v", frames, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("player has %d frames after 15s, want %d", frames, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
