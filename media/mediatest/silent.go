package mediatest

import (
	"net"
	"testing"
)

// SilentServer listens on a loopback port, accepts every connection and
// never sends a byte: the peer that only a client's own deadline can end.
// It returns the address; everything closes at test cleanup.
func SilentServer(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	return ln.Addr().String()
}
