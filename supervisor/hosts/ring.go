package hosts

import (
	"cmp"
	"math"
	"slices"
	"sort"
)

// vnodes is how many points each host has on the ring. Ketama's 160 leaves
// hosts 10-12 % off an even share of names; 512 keeps them within a few
// percent, and a ring of 200 hosts is still only 100k points (1.6 MB),
// rebuilt once per heartbeat.
const vnodes = 512

// Ring is a consistent-hash ring over host IDs. It depends only on the set
// of IDs, so every master that reads the same hosts builds the same ring and
// resolves a stream to the same host.
type Ring struct {
	ids    []string
	points []point
}

type point struct {
	hash uint64
	host int // index into ids
}

// NewRing builds the ring of ids (order and duplicates do not matter).
func NewRing(ids []string) *Ring {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	r := &Ring{ids: ids, points: make([]point, 0, len(ids)*vnodes)}
	for i, id := range ids {
		for v := range vnodes {
			r.points = append(r.points, point{hash: hashString(id, uint64(v)), host: i})
		}
	}
	// Ties between hosts are broken by ID so the ring is total.
	slices.SortFunc(r.points, func(a, b point) int {
		if c := cmp.Compare(a.hash, b.hash); c != 0 {
			return c
		}
		return cmp.Compare(a.host, b.host)
	})
	return r
}

// IDs are the ring's hosts, sorted; Choose's load and full slices follow
// this order.
func (r *Ring) IDs() []string { return r.ids }

// Order is every host in the order a key visits them: its own host first,
// then the next distinct hosts clockwise.
func (r *Ring) Order(key string) []int {
	var order []int
	r.walk(key, func(h int) bool { order = append(order, h); return true })
	return order
}

// walk calls visit with each distinct host in key's order until it returns
// false.
func (r *Ring) walk(key string, visit func(host int) bool) {
	if len(r.ids) == 0 {
		return
	}
	h := hashString(key, math.MaxUint64)
	start := sort.Search(len(r.points), func(i int) bool { return r.points[i].hash >= h })
	seen := make([]bool, len(r.ids))
	for i, n := 0, 0; n < len(r.ids); i++ {
		p := r.points[(start+i)%len(r.points)]
		if !seen[p.host] {
			seen[p.host], n = true, n+1
			if !visit(p.host) {
				return
			}
		}
	}
}

// Bound is the most load a host may carry and still take one more: c times
// the average once the newcomer is counted, rounded up (the paper's
// ceil(c·(m+1)/n)), and never under 1 so an idle cluster takes anyone.
func Bound(total, hosts int, c float64) int {
	if hosts <= 0 {
		return 0
	}
	return max(1, int(math.Ceil(c*float64(total+1)/float64(hosts))))
}

// Choose picks the host for key: the first on the key's order that is not
// full and whose load is under Bound. load and full are per host in IDs
// order; full hosts count for the average, since their players are real.
// It returns false only when every host is full.
func (r *Ring) Choose(key string, load []int, full []bool, c float64) (int, bool) {
	total := 0
	for _, l := range load {
		total += l
	}
	bound := Bound(total, len(r.ids), c)
	chosen := -1
	r.walk(key, func(h int) bool {
		if !full[h] && load[h] < bound {
			chosen = h
		}
		return chosen < 0
	})
	if chosen >= 0 {
		return chosen, true
	}
	// Only full hosts are under the bound, so it cannot hold: the least
	// loaded open host takes the key, the first in its order among equals.
	r.walk(key, func(h int) bool {
		if !full[h] && (chosen < 0 || load[h] < load[chosen]) {
			chosen = h
		}
		return true
	})
	return chosen, chosen >= 0
}

// hashString is FNV-1a over s and seed, finished with splitmix64's mixer:
// FNV alone clusters short, similar names (live/s1, live/s2) on the ring.
// It must never change: every host of a cluster has to agree on it.
func hashString(s string, seed uint64) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for i := range 8 {
		h ^= (seed >> (8 * i)) & 0xff
		h *= prime
	}
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= prime
	}
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}
