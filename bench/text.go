package bench

import (
	"fmt"
	"io"
	"strings"
)

// WriteText prints the summary for a person.
func (s *Summary) WriteText(w io.Writer) {
	p := func(label, format string, args ...any) {
		fmt.Fprintf(w, "%-11s %s\n", label, fmt.Sprintf(format, args...))
	}
	p("target", "%s (%s), ran %.1f s", s.URL, s.Protocol, s.DurationS)
	p("clients", "requested %d, connected %d, received media %d, failed %d, starving %d (%.1f%%, limit %g%%)",
		s.Requested, s.Connected, s.GotMedia, s.Failed, s.Starving, s.BadPct, s.MaxFailPct)
	p("startup", "first keyframe p50 %s  p90 %s  p99 %s  max %s  (%d clients)",
		ms(s.Startup.P50), ms(s.Startup.P90), ms(s.Startup.P99), ms(s.Startup.Max), s.Startup.N)
	p("", "connect p50 %s  p99 %s;  first media p50 %s  p99 %s",
		ms(s.Connect.P50), ms(s.Connect.P99), ms(s.FirstMedia.P50), ms(s.FirstMedia.P99))
	p("bitrate", "source %s (%s); per client p1 %s (%s), p50 %s (%s); starving below %.0f%%",
		formatBitrate(s.SourceBPS), sourceLabel(s.SourceFrom),
		formatBitrate(s.BitrateP1), pct(s.BitrateP1, s.SourceBPS),
		formatBitrate(s.BitrateP50), pct(s.BitrateP50, s.SourceBPS), StarvingRatio*100)
	p("", "real-time speed p1 %.2fx, p50 %.2fx", s.SpeedP1, s.SpeedP50)
	p("stalls", "%d in %d clients (gaps over %v), longest gap %s", s.Stalls, s.StalledClient, StallGap, ms(s.MaxGapMS))
	p("sessions", "%d disconnects, %d reconnects", s.Disconnects, s.Reconnects)
	p("throughput", "%.1f Mbit/s average, %.1f Mbit/s peak, %s of media", s.Mbps, s.PeakMbps, bytesLabel(s.Bytes))
	p("bench CPU", "%.1f s, %.0f%% of one core", s.BenchCPUS, s.BenchCPUPct)
	reasons(w, "failures", s.Failures)
	reasons(w, "errors", s.Errors)
	for _, warning := range s.Warnings {
		p("warning", "%s", warning)
	}
	if s.Pass {
		p("result", "PASS")
	} else {
		p("result", "FAIL: %s", s.FailedReason)
	}
}

// reasons lists the commonest reasons; the JSON has all of them.
func reasons(w io.Writer, label string, rs []ReasonCount) {
	const shown = 8
	for i, r := range rs {
		if i == shown {
			fmt.Fprintf(w, "%-11s ... %d more reasons\n", "", len(rs)-shown)
			break
		}
		fmt.Fprintf(w, "%-11s %6d  %s\n", label, r.Count, r.Reason)
		label = ""
	}
}

func ms(v float64) string {
	if v >= 10000 {
		return fmt.Sprintf("%.1fs", v/1000)
	}
	return fmt.Sprintf("%.0fms", v)
}

func pct(v, of float64) string {
	if of <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*v/of)
}

func sourceLabel(from string) string {
	if from == "flag" {
		return "given"
	}
	return "median of the clients"
}

func bytesLabel(n uint64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %sB", float64(n)/float64(div), strings.Split("k,M,G,T,P", ",")[exp])
}
