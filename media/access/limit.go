package access

import "time"

// limiter lets a few log lines through per interval and counts the rest, so
// a client that is refused in a loop cannot flood the log.
type limiter struct {
	start      time.Time
	shown      int
	suppressed int
}

const (
	limitEvery = 10 * time.Second
	limitBurst = 10
)

// allow says whether to log now, and how many lines were held back since
// the last one that was shown in an earlier interval.
func (l *limiter) allow(now time.Time) (bool, int) {
	if now.Sub(l.start) >= limitEvery {
		l.start, l.shown = now, 0
	}
	if l.shown < limitBurst {
		l.shown++
		s := l.suppressed
		l.suppressed = 0
		return true, s
	}
	l.suppressed++
	return false, 0
}
