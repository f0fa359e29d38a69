package hosts

import (
	"fmt"
	"testing"
)

func names(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("__defaultVhost__/live/s%d", i)
	}
	return out
}

func TestRingSplitsNamesEvenlyOverEqualHosts(t *testing.T) {
	for _, tc := range []struct {
		hosts []string
		names int
		slack float64 // allowed deviation from an even share
	}{
		{[]string{"e1", "e2"}, 300, 0.10},
		{[]string{"edge-a.example", "edge-b.example"}, 300, 0.10},
		{[]string{"h1", "h2", "h3", "h4"}, 4000, 0.10},
		{[]string{"198.18.0.2", "198.18.0.3", "198.18.0.4"}, 3000, 0.10},
	} {
		r := NewRing(tc.hosts)
		count := make([]int, len(tc.hosts))
		load, full := make([]int, len(tc.hosts)), make([]bool, len(tc.hosts))
		for _, n := range names(tc.names) {
			h, ok := r.Choose(n, load, full, 1.25)
			if !ok {
				t.Fatalf("%v: no host for %s", tc.hosts, n)
			}
			count[h]++
		}
		even := float64(tc.names) / float64(len(tc.hosts))
		for i, c := range count {
			if dev := (float64(c) - even) / even; dev > tc.slack || dev < -tc.slack {
				t.Errorf("%v: host %s got %d of %d names (%.1f%% off an even share)", tc.hosts, r.IDs()[i], c, tc.names, 100*dev)
			}
		}
	}
}

func TestRingIsStableAcrossCallsAndBuilders(t *testing.T) {
	a := NewRing([]string{"e1", "e2", "e3"})
	b := NewRing([]string{"e3", "e1", "e2", "e1"}) // another master, another order
	zero, open := make([]int, 3), make([]bool, 3)
	for _, n := range names(500) {
		ha, _ := a.Choose(n, zero, open, 1.25)
		for range 3 {
			if again, _ := a.Choose(n, zero, open, 1.25); again != ha {
				t.Fatalf("%s: %d then %d", n, ha, again)
			}
		}
		if hb, _ := b.Choose(n, zero, open, 1.25); b.IDs()[hb] != a.IDs()[ha] {
			t.Fatalf("%s: %s on one ring, %s on the other", n, a.IDs()[ha], b.IDs()[hb])
		}
	}
}

func TestRingMovesOnlyTheDeadHostsNames(t *testing.T) {
	all := NewRing([]string{"e1", "e2", "e3"})
	less := NewRing([]string{"e1", "e3"})
	zero3, open3 := make([]int, 3), make([]bool, 3)
	zero2, open2 := make([]int, 2), make([]bool, 2)
	moved := 0
	for _, n := range names(600) {
		h3, _ := all.Choose(n, zero3, open3, 1.25)
		h2, _ := less.Choose(n, zero2, open2, 1.25)
		before, after := all.IDs()[h3], less.IDs()[h2]
		if before != "e2" && before != after {
			t.Fatalf("%s moved from %s to %s though %s is still there", n, before, after, before)
		}
		if before == "e2" {
			moved++
		}
	}
	if moved == 0 {
		t.Fatal("e2 had no names at all")
	}
}

func TestRingChoose(t *testing.T) {
	r := NewRing([]string{"e1", "e2"})
	// A key whose own host is e1 (index 0) and one whose own host is e2.
	var onE1, onE2 string
	for _, n := range names(100) {
		switch r.Order(n)[0] {
		case 0:
			onE1 = n
		case 1:
			onE2 = n
		}
	}
	for _, tc := range []struct {
		name   string
		key    string
		load   []int
		full   []bool
		c      float64
		want   string // "" = none
		reason string
	}{
		{"idle cluster: own host", onE1, []int{0, 0}, []bool{false, false}, 1.25, "e1", ""},
		{"equal load: own host", onE1, []int{50, 50}, []bool{false, false}, 1.25, "e1", ""},
		{"own host under c x average", onE1, []int{62, 40}, []bool{false, false}, 1.25, "e1", "bound ceil(1.25*103/2)=65 > 62"},
		{"own host at c x average: next on the ring", onE1, []int{65, 38}, []bool{false, false}, 1.25, "e2", "bound ceil(1.25*104/2)=65, e1 has 65"},
		{"own host past c x average: next on the ring", onE1, []int{10, 0}, []bool{false, false}, 1.25, "e2", "bound ceil(1.25*11/2)=7"},
		{"c=2 lets the own host carry more", onE1, []int{10, 0}, []bool{false, false}, 2, "e1", "bound 11"},
		{"the other key is not moved", onE2, []int{10, 0}, []bool{false, false}, 1.25, "e2", ""},
		{"own host full (its overload rule)", onE1, []int{0, 0}, []bool{true, false}, 1.25, "e2", ""},
		{"the only open host takes it past the bound", onE2, []int{0, 100}, []bool{true, false}, 1.25, "e2", ""},
		{"every host full", onE1, []int{0, 0}, []bool{true, true}, 1.25, "", ""},
	} {
		h, ok := r.Choose(tc.key, tc.load, tc.full, tc.c)
		got := ""
		if ok {
			got = r.IDs()[h]
		}
		if got != tc.want {
			t.Errorf("%s: got %q, want %q (%s)", tc.name, got, tc.want, tc.reason)
		}
	}
	if _, ok := NewRing(nil).Choose("x", nil, nil, 1.25); ok {
		t.Error("an empty ring chose a host")
	}
}

// TestRingKeepsEveryHostUnderTheBound is the paper's guarantee: placing
// players one by one, no host ever carries more than ceil(c x average).
func TestRingKeepsEveryHostUnderTheBound(t *testing.T) {
	for _, c := range []float64{1.1, 1.25, 2} {
		r := NewRing([]string{"a", "b", "c", "d", "e"})
		load, full := make([]int, 5), make([]bool, 5)
		// Few streams with many players each: plain hashing would pile up.
		streams := names(7)
		total := 0
		for i := range 5000 {
			h, _ := r.Choose(streams[i%len(streams)], load, full, c)
			if load[h]+1 > Bound(total, 5, c) {
				t.Fatalf("c=%g: player %d put %s at %d, over the bound %d", c, i, r.IDs()[h], load[h]+1, Bound(total, 5, c))
			}
			load[h]++
			total++
		}
	}
}

func BenchmarkRingChoose200Hosts(b *testing.B) {
	ids := make([]string, 200)
	for i := range ids {
		ids[i] = fmt.Sprintf("edge-%03d", i)
	}
	r := NewRing(ids)
	load, full := make([]int, 200), make([]bool, 200)
	keys := names(1024)
	b.ResetTimer()
	for i := range b.N {
		r.Choose(keys[i%len(keys)], load, full, 1.25)
	}
}
