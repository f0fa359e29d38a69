package hub

import (
	"context"
	"testing"
	"time"

	"streamedge/media/flv"
)

// gop writes one keyframe and frames-1 inter frames 40 ms apart, with audio.
func gop(p pub, ts uint32, frames int) uint32 {
	for i := range frames {
		frame := inter
		if i == 0 {
			frame = keyframe
		}
		p.write(flv.TagVideo, ts, frame)
		p.write(flv.TagAudio, ts, audio)
		ts += 40
	}
	return ts
}

func checkMonotonic(t *testing.T, msgs []*Msg) {
	t.Helper()
	for i := 1; i < len(msgs); i++ {
		if after(msgs[i-1].Timestamp, msgs[i].Timestamp) {
			t.Fatalf("message %d: time went back from %d to %d", i, msgs[i-1].Timestamp, msgs[i].Timestamp)
		}
	}
}

// A player that was pausing its merged write while a publisher sent 14 s of
// media at once is not slow: it gets all of it, in order, with no skip.
func TestBurstIsNotASlowPlayer(t *testing.T) {
	h := newTestHub(DefaultOptions())
	key := Key{DefaultVhost, "live", "s"}
	p, _ := h.Publish(key)
	sub, _ := h.Subscribe(key, true)
	pw := pub{t, p}
	ts := publishGOPs(pw, 0, 1)
	first := fetchAll(t, sub)
	for range 7 { // 14 s in 2 s GOPs, arriving while the player sleeps
		ts = gop(pw, ts, 50)
	}
	var got []*Msg
	for round := 0; ; round++ {
		batch, _, err := sub.Fetch(nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(batch) == 0 {
			break
		}
		got = append(got, batch...)
		if round < 5 {
			ts = gop(pw, ts, 2) // the burst goes on, slower than the player drains
		}
	}
	if sub.Skipped.Load() != 0 {
		t.Fatalf("a healthy player was skipped %d times in a burst", sub.Skipped.Load())
	}
	if want := 7*100 + 5*4; len(got) != want {
		t.Fatalf("player got %d messages after the burst, want every one (%d)", len(got), want)
	}
	checkMonotonic(t, append(first, got...))
}

// The skip rule: more than queue_length behind is not enough; the backlog
// must also have grown across the player's last write.
func TestSkipOnlyWhenTheBacklogGrows(t *testing.T) {
	for _, tt := range []struct {
		name      string
		arriving  int // frames published between the two fetches
		relay     bool
		wantSkips uint64
	}{
		{"draining player", 20, false, 0},
		{"player slower than the stream", 300, false, 1},
		{"relay slower than the stream", 300, true, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opts := DefaultOptions()
			opts.QueueLength = 2 * time.Second
			h := newTestHub(opts)
			key := Key{DefaultVhost, "live", "s"}
			p, _ := h.Publish(key)
			pw := pub{t, p}
			sub, _ := h.Subscribe(key, true)
			if tt.relay {
				sub, _ = h.SubscribeRelay(key)
			}
			ts := publishGOPs(pw, 0, 1)
			fetchAll(t, sub)
			// One long GOP, so the GOP cache keeps everything: 12 s behind.
			ts = gop(pw, ts, 300)
			if _, _, err := sub.Fetch(nil); err != nil { // 256 of 600
				t.Fatal(err)
			}
			for range tt.arriving { // the same GOP goes on
				pw.write(flv.TagVideo, ts, inter)
				ts += 40
			}
			if _, _, err := sub.Fetch(nil); err != nil {
				t.Fatal(err)
			}
			if got := sub.Skipped.Load(); got != tt.wantSkips {
				t.Fatalf("skips %d, want %d", got, tt.wantSkips)
			}
		})
	}
}

// Timestamps that reset or wrap at 2^32 never make a player look behind,
// and players see one monotonic timeline.
func TestResetsAndWrapNeverSkip(t *testing.T) {
	opts := DefaultOptions()
	opts.QueueLength = time.Second
	h := newTestHub(opts)
	key := Key{DefaultVhost, "live", "s"}
	p, _ := h.Publish(key)
	pw := pub{t, p}
	sub, _ := h.Subscribe(key, true)
	var all []*Msg
	// Across the wrap, then back twice.
	for _, start := range []uint32{1<<32 - 200, 100, 0} {
		publishGOPs(pw, start, 4)
		all = append(all, fetchAll(t, sub)...)
	}
	if sub.Skipped.Load() != 0 {
		t.Fatalf("%d skips on timestamps that reset or wrap", sub.Skipped.Load())
	}
	checkMonotonic(t, all)
}

// Headers a player gets at its start or after a skip carry the time of the
// media that follows them, not the time they were first sent.
func TestResentHeadersTakeTheMediaTime(t *testing.T) {
	opts := DefaultOptions()
	opts.QueueLength = time.Second
	h := newTestHub(opts)
	key := Key{DefaultVhost, "live", "s"}
	p, _ := h.Publish(key)
	pw := pub{t, p}
	slow, _ := h.Subscribe(key, true)
	ts := publishGOPs(pw, 0, 1)
	fetchAll(t, slow)
	for range 5 {
		ts = gop(pw, ts, 25)
	}
	late, _ := h.Subscribe(key, true)
	for name, sub := range map[string]*Subscriber{"late joiner": late, "skipped player": slow} {
		got := fetchAll(t, sub)
		d := describe(got)
		if d[0] != "meta" || d[3] != "key" {
			t.Fatalf("%s got %v", name, d[:4])
		}
		for _, m := range got[:3] {
			if m.Timestamp != got[3].Timestamp {
				t.Fatalf("%s: header at %d before a keyframe at %d", name, m.Timestamp, got[3].Timestamp)
			}
		}
	}
	if slow.Skipped.Load() != 1 {
		t.Fatalf("slow player skipped %d times, want 1", slow.Skipped.Load())
	}
}

