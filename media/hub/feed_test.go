package hub

import (
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"streamedge/media/flv"
)

// A fed player has no goroutine: when the loop gives up on it (here its
// socket stays full past send_timeout), the feed closes its socket, which
// is how the session's read learns of it, and Halt says why. Halted
// without a drop, the socket stays open and Halt says nothing.
func TestFeedClosesTheSocketOfADroppedPlayer(t *testing.T) {
	opts := DefaultOptions()
	opts.MergedWrite = 20 * time.Millisecond
	opts.SendTimeout = 300 * time.Millisecond
	h := newTestHub(opts)
	key := Key{DefaultVhost, "live", "s"}
	p, err := h.Publish(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Write(flv.TagVideo, 0, frame(0, 1000)); err != nil {
		t.Fatal(err)
	}

	sc, cc := socketPair(t, 16<<10)
	sub, err := h.Subscribe(key, true)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	w := newSockWriter(sc)
	var feed Feed
	feed.Start(sub, w, nil)
	seqs := make(chan uint32, 8)
	go readTags(cc, seqs)
	expectSeqs(t, "fed player", seqs, 1)
	if err := feed.Halt(sub); err != nil {
		t.Fatalf("Halt = %v for a player that was not dropped", err)
	}
	if _, err := sc.Write(nil); err != nil {
		t.Fatalf("the socket of a halted player: %v", err)
	}

	sc, cc = socketPair(t, 16<<10)
	stuck, err := h.Subscribe(key, true)
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	feed.Start(stuck, newSockWriter(sc), nil)
	for i := uint32(1); i < 64; i++ {
		if err := p.Write(flv.TagVideo, i, frame(i, 64<<10)); err != nil {
			t.Fatal(err)
		}
	}
	// The client does not read until the server gives up; then it reads
	// what is queued and the end.
	for deadline := time.Now().Add(20 * time.Second); feed.err.Load() == nil; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a player whose socket stays full was never dropped")
		}
	}
	cc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, cc); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("the dropped player's socket was not closed")
	}
	if err := feed.Halt(stuck); !Dropped(err) {
		t.Fatalf("Halt = %v, want a drop for send_timeout", err)
	}
}
