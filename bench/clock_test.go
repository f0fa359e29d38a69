package bench

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"

	"streamedge/media/flv"
)

// The bench's wall-clock figures (speed, stalls, starving, the wall-time
// bitrate) only mean something to the degree the stream it plays kept real
// time. On a loaded 2-core machine it often does not: the real-time
// publisher, the server and the players share the cores with other test
// binaries, fall behind and catch up. Tests therefore watch the stream with
// a clock of their own: they widen the margins of the wall-time rates by
// how late the stream came, and hold the bench to its yes-or-no verdicts
// (stalls, starving) only when the stream kept to its timestamps. The byte
// counts and the rates over media time hold under any load and are always
// checked.

// realTimeSlack is how far behind its own clock the stream may come and
// still count as real time for the verdicts that hang on a rate: 5% of a
// 2 s GOP, the window the bench measures its rates and speeds over, half
// the 10% under the source's rate that makes a player starving.
const realTimeSlack = 100 * time.Millisecond

// clockReport is what a streamClock saw.
type clockReport struct {
	Frames int
	// Late is how far behind the stream's clock frames came at most: the
	// spread of arrival time minus timestamp over the frames from the
	// second keyframe on (those before are the server's GOP cache, sent
	// at once on joining). Players measure their rates from a keyframe
	// after their first, so this covers their windows.
	Late time.Duration
	Live int   // frames that Late is over
	Err  error // what ended the watch early
	// SpanMS is the media time seen; MaxStepMS the longest step between
	// two consecutive frames' timestamps of one track, and Backwards how
	// often one went back: a seamless stream steps a frame at a time and
	// never back.
	SpanMS    int64
	MaxStepMS int64
	Backwards int
}

// rateSlack bounds how far a rate over wall time measured over a window of
// d can stray from the rate over media time: each end of the window came
// between 0 and Late late. Without a watch over the whole run there is no
// bound.
func (r clockReport) rateSlack(d time.Duration) float64 {
	if !r.watched() {
		return math.Inf(1)
	}
	return r.Late.Seconds() / d.Seconds()
}

// realTime says whether the stream kept to its clock within slack.
func (r clockReport) realTime(slack time.Duration) bool {
	return r.watched() && r.Late <= slack
}

func (r clockReport) watched() bool { return r.Live > 0 && r.Err == nil }

// streamClock is one more player of a stream, doing its own arithmetic on
// each frame's arrival and timestamp rather than the bench's.
type streamClock struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	rep    clockReport
	keys   int
	minOff time.Duration // arrival minus timestamp, over the live frames
	maxOff time.Duration
	first  int64
	last   int64           // the latest timestamp of either track, unwrapped
	track  map[uint8]int64 // the latest of each
	start  time.Time
}

// watchClock starts following url; stop it with stop. It waits for the
// first frame (with a deadline), so what it reports covers all that follows.
func watchClock(t *testing.T, proto, url string) *streamClock {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &streamClock{cancel: cancel, done: make(chan struct{}), start: time.Now()}
	t.Cleanup(func() { c.stop() })
	first := make(chan struct{})
	go c.run(ctx, proto, url, first)
	select {
	case <-first:
	case <-c.done:
		t.Fatalf("watching %s: %v", url, c.report().Err)
	case <-time.After(20 * time.Second):
		t.Fatalf("watching %s: no media in 20 s", url)
	}
	return c
}

func (c *streamClock) run(ctx context.Context, proto, url string, first chan struct{}) {
	defer close(c.done)
	octx, cancel := context.WithTimeout(ctx, 10*time.Second)
	s, err := open(octx, proto, url)
	cancel()
	if err != nil {
		c.mu.Lock()
		c.rep.Err = err
		c.mu.Unlock()
		return
	}
	defer s.close()
	stop := context.AfterFunc(ctx, s.close)
	defer stop()
	for {
		typ, ts, body, err := s.next()
		if err != nil {
			if ctx.Err() == nil {
				c.mu.Lock()
				c.rep.Err = err
				c.mu.Unlock()
			}
			return
		}
		if typ != flv.TagAudio && typ != flv.TagVideo {
			continue
		}
		now := time.Since(c.start)
		c.mu.Lock()
		if typ == flv.TagVideo && flv.IsVideoKeyPicture(body) {
			c.keys++
		}
		if c.rep.Frames == 0 {
			c.first, c.last = int64(ts), int64(ts)
			c.track = map[uint8]int64{typ: int64(ts)}
			close(first)
		} else {
			// Unwrapped past 32 bits, as a step from the latest.
			c.frame(now, typ, c.last+int64(int32(ts-uint32(c.last))))
		}
		c.rep.Frames++
		c.mu.Unlock()
	}
}

func (c *streamClock) frame(now time.Duration, typ uint8, ts int64) {
	if prev, ok := c.track[typ]; ok {
		step := ts - prev
		if step < 0 {
			c.rep.Backwards++
		}
		c.rep.MaxStepMS = max(c.rep.MaxStepMS, step)
	}
	c.track[typ] = ts
	c.last = max(c.last, ts)
	c.rep.SpanMS = max(c.rep.SpanMS, ts-c.first)
	if c.keys < 2 {
		return
	}
	off := now - time.Duration(ts)*time.Millisecond
	if c.rep.Live == 0 {
		c.minOff, c.maxOff = off, off
	}
	c.minOff, c.maxOff = min(c.minOff, off), max(c.maxOff, off)
	c.rep.Late = c.maxOff - c.minOff
	c.rep.Live++
}

// report is what the clock has seen so far.
func (c *streamClock) report() clockReport {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rep
}

// stop ends the watch and returns what it saw.
func (c *streamClock) stop() clockReport {
	c.cancel()
	<-c.done
	return c.report()
}

// waitSpan waits until the clock has seen ms of media, or d has passed.
func (c *streamClock) waitSpan(ms int64, d time.Duration) clockReport {
	deadline := time.Now().Add(d)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		rep := c.report()
		if rep.SpanMS >= ms || time.Now().After(deadline) {
			return rep
		}
		select {
		case <-tick.C:
		case <-c.done:
			return c.report()
		}
	}
}
