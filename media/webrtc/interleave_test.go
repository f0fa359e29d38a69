package webrtc

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"streamedge/media/flv"
)

func TestInterleaveOrdersTracksByTimestamp(t *testing.T) {
	// Messages come at their media time (a real-time publisher) unless
	// wall says when, in ms.
	type in struct {
		video bool
		ts    uint32
		wall  int64
	}
	v := func(ts uint32) in { return in{true, ts, -1} }
	a := func(ts uint32) in { return in{false, ts, -1} }
	at := func(p in, wall int64) in { p.wall = wall; return p }
	tests := []struct {
		name string
		puts []in
		want []string // what was written, in order
	}{
		{"AAC 40 ms behind the video goes out between it",
			[]in{v(0), v(33), v(66), a(0), a(21), a(42), v(100), a(64), a(85), a(106)},
			[]string{"a0", "v0", "a21", "v33", "a42", "a64", "v66", "a85", "v100"}},
		{"equal timestamps: audio first, each track in its own order",
			[]in{v(10), v(10), a(10), a(10)},
			[]string{"a10", "a10"}},
		{"before the other track's first message a track waits up to maxStartMS",
			[]in{v(0), v(500), v(1000), v(1001)},
			[]string{"v0"}},
		{"a silent audio track, once seen, holds video for maxHoldMS at most",
			[]in{a(0), v(0), v(100), v(200), v(300), v(301)},
			[]string{"a0", "v0"}},
		{"a silent video track holds audio the same",
			[]in{v(0), a(0), a(150), a(320), a(460)},
			[]string{"a0", "v0", "a150"}},
		{"audio behind video already written is dropped, not overlapped",
			[]in{a(0), v(0), v(100), v(200), v(300), v(301), v(401), a(50), a(250)},
			[]string{"a0", "v0", "v100", "v200", "a250"}},
		{"a 4x publisher's video waits 300 ms of wall time for late AAC, not 75",
			[]in{at(a(0), 0), at(v(0), 0), at(v(400), 100), at(v(800), 200), at(a(21), 250), at(v(1200), 300), at(a(400), 301), at(v(1600), 400), at(v(2000), 401)},
			[]string{"a0", "v0", "a21", "a400", "v400"}},
		{"timestamps across the 32-bit wrap",
			[]in{v(1<<32 - 20), v(13), a(1<<32 - 30), a(1<<32 - 9), a(12), a(33)},
			[]string{"a4294967266", "v4294967276", "a4294967287", "a12", "v13"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			var wall time.Time
			il := &interleave{write: func(typeID uint8, ts uint32, body []byte) error {
				got = append(got, fmt.Sprintf("%c%d", map[uint8]rune{flv.TagAudio: 'a', flv.TagVideo: 'v'}[typeID], ts))
				return nil
			}, now: func() time.Time { return wall }}
			for _, p := range tt.puts {
				if wall = time.UnixMilli(int64(int32(p.ts))); p.wall >= 0 {
					wall = time.UnixMilli(p.wall)
				}
				typ := uint8(flv.TagAudio)
				if p.video {
					typ = flv.TagVideo
				}
				if err := il.put(typ, p.ts, nil); err != nil {
					t.Fatal(err)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("wrote %v, want %v", got, tt.want)
			}
		})
	}
}

// A clock that jumps back never compares as caught up; what waits is
// bounded all the same, and written in its track's order.
func TestInterleaveBoundsWhatWaits(t *testing.T) {
	var wrote []uint32
	il := &interleave{write: func(_ uint8, ts uint32, _ []byte) error { wrote = append(wrote, ts); return nil }}
	for i := range 3 * maxHeld {
		if err := il.put(flv.TagVideo, uint32(1000-i%2*900), nil); err != nil {
			t.Fatal(err)
		}
	}
	if held := len(il.q[1]); held > maxHeld {
		t.Fatalf("%d messages wait, want at most %d", held, maxHeld)
	}
	if len(wrote) < 2*maxHeld-1 {
		t.Fatalf("wrote %d of %d", len(wrote), 3*maxHeld)
	}
}

func TestInterleaveReturnsTheWriteError(t *testing.T) {
	closed := errors.New("closed")
	il := &interleave{write: func(uint8, uint32, []byte) error { return closed }}
	il.put(flv.TagVideo, 40, nil)
	if err := il.put(flv.TagAudio, 0, nil); !errors.Is(err, closed) {
		t.Fatalf("put: %v, want the write's error", err)
	}
}
