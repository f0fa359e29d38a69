package worker

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"streamedge/media/hub"
	"streamedge/media/relay"
)

const (
	// relayLinger is how long a relay with no players stays open, so a
	// player that reconnects finds it still warm.
	relayLinger = 5 * time.Second
	// relayRetry is the pause before pulling again a relay that broke.
	relayRetry = 500 * time.Millisecond
)

// relays pulls streams published on other workers of the host, one relay
// per stream per worker, shared by every local player of it. Run owns the
// map of running relays and decides on retries; everything else sends it
// requests.
type relays struct {
	hub  *hub.Hub
	link *hostLink
	log  *slog.Logger

	reqs chan relayReq
	done chan struct{} // closed when Run is over
}

// relayReq is a request to the Run loop.
type relayReq struct {
	op    relayOp
	key   hub.Key
	addr  string    // relayStart: the owner's relay socket
	reply chan bool // relayHas
}

type relayOp int

const (
	relayStart  relayOp = iota // pull key from addr unless it is pulled already
	relayStop                  // the owner's publisher left: end the relay, no retry
	relayHas                   // is key pulled here?
	relayLookup                // players wait for key: find its owner and pull it
)

// relayEnd is a relay's pull that returned.
type relayEnd struct {
	key hub.Key
	run *relayRun
	err error
}

type relayRun struct {
	cancel  context.CancelFunc
	stopped bool // by relayStop: the stream ended on its owner
}

func newRelays(h *hub.Hub, link *hostLink, log *slog.Logger) *relays {
	return &relays{hub: h, link: link, log: log, reqs: make(chan relayReq, 64), done: make(chan struct{})}
}

// send hands a request to Run, or drops it once Run is over.
func (r *relays) send(req relayReq) {
	select {
	case r.reqs <- req:
	case <-r.done:
	}
}

// Run serves the requests until ctx ends, then ends every relay and
// returns once their pulls and lookups are over.
func (r *relays) Run(ctx context.Context) error {
	defer close(r.done)
	running := map[hub.Key]*relayRun{}
	ended := make(chan relayEnd)
	var wg sync.WaitGroup
	for {
		select {
		case <-ctx.Done():
			for _, run := range running {
				run.cancel()
			}
			for len(running) > 0 {
				e := <-ended
				delete(running, e.key)
			}
			wg.Wait()
			return nil
		case req := <-r.reqs:
			switch req.op {
			case relayHas:
				req.reply <- running[req.key] != nil
			case relayStop:
				if run := running[req.key]; run != nil {
					run.stopped = true
					run.cancel()
				}
			case relayStart:
				if running[req.key] == nil {
					running[req.key] = r.start(ctx, req.key, req.addr, ended)
				}
			case relayLookup:
				if running[req.key] == nil {
					wg.Go(func() { r.lookup(ctx, req.key) })
				}
			}
		case e := <-ended:
			if running[e.key] != e.run {
				continue
			}
			delete(running, e.key)
			r.ended(ctx, e)
		}
	}
}

// start runs the pull of key from the owner's relay socket at addr.
func (r *relays) start(ctx context.Context, key hub.Key, addr string, ended chan<- relayEnd) *relayRun {
	ctx, cancel := context.WithCancel(ctx)
	run := &relayRun{cancel: cancel}
	u := url.URL{Scheme: "rtmp", Host: "relay", Path: "/" + key.App + "/" + key.Name, RawQuery: "vhost=" + url.QueryEscape(key.Vhost)}
	p := &relay.Pull{Hub: r.hub, Key: key, Source: relay.RTMP{URL: u.String(), Network: "unix", Address: addr},
		OpenTimeout: hostTimeout, Linger: relayLinger, Log: r.log}
	go func() {
		err := p.Run(ctx)
		cancel()
		ended <- relayEnd{key: key, run: run, err: err}
	}()
	return run
}

// ended logs why a relay ended and pulls it again if it broke while its
// players still wait: not when the stream ended on its owner, nobody
// watched, the hub is closed, or the worker is stopping.
func (r *relays) ended(ctx context.Context, e relayEnd) {
	reason := "worker stopping"
	switch {
	case e.run.stopped:
		reason = "the owner's publisher left"
	case e.err != nil:
		reason = e.err.Error()
	}
	r.log.Info("relay end", "stream", e.key.String(), "reason", reason)
	if e.run.stopped || ctx.Err() != nil || e.err == nil || errors.Is(e.err, relay.ErrIdle) || errors.Is(e.err, hub.ErrClosed) {
		return
	}
	time.AfterFunc(relayRetry, func() { r.send(relayReq{op: relayLookup, key: e.key}) })
}

// lookup asks the master who owns key and pulls it from there, if local
// players still wait for it.
func (r *relays) lookup(ctx context.Context, key hub.Key) {
	if !r.waiting(key) {
		return
	}
	reply, err := r.link.lookup(ctx.Done(), key)
	if err != nil {
		r.log.Warn("stream lookup failed", "stream", key.String(), "err", err)
		return
	}
	if reply.Found && reply.RelayAddr != r.link.self {
		r.send(relayReq{op: relayStart, key: key, addr: reply.RelayAddr})
	}
}

// pull makes sure key is relayed here if another worker publishes it, and
// reports whether it is published anywhere on the host. It waits for the
// master's answer; the hub calls it for a player that must find the stream.
func (r *relays) pull(key hub.Key) bool {
	if r.has(key) {
		return true
	}
	reply, err := r.link.lookup(r.done, key)
	if err != nil {
		r.log.Warn("stream lookup failed", "stream", key.String(), "err", err)
		return false
	}
	if !reply.Found {
		return false
	}
	if reply.RelayAddr == r.link.self {
		return true // ours: the publisher is registering right now
	}
	r.send(relayReq{op: relayStart, key: key, addr: reply.RelayAddr})
	return true
}

func (r *relays) has(key hub.Key) bool {
	reply := make(chan bool, 1)
	select {
	case r.reqs <- relayReq{op: relayHas, key: key, reply: reply}:
	case <-r.done:
		return false
	}
	select {
	case ok := <-reply:
		return ok
	case <-r.done:
		return false
	}
}

// want pulls key once its owner is known, without waiting.
func (r *relays) want(key hub.Key) { r.send(relayReq{op: relayLookup, key: key}) }

// waiting reports local players waiting for key, which has no publisher here.
func (r *relays) waiting(key hub.Key) bool {
	for _, info := range r.hub.Streams() {
		if info.Key == key {
			return !info.Publishing && info.Players > 0
		}
	}
	return false
}

// published starts a relay for key when local players wait for it.
func (r *relays) published(key hub.Key, addr string) {
	if r.waiting(key) {
		r.send(relayReq{op: relayStart, key: key, addr: addr})
	}
}

// unpublished ends the relay of key: its publisher left the owner. Local
// players stay and wait for a republish, as they would on one process.
func (r *relays) unpublished(key hub.Key) { r.send(relayReq{op: relayStop, key: key}) }
