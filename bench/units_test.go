package bench

import (
	"slices"
	"testing"
)

func TestParseBitrate(t *testing.T) {
	tests := []struct {
		in   string
		want float64
		err  bool
	}{
		{"2M", 2e6, false},
		{"2.5M", 2.5e6, false},
		{"800k", 800e3, false},
		{"800K", 800e3, false},
		{"1G", 1e9, false},
		{"1500000", 1.5e6, false},
		{"2Mbps", 2e6, false},
		{"2Mb", 2e6, false},
		{" 3m ", 3e6, false},
		{"", 0, true},
		{"M", 0, true},
		{"0", 0, true},
		{"-2M", 0, true},
		{"2X", 0, true},
		{"1000G", 0, true}, // beyond anything a bench can mean
	}
	for _, tt := range tests {
		got, err := ParseBitrate(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseBitrate(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestParseRamp(t *testing.T) {
	tests := []struct {
		in   string
		want float64
		err  bool
	}{
		{"100/s", 100, false},
		{"100", 100, false},
		{"0.5/s", 0.5, false},
		{"0", 0, false},
		{"-1/s", 0, true},
		{"fast", 0, true},
		{"100/m", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseRamp(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseRamp(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestParseSteps(t *testing.T) {
	tests := []struct {
		in   string
		want []int
		err  bool
	}{
		{"100,200,400", []int{100, 200, 400}, false},
		{"5", []int{5}, false},
		{" 1, 2 ", []int{1, 2}, false},
		{"200,100", nil, true},
		{"100,100", nil, true},
		{"0,10", nil, true},
		{"10,,20", nil, true},
	}
	for _, tt := range tests {
		got, err := ParseSteps(tt.in)
		if (err != nil) != tt.err || !slices.Equal(got, tt.want) {
			t.Errorf("ParseSteps(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestDefaultSteps(t *testing.T) {
	tests := []struct {
		limit int
		want  []int
	}{
		{20000, []int{100, 200, 400, 800, 1600, 3200, 6400, 12800, 20000}},
		{400, []int{100, 200, 400}},
		{50, []int{50}},
	}
	for _, tt := range tests {
		if got := DefaultSteps(tt.limit); !slices.Equal(got, tt.want) {
			t.Errorf("DefaultSteps(%d) = %v, want %v", tt.limit, got, tt.want)
		}
	}
}
