package handoff

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// Network is the socket type of a handoff socket: a unix socket that keeps
// message boundaries, so one packet is one State and its descriptor.
const Network = "unixpacket"

// Answers of a receiver, the first byte of its reply packet.
const (
	answerTaken   = 'T'
	answerRefused = 'R'
)

// maxReason bounds the refusal text a receiver sends back.
const maxReason = 200

// Outcomes of a Send that did not hand the socket over.
var (
	// ErrRefused: the receiver said no (over its cap, stream unknown, bad
	// state) and closed its copy; the sender keeps the socket and resumes.
	ErrRefused = errors.New("handoff refused")
	// ErrNotSent: the descriptor never left the sender; it resumes.
	ErrNotSent = errors.New("handoff not sent")
	// ErrNoAnswer: the descriptor was sent but no answer came (the receiver
	// died, or took too long): the receiver may own the socket, so the
	// sender must close its copy and never write again.
	ErrNoAnswer = errors.New("handoff sent, no answer")
)

// Resumable reports whether a failed Send leaves the socket with its
// sender, which must then go on writing to it.
func Resumable(err error) bool { return errors.Is(err, ErrRefused) || errors.Is(err, ErrNotSent) }

// Sender is one connection to another worker's handoff socket. Sends are
// serialised: a move of many players is one packet and one answer each.
type Sender struct {
	mu sync.Mutex
	c  *net.UnixConn
}

// Dial connects to the handoff socket at path.
func Dial(ctx context.Context, path string) (*Sender, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, Network, path)
	if err != nil {
		return nil, err
	}
	return &Sender{c: c.(*net.UnixConn)}, nil
}

// Close ends the connection.
func (s *Sender) Close() error { return s.c.Close() }

// Send passes f with the encoded state and waits up to timeout for the
// answer. nil means the receiver owns the socket now: the caller closes
// its copy. Otherwise Resumable(err) says whether the caller keeps it.
func (s *Sender) Send(f *os.File, state []byte, timeout time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.c.SetDeadline(time.Now().Add(timeout))
	rights := syscall.UnixRights(int(f.Fd()))
	n, oobn, err := s.c.WriteMsgUnix(state, rights, nil)
	if err != nil || n != len(state) || oobn != len(rights) {
		// A unixpacket send is all or nothing: the receiver has no packet.
		return fmt.Errorf("%w: %v", ErrNotSent, err)
	}
	var reply [1 + maxReason]byte
	n, err = s.c.Read(reply[:])
	if err != nil || n == 0 {
		return fmt.Errorf("%w: %v", ErrNoAnswer, err)
	}
	switch reply[0] {
	case answerTaken:
		return nil
	case answerRefused:
		return fmt.Errorf("%w: %s", ErrRefused, reply[1:n])
	}
	return fmt.Errorf("%w: bad answer 0x%02x", ErrNoAnswer, reply[0])
}

// Adopter takes a socket and its state, or refuses it with an error that
// says why. It owns f either way (it closes f when it refuses).
type Adopter func(f *os.File, state []byte) error

// Listen opens a handoff socket at path.
func Listen(path string) (*net.UnixListener, error) {
	return net.ListenUnix(Network, &net.UnixAddr{Name: path, Net: Network})
}

// Serve answers handoffs on ln until ctx ends, then closes ln and returns
// nil once the connections it served are done.
func Serve(ctx context.Context, ln *net.UnixListener, adopt Adopter) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		wg.Go(func() {
			stop := context.AfterFunc(ctx, func() { c.Close() })
			defer stop()
			defer c.Close()
			receive(c, adopt)
		})
	}
}

// receive answers the packets of one sender until it hangs up.
func receive(c *net.UnixConn, adopt Adopter) {
	buf := make([]byte, MaxState+1)
	oob := make([]byte, syscall.CmsgSpace(4*4))
	for {
		n, oobn, flags, _, err := c.ReadMsgUnix(buf, oob)
		if err != nil || (n == 0 && oobn == 0) {
			return
		}
		f, ferr := fileFrom(oob[:oobn])
		var why error
		switch {
		case ferr != nil:
			why = ferr
		case flags&(syscall.MSG_TRUNC|syscall.MSG_CTRUNC) != 0:
			f.Close()
			why = fmt.Errorf("%w: packet over %d bytes", ErrTooLarge, MaxState)
		default:
			why = adopt(f, buf[:n])
		}
		if err := answer(c, why); err != nil {
			return
		}
	}
}

func answer(c *net.UnixConn, why error) error {
	if why == nil {
		_, err := c.Write([]byte{answerTaken})
		return err
	}
	msg := why.Error()
	if len(msg) > maxReason {
		msg = msg[:maxReason]
	}
	_, err := c.Write(append([]byte{answerRefused}, msg...))
	return err
}

// fileFrom takes the one descriptor of a packet; any extra ones a broken
// sender added are closed, so none leaks.
func fileFrom(oob []byte) (*os.File, error) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("handoff: control message: %w", err)
	}
	var fds []int
	for _, m := range msgs {
		if got, err := syscall.ParseUnixRights(&m); err == nil {
			fds = append(fds, got...)
		}
	}
	if len(fds) == 0 {
		return nil, errors.New("handoff: packet carries no socket")
	}
	for _, fd := range fds[1:] {
		syscall.Close(fd)
	}
	return os.NewFile(uintptr(fds[0]), "handoff"), nil
}
