package supervisor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"

	"github.com/libp2p/go-reuseport"
	"golang.org/x/sys/unix"

	"streamedge/configs"
)

// sockSpec is one row of the socket table: a public socket that every slot
// has, and that its workers inherit by name.
type sockSpec struct {
	name    string // as the worker asks for it (ipc.EnvFDs)
	network string // netTCP or netUDP
	addr    string // host:port; for UDP the port of slot 0
}

// The networks of the socket table.
const (
	// netTCP is a listener per slot, all slots in one SO_REUSEPORT group on
	// one address: the kernel spreads new connections over them.
	netTCP = "tcp"
	// netUDP is a socket per slot on a port of its own, the base port plus
	// the slot (each slot's own port when the base is 0): UDP sessions are
	// bound to the worker that answered the signalling, so no group.
	netUDP = "udp"
)

// socketTable lists the public sockets of a slot, from the config. A
// protocol with a socket of its own is one row here and a server of that
// name in the worker.
func socketTable(cfg *configs.Config) []sockSpec {
	return append([]sockSpec{
		{name: "rtmp", network: netTCP, addr: cfg.Listen.RTMP},
		{name: "http", network: netTCP, addr: cfg.Listen.HTTP},
	}, rtcSockets(cfg)...) // WebRTC's UDP socket per slot, when enabled
}

// socket is one public socket of a slot. The master never accepts or reads
// on it: it keeps file open so that the socket outlives the slot's workers
// and what is queued on it waits for the next one.
type socket struct {
	name    string
	network string
	addr    net.Addr // as bound: the port the kernel chose for port 0
	// file is the master's copy of the socket, the one each worker of the
	// slot inherits. Steering acts on it through control: a reuseport BPF
	// program attached to any TCP socket of a group steers the whole group,
	// and shutdown/listen on one takes its slot out of the group and back.
	file *os.File
	// onClose, when set, hears that the socket is about to close (the
	// balancer tracks the groups' members).
	onClose func()
}

