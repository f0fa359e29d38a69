package bench

import (
	"sync/atomic"
	"time"

	"streamedge/media/flv"
)

// StallGap is the gap between two frames that counts as a stall: a viewer
// sees the picture freeze.
const StallGap = time.Second

// warmup is cut from the start of a client's bitrate window, and so is its
// first keyframe: a new player gets the server's GOP cache in one burst,
// which would make every short run look faster than the stream.
const warmup = 500 * time.Millisecond

// maxErrorsKept bounds the error reasons a client keeps; the count goes on.
const maxErrorsKept = 5

// Client states, as the progress line counts them.
const (
	statePending int32 = iota
	stateConnecting
	statePlaying // the current session has received media
	stateDone
)

// ClientResult is what one player measured. Times are in milliseconds from
// the start of the client's first attempt; absent ones were never reached.
type ClientResult struct {
	Index     int    `json:"index"`
	URL       string `json:"url"`
	LocalAddr string `json:"local_addr,omitempty"` // of the last session: matches the server's logs

	ConnectMS    *float64 `json:"connect_ms,omitempty"`     // until the server accepted the play
	FirstMediaMS *float64 `json:"first_media_ms,omitempty"` // first audio or video frame
	FirstKeyMS   *float64 `json:"first_key_ms,omitempty"`   // first video keyframe with a picture

	Bytes     uint64 `json:"bytes"`                // media payload received
	WireBytes uint64 `json:"wire_bytes,omitempty"` // everything read from the socket (HTTP-FLV only)
	Video     uint64 `json:"video_frames"`
	Audio     uint64 `json:"audio_frames"`
	Keyframes uint64 `json:"keyframes"`

	BitrateBPS float64 `json:"bitrate_bps"`     // received, over the steady window
	Speed      float64 `json:"speed,omitempty"` // media seconds received per second; 1 is real time
	// Steady: the bitrate was measured over whole GOPs that came in real
	// time. Others (a client that joined near the end, or stalled) include
	// a burst or a tail, and only count against themselves.
	Steady   bool    `json:"bitrate_steady"`
	MaxGapMS float64 `json:"max_gap_ms"`
	// MaxGapEndMS is when the longest gap ended, from the first attempt:
	// whether it came in the client's startup, during others', or later.
	MaxGapEndMS float64 `json:"max_gap_end_ms,omitempty"`
	Stalls      int     `json:"stalls"`

	Sessions    int      `json:"sessions"`    // plays the server accepted
	Disconnects int      `json:"disconnects"` // sessions that ended before the run did
	Reconnects  int      `json:"reconnects"`  // plays accepted again after a disconnect
	Errors      []string `json:"errors,omitempty"`
	ErrorCount  int      `json:"error_count"`

	Failed     bool   `json:"failed"` // got no media, or was not playing when the run ended
	FailReason string `json:"fail_reason,omitempty"`
	Starving   bool   `json:"starving"`
}

func msSince(start, t time.Time) *float64 {
	v := float64(t.Sub(start)) / float64(time.Millisecond)
	return &v
}

// Startup is the time a viewer waits for a picture: the first keyframe, or
// the first media for a stream without video.
func (c *ClientResult) Startup() (float64, bool) {
	if c.FirstKeyMS != nil {
		return *c.FirstKeyMS, true
	}
	if c.FirstMediaMS != nil && c.Video == 0 {
		return *c.FirstMediaMS, true
	}
	return 0, false
}

// live are the counters the progress sampler reads while the client runs.
// Each client has its own, so thousands of players do not contend on one
// cache line; the sampler sums them once a second.
type live struct {
	state      atomic.Int32
	bytes      atomic.Uint64
	frames     atomic.Uint64 // audio and video messages
	stalls     atomic.Int32
	errors     atomic.Int32
	reconnects atomic.Int32
}

// recorder turns the frames of a client's sessions into its ClientResult.
// Only the client's goroutine uses it.
type recorder struct {
	res   *ClientResult
	live  *live
	start time.Time // the first attempt

	lastFrame    time.Time // across sessions, so a reconnect's gap counts too
	sessionMedia bool      // the current session has had media

	// The bitrate window: from the first keyframe after the warm-up to the
	// last one, in whole GOPs, so a short run is not skewed by where the big
	// keyframes fall; extended to the end when the client went quiet.
	warmAt       time.Time
	winStart     time.Time
	winBytes     uint64
	winTS        uint32
	lastKey      time.Time
	lastKeyBytes uint64
	lastKeyTS    uint32
	maxKeyGap    time.Duration
	lastTS       uint32
	firstMedia   time.Time
	firstTS      uint32
}

func newRecorder(res *ClientResult, lv *live) *recorder {
	return &recorder{res: res, live: lv}
}

func (r *recorder) attempt(now time.Time) {
	if r.start.IsZero() {
		r.start = now
	}
	r.sessionMedia = false
	r.live.state.Store(stateConnecting)
}

func (r *recorder) accepted(now time.Time, localAddr string) {
	r.res.Sessions++
	r.res.LocalAddr = localAddr
	if r.res.ConnectMS == nil {
		r.res.ConnectMS = msSince(r.start, now)
	}
	if r.res.Sessions > 1 {
		r.res.Reconnects++
		r.live.reconnects.Add(1)
	}
}

