package worker

import (
	"fmt"
	"net"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// adoptListeners turns the inherited sockets into listeners, one for each
// server of w, and opens the worker's private relay socket. A UDP socket
// (a socket table row of network udp) becomes a packet conn for a
// packetServer instead. A socket the master passed that no server serves
// is closed.
func adoptListeners(w *Worker, files map[string]*os.File, relayDir string, slot int) (Listeners, error) {
	ls := Listeners{}
	fail := func(err error) (Listeners, error) {
		for _, ln := range ls {
			ln.Close()
		}
		for _, pc := range w.packets {
			pc.Close()
		}
		w.packets = nil
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
		if _, ok := s.(packetServer); ok {
			if err := w.adoptPacket(name, f); err != nil {
				return fail(err)
			}
			delete(files, name)
			continue
		}
		ln, err := net.FileListener(f)
		if err != nil {
			return fail(fmt.Errorf("%s socket: %w", name, err))
		}
		f.Close() // FileListener holds its own copy
		delete(files, name)
		ls[name] = ln
	}
	for name, f := range files {
		if name != "ipc" {
			f.Close()
		}
	}
	return ls, nil
}

// adoptPacket makes a packet conn of an inherited UDP socket.
func (w *Worker) adoptPacket(name string, f *os.File) error {
	typ, err := unix.GetsockoptInt(int(f.Fd()), unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil || typ != unix.SOCK_DGRAM {
		return fmt.Errorf("%s socket is not UDP (type %d, %v)", name, typ, err)
	}
	pc, err := net.FilePacketConn(f)
	if err != nil {
		return fmt.Errorf("%s socket: %w", name, err)
	}
	f.Close() // FilePacketConn holds its own copy
	if w.packets == nil {
		w.packets = map[string]net.PacketConn{}
	}
	w.packets[name] = pc
	return nil
}
