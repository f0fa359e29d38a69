package hub

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// Outlet is a player's socket as its writers see it: the stream's writer
// loop, which must never block on it, and the session's own blocking
// writes (an HTTP response head, RTMP commands, a handed-over player's
// catch-up).
//
// The loop writes with writev on the raw fd, which the runtime keeps
// non-blocking, so a full socket answers EAGAIN at once. What it did not
// take stays in the outlet and goes out from the player's own wait
// (flush), which is the only place that blocks, bounded by send_timeout.
// A connection shared with other writers (RTMP's commands) has a lock:
// the loop only tries it, and a write it leaves half done keeps it until
// flush has finished the message, so nothing interleaves inside a chunk.
type Outlet struct {
	nc       net.Conn
	rc       syscall.RawConn // nil: no fd to write without blocking (a pipe, TLS)
	mu       *sync.Mutex
	bytesOut *atomic.Uint64
	left     net.Buffers // what try did not write, for flush
	locked   bool        // try left mu held for flush
}

// NewOutlet returns the outlet of nc. mu is the lock the connection's
// other writers take (nil: there are none); bytes counts what is written.
func NewOutlet(nc net.Conn, mu *sync.Mutex, bytes *atomic.Uint64) *Outlet {
	o := &Outlet{nc: nc, mu: mu, bytesOut: bytes}
	// The loop's raw writes fail once a write deadline has passed: clear
	// one that the connection's previous owner (an HTTP server's
	// WriteTimeout) may have left. Writes here set one only while they last.
	nc.SetWriteDeadline(time.Time{})
	if sc, ok := nc.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			o.rc = rc
		}
	}
	return o
}

// Write writes vecs whole, blocking for up to timeout: for writes outside
// the loop. It clears the deadline again, since the loop's raw writes
// would fail on one that has passed.
func (o *Outlet) Write(vecs [][]byte, timeout time.Duration) error {
	if o.mu != nil {
		o.mu.Lock()
		defer o.mu.Unlock()
	}
	return o.writeLocked((*net.Buffers)(&vecs), timeout)
}

func (o *Outlet) writeLocked(out *net.Buffers, timeout time.Duration) error {
	o.nc.SetWriteDeadline(time.Now().Add(timeout))
	n, err := out.WriteTo(o.nc)
	o.nc.SetWriteDeadline(time.Time{})
	o.bytesOut.Add(uint64(n))
	return err
}

// maxIovecs is the most pieces one writev takes (Linux's IOV_MAX).
const maxIovecs = 1024

// try writes what the socket takes now. done is false when something is
// left for flush: the socket was full, or another writer held the lock.
// iov is the loop's scratch, so a player owns no iovec array.
func (o *Outlet) try(vecs [][]byte, iov *[]syscall.Iovec) (done bool, err error) {
	if o.mu != nil && !o.mu.TryLock() {
		o.left, o.locked = vecs, false
		return false, nil
	}
	o.left = vecs
	if o.rc == nil {
		o.locked = o.mu != nil
		return false, nil
	}
	var werr error
	err = o.rc.Write(func(fd uintptr) bool {
		werr = o.writev(fd, iov)
		return true // never wait here: EAGAIN is flush's to wait out
	})
	if err == nil {
		err = werr
	}
	if errors.Is(err, syscall.EAGAIN) {
		err = nil
	}
	done = err != nil || len(o.left) == 0
	if done {
		o.left = nil
		if o.mu != nil {
			o.mu.Unlock()
		}
		return true, err
	}
	o.locked = o.mu != nil
	return false, nil
}

// writev writes o.left until it is empty or the socket is full, consuming
// what was written.
func (o *Outlet) writev(fd uintptr, iov *[]syscall.Iovec) error {
	for len(o.left) > 0 {
		v := (*iov)[:0]
		for _, b := range o.left {
			if len(v) == maxIovecs {
				break
			}
			if len(b) > 0 {
				v = append(v, syscall.Iovec{Base: &b[0], Len: uint64(len(b))})
			}
		}
		*iov = v
		if len(v) == 0 {
			o.left = nil
			return nil
		}
		n, _, errno := syscall.Syscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&v[0])), uintptr(len(v)))
		clear(v) // the iovecs point into the window's messages: let them go
		if errno != 0 {
			if errno == syscall.EINTR {
				continue
			}
			return errno
		}
		o.bytesOut.Add(uint64(n))
		o.consume(int64(n))
	}
	return nil
}

// consume drops n written bytes from the front of o.left.
func (o *Outlet) consume(n int64) {
	for len(o.left) > 0 {
		if l := int64(len(o.left[0])); l > n {
			o.left[0] = o.left[0][n:]
			return
		}
		n -= int64(len(o.left[0]))
		o.left[0] = nil
		o.left = o.left[1:]
	}
}

// own copies what try left out of the caller's slice, for a flush that
// outlives it.
func (o *Outlet) own() { o.left = append(net.Buffers(nil), o.left...) }

// pending tells whether try left something for flush.
func (o *Outlet) pending() bool { return o.left != nil }

// flush writes what try left. It blocks while the socket is full, and
// gives up when it takes nothing for timeout (send_timeout): a slow link
// that drains, however slowly, is the slow-player rule's to judge.
func (o *Outlet) flush(timeout time.Duration) error {
	if o.mu != nil {
		if !o.locked {
			o.mu.Lock()
		}
		defer o.mu.Unlock()
	}
	o.locked = false
	defer func() { o.left = nil }()
	if o.rc == nil {
		return o.writeLocked(&o.left, timeout)
	}
	defer o.nc.SetWriteDeadline(time.Time{})
	var iov []syscall.Iovec // the loop's scratch is the loop's: a park has its own
	for len(o.left) > 0 {
		o.nc.SetWriteDeadline(time.Now().Add(timeout))
		var werr error
		err := o.rc.Write(func(fd uintptr) bool {
			before := o.remaining()
			werr = o.writev(fd, &iov)
			if !errors.Is(werr, syscall.EAGAIN) {
				return true
			}
			// Full again: wait for room, unless some went out, in which
			// case the deadline starts over.
			return o.remaining() < before
		})
		if err != nil {
			return err
		}
		if werr != nil && !errors.Is(werr, syscall.EAGAIN) {
			return werr
		}
	}
	return nil
}

// remaining is the number of bytes try left.
func (o *Outlet) remaining() int {
	n := 0
	for _, b := range o.left {
		n += len(b)
	}
	return n
}
