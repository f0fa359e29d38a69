package hub

import (
	"bytes"
	"fmt"
	"testing"

	"streamedge/media/flv"
)

// stamps describes messages with their timestamps, "meta@0 vseq@1120 ...".
func stamps(msgs []*Msg) string {
	var b bytes.Buffer
	for i, d := range describe(msgs) {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s@%d", d, msgs[i].Timestamp)
	}
	return b.String()
}

// A new player's metadata is stamped 0, for ffmpeg's FLV demuxer, which
// otherwise makes a data stream of it; everything else keeps the hub's
// timeline, and only the first start of a player that asked for it.
func TestNewPlayerGetsMetadataAtZero(t *testing.T) {
	const start = 1000 // the publisher's clock, far from 0
	// publishGOPs(start, 3): keyframes at 1000, 1160, 1320; the last frame at 1440.
	tests := []struct {
		name     string
		gopCache bool
		atZero   bool // MetadataAtZero: HTTP-FLV and RTMP players, not relays
		resumed  bool // started again after a pause
		want     string
	}{
		{"new player on the GOP cache", true, true, false,
			"meta@0 vseq@1320 aseq@1320 key@1320 audio@1320"},
		{"new player without a GOP cache", false, true, false,
			"meta@0 vseq@1440 aseq@1440"},
		{"relay keeps the true time", true, false, false,
			"meta@1320 vseq@1320 aseq@1320 key@1320 audio@1320"},
		{"resumed player is mid-file", true, true, true,
			"meta@1320 vseq@1320 aseq@1320 key@1320 audio@1320"},
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
			publishGOPs(pub{t, p}, start, 3)
			sub, err := h.Subscribe(key, true)
			if err != nil {
				t.Fatal(err)
			}
			if tt.atZero {
				sub.MetadataAtZero()
			}
			got := fetchAll(t, sub)
			if tt.resumed {
				sub.primed = false // what waitResume and the writer loop do on a resume
				got = fetchAll(t, sub)
			}
			want := tt.want
			if tt.gopCache {
				want += " inter@1360 audio@1360 inter@1400 audio@1400 inter@1440 audio@1440"
			}
			if s := stamps(got); s != want {
				t.Fatalf("player got\n%s\nwant\n%s", s, want)
			}
		})
	}
}

// The cached GOP's headers hold the metadata in force at its keyframe; a
// new player gets that one at 0, and an update sent since in its place in
// the window, at its time.
func TestNewPlayerGetsTheGOPsMetadataAtZero(t *testing.T) {
	h := newTestHub(DefaultOptions())
	key := Key{DefaultVhost, "live", "s"}
	p, err := h.Publish(key)
	if err != nil {
		t.Fatal(err)
	}
	pw := pub{t, p}
	ts := publishGOPs(pw, 1000, 1)
	updated := []byte("\x02\x00\x0aonMetaData\x03\x00\x05width\x00\x40\x84\x00\x00\x00\x00\x00\x00\x00\x00\x09")
	pw.write(flv.TagScript, ts, updated)
	sub, err := h.Subscribe(key, true)
	if err != nil {
		t.Fatal(err)
	}
	sub.MetadataAtZero()
	got := fetchAll(t, sub)
	want := "meta@0 vseq@1000 aseq@1000 key@1000 audio@1000 inter@1040 audio@1040 inter@1080 audio@1080 inter@1120 audio@1120 meta@1120"
	if s := stamps(got); s != want {
		t.Fatalf("player got\n%s\nwant\n%s", s, want)
	}
	if !bytes.Equal(got[0].Payload, metadata) || !bytes.Equal(got[len(got)-1].Payload, updated) {
		t.Fatalf("metadata out of order: first %q, last %q", got[0].Payload, got[len(got)-1].Payload)
	}
}

// An RTMP player may join before the publisher (or the relay bringing the
// stream to its worker) sends anything: its metadata comes from the window,
// and is stamped 0 all the same.
func TestPlayerBeforePublisherGetsMetadataAtZero(t *testing.T) {
	h := newTestHub(DefaultOptions())
	key := Key{DefaultVhost, "live", "s"}
	sub, err := h.Subscribe(key, false)
	if err != nil {
		t.Fatal(err)
	}
	sub.MetadataAtZero()
	if got := fetchAll(t, sub); len(got) != 0 {
		t.Fatalf("player got %s before a publisher", stamps(got))
	}
	p, err := h.Publish(key)
	if err != nil {
		t.Fatal(err)
	}
	publishGOPs(pub{t, p}, 1000, 1)
	want := "meta@0 vseq@1000 aseq@1000 key@1000 audio@1000 inter@1040 audio@1040 inter@1080 audio@1080 inter@1120 audio@1120"
	if s := stamps(fetchAll(t, sub)); s != want {
		t.Fatalf("player got\n%s\nwant\n%s", s, want)
	}
}
