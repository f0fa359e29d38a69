package configs

import (
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
)

// DefaultVhost is the vhost of a client that names none, and the settings
// of every vhost a config does not list (SRS's name).
const DefaultVhost = "__defaultVhost__"

// Vhost is one virtual host's settings.
type Vhost struct {
	Cluster   Cluster   `yaml:"cluster"`
	HTTPHooks HTTPHooks `yaml:"http_hooks"`
	Secure    Secure    `yaml:"secure"`
	RTC       VhostRTC  `yaml:"rtc"`
}

// VhostRTC is a vhost's bridging between RTMP and WebRTC (SRS's names).
// Both default to true; a reload applies to the next session.
type VhostRTC struct {
	// RTMPToRTC gives WHEP players of an RTMP/HTTP-FLV publish its AAC as
	// Opus (one transcoder per stream on the host).
	RTMPToRTC *bool `yaml:"rtmp_to_rtc"`
	// RTCToRTMP gives RTMP/HTTP-FLV players of a WHIP publish its Opus as AAC.
	RTCToRTMP *bool `yaml:"rtc_to_rtmp"`
}

// Cluster says where a vhost's streams come from, SRS-shaped: local (this
// host is the origin) or remote (an edge that pulls from, and forwards
// publishes to, the origins).
type Cluster struct {
	Mode     string  `yaml:"mode"`     // local (default) | remote
	Origin   Origins `yaml:"origin"`   // host[:port], tried in balance order; or cluster
	Balance  string  `yaml:"balance"`  // round_robin (default) | consistent_hash
	Protocol string  `yaml:"protocol"` // rtmp (default) | flv: how to pull
	// TokenTraverse checks a client's connect against the origin before the
	// edge accepts it.
	TokenTraverse bool `yaml:"token_traverse"`
	// Vhost is the vhost to ask the origin for; empty asks for the same.
	Vhost string `yaml:"vhost"`
}

// Cluster modes, balances and pull protocols.
const (
	ModeLocal          = "local"
	ModeRemote         = "remote"
	BalanceRoundRobin  = "round_robin"
	BalanceConsistent  = "consistent_hash"
	ProtocolRTMP       = "rtmp"
	ProtocolFLV        = "flv"
	defaultRTMPPort    = "1935"
	defaultHTTPFLVPort = "8080"
)

// Cluster returns the effective cluster settings of vhost: its own entry,
// else __defaultVhost__'s, with the defaults filled in.
func (c *Config) Cluster(vhost string) Cluster {
	v, ok := c.Vhosts[vhost]
	if !ok {
		v = c.Vhosts[DefaultVhost]
	}
	return v.Cluster.withDefaults()
}

// RTCBridge returns vhost's rtmp_to_rtc and rtc_to_rtmp: its own entry,
// else __defaultVhost__'s, true where unset.
func (c *Config) RTCBridge(vhost string) (rtmpToRTC, rtcToRTMP bool) {
	v, ok := c.Vhosts[vhost]
	if !ok {
		v = c.Vhosts[DefaultVhost]
	}
	on := func(b *bool) bool { return b == nil || *b }
	return on(v.RTC.RTMPToRTC), on(v.RTC.RTCToRTMP)
}

// Remote reports whether this host is an edge for vhost.
func (c *Config) Remote(vhost string) bool { return c.Cluster(vhost).Mode == ModeRemote }

func (cl Cluster) withDefaults() Cluster {
	if cl.Mode == "" {
		cl.Mode = ModeLocal
	}
	if cl.Balance == "" {
		cl.Balance = BalanceRoundRobin
	}
	if cl.Protocol == "" {
		cl.Protocol = ProtocolRTMP
	}
	if cl.FromCluster() {
		return cl
	}
	origins := make(Origins, len(cl.Origin))
	for i, o := range cl.Origin {
		origins[i] = withPort(o, cl.Protocol)
	}
	cl.Origin = origins
	return cl
}

// withPort adds the protocol's usual port to an origin that has none.
func withPort(origin, protocol string) string {
	if _, _, err := net.SplitHostPort(origin); err == nil {
		return origin
	}
	port := defaultRTMPPort
	if protocol == ProtocolFLV {
		port = defaultHTTPFLVPort
	}
	return net.JoinHostPort(strings.Trim(origin, "[]"), port)
}

func (v *validator) vhosts(vhosts map[string]Vhost) {
	// Sorted, so the messages come out in the same order every time.
	for _, name := range slices.Sorted(maps.Keys(vhosts)) {
		vh := vhosts[name]
		path := "vhosts." + name
		if !validVhostName(name) {
			v.fail(path, "is not a valid vhost name (letters, digits, '.', '-', '_')")
		}
		v.access(path, vh)
		cl := vh.Cluster
		cp := path + ".cluster"
		if cl.Mode != "" {
			v.oneOf(cp+".mode", cl.Mode, ModeLocal, ModeRemote)
		}
		if cl.Balance != "" {
			v.oneOf(cp+".balance", cl.Balance, BalanceRoundRobin, BalanceConsistent)
		}
		if cl.Protocol != "" {
			v.oneOf(cp+".protocol", cl.Protocol, ProtocolRTMP, ProtocolFLV)
		}
		if cl.Vhost != "" && !validVhostName(cl.Vhost) {
			v.fail(cp+".vhost", "is not a valid vhost name, got %q", cl.Vhost)
		}
		if cl.Mode == ModeRemote && len(cl.Origin) == 0 {
			v.failMissing(cp+".origin", "must list at least one origin when mode is remote")
		}
		if cl.FromCluster() {
			continue // checked against hosts by clusterOrigins
		}
		seen := map[string]bool{}
		for _, o := range cl.Origin {
			if !validOrigin(o) {
				v.fail(cp+".origin", "must be host or host:port, got %q", o)
				continue
			}
			if full := withPort(o, cl.Protocol); seen[full] {
				v.fail(cp+".origin", "lists %s twice", full)
			} else {
				seen[full] = true
			}
		}
	}
}

func validVhostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
		default:
			return false
		}
	}
	return true
}

// validOrigin takes host, host:port or [v6]:port; a port, when given, must
// be a real one (0 cannot be dialled).
func validOrigin(s string) bool {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		host, port = strings.Trim(s, "[]"), ""
	}
	if host == "" || strings.ContainsAny(host, "/?#@ ") {
		return false
	}
	if port == "" {
		return err != nil
	}
	p, perr := strconv.ParseUint(port, 10, 16)
	return perr == nil && p > 0
}
