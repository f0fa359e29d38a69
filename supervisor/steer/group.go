package steer

import (
	"context"
	"fmt"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Group is the master's view of one reuseport group: one listening socket
// per slot on one address. It keeps the kernel's member order, takes slots
// out and back, and attaches the weighted program. Not safe for concurrent
// use: the master loop owns it.
type Group struct {
	name    string
	sel     bpf.Instruction
	members []int // slot at each kernel index, in join order
	socks   map[int]syscall.RawConn
	out     map[int]bool // slots shut down, out of the group
	weights map[int]int  // by slot, as last attached; nil: no program
}

// NewGroup makes an empty group; name labels errors ("rtmp").
func NewGroup(name string) *Group {
	return &Group{name: name, sel: Random, socks: map[int]syscall.RawConn{}, out: map[int]bool{}}
}

func rawConn(ln any) (syscall.RawConn, error) {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("steer: %T has no file descriptor", ln)
	}
	return sc.SyscallConn()
}

// Add records that slot's socket ln (a *net.TCPListener or an *os.File of
// one) has just started listening: it joined the group last.
func (g *Group) Add(slot int, ln any) error {
	if _, ok := g.socks[slot]; ok {
		return fmt.Errorf("steer %s: slot %d added twice", g.name, slot)
	}
	rc, err := rawConn(ln)
	if err != nil {
		return err
	}
	g.socks[slot] = rc
	g.members = append(g.members, slot)
	return g.reattach()
}

// Remove forgets slot, whose socket the caller closes (before or after):
// in the kernel the last member moves into its place.
func (g *Group) Remove(slot int) error {
	if _, ok := g.socks[slot]; !ok {
		return nil
	}
	delete(g.socks, slot)
	delete(g.weights, slot)
	if g.out[slot] {
		delete(g.out, slot)
		return nil
	}
	g.leave(slot)
	return g.reattach()
}

// leave is the kernel's detach: the last member takes the leaver's index.
func (g *Group) leave(slot int) {
	i := slices.Index(g.members, slot)
	if i < 0 {
		return
	}
	last := len(g.members) - 1
	g.members[i] = g.members[last]
	g.members = g.members[:last]
}

// Pause takes slot out of the group: shutdown(SHUT_RD) of its socket stops
// the listener for every process holding it (the worker's accept returns
// EINVAL); with tcp_migrate_req what was queued moves to the others.
func (g *Group) Pause(slot int) error {
	rc, ok := g.socks[slot]
	if !ok || g.out[slot] {
		return nil
	}
	if err := control(rc, func(fd int) error { return unix.Shutdown(fd, unix.SHUT_RD) }); err != nil {
		return fmt.Errorf("steer %s: pause slot %d: %w", g.name, slot, err)
	}
	g.out[slot] = true
	g.leave(slot)
	return g.reattach()
}

// Resume puts slot back: listen() again, and it joins at the end.
func (g *Group) Resume(slot int) error {
	rc, ok := g.socks[slot]
	if !ok || !g.out[slot] {
		return nil
	}
	if err := control(rc, func(fd int) error { return unix.Listen(fd, backlog()) }); err != nil {
		return fmt.Errorf("steer %s: resume slot %d: %w", g.name, slot, err)
	}
	delete(g.out, slot)
	g.members = append(g.members, slot)
	return g.reattach()
}

// Paused says whether slot is out of the group.
func (g *Group) Paused(slot int) bool { return g.out[slot] }

// Members is the slots in kernel order.
func (g *Group) Members() []int { return slices.Clone(g.members) }

// Attach installs a program that gives each member slot its weight (a
// slot not in weights gets 0). It is re-attached with the same weights
// whenever membership changes.
func (g *Group) Attach(weights map[int]int) error {
	g.weights = maps.Clone(weights)
	if g.weights == nil {
		g.weights = map[int]int{}
	}
	return g.reattach()
}

// Detach removes the program: the kernel's hash again.
func (g *Group) Detach() error {
	if g.weights == nil {
		return nil
	}
	g.weights = nil
	if len(g.members) == 0 {
		return nil
	}
	err := control(g.socks[g.members[0]], func(fd int) error {
		return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DETACH_REUSEPORT_BPF, 0)
	})
	if err != nil {
		return fmt.Errorf("steer %s: detach: %w", g.name, err)
	}
	return nil
}

// reattach builds the program for the current order and swaps it in
// through a listening member (a shut-down socket would start a group of
// its own).
func (g *Group) reattach() error {
	if g.weights == nil || len(g.members) == 0 {
		return nil
	}
	ws := make([]int, len(g.members))
	for i, slot := range g.members {
		ws[i] = g.weights[slot]
	}
	if err := attach(g.socks[g.members[0]], ws, g.sel); err != nil {
		return fmt.Errorf("steer %s: attach %v over slots %v: %w", g.name, ws, g.members, err)
	}
	return nil
}

func attach(rc syscall.RawConn, weights []int, sel bpf.Instruction) error {
	prog, err := Program(weights, sel)
	if err != nil {
		return err
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return err
	}
	filter := make([]unix.SockFilter, len(raw))
	for i, ins := range raw {
		filter[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	return control(rc, func(fd int) error {
		return unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_CBPF, &fprog)
	})
}

func control(rc syscall.RawConn, f func(fd int) error) error {
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = f(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// backlog is what Go's net package listens with: somaxconn.
func backlog() int {
	b, err := os.ReadFile("/proc/sys/net/core/somaxconn")
	if err != nil {
		return unix.SOMAXCONN
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n <= 0 {
		return unix.SOMAXCONN
	}
	return min(n, 1<<16-1)
}

// ListenGroup opens n listeners of one reuseport group on addr, in slot
// order (kernel index = slot). With port 0 the kernel picks the port for a
// throwaway first socket and every slot binds that port by number: a socket
// bound to port 0 loses its port when shut down, so it could not rejoin.
func ListenGroup(addr string, n int) ([]*net.TCPListener, error) {
	var lns []*net.TCPListener
	fail := func(err error) ([]*net.TCPListener, error) {
		for _, ln := range lns {
			ln.Close()
		}
		return nil, err
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var first *net.TCPListener
	if port == "0" {
		if first, err = ListenTCP(addr); err != nil {
			return nil, err
		}
		defer func() {
			if first != nil {
				first.Close()
			}
		}()
		_, port, _ = net.SplitHostPort(first.Addr().String())
		addr = net.JoinHostPort(host, port)
	}
	for range n {
		ln, err := ListenTCP(addr)
		if err != nil {
			return fail(err)
		}
		lns = append(lns, ln)
		if first != nil {
			// Out before the second slot joins: the first slot takes the
			// throwaway's index 0, and the order stays the slot order.
			first.Close()
			first = nil
		}
	}
	return lns, nil
}

// ListenTCP opens a plain-TCP (never MPTCP: it refuses reuseport programs)
// SO_REUSEPORT listener on addr.
func ListenTCP(addr string) (*net.TCPListener, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		return control(c, func(fd int) error { return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1) })
	}}
	lc.SetMultipathTCP(false)
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, err
	}
	return ln.(*net.TCPListener), nil
}
