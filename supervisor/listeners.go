package supervisor

import (
	"fmt"
	"net"
	"os"

	"github.com/libp2p/go-reuseport"
)

// slotSockets are the public listeners of one worker slot. The master never
// accepts on them; it keeps them open so they outlive the slot's workers.
type slotSockets struct {
	rtmp, http         net.Listener
	rtmpFile, httpFile *os.File // what each worker of the slot inherits
}

func (s *slotSockets) close() {
	for _, c := range []interface{ Close() error }{s.rtmp, s.http, s.rtmpFile, s.httpFile} {
		if c != nil {
			c.Close()
		}
	}
}

// openReusePort opens n SO_REUSEPORT listeners on addr. With port 0 the
// kernel picks the port for the first one and the others join it.
func openReusePort(addr string, n int) ([]net.Listener, error) {
	var lns []net.Listener
	fail := func(err error) ([]net.Listener, error) {
		for _, ln := range lns {
			ln.Close()
		}
		return nil, err
	}
	for i := range n {
		ln, err := reuseport.Listen("tcp", addr)
		if err != nil {
			return fail(fmt.Errorf("listen %s: %w", addr, err))
		}
		lns = append(lns, ln)
		if i == 0 {
			host, _, _ := net.SplitHostPort(addr)
			_, port, _ := net.SplitHostPort(ln.Addr().String())
			addr = net.JoinHostPort(host, port)
		}
	}
	return lns, nil
}

// openSlotSockets opens the RTMP and HTTP listeners of n slots.
func openSlotSockets(rtmpAddr, httpAddr string, n int) ([]*slotSockets, error) {
	rtmp, err := openReusePort(rtmpAddr, n)
	if err != nil {
		return nil, err
	}
	httpLns, err := openReusePort(httpAddr, n)
	if err != nil {
		closeAll(rtmp)
		return nil, err
	}
	socks := make([]*slotSockets, n)
	for i := range n {
		s := &slotSockets{rtmp: rtmp[i], http: httpLns[i]}
		if s.rtmpFile, err = rtmp[i].(*net.TCPListener).File(); err == nil {
			s.httpFile, err = httpLns[i].(*net.TCPListener).File()
		}
		socks[i] = s
		if err != nil {
			for _, s := range socks[:i+1] {
				s.close()
			}
			closeAll(rtmp[i+1:])
			closeAll(httpLns[i+1:])
			return nil, fmt.Errorf("socket file: %w", err)
		}
	}
	return socks, nil
}

func closeAll(lns []net.Listener) {
	for _, ln := range lns {
		ln.Close()
	}
}
