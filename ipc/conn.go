package ipc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// SendTimeout bounds one Send. A peer that has not taken a frame in this
// long is stuck (or stopped in a debugger); the sender must get its error and
// go on with its loop rather than hang with it.
const SendTimeout = 5 * time.Second

// Conn sends and receives messages over a stream socket. Send may be called
// from any number of goroutines; Receive from one.
type Conn struct {
	nc          net.Conn
	r           *bufio.Reader
	sendTimeout time.Duration // SendTimeout; shorter in tests

	mu sync.Mutex // one frame and one write deadline at a time

	// broken is the framing error that ended the stream; only the reading
	// goroutine touches it.
	broken error
}

// NewConn wraps c, which should be a unix stream socket (anything reliable
// and ordered works). The Conn owns c.
func NewConn(c net.Conn) *Conn {
	return &Conn{nc: c, r: bufio.NewReader(c), sendTimeout: SendTimeout}
}

// FileConn makes a Conn of an inherited socket, such as the worker's
// InheritedFiles()["ipc"]. It takes f: on success f is closed, since the
// Conn holds a duplicate, so no second descriptor keeps the socket open.
func FileConn(f *os.File) (*Conn, error) {
	if f == nil {
		return nil, errors.New("ipc: no socket: the master passed no \"ipc\" descriptor")
	}
	nc, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("ipc: socket %q: %w", f.Name(), err)
	}
	if _, ok := nc.(*net.UnixConn); !ok {
		nc.Close()
		return nil, fmt.Errorf("ipc: %q is a %T, not a unix socket", f.Name(), nc)
	}
	f.Close()
	return NewConn(nc), nil
}

// Socketpair makes the channel to one worker. The master keeps master; the
// workerEnd goes into exec.Cmd.ExtraFiles (named "ipc" in EnvFDs), and the
// master must close it as soon as the child has started, or the master will
// never see EOF when that worker dies. Both ends are close-on-exec, so a
// pair made for one worker does not leak into the next one started.
func Socketpair() (master *Conn, workerEnd *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("ipc: %w", os.NewSyscallError("socketpair", err))
	}
	mf := os.NewFile(uintptr(fds[0]), "ipc-master")
	workerEnd = os.NewFile(uintptr(fds[1]), "ipc")
	nc, err := net.FileConn(mf) // a duplicate in the runtime's poller
	mf.Close()
	if err != nil {
		workerEnd.Close()
		return nil, nil, fmt.Errorf("ipc: socketpair: %w", err)
	}
	return NewConn(nc), workerEnd, nil
}

// Send writes m as one frame. It fails after the send timeout if the peer
// does not read. If the timeout strikes in the middle of a frame, the stream
// can no longer be delimited, so Send closes the connection: the peer sees
// EOF instead of garbage.
func (c *Conn) Send(m Message) error {
	frame, err := Marshal(m)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.nc.SetWriteDeadline(time.Now().Add(c.sendTimeout)); err != nil {
		return fmt.Errorf("ipc: send %s: %w", m.Kind(), err)
	}
	n, err := c.nc.Write(frame)
	switch {
	case err == nil:
		return nil
	case n > 0:
		c.nc.Close()
		return fmt.Errorf("ipc: send %s: %w (connection closed after %d of %d bytes)", m.Kind(), err, n, len(frame))
	default:
		return fmt.Errorf("ipc: send %s: %w", m.Kind(), err)
	}
}

// Receive reads the next message. It returns io.EOF when the peer is gone,
// whether it closed cleanly or died with messages unread. A frame that is
// delimited but does not decode (ErrUnknownKind, bad JSON) is returned as an
// error and the next Receive goes on with the next frame; a framing error
// (ErrFrameTooLarge, ErrEmptyFrame, a frame cut short) ends the stream, and
// every later Receive returns it again.
func (c *Conn) Receive() (Message, error) {
	if c.broken != nil {
		return nil, c.broken
	}
	frame, err := ReadFrame(c.r)
	if err != nil {
		// A unix socket whose peer exits with unread data reads ECONNRESET
		// rather than EOF; for us both mean the same thing.
		if errors.Is(err, syscall.ECONNRESET) {
			err = io.EOF
		}
		c.broken = err
		return nil, err
	}
	return Unmarshal(frame)
}

// Close closes the socket; a Receive blocked on it returns.
func (c *Conn) Close() error {
	return c.nc.Close()
}
