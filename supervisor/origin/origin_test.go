package origin

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestRoundRobinIsPerVhost(t *testing.T) {
	c := New()
	origins := []string{"a:1935", "b:1935", "c:1935"}
	counts := map[string]int{}
	for i := range 30 {
		order := c.Order("v1", fmt.Sprintf("v1/live/s%d", i), RoundRobin, origins, t0)
		if want := origins[i%3]; order[0] != want {
			t.Fatalf("stream %d starts at %s, want %s (order %v)", i, order[0], want, order)
		}
		if len(order) != 3 || order[1] != origins[(i+1)%3] || order[2] != origins[(i+2)%3] {
			t.Fatalf("stream %d: failover order %v does not go round", i, order)
		}
		counts[order[0]]++
	}
	for _, o := range origins {
		if counts[o] != 10 {
			t.Errorf("%s got %d of 30 streams, want 10", o, counts[o])
		}
	}
	// Another vhost has its own counter: its first stream starts at the first origin.
	if got := c.Order("v2", "v2/live/s", RoundRobin, origins, t0)[0]; got != "a:1935" {
		t.Errorf("first stream of another vhost starts at %s", got)
	}
}

func names(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("__defaultVhost__/live/stream%d", i)
	}
	return out
}

func TestConsistentHashSpread(t *testing.T) {
	origins := []string{"10.0.0.1:1935", "10.0.0.2:1935", "10.0.0.3:1935"}
	counts := map[string]int{}
	for _, n := range names(1000) {
		counts[Rank(n, origins)[0]]++
	}
	for _, o := range origins {
		// Within 5 points of a third: 283..383. Each name lands by a fair
		// coin of 1/3, so a count's standard deviation is √(1000·⅓·⅔) ≈ 15:
		// ±5 % of 333 (±17) is one deviation, which no hash that ignores the
		// set of names can promise for all three origins.
		if c := counts[o]; c < 283 || c > 383 {
			t.Errorf("%s got %d of 1000, want 283..383 (all: %v)", o, c, counts)
		}
	}
}

func TestConsistentHashMovesFewOnAdd(t *testing.T) {
	three := []string{"10.0.0.1:1935", "10.0.0.2:1935", "10.0.0.3:1935"}
	four := append(slices.Clone(three), "10.0.0.4:1935")
	moved := 0
	for _, n := range names(1000) {
		before, after := Rank(n, three)[0], Rank(n, four)[0]
		if before != after {
			moved++
			if after != "10.0.0.4:1935" {
				t.Fatalf("%s moved from %s to %s, not to the new origin", n, before, after)
			}
		}
	}
	if moved > 300 || moved < 150 {
		t.Errorf("adding a fourth origin moved %d of 1000 streams, want about 250 and at most 300", moved)
	}
}

func TestConsistentHashIsStable(t *testing.T) {
	origins := []string{"b:1935", "a:1935", "c:1935"}
	// Fixed expectations: the hash depends on nothing but the names, so a
	// restarted edge (or another one) picks the same origin.
	want := map[string]string{}
	for _, n := range names(20) {
		want[n] = Rank(n, origins)[0]
	}
	c := New()
	shuffled := []string{"c:1935", "b:1935", "a:1935"}
	for _, n := range names(20) {
		if got := c.Order("v", n, ConsistentHash, shuffled, t0)[0]; got != want[n] {
			t.Errorf("%s: %s with the origins listed in another order, %s before", n, got, want[n])
		}
	}
	// Pinned: a change of hash would move every stream of every edge at
	// the upgrade, so it must be a deliberate one.
	for name, want := range map[string][]string{
		"__defaultVhost__/live/livestream": {"c:1935", "b:1935", "a:1935"},
		"__defaultVhost__/live/cam2":       {"b:1935", "c:1935", "a:1935"},
	} {
		if got := Rank(name, origins); !slices.Equal(got, want) {
			t.Errorf("Rank(%s) = %v, want %v", name, got, want)
		}
	}
}

func TestBackoffMovesAFailedOriginLast(t *testing.T) {
	origins := []string{"a", "b", "c"}
	for _, tc := range []struct {
		name   string
		failed map[string]time.Duration // origin -> failed this long before now, once
		twice  []string                 // failed twice in a row at now
		after  time.Duration
		want   []string
	}{
		{name: "healthy", want: []string{"a", "b", "c"}},
		{name: "first failed", failed: map[string]time.Duration{"a": 0}, want: []string{"b", "c", "a"}},
		{name: "backoff over", failed: map[string]time.Duration{"a": 0}, after: backoffBase, want: []string{"a", "b", "c"}},
		{name: "two failed, soonest free first", failed: map[string]time.Duration{"a": 0, "b": time.Second}, want: []string{"c", "b", "a"}},
		{name: "second failure doubles", twice: []string{"a"}, after: backoffBase, want: []string{"b", "c", "a"}},
		{name: "doubled backoff ends", twice: []string{"a"}, after: 2 * backoffBase, want: []string{"a", "b", "c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := New()
			for o, ago := range tc.failed {
				c.Failed(o, t0.Add(-ago))
			}
			for _, o := range tc.twice {
				c.Failed(o, t0)
				c.Failed(o, t0)
			}
			if got := c.Order("v", "v/live/s", RoundRobin, origins, t0.Add(tc.after)); !slices.Equal(got, tc.want) {
				t.Fatalf("order %v, want %v", got, tc.want)
			}
		})
	}
}

func TestBackoffIsCappedAndClearedBySuccess(t *testing.T) {
	c := New()
	for range 20 {
		c.Failed("a", t0)
	}
	if got := c.BackoffUntil("a").Sub(t0); got != backoffMax {
		t.Fatalf("backoff after 20 failures is %s, want the cap %s", got, backoffMax)
	}
	c.Succeeded("a")
	if !c.BackoffUntil("a").IsZero() {
		t.Fatal("success did not clear the backoff")
	}
	if got := c.Order("v", "v/l/s", RoundRobin, []string{"a", "b"}, t0); got[0] != "a" {
		t.Fatalf("order after success %v", got)
	}
}

func TestNoOrigins(t *testing.T) {
	if got := New().Order("v", "v/l/s", RoundRobin, nil, t0); len(got) != 0 {
		t.Fatalf("order of no origins: %v", got)
	}
}
