package configs

import (
	"net/url"
	"strings"
)

// API guards the HTTP API (listen.api) against browsers: a page on another
// site may neither read it by DNS rebinding (Hosts) nor across origins
// (CORSOrigins) unless the operator says so.
type API struct {
	// Hosts are the names the API answers to besides IP addresses,
	// localhost and listen.api's own host; a request naming any other
	// host is refused.
	Hosts []string `yaml:"hosts"`
	// CORSOrigins are the origins (scheme://host[:port], or "*") whose
	// pages may read the API: they get Access-Control-Allow-Origin.
	CORSOrigins []string `yaml:"cors_origins"`
}

func (a *API) problems(v *validator) {
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
