package hub

import (
	"errors"
	"net"
	"os"
	"syscall"
)

// SetupPlayerConn bounds a player socket's kernel send buffer to
// Options.SendBuffer. Left to autotuning, a player that stops reading pins
// up to tcp_wmem's maximum (4 MiB) of kernel memory; the queue that matters
// for catching up is the stream's window, which is shared, not the socket's.
func (h *Hub) SetupPlayerConn(nc net.Conn) error {
	n := h.opts.Load().SendBuffer
	tc, ok := nc.(*net.TCPConn)
	if n <= 0 || !ok {
		return nil // unix sockets (relays) have no autotuning to bound
	}
	return tc.SetWriteBuffer(n)
}

// Dropped tells whether a player's Run ended because the server gave up on
// it (it fell behind for good, or a write blocked past send_timeout), not
// because the client left or the stream or the hub closed.
func Dropped(err error) bool {
	return errors.Is(err, ErrSlowPlayer) || errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)
}

// ClosePlayerConn closes a player's connection. After Dropped(err) the close
// is abortive (SO_LINGER 0, an RST): a client that stopped reading would
// otherwise keep the unsent bytes in an orphaned FIN-WAIT-1 socket, in
// kernel memory, until it goes away or the kernel gives up minutes later.
func ClosePlayerConn(nc net.Conn, err error) error {
	if tc, ok := nc.(*net.TCPConn); ok && Dropped(err) {
		tc.SetLinger(0)
	}
	return nc.Close()
}
