package bench

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseBitrate reads a rate in bit/s: "2M", "2.5M", "800k", "1G" or a plain
// number. The suffixes are decimal (k = 1000), as bitrates are everywhere.
func ParseBitrate(s string) (float64, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(t, "bps"), "bit/s"), "b")
	mult := 1.0
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'k', 'K':
			mult = 1e3
		case 'm', 'M':
			mult = 1e6
		case 'g', 'G':
			mult = 1e9
		}
		if mult != 1 {
			t = t[:n-1]
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v <= 0 || v*mult > 100e9 {
		return 0, fmt.Errorf("bad bitrate %q: want a positive number with an optional k, M or G suffix, e.g. 2M", s)
	}
	return v * mult, nil
}

// ParseRamp reads a client start rate: "100/s" or "100" clients per second;
// "0" starts every client at once.
func ParseRamp(s string) (float64, error) {
	t := strings.TrimSuffix(strings.TrimSpace(s), "/s")
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 || v > 1e6 {
		return 0, fmt.Errorf("bad ramp %q: want clients per second, e.g. 100/s (0 = all at once)", s)
	}
	return v, nil
}

// formatBitrate prints a rate with the unit a person reads it in.
func formatBitrate(bps float64) string {
	switch {
	case bps >= 1e9:
		return strconv.FormatFloat(bps/1e9, 'f', 2, 64) + " Gbit/s"
	case bps >= 1e6:
		return strconv.FormatFloat(bps/1e6, 'f', 2, 64) + " Mbit/s"
	case bps >= 1e3:
		return strconv.FormatFloat(bps/1e3, 'f', 1, 64) + " kbit/s"
	}
	return strconv.FormatFloat(bps, 'f', 0, 64) + " bit/s"
}

// ParseSteps reads a comma-separated list of increasing player counts.
func ParseSteps(s string) ([]int, error) {
	var steps []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("bad steps %q: want increasing positive counts, e.g. 100,200,400", s)
		}
		if len(steps) > 0 && n <= steps[len(steps)-1] {
			return nil, fmt.Errorf("bad steps %q: counts must increase", s)
		}
		steps = append(steps, n)
	}
	return steps, nil
}
