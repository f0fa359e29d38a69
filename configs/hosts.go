package configs

import (
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Hosts joins this host to a cluster of streamedge hosts through Redis
// (see supervisor/hosts). Empty Redis: a host of its own.
type Hosts struct {
	// Redis is a redis://, rediss:// or unix:// URL; addr=host:port
	// parameters add seeds of a Redis Cluster, master_name=NAME makes the
	// addresses Sentinels.
	Redis     string    `yaml:"redis"`
	HostID    string    `yaml:"host_id"` // empty: the machine's hostname
	Advertise Advertise `yaml:"advertise"`
	Heartbeat Duration  `yaml:"heartbeat"`
	TTL       Duration  `yaml:"ttl"`
	// LoadFactor is the resolver's c: a host takes a stream's players until
	// it carries more than c times the cluster's average.
	LoadFactor float64 `yaml:"load_factor"`
	// Resolve offers this host's players through /api/v1/resolve; an
	// origin that should see only edges sets it false.
	Resolve bool `yaml:"resolve"`
}

// Advertise is how clients and other hosts reach this host.
type Advertise struct {
	RTMP string `yaml:"rtmp"` // host:port
	HTTP string `yaml:"http"` // host:port, HTTP-FLV and WHEP
	RTC  string `yaml:"rtc"`  // host:port of WebRTC media; empty: no WHEP
}

// Enabled says whether the host is part of a cluster.
func (h Hosts) Enabled() bool { return h.Redis != "" }

var hostIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$`)

func (h *Hosts) problems(v *validator) {
	if h.Redis != "" {
		u, err := url.Parse(h.Redis)
		switch {
		case err != nil:
			v.fail("hosts.redis", "must be a URL like redis://host:6379/0, got %q", h.Redis)
		case u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix":
			v.fail("hosts.redis", "must be a redis://, rediss:// or unix:// URL, got %q", u.Redacted())
		case u.Scheme != "unix" && u.Host == "":
			v.fail("hosts.redis", "must name a host, got %q", u.Redacted())
		}
	}
	if h.HostID != "" && !hostIDRe.MatchString(h.HostID) {
		v.fail("hosts.host_id", "must be 1-64 letters, digits, '.', '_', ':' or '-', got %q", h.HostID)
	}
	if h.Redis != "" {
		v.advertised("hosts.advertise.rtmp", h.Advertise.RTMP, false)
		v.advertised("hosts.advertise.http", h.Advertise.HTTP, false)
		v.advertised("hosts.advertise.rtc", h.Advertise.RTC, true)
	}
	v.minDuration("hosts.heartbeat", h.Heartbeat, 100*time.Millisecond)
	// One late heartbeat must not drop a live host out of the cluster.
	if h.TTL.Std() < 2*h.Heartbeat.Std() {
		v.fail("hosts.ttl", "must be at least twice hosts.heartbeat (%s), got %s", h.Heartbeat, h.TTL)
	}
	// The paper's bound needs c > 1; at 1 every host but the emptiest is
	// "over average" and streams scatter.
	if !(h.LoadFactor > 1 && h.LoadFactor <= 10) {
		v.fail("hosts.load_factor", "must be over 1 and at most 10, got %g", h.LoadFactor)
	}
}

// advertised is an address other machines dial: a host and a real port.
func (v *validator) advertised(path, s string, optional bool) {
	if s == "" {
		if !optional {
			// A missing key has no line: point at the one that needs it.
			v.problems = append(v.problems, problem{path: "hosts.redis",
				msg: path + " must be set when hosts.redis is (host:port that clients reach)"})
		}
		return
	}
	n := len(v.problems)
	v.addr(path, s, optional)
	if len(v.problems) > n {
		return
	}
	if host, port, _ := strings.Cut(s, ":"); host == "" || port == "0" || host == "0.0.0.0" || strings.HasPrefix(s, "[::]") {
		v.fail(path, "must name a reachable host and a port other than 0, got %q", s)
	}
}

// OriginCluster, alone as a vhost's origin, makes the edge ask the
// cluster's store which host publishes each stream and pull from that one.
const OriginCluster = "cluster"

// Origins is a vhost's origin list. The scalar `origin: cluster` is taken
// as the list [cluster].
type Origins []string

// UnmarshalYAML takes a list, or one scalar as a list of one.
func (o *Origins) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" {
		*o = Origins{n.Value}
		return nil
	}
	var list []string
	if err := n.Decode(&list); err != nil {
		return err
	}
	*o = list
	return nil
}

// FromCluster says whether the vhost's origin is the cluster.
func (cl Cluster) FromCluster() bool {
	return len(cl.Origin) == 1 && cl.Origin[0] == OriginCluster
}

// clusterOrigins checks the vhosts whose origin is the cluster.
func (c *Config) clusterOrigins(v *validator) {
	for _, name := range slices.Sorted(maps.Keys(c.Vhosts)) {
		cl := c.Vhosts[name].Cluster
		path := "vhosts." + name + ".cluster.origin"
		switch {
		case cl.FromCluster() && !c.Hosts.Enabled():
			v.fail(path, "is cluster, which needs hosts.redis (the store that says which host publishes a stream)")
		case len(cl.Origin) > 1 && slices.Contains(cl.Origin, OriginCluster):
			v.fail(path, "cannot mix cluster with origin addresses: give cluster alone, or a list of hosts")
		}
	}
}
