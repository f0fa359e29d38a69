package httpflv

import (
	"cmp"
	"errors"
	"io"
	"os"
	"syscall"
	"time"

	"streamedge/media/handoff"
	"streamedge/media/hub"
	"streamedge/media/readpoll"
)

// A player's session, once its response head is out, is rounds of being
// fed (hub.Feed: the stream's writer loop) while it waits for its client's
// side. A player sends nothing after its request, so what ends the wait is
// the client going, the loop giving up on it (it closes the socket), a
// kick or shed (the same), or a handoff request. With the handler's poller
// the wait costs no goroutine: the poller starts a short one (ready) when
// the socket has something to say or p.wait is woken. Without one, a
// goroutine of the player's own waits in a read (watch).

// run starts the session; in is where the client's bytes come from: the
// connection, or the buffer that holds what it sent after its request,
// which only a read can drain.
func (p *player) run(in io.Reader) {
	p.feed.OnDrop = p.wait.Wake
	p.round(nil)
	if p.h.poller != nil && in == io.Reader(p.nc) && p.h.poller.Add(p.nc, &p.wait, p.ready) == nil {
		return
	}
	for p.next(p.watch(in)) {
	}
}

// round feeds the player and opens it to handoff requests. The request of
// the last round is cleared only once this one runs, so a new one never
// wakes a round that is over.
func (p *player) round(answered *handoff.Request) {
	p.feed.Start(p.sub, p, func() error { return handoff.CatchUp(p.sub, &p.ho.tail, p) })
	p.ho.running.Store(true)
	if answered != nil {
		p.ho.req.CompareAndSwap(answered, nil)
	}
}

// next ends a round that the client's side ended (woken false) or a
// handoff request woke: it halts the writes and then ends the session,
// moves it, or starts the next round, which it reports.
func (p *player) next(woken bool) bool {
	p.ho.running.Store(false)
	if err := p.feed.Halt(p.sub); err != nil || !woken {
		p.endHandoffs()
		p.end(cmp.Or(err, errClientGone))
		return false
	}
	answered := p.ho.req.Load()
	if moved, err := p.handOff(answered); moved || err != nil {
		p.end(cmp.Or(err, errMoved))
		return false
	}
	p.nc.SetReadDeadline(time.Time{})
	p.round(answered)
	return true
}

// watch waits in a read until the connection fails, and reports whether
// a handoff woke it instead.
func (p *player) watch(r io.Reader) (woken bool) {
	var b [128]byte
	for {
		_, err := r.Read(b[:])
		if err == nil {
			continue // whatever a client sends after its request is not ours to read
		}
		if woken, ok := p.wokenBy(err); ok {
			return woken
		}
	}
}

// ready is the poller's goroutine for the session: it reads what there
// is, without waiting, and goes back to the poller, unless the round is
// over.
func (p *player) ready(w *readpoll.Waiter) {
	var b [128]byte
	for {
		_, err := w.Read(b[:])
		if err == nil {
			continue
		}
		if errors.Is(err, syscall.EAGAIN) {
			if p.ho.req.Load() == nil {
				if w.Arm() {
					return
				}
				continue // woken meanwhile: look again
			}
			err = os.ErrDeadlineExceeded // a request, as the deadline says it to watch
		}
		if woken, ok := p.wokenBy(err); ok && !p.next(woken) {
			return
		}
	}
}

// wokenBy tells a read error that ends the round (ok), and whether it was
// the wake of a handoff request rather than the end of the connection.
func (p *player) wokenBy(err error) (woken, ok bool) {
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		return false, true
	}
	if p.ho.req.Load() != nil {
		return true, true
	}
	// A request's wake that came after it was answered: read on.
	p.nc.SetReadDeadline(time.Time{})
	return false, false
}

// kill ends the player from outside its session (a kick, a shed, Close):
// a closed fd leaves the poller without an event, so the session is woken.
func (p *player) kill() {
	p.nc.Close()
	p.wait.Wake()
}

// end releases what the session held and logs why it ended, once, from
// the session.
func (p *player) end(err error) {
	p.wait.Remove()
	// After a move this closes our copy of the socket only: errMoved is
	// no drop, so the close is not abortive.
	hub.ClosePlayerConn(p.nc, err)
	p.sub.Close()
	p.uncount()
	p.logEnd(err)
	p.notifyStop()
	p.h.untrack(p)
}
