package supervisor

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The balancer steers the reuseport group with a classic BPF program, which
// an MPTCP socket refuses: every TCP socket of a slot must be plain TCP and
// take one.
func TestSlotSocketsArePlainTCPAndTakeReuseportBPF(t *testing.T) {
	table := []sockSpec{{name: "rtmp", network: netTCP, addr: "127.0.0.1:0"}, {name: "http", network: netTCP, addr: "127.0.0.1:0"}}
	slots, bound, err := openSlots(table, 0, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, s := range slots {
			s.close()
		}
	}()
	for r, spec := range bound {
		if _, port, _ := net.SplitHostPort(spec.addr); port == "0" {
			t.Fatalf("%s bound as %s: the group's port is not recorded", spec.name, spec.addr)
		}
		for i, s := range slots {
			so := s.list[r]
			if so.name != spec.name || so.addr.String() != spec.addr {
				t.Fatalf("slot %d socket %d is %s on %s, want %s on %s (one group per row)", i, r, so.name, so.addr, spec.name, spec.addr)
			}
			err := so.control(func(fd int) error {
				proto, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL)
				if err != nil || proto != unix.IPPROTO_TCP {
					t.Errorf("slot %d %s: SO_PROTOCOL %d (%v), want IPPROTO_TCP", i, so.name, proto, err)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	// A program that sends every connection to the group's first socket.
	prog := []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: 0}}
	err = slots[1].byName("rtmp").control(func(fd int) error {
		return unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_CBPF, &unix.SockFprog{Len: 1, Filter: &prog[0]})
	})
	if err != nil {
		t.Fatalf("SO_ATTACH_REUSEPORT_CBPF on a slot's socket: %v", err)
	}
}

func TestUDPSocketPerSlot(t *testing.T) {
	// A free base port with room above it, found by binding one.
	probe, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := probe.LocalAddr().(*net.UDPAddr).Port
	probe.Close()
	if base > 65530 {
		t.Skip("no room above the free port")
	}
	table := []sockSpec{{name: "rtmp", network: netTCP, addr: "127.0.0.1:0"}, {name: "rtc", network: netUDP, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(base))}}
	slots, _, err := openSlots(table, 1, 2) // slots 1 and 2
	if err != nil {
		t.Skipf("ports above %d taken meanwhile: %v", base, err)
	}
	defer func() {
		for _, s := range slots {
			s.close()
		}
	}()
	for i, s := range slots {
		so := s.byName("rtc")
		if got, want := so.addr.(*net.UDPAddr).Port, base+1+i; got != want {
			t.Errorf("slot %d rtc port %d, want base+slot %d", i+1, got, want)
		}
		typ, _ := sockType(t, so)
		if typ != unix.SOCK_DGRAM {
			t.Errorf("slot %d rtc socket type %d, want SOCK_DGRAM", i+1, typ)
		}
	}
	// Port 0: each slot gets a port of its own from the kernel.
	table[1].addr = "127.0.0.1:0"
	zero, _, err := openSlots(table, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, s := range zero {
			s.close()
		}
	}()
	if a, b := zero[0].byName("rtc").addr.String(), zero[1].byName("rtc").addr.String(); a == b {
		t.Errorf("two slots share the UDP address %s", a)
	}
}

func sockType(t *testing.T, so *socket) (int, error) {
	var typ int
	err := so.control(func(fd int) (err error) {
		typ, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return typ, nil
}

func TestOpenSlotsFailureLeavesNothingOpen(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0") // no SO_REUSEPORT: nobody may join
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	table := []sockSpec{{name: "rtmp", network: netTCP, addr: "127.0.0.1:0"}, {name: "http", network: netTCP, addr: taken.Addr().String()}}
	before := openFDs(t)
	if _, _, err := openSlots(table, 0, 2); err == nil {
		t.Fatal("opened sockets on a port another socket holds")
	}
	if after := openFDs(t); after != before {
		t.Fatalf("%d descriptors open after the failed open, %d before", after, before)
	}
}

func openFDs(t *testing.T) int {
	n := 0
	for fd := range 4096 {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil {
			n++
		}
	}
	return n
}

func TestPortPlus(t *testing.T) {
	tests := []struct {
		addr string
		k    int
		want string
		err  bool
	}{
		{"0.0.0.0:8000", 0, "0.0.0.0:8000", false},
		{"0.0.0.0:8000", 3, "0.0.0.0:8003", false},
		{"[::1]:8000", 1, "[::1]:8001", false},
		{"127.0.0.1:0", 5, "127.0.0.1:0", false},
		{"127.0.0.1:65535", 1, "", true},
		{"nonsense", 0, "", true},
	}
	for _, tt := range tests {
		got, err := portPlus(tt.addr, tt.k)
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("portPlus(%q, %d) = %q, %v; want %q, error %v", tt.addr, tt.k, got, err, tt.want, tt.err)
		}
	}
}

// A second server on our ports would join the reuseport group and split
// its connections with us: refuse, whether the stranger uses SO_REUSEPORT
// or not.
func TestRefuseToShareAPortWithAStranger(t *testing.T) {
	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	group, bound, err := openSlots([]sockSpec{{name: "rtmp", network: netTCP, addr: "127.0.0.1:0"}}, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer group[0].close()
	for _, addr := range []string{plain.Addr().String(), bound[0].addr, "0.0.0.0:" + portOf(bound[0].addr)} {
		table := []sockSpec{{name: "http", network: netTCP, addr: addr}}
		if _, _, err := openSlots(table, 0, 2); !errors.Is(err, errAddrTaken) || !strings.Contains(err.Error(), addr) {
			t.Errorf("opening %s, held by a stranger: %v, want errAddrTaken naming it", addr, err)
		}
	}
	// Our own group may be reopened (a reload keeping the address).
	more, _, err := openSlots([]sockSpec{{name: "rtmp", network: netTCP, addr: bound[0].addr}}, 0, 1, bound...)
	if err != nil {
		t.Fatalf("reopening our own address: %v", err)
	}
	more[0].close()
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}
