package bench

import (
	"fmt"
	"io"
	"slices"
	"strconv"
)

// Server names in the comparison.
const (
	serverStreamedge = "streamedge"
	serverNginx      = "nginx-rtmp"
)

// CellResult is one row of `bench compare`: one server, protocol and
// player count, on a freshly started server.
type CellResult struct {
	Server   string `json:"server"`  // serverStreamedge or serverNginx
	Workers  int    `json:"workers"` // streamedge's -w; nginx runs one worker
	Protocol string `json:"protocol"`
	Pid      int    `json:"server_pid"` // its master, as its logs name it
	StepResult
	CPUMicrosPerMsg float64 `json:"server_cpu_us_per_message"` // per media message delivered to one player
	UserPct         float64 `json:"server_user_pct"`           // of the server's CPU, the part in user space
	StartupP50MS    float64 `json:"startup_p50_ms"`
	GapP99MS        float64 `json:"longest_gap_p99_ms"` // of each player's longest gap between messages
	RSSBaseBytes    uint64  `json:"rss_base_bytes"`     // the server's processes with the publisher only
	RSSPeakBytes    uint64  `json:"rss_peak_bytes"`     // the most over the steady part, with every player
	KiBPerPlayer    float64 `json:"kib_per_player"`
}

// Label names the row's server as the table shows it.
func (c *CellResult) Label() string {
	if c.Server == serverNginx {
		return serverNginx
	}
	return fmt.Sprintf("%s -w %d", c.Server, c.Workers)
}

// The names of the timeline's samples of the server's memory and user CPU.
const (
	rssProbe  = "server_rss_bytes"
	userProbe = "server_user_cpu_s"
)

// addFigures fills in what the comparison reads from a step's run beyond
// the scenario's figures: CPU per message over the same steady window as
// the CPU per Gbit, the players' startup p50 and longest-gap p99, and the
// memory the players added to baseRSS, the server's resident set before
// they came.
func (c *CellResult) addFigures(r *Result, baseRSS uint64) {
	c.StartupP50MS = r.Summary.Startup.P50
	var gaps []float64
	for _, cl := range r.Clients {
		if cl.FirstMediaMS != nil {
			gaps = append(gaps, cl.MaxGapMS)
		}
	}
	c.GapP99MS = distOf(gaps).P99
	c.RSSBaseBytes = baseRSS
	a, b, ok := steadyWindow(r.Timeline, c.Players)
	if !ok {
		return
	}
	if cpu, frames := b.Probes["server_cpu_s"]-a.Probes["server_cpu_s"], b.Frames-a.Frames; cpu >= 0 && frames > 0 {
		c.CPUMicrosPerMsg = cpu / float64(frames) * 1e6
	}
	if cpu, user := b.Probes["server_cpu_s"]-a.Probes["server_cpu_s"], b.Probes[userProbe]-a.Probes[userProbe]; cpu > 0 && user >= 0 {
		c.UserPct = 100 * user / cpu
	}
	for _, s := range r.Timeline {
		if s.T >= a.T && s.T <= b.T {
			c.RSSPeakBytes = max(c.RSSPeakBytes, uint64(s.Probes[rssProbe]))
		}
	}
	if c.RSSPeakBytes > baseRSS && c.Players > 0 {
		c.KiBPerPlayer = float64(c.RSSPeakBytes-baseRSS) / 1024 / float64(c.Players)
	}
}

// Ratio is one server's figures over a reference's at the same players
// and protocol: under 1 is better for every one of them. A figure is 0
// when either side lacks it.
type Ratio struct {
	Protocol   string  `json:"protocol"`
	Players    int     `json:"players"`
	Of         string  `json:"of"`      // the row divided
	Against    string  `json:"against"` // the reference row, with its protocol
	CPUPerGbit float64 `json:"cpu_per_gbit"`
	CPUPerMsg  float64 `json:"cpu_per_message"`
	StartupP50 float64 `json:"startup_p50"`
	StartupP99 float64 `json:"startup_p99"`
	GapP99     float64 `json:"longest_gap_p99"`
	KiB        float64 `json:"kib_per_player"`
}

// compareRatios divides each streamedge -w 1 row by nginx-rtmp's RTMP row
// at the same players (nginx-rtmp has no HTTP-FLV, so its RTMP is the
// reference for both protocols), and each streamedge -w 2 row by the
// -w 1 row of the same protocol and players.
func compareRatios(cells []CellResult) (vsNginx, w2 []Ratio) {
	find := func(server string, workers int, proto string, players int) *CellResult {
		for i := range cells {
			c := &cells[i]
			if c.Server == server && (server == serverNginx || c.Workers == workers) && c.Protocol == proto && c.Players == players {
				return c
			}
		}
		return nil
	}
	for i := range cells {
		c := &cells[i]
		if c.Server != serverStreamedge {
			continue
		}
		switch c.Workers {
		case 1:
			if ref := find(serverNginx, 0, ProtoRTMP, c.Players); ref != nil {
				vsNginx = append(vsNginx, ratioOf(c, ref))
			}
		case 2:
			if ref := find(serverStreamedge, 1, c.Protocol, c.Players); ref != nil {
				w2 = append(w2, ratioOf(c, ref))
			}
		}
	}
	return vsNginx, w2
}

