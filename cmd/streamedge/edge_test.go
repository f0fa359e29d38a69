package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"streamedge/ipc"
	"streamedge/media/mediatest"
	"streamedge/media/rtmp"
	"streamedge/media/rtmp/amf"
	"streamedge/supervisor"
	"streamedge/supervisor/origin"
)

// edgeYAML is a vhost section that makes the host an edge of origins.
func edgeYAML(vhost, balance, protocol string, origins ...string) string {
	return fmt.Sprintf("vhosts:\n  %s:\n    cluster:\n      mode: remote\n      origin: [%s]\n      balance: %s\n      protocol: %s\n",
		vhost, strings.Join(origins, ", "), balance, protocol)
}

// originPlays counts, from an origin's client list, the players of stream
// that are not its own relays: the edges' upstream connections.
func originPlays(t *testing.T, origin *server, stream string) int {
	t.Helper()
	var doc struct{ Clients []supervisor.ClientInfo }
	origin.apiGet(t, "/api/v1/clients", &doc)
	n := 0
	for _, c := range doc.Clients {
		if c.Stream == stream && (c.Kind == "rtmp_play" || c.Kind == "flv_play") {
			n++
		}
	}
	return n
}

// playAll starts n mixed players of stream on s and has each watch frames
// video frames; it returns their errors, once all are done.
func playAll(s *server, stream string, n, frames int) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			src, name, err := playMixed(ctx, s, stream, i)
			if err == nil {
				err = watch(name, src, frames).err
			}
			if err != nil {
				errs[i] = fmt.Errorf("%s: %w", name, err)
			}
		})
	}
	wg.Wait()
	return errs
}

