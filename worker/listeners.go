package worker

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
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
		var ln net.Listener
		var err error
		if name == rtcSocket {
			ln, err = adoptPacketConn(f)
		} else {
			ln, err = net.FileListener(f)
		}
		if err != nil {
			return fail(fmt.Errorf("%s socket: %w", name, err))
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
