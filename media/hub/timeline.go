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
// after the last timestamp the players saw.
const (
	// maxBackStep is how far a timestamp may step back without being a
	// discontinuity: muxers interleave audio and video a little out of
	// order. Such a message is held at the last output time instead.
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
	out     uint32 // the last timestamp given out
	offset  uint32
	resets  uint64 // discontinuities corrected, for the logs
}

// media maps the timestamp of an audio or video message.
func (t *timeline) media(in uint32) uint32 {
	switch {
	case !t.started:
		t.started = true
		t.out = in + t.offset
	case t.restart:
		t.offset = t.out + resumeStep - in
		t.out += resumeStep
	default:
		// Measured against the last output, not the last input, so a run of
		// small steps back cannot pile up into a large drift.
		if d := int32(in + t.offset - t.out); d < -maxBackStep || d > maxForwardJump {
			t.offset = t.out + resumeStep - in
			t.resets++
		}
		if out := in + t.offset; after(out, t.out) {
			t.out = out
		}
	}
	t.restart = false
	return t.out
}

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
