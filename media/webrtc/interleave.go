package webrtc

import (
	"sync"
	"time"

	"streamedge/media/flv"
)

// interleave hands a stream's audio and video to the hub in timestamp
// order. A WHIP publisher's AAC comes out of the transcoder 20-60 ms after
// the video it goes with, from another goroutine; written as it comes, an
// AAC frame would be behind video the players already have, and the hub,
// which keeps the stream's timeline monotonic for players, would hold it at
// the video's time: AAC frames stamped closer than their length, which
// players overlap. So each track waits here until the other has caught up,
// and an audio frame that still comes too late is dropped: a gap in the
// audio, never an overlap.
type interleave struct {
	mu    sync.Mutex
	q     [2][]queued // audio, video
	seen  [2]bool     // the track has had a message
	last  uint32      // the newest media timestamp written
	wrote bool        // last is set
	write func(typeID uint8, ts uint32, body []byte) error
	now   func() time.Time // the clock; nil is time.Now

	lateAudio uint64 // audio frames dropped for coming after newer media
}

type queued struct {
	typeID uint8
	ts     uint32
	body   []byte
	at     time.Time // when it came
}

const (
	// maxHoldMS is how long, in media time and in wall time both, one
	// track waits for a silent other track: a publisher that stops sending
	// one track stalls the other by no more than this. Both, because a
	// publisher faster than real time (a burst, a test's 4x source) has
	// 300 ms of media in 75 ms, too short for a busy machine's transcoder.
	maxHoldMS = 300
	// maxStartMS is the same before the other track's first message: the
	// transcoder's first AAC comes well after the first video.
	maxStartMS = 1000
	// maxHeld bounds what waits, whatever the timestamps say (a clock that
	// jumped back compares as never caught up).
	maxHeld = 128
)

func trackOf(typeID uint8) int {
	if typeID == flv.TagVideo {
		return 1
	}
	return 0
}

// put queues one message and writes every message that is now in order.
func (il *interleave) put(typeID uint8, ts uint32, body []byte) error {
	il.mu.Lock()
	defer il.mu.Unlock()
	tr := trackOf(typeID)
	now := time.Now
	if il.now != nil {
		now = il.now
	}
	il.q[tr] = append(il.q[tr], queued{typeID, ts, body, now()})
	il.seen[tr] = true
	for {
		next := il.next(now())
		if next < 0 {
			return nil
		}
		m := il.q[next][0]
		il.q[next][0] = queued{}
		il.q[next] = il.q[next][1:]
		if len(il.q[next]) == 0 {
			il.q[next] = nil // let the backing array go
		}
		header := m.typeID == flv.TagAudio && flv.IsAudioSequenceHeader(m.body) ||
			m.typeID == flv.TagVideo && flv.IsVideoSequenceHeader(m.body)
		if !header {
			if m.typeID == flv.TagAudio && il.wrote && int32(m.ts-il.last) < 0 {
				il.lateAudio++
				continue
			}
			if !il.wrote || int32(m.ts-il.last) > 0 {
				il.last, il.wrote = m.ts, true
			}
		}
		if err := il.write(m.typeID, m.ts, m.body); err != nil {
			return err
		}
	}
}

// next is the track whose head goes out now, or -1 to wait.
func (il *interleave) next(now time.Time) int {
	a, v := il.q[0], il.q[1]
	switch {
	case len(a) > 0 && len(v) > 0:
		if int32(v[0].ts-a[0].ts) >= 0 {
			return 0
		}
		return 1
	case len(a) > 0 && overdue(a, il.seen[1], now):
		return 0
	case len(v) > 0 && overdue(v, il.seen[0], now):
		return 1
	}
	return -1
}

// overdue says a track has waited long enough for the other: its queue
// holds more media than the hold, and its oldest has waited that long.
func overdue(q []queued, otherSeen bool, now time.Time) bool {
	hold := int32(maxStartMS)
	if otherSeen {
		hold = maxHoldMS
	}
	waited := now.Sub(q[0].at) > time.Duration(hold)*time.Millisecond
	return len(q) > maxHeld || int32(q[len(q)-1].ts-q[0].ts) > hold && waited
}

// dropped is how many audio frames came too late to be written.
func (il *interleave) dropped() uint64 {
	il.mu.Lock()
	defer il.mu.Unlock()
	return il.lateAudio
}
