package connlog

import (
	"log/slog"
	"time"
)

// AcceptBackoff paces a server's accept loop after failed accepts (out of
// file descriptors and the like, which retrying at once only repeats) and
// logs them without flooding: at most one warn per LogEvery, with the
// error and the failures of the streak so far (so the first failure is
// always told), and the recovery at info. One accept loop owns it.
type AcceptBackoff struct {
	Log *slog.Logger
	Msg string // "rtmp accept failed", ...

	now      func() time.Time // nil: time.Now (tests set it)
	delay    time.Duration
	failures int  // in the current streak
	told     bool // the streak was warned about
	lastLog  time.Time
}

// LogEvery is how often a streak of failed accepts is told again.
const LogEvery = 10 * time.Second

// Failed records a failed accept and returns how long to wait before the
// next: doubling from 5 ms up to 1 s, as net/http does.
func (b *AcceptBackoff) Failed(err error) time.Duration {
	b.delay = min(max(2*b.delay, 5*time.Millisecond), time.Second)
	b.failures++
	now := time.Now
	if b.now != nil {
		now = b.now
	}
	if t := now(); b.lastLog.IsZero() || t.Sub(b.lastLog) >= LogEvery {
		b.Log.Warn(b.Msg, "err", err, "retry_in", b.delay, "failures", b.failures)
		b.lastLog, b.told = t, true
	}
	return b.delay
}

// Succeeded ends a streak of failures; the end of one that was warned
// about is told too.
func (b *AcceptBackoff) Succeeded() {
	if b.told {
		b.Log.Info(b.Msg+": accepting again", "failures", b.failures)
	}
	b.delay, b.failures, b.told = 0, 0, false
}
