package hosts

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"streamedge/supervisor/hosts/redistest"
)

const (
	testBeat = 100 * time.Millisecond
	testTTL  = 500 * time.Millisecond
)

// fakeHost is the master side of a store: what Local reports.
type fakeHost struct {
	mu      sync.Mutex
	rec     Record
	streams []string
}

func (f *fakeHost) local(context.Context) (Record, []string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rec, slices.Clone(f.streams), nil
}

func (f *fakeHost) set(fn func(*fakeHost)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

type runningStore struct {
	*Store
	host   *fakeHost
	cancel context.CancelFunc
	done   chan error
}

func startStore(t *testing.T, url, id string) *runningStore {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := Dial(url, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	h := &fakeHost{rec: Record{Advertise: Advertise{RTMP: id + ":1935", HTTP: id + ":8080"}, Resolve: true}}
	s := New(Options{Client: c, HostID: id, Heartbeat: testBeat, TTL: testTTL, LoadFactor: 1.25, Local: h.local, Log: log})
	ctx, cancel := context.WithCancel(context.Background())
	rs := &runningStore{Store: s, host: h, cancel: cancel, done: make(chan error, 1)}
	go func() { rs.done <- s.Run(ctx) }()
	t.Cleanup(rs.stop)
	return rs
}

func (rs *runningStore) stop() {
	rs.cancel()
	<-rs.done
	rs.done <- nil // a second stop returns at once
}

// waitView waits for the store's view to satisfy ok; the heartbeat is the
// event, the deadline a generous number of them.
func waitView(t *testing.T, s *Store, what string, ok func(*View) bool) *View {
	t.Helper()
	deadline := time.Now().Add(50 * testBeat)
	for {
		v := s.View()
		if ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: view never got there: %+v", what, v)
		}
		time.Sleep(testBeat / 10) // polling the view, which changes once a beat
	}
}

func ids(v *View) []string {
	var out []string
	for _, h := range v.Hosts {
		out = append(out, h.ID)
	}
	return out
}

func hasHosts(want ...string) func(*View) bool {
	return func(v *View) bool { return !v.Stale && slices.Equal(ids(v), want) }
}

func TestStoresSeeEachOtherAndAgreeOnResolves(t *testing.T) {
	r := redistest.Start(t)
	a, b := startStore(t, r.URL, "e1"), startStore(t, r.URL, "e2")
	waitView(t, a.Store, "a sees both", hasHosts("e1", "e2"))
	waitView(t, b.Store, "b sees both", hasHosts("e1", "e2"))
	for _, n := range names(50) {
		ra, _, okA := a.Resolve(n)
		rb, _, okB := b.Resolve(n)
		if !okA || !okB || ra.ID != rb.ID {
			t.Fatalf("%s: e1 resolves to %q, e2 to %q", n, ra.ID, rb.ID)
		}
	}
	if got := a.Stats(); !got.Up || got.Resolves != 50 {
		t.Errorf("stats %+v", got)
	}
}

func TestClusterWideClaimAndRelease(t *testing.T) {
	r := redistest.Start(t)
	a, b := startStore(t, r.URL, "e1"), startStore(t, r.URL, "e2")
	waitView(t, b.Store, "both", hasHosts("e1", "e2"))
	ctx := context.Background()
	if owner, err := a.Claim(ctx, "v/live/s"); err != nil || owner != "e1" {
		t.Fatalf("first claim: %q, %v", owner, err)
	}
	if owner, err := b.Claim(ctx, "v/live/s"); err != nil || owner != "e1" {
		t.Fatalf("second claim on another host: got holder %q, %v; want e1", owner, err)
	}
	if rec, ok, err := b.Publisher(ctx, "v/live/s"); err != nil || !ok || rec.ID != "e1" || rec.Advertise.RTMP != "e1:1935" {
		t.Fatalf("publisher seen from e2: %+v %v %v", rec, ok, err)
	}
	a.Release("v/live/s")
	deadline := time.Now().Add(testTTL / 2) // well before the key could expire
	for {
		owner, err := b.Claim(ctx, "v/live/s")
		if err == nil && owner == "e2" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("released stream still held by %q (%v)", owner, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestHeartbeatKeepsStreamsAndDropsGoneOnes(t *testing.T) {
	r := redistest.Start(t)
	a, b := startStore(t, r.URL, "e1"), startStore(t, r.URL, "e2")
	ctx := context.Background()
	a.host.set(func(f *fakeHost) { f.streams = []string{"v/live/kept"} })
	// Held past several TTLs only because the heartbeat refreshes it.
	waitView(t, b.Store, "e2 sees e1 publish", func(v *View) bool {
		for _, h := range v.Hosts {
			if h.ID == "e1" && h.Published == 1 {
				return true
			}
		}
		return false
	})
	time.Sleep(2 * testTTL) // the refresh is what is under test: time must pass
	if owner, _ := b.Claim(ctx, "v/live/kept"); owner != "e1" {
		t.Fatalf("stream lost its holder after 2 TTLs of heartbeats: %q", owner)
	}
	a.host.set(func(f *fakeHost) { f.streams = nil })
	waitView(t, b.Store, "e2 sees e1 stop", func(v *View) bool {
		for _, h := range v.Hosts {
			if h.ID == "e1" && h.Published == 0 {
				return true
			}
		}
		return false
	})
	if owner, _ := b.Claim(ctx, "v/live/kept"); owner != "e2" {
		t.Fatalf("a stream e1 no longer publishes is still held by %q", owner)
	}
}

func TestCleanQuitLeavesAtOnceAndDeadHostExpires(t *testing.T) {
	r := redistest.Start(t)
	a, b, c := startStore(t, r.URL, "e1"), startStore(t, r.URL, "e2"), startStore(t, r.URL, "e3")
	waitView(t, a.Store, "all three", hasHosts("e1", "e2", "e3"))
	quit := time.Now()
	b.stop()
	waitView(t, a.Store, "e2 left", hasHosts("e1", "e3"))
	if d := time.Since(quit); d >= testTTL {
		t.Errorf("a clean quit took %s to show, the TTL's time (%s): it was not removed", d, testTTL)
	}
	// A host that dies cannot remove itself: its client is gone first.
	c.opts.Client.Close()
	died := time.Now()
	v := waitView(t, a.Store, "e3 expired", hasHosts("e1"))
	if d := time.Since(died); d > testTTL+2*testBeat {
		t.Errorf("dead host dropped out after %s, want within ttl %s + a beat", d, testTTL)
	}
	if v.ring == nil || len(v.ring.IDs()) != 1 {
		t.Errorf("ring %v", v.ring.IDs())
	}
}

func TestStoreDownServesTheLastViewAndRecovers(t *testing.T) {
	r := redistest.Start(t)
	a, b := startStore(t, r.URL, "e1"), startStore(t, r.URL, "e2")
	waitView(t, a.Store, "both", hasHosts("e1", "e2"))
	before, _, _ := a.Resolve("v/live/s")
	r.Kill()
	v := waitView(t, a.Store, "stale", func(v *View) bool { return v.Stale })
	if !slices.Equal(ids(v), []string{"e1", "e2"}) || v.Error == "" {
		t.Fatalf("stale view lost hosts or says nothing: %+v", v)
	}
	if got, v, ok := a.Resolve("v/live/s"); !ok || got.ID != before.ID || !v.Stale {
		t.Fatalf("resolve with the store down: %q stale=%v ok=%v, want %q", got.ID, v.Stale, ok, before.ID)
	}
	if a.Stats().Up || a.Stats().Failures == 0 {
		t.Errorf("stats while down: %+v", a.Stats())
	}
	// The retry backs off from a quarter beat and stops growing at one.
	// After eight failed tries a backoff that kept doubling would wait
	// 64 beats; one capped at a beat waits one. So the store stays down
	// until both hosts have failed eight times, and the bound below, ten
	// beats, leaves room for a loaded machine yet still catches the
	// uncapped backoff.
	deadline := time.Now().Add(100 * testBeat)
	for a.Stats().Failures < 8 || b.Stats().Failures < 8 {
		if time.Now().After(deadline) {
			t.Fatalf("store down for 100 beats, failures %d and %d, want 8 each", a.Stats().Failures, b.Stats().Failures)
		}
		time.Sleep(testBeat / 10)
	}
	r.Restart() // empty: every record has to be written again
	back := time.Now()
	waitView(t, b.Store, "fresh after restart", hasHosts("e1", "e2"))
	if d := time.Since(back); d > 10*testBeat {
		t.Errorf("records rewritten %s after the store came back, want within about a heartbeat (%s): the retry's backoff is not capped", d, testBeat)
	}
}

// A full host asks where its player goes instead: never to itself, even
// while its own record (a heartbeat old) still says it is open.
func TestResolveExceptPassesOverTheAskingHost(t *testing.T) {
	open := func(id string, players int) Record {
		return Record{ID: id, Resolve: true, Load: Load{Players: players}}
	}
	for _, tc := range []struct {
		name   string
		hosts  []Record
		except string
		want   string // "" : no host
	}{
		{name: "the only other host", hosts: []Record{open("e1", 0), open("e2", 0)}, except: "e1", want: "e2"},
		{name: "the other is full too", hosts: []Record{open("e1", 0), {ID: "e2", Resolve: true, Full: true}}, except: "e1"},
		{name: "a host that takes no players is no target", hosts: []Record{open("e1", 0), {ID: "o"}}, except: "e1"},
		{name: "alone", hosts: []Record{open("e1", 0)}, except: "e1"},
	} {
		v := buildView(nil, tc.hosts, time.Now(), false, "")
		for _, n := range names(50) {
			got, ok := v.choose(n, 1.25, tc.except)
			if ok != (tc.want != "") || got.ID != tc.want {
				t.Fatalf("%s: %s resolves to %q (%v), want %q", tc.name, n, got.ID, ok, tc.want)
			}
		}
	}
	// Without an exception both hosts get names; with one, the names of
	// e1 go to the next host on their ring and e2's stay where they were.
	v := buildView(nil, []Record{open("e1", 0), open("e2", 0), open("e3", 0)}, time.Now(), false, "")
	moved := 0
	for _, n := range names(300) {
		before, _ := v.choose(n, 1.25, "")
		after, _ := v.choose(n, 1.25, "e1")
		switch {
		case after.ID == "e1":
			t.Fatalf("%s resolves to the excepted host", n)
		case before.ID != "e1" && after.ID != before.ID:
			t.Fatalf("%s moved from %s to %s, though only e1 was excepted", n, before.ID, after.ID)
		case before.ID == "e1":
			moved++
		}
	}
	if moved == 0 {
		t.Fatal("no name resolved to e1 before it was excepted")
	}
}
