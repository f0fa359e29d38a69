package readpoll_test

import (
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"streamedge/media/mediatest"
	"streamedge/media/readpoll"
)

func pair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

// added puts the server side of a new loopback connection in a running
// poller through h; calls gets the waiter at each call of its function.
func added(t *testing.T, h *readpoll.Handle) (w *readpoll.Waiter, server, client net.Conn, calls <-chan *readpoll.Waiter) {
	t.Helper()
	p := mediatest.Poller(t)
	server, client = pair(t)
	c := make(chan *readpoll.Waiter, 4)
	if err := p.Add(server, h, func(w *readpoll.Waiter) { c <- w }); err != nil {
		t.Fatal(err)
	}
	return h.Waiter(), server, client, c
}

func await(t *testing.T, c <-chan *readpoll.Waiter, what string) *readpoll.Waiter {
	t.Helper()
	select {
	case w := <-c:
		return w
	case <-time.After(10 * time.Second):
		t.Fatalf("the waiter's function was not called: %s", what)
		return nil
	}
}

// What a client sends wakes its waiter's function, which reads it without
// waiting; armed again, the waiter wakes for the client's close, read as
// EOF.
func TestWaiterFiresOnDataAndOnClose(t *testing.T) {
	var h readpoll.Handle
	w, _, client, calls := added(t, &h)
	if _, err := client.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	await(t, calls, "data came")
	b := make([]byte, 16)
	if n, err := w.Read(b); n != 2 || err != nil {
		t.Fatalf("Read = %d, %v; want the 2 bytes sent", n, err)
	}
	if _, err := w.Read(b); !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("Read of nothing = %v, want EAGAIN", err)
	}
	if !w.Arm() {
		t.Fatal("Arm with no Wake meanwhile said go on")
	}
	client.Close()
	await(t, calls, "the client closed")
	if _, err := w.Read(b); err != io.EOF {
		t.Fatalf("Read after the client closed = %v, want EOF", err)
	}
	w.Remove()
}

// A Wake starts an armed waiter's function; one that comes while the
// function runs makes its Arm say go on, once. Bytes that came before an
// Arm wake it again at once (the set is level-triggered).
func TestWakeAndArm(t *testing.T) {
	var h readpoll.Handle
	w, _, client, calls := added(t, &h)
	w.Wake()
	await(t, calls, "Wake on an armed waiter")
	w.Wake()
	if w.Arm() {
		t.Fatal("Arm after a Wake while running armed the waiter")
	}
	if _, err := client.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if !w.Arm() {
		t.Fatal("a second Arm said go on")
	}
	await(t, calls, "bytes unread at the Arm")
	w.Remove()
}

// Closing a connection takes it out of the epoll set without an event:
// whoever closes it wakes its waiter, and the function reads the close.
// A wake that came through the handle before the waiter existed (a kick
// before the session parked) starts the function as soon as it does.
func TestWakeAfterClose(t *testing.T) {
	var h readpoll.Handle
	h.Wake()
	w, server, _, calls := added(t, &h)
	await(t, calls, "a wake before Add")
	if !w.Arm() {
		t.Fatal("Arm said go on")
	}
	server.Close()
	h.Wake()
	await(t, calls, "Wake after the close")
	if _, err := w.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read of a closed connection = %v, want net.ErrClosed", err)
	}
	w.Remove()
}
