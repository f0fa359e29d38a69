package webrtc

import (
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestSockaddr: how filterConn spells a destination for sendto on an IPv4
// and on an IPv6 (dual-stack) socket, and which it leaves to Go.
func TestSockaddr(t *testing.T) {
	v4 := netip.MustParseAddrPort("192.0.2.1:5000")
	for _, c := range []struct {
		name   string
		family int
		addr   netip.AddrPort
		want   unix.Sockaddr
	}{
		{"v4 on v4", unix.AF_INET, v4, &unix.SockaddrInet4{Port: 5000, Addr: [4]byte{192, 0, 2, 1}}},
		{"mapped v4 on v4", unix.AF_INET, netip.MustParseAddrPort("[::ffff:192.0.2.1]:5000"), &unix.SockaddrInet4{Port: 5000, Addr: [4]byte{192, 0, 2, 1}}},
		{"v6 on v4", unix.AF_INET, netip.MustParseAddrPort("[2001:db8::1]:5000"), nil},
		{"v4 on v6", unix.AF_INET6, v4, &unix.SockaddrInet6{Port: 5000, Addr: netip.MustParseAddr("::ffff:192.0.2.1").As16()}},
		{"v6 on v6", unix.AF_INET6, netip.MustParseAddrPort("[2001:db8::1]:5000"), &unix.SockaddrInet6{Port: 5000, Addr: netip.MustParseAddr("2001:db8::1").As16()}},
		{"zone", unix.AF_INET6, netip.MustParseAddrPort("[fe80::1%lo]:5000"), nil},
	} {
		got := (&filterConn{family: c.family}).sockaddr(c.addr)
		switch w := c.want.(type) {
		case nil:
			if got != nil {
				t.Errorf("%s: %+v, want the Go way", c.name, got)
			}
		case *unix.SockaddrInet4:
			if g, ok := got.(*unix.SockaddrInet4); !ok || g.Port != w.Port || g.Addr != w.Addr {
				t.Errorf("%s: %+v, want %+v", c.name, got, w)
			}
		case *unix.SockaddrInet6:
			if g, ok := got.(*unix.SockaddrInet6); !ok || g.Port != w.Port || g.Addr != w.Addr {
				t.Errorf("%s: %+v, want %+v", c.name, got, w)
			}
		}
	}
}

// TestFilterConnWrites: datagrams written by sendto arrive from the
// socket's own address, on IPv4 and IPv6 loopback, and a closed conn
// writes nothing.
func TestFilterConnWrites(t *testing.T) {
	for _, network := range []string{"udp4", "udp6"} {
		t.Run(network, func(t *testing.T) {
			ip := net.IPv4(127, 0, 0, 1)
			if network == "udp6" {
				ip = net.IPv6loopback
			}
			sink, err := net.ListenUDP(network, &net.UDPAddr{IP: ip})
			if err != nil {
				t.Skipf("no %s loopback: %v", network, err)
			}
			defer sink.Close()
			u, err := net.ListenUDP(network, &net.UDPAddr{IP: ip})
			if err != nil {
				t.Fatal(err)
			}
			var garbage atomic.Uint64
			fc, err := newFilterConn(u, &garbage)
			if err != nil {
				t.Fatal(err)
			}
			to := sink.LocalAddr().(*net.UDPAddr)
			if n, err := fc.WriteTo([]byte{0x80, 1, 2, 3, 4, 5, 6, 7}, to); n != 8 || err != nil {
				t.Fatalf("WriteTo: %d, %v", n, err)
			}
			sink.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 64)
			n, from, err := sink.ReadFromUDPAddrPort(buf)
			if err != nil || n != 8 || from != u.LocalAddr().(*net.UDPAddr).AddrPort() {
				t.Fatalf("received %d bytes from %v (%v), want 8 from %v", n, from, err, u.LocalAddr())
			}
			fc.Close()
			if _, err := fc.WriteToAddrPort([]byte{0x80, 1, 2, 3, 4, 5, 6, 7}, to.AddrPort()); err == nil {
				t.Fatal("a closed conn wrote")
			}
		})
	}
}