// control runs fn on the socket's descriptor, which stays open while fn runs.
func (s *socket) control(fn func(fd int) error) error {
	rc, err := s.file.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// slotSockets are the public sockets of one slot, in table order.
type slotSockets struct {
	list []*socket
}

// byName is the slot's socket of that name, or nil.
func (s *slotSockets) byName(name string) *socket {
	for _, so := range s.list {
		if so.name == name {
			return so
		}
	}
	return nil
}

func (s *slotSockets) close() {
	for _, so := range s.list {
		if so.onClose != nil {
			so.onClose()
			so.onClose = nil
		}
		so.file.Close()
	}
}

// openSlots opens the sockets of n slots numbered from first. It returns
// them with the table as bound: a TCP row gets the port its group got, so
// that slots opened later join the same group. Slot 0 founds each TCP
// group, on an address nobody else may hold (probeFree) unless it is one
// of ours (a reload keeps some addresses); later slots join ours. On error
// nothing stays open.
func openSlots(table []sockSpec, first, n int, ours ...sockSpec) ([]*slotSockets, []sockSpec, error) {
	slots := make([]*slotSockets, n)
	for i := range slots {
		slots[i] = &slotSockets{}
	}
	fail := func(err error) ([]*slotSockets, []sockSpec, error) {
		for _, s := range slots {
			s.close()
		}
		return nil, nil, err
	}
	bound := make([]sockSpec, len(table))
	for r, spec := range table {
		bound[r] = spec
		if spec.network == netTCP && first == 0 && !holds(ours, spec.addr) {
			if err := probeFree(spec.addr); err != nil {
				return fail(fmt.Errorf("listen %s %s: %w", spec.name, spec.addr, err))
			}
		}
		var port *pickedPort
		if spec.network == netTCP && n > 0 {
			// With port 0, every slot binds the port by number: a socket
			// bound to port 0 loses its port when steering shuts it down,
			// and could not rejoin the group.
			var err error
			port, err = pickPort(spec.addr)
			if err != nil {
				return fail(fmt.Errorf("listen %s %s: %w", spec.name, spec.addr, err))
			}
			bound[r].addr = port.addr
			defer port.release() // on the way out of a failure
		}
		for i := range n {
			addr := spec.addr
			switch spec.network {
			case netTCP:
				addr = bound[r].addr
			case netUDP:
				var err error
				if addr, err = portPlus(spec.addr, first+i); err != nil {
					return fail(fmt.Errorf("%s: %w", spec.name, err))
				}
			}
			so, err := openSocket(spec.name, spec.network, addr)
			if err != nil {
				return fail(err)
			}
			slots[i].list = append(slots[i].list, so)
			if spec.network == netTCP && i == 0 {
				port.release()
			}
		}
	}
	return slots, bound, nil
}

// pickedPort is a port picked for a group whose address says port 0.
type pickedPort struct {
	addr string
	hold *socket // the throwaway that holds the port until the first slot binds it
	once bool
}

// pickPort returns addr as it is, or, for port 0, with a port the kernel
// picked for a throwaway socket in the group.
func pickPort(addr string) (*pickedPort, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil || port != "0" {
		return &pickedPort{addr: addr}, err
	}
	so, err := openSocket("port", netTCP, addr)
	if err != nil {
		return nil, err
	}
	return &pickedPort{addr: sameHostPort(addr, so.addr), hold: so}, nil
}

// release closes the throwaway: the first slot takes its place in the
// group, so the group's order stays the slots' order.
func (p *pickedPort) release() {
	if p.hold != nil && !p.once {
		p.once = true
		p.hold.file.Close()
	}
}

// holds tells whether one of our TCP groups is bound to addr.
func holds(ours []sockSpec, addr string) bool {
	for _, o := range ours {
		if o.network == netTCP && o.addr == addr {
			return true
		}
	}
	return false
}

// portPlus is addr with its port raised by k; port 0 stays 0 (the kernel
// picks a port per socket).
func portPlus(addr string, k int) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return "", fmt.Errorf("address %q: bad port", addr)
	}
	if p == 0 {
		return addr, nil
	}
	if p+k > 65535 {
		return "", fmt.Errorf("address %q: port %d for slot %d is over 65535", addr, p+k, k)
	}
	return net.JoinHostPort(host, strconv.Itoa(p+k)), nil
}

// openSocket binds one socket and returns the master's copy of it.
func openSocket(name, network, addr string) (*socket, error) {
	var (
		c    interface{ Close() error }
		file *os.File
		at   net.Addr
		err  error
	)
	switch network {
	case netTCP:
		var ln net.Listener
		if ln, err = listenTCP(addr); err == nil {
			c, at = ln, ln.Addr()
			file, err = ln.(*net.TCPListener).File()
		}
	case netUDP:
		var pc net.PacketConn
		if pc, err = net.ListenPacket("udp", addr); err == nil {
			c, at = pc, pc.LocalAddr()
			file, err = pc.(*net.UDPConn).File()
		}
	default:
		err = fmt.Errorf("network %q is neither %s nor %s", network, netTCP, netUDP)
	}
	if c != nil {
		// file is a duplicate of the descriptor: the socket lives on in it.
		c.Close()
	}
	if err == nil {
		file, err = blockingKindFile(file)
	}
	if err != nil {
		return nil, fmt.Errorf("listen %s %s: %w", name, addr, err)
	}
	so := &socket{name: name, network: network, addr: at, file: file}
	if network == netTCP {
		if err := so.control(checkPlainTCP); err != nil {
			file.Close()
			return nil, fmt.Errorf("listen %s %s: %w", name, addr, err)
		}
	}
	return so, nil
}

