package hub

import (
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"streamedge/media/flv"
)

var (
	avcSeq   = []byte{0x17, 0, 0, 0, 0, 1, 0x42, 0, 0x1e}
	aacSeq   = []byte{0xaf, 0, 0x12, 0x10}
	keyframe = []byte{0x17, 1, 0, 0, 0, 0xaa}
	inter    = []byte{0x27, 1, 0, 0, 0, 0xbb}
	audio    = []byte{0xaf, 1, 0xcc}
	metadata = []byte("\x02\x00\x0aonMetaData\x03\x00\x00\x09")
)

func newTestHub(opts Options) *Hub {
	return New(opts, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

type pub struct {
	t *testing.T
	p *Publisher
}

func (p pub) write(typ uint8, ts uint32, b []byte) {
	p.t.Helper()
	if err := p.p.Write(typ, ts, b); err != nil {
		p.t.Fatal(err)
	}
}

// publishGOPs writes headers and n GOPs of one keyframe and three inter
// frames, 40 ms apart, with audio in between.
func publishGOPs(p pub, start uint32, n int) uint32 {
	p.write(flv.TagScript, start, metadata)
	p.write(flv.TagVideo, start, avcSeq)
	p.write(flv.TagAudio, start, aacSeq)
	ts := start
	for range n {
		for i := range 4 {
			frame := inter
			if i == 0 {
				frame = keyframe
			}
			p.write(flv.TagVideo, ts, frame)
			p.write(flv.TagAudio, ts, audio)
			ts += 40
		}
	}
	return ts
}

// fetchAll drains what a subscriber can have now.
func fetchAll(t *testing.T, sub *Subscriber) []*Msg {
	t.Helper()
	var all []*Msg
	for {
		batch, _, err := sub.Fetch(nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(batch) == 0 {
			return all
		}
		all = append(all, batch...)
	}
}

func describe(msgs []*Msg) []string {
	var out []string
	for _, m := range msgs {
		switch {
		case m.Type == flv.TagScript:
			out = append(out, "meta")
		case m.SeqHeader && m.Type == flv.TagVideo:
			out = append(out, "vseq")
		case m.SeqHeader:
			out = append(out, "aseq")
		case m.Keyframe:
			out = append(out, "key")
		case m.Type == flv.TagVideo:
			out = append(out, "inter")
		default:
			out = append(out, "audio")
		}
	}
	return out
}

func TestLateJoinerStartsOnKeyframe(t *testing.T) {
	tests := []struct {
		name     string
		gopCache bool
		want     []string
	}{
		{"gop cache", true, []string{"meta", "vseq", "aseq", "key", "audio", "inter", "audio", "inter", "audio", "inter", "audio"}},
		{"no gop cache", false, []string{"meta", "vseq", "aseq"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := DefaultOptions()
			opts.GOPCache = tt.gopCache
			h := newTestHub(opts)
			key := Key{DefaultVhost, "live", "s"}
			p, err := h.Publish(key)
			if err != nil {
				t.Fatal(err)
			}
			publishGOPs(pub{t, p}, 0, 3)
			sub, err := h.Subscribe(key, true)
			if err != nil {
				t.Fatal(err)
			}
			got := describe(fetchAll(t, sub))
			if len(got) != len(tt.want) {
				t.Fatalf("late joiner got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("late joiner got %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestDuplicatePublishAndNotPublished(t *testing.T) {
	h := newTestHub(DefaultOptions())
	key := Key{DefaultVhost, "live", "s"}
	if _, err := h.Subscribe(key, true); !errors.Is(err, ErrNotPublished) {
		t.Fatalf("subscribe to nothing: %v", err)
	}
	p, err := h.Publish(key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Publish(key); !errors.Is(err, ErrStreamBusy) {
		t.Fatalf("second publish: %v, want ErrStreamBusy", err)
	}
	p.Close()
	if _, err := h.Publish(key); err != nil {
		t.Fatalf("publish after the first left: %v", err)
	}
}

// TestRenditionNamesAreReserved: a client cannot publish NAME@rtc; the
// server's own rendition can, and only under such a name.
func TestRenditionNamesAreReserved(t *testing.T) {
	h := newTestHub(DefaultOptions())
	rtc := Key{DefaultVhost, "live", "s" + RenditionSuffix}
	if _, err := h.Publish(rtc); !errors.Is(err, ErrReservedName) {
		t.Fatalf("a client's publish of %s: %v, want ErrReservedName", rtc, err)
	}
	if _, err := h.Subscribe(rtc, true); !errors.Is(err, ErrNotPublished) {
		t.Fatalf("the refused publish left a stream: %v", err)
	}
	if _, err := h.PublishRendition(Key{DefaultVhost, "live", "s"}); err == nil {
		t.Fatal("a rendition published under a plain name")
	}
	p, err := h.PublishRendition(rtc)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := h.PublishRendition(rtc); !errors.Is(err, ErrStreamBusy) {
		t.Fatalf("a second rendition publisher: %v, want ErrStreamBusy", err)
	}
}

func TestRepublishKeepsPlayersAndTime(t *testing.T) {
	h := newTestHub(DefaultOptions())
	key := Key{DefaultVhost, "live", "s"}
	p1, _ := h.Publish(key)
	sub, _ := h.Subscribe(key, true)
	publishGOPs(pub{t, p1}, 5000, 2)
	first := fetchAll(t, sub)
	p1.Close()
	p2, err := h.Publish(key)
	if err != nil {
		t.Fatal(err)
	}
	publishGOPs(pub{t, p2}, 0, 1) // a new encoder starts its clock at zero
	second := fetchAll(t, sub)
	if got := describe(second)[:3]; got[0] != "meta" || got[1] != "vseq" || got[2] != "aseq" {
		t.Fatalf("after republish the player got %v first, want the new headers", got)
	}
	last := first[len(first)-1].Timestamp
	for _, m := range second {
		if m.Timestamp < last {
			t.Fatalf("timestamp went back from %d to %d after republish", last, m.Timestamp)
		}
		last = m.Timestamp
	}
	sub.Close()
	p2.Close()
	if n := len(h.Streams()); n != 0 {
		t.Fatalf("%d streams left after everyone left", n)
	}
}

func TestSlowPlayerSkipsThenIsDropped(t *testing.T) {
	opts := DefaultOptions()
	opts.QueueLength = time.Second
	opts.MaxSkips = 2
	h := newTestHub(opts)
	key := Key{DefaultVhost, "live", "s"}
	p, _ := h.Publish(key)
	sub, _ := h.Subscribe(key, true)
	ts := publishGOPs(pub{t, p}, 0, 1)
	fetchAll(t, sub)
	for skip := 1; skip <= opts.MaxSkips+1; skip++ {
		// Two seconds of media arrive while the player reads nothing.
		for range 12 {
			pub{t, p}.write(flv.TagVideo, ts, keyframe)
			ts += 40
			for range 4 {
				pub{t, p}.write(flv.TagVideo, ts, inter)
				ts += 40
			}
		}
		batch, _, err := sub.Fetch(nil)
		if skip > opts.MaxSkips {
			if !errors.Is(err, ErrSlowPlayer) {
				t.Fatalf("after %d skips: %v, want ErrSlowPlayer", skip, err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if d := describe(batch); d[0] != "meta" || d[3] != "key" {
			t.Fatalf("skip %d: player resumed with %v, want headers then a keyframe", skip, d[:4])
		}
		if sub.Skipped.Load() != uint64(skip) {
			t.Fatalf("skips counted %d, want %d", sub.Skipped.Load(), skip)
		}
	}
}

func TestWindowIsBounded(t *testing.T) {
	opts := DefaultOptions()
	opts.QueueLength = time.Second
	opts.GOPCacheMaxFrames = 100
	h := newTestHub(opts)
	key := Key{DefaultVhost, "live", "s"}
	p, _ := h.Publish(key)
	pw := pub{t, p}
	pw.write(flv.TagVideo, 0, keyframe)
	// One endless GOP: the GOP cache gives up past its frame limit and the
	// window keeps only queue_length of media.
	for i := range 5000 {
		pw.write(flv.TagVideo, uint32(i*40), inter)
	}
	s := p.Stream()
	if n := s.win.len(); n > 30 {
		t.Fatalf("window holds %d messages, want about one second (25)", n)
	}
	// Frozen timestamps: the hard cap holds.
	for range maxWindow + 10 {
		pw.write(flv.TagVideo, 1, inter)
	}
	if n := s.win.len(); n > maxWindow {
		t.Fatalf("window holds %d messages, cap is %d", n, maxWindow)
	}
}
