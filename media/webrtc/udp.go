package webrtc

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"golang.org/x/sys/unix"
)

// packetClass sorts a datagram by its first byte, the demultiplexing rule
// of RFC 7983 that every WebRTC stack follows on a shared port.
type packetClass uint8

const (
	classGarbage packetClass = iota
	classSTUN                // 0..3
	classDTLS                // 20..63
	classRTP                 // 128..191: RTP and RTCP, SRTP-protected
)

func classify(b []byte) packetClass {
	if len(b) == 0 {
		return classGarbage
	}
	switch c := b[0]; {
	case c <= 3:
		if len(b) < 20 { // a STUN header is 20 bytes
			return classGarbage
		}
		return classSTUN
	case c >= 20 && c <= 63:
		return classDTLS
	case c >= 128 && c <= 191:
		if len(b) < 8 { // shorter than any RTCP header plus SSRC
			return classGarbage
		}
		return classRTP
	}
	return classGarbage
}

// filterConn is the socket the ICE mux reads: it drops, and counts, what
// cannot be WebRTC at all before the mux sees it, so junk on a public port
// costs one read and no log line. What looks like WebRTC but belongs to no
// session is dropped by the mux (and counted through OnUnhandledPacket).
//
// It writes with sendto(2) on the descriptor itself, not through Go's
// net.UDPConn, which serialises the writes on one descriptor with a lock
// whose waiters queue and are woken one at a time. With a hundred players
// the media kept a queue of that many writes on it (a goroutine dump of a
// worker showed 203 of its 1029 goroutines there), and a worker short of
// CPU worked through it slowly: a handshake's flight, or an ICE agent's
// answer to a check (which holds up that agent's loop, and with it the
// session's inbound DTLS), waited seconds, some handshakes never finished
// within their timeout, and a player that had connected could wait as long
// for its first packet (issue 15). The kernel takes concurrent sendto on a
// UDP socket as they come. Only a full send buffer (EAGAIN) goes the Go
// way, which waits for room.
type filterConn struct {
	*net.UDPConn
	garbage *atomic.Uint64

	fd     int
	family int          // AF_INET or AF_INET6: how a destination is spelled
	mu     sync.RWMutex // held shared by raw writes, exclusively by Close
	closed bool
}

var (
	_ net.PacketConn           = (*filterConn)(nil)
	_ ice.AddrPortReaderWriter = (*filterConn)(nil)
)

// ReadFromAddrPort is the allocation-free read the ICE mux prefers.
func (c *filterConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	for {
		n, addr, err := c.UDPConn.ReadFromUDPAddrPort(b)
		if err != nil || classify(b[:n]) != classGarbage {
			return n, addr, err
		}
		c.garbage.Add(1)
	}
}

// WriteToAddrPort writes one datagram.
func (c *filterConn) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	if sa := c.sockaddr(addr); sa != nil {
		c.mu.RLock()
		err := net.ErrClosed
		if !c.closed {
			err = unix.Sendto(c.fd, b, 0, sa)
		}
		c.mu.RUnlock()
		switch {
		case err == nil:
			return len(b), nil
		case err != unix.EAGAIN && err != unix.EINTR:
			return 0, &net.OpError{Op: "write", Net: "udp", Addr: net.UDPAddrFromAddrPort(addr), Err: err}
		}
	}
	return c.UDPConn.WriteToUDPAddrPort(b, addr)
}

// WriteTo is WriteToAddrPort for callers that have a net.Addr.
func (c *filterConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return c.UDPConn.WriteTo(b, addr)
	}
	return c.WriteToAddrPort(b, ua.AddrPort())
}

// sockaddr spells addr for sendto on the socket, or returns nil where the
// Go way must take it (an IPv6 zone, IPv6 on an IPv4 socket).
func (c *filterConn) sockaddr(addr netip.AddrPort) unix.Sockaddr {
	ip := addr.Addr()
	switch {
	case ip.Zone() != "":
		return nil
	case c.family == unix.AF_INET && ip.Unmap().Is4():
		return &unix.SockaddrInet4{Port: int(addr.Port()), Addr: ip.Unmap().As4()}
	case c.family == unix.AF_INET6:
		return &unix.SockaddrInet6{Port: int(addr.Port()), Addr: ip.As16()} // IPv4 as ::ffff:a.b.c.d
	}
	return nil
}

// Close waits for the raw writes under way, so that none of them writes to
// a descriptor number the process has given to another file.
func (c *filterConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return c.UDPConn.Close()
}

// ReadFrom is ReadFromAddrPort for callers that want a net.Addr.
func (c *filterConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := c.ReadFromAddrPort(b)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(addr), nil
}

// socketBuffer is the send and receive buffer asked for on the RTC socket.
const socketBuffer = 4 << 20

// errNotUDP is a socket that is not a UDP socket.
var errNotUDP = errors.New("webrtc: the RTC socket must be a UDP socket (*net.UDPConn)")

// newFilterConn wraps the UDP socket handed to the server.
func newFilterConn(pc net.PacketConn, garbage *atomic.Uint64) (*filterConn, error) {
	u, ok := pc.(*net.UDPConn)
	if !ok {
		return nil, errNotUDP
	}
	// The mux reads with no deadline; a deadline left by the caller would
	// end it early.
	u.SetReadDeadline(time.Time{})
	// One socket carries every session of the worker: a keyframe to each of
	// a few hundred players is a burst the default buffers drop. Best
	// effort: the kernel caps it at net.core.[rw]mem_max.
	u.SetReadBuffer(socketBuffer)
	u.SetWriteBuffer(socketBuffer)
	c := &filterConn{UDPConn: u, garbage: garbage, fd: -1}
	rc, err := u.SyscallConn()
	if err != nil {
		return nil, err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		c.fd = int(fd)
		c.family, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DOMAIN)
	}); err != nil {
		return nil, err
	}
	if serr != nil {
		return nil, fmt.Errorf("webrtc: the RTC socket's address family: %w", serr)
	}
	return c, nil
}
