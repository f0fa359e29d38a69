package connlog

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestAcceptBackoff(t *testing.T) {
	var buf bytes.Buffer
	clock := time.Unix(0, 0)
	b := AcceptBackoff{Log: slog.New(slog.NewTextHandler(&buf, nil)), Msg: "rtmp accept failed", now: func() time.Time { return clock }}
	emfile := errors.New(syscall.EMFILE.Error())
	var waits []time.Duration
	for range 12 { // 12 failures over about 5 s of backoff
		d := b.Failed(emfile)
		waits = append(waits, d)
		clock = clock.Add(d)
	}
	want := []time.Duration{5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000, 1000}
	for i, w := range want {
		if waits[i] != w*time.Millisecond {
			t.Fatalf("waits %v, want %v ms", waits, want)
		}
	}
	if n := strings.Count(buf.String(), "level=WARN"); n != 1 {
		t.Fatalf("%d warnings for one streak under %v, want 1:\n%s", n, LogEvery, buf.String())
	}
	clock = clock.Add(LogEvery)
	b.Failed(emfile)
	if n := strings.Count(buf.String(), "level=WARN"); n != 2 || !strings.Contains(buf.String(), "failures=13") {
		t.Fatalf("a streak past %v is told again with its count:\n%s", LogEvery, buf.String())
	}
	b.Succeeded()
	if !strings.Contains(buf.String(), "level=INFO msg=\"rtmp accept failed: accepting again\" failures=13") {
		t.Fatalf("no recovery line:\n%s", buf.String())
	}
	if d := b.Failed(emfile); d != 5*time.Millisecond {
		t.Fatalf("a new streak starts at %v, want 5ms", d)
	}
	// Streaks that alternate with successes are held to the same pace.
	for range 50 {
		b.Succeeded()
		b.Failed(emfile)
	}
	if n := strings.Count(buf.String(), "level="); n != 3 {
		t.Fatalf("%d lines, want still the 3 within %v:\n%s", n, LogEvery, buf.String())
	}
}
