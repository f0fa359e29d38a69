package rtmp

import (
	"fmt"
	"strings"
	"testing"

	"streamedge/media/hub"
)

func TestParseConnect(t *testing.T) {
	tests := []struct {
		app, tcURL string
		want       connectTarget
		wantErr    bool
	}{
		{"live", "rtmp://127.0.0.1:1935/live", connectTarget{hub.DefaultVhost, "live"}, false},
		{"", "rtmp://127.0.0.1:1935/live", connectTarget{hub.DefaultVhost, "live"}, false},
		{"", "rtmp://example.com/live", connectTarget{hub.DefaultVhost, "live"}, false},
		{"", "http://example.com/live/", connectTarget{hub.DefaultVhost, "live"}, false},
		{"live?vhost=v1", "rtmp://h/live?vhost=v1", connectTarget{"v1", "live"}, false},
		{"", "rtmp://h/live?vhost=v2", connectTarget{"v2", "live"}, false},
		{"live/sub", "rtmp://h/live/sub", connectTarget{hub.DefaultVhost, "live/sub"}, false},
		{"", "", connectTarget{}, true},
		{"../etc", "", connectTarget{}, true},
		{"", "rtmp://h/", connectTarget{}, true},
		{"", "rtmp://h:bad/live", connectTarget{}, true},
		{"live?vhost=a/b", "", connectTarget{}, true},
	}
	for _, tt := range tests {
		got, err := parseConnect(tt.app, tt.tcURL)
		if (err != nil) != tt.wantErr {
			t.Errorf("parseConnect(%q, %q) error = %v, want error %v", tt.app, tt.tcURL, err, tt.wantErr)
			continue
		}
		if err == nil && got != tt.want {
			t.Errorf("parseConnect(%q, %q) = %+v, want %+v", tt.app, tt.tcURL, got, tt.want)
		}
	}
}

func TestStreamKey(t *testing.T) {
	target := connectTarget{hub.DefaultVhost, "live"}
	tests := []struct {
		name    string
		want    hub.Key
		wantErr bool
	}{
		{"livestream", hub.Key{Vhost: hub.DefaultVhost, App: "live", Name: "livestream"}, false},
		{"livestream?token=abc", hub.Key{Vhost: hub.DefaultVhost, App: "live", Name: "livestream"}, false},
		{"s?vhost=v9&token=1", hub.Key{Vhost: "v9", App: "live", Name: "s"}, false},
		{"", hub.Key{}, true},
		{"a/b", hub.Key{Vhost: hub.DefaultVhost, App: "live/a", Name: "b"}, false},
		{"a/b/c?vhost=v", hub.Key{Vhost: "v", App: "live/a/b", Name: "c"}, false},
		{"a//b", hub.Key{}, true},
		{"a/", hub.Key{}, true},
		{"/b", hub.Key{}, true},
		{"../b", hub.Key{}, true},
		{"bad\x00name", hub.Key{}, true},
		{"?token=1", hub.Key{}, true},
	}
	for _, tt := range tests {
		got, err := streamKey(target, tt.name)
		if (err != nil) != tt.wantErr {
			t.Errorf("streamKey(%q) error = %v, want error %v", tt.name, err, tt.wantErr)
			continue
		}
		if err == nil && got != tt.want {
			t.Errorf("streamKey(%q) = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func FuzzStreamNames(f *testing.F) {
	f.Add("live", "rtmp://127.0.0.1:1935/live", "livestream?token=1")
	f.Add("", "http://h/live?vhost=x", "s?vhost=y")
	f.Add("a/b/c", "rtmp://[::1]:1935/a/b/c", "../x")
	f.Fuzz(func(t *testing.T, app, tcURL, name string) {
		target, err := parseConnect(app, tcURL)
		if err != nil {
			return
		}
		key, err := streamKey(target, name)
		if err != nil {
			return
		}
		if !hub.ValidName(key.App) || !hub.ValidName(key.Name) || !hub.ValidName(key.Vhost) || strings.Contains(key.Name, "/") {
			t.Fatalf("accepted invalid key %+v", key)
		}
	})
}

// TestRefusalsCarryBoundedText: a refusal quotes what the client sent, in
// the reply and in the log, never all of it.
func TestRefusalsCarryBoundedText(t *testing.T) {
	huge := strings.Repeat("a", 1<<20)
	_, err1 := parseConnect("", "rtmp://h/live\x7f"+huge)
	_, err2 := parseConnect(huge, "")
	_, err3 := streamKey(connectTarget{Vhost: "v", App: "live"}, huge+"/x")
	for _, err := range []error{err1, err2, err3} {
		if err == nil || len(err.Error()) > 1024 {
			t.Fatalf("error of %d bytes, want a refusal under 1 KiB", len(fmt.Sprint(err)))
		}
	}
}
