// Package readpoll waits for many connections to have something to read
// with one goroutine, so that a connection that only waits (a player,
// which sends nothing or almost nothing after its request) costs no
// goroutine and no stack. It is an epoll set of its own, next to Go's:
// each connection is in it one-shot (EPOLLIN|EPOLLRDHUP|EPOLLONESHOT), and
// when one is ready a short-lived goroutine is started to read and handle
// what came, then to arm the connection again and end. Go's netpoll cannot
// be shared like that: each blocked Read holds a goroutine. The fd stays
// in Go's netpoll too (for writes, and for the blocking reads of a
// goroutine that handles a message), which epoll allows; every epoll_ctl
// runs under syscall.RawConn.Control, so it never touches an fd that was
// closed, or its number reused, meanwhile.
package readpoll

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// Poller is one epoll set and the goroutine that waits on it (Run).
type Poller struct {
	epfd int
	efd  int // an eventfd that ends Run

	// life is held (read) around every epoll_ctl, and taken when Run
	// closes the set, so that none runs on a closed (or reused) number.
	life   sync.RWMutex
	closed bool

	mu      sync.Mutex
	waiters map[uint64]*Waiter
	next    uint64
}

// New makes the epoll set; Run waits on it.
func New() (*Poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, err
	}
	p := &Poller{epfd: epfd, efd: efd, waiters: make(map[uint64]*Waiter), next: 1}
	// Id 0 is the eventfd.
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, efd, &unix.EpollEvent{Events: unix.EPOLLIN}); err != nil {
		unix.Close(efd)
		unix.Close(epfd)
		return nil, err
	}
	return p, nil
}

// Run starts the function of every waiter that becomes ready, until ctx
// ends; then it closes the epoll set and returns nil. Functions already
// started go on; a waiter that arms after Run has ended never fires, so
// end the connections before or with the poller.
func (p *Poller) Run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		var one [8]byte
		one[0] = 1
		unix.Write(p.efd, one[:])
	})
	defer stop()
	defer func() {
		p.life.Lock()
		p.closed = true
		unix.Close(p.efd)
		unix.Close(p.epfd)
		p.life.Unlock()
	}()
	events := make([]unix.EpollEvent, 256)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		for _, ev := range events[:n] {
			id := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			if id == 0 {
				return nil
			}
			p.mu.Lock()
			w := p.waiters[id]
			p.mu.Unlock()
			if w != nil && w.state.CompareAndSwap(armed, running) {
				go w.fn(w)
			}
		}
	}
}

// The states of a Waiter: armed waits in the epoll set; running has a
// goroutine in fn, which owns the connection; woken is running with a
// Wake that came meanwhile, which its next Arm answers.
const (
	armed int32 = iota
	running
	woken
)

// Waiter is one connection in a Poller.
type Waiter struct {
	p     *Poller
	rc    syscall.RawConn
	id    uint64
	fn    func(*Waiter)
	state atomic.Int32
}

// Add puts nc in the set, armed, as h's waiter: fn is started in a
// goroutine of its own once nc has something to read (data, its end, an
// error) or h is woken (at once if it was before). fn owns the connection
// until it calls Arm and Arm says so, or Remove.
func (p *Poller) Add(nc net.Conn, h *Handle, fn func(*Waiter)) error {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return errors.New("readpoll: the connection has no file descriptor")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	p.mu.Lock()
	w := &Waiter{p: p, rc: rc, id: p.next, fn: fn}
	p.next++
	p.waiters[w.id] = w
	p.mu.Unlock()
	h.w.Store(w) // before it can fire: fn may use h
	if err := w.ctl(unix.EPOLL_CTL_ADD); err != nil {
		h.w.Store(nil)
		p.forget(w)
		return err
	}
	if h.woke.Load() {
		w.Wake() // a kick or a request that came before the waiter
	}
	return nil
}

// Handle is a session's hold on its waiter, which others (a kick, a
// handoff request, a close) wake through it, before the session has a
// waiter too: the waiter is then woken as Add makes it.
type Handle struct {
	w    atomic.Pointer[Waiter]
	woke atomic.Bool
}

// Waiter is the session's waiter, nil until Add.
func (h *Handle) Waiter() *Waiter { return h.w.Load() }

// Wake has the session look at its state: see Waiter.Wake.
func (h *Handle) Wake() {
	h.woke.Store(true)
	if w := h.w.Load(); w != nil {
		w.Wake()
	}
}

// Remove takes the session's waiter, if any, out of the set, for good.
func (h *Handle) Remove() {
	if w := h.w.Load(); w != nil {
		w.Remove()
	}
}

// ctl adds or re-arms the waiter's fd, one-shot, under Control so that the
// fd is open and its own while epoll_ctl runs.
func (w *Waiter) ctl(op int) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: int32(uint32(w.id)), Pad: int32(uint32(w.id >> 32))}
	w.p.life.RLock()
	defer w.p.life.RUnlock()
	if w.p.closed {
		return errClosed
	}
	var err error
	if cerr := w.rc.Control(func(fd uintptr) { err = unix.EpollCtl(w.p.epfd, op, int(fd), &ev) }); cerr != nil {
		return cerr
	}
	return err
}

var errClosed = errors.New("readpoll: the poller has ended")

func (p *Poller) forget(w *Waiter) {
	p.mu.Lock()
	delete(p.waiters, w.id)
	p.mu.Unlock()
}

// Arm is called by fn once it has read everything there was: the waiter
// waits in the set again and fn must return without touching the
// connection. It reports false when fn must go on instead, because a Wake
// came while it ran. When the fd cannot go back in the set (closed under
// fn, or the poller has ended) only a Wake starts fn again: whoever closes
// a connection wakes it (see Wake), and a poller must outlive the
// connections it has, which are closed (and woken) as their server stops.
func (w *Waiter) Arm() bool {
	if w.state.CompareAndSwap(woken, running) {
		return false
	}
	w.state.Store(armed)
	w.ctl(unix.EPOLL_CTL_MOD)
	return true
}

// Wake starts fn now if the waiter is armed, or has the running fn's next
// Arm return false: for whoever closes the connection or wants its owner
// to look at something (a handoff), since a closed fd leaves the set
// without an event.
func (w *Waiter) Wake() {
	for {
		switch w.state.Load() {
		case armed:
			if w.state.CompareAndSwap(armed, running) {
				go w.fn(w)
				return
			}
		case running:
			if w.state.CompareAndSwap(running, woken) {
				return
			}
		default:
			return
		}
	}
}

// Remove takes the connection out of the set, for good; fn calls it, as
// the owner, before it closes the connection or hands it on.
func (w *Waiter) Remove() {
	w.p.forget(w)
	w.p.life.RLock()
	defer w.p.life.RUnlock()
	if !w.p.closed {
		w.rc.Control(func(fd uintptr) { unix.EpollCtl(w.p.epfd, unix.EPOLL_CTL_DEL, int(fd), nil) })
	}
}

// Read reads what the connection has now, without waiting: (0,
// syscall.EAGAIN) when there is nothing, (0, io.EOF) at its end. For fn.
func (w *Waiter) Read(b []byte) (int, error) {
	var n int
	var err error
	if cerr := w.rc.Read(func(fd uintptr) bool {
		for {
			n, err = unix.Read(int(fd), b)
			if err != unix.EINTR {
				return true // never wait: the poller does
			}
		}
	}); cerr != nil {
		return 0, cerr
	}
	if err == nil && n == 0 && len(b) > 0 {
		return 0, io.EOF
	}
	if n < 0 {
		n = 0
	}
	return n, err
}
