// Package origin is the edge's choice of origin: which one a stream is
// pulled from (or forwarded to), in what order the others are tried when it
// fails, and how long a failed one is skipped. It is pure policy: no I/O and
// no clock, the caller passes now. The master holds one Chooser, so its
// round-robin counters are per vhost on the host, not per process or per
// stream (SRS keeps one per stream, so every stream's first pull goes to
// the first origin: SRS issues #817, #4511).
package origin

import (
	"cmp"
	"encoding/binary"
	"hash/fnv"
	"slices"
	"time"
)

// The balances, with the config's names.
const (
	RoundRobin     = "round_robin"
	ConsistentHash = "consistent_hash"
)

// Backoff of an origin after a failure: it doubles with every failure in a
// row, from backoffBase up to backoffMax, and a success clears it.
const (
	backoffBase = 2 * time.Second
	backoffMax  = 30 * time.Second
)

// Chooser holds the state behind the choice: a round-robin counter per
// vhost and the backoff of every origin that failed. Not safe for
// concurrent use: one goroutine (the master loop) owns it.
type Chooser struct {
	next     map[string]uint64
	failures map[string]failure
}

type failure struct {
	inARow int
	until  time.Time
}

// New returns a Chooser with every counter at zero and no origin failed.
func New() *Chooser {
	return &Chooser{next: map[string]uint64{}, failures: map[string]failure{}}
}

// Order returns origins in the order to try them for stream (its
// "vhost/app/name") of vhost. round_robin starts each new stream of a
// vhost at the next origin; consistent_hash ranks the origins by
// rendezvous hashing, so a stream always starts at the same one. Either
// way an origin in backoff is moved to the end (the soonest free first):
// still tried, as a last resort, but not while a healthy one is left.
func (c *Chooser) Order(vhost, stream, balance string, origins []string, now time.Time) []string {
	var order []string
	if balance == ConsistentHash {
		order = Rank(stream, origins)
	} else {
		order = c.rotate(vhost, origins)
	}
	slices.SortStableFunc(order, func(a, b string) int {
		fa, fb := c.backingOff(a, now), c.backingOff(b, now)
		switch {
		case !fa && !fb:
			return 0
		case !fa:
			return -1
		case !fb:
			return 1
		}
		return c.failures[a].until.Compare(c.failures[b].until)
	})
	return order
}

func (c *Chooser) rotate(vhost string, origins []string) []string {
	if len(origins) == 0 {
		return nil
	}
	start := int(c.next[vhost] % uint64(len(origins)))
	c.next[vhost]++
	return append(slices.Clone(origins[start:]), origins[:start]...)
}

func (c *Chooser) backingOff(origin string, now time.Time) bool {
	f, ok := c.failures[origin]
	return ok && now.Before(f.until)
}

// Failed records that origin refused or broke a pull at now.
func (c *Chooser) Failed(origin string, now time.Time) {
	f := c.failures[origin]
	f.inARow++
	d := backoffBase << min(f.inARow-1, 8)
	f.until = now.Add(min(d, backoffMax))
	c.failures[origin] = f
}

// Succeeded clears origin's backoff: it served a stream.
func (c *Chooser) Succeeded(origin string) { delete(c.failures, origin) }

// BackoffUntil is when origin may be tried first again (zero: now).
func (c *Chooser) BackoffUntil(origin string) time.Time { return c.failures[origin].until }

// Rank orders origins by rendezvous (highest random weight) hashing of key:
// each origin scores hash(origin, key) and the highest goes first. Adding
// or removing an origin moves only the keys it wins or held, about 1/n of
// them, and the ranking depends on nothing but the names, so it is the
// same in every process and after every restart.
func Rank(key string, origins []string) []string {
	type scored struct {
		origin string
		score  uint64
	}
	list := make([]scored, len(origins))
	for i, o := range origins {
		list[i] = scored{o, score(o, key)}
	}
	slices.SortStableFunc(list, func(a, b scored) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		return cmp.Compare(a.origin, b.origin)
	})
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = s.origin
	}
	return out
}

// score is FNV-1a of origin, a zero byte and key, then the splitmix64
// finalizer: FNV alone mixes the last bytes poorly, and stream names tend
// to differ only there ("cam1", "cam2").
func score(origin, key string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(origin))
	h.Write([]byte{0})
	h.Write([]byte(key))
	x := binary.BigEndian.Uint64(h.Sum(nil))
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
