package hub

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"streamedge/media/flv"
)

// maxBatch bounds the messages one write takes, so a player that was away
// for long sends its backlog in several writev calls of sane size.
const maxBatch = 256

// BatchWriter is a player connection: it frames messages for its protocol
// and writes them in as few syscalls as it can.
type BatchWriter interface {
	WriteBatch(msgs []*Msg) error
}

// Subscriber is one player's position in a stream. Its methods are for the
// goroutine that owns the player (its session's) only, but for Pause.
type Subscriber struct {
	s          *Stream
	next       uint64
	primed     bool
	needKey    bool // drop video until a keyframe: the player has no GOP start
	skips      int  // skips since the player last caught up
	audio      bool
	video      bool
	waitTracks bool
	closed     bool
	relay      bool
	metaAtZero bool   // the first start stamps the metadata 0 (MetadataAtZero)
	upGen      uint64 // the stream's upstream failures when the player joined

	// The backlog (media time from the player's next message to the newest)
	// at the last fetch, and whether it may be compared with the next one:
	// only when a write came between them, and no pause the server chose
	// (merged writes, a client's pause).
	lastLag     uint32
	lagKnown    bool
	skippedAt   uint32    // the stream's time at the last skip
	skippedWall time.Time // and the clock's
	drained     bool      // the last fetch took everything there was

	paused atomic.Bool
	pauses atomic.Uint64 // counts Pause(true), so Run sees a pause it slept through
	ctl    chan struct{} // Pause wakes Run

	// In the stream's writer loop (see fanout): the writer, whom to tell
	// when the loop drops the player, and busy, held while a write to it is under way
	// (by the loop, or by the player's park until its socket took the rest).
	fw         FanoutWriter
	dropped    func(error)
	busy       sync.Mutex
	gone       atomic.Bool // left or dropped: the loop must not write it again
	idx        int         // in fanout.subs, under fanout.mu; -1 when not in it
	seenPauses uint64      // the pauses the loop has seen
	listed     bool        // in fanout.waiting (the loop's own)
	started    bool        // written since it joined or resumed (the loop's own)
	// What the last Fetch took: from which sequence number, and whether
	// plainly (the window's messages in order, no headers added, none
	// dropped), so the loop may write them from a shared segment.
	fetchFrom uint64
	plain     bool
	one       [1][]byte // the iovec of a shared write

	// Sent and Skipped count what the player got, for its closing log line.
	Sent    atomic.Uint64
	Skipped atomic.Uint64
}

// Stream returns the stream the player watches.
func (sub *Subscriber) Stream() *Stream { return sub.s }

// WaitForTracks holds the player's first messages until the stream's tracks
// are known, so Tracks is the truth when they come (HTTP-FLV writes its
// file header from it). Call it before the first Fetch.
func (sub *Subscriber) WaitForTracks() { sub.waitTracks = true }

// MetadataAtZero makes the player's first start send the stream's
// metadata stamped 0 rather than at the media's time. ffmpeg's FLV demuxer
// (flvdec, over HTTP-FLV and RTMP alike) takes an onMetaData tag as the
// stream's metadata only at dts 0; at any other time it makes a data
// stream of it, which ffprobe lists as a third stream and `ffmpeg -map 0`
// waits on while it interleaves, seconds behind live. SRS and nginx-rtmp
// stamp it 0 too. Only the metadata: it does not advance time, and the
// sequence headers and media keep the hub's timeline. Only the first
// start: a player resumed after a pause, skipped or handed over from
// another worker is mid-file for its client, and a relay passes the true
// timeline on. Call it before the first Fetch.
func (sub *Subscriber) MetadataAtZero() { sub.metaAtZero = true }

// Tracks tells which tracks the stream had when the player started, as
// known from its metadata or media; both when it was not known yet.
func (sub *Subscriber) Tracks() (audio, video bool) { return sub.audio, sub.video }

// Pause stops (true) or resumes (false) the player's media, as RTMP's
// pause command asks. A resumed player starts again like a new one, on the
// newest keyframe with the headers first: a live stream has no way back to
// where it paused. Pause may be called from any goroutine.
func (sub *Subscriber) Pause(on bool) {
	if on {
		sub.pauses.Add(1)
	}
	sub.paused.Store(on)
	select {
	case sub.ctl <- struct{}{}:
	default:
	}
	if !on {
		sub.s.fan.queue(sub) // in the loop: resume at once, not at the next tick
	}
}

// Close detaches the player.
func (sub *Subscriber) Close() {
	if !sub.closed {
		sub.closed = true
		sub.s.unsubscribe(sub.relay)
	}
}

