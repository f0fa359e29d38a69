package webrtc

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
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
// It writes STUN and DTLS through ctl, a second descriptor of the same
// socket. Go serialises the writes on one descriptor with a lock whose
// waiters queue and are woken one at a time; with a few hundred players
// the media keeps a queue of that many writes on it, and a worker that is
// short of CPU works through it slowly. A handshake's flight, or an ICE
// agent's answer to a check (which holds up that agent's whole loop, and
// with it the session's inbound DTLS), waited seconds in that queue, and
// some handshakes never finished within their timeout (issue 15). On ctl
// the few control datagrams queue only behind each other.
type filterConn struct {
	*net.UDPConn
	ctl     *net.UDPConn
	garbage *atomic.Uint64
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

// WriteToAddrPort writes one datagram: STUN and DTLS through ctl, the
// rest (SRTP and SRTCP) through the main descriptor.
func (c *filterConn) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	if control(b) {
		return c.ctl.WriteToUDPAddrPort(b, addr)
	}
	return c.UDPConn.WriteToUDPAddrPort(b, addr)
}

// WriteTo is WriteToAddrPort for callers that have a net.Addr.
func (c *filterConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if control(b) {
		return c.ctl.WriteTo(b, addr)
	}
	return c.UDPConn.WriteTo(b, addr)
}

// control reports a handshake datagram: STUN or DTLS.
func control(b []byte) bool {
	k := classify(b)
	return k == classSTUN || k == classDTLS
}

// Close closes both descriptors.
func (c *filterConn) Close() error {
	err := c.UDPConn.Close()
	c.ctl.Close()
	return err
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
	ctl, err := dupUDP(u)
	if err != nil {
		return nil, err
	}
	return &filterConn{UDPConn: u, ctl: ctl, garbage: garbage}, nil
}

// dupUDP returns a second descriptor of u's socket, with a write lock of
// its own. It is never read.
func dupUDP(u *net.UDPConn) (*net.UDPConn, error) {
	f, err := u.File()
	if err != nil {
		return nil, fmt.Errorf("webrtc: second descriptor of the RTC socket: %w", err)
	}
	defer f.Close()
	pc, err := net.FilePacketConn(f)
	if err != nil {
		return nil, fmt.Errorf("webrtc: second descriptor of the RTC socket: %w", err)
	}
	return pc.(*net.UDPConn), nil
}