func (r *recorder) fail(err error) {
	r.res.ErrorCount++
	r.live.errors.Add(1)
	if len(r.res.Errors) < maxErrorsKept {
		r.res.Errors = append(r.res.Errors, reason(err))
	}
}

// frame records one media message of n payload bytes.
func (r *recorder) frame(now time.Time, typ uint8, ts uint32, body []byte) {
	res := r.res
	res.Bytes += uint64(len(body))
	r.live.bytes.Store(res.Bytes)
	if typ != flv.TagAudio && typ != flv.TagVideo {
		return
	}
	if !r.lastFrame.IsZero() {
		r.gap(now, now.Sub(r.lastFrame))
	}
	r.lastFrame = now
	r.lastTS = ts
	if !r.sessionMedia {
		r.sessionMedia = true
		r.live.state.Store(statePlaying)
	}
	if res.FirstMediaMS == nil {
		res.FirstMediaMS = msSince(r.start, now)
		r.firstMedia, r.firstTS = now, ts
		r.warmAt = now.Add(warmup)
	}
	if typ == flv.TagAudio {
		res.Audio++
	} else {
		res.Video++
		if flv.IsVideoKeyPicture(body) {
			r.keyframe(now, ts, uint64(len(body)))
		}
	}
	r.live.frames.Store(res.Audio + res.Video)
	// A stream without video never sees a keyframe: its window opens at the
	// end of the warm-up instead.
	if r.winStart.IsZero() && res.Video == 0 && !now.Before(r.warmAt) {
		r.open(now, ts, uint64(len(body)))
	}
}

func (r *recorder) keyframe(now time.Time, ts uint32, n uint64) {
	res := r.res
	res.Keyframes++
	if res.FirstKeyMS == nil {
		res.FirstKeyMS = msSince(r.start, now)
	}
	if !r.winStart.IsZero() {
		r.maxKeyGap = max(r.maxKeyGap, now.Sub(r.lastKey))
	}
	if r.winStart.IsZero() && res.Keyframes > 1 && !now.Before(r.warmAt) {
		r.open(now, ts, n)
	}
	// The window's bytes run up to, not including, this keyframe.
	r.lastKey, r.lastKeyBytes, r.lastKeyTS = now, r.res.Bytes-n, ts
}

// open starts the bitrate window at this frame, counting from its first byte.
func (r *recorder) open(now time.Time, ts uint32, n uint64) {
	r.winStart, r.winBytes, r.winTS = now, r.res.Bytes-n, ts
}

func (r *recorder) gap(end time.Time, d time.Duration) {
	if ms := float64(d) / float64(time.Millisecond); ms > r.res.MaxGapMS {
		r.res.MaxGapMS, r.res.MaxGapEndMS = ms, float64(end.Sub(r.start))/float64(time.Millisecond)
	}
	if d > StallGap {
		r.res.Stalls++
		r.live.stalls.Add(1)
	}
}

// finish closes the client's books at the end of its run.
func (r *recorder) finish(end time.Time) {
	res := r.res
	if !r.lastFrame.IsZero() {
		// A client that went quiet before the end was stalled until then.
		if tail := end.Sub(r.lastFrame); tail > StallGap {
			r.gap(end, tail)
		}
	}
	if res.FirstMediaMS == nil {
		return
	}
	wStart, wBytes, wTS := r.winStart, r.winBytes, r.winTS
	// Without a window after the warm-up, or with one that covers less than
	// half the client's playing time (it opened in a burst after a stall),
	// all of it is the fairer measure.
	if wStart.IsZero() || end.Sub(wStart) < end.Sub(r.firstMedia)/2 {
		wStart, wBytes, wTS = r.firstMedia, 0, r.firstTS
	}
	wEnd, eBytes, eTS := end, res.Bytes, r.lastTS
	// Whole GOPs when they came in real time. Not when the tail after the
	// last keyframe is longer than any GOP seen: the client starved at the
	// end, and that must count. Nor when the client was catching up or
	// falling behind: keyframes that arrive in a burst would make a window
	// of milliseconds.
	if r.lastKey.After(wStart) && end.Sub(r.lastKey) <= max(2*r.maxKeyGap, 3*time.Second) &&
		realTime(r.lastKey.Sub(wStart), r.lastKeyTS-wTS) {
		wEnd, eBytes, eTS = r.lastKey, r.lastKeyBytes, r.lastKeyTS
		res.Steady = true
	}
	if secs := wEnd.Sub(wStart).Seconds(); secs > 0 {
		res.BitrateBPS = float64(eBytes-wBytes) * 8 / secs
		res.Speed = float64(int32(eTS-wTS)) / 1000 / secs
	}
}

// realTime tells a window of at least a second whose media lasted as long
// as it took to arrive, within 10%.
func realTime(wall time.Duration, mediaMS uint32) bool {
	media := time.Duration(int32(mediaMS)) * time.Millisecond
	return wall >= time.Second && media > 0 && (wall-media).Abs() <= media/10
}
