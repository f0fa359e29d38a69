package handoff

import (
	"time"

	"streamedge/media/hub"
)

// Tail is a player's side of handoffs, kept by its writer: where the
// client is on each track and, after an adopt, the filter that resumes it
// and the shift from this hub's timeline to the client's. A player that
// never moved has a zero Tail, which costs a nil check and a few stores per
// message.
type Tail struct {
	Pos Position
	// Shift: client timestamp = hub timestamp + Shift. Non-zero only for a
	// player that came from a worker whose timeline of the stream differs.
	Shift uint32

	resume      *Resume
	skew        uint32
	shiftUnset  bool
	stopped     time.Time
	kept        []*hub.Msg
	held        []*hub.Msg // admitted before the shift could be fixed
	resumedOnce bool
}

// AdoptedTail is the Tail of a player adopted with st.
func AdoptedTail(st *State) Tail {
	return Tail{Pos: Position{Last: st.Last}, resume: NewResume(st.Last), skew: st.Skew, shiftUnset: true,
		stopped: time.Unix(0, st.Stopped)}
}

// Resumed is what a player logs at its first write after an adopt: the
// time without media (the sender's last write to our first), the step in
// media time from the last frame the client had to the first it got here
// (a frame's duration when nothing was missed), and the messages dropped
// because the client had them.
type Resumed struct {
	Gap     time.Duration
	Step    time.Duration
	Dropped int
}

// seek places an adopted player at the first message after its marks
// when the stream's window reaches back that far: the client then misses
// nothing, where a start at the cached GOP could begin after the marks.
func (t *Tail) seek(sub *hub.Subscriber) {
	off, known := sub.Stream().HostOffset()
	if !known {
		return // no publisher here yet: start at its first keyframe
	}
	t.Shift, t.shiftUnset = t.skew-off, false
	// The media tracks say where the client is; the data track's mark is
	// its metadata, which may be as old as the stream.
	first, any := uint32(0), false
	for _, m := range t.Pos.Last[:TrackData] {
		if m.Seen && (!any || int32(m.TS-first) < 0) {
			first, any = m.TS, true
		}
	}
	if any {
		sub.SeekAfter(first - t.Shift)
	}
}

// Admit filters a batch before it is written. resumed is set once, on the
// first batch that carries something new after an adopt.
func (t *Tail) Admit(s *hub.Stream, msgs []*hub.Msg) (out []*hub.Msg, resumed *Resumed) {
	if t.shiftUnset {
		// Fixed at the first batch with media: only then is the stream's
		// offset from the host's timeline known. What a new publisher (a
		// relay starting here) sends before its first media, its metadata
		// and sequence headers, is stamped on the timeline that media
		// fixes, so it waits for it rather than fix the shift at 0.
		off, known := s.HostOffset()
		if !known {
			t.held = append(t.held, msgs...)
			return nil, nil
		}
		t.Shift, t.shiftUnset = t.skew-off, false
		if len(t.held) > 0 {
			msgs = append(t.held, msgs...)
			t.held = nil
		}
	}
	if t.resume == nil {
		return msgs, nil
	}
	kept := t.kept[:0]
	for _, m := range msgs {
		keep := false
		if m.SeqHeader {
			keep = t.resume.KeepHeader(m.Type, m.Timestamp+t.Shift)
		} else {
			keep = t.resume.Keep(m.Type, m.Timestamp+t.Shift)
		}
		if keep {
			kept = append(kept, m)
		}
	}
	t.kept = kept
	if len(kept) > 0 && !t.resumedOnce {
		t.resumedOnce = true
		resumed = &Resumed{Gap: time.Since(t.stopped), Step: t.resume.Gap, Dropped: t.resume.Dropped}
	}
	if t.resume.Done() {
		t.resume = nil
	}
	return kept, resumed
}

// Passthrough tells whether Admit lets every message through as it is, on
// the hub's own timeline: the player may be written the bytes the hub
// laid out for every player.
func (t *Tail) Passthrough() bool { return t.resume == nil && !t.shiftUnset && t.Shift == 0 }

// Wrote records a batch the client got whole.
// Sequence headers are not marks: each worker sends its own (a new
// player's, a skip's, a relay's first) at the media's time, so how many
// share a frame's timestamp differs from one worker to the next, and
// counting them would make the receiver let a frame the client has
// through in a header's place (a frame twice after a move).
func (t *Tail) Wrote(msgs []*hub.Msg) {
	for _, m := range msgs {
		if !m.SeqHeader {
			t.Pos.Wrote(m.Type, m.Timestamp+t.Shift)
		}
	}
}

// Fill puts the player's position and timeline into st, for an export.
func (t *Tail) Fill(st *State, s *hub.Stream) {
	off, _ := s.HostOffset()
	shift := t.Shift
	if t.shiftUnset {
		shift = t.skew - off // adopted and moved on before its first write
	}
	st.Skew = shift + off
	st.Last = t.Pos.Last
	st.Stopped = time.Now().UnixNano()
}

// CatchUp writes, at once, the first messages an adopted player has not
// had: the subscriber's first batches (headers, the cached GOP) are mostly
// what the client has already, and a player's merged-write pause after an
// empty write would add to the gap for nothing. It returns once something
// was written or there is nothing more to take yet.
func CatchUp(sub *hub.Subscriber, t *Tail, w hub.BatchWriter) error {
	if t.shiftUnset {
		t.seek(sub)
	}
	var batch []*hub.Msg
	for t.resume != nil && !t.resumedOnce {
		var err error
		batch, _, err = sub.Fetch(batch[:0])
		if err != nil || len(batch) == 0 {
			return err
		}
		if err := w.WriteBatch(batch); err != nil {
			return err
		}
	}
	return nil
}
