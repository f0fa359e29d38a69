package supervisor

import "testing"

func TestPlaceRTC(t *testing.T) {
	cases := []struct {
		name  string
		cands []placeCandidate
		want  int
		ok    bool
	}{
		{"none ready", nil, 0, false},
		{"fewest sessions", []placeCandidate{{slot: 0, rtc: 3}, {slot: 1, rtc: 1}, {slot: 2, rtc: 2}}, 1, true},
		{"placed since the report count", []placeCandidate{{slot: 0, rtc: 1, placed: 2}, {slot: 1, rtc: 2}}, 1, true},
		{"hot worker last even when empty", []placeCandidate{{slot: 0, cpu: 95}, {slot: 1, cpu: 10, rtc: 40}}, 1, true},
		{"all hot: fewest sessions", []placeCandidate{{slot: 0, cpu: 95, rtc: 5}, {slot: 1, cpu: 99, rtc: 2}}, 1, true},
		{"tie on sessions: less cpu", []placeCandidate{{slot: 0, cpu: 30}, {slot: 1, cpu: 20}}, 1, true},
		{"full tie: lowest slot", []placeCandidate{{slot: 2}, {slot: 1}}, 1, true},
	}
	for _, c := range cases {
		got, ok := placeRTC(c.cands)
		if got != c.want || ok != c.ok {
			t.Errorf("%s: placeRTC = %d %v, want %d %v", c.name, got, ok, c.want, c.ok)
		}
	}
}