func firstError(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Test 1: an edge with 4 workers and 100 players makes one upstream
// connection, and every player gets media.
func TestEdgeMergesPlayersIntoOneUpstreamPull(t *testing.T) {
	t.Parallel()
	mediatest.RequireFFmpeg(t)
	origin := startServer(t, "", "-w", "2")
	publishFFmpeg(t, origin, "merged")
	edge := startServer(t, edgeYAML("__defaultVhost__", "round_robin", "rtmp", origin.rtmp), "-w", "4")
	edge.waitWorkers(t, 4, nil)
	const players = 100
	done := make(chan []error, 1)
	go func() { done <- playAll(edge, "merged", players, 75) }()
	// While they play (75 frames is 3 s), the origin sees one player: the edge.
	deadline := time.Now().Add(30 * time.Second)
	for {
		n := originPlays(t, origin, "__defaultVhost__/live/merged")
		if n == 1 {
			break
		}
		if n > 1 || time.Now().After(deadline) {
			t.Fatalf("the origin has %d players of the stream, want 1", n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Load reports are a second apart: wait for the one that shows the pull.
	up := edge.waitUpstream(t, "__defaultVhost__/live/merged", func(u *ipc.Upstream) bool { return u.State == "live" })
	if up.Origin != origin.rtmp || up.Bytes == 0 {
		t.Fatalf("upstream %+v, want live from %s", up, origin.rtmp)
	}
	if err := firstError(<-done); err != nil {
		t.Fatal(err)
	}
	if n := originPlays(t, origin, "__defaultVhost__/live/merged"); n > 1 {
		t.Fatalf("the origin had %d players of the stream by the end", n)
	}
}

// waitUpstream waits for the edge's API to show stream's upstream as match wants.
func (s *server) waitUpstream(t *testing.T, stream string, match func(*ipc.Upstream) bool) *ipc.Upstream {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var doc struct{ Streams []supervisor.StreamInfo }
		s.apiGet(t, "/api/v1/streams", &doc)
		for _, st := range doc.Streams {
			if st.Stream == stream && st.Upstream != nil && match(st.Upstream) {
				return st.Upstream
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no upstream as wanted for %s: %+v", stream, doc.Streams)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// publishTo starts ffmpeg publishing the test file to url and waits until s
// logs the publish of stream (vhost/app/name).
func publishTo(t *testing.T, s *server, url, stream string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	mediatest.StartFFmpegPublish(t, ctx, mediatest.FLVFile(t, mediatest.Media{}), url, true)
	s.logs.wait(t, "rtmp publish start", func(l map[string]any) bool { return l["stream"] == stream }, 15*time.Second)
}

// Test 2: nginx-rtmp as the origin: one upstream connection, players get media.
func TestEdgeOfNginxRTMP(t *testing.T) {
	t.Parallel()
	mediatest.RequireFFmpeg(t)
	n := mediatest.StartNginxRTMP(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	mediatest.StartFFmpegPublish(t, ctx, mediatest.FLVFile(t, mediatest.Media{}), "rtmp://"+n.RTMP+"/live/ng", true)
	waitNginxClients(t, ctx, n, "ng", func(c int) bool { return c == 1 }) // the publisher
	edge := startServer(t, edgeYAML("__defaultVhost__", "round_robin", "rtmp", n.RTMP), "-w", "3")
	edge.waitWorkers(t, 3, nil)
	done := make(chan []error, 1)
	go func() { done <- playAll(edge, "ng", 30, 75) }()
	// The publisher and one edge pull, whatever the players and workers.
	waitNginxClients(t, ctx, n, "ng", func(c int) bool {
		if c > 2 {
			t.Fatalf("nginx has %d clients of the stream, want the publisher and 1 edge", c)
		}
		return c == 2
	})
	if err := firstError(<-done); err != nil {
		t.Fatal(err)
	}
}

func waitNginxClients(t *testing.T, ctx context.Context, n *mediatest.Nginx, stream string, ok func(int) bool) {
	t.Helper()
	for {
		clients, err := n.Clients(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ok(clients[stream]) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("nginx clients of %s: %v", stream, clients)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// assignedOrigins reads the edge's log: the first origin of each stream's
// pull, by stream.
func (s *server) assignedOrigins() map[string]string {
	s.logs.mu.Lock()
	defer s.logs.mu.Unlock()
	out := map[string]string{}
	for _, l := range s.logs.lines {
		if l["msg"] == "edge pull assigned" {
			out[fmt.Sprint(l["stream"])] = fmt.Sprint(l["origin"])
		}
	}
	return out
}

// requestAll asks an edge for n streams at once over HTTP-FLV and waits until
// each has been given to an origin; the requests are then dropped.
func requestAll(t *testing.T, edge *server, names []string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, name := range names {
		go func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, edge.flvURL(name), nil)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
	}
	edge.logs.waitCount(t, "edge pull assigned", len(names), 30*time.Second)
	return edge.assignedOrigins()
}

// Test 3: round robin spreads consecutive streams over the origins, and
// consistent hashing puts a stream on the same origin after a restart.
// (The 1,000-name spread and the share that moves when an origin is added
// are table tests of supervisor/origin.)
func TestEdgeSpreadsStreamsOverOrigins(t *testing.T) {
	t.Parallel()
	// Origins without the streams: their players wait, which is all the
	// edge needs to pick them.
	var origins []string
	for range 3 {
		origins = append(origins, startServer(t, "", "-w", "1").rtmp)
	}
	names := make([]string, 30)
	for i := range names {
		names[i] = fmt.Sprintf("rr%d", i)
	}
	rr := startServer(t, edgeYAML("__defaultVhost__", "round_robin", "rtmp", origins...), "-w", "2")
	got := requestAll(t, rr, names)
	count := map[string]int{}
	for _, o := range got {
		count[o]++
	}
	for _, o := range origins {
		if count[o] != 10 {
			t.Fatalf("round robin gave origins %v of 30 streams, want 10 each", count)
		}
	}

	chYAML := edgeYAML("__defaultVhost__", "consistent_hash", "rtmp", origins...)
	first := requestAll(t, startServer(t, chYAML, "-w", "2"), names[:12])
	second := requestAll(t, startServer(t, chYAML, "-w", "3"), names[:12])
	for stream, o := range first {
		if want := origin.Rank(stream, origins)[0]; o != want || second[stream] != o {
			t.Fatalf("%s: origin %s, after a restart %s, rendezvous says %s", stream, o, second[stream], want)
		}
	}
}

// timedPlayer plays until stop and records what failover must keep: a
// connection, timestamps that never go back, the arrival of keyframes.
type timedPlayer struct {
	mu        sync.Mutex
	keyframes []time.Time
	frames    int
	err       error
}

func playTimed(src mediaSource, stop <-chan struct{}) *timedPlayer {
	p := &timedPlayer{}
	go func() {
		<-stop
		src.close()
	}()
	go func() {
		var last uint32
		for {
			f, err := src.next()
			select {
			case <-stop:
				return
			default:
			}
			p.mu.Lock()
			switch {
			case err != nil:
				p.err = err
			case f.Timestamp < last && f.Type == 9:
				p.err = fmt.Errorf("video timestamp went back from %d to %d", last, f.Timestamp)
			case f.Type == 9 && len(f.Data) > 1 && f.Data[0]>>4 == 1 && f.Data[1] == 1:
				p.keyframes = append(p.keyframes, time.Now())
			}
			if f.Type == 9 {
				last = max(last, f.Timestamp)
				p.frames++
			}
			failed := p.err != nil
			p.mu.Unlock()
			if failed {
				return
			}
		}
	}()
	return p
}

// keyframeAfter is the first keyframe the player got after t.
func (p *timedPlayer) keyframeAfter(t time.Time) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, k := range p.keyframes {
		if k.After(t) {
			return k, true
		}
	}
	return time.Time{}, false
}

// Test 4: the origin in use dies; players stay and get the other's next
// keyframe within 5 s and a GOP, with timestamps that never go back.
func TestEdgeFailsOverWithPlayersAttached(t *testing.T) {
	mediatest.RequireFFmpeg(t)
	a, b := startServer(t, "", "-w", "1"), startServer(t, "", "-w", "1")
	publishFFmpeg(t, a, "fo")
	publishFFmpeg(t, b, "fo")
	edge := startServer(t, edgeYAML("__defaultVhost__", "round_robin", "rtmp", a.rtmp, b.rtmp), "-w", "2")
	edge.waitWorkers(t, 2, nil)
	stop := make(chan struct{})
	defer close(stop)
	var players []*timedPlayer
	for i := range 6 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		src, name, err := playMixed(ctx, edge, "fo", i)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		players = append(players, playTimed(src, stop))
	}
	up := edge.waitUpstream(t, "__defaultVhost__/live/fo", func(u *ipc.Upstream) bool { return u.State == "live" })
	inUse, other := a, b
	if up.Origin == b.rtmp {
		inUse, other = b, a
	}
	killed := time.Now()
	inUse.cmd.Process.Kill()
	const gop = time.Second
	for i, p := range players {
		deadline := killed.Add(5*time.Second + gop)
		for {
			k, ok := p.keyframeAfter(killed.Add(100 * time.Millisecond))
			p.mu.Lock()
			err := p.err
			p.mu.Unlock()
			if err != nil {
				t.Fatalf("player %d: %v", i, err)
			}
			if ok {
				if k.After(deadline) {
					t.Fatalf("player %d: first keyframe %s after the kill", i, k.Sub(killed))
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("player %d: no keyframe within %s of the kill", i, deadline.Sub(killed))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	up = edge.waitUpstream(t, "__defaultVhost__/live/fo", func(u *ipc.Upstream) bool { return u.Origin == other.rtmp && u.State == "live" })
	if up.Failovers != 1 {
		t.Fatalf("upstream after the kill %+v, want 1 failover", up)
	}
	if f := edge.metric(t, "streamedge_upstream_failures_total", map[string]string{"origin": inUse.rtmp}); f != 1 {
		t.Fatalf("streamedge_upstream_failures_total{origin=%s} = %v, want 1", inUse.rtmp, f)
	}
	var doc struct {
		Origins map[string]struct{ Failures int }
	}
	edge.apiGet(t, "/api/v1/streams", &doc)
	if doc.Origins[inUse.rtmp].Failures != 1 {
		t.Fatalf("/api/v1/streams origins: %+v, want 1 failure of %s", doc.Origins, inUse.rtmp)
	}
}

// Test 5: two vhosts of an edge pull from their own origins, and one name
// under each is two streams.
func TestEdgeVhostsAreIsolated(t *testing.T) {
	t.Parallel()
	mediatest.RequireFFmpeg(t)
	a, b := startServer(t, "", "-w", "1"), startServer(t, "", "-w", "1")
	publishTo(t, a, "rtmp://"+a.rtmp+"/live/s?vhost=customer.a", "customer.a/live/s")
	publishTo(t, b, "rtmp://"+b.rtmp+"/live/s?vhost=customer.b", "customer.b/live/s")
	yaml := fmt.Sprintf("vhosts:\n  customer.a:\n    cluster: {mode: remote, origin: [%s]}\n  customer.b:\n    cluster: {mode: remote, origin: [%s]}\n", a.rtmp, b.rtmp)
	edge := startServer(t, yaml, "-w", "2")
	edge.waitWorkers(t, 2, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, url := range []string{"rtmp://" + edge.rtmp + "/live/s?vhost=customer.a", "http://" + edge.http + "/live/s.flv?vhost=customer.b"} {
		play := playRTMP
		if strings.HasPrefix(url, "http") {
			play = playFLV
		}
		src, err := play(ctx, url)
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		if rep := watch(url, src, 25); rep.err != nil {
			t.Fatalf("%s: %v", url, rep.err)
		}
	}
	for stream, want := range map[string]string{"customer.a/live/s": a.rtmp, "customer.b/live/s": b.rtmp} {
		if up := edge.waitUpstream(t, stream, func(*ipc.Upstream) bool { return true }); up.Origin != want {
			t.Fatalf("%s pulled from %s, want %s", stream, up.Origin, want)
		}
	}
	// The default vhost is not an edge here: nothing published, a plain 404.
	resp, err := http.Get(edge.flvURL("s"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("default vhost: %s, want 404", resp.Status)
	}
}

// Test 7: an edge of an edge (a CDN tree): a player on B gets media, A sees
// one connection from B, the origin one from A.
func TestEdgeOfAnEdge(t *testing.T) {
	t.Parallel()
	mediatest.RequireFFmpeg(t)
	o := startServer(t, "", "-w", "1")
	publishFFmpeg(t, o, "tree")
	a := startServer(t, edgeYAML("__defaultVhost__", "round_robin", "rtmp", o.rtmp), "-w", "2")
	b := startServer(t, edgeYAML("__defaultVhost__", "round_robin", "rtmp", a.rtmp), "-w", "2")
	// Players come once every worker is ready, as in the other edge tests:
	// this test is about a chain of edges, not start-up (a puller still
	// starting is supervisor's TestEdgeLookupWaitsForAStartingPuller).
	a.waitWorkers(t, 2, nil)
	b.waitWorkers(t, 2, nil)
	done := make(chan []error, 1)
	go func() { done <- playAll(b, "tree", 10, 75) }()
	b.waitUpstream(t, "__defaultVhost__/live/tree", func(u *ipc.Upstream) bool { return u.State == "live" })
	for _, s := range []*server{a, o} {
		if n := originPlays(t, s, "__defaultVhost__/live/tree"); n != 1 {
			t.Fatalf("%s has %d players of the stream, want 1 (the edge below)", s.rtmp, n)
		}
	}
	// A's client list says which edge pulls: B's master is not it, one of
	// B's workers is (debug_srs_upnode: host and pid).
	var doc struct{ Clients []supervisor.ClientInfo }
	a.apiGet(t, "/api/v1/clients", &doc)
	bPIDs := map[string]bool{}
	for _, w := range b.workers(t) {
		bPIDs[fmt.Sprintf("pid %d", w.PID)] = true
	}
	found := false
	for _, c := range doc.Clients {
		if c.Kind == "rtmp_play" && c.Upnode != "" {
			_, pid, _ := strings.Cut(c.Upnode, " pid ")
			found = bPIDs["pid "+pid]
		}
	}
	if !found {
		t.Fatalf("A's clients do not name a worker of B (%v) as the upnode: %+v", bPIDs, doc.Clients)
	}
	if err := firstError(<-done); err != nil {
		t.Fatal(err)
	}
}

// workerFDs counts the open descriptors of every worker of s.
func workerFDs(t *testing.T, s *server) int {
	t.Helper()
	n := 0
	for _, w := range s.workers(t) {
		fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", w.PID))
		if err != nil {
			t.Fatal(err)
		}
		n += len(fds)
	}
	return n
}

// Test 8: origins that say nothing, send garbage or answer StreamNotFound:
// their players get a clean error within the wait, the edge keeps serving
// another stream, and nothing is left open after.
func TestEdgeBadOrigins(t *testing.T) {
	t.Parallel()
	mediatest.RequireFFmpeg(t)
	o := startServer(t, "", "-w", "1")
	publishFFmpeg(t, o, "good")
	notFound, connects := mediatest.RTMPStatusServer(t, []amf.Property{{Key: "level", Value: "error"},
		{Key: "code", Value: rtmp.CodeStreamNotFound}, {Key: "description", Value: "no such stream"}})
	yaml := edgeYAML("__defaultVhost__", "round_robin", "rtmp", o.rtmp)
	for vhost, addr := range map[string]string{"silent.v": mediatest.SilentServer(t), "junk.v": mediatest.GarbageServer(t), "nf.v": notFound} {
		yaml += fmt.Sprintf("  %s:\n    cluster: {mode: remote, origin: [%s]}\n", vhost, addr)
	}
	edge := startServer(t, yaml, "-w", "2")
	edge.waitWorkers(t, 2, nil)
	stop := make(chan struct{})
	good := playTimed(waitPlayable(t, playRTMP, edge.rtmpURL("good")), stop)
	defer close(stop)
	edge.waitUpstream(t, "__defaultVhost__/live/good", func(u *ipc.Upstream) bool { return u.State == "live" })
	baseline := workerFDs(t, edge)

	// Not found: a clean error at once, and the origin is asked again no
	// sooner than 3 s later.
	for range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := playRTMP(ctx, edge.rtmpURL("bad?vhost=nf.v"))
		cancel()
		if !errors.Is(err, rtmp.ErrStreamNotFound) {
			t.Fatalf("nf.v over RTMP: %v, want NetStream.Play.StreamNotFound", err)
		}
	}
	if n := len(connects); n != 1 {
		t.Errorf("the not-found origin was asked %d times for one stream within 3 s", n)
	}
	var wg sync.WaitGroup
	for _, vhost := range []string{"silent.v", "junk.v", "nf.v"} {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			start := time.Now()
			_, err := playRTMP(ctx, edge.rtmpURL("bad3?vhost="+vhost))
			if !errors.Is(err, rtmp.ErrStreamNotFound) {
				t.Errorf("%s over RTMP: %v, want NetStream.Play.StreamNotFound", vhost, err)
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, edge.flvURL("bad4")+"?vhost="+vhost, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Errorf("%s over HTTP-FLV: %v", vhost, err)
				return
			}
			resp.Body.Close()
			if want := map[bool]int{true: 404, false: 502}[vhost == "nf.v"]; resp.StatusCode != want {
				t.Errorf("%s over HTTP-FLV: %s, want %d", vhost, resp.Status, want)
			}
			// Each waits at most hub.UpstreamWait (12 s).
			if took := time.Since(start); took > 2*12*time.Second+2*time.Second {
				t.Errorf("%s: the two errors took %s", vhost, took)
			}
		})
	}
	wg.Wait()
	// The good stream went on, and nothing of the bad ones stays open.
	good.mu.Lock()
	frames, err := good.frames, good.err
	good.mu.Unlock()
	if err != nil || frames < 25 {
		t.Fatalf("the good stream's player: %d frames, %v", frames, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for n := workerFDs(t, edge); n > baseline; n = workerFDs(t, edge) {
		if time.Now().After(deadline) {
			t.Fatalf("the edge's workers have %d descriptors open, %d before the bad origins", n, baseline)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Test 6: a publish to an edge is forwarded to the origin, where ffprobe
// sees it; a second publisher of the name through another edge is refused
// by the origin, and gets the refusal.
func TestEdgeForwardsPublishes(t *testing.T) {
	t.Parallel()
	mediatest.RequireFFmpeg(t)
	o := startServer(t, "", "-w", "2")
	e1 := startServer(t, edgeYAML("__defaultVhost__", "round_robin", "rtmp", o.rtmp), "-w", "2")
	e2 := startServer(t, edgeYAML("__defaultVhost__", "round_robin", "rtmp", o.rtmp), "-w", "1")
	publishFFmpeg(t, e1, "up")
	o.logs.wait(t, "rtmp publish start", func(l map[string]any) bool { return l["stream"] == "__defaultVhost__/live/up" }, 15*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res := mediatest.FFprobe(t, ctx, o.rtmpURL("up"))
	v, okV := res.Stream("video")
	a, okA := res.Stream("audio")
	if res.Err != nil || !okV || !okA || v.CodecName != "h264" || a.CodecName != "aac" {
		t.Fatalf("ffprobe on the origin: %v %+v", res.Err, res.Streams)
	}
	// A player on the edge plays the forwarded stream from the edge itself.
	if rep := watch("edge player", waitPlayable(t, playFLV, e1.flvURL("up")), 25); rep.err != nil {
		t.Fatal(rep.err)
	}
	c, err := rtmp.Dial(ctx, e2.rtmpURL("up"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.Publish(ctx)
	var st *rtmp.StatusError
	if !errors.As(err, &st) || st.Code != "NetStream.Publish.BadName" || !strings.Contains(st.Description, "origin") {
		t.Fatalf("second publisher through another edge: %v, want the origin's refusal", err)
	}
}

// token_traverse: the edge asks the origin about a client's connect, token
// and all, and refuses what the origin refuses.
func TestEdgeTokenTraverse(t *testing.T) {
	t.Parallel()
	origin, _ := mediatest.RTMPConnectServer(t, func(obj amf.Object) bool {
		tc, _ := obj["tcUrl"].(string)
		return strings.HasSuffix(tc, "?token=good")
	})
	edge := startServer(t, edgeYAML("__defaultVhost__", "round_robin", "rtmp", origin)+"      token_traverse: true\n", "-w", "1")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for token, ok := range map[string]bool{"good": true, "bad": false} {
		c, err := rtmp.DialWith(ctx, "", "", edge.rtmpURL("s"), rtmp.DialOptions{TCURL: "rtmp://" + edge.rtmp + "/live?token=" + token})
		var st *rtmp.StatusError
		switch {
		case ok && err != nil:
			t.Fatalf("good token refused: %v", err)
		case !ok && (!errors.As(err, &st) || st.Code != "NetConnection.Connect.Rejected"):
			t.Fatalf("bad token: %v, want NetConnection.Connect.Rejected", err)
		}
		if c != nil {
			c.Close()
		}
	}
}

// A reload turns a vhost into an edge, or points it at other origins,
// without a restart: new pulls follow the new settings.
func TestEdgeVhostsReload(t *testing.T) {
	t.Parallel()
	mediatest.RequireFFmpeg(t)
	o := startServer(t, "", "-w", "1")
	publishFFmpeg(t, o, "rl")
	edge := startServer(t, "", "-w", "2")
	edge.waitWorkers(t, 2, nil)
	resp, err := http.Get(edge.flvURL("rl"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("before the reload (a local vhost): %s, want 404", resp.Status)
	}
	edge.reload(edgeYAML("__defaultVhost__", "round_robin", "flv", o.http))
	edge.logs.wait(t, "reload applied", nil, 10*time.Second)
	edge.logs.waitCount(t, "worker reloaded", 2, 10*time.Second)
	if rep := watch("after the reload", waitPlayable(t, playFLV, edge.flvURL("rl")), 25); rep.err != nil {
		t.Fatal(rep.err)
	}
	if up := edge.waitUpstream(t, "__defaultVhost__/live/rl", func(*ipc.Upstream) bool { return true }); up.Origin != o.http {
		t.Fatalf("pulled from %s, want %s over HTTP-FLV", up.Origin, o.http)
	}
}

// The worker that pulls an edge stream is killed: another worker takes the
// pull over, and the players on the other workers stay attached and go on.
func TestEdgePullerKilledIsTakenOver(t *testing.T) {
	mediatest.RequireFFmpeg(t)
	o := startServer(t, "", "-w", "1")
	publishFFmpeg(t, o, "to")
	edge := startServer(t, edgeYAML("__defaultVhost__", "round_robin", "rtmp", o.rtmp), "-w", "2")
	edge.waitWorkers(t, 2, nil)
	stop := make(chan struct{})
	defer close(stop)
	type player struct {
		worker int
		p      *timedPlayer
	}
	var players []player
	workers := map[int]bool{}
	for i := 0; len(workers) < 2 || len(players) < 4; i++ {
		if i == 40 {
			t.Fatalf("40 players all landed on worker(s) %v", workers)
		}
		src := waitPlayable(t, playRTMP, edge.rtmpURL("to"))
		w := edge.playerWorker(t, src.(rtmpSource).c.Conn().LocalAddr().String())
		workers[w] = true
		players = append(players, player{w, playTimed(src, stop)})
	}
	var doc struct{ Streams []supervisor.StreamInfo }
	edge.waitUpstream(t, "__defaultVhost__/live/to", func(u *ipc.Upstream) bool { return u.State == "live" })
	edge.apiGet(t, "/api/v1/streams", &doc)
	owner := doc.Streams[0].Owner
	var pid int
	for _, w := range edge.workers(t) {
		if w.Slot == owner {
			pid = w.PID
		}
	}
	killed := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	edge.logs.wait(t, "edge pull reassigned", nil, 10*time.Second)
	for i, pl := range players {
		if pl.worker == owner {
			continue // its players died with it
		}
		deadline := killed.Add(8 * time.Second)
		for {
			pl.p.mu.Lock()
			err := pl.p.err
			pl.p.mu.Unlock()
			if err != nil {
				t.Fatalf("player %d on worker %d: %v", i, pl.worker, err)
			}
			if _, ok := pl.p.keyframeAfter(killed.Add(200 * time.Millisecond)); ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("player %d on worker %d: no keyframe within 8 s of the kill", i, pl.worker)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if n := originPlays(t, o, "__defaultVhost__/live/to"); n != 1 {
		t.Fatalf("the origin has %d players after the takeover, want 1", n)
	}
}

// Issue 15: a WHIP publish on an edge is forwarded to the origin as RTMP,
// where ffprobe sees H.264 and the AAC transcoded from its Opus.
func TestEdgeForwardsWHIPPublishes(t *testing.T) {
	heavy(t)
	requireTranscode(t)
	o := startServer(t, "", "-w", "1")
	e := startServer(t, rtcYAML+edgeYAML("__defaultVhost__", "round_robin", "rtmp", o.rtmp), "-w", "1")
	e.waitWorkers(t, 1, nil)
	e.rtcPorts(t, 1)
	publishRTC(t, e, "whipup")
	o.logs.wait(t, "rtmp publish start", func(l map[string]any) bool { return l["stream"] == "__defaultVhost__/live/whipup" }, 20*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res := waitProbe(t, ctx, o.rtmpURL("whipup"))
	v, okV := res.Stream("video")
	a, okA := res.Stream("audio")
	if !okV || v.CodecName != "h264" || v.Width != 320 || v.Height != 240 || !okA || a.CodecName != "aac" {
		t.Fatalf("ffprobe on the origin: video %+v (%v), audio %+v (%v)", v, okV, a, okA)
	}
}
