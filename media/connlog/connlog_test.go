package connlog

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestClip(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"short", "live/stream", "live/stream"},
		{"at the limit", strings.Repeat("a", MaxText), strings.Repeat("a", MaxText)},
		{"8 MB", strings.Repeat("a", 8<<20), strings.Repeat("a", MaxText) + "...(8388352 more bytes)"},
		{"cut inside a rune", strings.Repeat("a", MaxText-1) + "é", strings.Repeat("a", MaxText-1) + "...(2 more bytes)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Clip(tt.in)
			if got != tt.want {
				t.Fatalf("Clip gave %d bytes %q..., want %q...", len(got), got[:min(len(got), 40)], tt.want[:min(len(tt.want), 40)])
			}
			if !utf8.ValidString(got) {
				t.Fatalf("Clip cut a rune: %q", got)
			}
		})
	}
}

func TestJunkIsOneLinePerInterval(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	var j Junk
	j.Flush(log, "junk")
	if buf.Len() != 0 {
		t.Fatalf("an empty interval logged %q", buf.String())
	}
	for i := range 1000 {
		j.Add(Reason(i%int(numReasons)), "127.0.0.1:1", errors.New(strings.Repeat("x", 1<<20)))
	}
	j.Flush(log, "junk")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d lines for one interval, want 1", len(lines))
	}
	if len(lines[0]) > 4*maxExamples*MaxText {
		t.Fatalf("the summary is %d bytes: client text not clipped", len(lines[0]))
	}
	for _, want := range []string{`"no_handshake":334`, `"bad_handshake":333`, `"idle_timeout":333`, `"total":1000`, "more bytes"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("summary lacks %s: %s", want, lines[0][:min(len(lines[0]), 300)])
		}
	}
	if got := j.Totals(); got["no_handshake"] != 334 || got["idle_timeout"] != 333 {
		t.Fatalf("totals %v", got)
	}
	buf.Reset()
	j.Flush(log, "junk")
	if buf.Len() != 0 {
		t.Fatalf("the next, empty, interval logged %q", buf.String())
	}
	if got := j.Totals(); got["no_handshake"] != 334 {
		t.Fatalf("totals must outlive a flush: %v", got)
	}
}