// blockingKindFile returns the master's copy of a socket as an *os.File
// that os/exec can pass on without touching the socket's flags. exec
// calls File.Fd on every file it passes, and Fd on a file made
// non-blocking puts the descriptor in blocking mode: O_NONBLOCK belongs to
// the open file, which every worker of the slot shares, so starting a
// fresh worker on the sockets of a live one (a balance retire) left the
// live one in a blocking accept that its drain could not interrupt. A
// file made while the descriptor is blocking keeps Fd a plain getter; the
// workers make it non-blocking again as they adopt it, which no longer
// matters to the master, which never reads from it.
func blockingKindFile(f *os.File) (*os.File, error) {
	fd := f.Fd() // blocking now, before any worker holds it
	dup, err := unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	f.Close()
	if err != nil {
		return nil, os.NewSyscallError("fcntl", err)
	}
	return os.NewFile(uintptr(dup), f.Name()), nil
}

// listenTCP opens a plain TCP SO_REUSEPORT listener. Go opens MPTCP
// listeners by default where the kernel has MPTCP (since Go 1.24), and an
// MPTCP socket refuses SO_ATTACH_REUSEPORT_CBPF with EOPNOTSUPP, which
// would leave the balancer no way to steer.
func listenTCP(addr string) (net.Listener, error) {
	lc := net.ListenConfig{Control: reuseport.Control}
	lc.SetMultipathTCP(false)
	return lc.Listen(context.Background(), "tcp", addr)
}

// errNotPlainTCP is a listener that is not plain TCP (MPTCP, most likely).
var errNotPlainTCP = errors.New("socket is not plain TCP")

func checkPlainTCP(fd int) error {
	proto, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL)
	if err != nil {
		return fmt.Errorf("SO_PROTOCOL: %w", err)
	}
	if proto != unix.IPPROTO_TCP {
		return fmt.Errorf("%w: protocol %d", errNotPlainTCP, proto)
	}
	return nil
}

// sameHostPort is the configured host with the port a socket got.
func sameHostPort(configured string, bound net.Addr) string {
	host, _, _ := net.SplitHostPort(configured)
	_, port, _ := net.SplitHostPort(bound.String())
	return net.JoinHostPort(host, port)
}

// group is the master's copy of the socket of row name in every slot, in
// slot order: for TCP, the members of the reuseport group that steering
// programs. A slot that has a replacement starting lists its current socket.
func (m *Master) group(name string) []*socket {
	var g []*socket
	for _, s := range m.slots {
		g = append(g, s.sockets.byName(name))
	}
	return g
}

// errAddrTaken is a public address another process already listens on.
var errAddrTaken = errors.New("is in use by another process (a second streamedge?); refusing to share it")

// probeFree fails when another socket is bound to addr. SO_REUSEPORT
// would let our listeners join a stranger's group without a word and split
// its connections with it; a plain bind (SO_REUSEADDR, so connections in
// TIME_WAIT do not count, but never SO_REUSEPORT) is refused instead. The
// probe never listens, so no connection can land on it. Port 0 needs no
// probe: the kernel picks a free port.
func probeFree(addr string) error {
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return err
	}
	if ta.Port == 0 {
		return nil
	}
	family, sa := unix.AF_INET6, unix.Sockaddr(&unix.SockaddrInet6{Port: ta.Port})
	if ip4 := ta.IP.To4(); ip4 != nil {
		family, sa = unix.AF_INET, &unix.SockaddrInet4{Port: ta.Port, Addr: [4]byte(ip4)}
	} else if ta.IP != nil {
		sa.(*unix.SockaddrInet6).Addr = [16]byte(ta.IP.To16())
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	defer unix.Close(fd)
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	if family == unix.AF_INET6 {
		// A wildcard probe must also meet an IPv4 listener on the port.
		unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0)
	}
	if err := unix.Bind(fd, sa); err != nil {
		if errors.Is(err, unix.EADDRINUSE) {
			return errAddrTaken
		}
		return os.NewSyscallError("bind", err)
	}
	return nil
}
