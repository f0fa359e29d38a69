// Package numbered feeds hubs with numbered media and checks what a
// player gets of it: every frame once, in order, time going forward. It is
// for tests of anything that must not lose or repeat a frame (handoffs).
package numbered

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"streamedge/media/hub"
	"streamedge/media/rtmp/amf"
)

// Feed publishes the same numbered media to key in every hub, as a
// relay copies the owner's stream: metadata and sequence headers, then
// every 5 ms a video frame (a keyframe every tenth) and an audio frame with
// the same timestamp. Each frame carries its track's sequence number after
// its codec bytes, for a Checker. It stops when ctx ends.
func Feed(t testing.TB, ctx context.Context, key hub.Key, hubs ...*hub.Hub) {
	t.Helper()
	var pubs []*hub.Publisher
	for _, h := range hubs {
		p, err := h.Publish(key)
		if err != nil {
			t.Fatal(err)
		}
		pubs = append(pubs, p)
	}
	write := func(typ uint8, ts uint32, b []byte) {
		for _, p := range pubs {
			p.Write(typ, ts, b)
		}
	}
	write(18, 0, amf.Append(nil, "onMetaData", []amf.Property{{Key: "width", Value: 16.0}}))
	write(9, 0, []byte{0x17, 0, 0, 0, 0, 1, 0x42, 0, 0x1e})
	write(8, 0, []byte{0xaf, 0, 0x12, 0x10})
	go func() {
		defer func() {
			for _, p := range pubs {
				p.Close()
			}
		}()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for i := uint32(0); ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			v := []byte{0x27, 1, 0, 0, 0, 0, 0, 0, 0}
			if i%10 == 0 {
				v[0] = 0x17
			}
			binary.BigEndian.PutUint32(v[5:], i)
			write(9, i*20, v)
			a := []byte{0xaf, 1, 0, 0, 0, 0}
			binary.BigEndian.PutUint32(a[2:], i)
			write(8, i*20, a)
		}
	}()
}

// Checker follows what a player of Feed media receives:
// per track, frames must come one after the other (none twice, none lost)
// and time never goes back.
type Checker struct {
	next   [2]int64 // audio, video: the next sequence number expected (-1: any)
	lastTS [2]uint32
	got    chan struct{}
}

// NewChecker returns a checker that expects anything first.
func NewChecker() *Checker {
	return &Checker{next: [2]int64{-1, -1}, got: make(chan struct{}, 1<<16)}
}

// Add checks one message the player received.
func (c *Checker) Add(typ uint8, ts uint32, p []byte) error {
	var i, off int
	switch {
	case typ == 8 && len(p) == 6 && p[1] == 1:
		i, off = 0, 2
	case typ == 9 && len(p) == 9 && p[1] == 1:
		i, off = 1, 5
	default:
		return nil // headers and metadata
	}
	seq := int64(binary.BigEndian.Uint32(p[off:]))
	if c.next[i] >= 0 && seq != c.next[i] {
		return fmt.Errorf("%s: frame %d after %d (duplicate or lost), ts %d", [2]string{"audio", "video"}[i], seq, c.next[i]-1, ts)
	}
	if c.next[i] >= 0 && ts < c.lastTS[i] {
		return fmt.Errorf("timestamp went back from %d to %d", c.lastTS[i], ts)
	}
	c.next[i], c.lastTS[i] = seq+1, ts
	c.got <- struct{}{}
	return nil
}

// Await waits for n more numbered frames, failing on an error from errs
// (the player's) or after 10 s without one.
func (c *Checker) Await(t testing.TB, n int, errs <-chan error) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for range n {
		select {
		case <-c.got:
		case err := <-errs:
			t.Fatalf("player: %v", err)
		case <-deadline:
			t.Fatal("player got no media for 10 s")
		}
	}
}

// Got delivers one value per numbered frame received.
func (c *Checker) Got() <-chan struct{} { return c.got }
