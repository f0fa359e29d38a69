package supervisor

import (
	"time"

	"streamedge/ipc"
)

// pullerWait bounds how long a lookup waits for the ready of the worker
// that owns its stream. A worker serves before its ready reaches the
// master, so the puller an edge chose then (the asker itself, none being
// ready) has no relay address yet; a second player must wait for it, not
// be told no worker can pull the stream. It is below the worker's bound
// on a round trip to the master (worker.hostTimeout, 3 s), so the player
// hears the answer rather than a timeout.
const pullerWait = 2 * time.Second

// waitGroupKey names the lookups of one stream waiting for one worker.
type waitGroupKey struct {
	owner  uint64 // the owner's generation
	stream string
}

// lookupWait is the lookups of one stream parked until its owner, a
// worker still starting, is ready, exits, or their deadlines pass. They
// are logged as one, so a crowd at start makes one line, not one each.
type lookupWait struct {
	owner   *workerProc
	since   time.Time
	lookups []parkedLookup
}

type parkedLookup struct {
	asker    *workerProc
	msg      *ipc.Lookup
	deadline time.Time
}

// onLookup answers a worker's Lookup, now or, for a stream whose owner is
// still starting, once the owner can be relayed from (by deadline).
func (m *Master) onLookup(p *workerProc, msg *ipc.Lookup, deadline time.Time) {
	switch owner, ok := m.registry.owner(msg.Stream); {
	case msg.Forward:
		p.proc.Send(m.forwardLookup(msg, m.now()))
	case ok:
		m.answerOwned(p, msg, owner, deadline)
	case m.edgeStream(msg.Stream) && !msg.Peek:
		if m.pullFromCluster(p, msg, deadline) {
			return // answered when the store has
		}
		p.proc.Send(m.edgeLookup(p, msg, m.now()))
	default:
		p.proc.Send(&ipc.LookupReply{ID: msg.ID})
	}
}

// answerOwned answers a lookup of a stream the worker of generation owner
// has: with its relay address, or, while it starts, once it is ready.
func (m *Master) answerOwned(p *workerProc, msg *ipc.Lookup, owner uint64, deadline time.Time) {
	op := m.procs[owner]
	switch {
	case op != nil && op.relayAddr != "":
		p.proc.Send(&ipc.LookupReply{ID: msg.ID, Found: true, Owner: op.slot, RelayAddr: op.relayAddr})
	case op != nil && op.state == StateStarting && m.now().Before(deadline):
		m.park(op, parkedLookup{asker: p, msg: msg, deadline: deadline})
	default:
		if op != nil {
			m.log.Warn("stream lookup refused", "worker", op.slot, "stream", clipText(msg.Stream), "asked_by", p.slot,
				"reason", "its owner is "+string(op.state)+" and has no relay address")
		}
		p.proc.Send(&ipc.LookupReply{ID: msg.ID})
	}
}

func (m *Master) park(owner *workerProc, l parkedLookup) {
	k := waitGroupKey{owner.gen, l.msg.Stream}
	w := m.lookupWaits[k]
	if w == nil {
		w = &lookupWait{owner: owner, since: m.now()}
		m.lookupWaits[k] = w
		m.log.Info("stream lookup waits for its owner", "worker", owner.slot, "stream", clipText(l.msg.Stream),
			"asked_by", l.asker.slot, "reason", "the owner is still starting: no relay address yet", "max_wait", pullerWait.String())
	}
	w.lookups = append(w.lookups, l)
	m.after(l.deadline.Sub(m.now()), func() { m.expireWaits(k) })
}

// resumeWaits answers again every lookup waiting for the worker of
// generation owner, which is ready or gone: the registry says who owns
// the stream now (after an exit, a reassigned puller, or none).
func (m *Master) resumeWaits(owner uint64, why string) {
	var resumed []*lookupWait
	for k, w := range m.lookupWaits {
		if k.owner == owner {
			delete(m.lookupWaits, k)
			resumed = append(resumed, w)
		}
	}
	for _, w := range resumed {
		stream := w.lookups[0].msg.Stream
		m.log.Info("waiting stream lookups resumed", "worker", w.owner.slot, "stream", clipText(stream), "reason", why,
			"lookups", len(w.lookups), "waited", m.now().Sub(w.since).Round(time.Millisecond).String())
		for _, l := range w.lookups {
			if m.procs[l.asker.gen] == l.asker {
				m.onLookup(l.asker, l.msg, l.deadline)
			}
		}
	}
}

// expireWaits refuses the lookups of group k whose deadline has passed.
func (m *Master) expireWaits(k waitGroupKey) {
	w := m.lookupWaits[k]
	if w == nil {
		return
	}
	now := m.now()
	var expired []parkedLookup
	kept := w.lookups[:0]
	for _, l := range w.lookups {
		if now.Before(l.deadline) {
			kept = append(kept, l)
		} else {
			expired = append(expired, l)
		}
	}
	if len(expired) == 0 {
		return
	}
	w.lookups = kept
	if len(kept) == 0 {
		delete(m.lookupWaits, k)
	}
	m.log.Warn("stream lookups refused", "worker", w.owner.slot, "stream", clipText(k.stream), "lookups", len(expired),
		"reason", "the owner was not ready within "+pullerWait.String())
	for _, l := range expired {
		if m.procs[l.asker.gen] == l.asker {
			l.asker.proc.Send(&ipc.LookupReply{ID: l.msg.ID})
		}
	}
}
