package configs

import (
	"net"
	"strconv"
)

// distinctListens fails a listen address that would share a port with an
// earlier one: SO_REUSEPORT would let the two protocols' sockets join one
// group and split each other's connections (HTTP requests landing on the
// RTMP server), and the API's plain socket would not bind at all. Port 0
// asks the kernel for a port of its own, so it never clashes.
func (v *validator) distinctListens(listens ...[2]string) {
	for i, b := range listens {
		for _, a := range listens[:i] {
			if sameSocket(a[1], b[1]) {
				v.fail(b[0], "must not share a port with %s (%s and %s)", a[0], a[1], b[1])
				break
			}
		}
	}
}

// sameSocket tells whether two host:port addresses would bind one port:
// the same port, not 0, and hosts that are equal or where either is a
// wildcard.
func sameSocket(a, b string) bool {
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil {
		return false // reported by addr
	}
	na, _ := strconv.Atoi(pa)
	nb, _ := strconv.Atoi(pb)
	if na == 0 || na != nb {
		return false
	}
	return ha == hb || wildcard(ha) || wildcard(hb)
}

func wildcard(host string) bool {
	if host == "" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified()
}
