package supervisor

import (
	"testing"

	"streamedge/ipc"
)

// A publish on a worker that serves before its ready is through: the
// others are told where to relay it once it has a relay address, never
// with none, and a player's lookup meanwhile waits for it.
func TestPublishOnAStartingWorkerIsAnnouncedWhenReady(t *testing.T) {
	h := newHarness(t, 2)
	a, b := h.procs[0], h.procs[1]
	a.msgs <- &ipc.Hello{Slot: a.slot, PID: a.pid, GOMAXPROCS: 1}
	h.until("hello", func() bool { return h.gen(a) != nil && h.gen(a).hello != nil })
	h.ready(b)
	const s = "__defaultVhost__/live/p"
	h.m.onMessage(h.gen(a), &ipc.Claim{ID: 1, Stream: s})
	if r := sentOf[*ipc.ClaimReply](a); len(r) != 1 || !r[0].OK {
		t.Fatalf("claim of a starting worker: %+v", r)
	}
	if pub := sentOf[*ipc.StreamPublished](b); len(pub) != 0 {
		t.Fatalf("announced before its owner has a relay address: %+v", pub)
	}
	h.m.onMessage(h.gen(b), &ipc.Lookup{ID: 2, Stream: s})
	if r := lastReply(b); r != nil {
		t.Fatalf("lookup answered while the owner starts: %+v", r)
	}
	h.ready(a)
	addr := h.gen(a).relayAddr
	h.until("announced and answered", func() bool { return lastReply(b) != nil && len(sentOf[*ipc.StreamPublished](b)) == 1 })
	if pub := sentOf[*ipc.StreamPublished](b)[0]; pub.Stream != s || pub.Owner != a.slot || pub.RelayAddr != addr {
		t.Fatalf("announced %+v, want relay address %q", pub, addr)
	}
	if r := lastReply(b); !r.Found || r.ID != 2 || r.RelayAddr != addr {
		t.Fatalf("lookup answered %+v", r)
	}
}
