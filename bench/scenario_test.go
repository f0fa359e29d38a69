package bench

import "testing"

func TestSteadyWindow(t *testing.T) {
	cpu := func(v float64) map[string]float64 { return map[string]float64{"server_cpu_s": v} }
	tl := []Sample{
		{T: 0, Launched: 0, Probes: cpu(0)},
		{T: 1, Launched: 50, Playing: 40, Probes: cpu(1)},
		{T: 2, Launched: 100, Playing: 99, Probes: cpu(2)}, // ramp done, 99% playing
		{T: 3, Launched: 100, Playing: 100, Probes: cpu(3)},
		{T: 4, Launched: 100, Playing: 100, Probes: cpu(4)}, // settled
		{T: 5, Launched: 100, Playing: 100, Probes: cpu(5)},
		{T: 6.2, Launched: 100, Playing: 100, Probes: cpu(6)},
	}
	// Started by 2 s, but only 90 playing until 3 s: the startup bursts
	// of the last ten are not steady.
	slow := []Sample{
		{T: 0, Launched: 0}, {T: 1, Launched: 100, Playing: 50}, {T: 2, Launched: 100, Playing: 90},
		{T: 3, Launched: 100, Playing: 100}, {T: 4, Launched: 100, Playing: 100}, {T: 5, Launched: 100, Playing: 100},
		{T: 6, Launched: 100, Playing: 100},
	}
	// Never all playing (an overloaded step): from the ramp's end.
	stuck := []Sample{
		{T: 0, Launched: 0}, {T: 1, Launched: 100, Playing: 50}, {T: 2, Launched: 100, Playing: 60},
		{T: 3, Launched: 100, Playing: 60}, {T: 4, Launched: 100, Playing: 60},
	}
	tests := []struct {
		name       string
		tl         []Sample
		n          int
		wantA      float64
		wantB      float64
		wantWindow bool
	}{
		{"after ramp and settle", tl, 100, 4, 6.2, true},
		{"after everyone plays", slow, 100, 5, 6, true},
		{"never all playing", stuck, 100, 3, 4, true},
		{"too short to settle: from the ramp's end", tl[:5], 100, 2, 4, true},
		{"ramp never finished", tl, 200, 0, 0, false},
		{"a single sample", tl[:3], 100, 0, 0, false},
	}
	for _, tt := range tests {
		a, b, ok := steadyWindow(tt.tl, tt.n)
		if ok != tt.wantWindow || (ok && (a.T != tt.wantA || b.T != tt.wantB)) {
			t.Errorf("%s: window %v..%v (%v), want %v..%v (%v)", tt.name, a.T, b.T, ok, tt.wantA, tt.wantB, tt.wantWindow)
		}
	}
}