// Fetch appends to batch the messages the player has not had yet. When there
// are none it returns a channel that is closed when there may be more.
func (sub *Subscriber) Fetch(batch []*Msg) ([]*Msg, <-chan struct{}, error) {
	s := sub.s
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return batch, nil, ErrClosed
	}
	if s.ended && sub.next >= s.win.head {
		return batch, nil, ErrStreamEnded
	}
	if s.upGen != sub.upGen && sub.next >= s.win.head {
		return batch, nil, s.upErr
	}
	caughtUp := false
	n0 := len(batch)
	if !sub.primed {
		if sub.waitTracks && !sub.tracksReadyLocked() {
			return batch, s.signal, nil
		}
		batch = sub.primeLocked(batch)
	} else if behind, backlog := sub.behindLocked(); !behind {
		caughtUp = sub.skips > 0 && sub.caughtUpLocked(backlog)
	} else {
		if sub.skips >= s.hub.opts.Load().MaxSkips {
			return batch, nil, fmt.Errorf("%w: skipped %d times without catching up", ErrSlowPlayer, sub.skips)
		}
		sub.skips++
		sub.Skipped.Add(1)
		batch = sub.skipLocked(batch)
	}
	sub.fetchFrom, sub.plain = sub.next, len(batch) == n0
	for sub.next < s.win.head && len(batch) < maxBatch {
		m := s.win.at(sub.next)
		sub.next++
		if sub.metaAtZero {
			m = sub.firstLocked(m)
		}
		if sub.needKey && m.Type == flv.TagVideo && !m.SeqHeader {
			if !m.Keyframe {
				sub.plain = false
				continue
			}
			sub.needKey = false
		}
		batch = append(batch, m)
	}
	sub.drained = sub.next == s.win.head
	if caughtUp {
		sub.skips = 0 // caught up by itself: it was a hiccup, not a slow link
	}
	return batch, s.signal, nil
}

// tracksReadyLocked tells a player waiting for the tracks that it may start.
func (sub *Subscriber) tracksReadyLocked() bool {
	_, _, known := sub.s.tracksLocked()
	return known && sub.s.publisher != nil
}

// primeLocked starts a new player: headers first, then the GOP cache, so its
// first video frame is a keyframe.
func (sub *Subscriber) primeLocked(batch []*Msg) []*Msg {
	n0 := len(batch)
	batch = sub.startLocked(batch)
	// The metadata comes first of the headers (appendHeadersLocked). A
	// player that joined before the publisher (or a relay here) sent any
	// gets it from the window instead: Fetch stamps that one.
	if sub.metaAtZero && len(batch) > n0 && batch[n0].Type == flv.TagScript {
		sub.metaAtZero = false
		batch[n0] = sub.s.atZeroLocked(batch[n0])
	}
	return batch
}

// firstLocked is m as a player that asked for MetadataAtZero gets it
// before its first frame: metadata stamped 0. Once it has had a frame, it
// is mid-file and takes everything on the hub's timeline.
func (sub *Subscriber) firstLocked(m *Msg) *Msg {
	switch {
	case m.Type == flv.TagScript && isMetadata(m.Payload):
		sub.metaAtZero, sub.plain = false, false
		return sub.s.atZeroLocked(m)
	case (m.Type == flv.TagVideo || m.Type == flv.TagAudio) && !m.SeqHeader:
		sub.metaAtZero = false
	}
	return m
}

// startLocked places a player that starts or resumes and appends what it
// needs first.
func (sub *Subscriber) startLocked(batch []*Msg) []*Msg {
	s := sub.s
	sub.primed, sub.lagKnown = true, false
	sub.audio, sub.video, _ = s.tracksLocked()
	sub.next, sub.needKey = s.win.head, true
	if s.publisher == nil {
		return batch // the next publisher sends its own headers
	}
	if s.hasGOP && s.gopStart >= s.win.tail {
		sub.next, sub.needKey = s.gopStart, false
		sub.baselineLocked()
		return append(batch, s.gopHeaders...)
	}
	return s.appendHeadersLocked(batch, s.tl.out)
}

// baselineLocked records the backlog from a new start (a join, a skip),
// which the next fetch compares with: a link that cannot carry even that
// much is slow at once.
func (sub *Subscriber) baselineLocked() {
	s := sub.s
	sub.lagKnown = sub.next < s.win.head
	if sub.lagKnown {
		sub.lastLag = lag(s.win.at(sub.next).Timestamp, s.win.at(s.win.head-1).Timestamp)
	}
}

// behindLocked reports a player that must be skipped: the media it needs
// next has left the window, or it is more than queue_length behind and its
// own connection is why: its backlog grew across its last write. How fast
// media arrives is no reason, so a burst (a publisher faster than real time,
// a relay catching up) costs a healthy player nothing; and a relay, whose
// players are on its own side, is never skipped while its socket drains.
func (sub *Subscriber) behindLocked() (behind bool, backlog uint32) {
	s := sub.s
	if sub.next < s.win.tail {
		return true, 0
	}
	if sub.next >= s.win.head {
		// Nothing to write, so the next backlog says nothing of the link.
		sub.lagKnown = false
		return false, 0
	}
	backlog = lag(s.win.at(sub.next).Timestamp, s.win.at(s.win.head-1).Timestamp)
	grew := sub.lagKnown && backlog > sub.lastLag
	sub.lastLag, sub.lagKnown = backlog, true
	window := uint32(s.hub.opts.Load().QueueLength.Milliseconds())
	return !sub.relay && grew && backlog > window, backlog
}