// A player starting on the GOP cache gets the headers that were in force at
// its keyframe, even when new ones came after (a file switch mid-GOP).
func TestGOPStartGetsItsOwnHeaders(t *testing.T) {
	h := newTestHub(DefaultOptions())
	key := Key{DefaultVhost, "live", "s"}
	p, _ := h.Publish(key)
	pw := pub{t, p}
	ts := publishGOPs(pw, 0, 1)
	newSeq := []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x28}
	pw.write(flv.TagVideo, 0, newSeq)
	pw.write(flv.TagVideo, ts, inter)
	sub, _ := h.Subscribe(key, true)
	got := fetchAll(t, sub)
	var seqs [][]byte
	for _, m := range got {
		if m.SeqHeader && m.Type == flv.TagVideo {
			seqs = append(seqs, m.Payload)
		}
	}
	if len(seqs) != 2 || string(seqs[0]) != string(avcSeq) || string(seqs[1]) != string(newSeq) {
		t.Fatalf("video sequence headers %x, want the old one first, then the new one where it came", seqs)
	}
	checkMonotonic(t, got)
}

func TestTracksFromMetadataOrMedia(t *testing.T) {
	audioOnlyMeta := []byte("\x02\x00\x0aonMetaData\x03\x00\x0caudiocodecid\x00\x40\x24\x00\x00\x00\x00\x00\x00\x00\x00\x09")
	for _, tt := range []struct {
		name         string
		publish      func(pub)
		audio, video bool
	}{
		{"metadata says audio only", func(p pub) { p.write(flv.TagScript, 0, audioOnlyMeta) }, true, false},
		{"no metadata, audio only", func(p pub) { p.write(flv.TagAudio, 0, aacSeq); p.write(flv.TagAudio, 0, audio) }, true, false},
		{"no metadata, video only", func(p pub) { p.write(flv.TagVideo, 0, avcSeq); p.write(flv.TagVideo, 0, keyframe) }, false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newTestHub(DefaultOptions())
			key := Key{DefaultVhost, "live", "s"}
			p, _ := h.Publish(key)
			sub, _ := h.Subscribe(key, true)
			sub.WaitForTracks()
			if batch, _, _ := sub.Fetch(nil); len(batch) != 0 {
				t.Fatalf("player waiting for the tracks got %v", describe(batch))
			}
			tt.publish(pub{t, p})
			if batch, _, _ := sub.Fetch(nil); len(batch) == 0 {
				t.Fatal("tracks known, yet the player got nothing")
			}
			if a, v := sub.Tracks(); a != tt.audio || v != tt.video {
				t.Fatalf("tracks audio=%v video=%v, want %v %v", a, v, tt.audio, tt.video)
			}
		})
	}
}

// Metadata reaches players without duration and filesize.
func TestLiveMetadata(t *testing.T) {
	h := newTestHub(DefaultOptions())
	key := Key{DefaultVhost, "live", "s"}
	p, _ := h.Publish(key)
	sub, _ := h.Subscribe(key, true)
	withDuration := []byte("\x02\x00\x0aonMetaData\x03\x00\x08duration\x00\x40\x5e\x00\x00\x00\x00\x00\x00\x00\x05width\x00\x40\x84\x00\x00\x00\x00\x00\x00\x00\x00\x09")
	pub{t, p}.write(flv.TagScript, 0, withDuration)
	got := fetchAll(t, sub)
	want := "\x02\x00\x0aonMetaData\x03\x00\x05width\x00\x40\x84\x00\x00\x00\x00\x00\x00\x00\x00\x09"
	if len(got) != 1 || string(got[0].Payload) != want {
		t.Fatalf("players got metadata %q, want %q", got[0].Payload, want)
	}
}

type recordWriter struct{ got chan []*Msg }

func (w recordWriter) WriteBatch(msgs []*Msg) error {
	w.got <- append([]*Msg(nil), msgs...)
	return nil
}

func TestPauseAndResume(t *testing.T) {
	opts := DefaultOptions()
	opts.MergedWrite = 0
	h := newTestHub(opts)
	key := Key{DefaultVhost, "live", "s"}
	p, _ := h.Publish(key)
	pw := pub{t, p}
	ts := publishGOPs(pw, 0, 1)
	sub, _ := h.Subscribe(key, true)
	w := recordWriter{make(chan []*Msg, 100)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sub.Run(ctx, w) }()
	defer func() { cancel(); <-done }()
	<-w.got // the start
	sub.Pause(true)
	// Whatever was fetched before the pause took hold may still come; then nothing.
	ts = gop(pw, ts, 10)
	drainUntilQuiet(w.got)
	ts = gop(pw, ts, 10)
	select {
	case b := <-w.got:
		t.Fatalf("a paused player got %v", describe(b))
	case err := <-done:
		t.Fatal(err)
	case <-time.After(50 * time.Millisecond): // proving an absence: a bounded look is all there is
	}
	sub.Pause(false)
	b := <-w.got
	if d := describe(b); d[0] != "meta" || d[3] != "key" {
		t.Fatalf("resumed player started with %v, want headers and the GOP", d)
	}
	gop(pw, ts, 1)
	if sub.Skipped.Load() != 0 {
		t.Fatal("a pause counted as a skip")
	}
}

func drainUntilQuiet(c chan []*Msg) {
	for {
		select {
		case <-c:
		case <-time.After(20 * time.Millisecond):
			return
		}
	}
}
