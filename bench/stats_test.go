package bench

import "testing"

func TestPercentile(t *testing.T) {
	ten := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	hundred := make([]float64, 100)
	for i := range hundred {
		hundred[i] = float64(i + 1)
	}
	tests := []struct {
		name   string
		sorted []float64
		p      float64
		want   float64
	}{
		{"empty", nil, 50, 0},
		{"one value", []float64{7}, 99, 7},
		{"p50 of ten", ten, 50, 5},
		{"p90 of ten", ten, 90, 9},
		{"p99 of ten is the max", ten, 99, 10},
		{"p1 of ten is the min", ten, 1, 1},
		{"p0 clamps to the min", ten, 0, 1},
		{"p100", ten, 100, 10},
		{"p99 of a hundred", hundred, 99, 99},
		{"p1 of a hundred", hundred, 1, 1},
		{"p50 of two", []float64{1, 2}, 50, 1},
	}
	for _, tt := range tests {
		if got := percentile(tt.sorted, tt.p); got != tt.want {
			t.Errorf("%s: percentile(p%v) = %v, want %v", tt.name, tt.p, got, tt.want)
		}
	}
}

func TestDistOf(t *testing.T) {
	d := distOf([]float64{30, 10, 20, 40, 1000})
	want := Dist{N: 5, P50: 30, P90: 1000, P99: 1000, Max: 1000}
	if d != want {
		t.Errorf("distOf = %+v, want %+v", d, want)
	}
	if d := distOf(nil); d != (Dist{}) {
		t.Errorf("distOf(nil) = %+v, want zero", d)
	}
}
