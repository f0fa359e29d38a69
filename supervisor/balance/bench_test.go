package balance

import (
	"testing"
	"time"
)

// BenchmarkDecide is one decision for 4 workers, what the master spends on
// policy after each round of reports and each tick (at most ten a second:
// decisions after reports are 100 ms apart at least).
func BenchmarkDecide(b *testing.B) {
	p := policy(func(p *Policy) { p.MaxConnections = 10000 })
	s := Snapshot{Workers: []Worker{cool(0, 40, 25), cool(1, 35, 25), hot(2, 95, 5*time.Second), cool(3, 10, 25)}}
	for range b.N {
		Decide(s, p, t0)
	}
}
