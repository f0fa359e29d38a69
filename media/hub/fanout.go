package hub

import (
	"context"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// A FanoutWriter is a player connection that its stream's writer loop
// feeds. The loop does the writing; the player lays out its bytes and
// hears what the client got.
type FanoutWriter interface {
	BatchWriter // for writes outside the loop: a handed-over player's catch-up
	// Frame appends msgs to dst in the player's wire format. It may keep
	// fewer (a handed-over player drops what its client had): kept is
	// what Wrote is told once the bytes are out. dst is the writer's
	// scratch (the loop's, shared by every player), not the player's.
	Frame(dst [][]byte, msgs []*Msg) (vecs [][]byte, kept []*Msg)
	// Wrote tells that the client got kept whole.
	Wrote(kept []*Msg)
	// Outlet is the player's socket.
	Outlet() *Outlet
	// Shared tells whether the player frames messages exactly as the hub
	// encoded them (its own headers sent, no timeline of its own, nothing
	// to filter), and in which Wire: then, when it is caught up, the loop
	// writes it the pass's shared bytes and tells Wrote itself.
	Shared() (Wire, bool)
}

// WriteNow frames msgs for w into *scratch and writes them whole,
// blocking for up to timeout: a FanoutWriter's WriteBatch, for writes
// outside the loop.
func WriteNow(w FanoutWriter, scratch *[][]byte, msgs []*Msg, timeout time.Duration) error {
	vecs, kept := w.Frame((*scratch)[:0], msgs)
	*scratch = vecs
	err := w.Outlet().Write(vecs, timeout)
	clear(vecs) // they point into the window's messages: let them go
	if err == nil {
		w.Wrote(kept)
	}
	return err
}

// maxBatchesPerPass bounds the batches a player behind by more than one
// batch writes in one pass, so catching up never holds the others' turn
// for long; the rest waits for the next pass.
const maxBatchesPerPass = 16

// fanout is a stream's writer loop: one goroutine that, every merge
// period (mw_latency), walks the stream's players in join order and gives
// each what it lacks in one non-blocking writev. The players have no
// goroutine, timer or channel on the write path: a player whose socket is
// full is parked (its rest goes out from a goroutine of its own that waits
// for the socket, the only wait on the path) and skipped until that
// returns. A new or resumed player is written at once, not at the next
// tick, so it starts on the GOP without delay. The loop runs while the
// stream has players in it.
//
// Relays to other workers stay on their own goroutine (Subscriber.Run's
// other path): they write every message at once, so they have no tick to
// share.
type fanout struct {
	s *Stream

	mu      sync.Mutex
	subs    []*Subscriber // in the loop, in join order but for removals
	fresh   []*Subscriber // to be written at once: joined, resumed, or behind after a park
	running bool
	wake    chan struct{}
	// lastPass is how long the last pass over every player took (ns), for
	// Hub.WriterLoad; 0 while the loop is not running.
	lastPass atomic.Int64

	// The loop's own: the players of this pass, those not written since
	// they joined or resumed (written again at the stream's next change,
	// not the next tick), and scratch shared by every player's write.
	pass, waiting []*Subscriber
	batch         []*Msg
	vecs          [][]byte // a player's framing, when it has no shared bytes
	iov           []syscall.Iovec
	segs          []*segment // this pass's shared bytes, one per Wire
}

// join puts sub into the loop, starting it if it is not running; the loop
// calls dropped if it gives up on sub.
func (f *fanout) join(sub *Subscriber, w FanoutWriter, dropped func(error)) {
	sub.fw, sub.dropped, sub.seenPauses, sub.started = w, dropped, 0, false
	sub.gone.Store(false)
	f.mu.Lock()
	sub.idx = len(f.subs)
	f.subs = append(f.subs, sub)
	f.fresh = append(f.fresh, sub)
	if !f.running {
		f.running = true
		go f.run()
	}
	f.mu.Unlock()
	f.poke()
}

// leave takes sub out of the loop. It returns once no write to sub is in
// progress, so the player's position (its Tail) is exact when it does: a
// write the socket took only part of is finished first, as a blocking
// write would have been.
func (f *fanout) leave(sub *Subscriber) {
	sub.gone.Store(true)
	f.mu.Lock()
	f.removeLocked(sub)
	f.mu.Unlock()
	sub.busy.Lock()
	sub.busy.Unlock() //nolint:staticcheck // waiting for the loop or a park to let go is the point
}

func (f *fanout) removeLocked(sub *Subscriber) {
	i := sub.idx
	if i < 0 {
		return
	}
	last := len(f.subs) - 1
	f.subs[i] = f.subs[last]
	f.subs[i].idx = i
	f.subs[last] = nil
	f.subs = f.subs[:last]
	sub.idx = -1
}

// drop ends sub in the loop for err. The caller holds sub.busy, which drop
// lets go only once sub cannot be written again and its player has been
// told, so a leave that returns has seen the drop's effects (the player
// closes its socket in it: after a leave, the socket may be another
// worker's).
func (f *fanout) drop(sub *Subscriber, err error) {
	sub.gone.Store(true)
	f.mu.Lock()
	f.removeLocked(sub)
	f.mu.Unlock()
	sub.dropped(err)
	sub.busy.Unlock()
}

// queue asks for sub to be written at once, not at the next tick.
func (f *fanout) queue(sub *Subscriber) {
	f.mu.Lock()
	if sub.idx >= 0 {
		f.fresh = append(f.fresh, sub)
	}
	f.mu.Unlock()
	f.poke()
}

func (f *fanout) poke() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *fanout) run() {
	mw := f.s.hub.opts.Load().MergedWrite
	tick := time.NewTicker(tickPeriod(mw))
	defer tick.Stop()
	changed := f.s.changed()
	for {
		var tickC <-chan time.Time
		if mw > 0 {
			tickC = tick.C
		}
		var signal <-chan struct{}
		if mw == 0 || len(f.waiting) > 0 {
			signal = changed
		}
		all, waiting := false, false
		select {
		case <-tickC:
			all = true
		case <-signal:
			all, waiting = mw == 0, true
		case <-f.wake:
		}
		// Taken before the pass, so a message pushed during it wakes the next.
		changed = f.s.changed()
		if !f.take(all, waiting) {
			return
		}
		if all || waiting {
			for _, sub := range f.waiting {
				sub.listed = false
			}
			clear(f.waiting)
			f.waiting = f.waiting[:0]
		}
		clear(f.segs)
		f.segs = f.segs[:0]
		start := time.Now()
		for _, sub := range f.pass {
			f.serve(sub)
		}
		if all {
			f.lastPass.Store(int64(time.Since(start)))
		}
		clear(f.pass)
		if now := f.s.hub.opts.Load().MergedWrite; now != mw {
			mw = now
			tick.Reset(tickPeriod(mw))
		}
	}
}

