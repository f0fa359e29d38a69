package supervisor

import (
	"strings"
	"testing"
)

func TestResolveKey(t *testing.T) {
	for _, tc := range []struct {
		vhost, stream, want, err string
	}{
		{"", "live/s", "__defaultVhost__/live/s", ""},
		{"", "live/s.flv", "__defaultVhost__/live/s", ""},
		{"cdn.example", "live/sub/s-1_a~b", "cdn.example/live/sub/s-1_a~b", ""},
		{"", "s", "", "stream must be APP/STREAM"},
		{"", "/s", "", "stream must be APP/STREAM"},
		{"", "live/", "", "stream must be APP/STREAM"},
		{"", "live//s", "", "letters, digits"},
		{"", "live/../s", "", "letters, digits"},
		{"", "live/s?x=1", "", "letters, digits"},
		{"bad vhost", "live/s", "", "letters, digits"},
		{"", "live/" + strings.Repeat("x", 300), "", "at most 256 bytes"},
	} {
		got, err := resolveKey(tc.vhost, tc.stream)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("resolveKey(%q, %q) = %q, %v; want an error with %q", tc.vhost, tc.stream, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("resolveKey(%q, %q) = %q, %v; want %q", tc.vhost, tc.stream, got, err, tc.want)
		}
	}
}
