package supervisor

import (
	"strings"
	"time"

	"streamedge/configs"
	"streamedge/ipc"
	"streamedge/supervisor/origin"
)

// notFoundRetry is how soon after every origin said "not found" a stream
// may be asked of them again: players arriving meanwhile are refused at
// once instead of each costing the origins a request.
const notFoundRetry = 3 * time.Second

// edge is the master's part of edge mode: it makes one worker of the host
// the puller of each edge stream (the registry records it as the owner, so
// the other workers relay from it as from a publisher), chooses the origins'
// order, and keeps the per-origin figures. Only the master loop touches it.
type edge struct {
	chooser  *origin.Chooser
	notFound map[string]time.Time
	origins  map[string]*originStats
}

// originStats are one origin's figures since the master started.
type originStats struct {
	Failures  uint64 `json:"failures"`
	Failovers uint64 `json:"failovers"` // pulls that moved away from it
	Bytes     uint64 `json:"bytes"`     // of pulls that ended on it
}

func newEdge() *edge {
	return &edge{chooser: origin.New(), notFound: map[string]time.Time{}, origins: map[string]*originStats{}}
}

func (e *edge) stats(addr string) *originStats {
	st := e.origins[addr]
	if st == nil {
		st = &originStats{}
		e.origins[addr] = st
	}
	return st
}

// rtcRendition ends the name of a stream's WebRTC rendition
// (media/webrtc.RTCSuffix): an edge makes it from the stream it pulls, so
// it is never pulled from an origin itself.
const rtcRendition = "@rtc"

// edgeStream reports whether stream is pulled from an origin.
func (m *Master) edgeStream(stream string) bool {
	return m.cfg.Remote(vhostOf(stream)) && !strings.HasSuffix(stream, rtcRendition)
}

// vhostOf is the vhost part of a "vhost/app/name" stream.
func vhostOf(stream string) string {
	v, _, _ := strings.Cut(stream, "/")
	return v
}

// edgeLookup answers a worker's Lookup of an edge stream nobody on the host
// owns yet: the least loaded worker becomes its puller.
func (m *Master) edgeLookup(p *workerProc, msg *ipc.Lookup, now time.Time) *ipc.LookupReply {
	reply := &ipc.LookupReply{ID: msg.ID}
	if at, ok := m.edge.notFound[msg.Stream]; ok && now.Sub(at) < notFoundRetry {
		reply.Err = "not found on any origin (asked again at most every " + notFoundRetry.String() + ")"
		return reply
	}
	vhost := vhostOf(msg.Stream)
	cl := m.cfg.Cluster(vhost)
	return m.assignPull(p, msg, cl, m.edge.chooser.Order(vhost, msg.Stream, cl.Balance, cl.Origin, now))
}

// assignPull makes the least loaded worker the host's puller of msg.Stream
// from the origins in order.
func (m *Master) assignPull(p *workerProc, msg *ipc.Lookup, cl configs.Cluster, order []string) *ipc.LookupReply {
	reply := &ipc.LookupReply{ID: msg.ID}
	owner, reason := m.leastLoaded(), "the least loaded ready worker"
	if owner == nil && p.state == StateStarting {
		// Serving before its ready is through, as at start: the asker
		// pulls for itself rather than refusing its player. Lookups from
		// the others wait for its ready (answerOwned).
		owner, reason = p, "no worker is ready: the asker, still starting, pulls itself"
	}
	if owner == nil || len(order) == 0 {
		return reply
	}
	if err := owner.proc.Send(&ipc.Pull{Stream: msg.Stream, Origins: order, Protocol: cl.Protocol, UpVhost: cl.Vhost}); err != nil {
		m.log.Warn("pull not sent", "worker", owner.slot, "stream", msg.Stream, "err", err)
		return reply
	}
	m.registry.claim(msg.Stream, owner.gen)
	m.log.Info("edge pull assigned", "stream", clipText(msg.Stream), "worker", owner.slot, "origin", order[0], "asked_by", p.slot, "reason", reason)
	reply.Found, reply.Owner, reply.RelayAddr, reply.Puller = true, owner.slot, owner.relayAddr, owner == p
	return reply
}

