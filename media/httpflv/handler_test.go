package httpflv

import (
	"testing"

	"streamedge/media/hub"
)

func TestParsePath(t *testing.T) {
	tests := []struct {
		path, vhost string
		want        hub.Key
		ok          bool
	}{
		{"/live/livestream.flv", "", hub.Key{Vhost: hub.DefaultVhost, App: "live", Name: "livestream"}, true},
		{"/live/sub/s.flv", "v1", hub.Key{Vhost: "v1", App: "live/sub", Name: "s"}, true},
		{"/livestream.flv", "", hub.Key{}, false},
		{"/live/livestream", "", hub.Key{}, false},
		{"/live/.flv", "", hub.Key{}, false},
		{"/../x.flv", "", hub.Key{}, false},
		{"/live//s.flv", "", hub.Key{}, false},
		{"/live/s.flv", "a/b", hub.Key{}, false},
	}
	for _, tt := range tests {
		got, ok := ParsePath(tt.path, tt.vhost)
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("ParsePath(%q, %q) = %+v, %v; want %+v, %v", tt.path, tt.vhost, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzParsePath(f *testing.F) {
	f.Add("/live/livestream.flv", "")
	f.Add("/a/b/c/d.flv", "vh")
	f.Add("//.flv", "..")
	f.Fuzz(func(t *testing.T, path, vhost string) {
		key, ok := ParsePath(path, vhost)
		if !ok {
			return
		}
		if !hub.ValidName(key.App) || !hub.ValidName(key.Name) || !hub.ValidName(key.Vhost) {
			t.Fatalf("accepted %+v from %q", key, path)
		}
		if back, ok := hub.ParseKey(key.String()); !ok || back != key {
			t.Fatalf("key %+v does not round-trip through its string", key)
		}
	})
}
