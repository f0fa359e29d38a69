package worker

import (
	"net"
	"os"
	"testing"
)

// A socket is adopted by what it is, not by its name: a new UDP protocol
// needs no case of its own here.
func TestAdoptSocketByItsType(t *testing.T) {
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	uc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	tf, err := tl.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	uf, err := uc.(*net.UDPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		f    *os.File
		want string
	}{{tf, "tcp"}, {uf, "udp"}} {
		ln, err := adoptSocket(tt.f)
		tt.f.Close()
		if err != nil {
			t.Fatal(err)
		}
		switch ln.(type) {
		case *net.TCPListener:
			if tt.want != "tcp" {
				t.Errorf("a %s socket adopted as TCP", tt.want)
			}
		case *packetListener:
			if tt.want != "udp" {
				t.Errorf("a %s socket adopted as UDP", tt.want)
			}
		default:
			t.Errorf("a %s socket adopted as %T", tt.want, ln)
		}
		ln.Close()
	}
}