// forwardLookup answers where a publish of an edge stream goes: the
// origins in the order of the vhost's balance, as for pulls.
func (m *Master) forwardLookup(msg *ipc.Lookup, now time.Time) *ipc.LookupReply {
	vhost := vhostOf(msg.Stream)
	cl := m.cfg.Cluster(vhost)
	if cl.FromCluster() {
		return &ipc.LookupReply{ID: msg.ID, Err: "this vhost plays from the cluster's hosts: publish to one of them"}
	}
	order := m.edge.chooser.Order(vhost, msg.Stream, cl.Balance, cl.Origin, now)
	return &ipc.LookupReply{ID: msg.ID, Found: len(order) > 0, Origins: order, UpVhost: cl.Vhost}
}

// leastLoaded is the ready worker with the fewest connections, then the
// least CPU, then the lowest slot.
func (m *Master) leastLoaded() *workerProc {
	var best *workerProc
	for _, p := range m.procs {
		if p.state != StateReady {
			continue
		}
		if best == nil || lessLoaded(p, best) {
			best = p
		}
	}
	return best
}

func lessLoaded(a, b *workerProc) bool {
	var ac, bc int
	var acpu, bcpu float64
	if a.load != nil {
		ac, acpu = a.load.Connections, a.load.CPUPercent
	}
	if b.load != nil {
		bc, bcpu = b.load.Connections, b.load.CPUPercent
	}
	switch {
	case ac != bc:
		return ac < bc
	case acpu != bcpu:
		return acpu < bcpu
	}
	return a.slot < b.slot
}

// onUpstreamEvent records what became of an edge pull: the origin's
// backoff and figures, and at the end, the stream's release.
func (m *Master) onUpstreamEvent(p *workerProc, ev *ipc.UpstreamEvent, now time.Time) {
	switch ev.State {
	case ipc.UpstreamLive:
		m.edge.chooser.Succeeded(ev.Origin)
		delete(m.edge.notFound, ev.Stream)
	case ipc.UpstreamFailed:
		m.edge.chooser.Failed(ev.Origin, now)
		st := m.edge.stats(ev.Origin)
		st.Failures++
		st.Failovers++
		m.log.Info("origin failed", "stream", ev.Stream, "origin", ev.Origin, "worker", p.slot, "reason", clipText(ev.Err))
	case ipc.UpstreamEnded:
		if ev.Origin != "" {
			m.edge.stats(ev.Origin).Bytes += ev.Bytes
		}
		if ev.NotFound {
			m.edge.notFound[ev.Stream] = now
		}
		if m.registry.release(ev.Stream, p.gen) {
			m.broadcast(p.gen, &ipc.StreamUnpublished{Stream: ev.Stream, Owner: p.slot, Err: ev.Err, NotFound: ev.NotFound})
		}
	}
}

// reassignPull gives the edge stream that gone pulled to another worker,
// if one is ready. The others are told nothing: their relays from the
// dead worker break, and a broken relay looks its stream up again, which
// finds the new puller. Players stay attached across the gap.
func (m *Master) reassignPull(gone *workerProc, stream string) bool {
	vhost := vhostOf(stream)
	if !m.edgeStream(stream) {
		return false
	}
	owner := m.leastLoaded()
	if owner == nil || owner == gone {
		return false
	}
	cl := m.cfg.Cluster(vhost)
	order := m.edge.chooser.Order(vhost, stream, cl.Balance, cl.Origin, m.now())
	if err := owner.proc.Send(&ipc.Pull{Stream: stream, Origins: order, Protocol: cl.Protocol, UpVhost: cl.Vhost}); err != nil {
		return false
	}
	m.registry.claim(stream, owner.gen)
	m.log.Info("edge pull reassigned", "stream", stream, "worker", owner.slot, "from", gone.slot, "origin", order[0])
	return true
}

// unpublishedOnExit is what the other workers are told of a stream whose
// owner died: an edge stream's players get an error and reconnect (a new
// puller is chosen then), where an origin's wait for a republish.
func (m *Master) unpublishedOnExit(stream string, slot int) *ipc.StreamUnpublished {
	msg := &ipc.StreamUnpublished{Stream: stream, Owner: slot}
	if m.cfg.Remote(vhostOf(stream)) {
		msg.Err = "the worker that pulled the stream from the origin died"
	}
	return msg
}

// clipText bounds a text from elsewhere before it is logged.
func clipText(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}
