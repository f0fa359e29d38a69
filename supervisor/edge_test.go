package supervisor

import (
	"slices"
	"strings"
	"testing"

	"streamedge/configs"
	"streamedge/ipc"
)

// sentOf returns the messages of type T the master sent p.
func sentOf[T ipc.Message](p *fakeProc) []T {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []T
	for _, m := range p.sent {
		if t, ok := m.(T); ok {
			out = append(out, t)
		}
	}
	return out
}

// readyEdge is a master of n ready workers on an edge of origins.
func readyEdge(t *testing.T, n int, origins string) *harness {
	h := newHarness(t, n)
	for _, p := range h.procs {
		h.ready(p)
	}
	cfg, err := configs.Parse("edge.yaml", []byte("vhosts:\n  __defaultVhost__:\n    cluster: {mode: remote, origin: ["+origins+"]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	h.m.cfg = cfg
	return h
}

func TestEdgePullsOnePerHostFromTheLeastLoaded(t *testing.T) {
	h := readyEdge(t, 3, "o1, o2, o3")
	a, b, c := h.procs[0], h.procs[1], h.procs[2]
	for p, conns := range map[*fakeProc]int{a: 10, b: 2, c: 5} {
		h.gen(p).load = &ipc.Load{Connections: conns}
	}
	lookup := func(p *fakeProc, stream string) *ipc.LookupReply {
		t.Helper()
		h.m.onMessage(h.gen(p), &ipc.Lookup{ID: 1, Stream: stream})
		replies := sentOf[*ipc.LookupReply](p)
		return replies[len(replies)-1]
	}
	const s1 = "__defaultVhost__/live/s1"
	r := lookup(a, s1)
	if !r.Found || r.Owner != b.slot || r.RelayAddr != h.gen(b).relayAddr {
		t.Fatalf("first lookup: %+v, want the least loaded worker %d", r, b.slot)
	}
	pulls := sentOf[*ipc.Pull](b)
	if len(pulls) != 1 || pulls[0].Stream != s1 || !slices.Equal(pulls[0].Origins, []string{"o1:1935", "o2:1935", "o3:1935"}) {
		t.Fatalf("pulls sent to the owner: %+v", pulls)
	}
	// Another worker's player relays from the same owner: still one pull.
	if r := lookup(c, s1); !r.Found || r.Owner != b.slot || len(sentOf[*ipc.Pull](b))+len(sentOf[*ipc.Pull](c))+len(sentOf[*ipc.Pull](a)) != 1 {
		t.Fatalf("second lookup: %+v, pulls: %d", r, len(sentOf[*ipc.Pull](b)))
	}
	// Round robin is one counter for the vhost: the next streams start at
	// the next origins.
	lookup(a, "__defaultVhost__/live/s2")
	lookup(a, "__defaultVhost__/live/s3")
	var firsts []string
	for _, p := range []*fakeProc{a, b, c} {
		for _, pl := range sentOf[*ipc.Pull](p) {
			firsts = append(firsts, pl.Origins[0])
		}
	}
	slices.Sort(firsts)
	if !slices.Equal(firsts, []string{"o1:1935", "o2:1935", "o3:1935"}) {
		t.Fatalf("first origins of three streams: %v", firsts)
	}

	// The pull ends with "not found": the others hear why, and the
	// stream is not asked for again for 3 s.
	h.m.onMessage(h.gen(b), &ipc.UpstreamEvent{Stream: s1, State: ipc.UpstreamEnded, Err: "not found", NotFound: true, Origin: "o1:1935"})
	for _, p := range []*fakeProc{a, c} {
		un := sentOf[*ipc.StreamUnpublished](p)
		if len(un) != 1 || un[0].Stream != s1 || !un[0].NotFound || un[0].Err == "" {
			t.Fatalf("worker %d was told %+v", p.slot, un)
		}
	}
	before := len(sentOf[*ipc.Pull](b))
	if r := lookup(c, s1); r.Found || r.Err == "" {
		t.Fatalf("lookup within 3 s of not found: %+v", r)
	}
	h.advance(notFoundRetry)
	if r := lookup(c, s1); !r.Found {
		t.Fatalf("lookup 3 s after not found: %+v", r)
	}
	if n := len(sentOf[*ipc.Pull](b)) - before; n != 1 {
		t.Fatalf("%d pulls after the retry time, want 1", n)
	}

	// A failed origin goes last for the next stream.
	h.m.onMessage(h.gen(b), &ipc.UpstreamEvent{Stream: s1, State: ipc.UpstreamFailed, Origin: "o2:1935", Err: "refused"})
	lookup(a, "__defaultVhost__/live/s4")
	pulls = sentOf[*ipc.Pull](b)
	if got := pulls[len(pulls)-1].Origins; got[len(got)-1] != "o2:1935" {
		t.Fatalf("order after o2 failed: %v", got)
	}
	if st := h.m.edge.origins["o2:1935"]; st == nil || st.Failures != 1 {
		t.Fatalf("o2's figures: %+v", st)
	}

	// The owner dies: the next least loaded worker pulls its streams, and
	// the others are told nothing (their broken relays look the stream up
	// again), so players stay attached.
	unBefore := len(sentOf[*ipc.StreamUnpublished](a))
	h.exit(b, errKilled)
	if n := len(sentOf[*ipc.StreamUnpublished](a)); n != unBefore {
		t.Fatalf("owner died: worker %d was told %d streams ended", a.slot, n-unBefore)
	}
	taken := map[string]bool{}
	for _, pl := range sentOf[*ipc.Pull](c) {
		taken[pl.Stream] = true
	}
	for _, s := range []string{s1, "__defaultVhost__/live/s2", "__defaultVhost__/live/s3", "__defaultVhost__/live/s4"} {
		if !taken[s] {
			t.Fatalf("%s not taken over by worker %d: %v", s, c.slot, taken)
		}
		if o, _ := h.m.registry.owner(s); o != h.gen(c).gen {
			t.Fatalf("%s is owned by %d after the takeover", s, o)
		}
	}
	// With no worker left to take over, the players are told, with an
	// error, so they reconnect rather than wait.
	h.exit(a, errKilled)
	h.exit(c, errKilled)
}

// At start a worker may serve before its ready is through, with no other
// worker ready either: it pulls for itself rather than refuse its player.
func TestEdgePullerAtStartIsTheAsker(t *testing.T) {
	h := newHarness(t, 2)
	cfg, err := configs.Parse("edge.yaml", []byte("vhosts:\n  __defaultVhost__:\n    cluster: {mode: remote, origin: [o1]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	h.m.cfg = cfg
	a := h.procs[0]
	a.msgs <- &ipc.Hello{Slot: a.slot, PID: a.pid, GOMAXPROCS: 1}
	h.until("hello", func() bool { return h.gen(a).hello != nil })
	h.m.onMessage(h.gen(a), &ipc.Lookup{ID: 7, Stream: "__defaultVhost__/live/s"})
	replies := sentOf[*ipc.LookupReply](a)
	if len(replies) != 1 || !replies[0].Found || !replies[0].Puller || len(sentOf[*ipc.Pull](a)) != 1 {
		t.Fatalf("lookup from a starting worker with none ready: %+v", replies)
	}
}

// A peek (a HEAD's lookup) answers from the registry: on an edge it makes
// no worker pull a stream nobody pulls yet, and finds one that is pulled.
func TestEdgePeekPullsNothing(t *testing.T) {
	h := readyEdge(t, 2, "o1")
	a, b := h.procs[0], h.procs[1]
	const s = "__defaultVhost__/live/s"
	last := func(p *fakeProc, m *ipc.Lookup) *ipc.LookupReply {
		t.Helper()
		h.m.onMessage(h.gen(p), m)
		replies := sentOf[*ipc.LookupReply](p)
		return replies[len(replies)-1]
	}
	pulls := func() int { return len(sentOf[*ipc.Pull](a)) + len(sentOf[*ipc.Pull](b)) }
	if r := last(a, &ipc.Lookup{ID: 1, Stream: s, Peek: true}); r.Found || pulls() != 0 {
		t.Fatalf("peek of a stream nobody pulls: %+v, %d pulls", r, pulls())
	}
	played := last(a, &ipc.Lookup{ID: 2, Stream: s})
	if !played.Found || pulls() != 1 {
		t.Fatalf("a player's lookup: %+v, %d pulls", played, pulls())
	}
	if r := last(b, &ipc.Lookup{ID: 3, Stream: s, Peek: true}); !r.Found || r.Owner != played.Owner || pulls() != 1 {
		t.Fatalf("peek of a pulled stream: %+v, %d pulls", r, pulls())
	}
}

// startingEdge is a master of n workers that have said hello but not
// ready, on an edge of one origin.
func startingEdge(t *testing.T, n int) *harness {
	t.Helper()
	h := newHarness(t, n)
	cfg, err := configs.Parse("edge.yaml", []byte("vhosts:\n  __defaultVhost__:\n    cluster: {mode: remote, origin: [o1]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	h.m.cfg = cfg
	for _, p := range h.procs {
		p.msgs <- &ipc.Hello{Slot: p.slot, PID: p.pid, GOMAXPROCS: 1}
		h.until("hello", func() bool { return h.gen(p) != nil && h.gen(p).hello != nil })
	}
	return h
}

// lastReply is the last LookupReply the master sent p, nil if none.
func lastReply(p *fakeProc) *ipc.LookupReply {
	replies := sentOf[*ipc.LookupReply](p)
	if len(replies) == 0 {
		return nil
	}
	return replies[len(replies)-1]
}

// A player's lookup of a stream whose puller is still starting waits for
// the puller's ready, which brings its relay address, instead of being
// told no worker can pull the stream; still one pull on the host.
func TestEdgeLookupWaitsForAStartingPuller(t *testing.T) {
	const s = "__defaultVhost__/live/s"
	for _, tc := range []struct {
		name string
		then func(h *harness, a, b *fakeProc)
		want func(h *harness, a, b *fakeProc) (found bool, owner *fakeProc)
		log  string // the decision's line, with its reason
	}{
		{"puller ready", func(h *harness, a, b *fakeProc) { h.ready(a) },
			func(h *harness, a, b *fakeProc) (bool, *fakeProc) { return true, a },
			`msg="waiting stream lookups resumed" worker=0 stream=__defaultVhost__/live/s reason="the owner is ready" lookups=1`},
		{"puller never ready", func(h *harness, a, b *fakeProc) { h.ready(b); h.advance(pullerWait) },
			func(h *harness, a, b *fakeProc) (bool, *fakeProc) { return false, nil },
			`msg="stream lookups refused" worker=0 stream=__defaultVhost__/live/s lookups=1 reason="the owner was not ready within 2s"`},
		{"puller dies, another is ready", func(h *harness, a, b *fakeProc) { h.ready(b); h.exit(a, errKilled) },
			func(h *harness, a, b *fakeProc) (bool, *fakeProc) { return true, b },
			`msg="waiting stream lookups resumed" worker=0 stream=__defaultVhost__/live/s reason="the owner exited" lookups=1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startingEdge(t, 2)
			a, b := h.procs[0], h.procs[1]
			h.m.onMessage(h.gen(a), &ipc.Lookup{ID: 1, Stream: s})
			if r := lastReply(a); r == nil || !r.Found || !r.Puller || len(sentOf[*ipc.Pull](a)) != 1 {
				t.Fatalf("first lookup, none ready: %+v", r)
			}
			h.m.onMessage(h.gen(b), &ipc.Lookup{ID: 2, Stream: s})
			if r := lastReply(b); r != nil {
				t.Fatalf("lookup answered while its puller starts: %+v", r)
			}
			tc.then(h, a, b)
			found, owner := tc.want(h, a, b)
			h.until("lookup answered", func() bool { return lastReply(b) != nil })
			r := lastReply(b)
			if r.ID != 2 || r.Found != found || (found && (r.Owner != owner.slot || r.RelayAddr == "")) {
				t.Fatalf("lookup answered %+v, want found %v", r, found)
			}
			if n := len(sentOf[*ipc.Pull](a)) + len(sentOf[*ipc.Pull](b)); found && owner == a && n != 1 {
				t.Fatalf("%d pulls, want 1", n)
			}
			for _, want := range []string{`msg="stream lookup waits for its owner" worker=0`, tc.log} {
				if !strings.Contains(h.logs.String(), want) {
					t.Fatalf("not logged: %s", want)
				}
			}
		})
	}
}
