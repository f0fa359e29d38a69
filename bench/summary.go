package bench

import (
	"cmp"
	"fmt"
	"runtime"
	"slices"
	"time"
)

// StarvingRatio: a client that received less than this share of the source
// bitrate cannot play the stream in real time.
const StarvingRatio = 0.9

// Summary is the verdict of a play run.
type Summary struct {
	URL       string  `json:"url"`
	Protocol  string  `json:"protocol"`
	DurationS float64 `json:"duration_s"`

	Requested    int     `json:"requested"`
	Connected    int     `json:"connected"`      // the server accepted the play at least once
	GotMedia     int     `json:"received_media"` // received at least one frame
	Failed       int     `json:"failed"`
	Starving     int     `json:"starving"` // did not fail, but got under 90% of the source bitrate
	BadPct       float64 `json:"failed_or_starving_pct"`
	MaxFailPct   float64 `json:"max_fail_pct"`
	Pass         bool    `json:"pass"`
	FailedReason string  `json:"verdict,omitempty"`

	Connect    Dist     `json:"connect_ms"`
	FirstMedia Dist     `json:"first_media_ms"`
	Startup    Dist     `json:"startup_ms"` // first keyframe
	StartupHis []Bucket `json:"startup_histogram"`

	SourceBPS     float64 `json:"source_bitrate_bps"`
	SourceFrom    string  `json:"source_bitrate_from"` // "flag" or "median"
	BitrateP1     float64 `json:"bitrate_p1_bps"`
	BitrateP50    float64 `json:"bitrate_p50_bps"`
	SpeedP1       float64 `json:"speed_p1"`
	SpeedP50      float64 `json:"speed_p50"`
	Stalls        int     `json:"stalls"`
	StalledClient int     `json:"stalled_clients"`
	MaxGapMS      float64 `json:"max_gap_ms"`
	Disconnects   int     `json:"disconnects"`
	Reconnects    int     `json:"reconnects"`

	Bytes     uint64  `json:"bytes"`
	WireBytes uint64  `json:"wire_bytes,omitempty"`
	Mbps      float64 `json:"mbps"` // media received over the whole run
	PeakMbps  float64 `json:"peak_mbps"`

	BenchCPUS   float64 `json:"bench_cpu_s"`
	BenchCPUPct float64 `json:"bench_cpu_pct"` // of one core

	Failures []ReasonCount `json:"failures,omitempty"` // failed clients by reason
	Errors   []ReasonCount `json:"errors,omitempty"`   // errors by reason, up to 5 per client
	Warnings []string      `json:"warnings,omitempty"`
}

// Bucket counts clients whose startup was at most LeMS (the last is open).
type Bucket struct {
	LeMS  float64 `json:"le_ms"` // 0 for the open-ended last bucket
	Label string  `json:"label"`
	Count int     `json:"count"`
}

// ReasonCount groups clients or errors by their reason.
type ReasonCount struct {
	Reason string `json:"reason"`
	Count  int    `json:"count"`
}

var startupBuckets = []float64{50, 100, 200, 500, 1000, 2000, 5000, 10000}

func summarise(cfg *PlayConfig, proto string, clients []ClientResult, timeline []Sample, elapsed, cpu time.Duration) Summary {
	s := Summary{URL: cfg.URL, Protocol: proto, DurationS: elapsed.Seconds(), Requested: cfg.Clients,
		MaxFailPct: cfg.MaxFail, BenchCPUS: cpu.Seconds()}
	if elapsed > 0 {
		s.BenchCPUPct = 100 * cpu.Seconds() / elapsed.Seconds()
	}
	var connect, first, startup, rates, steady []float64
	failures, errs := map[string]int{}, map[string]int{}
	for i := range clients {
		c := &clients[i]
		if c.Sessions > 0 {
			s.Connected++
		}
		if c.ConnectMS != nil {
			connect = append(connect, *c.ConnectMS)
		}
		if c.FirstMediaMS != nil {
			s.GotMedia++
			first = append(first, *c.FirstMediaMS)
			rates = append(rates, c.BitrateBPS)
			if c.Steady {
				steady = append(steady, c.BitrateBPS)
			}
		}
		if v, ok := c.Startup(); ok {
			startup = append(startup, v)
		}
		if c.Failed {
			s.Failed++
			failures[c.FailReason]++
		}
		for _, e := range c.Errors {
			errs[e]++
		}
		s.Stalls += c.Stalls
		if c.Stalls > 0 {
			s.StalledClient++
		}
		s.MaxGapMS = max(s.MaxGapMS, c.MaxGapMS)
		s.Disconnects += c.Disconnects
		s.Reconnects += c.Reconnects
		s.Bytes += c.Bytes
		s.WireBytes += c.WireBytes
	}
	s.Connect, s.FirstMedia, s.Startup = distOf(connect), distOf(first), distOf(startup)
	s.StartupHis = histogram(startup)
	s.Failures, s.Errors = byCount(failures), byCount(errs)

	// The median of the clients measured over whole real-time GOPs: a
	// client that joined late still has its startup burst in its bitrate.
	s.SourceBPS, s.SourceFrom = cfg.Bitrate, "flag"
	switch {
	case s.SourceBPS > 0:
	case len(steady) > 0:
		s.SourceBPS, s.SourceFrom = median(steady), "median"
	default:
		s.SourceBPS, s.SourceFrom = median(rates), "median"
	}
	s.Starving = classifyStarving(clients, s.SourceBPS)
	s.bitrateSpread(clients)

	if elapsed > 0 {
		s.Mbps = float64(s.Bytes) * 8 / elapsed.Seconds() / 1e6
	}
	for _, smp := range timeline {
		s.PeakMbps = max(s.PeakMbps, smp.Mbps)
	}
	s.verdict()
	s.warn()
	return s
}

