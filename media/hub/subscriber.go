package hub

import (
	"context"
	"fmt"
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
// player's own goroutine only.
type Subscriber struct {
	s        *Stream
	next     uint64
	primed   bool
	needKey  bool // drop video until a keyframe: the player has no GOP start
	skips    int  // skips since the player last caught up
	hasAudio bool
	hasVideo bool
	closed   bool
	relay    bool
	upGen    uint64 // the stream's upstream failures when the player joined

	// Sent and Skipped count what the player got, for its closing log line.
	Sent    atomic.Uint64
	Skipped atomic.Uint64
}

// Stream returns the stream the player watches.
func (sub *Subscriber) Stream() *Stream { return sub.s }

// Tracks tells which tracks the stream had when the player joined; both
// when it was not yet known (HTTP-FLV needs it for the file header).
func (sub *Subscriber) Tracks() (audio, video bool) { return sub.hasAudio, sub.hasVideo }

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
	skipped := false
	if !sub.primed {
		batch = sub.primeLocked(batch)
	} else if sub.behindLocked() {
		skipped = true
		if sub.skips >= s.hub.opts.Load().MaxSkips {
			return batch, nil, fmt.Errorf("%w: skipped %d times without catching up", ErrSlowPlayer, sub.skips)
		}
		sub.skips++
		sub.Skipped.Add(1)
		batch = sub.skipLocked(batch)
	}
	for sub.next < s.win.head && len(batch) < maxBatch {
		m := s.win.at(sub.next)
		sub.next++
		if sub.needKey && m.Type == flv.TagVideo && !m.SeqHeader {
			if !m.Keyframe {
				continue
			}
			sub.needKey = false
		}
		batch = append(batch, m)
	}
	if sub.next == s.win.head && !skipped {
		sub.skips = 0 // caught up by itself: it was a hiccup, not a slow link
	}
	return batch, s.signal, nil
}

// primeLocked starts a new player: headers first, then the GOP cache, so its
// first video frame is a keyframe.
func (sub *Subscriber) primeLocked(batch []*Msg) []*Msg {
	s := sub.s
	sub.primed = true
	sub.next, sub.needKey = s.win.head, true
	if s.publisher == nil {
		return batch // the next publisher sends its own headers
	}
	batch = s.appendHeadersLocked(batch)
	if s.hasGOP {
		sub.next, sub.needKey = s.gopStart, false
	}
	return batch
}

func (s *Stream) appendHeadersLocked(batch []*Msg) []*Msg {
	for _, m := range [...]*Msg{s.meta, s.videoSeq, s.audioSeq} {
		if m != nil {
			batch = append(batch, m)
		}
	}
	return batch
}

// behindLocked reports a player whose next message was dropped from the
// window or lies more than queue_length behind the newest.
func (sub *Subscriber) behindLocked() bool {
	s := sub.s
	if sub.next < s.win.tail {
		return true
	}
	if sub.next >= s.win.head {
		return false
	}
	window := uint32(s.hub.opts.Load().QueueLength.Milliseconds())
	newest := s.win.at(s.win.head - 1).Timestamp
	return newest-s.win.at(sub.next).Timestamp > window
}

// skipLocked moves a lagging player to the newest keyframe, resending the
// headers in case they changed in what it skipped.
func (sub *Subscriber) skipLocked(batch []*Msg) []*Msg {
	s := sub.s
	if s.hasGOP && s.gopStart > sub.next && s.gopStart >= s.win.tail {
		sub.next, sub.needKey = s.gopStart, false
	} else {
		sub.next, sub.needKey = s.win.head, true
	}
	return s.appendHeadersLocked(batch)
}

// Run feeds the player until ctx ends, the hub closes, the player falls
// behind for good, or a write fails. It never returns nil.
func (sub *Subscriber) Run(ctx context.Context, w BatchWriter) error {
	batch := make([]*Msg, 0, maxBatch+3)
	// Merged writes (SRS's mw_latency): after a write the player sleeps a
	// little so the next writev carries several messages. Syscalls and
	// wakeups per delivered message fall by that factor; latency grows by
	// at most the pause. The first write (headers and GOP) goes at once.
	pause := time.NewTimer(time.Hour)
	pause.Stop()
	defer pause.Stop()
	for ctx.Err() == nil {
		var wait <-chan struct{}
		var err error
		batch, wait, err = sub.Fetch(batch[:0])
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return context.Cause(ctx)
			}
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
		if mw := sub.s.hub.opts.Load().MergedWrite; mw > 0 && !sub.relay {
			pause.Reset(mw)
			select {
			case <-pause.C:
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		}
	}
	return context.Cause(ctx)
}