// tickPeriod is the ticker's period for a merge period of mw; with none,
// the loop writes on every change of the stream and the ticker is unused.
func tickPeriod(mw time.Duration) time.Duration {
	if mw <= 0 {
		return time.Hour
	}
	return mw
}

// take fills the pass: every player at a tick, else those queued (and,
// after a change of the stream, those waiting for one). It reports false,
// and the loop ends, when the stream has no player in it.
func (f *fanout) take(all, waiting bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.subs) == 0 {
		f.running = false
		f.lastPass.Store(0)
		clear(f.fresh)
		f.fresh = f.fresh[:0]
		return false
	}
	if all {
		f.pass = append(f.pass[:0], f.subs...)
	} else {
		f.pass = append(f.pass[:0], f.fresh...)
		if waiting {
			f.pass = append(f.pass, f.waiting...)
		}
	}
	clear(f.fresh)
	f.fresh = f.fresh[:0]
	return true
}

// serve writes sub what it lacks, unless it is parked, paused or gone.
func (f *fanout) serve(sub *Subscriber) {
	if !sub.busy.TryLock() {
		return // parked: its own wait writes the rest
	}
	if sub.gone.Load() {
		sub.busy.Unlock()
		return
	}
	if n := sub.pauses.Load(); n != sub.seenPauses {
		if sub.paused.Load() {
			sub.busy.Unlock()
			return
		}
		// Resumed: start again as a new player does.
		sub.seenPauses, sub.primed, sub.skips, sub.started = n, false, 0, false
	}
	for range maxBatchesPerPass {
		if sub.pauses.Load() != sub.seenPauses {
			break // paused meanwhile: not one more batch
		}
		batch, _, err := sub.Fetch(f.batch[:0])
		f.batch = batch
		if err != nil {
			f.drop(sub, err)
			return
		}
		if len(batch) == 0 {
			break
		}
		vecs, kept := f.shared(sub, batch)
		framed := vecs == nil // a caught-up player's one iovec needs no clearing
		if framed {
			vecs, kept = sub.fw.Frame(f.vecs[:0], batch)
			f.vecs = vecs
		}
		sent := payloadBytes(batch)
		done, err := sub.fw.Outlet().try(vecs, &f.iov)
		if !done && err == nil {
			f.park(sub, kept, sent)
		}
		if framed {
			clear(f.vecs) // let the window's old messages be collected
		}
		if err != nil || !done {
			clear(batch)
			if err != nil {
				f.drop(sub, err)
			}
			return
		}
		sub.wrote(kept, sent)
		sub.started = true
		clear(batch) // let the window's old messages be collected
		if sub.drained {
			break
		}
	}
	if !sub.started && !sub.listed {
		// Nothing for it yet (no publisher, tracks unknown, an adopted
		// player that has had everything): its first write goes out at the
		// stream's next change, as a new player's would, not a tick later.
		sub.listed = true
		f.waiting = append(f.waiting, sub)
	}
	sub.busy.Unlock()
}

