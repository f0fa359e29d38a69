package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"streamedge/media/flv"
)

// Reconnect backoff: quick enough to count a server restart as a blip, slow
// enough that thousands of players do not hammer a server that refuses them.
const (
	minBackoff = 500 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// deadlineEvery limits how often a player pushes its read deadline forward:
// once per frame would be a timer update per message for every client.
const deadlineEvery = time.Second

// player is one client of a play run.
type player struct {
	proto     string
	url       string
	timeout   time.Duration
	reconnect bool

	res  ClientResult
	live live
}

// run plays until ctx ends, or until the first failure unless the player
// reconnects, and leaves its result in p.res.
func (p *player) run(ctx context.Context) {
	rec := newRecorder(&p.res, &p.live)
	backoff := minBackoff
	var lastErr error
	for {
		played, err := p.session(ctx, rec)
		if ctx.Err() != nil {
			break // the run is over: however the session ended, it did not fail
		}
		lastErr = err
		rec.fail(err)
		if played {
			p.res.Disconnects++
			backoff = minBackoff
		}
		if !p.reconnect {
			p.live.state.Store(stateDone)
			break
		}
		p.live.state.Store(stateConnecting) // waiting to, as far as the progress line cares
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		backoff = min(2*backoff, maxBackoff)
	}
	rec.finish(time.Now())
	p.classify(lastErr)
	if ctx.Err() == nil {
		// A client still playing when the run ends stays counted as playing:
		// the last sample must not show everyone dropping off at the end.
		p.live.state.Store(stateDone)
	}
}

// classify marks a client that got no media, or was not playing when the
// run ended, as failed, with the reason a person needs to act on it.
func (p *player) classify(lastErr error) {
	res := &p.res
	switch {
	case p.live.state.Load() == statePlaying:
		return
	case lastErr != nil:
		res.FailReason = reason(lastErr)
	case res.Sessions == 0:
		res.FailReason = "not connected when the run ended"
	default:
		res.FailReason = "no media when the run ended"
	}
	res.Failed = true
}

// session runs one connection; played says whether it received media.
func (p *player) session(ctx context.Context, rec *recorder) (played bool, err error) {
	start := time.Now()
	rec.attempt(start)
	actx, cancel := context.WithTimeout(ctx, p.timeout)
	s, err := open(actx, p.proto, p.url)
	cancel()
	if err != nil {
		return false, err
	}
	defer func() { p.res.WireBytes += s.wireBytes() }()
	defer s.close()
	// Ending the run must wake a player blocked in a read.
	stop := context.AfterFunc(ctx, s.close)
	defer stop()

	nc := s.conn()
	rec.accepted(time.Now(), nc.LocalAddr().String())
	// The first media must come within the timeout of the first dial, like
	// a viewer's patience; after that, the longest silence allowed.
	nc.SetReadDeadline(start.Add(p.timeout))
	var moved time.Time
	for {
		typ, ts, body, err := s.next()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return played, phased("read", fmt.Errorf("no media for %v", p.timeout))
			}
			return played, phased("read", err)
		}
		now := time.Now()
		rec.frame(now, typ, ts, body)
		if typ == flv.TagAudio || typ == flv.TagVideo {
			played = true
			if now.Sub(moved) >= deadlineEvery {
				nc.SetReadDeadline(now.Add(p.timeout))
				moved = now
			}
		}
	}
}
