package ipc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// pair makes a socket pair as the master does and turns the worker end into
// a Conn as a worker does.
func pair(t *testing.T) (master, worker *Conn) {
	t.Helper()
	master, end, err := Socketpair()
	if err != nil {
		t.Fatal(err)
	}
	worker, err = FileConn(end)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { master.Close(); worker.Close() })
	return master, worker
}

// rawPair gives the master a Conn and the test the bare worker socket, to
// write bytes no Conn would.
func rawPair(t *testing.T) (master *Conn, raw net.Conn) {
	t.Helper()
	master, end, err := Socketpair()
	if err != nil {
		t.Fatal(err)
	}
	raw, err = net.FileConn(end)
	end.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { master.Close(); raw.Close() })
	return master, raw
}

// receiveWithin fails the test instead of hanging when nothing arrives.
func receiveWithin(t *testing.T, c *Conn, d time.Duration) (Message, error) {
	t.Helper()
	type result struct {
		m   Message
		err error
	}
	got := make(chan result, 1)
	go func() {
		m, err := c.Receive()
		got <- result{m, err}
	}()
	select {
	case r := <-got:
		return r.m, r.err
	case <-time.After(d):
		t.Fatalf("nothing received in %v", d)
		return nil, nil
	}
}

func TestConnRoundTrip(t *testing.T) {
	master, worker := pair(t)
	for _, dir := range []struct {
		name     string
		from, to *Conn
	}{{"master to worker", master, worker}, {"worker to master", worker, master}} {
		t.Run(dir.name, func(t *testing.T) {
			sent := make(chan error, 1)
			go func() {
				for _, tt := range messages {
					if err := dir.from.Send(tt.msg); err != nil {
						sent <- fmt.Errorf("send %s: %w", tt.name, err)
						return
					}
				}
				sent <- nil
			}()
			for _, tt := range messages {
				got, err := receiveWithin(t, dir.to, 5*time.Second)
				if err != nil {
					t.Fatalf("receive %s: %v", tt.name, err)
				}
				if !reflect.DeepEqual(got, tt.msg) {
					t.Errorf("%s:\n got %#v\nwant %#v", tt.name, got, tt.msg)
				}
			}
			if err := <-sent; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestConnConcurrentSend sends frames larger than the socket buffer from
// many goroutines: each must arrive whole, and each sender's in its order.
func TestConnConcurrentSend(t *testing.T) {
	master, worker := pair(t)
	const senders, each, size = 8, 5, 256 << 10
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for g := range senders {
		wg.Go(func() {
			for i := range each {
				yaml := bytes.Repeat([]byte{byte('a' + g)}, size+g*131+i)
				if err := worker.Send(&Configure{ConfigYAML: yaml, RelayDir: fmt.Sprintf("%d/%d", g, i)}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	next := make([]int, senders)
	for range senders * each {
		m, err := receiveWithin(t, master, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c, ok := m.(*Configure)
		if !ok {
			t.Fatalf("received %T", m)
		}
		var g, i int
		if _, err := fmt.Sscanf(c.RelayDir, "%d/%d", &g, &i); err != nil {
			t.Fatalf("RelayDir %q: %v", c.RelayDir, err)
		}
		if i != next[g] {
			t.Fatalf("sender %d: frame %d arrived when %d was due", g, i, next[g])
		}
		next[g]++
		want := bytes.Repeat([]byte{byte('a' + g)}, size+g*131+i)
		if !bytes.Equal(c.ConfigYAML, want) {
			t.Fatalf("sender %d frame %d: body mixed with another frame", g, i)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestReceiveEOF(t *testing.T) {
	t.Run("peer closed", func(t *testing.T) {
		master, worker := pair(t)
		worker.Close()
		for range 2 { // and it stays that way
			if _, err := receiveWithin(t, master, 5*time.Second); err != io.EOF {
				t.Fatalf("Receive = %v, want io.EOF", err)
			}
		}
	})
	t.Run("peer closed with messages unread", func(t *testing.T) {
		master, worker := pair(t)
		if err := worker.Send(&Hello{Slot: 1}); err != nil {
			t.Fatal(err)
		}
		master.Close() // the worker's Hello dies unread in the master's buffer
		if _, err := receiveWithin(t, worker, 5*time.Second); err != io.EOF {
			t.Fatalf("Receive = %v, want io.EOF", err)
		}
	})
	t.Run("peer closed mid-frame", func(t *testing.T) {
		master, raw := rawPair(t)
		b, _ := Marshal(&Hello{Slot: 1})
		raw.Write(b[:len(b)-1])
		raw.Close()
		if _, err := receiveWithin(t, master, 5*time.Second); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("Receive = %v, want io.ErrUnexpectedEOF", err)
		}
	})
}

func TestReceiveAfterBadFrames(t *testing.T) {
	good := &Release{Stream: "live/cam1"}
	goodBytes, _ := Marshal(good)
	tests := []struct {
		name     string
		bad      []byte
		is       error
		thenGood bool // the stream is still in step after the bad frame
	}{
		{"unknown kind", frame(99, `{}`), ErrUnknownKind, true},
		{"unknown field", frame(KindRelease, `{"Stream":"a","Slot":1}`), nil, true},
		{"trailing JSON", frame(KindRelease, `{"Stream":"a"}[]`), ErrTrailingData, true},
		{"too large", []byte{0x7f, 0, 0, 0}, ErrFrameTooLarge, false},
		{"empty", []byte{0, 0, 0, 0}, ErrEmptyFrame, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			master, raw := rawPair(t)
			if _, err := raw.Write(append(append([]byte{}, tt.bad...), goodBytes...)); err != nil {
				t.Fatal(err)
			}
			_, err := receiveWithin(t, master, 5*time.Second)
			if err == nil || tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("Receive = %v, want %v", err, tt.is)
			}
			m, err2 := receiveWithin(t, master, 5*time.Second)
			if tt.thenGood {
				if err2 != nil || !reflect.DeepEqual(m, good) {
					t.Fatalf("after the bad frame: %#v, %v; want the next frame", m, err2)
				}
			} else if err2 != err {
				t.Fatalf("after a framing error: %#v, %v; want the same error again", m, err2)
			}
		})
	}
}

// TestSendTimeout: a peer that never reads costs the sender the timeout,
// not its goroutine; a frame cut by the timeout closes the stream, so the
// peer sees whole messages and then an end, never garbage.
func TestSendTimeout(t *testing.T) {
	master, worker := pair(t)
	master.sendTimeout = 50 * time.Millisecond
	msg := &Configure{ConfigYAML: bytes.Repeat([]byte("x"), 256<<10)}
	sent := 0
	var err error
	start := time.Now()
	for ; sent < 1000; sent++ {
		t0 := time.Now()
		if err = master.Send(msg); err != nil {
			if d := time.Since(t0); d > 2*time.Second {
				t.Errorf("Send took %v to time out", d)
			}
			break
		}
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("after %d sends in %v: %v, want a deadline error", sent, time.Since(start), err)
	}
	master.Close() // whether or not Send did: a zero-byte timeout leaves it open
	for i := 0; ; i++ {
		m, err := receiveWithin(t, worker, 5*time.Second)
		if err != nil {
			if i != sent {
				t.Errorf("peer got %d whole messages, %d were sent", i, sent)
			}
			if err != io.EOF && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("peer's Receive ended with %v", err)
			}
			break
		}
		if !reflect.DeepEqual(m, msg) {
			t.Fatalf("message %d garbled", i)
		}
	}
}

func TestCloseUnblocksReceive(t *testing.T) {
	master, _ := pair(t)
	done := make(chan error, 1)
	go func() {
		_, err := master.Receive()
		done <- err
	}()
	master.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Receive after Close = %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Receive still blocked after Close")
	}
}

func TestFileConnRefuses(t *testing.T) {
	if _, err := FileConn(nil); err == nil || !strings.Contains(err.Error(), `"ipc"`) {
		t.Errorf("FileConn(nil) = %v, want an error naming the missing fd", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if c, err := FileConn(r); err == nil {
		c.Close()
		t.Error("FileConn of a pipe succeeded")
	}
}

func TestSocketpairIsCloseOnExec(t *testing.T) {
	master, end, err := Socketpair()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	defer end.Close()
	if !closeOnExec(t, int(end.Fd())) {
		t.Error("the worker end is inheritable before it is put in ExtraFiles")
	}
}
