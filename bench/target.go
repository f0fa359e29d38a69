package bench

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// Protocols a player speaks.
const (
	ProtoRTMP = "rtmp"
	ProtoFLV  = "flv"  // HTTP-FLV
	ProtoWHEP = "whep" // WebRTC: WHEP signalling, then RTP
)

// ProtocolOf tells which player a URL needs: rtmp:// or an http:// URL
// whose path ends in .flv.
func ProtocolOf(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("bad URL %q: %v", rawURL, err)
	}
	if u.Host == "" {
		return "", fmt.Errorf("bad URL %q: no host", rawURL)
	}
	switch u.Scheme {
	case "rtmp":
		return ProtoRTMP, nil
	case "http":
		switch {
		case strings.HasSuffix(u.Path, ".flv"):
			return ProtoFLV, nil
		case strings.HasSuffix(u.Path, "/whep") || u.Path == "/rtc/v1/whep/":
			return ProtoWHEP, nil
		}
		return "", fmt.Errorf("bad URL %q: an HTTP-FLV URL ends in .flv (http://host:port/app/stream.flv), a WHEP URL in /whep", rawURL)
	}
	return "", fmt.Errorf("bad URL %q: want rtmp://host/app/stream, http://host:port/app/stream.flv or http://host:port/app/stream/whep", rawURL)
}

// indexPattern matches {i} and {i%N} in URL templates.
var indexPattern = regexp.MustCompile(`\{i(?:%([0-9]+))?\}`)

// ExpandURL puts the client (or publisher) index into a URL template: {i}
// becomes i and {i%N} becomes i modulo N, so many players can spread over a
// few streams. Indexes start at 0.
func ExpandURL(template string, i int) string {
	return indexPattern.ReplaceAllStringFunc(template, func(m string) string {
		sub := indexPattern.FindStringSubmatch(m)
		if sub[1] == "" {
			return strconv.Itoa(i)
		}
		n, err := strconv.Atoi(sub[1])
		if err != nil || n == 0 {
			return m // {i%0}: leave it, the URL check will complain
		}
		return strconv.Itoa(i % n)
	})
}

// Resolver looks up host names; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// CheckLoopback refuses a URL whose host is not on this machine's loopback
// interface: an IP in 127.0.0.0/8 or ::1, "localhost", or a name that
// resolves only to such addresses. A load test aimed elsewhere by a typo
// would be an attack on someone else's server.
func CheckLoopback(ctx context.Context, r Resolver, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("bad URL %q: %v", rawURL, err)
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	addrs := []netip.Addr{}
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = append(addrs, a)
	} else {
		if addrs, err = r.LookupNetIP(ctx, "ip", host); err != nil {
			return fmt.Errorf("resolving %s: %v", host, err)
		}
	}
	if len(addrs) == 0 {
		return fmt.Errorf("%s resolves to no address", host)
	}
	for _, a := range addrs {
		if !a.Unmap().IsLoopback() {
			return fmt.Errorf("%s (%s) is not a loopback address: pass -allow-remote to load a remote server", host, a)
		}
	}
	return nil
}

// checkTargets validates the URL template and every distinct host that n
// expansions of it name.
func checkTargets(ctx context.Context, template string, n int, allowRemote bool) (proto string, err error) {
	proto, err = ProtocolOf(ExpandURL(template, 0))
	if err != nil {
		return "", err
	}
	if allowRemote {
		return proto, nil
	}
	seen := map[string]bool{}
	for i := range n {
		u := ExpandURL(template, i)
		pu, err := url.Parse(u)
		if err != nil {
			return "", fmt.Errorf("bad URL %q: %v", u, err)
		}
		if seen[pu.Hostname()] {
			continue
		}
		seen[pu.Hostname()] = true
		if err := CheckLoopback(ctx, net.DefaultResolver, u); err != nil {
			return "", err
		}
	}
	return proto, nil
}
