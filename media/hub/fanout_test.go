package hub

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"streamedge/media/flv"
)

// sockWriter is an FLV player on a real socket, fed by the writer loop.
type sockWriter struct {
	vecs  [][]byte
	out   *Outlet
	wrote atomic.Int64 // messages the client got whole
	bytes atomic.Uint64
	own   bool // frames every batch itself, never from the shared segment
}

func newSockWriter(nc net.Conn) *sockWriter {
	w := &sockWriter{}
	w.out = NewOutlet(nc, nil, &w.bytes)
	return w
}

func (w *sockWriter) Frame(vecs [][]byte, msgs []*Msg) ([][]byte, []*Msg) {
	for _, m := range msgs {
		vecs = append(vecs, m.FLVHeader(), m.Payload, m.FLVTrailer())
	}
	return vecs, msgs
}

func (w *sockWriter) Wrote(kept []*Msg)    { w.wrote.Add(int64(len(kept))) }
func (w *sockWriter) Outlet() *Outlet      { return w.out }
func (w *sockWriter) Shared() (Wire, bool) { return Wire{}, !w.own }
func (w *sockWriter) WriteBatch(msgs []*Msg) error {
	return WriteNow(w, &w.vecs, msgs, 10*time.Second)
}

// socketPair returns both ends of a loopback TCP connection, with small
// buffers so that a client that does not read fills its socket at once.
func socketPair(t testing.TB, buf int) (server, client *net.TCPConn) {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	if buf > 0 {
		server.SetWriteBuffer(buf)
		client.SetReadBuffer(buf)
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

// readTags reads FLV tags and sends each one's sequence number (the first
// payload bytes after the video tag's 5-byte header).
func readTags(r io.Reader, seqs chan<- uint32) {
	var hdr [flv.TagHeaderSize]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			close(seqs)
			return
		}
		size := int(hdr[1])<<16 | int(hdr[2])<<8 | int(hdr[3])
		body := make([]byte, size+4)
		if _, err := io.ReadFull(r, body); err != nil {
			close(seqs)
			return
		}
		seqs <- binary.BigEndian.Uint32(body[5:])
	}
}

func frame(seq uint32, size int) []byte {
	b := make([]byte, size)
	b[0] = 0x27
	if seq == 0 {
		b[0] = 0x17
	}
	b[1] = 1
	binary.BigEndian.PutUint32(b[5:], seq)
	return b
}

// expectSeqs waits for the messages 0..n-1, in order, each once.
func expectSeqs(t *testing.T, name string, seqs <-chan uint32, n int) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for want := uint32(0); want < uint32(n); want++ {
		select {
		case got, ok := <-seqs:
			if !ok {
				t.Fatalf("%s: connection ended before message %d", name, want)
			}
			if got != want {
				t.Fatalf("%s: got message %d, want %d (lost or doubled)", name, got, want)
			}
		case <-deadline:
			t.Fatalf("%s: message %d did not come", name, want)
		}
	}
}

// A player whose socket is full is parked; the others of the stream get
// every message meanwhile, and the parked one gets the rest of its write,
// then everything else, in order, once its client reads again.
func TestLoopParksOnlyTheFullSocket(t *testing.T) {
	opts := DefaultOptions()
	opts.MergedWrite = 20 * time.Millisecond
	h := newTestHub(opts)
	key := Key{DefaultVhost, "live", "s"}
	p, err := h.Publish(key)
	if err != nil {
		t.Fatal(err)
	}
	const msgs, size = 200, 64 << 10
	if err := p.Write(flv.TagVideo, 0, frame(0, size)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var writers []*sockWriter
	var clients []*net.TCPConn
	done := make(chan error, 3)
	for range 3 {
		sc, cc := socketPair(t, 16<<10)
		sub, err := h.Subscribe(key, true)
		if err != nil {
			t.Fatal(err)
		}
		w := newSockWriter(sc)
		writers, clients = append(writers, w), append(clients, cc)
		go func() { done <- sub.Run(ctx, w); sub.Close() }()
	}
	var seqs []chan uint32
	for i := range clients {
		seqs = append(seqs, make(chan uint32, msgs))
		if i > 0 { // the first client does not read yet
			go readTags(clients[i], seqs[i])
		}
	}
	for i := uint32(1); i < msgs; i++ {
		if err := p.Write(flv.TagVideo, i, frame(i, size)); err != nil {
			t.Fatal(err)
		}
	}
	expectSeqs(t, "reading player 1", seqs[1], msgs)
	expectSeqs(t, "reading player 2", seqs[2], msgs)
	if n := writers[0].wrote.Load(); n >= msgs {
		t.Fatalf("the player that does not read got all %d messages written", n)
	}
	if load := h.WriterLoad(); load <= 0 {
		t.Fatalf("WriterLoad = %v while the loop writes three players", load)
	}
	go readTags(clients[0], seqs[0])
	expectSeqs(t, "parked player", seqs[0], msgs)
	cancel()
	for range 3 {
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Run = %v, want context.Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after its context ended")
		}
	}
	// With no player left the loop ends, at its next tick.
	for deadline := time.Now().Add(10 * time.Second); h.WriterLoad() != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("WriterLoad = %v with no player left", h.WriterLoad())
		}
	}
}

// A player whose socket takes nothing for send_timeout is dropped by the
// loop, and Dropped says the server gave up on it.
func TestLoopDropsAPlayerStuckPastSendTimeout(t *testing.T) {
	opts := DefaultOptions()
	opts.MergedWrite = 20 * time.Millisecond
	opts.SendTimeout = 300 * time.Millisecond
	h := newTestHub(opts)
	key := Key{DefaultVhost, "live", "s"}
	p, err := h.Publish(key)
	if err != nil {
		t.Fatal(err)
	}
	sc, _ := socketPair(t, 16<<10)
	sub, err := h.Subscribe(key, true)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	done := make(chan error, 1)
	go func() { done <- sub.Run(context.Background(), newSockWriter(sc)) }()
	for i := uint32(0); i < 64; i++ {
		if err := p.Write(flv.TagVideo, i, frame(i, 64<<10)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-done:
		if !Dropped(err) {
			t.Fatalf("Run = %v, want a drop for send_timeout", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a player whose socket stays full was never dropped")
	}
}
