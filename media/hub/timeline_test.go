package hub

import (
	"encoding/binary"
	"strconv"
	"testing"
)

func TestTimeline(t *testing.T) {
	// Messages are "v1000" (video at 1000) or "a1000" (audio).
	tests := []struct {
		name    string
		in, out []string
	}{
		{"smooth input is untouched", []string{"v0", "v40", "v80", "v120"}, []string{"v0", "v40", "v80", "v120"}},
		{"a stream may start late", []string{"v10680", "v10720"}, []string{"v10680", "v10720"}},
		{"audio a little behind video keeps its own time",
			[]string{"v1000", "a980", "a1001", "v1040", "a1022", "a1043", "v1080"},
			[]string{"v1000", "a980", "a1001", "v1040", "a1022", "a1043", "v1080"}},
		{"a step back within a track is held",
			[]string{"a1000", "a1023", "a1000", "v1030", "a1046", "v1020"},
			[]string{"a1000", "a1023", "a1023", "v1030", "a1046", "v1030"}},
		{"a reset continues just after", []string{"v5000", "v5040", "v0", "v40", "v80"}, []string{"v5000", "v5040", "v5050", "v5090", "v5130"}},
		{"a reset of both tracks keeps each monotonic",
			[]string{"v5000", "a4990", "v5040", "a5011", "v0", "a-20", "a1", "v40", "a22"},
			[]string{"v5000", "a4990", "v5040", "a5011", "v5050", "a5030", "a5051", "v5090", "a5072"}},
		{"a wild jump continues just after", []string{"v100", "v140", "v3600000", "v3600040"}, []string{"v100", "v140", "v150", "v190"}},
		{"a low frame rate is real time", []string{"v0", "v1000", "v2000", "v6000"}, []string{"v0", "v1000", "v2000", "v6000"}},
		{"the 32-bit wrap is no discontinuity",
			[]string{"v-40", "a-30", "v-1", "a-9", "v20", "a12", "v60"},
			[]string{"v-40", "a-30", "v-1", "a-9", "v20", "a12", "v60"}},
	}
	parse := func(m string) (bool, uint32) {
		n, err := strconv.ParseInt(m[1:], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return m[0] == 'v', uint32(n)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tl timeline
			for i, m := range tt.in {
				video, in := parse(m)
				if _, want := parse(tt.out[i]); tl.media(video, in) != want {
					t.Fatalf("message %d: %s became %d, want %s", i, m, tl.last[btoi(video)], tt.out[i])
				}
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestTimelineDataAndRepublish(t *testing.T) {
	var tl timeline
	if got := tl.data(0); got != 0 {
		t.Fatalf("metadata before any media: %d", got)
	}
	tl.media(true, 2000)
	tl.media(true, 2040)
	if got := tl.data(0); got != 2040 {
		t.Fatalf("a sequence header stamped 0 mid-stream went out at %d, want 2040", got)
	}
	tl.publisherChanged()
	if got := tl.data(0); got != 2040 {
		t.Fatalf("new publisher's metadata at %d, want 2040", got)
	}
	if got := tl.media(true, 0); got != 2050 {
		t.Fatalf("new publisher's first frame at %d, want 2050", got)
	}
	if got := tl.media(true, 40); got != 2090 {
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
	f.Add([]byte{2, 0, 0, 19, 136, 10, 0, 0, 19, 126, 2, 0, 0, 0, 0, 10, 255, 255, 255, 236})
	f.Fuzz(func(t *testing.T, b []byte) {
		var tl timeline
		var prev [2]uint32
		var seen [2]bool
		for i := 0; i+5 <= len(b); i += 5 {
			in := binary.BigEndian.Uint32(b[i+1:])
			video := b[i]&8 != 0
			tr := btoi(video)
			resets, offset, started, newest := tl.resets, tl.offset, tl.started, tl.out
			var out uint32
			switch b[i] % 8 {
			case 0:
				if out = tl.data(in); started && out != tl.out {
					t.Fatalf("step %d: data at %d, the newest is %d", i/5, out, tl.out)
				}
				continue
			case 1:
				tl.publisherChanged()
				out = tl.media(video, in)
			default:
				out = tl.media(video, in)
			}
			if seen[tr] {
				if step := int32(out - prev[tr]); step < 0 {
					t.Fatalf("step %d: track %d went back %d -> %d", i/5, tr, prev[tr], out)
				}
			}
			if started {
				if step := int32(tl.out - newest); step < 0 || step > maxForwardJump {
					t.Fatalf("step %d: the newest went %d -> %d", i/5, newest, tl.out)
				}
			}
			if behind := int32(tl.out - out); behind < 0 || behind > maxBackStep {
				t.Fatalf("step %d: %d out, %d behind the newest", i/5, out, behind)
			}
			if b[i]%8 > 1 && started && tl.resets == resets {
				if drift := int32(out - (in + offset)); drift < 0 || drift > maxBackStep {
					t.Fatalf("step %d: %d out for %d in at offset %d: drift %d", i/5, out, in, offset, drift)
				}
			}
			prev[tr], seen[tr] = out, true
		}
	})
}
