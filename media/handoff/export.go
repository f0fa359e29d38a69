package handoff

import (
	"context"
	"errors"
	"os"
	"sync"
)

// ErrNoPlayer: a server has no player that can move.
var ErrNoPlayer = errors.New("no player to move")

// Export is a player stopped at a message boundary: its socket (a
// duplicate descriptor) and its state. Its session waits, writing nothing,
// until the mover says Moved or Resume, exactly once.
type Export struct {
	State *State
	File  *os.File

	once    sync.Once
	outcome chan Outcome
	settled chan struct{}
}

// Outcome is what becomes of an exported player.
type Outcome uint8

const (
	// Moved: the receiver owns the socket; the session lets go silently.
	Moved Outcome = iota + 1
	// Kept: the socket stays; the session goes on writing.
	Kept
	// Dropped: the receiver may own the socket but never said so; the
	// session ends here and never writes again (the receiver, if it has
	// the socket, goes on; if it died, the client sees the close).
	Dropped
)

// NewExport is for a protocol server: st and f of a stopped player.
func NewExport(st *State, f *os.File) *Export {
	return &Export{State: st, File: f, outcome: make(chan Outcome, 1), settled: make(chan struct{})}
}

// Moved tells the session the receiver owns the socket: the session
// closes its copy and ends without a word to the client. It returns once
// the session has let go (its counters say so).
func (e *Export) Moved() { e.finish(Moved) }

// Resume tells the session the socket stays here: it goes on writing.
func (e *Export) Resume() { e.finish(Kept) }

// Drop tells the session to end without another write.
func (e *Export) Drop() { e.finish(Dropped) }

func (e *Export) finish(o Outcome) {
	e.once.Do(func() {
		e.File.Close()
		e.outcome <- o
		<-e.settled
	})
}

// Outcome is for the session: it waits for the mover's word, acts on it,
// then calls Settled.
func (e *Export) Outcome() Outcome { return <-e.outcome }

// Settled tells the mover the session has acted on the outcome.
func (e *Export) Settled() { close(e.settled) }

// Request asks one session to stop and export itself; the session answers
// once, from its own goroutine, at a message boundary.
type Request struct {
	reply chan result
}

type result struct {
	e   *Export
	err error
}

// NewRequest makes a request for one session.
func NewRequest() *Request { return &Request{reply: make(chan result, 1)} }

// Reply is the session's answer: an export, or why it cannot move.
func (r *Request) Reply(e *Export, err error) { r.reply <- result{e, err} }

// Wait is the mover's side. If ctx ends first, an export that comes later
// is resumed, so the session never waits for a mover that left.
func (r *Request) Wait(ctx context.Context) (*Export, error) {
	select {
	case res := <-r.reply:
		return res.e, res.err
	case <-ctx.Done():
		go func() {
			if res := <-r.reply; res.e != nil {
				res.e.Resume()
			}
		}()
		return nil, context.Cause(ctx)
	}
}
