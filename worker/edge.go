package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"streamedge/configs"
	"streamedge/ipc"
	"streamedge/media/connlog"
	"streamedge/media/hub"
	"streamedge/media/rtmp/amf"
	"streamedge/media/upstream"
)

// edgeLinger is how long an edge pull with no players (here or relayed to
// other workers) stays up, so a player that comes back finds it warm.
const edgeLinger = 5 * time.Second

// edgePulls are this worker's pulls of edge streams from their origins:
// the master makes one worker of the host the puller of each stream, and
// the other workers relay from it.
type edgePulls struct {
	hub      *hub.Hub
	link     *hostLink
	log      *slog.Logger
	identity []amf.Property

	starts   chan *ipc.Pull
	forwards chan forwardReq
	done     chan struct{} // closed when Run is over

	mu      sync.Mutex // running is read by load reports
	running map[hub.Key]*edgePull
}

type edgePull struct {
	puller *upstream.Puller
	since  time.Time // of the current state
	state  string
}

func newEdgePulls(h *hub.Hub, link *hostLink, log *slog.Logger) *edgePulls {
	host, _ := os.Hostname()
	return &edgePulls{hub: h, link: link, log: log, identity: upstream.Identity(host, os.Getpid()),
		starts: make(chan *ipc.Pull, 64), forwards: make(chan forwardReq), done: make(chan struct{}), running: map[hub.Key]*edgePull{}}
}

// start hands the pull the master gave us to Run.
func (e *edgePulls) start(m *ipc.Pull) {
	select {
	case e.starts <- m:
	case <-e.done:
	}
}

// Run starts the pulls it is handed until ctx ends, then ends them and
// returns once they are over.
func (e *edgePulls) Run(ctx context.Context) error {
	defer close(e.done)
	var wg sync.WaitGroup
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case req := <-e.forwards:
			wg.Go(func() { e.forward(ctx, req) })
		case m := <-e.starts:
			if key, p := e.begin(m); p != nil {
				wg.Go(func() { e.run(ctx, key, p) })
			}
		}
	}
}

// begin sets up the pull of m unless it is running already.
func (e *edgePulls) begin(m *ipc.Pull) (hub.Key, *edgePull) {
	key, ok := hub.ParseKey(m.Stream)
	if !ok {
		e.log.Warn("pull of a bad stream name", "stream", connlog.Clip(m.Stream))
		return key, nil
	}
	target := upstream.Target{Vhost: key.Vhost, App: key.App, Name: key.Name}
	if m.UpVhost != "" {
		target.Vhost = m.UpVhost
	}
	dial := upstream.RTMP(e.identity)
	if m.Protocol == configs.ProtocolFLV {
		dial = upstream.FLV()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.running[key]; ok {
		return key, nil
	}
	p := &edgePull{since: time.Now(), state: upstream.StateConnecting}
	p.puller = &upstream.Puller{
		Hub:     e.hub,
		Key:     key,
		Target:  target,
		Origins: m.Origins,
		Dial:    dial,
		OnEvent: func(ev upstream.Event) { e.onEvent(key, p, ev) },
		Log:     e.log.With("stream", key.String()),
	}
	e.running[key] = p
	return key, p
}

func (e *edgePulls) run(ctx context.Context, key hub.Key, p *edgePull) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go e.watchIdle(ctx, key, cancel)
	// A relay of key here fed from the worker that pulled it before (it
	// died, and we take over) must make way for our own publish.
	e.hub.EndRelay(key)
	e.log.Info("edge pull start", "stream", key.String(), "origins", len(p.puller.Origins))
	err := p.puller.Run(ctx)
	e.mu.Lock()
	delete(e.running, key)
	e.mu.Unlock()
	ev := &ipc.UpstreamEvent{Stream: key.String(), State: ipc.UpstreamEnded, Bytes: p.puller.Stats().Bytes, Origin: p.puller.Stats().Origin}
	reason := context.Cause(ctx)
	if err != nil {
		reason = err
		ev.Err, ev.NotFound = err.Error(), errors.Is(err, upstream.ErrNotFound)
		e.hub.FailUpstream(key, playerError(err))
	}
	e.log.Info("edge pull end", "stream", key.String(), "reason", reason.Error(), "bytes", ev.Bytes, "failovers", p.puller.Stats().Failovers)
	if err := e.link.conn.Send(ev); err != nil {
		e.log.Warn("upstream event not sent", "stream", key.String(), "err", err)
	}
}

// playerError is what the players of a stream whose pull failed are told.
func playerError(err error) error {
	if errors.Is(err, upstream.ErrNotFound) {
		return fmt.Errorf("%w: %w", hub.ErrNotPublished, err)
	}
	return fmt.Errorf("%w: %w", hub.ErrUpstream, err)
}

// errNoPlayers ends a pull nobody has watched for the linger time.
var errNoPlayers = errors.New("no players for the linger time")

// watchIdle ends the pull once the stream has had no players, here or on
// other workers through relays, for edgeLinger.
func (e *edgePulls) watchIdle(ctx context.Context, key hub.Key, stop context.CancelCauseFunc) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	idleSince := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if e.hub.Watchers(key) > 0 {
				idleSince = now
			} else if now.Sub(idleSince) >= edgeLinger {
				stop(errNoPlayers)
				return
			}
		}
	}
}

func (e *edgePulls) onEvent(key hub.Key, p *edgePull, ev upstream.Event) {
	e.mu.Lock()
	p.state, p.since = ev.State, time.Now()
	e.mu.Unlock()
	if ev.State == upstream.StateConnecting {
		return // the master learns of origins that answered, one way or the other
	}
	msg := &ipc.UpstreamEvent{Stream: key.String(), Origin: ev.Origin, State: ipc.UpstreamLive}
	if ev.State == upstream.StateFailed {
		msg.State = ipc.UpstreamFailed
		msg.Err, msg.NotFound = ev.Err.Error(), errors.Is(ev.Err, upstream.ErrNotFound)
	}
	if err := e.link.conn.Send(msg); err != nil {
		e.log.Warn("upstream event not sent", "stream", key.String(), "err", err)
	}
}

// upstream describes the pull of stream, if this worker runs it.
func (e *edgePulls) upstream(stream string) *ipc.Upstream {
	key, ok := hub.ParseKey(stream)
	if !ok {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	p := e.running[key]
	if p == nil {
		return nil
	}
	st := p.puller.Stats()
	return &ipc.Upstream{Origin: st.Origin, State: p.state, Since: p.since, Bytes: st.Bytes, Failovers: st.Failovers}
}
