package hub

import (
	"errors"
	"fmt"
	"time"
)

// ErrUpstream is an edge stream whose origins did not deliver it: they
// failed, or sent no keyframe in time (HTTP-FLV answers 502).
var ErrUpstream = errors.New("the origin did not deliver the stream")

// UpstreamWait bounds how long a new player of an edge stream waits for
// its first keyframe: one origin's connect timeout (5 s, as SRS), a
// failover to the next, and a GOP.
const UpstreamWait = 12 * time.Second

// EdgeHost is a Host on an edge: some streams are pulled from an origin,
// and a player of one must not wait forever for a publisher that may never
// come, as an origin's players do.
type EdgeHost interface {
	Host
	// Upstream reports whether key comes from an origin.
	Upstream(key Key) bool
	// PullUpstream makes sure key is on its way to this hub (pulled here,
	// or relayed from the worker that pulls it); an error says it cannot
	// be. It bounds its own wait for the host's answer.
	PullUpstream(key Key) error
	// Forward pushes p, a new local publish of an edge stream, to an
	// origin, once the origin has accepted it; its error (a refusal) is
	// the publisher's. stop ends the forward; the host closes p itself
	// when the origin breaks it.
	Forward(p *Publisher) (stop func(), err error)
}

// subscribeEdge attaches a player to an edge stream once the stream has a
// keyframe, so a player either starts at once on a picture or gets a clean
// error: ErrNotPublished when the origins do not have it, ErrUpstream when
// they failed.
func (h *Hub) subscribeEdge(eh EdgeHost, key Key) (*Subscriber, error) {
	s, err := h.stream(key, true)
	if err != nil {
		return nil, err
	}
	sub, _ := s.subscribe(false, false)
	if sub == nil {
		h.release(s)
		return nil, ErrClosed
	}
	ready, gen := s.upstreamState()
	if ready {
		return sub, nil
	}
	deadline := time.NewTimer(UpstreamWait)
	defer deadline.Stop()
	err = eh.PullUpstream(key)
	if err == nil {
		err = s.awaitKeyframe(deadline.C, gen)
	}
	if err != nil {
		sub.Close()
		h.log.Debug("edge player refused", "stream", key.String(), "reason", err.Error())
		return nil, err
	}
	return sub, nil
}

// FailUpstream ends the wait of the players of an edge stream whose pull
// failed: new ones get err at once, those playing get it once they have
// had what was sent. err should wrap ErrNotPublished or ErrUpstream.
func (h *Hub) FailUpstream(key Key, err error) {
	h.mu.Lock()
	s := h.streams[key]
	h.mu.Unlock()
	if s == nil {
		return
	}
	s.mu.Lock()
	s.upErr = err
	s.upGen++
	s.wakeLocked()
	s.mu.Unlock()
}

func (s *Stream) upstreamState() (ready bool, gen uint64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.publisher != nil && s.sawKey, s.upGen
}

// awaitKeyframe waits for a publisher with a keyframe, or for a failure
// reported after gen.
func (s *Stream) awaitKeyframe(deadline <-chan time.Time, gen uint64) error {
	for {
		s.mu.RLock()
		ready, failed, closed, signal := s.publisher != nil && s.sawKey, s.upGen != gen, s.closed, s.signal
		upErr := s.upErr
		s.mu.RUnlock()
		switch {
		case ready:
			return nil
		case failed:
			return upErr
		case closed:
			return ErrClosed
		}
		select {
		case <-signal:
		case <-deadline:
			return fmt.Errorf("%w: no keyframe within %s", ErrUpstream, UpstreamWait)
		}
	}
}

// EndRelay closes the local publisher of key if it is a relay: a worker
// that takes over an edge stream's pull from one that died replaces its
// relay from that worker with its own publish.
func (h *Hub) EndRelay(key Key) {
	h.mu.Lock()
	s := h.streams[key]
	h.mu.Unlock()
	if s == nil {
		return
	}
	s.mu.RLock()
	p := s.publisher
	s.mu.RUnlock()
	if p != nil && p.relay {
		p.Close()
	}
}

// Watchers counts key's players here and the relays of other workers that
// play it from here: whoever still needs an edge stream's pull on the host.
func (h *Hub) Watchers(key Key) int {
	h.mu.Lock()
	s := h.streams[key]
	h.mu.Unlock()
	if s == nil {
		return 0
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.players
}
