package transcode

import (
	"encoding/binary"
	"testing"
)

// opusToAAC feeds the clock 20 ms Opus packets (960 samples at 48 kHz)
// presented at ins and takes 1024-sample AAC frames out as an encoder with
// one frame of lookahead would: a frame once two are queued. It returns
// the frames' times, checking as it goes that they are on the sample grid.
func opusToAAC(t *testing.T, c *clock, ins []int64) []int64 {
	t.Helper()
	var out []int64
	for _, ms := range ins {
		c.input(ms, 960)
		for c.fed-c.pos >= 2*1024 {
			out = append(out, c.output(1024))
			if grid := c.pos - 1024 + c.gap; grid%1024 != 0 {
				t.Fatalf("frame %d at grid sample %d: off the 1024-sample grid", len(out)-1, grid)
			}
		}
	}
	return out
}

// every20 is n input times from start, 20 ms apart.
func every20(start int64, n int) []int64 {
	ins := make([]int64, n)
	for i := range ins {
		ins[i] = start + int64(i)*20
	}
	return ins
}

func without(ins []int64, from, to int) []int64 {
	return append(append([]int64(nil), ins[:from]...), ins[to:]...)
}

func TestClock(t *testing.T) {
	steady := every20(1000, 100)
	jitter := every20(1000, 100)
	for i := range jitter {
		jitter[i] += int64(i%5-2) * 12 // up to 24 ms early or late
	}
	reorder := every20(1000, 100)
	reorder[10], reorder[11] = reorder[11], reorder[10]
	jumpBack := append(every20(5000, 30), every20(100, 70)...)
	flvWrap := append(every20(1<<32-600, 30), every20(0, 70)...)
	tests := []struct {
		name string
		ins  []int64
		gap  int64 // frames of gap the output should have
		back bool  // the input went back: the output goes on as if it had not
		same bool  // the frames are at exactly the steady stream's times
	}{
		{"steady", steady, 0, false, true},
		{"jitter is not followed", jitter, 0, false, true},
		{"a reordered pair is not followed", reorder, 0, false, true},
		{"one lost packet is within the drift", without(steady, 40, 41), 0, false, false},
		// 60 ms (plus the 1 ms the 960-sample packet overlaps the
		// frame grid) is two whole 21.3 ms frames: 18 ms is left over.
		{"three lost packets leave a gap of two frames", without(steady, 40, 43), 2, false, false},
		{"a long gap is whole frames", append(every20(1000, 50), every20(6000, 50)...), 4000 * 48 / 1024, false, false},
		{"a jump back goes on", jumpBack, 0, true, true},
		{"the 32-bit FLV ms wrap goes on", flvWrap, 0, true, false},
	}
	var want []int64
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := clock{rate: 48000}
			out := opusToAAC(t, &c, tt.ins)
			if tt.name == "steady" {
				want = out
			}
			for i := 1; i < len(out); i++ {
				if d := out[i] - out[i-1]; d < 21 {
					t.Fatalf("frame %d is %d ms after the one before: frames overlap", i, d)
				}
			}
			if c.gap != tt.gap*1024 {
				t.Fatalf("a gap of %d samples, want %d frames", c.gap, tt.gap)
			}
			if (c.skew != 0) != tt.back {
				t.Fatalf("input re-anchored by %d ms", c.skew)
			}
			if tt.same {
				for i := range out {
					if out[i]-out[0] != want[i]-want[0] {
						t.Fatalf("frame %d at %d ms, the steady stream's at %d", i, out[i]-out[0], want[i]-want[0])
					}
				}
			}
		})
	}
}

// TestClockLongStream: an hour of 1024-sample AAC frames at 44.1 kHz. The
// sample count keeps the clock exact where adding a rounded 23 ms per
// frame would be 79 s off.
func TestClockLongStream(t *testing.T) {
	c := clock{rate: 44100}
	frames := int64(3600 * 44100 / 1024)
	for i := int64(0); i < frames; i++ {
		c.input(i*1024*1000/44100, 1024)
		c.output(1024)
	}
	if got, want := c.ms(c.pos+c.gap), frames*1024*1000/44100; got != want || c.gap != 0 || c.skew != 0 {
		t.Fatalf("after an hour: %d ms, want %d (gap %d, skew %d)", got, want, c.gap, c.skew)
	}
	if len(c.anchors) > 2 {
		t.Fatalf("%d anchors kept", len(c.anchors))
	}
}

// FuzzClock: any input times and packet sizes in, output times that never
// go back, packets that never overlap, and a grid of whole frames.
func FuzzClock(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 3, 0xc0, 0, 0, 0, 20, 3, 0xc0, 0xff, 0xff, 0xff, 0, 3, 0xc0})
	f.Fuzz(func(t *testing.T, b []byte) {
		c := clock{rate: 48000}
		last := int64(-1 << 62)
		for i := 0; i+6 <= len(b); i += 6 {
			ms := int64(int32(binary.BigEndian.Uint32(b[i:])))
			n := int(binary.BigEndian.Uint16(b[i+4:]) % 4096)
			c.input(ms, n)
			for c.fed-c.pos >= 1024 {
				got := c.output(1024)
				if got < last+21 {
					t.Fatalf("a frame at %d ms after one at %d", got, last)
				}
				if (c.pos-1024+c.gap)%1024 != 0 {
					t.Fatalf("off the grid: position %d, gap %d", c.pos, c.gap)
				}
				last = got
			}
		}
	})
}