// shared returns the pass's shared bytes for batch as sub's one iovec,
// when sub is caught up and frames as the hub does; nil otherwise.
func (f *fanout) shared(sub *Subscriber, batch []*Msg) ([][]byte, []*Msg) {
	if !sub.plain || !sub.drained {
		return nil, nil
	}
	wire, ok := sub.fw.Shared()
	if !ok {
		return nil, nil
	}
	b := f.segmentFor(wire, sub.fetchFrom).bytes(sub.fetchFrom, batch)
	if b == nil {
		return nil, nil
	}
	sub.one[0] = b
	return sub.one[:], batch
}

// park hands what the socket did not take to a wait of sub's own, which
// holds sub.busy until it is out (or send_timeout passes: the player is
// dropped). A player still behind is queued to be written again at once.
func (f *fanout) park(sub *Subscriber, kept []*Msg, sent uint64) {
	parked := append([]*Msg(nil), kept...)
	sub.fw.Outlet().own() // what is left may be in the loop's scratch
	go func() {
		err := sub.fw.Outlet().flush(f.s.hub.opts.Load().SendTimeout)
		if err != nil {
			f.drop(sub, err)
			return
		}
		sub.wrote(parked, sent)
		sub.started = true
		behind := !sub.drained
		sub.busy.Unlock()
		if behind {
			f.queue(sub)
		}
	}()
}

// wrote records a batch the client got whole.
func (sub *Subscriber) wrote(kept []*Msg, sent uint64) {
	sub.fw.Wrote(kept)
	sub.Sent.Add(sent)
	if sub.drained && sub.s.hub.opts.Load().MergedWrite > 0 {
		// What comes until the next tick is the loop's pause, not the link's fault.
		sub.lagKnown = false
	}
}

func payloadBytes(batch []*Msg) uint64 {
	var n uint64
	for _, m := range batch {
		n += uint64(len(m.Payload))
	}
	return n
}

// Join puts the player in its stream's writer loop when the loop can write
// w (a socket with a file descriptor; relays write every message at once,
// so they keep Run), and reports whether it did. A joined player needs no
// goroutine of its own: if the loop gives up on it (too slow, a write
// failed, the stream ended or the hub closed), it calls dropped, once,
// from the loop; dropped must not block, and it has returned by the time
// Leave does. Leave takes the player out, between two writes.
func (sub *Subscriber) Join(w FanoutWriter, dropped func(error)) bool {
	if sub.relay || w.Outlet().rc == nil {
		return false
	}
	sub.s.fan.join(sub, w, dropped)
	return true
}

// Leave takes a joined player out of the writer loop. It returns once no
// write to it is under way (a write the socket took only part of is
// finished first, or fails), so the player's position is exact.
func (sub *Subscriber) Leave() { sub.s.fan.leave(sub) }

// runFanout is Run for a player in its stream's writer loop, for callers
// that wait in a goroutine of their own.
func (sub *Subscriber) runFanout(ctx context.Context, w FanoutWriter) error {
	errc := make(chan error, 1)
	sub.s.fan.join(sub, w, func(err error) { errc <- err })
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sub.Leave()
		return context.Cause(ctx)
	}
}

// WriterLoad is how much of the merge period the busiest stream writer
// loop took for its last pass over all its players: 1 or more means that
// loop no longer writes every player once per tick, so they fall behind.
// It is what tells a worker at capacity from one that is merely busy,
// since a loop is one goroutine: it runs on one core however many the
// host has. 0 without a merge period (writes follow the publisher).
func (h *Hub) WriterLoad() float64 {
	mw := h.opts.Load().MergedWrite
	if mw <= 0 {
		return 0
	}
	var worst int64
	for _, s := range h.list(nil) {
		worst = max(worst, s.fan.lastPass.Load())
	}
	return float64(worst) / float64(mw)
}
