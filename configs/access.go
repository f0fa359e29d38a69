package configs

import (
	"net/url"
	"time"
)

// HTTPHooks are a vhost's HTTP callbacks, SRS's http_hooks: each event
// names URLs that are POSTed SRS's JSON and must answer 0 (or {"code": 0}).
type HTTPHooks struct {
	OnConnect   []string `yaml:"on_connect,omitempty"`
	OnPublish   []string `yaml:"on_publish,omitempty"`
	OnUnpublish []string `yaml:"on_unpublish,omitempty"`
	OnPlay      []string `yaml:"on_play,omitempty"`
	OnStop      []string `yaml:"on_stop,omitempty"`
	Timeout     Duration `yaml:"timeout"` // per call; 0 = 3 s, SRS's
}

// Secure makes a vhost's publishes or plays carry a signed URL:
// ?expires=UNIX&sign=hex(HMAC-SHA256(key, "/app/stream" + expires)).
type Secure struct {
	PublishKey string `yaml:"publish_key"`
	PlayKey    string `yaml:"play_key"`
}

// DefaultHookTimeout is how long a hook may take when the config says 0.
const DefaultHookTimeout = 3 * time.Second

// Access returns the hooks and keys of vhost: its own, or
// __defaultVhost__'s when it is not listed.
func (c *Config) Access(vhost string) (HTTPHooks, Secure) {
	v, ok := c.Vhosts[vhost]
	if !ok {
		v = c.Vhosts[DefaultVhost]
	}
	return v.HTTPHooks, v.Secure
}

func (v *validator) access(path string, vh Vhost) {
	h := vh.HTTPHooks
	for _, ev := range []struct {
		name string
		urls []string
	}{{"on_connect", h.OnConnect}, {"on_publish", h.OnPublish}, {"on_unpublish", h.OnUnpublish}, {"on_play", h.OnPlay}, {"on_stop", h.OnStop}} {
		for _, u := range ev.urls {
			if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
				v.fail(path+".http_hooks."+ev.name, "must list http:// or https:// URLs, got %q", u)
			}
		}
	}
	v.maxDuration(path+".http_hooks.timeout", h.Timeout, 30*time.Second)
	// A short HMAC key is guessable offline from one signed URL.
	for _, k := range []struct{ name, key string }{{"publish_key", vh.Secure.PublishKey}, {"play_key", vh.Secure.PlayKey}} {
		if k.key != "" && len(k.key) < 16 {
			v.fail(path+".secure."+k.name, "must be at least 16 characters, got %d", len(k.key))
		}
	}
}