// caughtUpSlack is how much more than one merged-write pause of media a
// player may find waiting and still count as caught up: scheduling on a
// busy worker delays a healthy player by that much.
const caughtUpSlack = time.Second

// caughtUpLocked tells a skipped player that has caught up by itself, so
// its skips are forgiven: its backlog is no more than its own pause gathers
// (plus the slack), and for at least queue_length since its last skip it
// has played media at real time or faster. The second half matters: a slow
// link's socket buffers drain in steps, so now and then it takes a few
// writes at once and looks caught up for a moment, but over any span of
// seconds it plays a fraction of real time.
func (sub *Subscriber) caughtUpLocked(backlog uint32) bool {
	s := sub.s
	opts := s.hub.opts.Load()
	if backlog > uint32((opts.MergedWrite+caughtUpSlack).Milliseconds()) || sub.next >= s.win.head {
		return false
	}
	elapsed := time.Since(sub.skippedWall)
	played := time.Duration(lag(sub.skippedAt, s.win.at(sub.next).Timestamp)) * time.Millisecond
	return elapsed >= opts.QueueLength && played >= elapsed*9/10
}

// skipLocked moves a lagging player to the newest keyframe, resending the
// headers in case they changed in what it skipped.
func (sub *Subscriber) skipLocked(batch []*Msg) []*Msg {
	s := sub.s
	sub.lagKnown, sub.skippedAt, sub.skippedWall = false, s.tl.out, time.Now()
	if s.hasGOP && s.gopStart > sub.next && s.gopStart >= s.win.tail {
		sub.next, sub.needKey = s.gopStart, false
		sub.baselineLocked()
		return append(batch, s.gopHeaders...)
	}
	sub.next, sub.needKey = s.win.head, true
	return s.appendHeadersLocked(batch, s.tl.out)
}

// Run feeds the player until ctx ends, the hub closes, the player falls
// behind for good, or a write fails. It never returns nil. A FanoutWriter
// with a socket the loop can write is fed by the stream's writer loop;
// Run then only waits for its end. Relays, and writers without one, are
// fed from Run's own goroutine.
func (sub *Subscriber) Run(ctx context.Context, w BatchWriter) error {
	if fw, ok := w.(FanoutWriter); ok && !sub.relay && fw.Outlet().rc != nil { // see Join
		return sub.runFanout(ctx, fw)
	}
	batch := make([]*Msg, 0, maxBatch+3)
	// Merged writes (SRS's mw_latency): after a write that emptied its
	// backlog the player sleeps a little so the next writev carries several
	// messages. Syscalls and wakeups per delivered message fall by that
	// factor; latency grows by at most the pause. The first write (headers
	// and GOP) and a backlog go at once.
	pause := time.NewTimer(time.Hour)
	pause.Stop()
	defer pause.Stop()
	var pauses uint64
	for ctx.Err() == nil {
		if n := sub.pauses.Load(); n != pauses {
			pauses = n
			if err := sub.waitResume(ctx); err != nil {
				return err
			}
			continue
		}
		var wait <-chan struct{}
		var err error
		batch, wait, err = sub.Fetch(batch[:0])
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			select {
			case <-wait:
			case <-sub.ctl:
			case <-ctx.Done():
				return context.Cause(ctx)
			}
			continue
		}
		if err := w.WriteBatch(batch); err != nil {
			return err
		}
		var n uint64
		for _, m := range batch {
			n += uint64(len(m.Payload))
		}
		sub.Sent.Add(n)
		clear(batch) // let the window's old messages be collected
		// A relay feeds players that pause on their own side: pausing it
		// too would only add a hop of latency.
		if mw := sub.s.hub.opts.Load().MergedWrite; mw > 0 && !sub.relay && sub.drained {
			pause.Reset(mw)
			select {
			case <-pause.C:
			case <-sub.ctl:
				pause.Stop()
			case <-ctx.Done():
				return context.Cause(ctx)
			}
			sub.lagKnown = false // what came during our own pause is not the link's fault
		}
	}
	return context.Cause(ctx)
}

// waitResume holds a paused player until it is resumed (at once when it
// already was), then makes it start again as a new player does.
func (sub *Subscriber) waitResume(ctx context.Context) error {
	for sub.paused.Load() {
		select {
		case <-sub.ctl:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	sub.primed, sub.skips = false, 0
	return nil
}
