package handoff

import "time"

// FLV tag types, which are also the RTMP message type ids of media.
const (
	tagAudio  = 8
	tagVideo  = 9
	tagScript = 18
)

func track(typ uint8) int {
	switch typ {
	case tagAudio:
		return TrackAudio
	case tagVideo:
		return TrackVideo
	}
	return TrackData
}

// Position follows the last message a player wrote on each track, on the
// client's timeline. Each track's timestamps only go forward, while audio
// and video interleave loosely, so the mark is kept per track.
type Position struct {
	Last [numTracks]Mark
}

// Wrote records one message written to the client.
func (p *Position) Wrote(typ uint8, ts uint32) {
	m := &p.Last[track(typ)]
	if m.Seen && m.TS == ts {
		m.Same++
		return
	}
	*m = Mark{TS: ts, Same: 1, Seen: true}
}

// Resume is the receiving side's filter: per track, it drops what the
// client already has (timestamps before the mark, and as many messages at
// the mark's timestamp as the sender wrote), then lets everything through.
// A receiver that starts later than the mark (its cache did not reach back
// that far) lets the first message after it through: a gap, never a step
// back and never a message twice.
type Resume struct {
	last   [numTracks]Mark
	seen   [numTracks]uint32
	passed [numTracks]bool
	// Dropped counts what was filtered out; Gap is the media time skipped
	// on the video track (or audio without video) at the first message
	// let through, for the log.
	Dropped int
	Gap     time.Duration
	gapSet  bool
}

// NewResume filters after the marks of a State.
func NewResume(last [numTracks]Mark) *Resume {
	r := &Resume{last: last}
	for i, m := range last {
		r.passed[i] = !m.Seen
	}
	return r
}

// Keep reports whether a message of type typ at ts (client timeline) is new
// to the client.
func (r *Resume) Keep(typ uint8, ts uint32) bool {
	i := track(typ)
	if r.passed[i] {
		return true
	}
	m := r.last[i]
	d := int32(ts - m.TS)
	switch {
	case d < 0:
		r.Dropped++
		return false
	case d == 0 && r.seen[i] < m.Same:
		r.seen[i]++
		r.Dropped++
		return false
	}
	r.passed[i] = true
	if !r.gapSet && (i == TrackVideo || (i == TrackAudio && !r.last[TrackVideo].Seen)) {
		r.gapSet = true
		r.Gap = time.Duration(d) * time.Millisecond
	}
	return true
}

// KeepHeader reports whether a sequence header of type typ at ts is new
// to the client: after its track's mark. Headers are not counted at the
// mark (see Tail.Wrote) and change nothing of the filter.
func (r *Resume) KeepHeader(typ uint8, ts uint32) bool {
	i := track(typ)
	return r.passed[i] || int32(ts-r.last[i].TS) > 0
}

// Done reports whether every track the client had has passed its mark.
func (r *Resume) Done() bool {
	for _, p := range r.passed {
		if !p {
			return false
		}
	}
	return true
}
