package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"streamedge/media/hub"
	"streamedge/media/relay"
)

// DefaultTimeout bounds the connect and play of an origin, then the wait
// for its first media, then any silence of it (SRS's edge uses 5 s).
const DefaultTimeout = 5 * time.Second

// States of a pull, as the API shows them.
const (
	StateConnecting = "connecting"
	StateLive       = "live"
	StateFailed     = "failed"
)

// Event is a change of the pull's state; Err is set for StateFailed.
type Event struct {
	Origin string
	State  string
	Err    error
}

// Puller pulls one stream into Hub from the first origin of Origins that
// serves it, and fails over to the next when that one fails to connect,
// times out or closes: each origin is tried once in turn, and the pull
// ends when all of them have failed in a row without serving media. Each
// origin session is a relay.Pull of its own, so each publishes anew into
// the hub, which rebases the timestamps.
type Puller struct {
	Hub     *hub.Hub
	Key     hub.Key
	Target  Target
	Origins []string
	Dial    Dialer
	Timeout time.Duration // 0: DefaultTimeout
	// OnEvent, when set, is told every change of state, from Run's goroutine.
	OnEvent func(Event)
	Log     *slog.Logger // nil: no log

	bytes     atomic.Uint64
	failovers atomic.Int64
	mu        sync.Mutex
	origin    string
}

// Stats are a pull's running totals.
type Stats struct {
	Origin    string // the origin in use or last tried
	Bytes     uint64 // media payload received, every origin
	Failovers int64  // moves from one origin to the next
}

// Stats returns the pull's totals so far; safe from any goroutine.
func (p *Puller) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Stats{Origin: p.origin, Bytes: p.bytes.Load(), Failovers: p.failovers.Load()}
}

// Run pulls until ctx ends (nil) or every origin has failed in a row: then
// the error wraps ErrNotFound if every one of them said it has no such
// stream, else it is the last origin's error.
func (p *Puller) Run(ctx context.Context) error {
	if len(p.Origins) == 0 {
		return errors.New("no origins configured")
	}
	if p.Log == nil {
		p.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	failed, notFound := 0, 0
	var last error
	for i := 0; ; i++ {
		origin := p.Origins[i%len(p.Origins)]
		if i > 0 {
			p.failovers.Add(1)
		}
		served, err := p.session(ctx, origin)
		if ctx.Err() != nil {
			return nil
		}
		if served {
			failed, notFound = 0, 0
		}
		failed++
		if errors.Is(err, ErrNotFound) {
			notFound++
		}
		last = err
		p.event(Event{Origin: origin, State: StateFailed, Err: err})
		p.Log.Warn("origin failed", "origin", origin, "reason", err.Error(), "served", served)
		if failed >= len(p.Origins) {
			if notFound == failed {
				return fmt.Errorf("%w on any of %d origins", ErrNotFound, len(p.Origins))
			}
			return fmt.Errorf("every origin failed, the last: %w", last)
		}
	}
}

func (p *Puller) event(e Event) {
	if p.OnEvent != nil {
		p.OnEvent(e)
	}
}

func (p *Puller) timeout() time.Duration {
	if p.Timeout > 0 {
		return p.Timeout
	}
	return DefaultTimeout
}

// errSilent ends an origin session that sent nothing for the timeout.
var errSilent = errors.New("no media from the origin in time")

// session plays the stream from one origin until it fails; served says
// whether media flowed.
func (p *Puller) session(ctx context.Context, origin string) (served bool, err error) {
	p.mu.Lock()
	p.origin = origin
	p.mu.Unlock()
	p.event(Event{Origin: origin, State: StateConnecting})
	src := &originSource{p: p, origin: origin}
	pull := &relay.Pull{Hub: p.Hub, Key: p.Key, Source: src, OpenTimeout: p.timeout(), Log: p.Log}
	err = pull.Run(ctx)
	served = src.served.Load()
	switch {
	case ctx.Err() != nil:
		return served, nil
	case src.silent.Load():
		err = errSilent
	case errors.Is(err, context.DeadlineExceeded):
		err = fmt.Errorf("connect timed out after %s: %w", p.timeout(), err)
	case err == nil:
		err = relay.ErrSourceEnded
	}
	return served, err
}

// originSource is one origin as a relay.Source: Dial, watched.
type originSource struct {
	p      *Puller
	origin string
	served atomic.Bool // media came
	silent atomic.Bool // the watchdog closed it
}

func (s *originSource) String() string { return s.origin }

func (s *originSource) Open(ctx context.Context) (relay.Reader, error) {
	r, err := s.p.Dial(ctx, s.origin, s.p.Target)
	if err != nil {
		return nil, err
	}
	w := &watched{r: r, src: s}
	// A watchdog rather than read deadlines: it covers the first media and
	// every later silence alike, for any kind of source.
	w.dog = time.AfterFunc(s.p.timeout(), func() { s.silent.Store(true); r.Close() })
	return w, nil
}

// watched is an origin's reader that counts, reports its first media and
// is closed by the watchdog when it goes silent.
type watched struct {
	r   relay.Reader
	src *originSource
	dog *time.Timer
}

func (w *watched) ReadMedia() (relay.Message, error) {
	m, err := w.r.ReadMedia()
	if err != nil {
		return m, err
	}
	w.dog.Reset(w.src.p.timeout())
	if !w.src.served.Swap(true) {
		w.src.p.event(Event{Origin: w.src.origin, State: StateLive})
	}
	w.src.p.bytes.Add(uint64(len(m.Payload)))
	return m, nil
}

func (w *watched) Close() error {
	w.dog.Stop()
	return w.r.Close()
}
