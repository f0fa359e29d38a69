package handoff

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

func serveAdopter(t *testing.T, adopt Adopter) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "h.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, adopt) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return path
}

func TestSendHandsTheSocketOver(t *testing.T) {
	client, server := tcpPair(t)
	got := make(chan net.Conn, 1)
	path := serveAdopter(t, func(f *os.File, state []byte) error {
		defer f.Close()
		if string(state) != "state" {
			return errors.New("wrong state")
		}
		nc, err := net.FileConn(f)
		if err != nil {
			return err
		}
		got <- nc
		return nil
	})
	s, err := Dial(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f, _ := server.File()
	if err := s.Send(f, []byte("state"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	f.Close()
	server.Close() // the sender's copy goes; the receiver's keeps the connection
	nc := <-got
	defer nc.Close()
	nc.Write([]byte("from the receiver"))
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 17)
	if _, err := io.ReadFull(client, b); err != nil || string(b) != "from the receiver" {
		t.Fatalf("client read %q, %v", b, err)
	}
}

func TestRefusalIsResumable(t *testing.T) {
	_, server := tcpPair(t)
	path := serveAdopter(t, func(f *os.File, state []byte) error {
		f.Close()
		return errors.New("over my cap")
	})
	s, err := Dial(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f, _ := server.File()
	defer f.Close()
	err = s.Send(f, []byte("x"), 5*time.Second)
	if !errors.Is(err, ErrRefused) || !Resumable(err) {
		t.Fatalf("send to a refusing receiver: %v, want a resumable ErrRefused", err)
	}
}

func TestReceiverGoneIsNotResumable(t *testing.T) {
	_, server := tcpPair(t)
	path := filepath.Join(t.TempDir(), "h.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	// A receiver that takes the packet and dies before it answers.
	go func() {
		c, err := ln.AcceptUnix()
		if err == nil {
			c.ReadMsgUnix(make([]byte, 100), make([]byte, 100))
			c.Close()
		}
		ln.Close()
	}()
	s, err := Dial(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f, _ := server.File()
	defer f.Close()
	err = s.Send(f, []byte("x"), 5*time.Second)
	if !errors.Is(err, ErrNoAnswer) || Resumable(err) {
		t.Fatalf("send to a receiver that died: %v, want ErrNoAnswer, not resumable", err)
	}
}
