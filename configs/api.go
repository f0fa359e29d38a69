package configs

import (
	"net/url"
	"strings"
)

// API configures the master's HTTP API beyond its address (listen.api).
type API struct {
	Auth APIAuth `yaml:"auth"`
	// Hosts are the names the API answers to besides IP addresses,
	// localhost and listen.api's own host; a request naming any other
	// host is refused, so a page of another site cannot read the API by
	// DNS rebinding.
	Hosts []string `yaml:"hosts"`
	// CORSOrigins are the origins (scheme://host[:port], or "*") whose
	// pages may read the API: they get Access-Control-Allow-Origin.
	CORSOrigins []string `yaml:"cors_origins"`
}

// APIAuth guards the API: a bearer token, HTTP basic auth, or both (either
// one admits). Empty: no check, which is safe only while listen.api is on
// loopback; the master warns at start otherwise.
type APIAuth struct {
	Token    string `yaml:"token"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
}

// Enabled says whether requests must authenticate.
func (a APIAuth) Enabled() bool { return a.Token != "" || a.Username != "" }

func (a API) problems(v *validator) {
	if t := a.Auth.Token; t != "" && len(t) < 16 {
		v.fail("api.auth.token", "must be at least 16 characters, got %d", len(t))
	}
	if (a.Auth.Username == "") != (a.Auth.Password == "") {
		v.fail("api.auth.username", "and api.auth.password go together: set both or neither")
	}
	for _, h := range a.Hosts {
		if h == "" || strings.ContainsAny(h, ":/ *") {
			v.fail("api.hosts", "must be host names without port or scheme, got %q", h)
		}
	}
	for _, o := range a.CORSOrigins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			v.fail("api.cors_origins", "must be \"*\" or scheme://host[:port], got %q", o)
		}
	}
}
