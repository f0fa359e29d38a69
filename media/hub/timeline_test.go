package hub

import (
	"encoding/binary"
	"testing"
)

func TestTimeline(t *testing.T) {
	tests := []struct {
		name    string
		in, out []uint32
	}{
		{"smooth input is untouched", []uint32{0, 40, 80, 120}, []uint32{0, 40, 80, 120}},
		{"a stream may start late", []uint32{10680, 10720}, []uint32{10680, 10720}},
		{"audio a little before video is held, not moved", []uint32{1000, 1023, 1000, 1046, 1040}, []uint32{1000, 1023, 1023, 1046, 1046}},
		{"a reset continues just after", []uint32{5000, 5040, 0, 40, 80}, []uint32{5000, 5040, 5050, 5090, 5130}},
		{"a wild jump continues just after", []uint32{100, 140, 3_600_000, 3_600_040}, []uint32{100, 140, 150, 190}},
		{"a low frame rate is real time", []uint32{0, 1000, 2000, 6000}, []uint32{0, 1000, 2000, 6000}},
		{"the 32-bit wrap is no discontinuity", []uint32{1<<32 - 40, 1<<32 - 1, 20, 60}, []uint32{1<<32 - 40, 1<<32 - 1, 20, 60}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tl timeline
			for i, in := range tt.in {
				if got := tl.media(in); got != tt.out[i] {
					t.Fatalf("message %d: %d became %d, want %d", i, in, got, tt.out[i])
				}
			}
		})
	}
}

func TestTimelineDataAndRepublish(t *testing.T) {
	var tl timeline
	if got := tl.data(0); got != 0 {
		t.Fatalf("metadata before any media: %d", got)
	}
	tl.media(2000)
	tl.media(2040)
	if got := tl.data(0); got != 2040 {
		t.Fatalf("a sequence header stamped 0 mid-stream went out at %d, want 2040", got)
	}
	tl.publisherChanged()
	if got := tl.data(0); got != 2040 {
		t.Fatalf("new publisher's metadata at %d, want 2040", got)
	}
	if got := tl.media(0); got != 2050 {
		t.Fatalf("new publisher's first frame at %d, want 2050", got)
	}
	if got := tl.media(40); got != 2090 {
		t.Fatalf("new publisher's second frame at %d, want 2090", got)
	}
}

// FuzzTimeline: any sequence of timestamps in, a monotonic timeline out
// (modulo 2^32) whose steps are bounded and which follows the input at a
// constant offset, give or take maxBackStep, between discontinuities.
func FuzzTimeline(f *testing.F) {
	seed := func(ts ...uint32) []byte {
		var b []byte
		for i, v := range ts {
			b = append(b, byte(i))
			b = binary.BigEndian.AppendUint32(b, v)
		}
		return b
	}
	f.Add(seed(0, 40, 80, 0, 40, 1<<32-1, 5, 100000, 99990))
	f.Add(seed(1<<31, 0, 1<<31, 0))
	f.Add(seed(500, 250, 0, 4294967000))
	f.Fuzz(func(t *testing.T, b []byte) {
		var tl timeline
		var prev uint32
		for i := 0; i+5 <= len(b); i += 5 {
			in := binary.BigEndian.Uint32(b[i+1:])
			resets, offset, started := tl.resets, tl.offset, tl.started
			var out uint32
			switch b[i] % 8 {
			case 0:
				out = tl.data(in)
			case 1:
				tl.publisherChanged()
				out = tl.media(in)
			default:
				out = tl.media(in)
			}
			if started {
				if step := int32(out - prev); step < 0 || step > maxForwardJump {
					t.Fatalf("step %d: %d -> %d", i/5, prev, out)
				}
			}
			if b[i]%8 > 1 && started && tl.resets == resets {
				if drift := int32(out - (in + offset)); drift < 0 || drift > maxBackStep {
					t.Fatalf("step %d: %d out for %d in at offset %d: drift %d", i/5, out, in, offset, drift)
				}
			}
			prev = out
		}
	})
}
