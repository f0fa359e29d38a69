package upstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultTimeout bounds the connect and play of an origin, then the wait
// for its first media, then any silence of it (SRS's edge uses 5 s).
const DefaultTimeout = 5 * time.Second

// Sink is where the pulled media goes: a hub publisher.
type Sink interface {
	Write(typeID uint8, timestamp uint32, payload []byte) error
	Close()
}

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

// Puller pulls one stream from the first origin of Origins that serves it,
// and fails over to the next when that one fails to connect, times out or
// closes: each origin is tried once in turn, and the pull ends when all of
// them have failed in a row without serving media.
type Puller struct {
	Target  Target
	Origins []string
	Dial    Dialer
	// Publish opens the sink for one origin session, at its first media.
	// Each session publishes anew so that the hub rebases timestamps.
	Publish func() (Sink, error)
	Timeout time.Duration // 0: DefaultTimeout
	// OnEvent, when set, is told every change of state, from Run's goroutine.
	OnEvent func(Event)
	Log     *slog.Logger

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
		if p.Log != nil {
			p.Log.Warn("origin failed", "origin", origin, "reason", err.Error(), "served", served)
		}
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
	dialCtx, cancel := context.WithTimeout(ctx, p.timeout())
	src, err := p.Dial(dialCtx, origin, p.Target)
	cancel()
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("connect timed out after %s: %w", p.timeout(), err)
		}
		return false, err
	}
	// A watchdog rather than read deadlines: it covers the first media and
	// every later silence alike, for any kind of Source.
	var silent atomic.Bool
	watchdog := time.AfterFunc(p.timeout(), func() { silent.Store(true); src.Close() })
	defer watchdog.Stop()
	stop := context.AfterFunc(ctx, func() { src.Close() })
	defer stop()
	defer src.Close()
	var sink Sink
	defer func() {
		if sink != nil {
			sink.Close()
		}
	}()
	for {
		m, err := src.ReadMedia()
		if err != nil {
			if silent.Load() {
				err = errSilent
			}
			if err == nil {
				err = errors.New("origin closed the stream")
			}
			return served, err
		}
		watchdog.Reset(p.timeout())
		if sink == nil {
			if sink, err = p.Publish(); err != nil {
				return served, fmt.Errorf("publish locally: %w", err)
			}
			served = true
			p.event(Event{Origin: origin, State: StateLive})
		}
		p.bytes.Add(uint64(len(m.Payload)))
		if err := sink.Write(m.Type, m.Timestamp, m.Payload); err != nil {
			return served, fmt.Errorf("publish locally: %w", err)
		}
	}
}
