package worker

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"streamedge/configs"
	"streamedge/ipc"
	"streamedge/media/hub"
	"streamedge/media/webrtc"
)

// hostLink is the hub's view of the host: it answers the hub's questions
// (claims, lookups) by asking the master over IPC, and has the relays pull
// what is published elsewhere. The process loop delivers the replies.
type hostLink struct {
	conn *ipc.Conn
	w    *Worker
	slot int
	// self is our relay socket: it tells our own streams from those of
	// another worker, even one that shares our slot while it drains.
	self   string
	log    *slog.Logger
	relays *relays
	edge   *edgePulls
	cfg    atomic.Pointer[configs.Config] // for which vhosts are edges; swapped on reload

	done chan struct{} // closed when the process loop is over: nobody answers calls

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]chan ipc.Message
}

var _ hub.EdgeHost = (*hostLink)(nil)

func newHostLink(conn *ipc.Conn, w *Worker, relayAddr string, log *slog.Logger) *hostLink {
	l := &hostLink{conn: conn, w: w, self: relayAddr, log: log, done: make(chan struct{}), pending: make(map[uint64]chan ipc.Message)}
	l.relays = newRelays(w.hub, l, log)
	l.edge = newEdgePulls(w.hub, l, log)
	w.edge = l.edge
	return l
}

// hostTimeout bounds a round trip to the master (a claim, a lookup) and
// setting up a relay.
const hostTimeout = 3 * time.Second

// call sends a request made with id and waits for the reply with that id,
// for up to hostTimeout, or until stop is closed or the link is over.
func (l *hostLink) call(stop <-chan struct{}, build func(id uint64) ipc.Message) (ipc.Message, error) {
	l.mu.Lock()
	l.nextID++
	id := l.nextID
	ch := make(chan ipc.Message, 1)
	l.pending[id] = ch
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(l.pending, id)
		l.mu.Unlock()
	}()
	if err := l.conn.Send(build(id)); err != nil {
		return nil, err
	}
	t := time.NewTimer(hostTimeout)
	defer t.Stop()
	select {
	case m := <-ch:
		return m, nil
	case <-t.C:
		return nil, errors.New("no answer from the master in time")
	case <-stop:
		return nil, errors.New("worker stopping")
	case <-l.done:
		return nil, errors.New("master connection closed")
	}
}

func (l *hostLink) deliver(id uint64, m ipc.Message) {
	l.mu.Lock()
	ch := l.pending[id]
	l.mu.Unlock()
	if ch != nil {
		ch <- m
	}
}

// Claim asks the master for the host-wide right to publish key.
func (l *hostLink) Claim(key hub.Key) error {
	m, err := l.call(nil, func(id uint64) ipc.Message { return &ipc.Claim{ID: id, Stream: key.String()} })
	if err != nil {
		return err
	}
	reply := m.(*ipc.ClaimReply)
	if !reply.OK {
		if reply.Owner < 0 { // another host of the cluster
			return fmt.Errorf("%w: %s", hub.ErrStreamBusy, reply.Err)
		}
		return fmt.Errorf("%w on worker %d", hub.ErrStreamBusy, reply.Owner)
	}
	return nil
}

// Release tells the master our publisher of key left.
func (l *hostLink) Release(key hub.Key) {
	if err := l.conn.Send(&ipc.Release{Stream: key.String()}); err != nil {
		l.log.Warn("release not sent", "stream", key.String(), "err", err)
	}
}

// Pull relays key from its owner, if another worker owns it.
func (l *hostLink) Pull(key hub.Key) bool { return l.relays.pull(key) }

// Want pulls key once another worker is known to publish it.
func (l *hostLink) Want(key hub.Key) { l.relays.want(key) }

// Published asks the master whether a worker of the host has key, which
// starts no relay and no pull from an origin.
func (l *hostLink) Published(key hub.Key) bool {
	m, err := l.call(l.relays.done, func(id uint64) ipc.Message { return &ipc.Lookup{ID: id, Stream: key.String(), Peek: true} })
	if err != nil {
		l.log.Warn("stream lookup failed", "stream", key.String(), "err", err)
		return false
	}
	return m.(*ipc.LookupReply).Found
}

// Upstream reports whether key's vhost is an edge's (cluster mode remote).
func (l *hostLink) Upstream(key hub.Key) bool {
	cfg := l.cfg.Load()
	// A WebRTC rendition is made on this host from the pulled stream, never
	// pulled from (or forwarded to) the origin itself.
	return cfg != nil && cfg.Remote(key.Vhost) && !webrtc.IsRTCKey(key)
}

// PullUpstream asks the master for key: it makes one worker of the host the
// puller (maybe us: its Pull message then comes before the answer) and
// tells us which; any other worker's stream we relay.
func (l *hostLink) PullUpstream(key hub.Key) error {
	reply, err := l.lookup(l.relays.done, key)
	switch {
	case err != nil:
		return fmt.Errorf("%w: %w", hub.ErrUpstream, err)
	case reply.Err != "":
		return fmt.Errorf("%w: %s", hub.ErrNotPublished, reply.Err)
	case !reply.Found:
		return fmt.Errorf("%w: no worker can pull it", hub.ErrUpstream)
	case reply.Puller || reply.RelayAddr == l.self:
		// Ours: the master's Pull came before this answer.
	default:
		l.relays.send(relayReq{op: relayStart, key: key, addr: reply.RelayAddr})
	}
	return nil
}

func (l *hostLink) lookup(stop <-chan struct{}, key hub.Key) (*ipc.LookupReply, error) {
	m, err := l.call(stop, func(id uint64) ipc.Message { return &ipc.Lookup{ID: id, Stream: key.String()} })
	if err != nil {
		return nil, err
	}
	return m.(*ipc.LookupReply), nil
}

// place asks the master where a WebRTC request goes: slot -1 for a new
// session, or the slot that owns one.
func (l *hostLink) place(stop <-chan struct{}, slot int) (*ipc.PlaceReply, error) {
	m, err := l.call(stop, func(id uint64) ipc.Message { return &ipc.Place{ID: id, Slot: slot} })
	if err != nil {
		return nil, err
	}
	return m.(*ipc.PlaceReply), nil
}

// redirect asks the master which other host of the cluster takes a player
// of stream that this full host refuses.
func (l *hostLink) redirect(stop <-chan struct{}, stream string) (*ipc.RedirectReply, error) {
	m, err := l.call(stop, func(id uint64) ipc.Message { return &ipc.Redirect{ID: id, Stream: stream} })
	if err != nil {
		return nil, err
	}
	return m.(*ipc.RedirectReply), nil
}

// upstreamFailure is the players' error for an edge stream whose pull
// failed on another worker.
func upstreamFailure(m *ipc.StreamUnpublished) error {
	if m.NotFound {
		return fmt.Errorf("%w: %s", hub.ErrNotPublished, m.Err)
	}
	return fmt.Errorf("%w: %s", hub.ErrUpstream, m.Err)
}
