// Package connlog is what a protocol server says about its connections
// without letting a client flood the log: client-supplied text cut to a
// bounded length with a marker, and connections that ended before they
// were any use (no handshake, a bad one, an idle timeout) counted and
// summarised in one line per interval instead of one line each.
package connlog

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// MaxText is how much of a client's text a log line or a reply carries.
// Stream names and URLs of real clients fit; an 8 MB play name does not.
const MaxText = 256

// Clip returns s cut to MaxText bytes (on a rune boundary) with a marker
// that says how much was left out.
func Clip(s string) string {
	if len(s) <= MaxText {
		return s
	}
	cut := MaxText
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s...(%d more bytes)", s[:cut], len(s)-cut)
}

// Reason is why a connection is junk.
type Reason int

// The reasons, in the order summaries list them.
const (
	NoHandshake  Reason = iota // closed or silent before it sent a handshake (or, for HTTP, a request)
	BadHandshake               // sent something that is not this protocol's handshake
	IdleTimeout                // shook hands, then neither published nor played in time
	numReasons
)

var reasonNames = [numReasons]string{"no_handshake", "bad_handshake", "idle_timeout"}

func (r Reason) String() string { return reasonNames[r] }

// maxExamples is how many connections of an interval its summary details.
const maxExamples = 3

// Junk counts connections that ended before they were any use. Add is safe
// from any goroutine; Flush is for one summarising goroutine.
type Junk struct {
	total [numReasons]atomic.Uint64

	mu       sync.Mutex
	window   [numReasons]int
	examples []string
}

// Add counts one junk connection; client and err are kept, clipped, as an
// example when the interval has fewer than maxExamples.
func (j *Junk) Add(r Reason, client string, err error) {
	j.total[r].Add(1)
	j.mu.Lock()
	defer j.mu.Unlock()
	j.window[r]++
	if len(j.examples) < maxExamples {
		j.examples = append(j.examples, Clip(client)+" "+r.String()+": "+Clip(err.Error()))
	}
}

// Totals are the counts since the start, by reason name.
func (j *Junk) Totals() map[string]uint64 {
	m := make(map[string]uint64, numReasons)
	for r := range numReasons {
		m[r.String()] = j.total[r].Load()
	}
	return m
}

// Flush logs the interval's counts and examples as one line, if there were
// any, and starts a new interval.
func (j *Junk) Flush(log *slog.Logger, msg string) {
	j.mu.Lock()
	window, examples := j.window, j.examples
	j.window, j.examples = [numReasons]int{}, nil
	j.mu.Unlock()
	sum := 0
	attrs := make([]any, 0, 2*numReasons+4)
	for r, n := range window {
		sum += n
		attrs = append(attrs, Reason(r).String(), n)
	}
	if sum == 0 {
		return
	}
	log.Info(msg, append(attrs, "total", sum, "examples", examples)...)
}

// Interval is how often Summarise logs.
const Interval = 5 * time.Second

// Summarise flushes each of js under its message every interval until ctx
// ends, and once more then, so nothing counted goes unsaid.
func Summarise(ctx context.Context, log *slog.Logger, interval time.Duration, js map[string]*Junk) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			for msg, j := range js {
				j.Flush(log, msg)
			}
			return
		case <-t.C:
			for msg, j := range js {
				j.Flush(log, msg)
			}
		}
	}
}