// classifyStarving marks the clients that did not fail but received less
// than StarvingRatio of the source bitrate, and counts them.
func classifyStarving(clients []ClientResult, sourceBPS float64) int {
	n := 0
	for i := range clients {
		c := &clients[i]
		c.Starving = !c.Failed && c.BitrateBPS < StarvingRatio*sourceBPS
		if c.Starving {
			n++
		}
	}
	return n
}

// bitrateSpread takes the low end and the middle of what the clients that
// got media received, in bitrate and in real-time speed. The speed is that
// of the steady clients when there are any: a late joiner's startup burst
// makes it look several times faster than real time.
func (s *Summary) bitrateSpread(clients []ClientResult) {
	var rates, speeds, steady []float64
	for _, c := range clients {
		if c.FirstMediaMS != nil {
			rates = append(rates, c.BitrateBPS)
			speeds = append(speeds, c.Speed)
			if c.Steady {
				steady = append(steady, c.Speed)
			}
		}
	}
	if len(steady) > 0 {
		speeds = steady
	}
	slices.Sort(rates)
	slices.Sort(speeds)
	s.BitrateP1, s.BitrateP50 = percentile(rates, 1), percentile(rates, 50)
	s.SpeedP1, s.SpeedP50 = percentile(speeds, 1), percentile(speeds, 50)
}

// verdict passes a run whose failed and starving clients stay within the
// limit, and never one in which no client received anything.
func (s *Summary) verdict() {
	bad := s.Failed + s.Starving
	s.BadPct = 100 * float64(bad) / float64(max(s.Requested, 1))
	switch {
	case s.GotMedia == 0:
		s.FailedReason = "no client received any media"
	case s.BadPct > s.MaxFailPct:
		s.FailedReason = fmt.Sprintf("%d of %d clients failed or starved (%.1f%%, limit %g%%)", bad, s.Requested, s.BadPct, s.MaxFailPct)
	default:
		s.Pass = true
	}
}

func (s *Summary) warn() {
	if s.SourceFrom == "median" && s.GotMedia > 0 && s.SpeedP50 > 0 && s.SpeedP50 < StarvingRatio {
		s.Warnings = append(s.Warnings, fmt.Sprintf(
			"the median client received media at %.2fx real time: all clients may be starving, "+
				"and the median bitrate hides it; pass -bitrate with the source's bitrate", s.SpeedP50))
	}
	if cores := float64(runtime.NumCPU()); s.BenchCPUPct > 85*cores {
		s.Warnings = append(s.Warnings, fmt.Sprintf(
			"the bench itself used %.0f%% of the machine's %d cores: the figures may show its limits, not the server's",
			s.BenchCPUPct/cores, runtime.NumCPU()))
	}
}

func histogram(startupMS []float64) []Bucket {
	bs := make([]Bucket, len(startupBuckets)+1)
	for i, le := range startupBuckets {
		bs[i] = Bucket{LeMS: le, Label: "≤" + msLabel(le)}
	}
	bs[len(bs)-1].Label = ">" + msLabel(startupBuckets[len(startupBuckets)-1])
	for _, v := range startupMS {
		i, _ := slices.BinarySearch(startupBuckets, v)
		bs[i].Count++
	}
	return bs
}

func msLabel(ms float64) string {
	if ms >= 1000 {
		return fmt.Sprintf("%gs", ms/1000)
	}
	return fmt.Sprintf("%gms", ms)
}

func byCount(m map[string]int) []ReasonCount {
	out := make([]ReasonCount, 0, len(m))
	for r, n := range m {
		out = append(out, ReasonCount{r, n})
	}
	slices.SortFunc(out, func(a, b ReasonCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Reason, b.Reason))
	})
	return out
}
