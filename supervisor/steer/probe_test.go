package steer

import (
	"context"
	"net"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"streamedge/supervisor/balance"
)

// On this project's machines (plain-TCP listeners, Linux 5.x+), the probe
// finds the cBPF tier.
func TestProbeFindsCBPF(t *testing.T) {
	tier, why := Probe(nil)
	t.Logf("tier %s: %s", tier, why)
	if tier != balance.TierCBPF {
		t.Errorf("tier %s (%s), want cbpf", tier, why)
	}
}

// MPTCP listeners refuse reuseport programs: the probe falls back to pause
// and says why.
func TestProbeMPTCPFallsBack(t *testing.T) {
	open := func(addr string, n int) ([]*net.TCPListener, error) {
		lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
			return control(c, func(fd int) error { return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1) })
		}}
		lc.SetMultipathTCP(true)
		var lns []*net.TCPListener
		for range n {
			ln, err := lc.Listen(context.Background(), "tcp", addr)
			if err != nil {
				return nil, err
			}
			lns = append(lns, ln.(*net.TCPListener))
			addr = ln.Addr().String()
		}
		rc, _ := lns[0].SyscallConn()
		proto := 0
		control(rc, func(fd int) (err error) {
			proto, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL)
			return
		})
		if proto != unix.IPPROTO_MPTCP {
			t.Skip("no MPTCP listener on this kernel")
		}
		return lns, nil
	}
	tier, why := Probe(open)
	t.Logf("tier %s: %s", tier, why)
	if tier == balance.TierCBPF || !strings.Contains(why, "cBPF steering unavailable") {
		t.Errorf("MPTCP probe: tier %s (%s), want a fallback that says why", tier, why)
	}
}
