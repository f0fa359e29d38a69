package handoff

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"streamedge/media/hub"
)

// recorder is a player's writer: it filters through the Tail, as the
// protocol servers do, and keeps what it would have written.
type recorder struct {
	tail *Tail
	s    *hub.Stream
	msgs []*hub.Msg
}

func (r *recorder) WriteBatch(msgs []*hub.Msg) error {
	kept, _ := r.tail.Admit(r.s, msgs)
	r.msgs = append(r.msgs, kept...)
	r.tail.Wrote(kept)
	return nil
}

// An adopted player resumes right after its marks, not at the cached GOP,
// even long after the metadata (whose mark is as old as the stream) left
// the window.
func TestAdoptedPlayerResumesAfterItsMarks(t *testing.T) {
	opts := hub.DefaultOptions()
	opts.QueueLength = 2 * time.Second
	h := hub.New(opts, slog.New(slog.NewTextHandler(io.Discard, nil)))
	key := hub.Key{Vhost: hub.DefaultVhost, App: "live", Name: "s"}
	p, _ := h.Publish(key)
	p.Write(tagScript, 0, []byte("\x02\x00\x0aonMetaData\x05"))
	p.Write(tagVideo, 0, []byte{0x17, 0, 0, 0, 0})
	var pos Position
	pos.Wrote(tagScript, 0)
	for i := range uint32(501) { // 20 s of video, a keyframe every 10 frames
		b := []byte{0x27, 1, 0, 0, 0, byte(i)}
		if i%10 == 0 {
			b[0] = 0x17
		}
		p.Write(tagVideo, i*40, b)
		if i == 498 {
			pos.Wrote(tagVideo, i*40) // the sender stopped after frame 498, a keyframe (500) came since
		}
	}
	sub, err := h.Subscribe(key, true)
	if err != nil {
		t.Fatal(err)
	}
	tail := AdoptedTail(&State{Last: pos.Last})
	w := recorder{tail: &tail, s: sub.Stream()}
	if err := CatchUp(sub, &tail, &w); err != nil {
		t.Fatal(err)
	}
	if len(w.msgs) == 0 || w.msgs[0].Timestamp != 499*40 {
		t.Fatalf("resumed with %d messages, the first at %d; want frame 499 (ts %d)", len(w.msgs), w.msgs[0].Timestamp, 499*40)
	}
}

// A player adopted on a worker whose relay of the stream is only starting,
// on a stream whose timeline ran before (so the relay's offset is not 0),
// gets the relay's headers before its first media: its shift waits for
// that media, and the client's time goes on from the host's.
func TestAdoptedPlayerShiftWaitsForTheRelaysMedia(t *testing.T) {
	h := hub.New(hub.DefaultOptions(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	key := hub.Key{Vhost: hub.DefaultVhost, App: "live", Name: "s"}
	first, _ := h.PublishRelay(key)
	for i := range uint32(25) {
		first.Write(tagVideo, i*40, []byte{0x27, 1, 0, 0, 0})
	}
	keep, _ := h.Subscribe(key, false) // holds the stream, and its timeline, across relays
	defer keep.Close()
	first.Close()
	sub, err := h.Subscribe(key, false)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	const host = 50000 // the owner's time, which the relay's input is
	var pos Position
	pos.Wrote(tagVideo, host-40) // the client had the host's frame before
	tail := AdoptedTail(&State{Last: pos.Last})
	w := recorder{tail: &tail, s: sub.Stream()}
	if err := CatchUp(sub, &tail, &w); err != nil {
		t.Fatal(err)
	}
	relay, _ := h.PublishRelay(key)
	relay.Write(tagScript, host, []byte("\x02\x00\x0aonMetaData\x05"))
	relay.Write(tagVideo, host, []byte{0x17, 0, 0, 0, 0})
	fetch := func() {
		batch, _, err := sub.Fetch(nil)
		if err != nil {
			t.Fatal(err)
		}
		w.WriteBatch(batch)
	}
	fetch() // the headers only: no media yet to fix the offset by
	relay.Write(tagVideo, host, []byte{0x17, 1, 0, 0, 0})
	fetch()
	var video []uint32
	for _, m := range w.msgs {
		if m.Type == tagVideo {
			video = append(video, m.Timestamp+tail.Shift)
		}
	}
	// The header takes the relay's last output time, just before the media
	// that follows (see hub's timeline): after the client's mark, at most
	// the keyframe's time.
	if len(video) != 2 || video[1] != host || video[0] <= host-40 || video[0] > host {
		t.Fatalf("the client got video at %v (its time), want the sequence header in (%d, %d] and the keyframe at %d", video, host-40, host, host)
	}
}

// A receiver that starts the client on its cached GOP sends the sequence
// header stamped at the keyframe's time. When the client's last frame was
// that keyframe, the header must not take the keyframe's place in the
// filter: the client gets neither again, and the next frame is the first.
func TestHeaderAtTheMarkDoesNotLetTheFrameThrough(t *testing.T) {
	var pos Position
	tail := Tail{}
	tail.Wrote([]*hub.Msg{hub.NewMsg(tagVideo, 960, []byte{0x27, 1, 0, 0, 0}), hub.NewMsg(tagVideo, 1000, []byte{0x17, 1, 0, 0, 0})})
	pos = tail.Pos
	adopted := AdoptedTail(&State{Last: pos.Last})
	adopted.shiftUnset = false
	batch := []*hub.Msg{
		hub.NewMsg(tagVideo, 1000, []byte{0x17, 0, 0, 0, 0}), // the GOP start's header
		hub.NewMsg(tagVideo, 1000, []byte{0x17, 1, 0, 0, 0}), // the keyframe the client has
		hub.NewMsg(tagVideo, 1040, []byte{0x27, 1, 0, 0, 0}),
	}
	kept, _ := adopted.Admit(nil, batch)
	if len(kept) != 1 || kept[0].Timestamp != 1040 {
		var got []uint32
		for _, m := range kept {
			got = append(got, m.Timestamp)
		}
		t.Fatalf("kept frames at %v, want only the one at 1040", got)
	}
}
