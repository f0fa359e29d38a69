package hub

// The timeline corrects what publishers send into what players can play:
// SRS's time_jitter ("full") in spirit, with one difference that keeps audio
// and video in sync. A publisher's timestamps go back when it loops a file,
// switches files on one connection, restarts its encoder or is replaced by
// another publisher; they jump when a clock is broken. Players (flv.js,
// ffmpeg, Flash) stall or drop media when time goes back, and the hub's own
// window and skip checks need an order. So every stream keeps one offset:
// output = input + offset, the same for audio and video while the input runs
// smoothly, and re-chosen at a discontinuity so the output continues just
// after the last timestamp the players saw. Each track stays monotonic on
// its own; across tracks a message may be a little behind the other
// track's last, as publishers interleave them: an encoder's audio runs
// behind its video by its frame and lookahead (a transcoder's AAC by
// 20-60 ms). Holding such audio at the video's time would stamp audio
// frames closer than their length, and players would overlap them.
const (
	// maxBackStep is how far a message may be behind the newest output of
	// the stream without being a discontinuity: how far muxers interleave
	// audio and video out of order.
	maxBackStep = 250
	// maxForwardJump is the largest step forward taken as real time (a low
	// frame rate, a publisher's stall); a larger one is a broken clock.
	maxForwardJump = 5000
	// resumeStep is the step after a discontinuity (SRS's default frame time).
	resumeStep = 10
)

// timeline maps one stream's incoming timestamps to its monotonic output.
// Arithmetic is modulo 2^32 throughout, so a publisher whose clock wraps
// (RTMP timestamps are 32-bit milliseconds, 49.7 days) is not a discontinuity.
type timeline struct {
	started bool   // a media timestamp has been mapped
	restart bool   // a new publisher: its first timestamp is a discontinuity
	out     uint32 // the newest timestamp given out, of any track
	offset  uint32
	resets  uint64    // discontinuities corrected, for the logs
	last    [2]uint32 // the last output of each track (audio, video)
	seen    [2]bool   // the track has had a message
}

// media maps the timestamp of an audio (video false) or video message.
func (t *timeline) media(video bool, in uint32) uint32 {
	switch {
	case !t.started:
		t.started = true
		t.out = in + t.offset
	case t.restart:
		t.rebase(in)
	default:
		// Measured against the newest output, not the last input, so a run
		// of small steps back cannot pile up into a large drift.
		if d := int32(in + t.offset - t.out); d < -maxBackStep || d > maxForwardJump {
			t.rebase(in)
			t.resets++
		}
	}
	t.restart = false
	tr := 0
	if video {
		tr = 1
	}
	out := in + t.offset
	// A step back within the track is held, never reordered. (Only a step
	// back: the last of a track silent for 25 days is not "after" in 2^32.)
	if back := int32(t.last[tr] - out); t.seen[tr] && back > 0 && back <= maxBackStep {
		out = t.last[tr]
	}
	t.last[tr], t.seen[tr] = out, true
	if after(out, t.out) {
		t.out = out
	}
	return out
}

// rebase makes in continue just after the newest output. A track whose
// input was behind the other's by more than that is held until it is past
// its own last output, so it never goes back.
func (t *timeline) rebase(in uint32) { t.offset = t.out + resumeStep - in }

// data maps the timestamp of a message that does not advance time: script
// data and sequence headers, which publishers often stamp 0 in mid-stream.
// They take the last output time (or their own before the first media).
func (t *timeline) data(in uint32) uint32 {
	if !t.started {
		return in + t.offset
	}
	return t.out
}

// publisherChanged makes the next publisher's first timestamp continue
// after the last output, whatever its clock says.
func (t *timeline) publisherChanged() {
	if t.started {
		t.restart = true
	}
}

// after reports whether a is later than b on the output timeline, and lag
// is how far a is behind b; both are right across the 2^32 wrap.
func after(a, b uint32) bool { return int32(a-b) > 0 }

func lag(older, newer uint32) uint32 {
	if after(older, newer) {
		return 0
	}
	return newer - older
}
