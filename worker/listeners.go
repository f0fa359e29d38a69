package worker

import (
	"fmt"
	"net"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// adoptListeners turns the inherited sockets into listeners, one for each
// server of w, and opens the worker's private relay socket. A socket the
// master passed that no server serves is closed.
func adoptListeners(w *Worker, files map[string]*os.File, relayDir string, slot int) (Listeners, error) {
	ls := Listeners{}
	fail := func(err error) (Listeners, error) {
		for _, ln := range ls {
			ln.Close()
		}
		return nil, err
	}
	for _, s := range w.servers {
		name := s.name()
		if name == relaySocket {
			path := filepath.Join(relayDir, fmt.Sprintf("relay-%d-%d.sock", slot, os.Getpid()))
			ln, err := net.Listen("unix", path)
			if err != nil {
				return fail(fmt.Errorf("relay socket: %w", err))
			}
			ls[name] = ln
			continue
		}
		f := files[name]
		if f == nil {
			return fail(fmt.Errorf("the master passed no %s socket", name))
		}
		ln, err := adoptSocket(f)
		if err != nil {
			return fail(fmt.Errorf("%s socket: %w", name, err))
		}
		if tl, ok := ln.(*net.TCPListener); ok {
			// The master may take the slot out of the reuseport group.
			ln = newPausableListener(tl, nil)
		}
		f.Close() // FileListener and FilePacketConn hold their own copy
		delete(files, name)
		ls[name] = ln
	}
	for name, f := range files {
		if name != "ipc" {
			f.Close()
		}
	}
	if w.rtc != nil {
		// Other workers forward WebRTC signalling over the relay socket too.
		ls[relaySocket] = w.rtc.sniff(ls[relaySocket])
	}
	return ls, nil
}

// adoptSocket makes a listener of an inherited socket, whatever its row of
// the master's socket table: a TCP socket as it is, a UDP socket (a port
// per slot) as a packetListener whose server takes the packet conn.
func adoptSocket(f *os.File) (net.Listener, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	typ, serr := 0, error(nil)
	if err := rc.Control(func(fd uintptr) { typ, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TYPE) }); err != nil {
		return nil, err
	}
	if serr != nil {
		return nil, fmt.Errorf("SO_TYPE: %w", serr)
	}
	if typ == unix.SOCK_DGRAM {
		return adoptPacketConn(f)
	}
	return net.FileListener(f)
}