func ratioOf(c, ref *CellResult) Ratio {
	return Ratio{Protocol: c.Protocol, Players: c.Players, Of: c.Label(),
		Against:    ref.Label() + " " + protoName(ref.Protocol),
		CPUPerGbit: div(c.CPUSecPerGbit, ref.CPUSecPerGbit), CPUPerMsg: div(c.CPUMicrosPerMsg, ref.CPUMicrosPerMsg),
		StartupP50: div(c.StartupP50MS, ref.StartupP50MS), StartupP99: div(c.StartupP99MS, ref.StartupP99MS),
		GapP99: div(c.GapP99MS, ref.GapP99MS), KiB: div(c.KiBPerPlayer, ref.KiBPerPlayer)}
}

func div(a, b float64) float64 {
	if a <= 0 || b <= 0 {
		return 0
	}
	return a / b
}

// writeCellHead and writeCellRow print the measured table.
func writeCellHead(w io.Writer) {
	fmt.Fprintf(w, "%-16s  %-8s  %7s  %6s  %10s  %4s  %10s  %6s  %11s  %11s  %7s  %10s  %8s  %9s  %8s\n",
		"server", "protocol", "players", "Gbit/s", "server CPU", "user", "CPU-s/Gbit", "µs/msg",
		"startup p50", "startup p99", "gap p99", "KiB/player", "starving", "bench CPU", "host CPU")
}

func writeCellRow(w io.Writer, c CellResult) {
	mark := ""
	if c.Saturated {
		mark = " *"
	}
	fmt.Fprintf(w, "%-16s  %-8s  %7d  %6.3f  %9.0f%%  %3.0f%%  %10.3f  %6.2f  %11s  %11s  %7s  %10.1f  %7.1f%%  %8.0f%%  %7.0f%%%s\n",
		c.Label(), protoName(c.Protocol), c.Players, c.DeliveredGbps, c.ServerCPUPct, c.UserPct, c.CPUSecPerGbit,
		c.CPUMicrosPerMsg, ms(c.StartupP50MS), ms(c.StartupP99MS), ms(c.GapP99MS), c.KiBPerPlayer,
		c.StarvingPct, c.BenchCPUPct, c.HostCPUPct, mark)
}

// writeRatios prints ratio rows under a title; a missing figure is "-".
func writeRatios(w io.Writer, title string, rs []Ratio) {
	if len(rs) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%s\n", title)
	fmt.Fprintf(w, "%-16s  %-8s  %7s  %-24s  %10s  %6s  %11s  %11s  %7s  %10s\n",
		"server", "protocol", "players", "against", "CPU-s/Gbit", "µs/msg", "startup p50", "startup p99", "gap p99", "KiB/player")
	for _, r := range rs {
		fmt.Fprintf(w, "%-16s  %-8s  %7d  %-24s  %10s  %6s  %11s  %11s  %7s  %10s\n",
			r.Of, protoName(r.Protocol), r.Players, r.Against, times(r.CPUPerGbit), times(r.CPUPerMsg),
			times(r.StartupP50), times(r.StartupP99), times(r.GapP99), times(r.KiB))
	}
}

// times prints a ratio to two significant digits: a startup a thousand
// times shorter is 0.001x, not 0.00x.
func times(v float64) string {
	switch {
	case v <= 0:
		return "-"
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64) + "x"
	}
	return strconv.FormatFloat(v, 'g', 2, 64) + "x"
}

// cellSpec is one cell to run.
type cellSpec struct {
	Server   string
	Workers  int
	Protocol string
	Players  int
}

// comparePlan orders the cells: for each player count, nginx-rtmp's RTMP
// (the reference of both protocols), then streamedge -w 1 on each
// protocol, then -w 2 when asked. Neighbours in time share the machine's
// drift, so the rows a ratio divides run close together.
func comparePlan(players []int, protocols []string, w2 bool) []cellSpec {
	var plan []cellSpec
	for _, n := range slices.Sorted(slices.Values(players)) {
		plan = append(plan, cellSpec{serverNginx, 1, ProtoRTMP, n})
		for _, w := range []int{1, 2} {
			if w == 2 && !w2 {
				break
			}
			for _, p := range protocols {
				plan = append(plan, cellSpec{serverStreamedge, w, p, n})
			}
		}
	}
	return plan
}
