package bench

import (
	"bytes"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestComparePlan(t *testing.T) {
	nginx := func(n int) cellSpec { return cellSpec{serverNginx, 1, ProtoRTMP, n} }
	se := func(w int, p string, n int) cellSpec { return cellSpec{serverStreamedge, w, p, n} }
	tests := []struct {
		name      string
		players   []int
		protocols []string
		w2        bool
		want      []cellSpec
	}{
		{"both protocols with -w 2", []int{1000, 2000}, []string{ProtoRTMP, ProtoFLV}, true, []cellSpec{
			nginx(1000), se(1, ProtoRTMP, 1000), se(1, ProtoFLV, 1000), se(2, ProtoRTMP, 1000), se(2, ProtoFLV, 1000),
			nginx(2000), se(1, ProtoRTMP, 2000), se(1, ProtoFLV, 2000), se(2, ProtoRTMP, 2000), se(2, ProtoFLV, 2000),
		}},
		{"HTTP-FLV only, no -w 2: nginx's RTMP is still the reference", []int{20}, []string{ProtoFLV}, false, []cellSpec{
			nginx(20), se(1, ProtoFLV, 20),
		}},
		{"counts in any order run from the smallest", []int{200, 100}, []string{ProtoRTMP}, false, []cellSpec{
			nginx(100), se(1, ProtoRTMP, 100), nginx(200), se(1, ProtoRTMP, 200),
		}},
	}
	for _, tt := range tests {
		if got := comparePlan(tt.players, tt.protocols, tt.w2); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s:\n got %v\nwant %v", tt.name, got, tt.want)
		}
	}
}

func TestProfiledCell(t *testing.T) {
	plan := comparePlan([]int{1000, 2000}, []string{ProtoRTMP, ProtoFLV}, true)
	if got := profiledCell(plan, true); got != 7 { // streamedge -w 1 HTTP-FLV at 2000
		t.Errorf("profiledCell = %d (%v), want 7", got, plan[got])
	}
	if got := profiledCell(comparePlan([]int{50}, []string{ProtoRTMP}, true), true); got != 1 {
		t.Errorf("RTMP only: profiledCell = %d, want 1", got)
	}
	if got := profiledCell(plan, false); got != -1 {
		t.Errorf("no profile asked: profiledCell = %d, want -1", got)
	}
}

func TestCompareRatios(t *testing.T) {
	cell := func(server string, w int, proto string, n int, cpu, us, p50, p99, gap, kib float64) CellResult {
		return CellResult{Server: server, Workers: w, Protocol: proto,
			StepResult:      StepResult{Players: n, CPUSecPerGbit: cpu, StartupP99MS: p99},
			CPUMicrosPerMsg: us, StartupP50MS: p50, GapP99MS: gap, KiBPerPlayer: kib}
	}
	cells := []CellResult{
		cell(serverNginx, 1, ProtoRTMP, 1000, 0.2, 8, 1000, 2000, 100, 20),
		cell(serverStreamedge, 1, ProtoRTMP, 1000, 0.1, 4, 10, 100, 400, 40),
		cell(serverStreamedge, 1, ProtoFLV, 1000, 0.05, 2, 5, 50, 350, 0), // no memory figure
		cell(serverStreamedge, 2, ProtoRTMP, 1000, 0.11, 4.4, 20, 150, 400, 44),
		cell(serverStreamedge, 1, ProtoRTMP, 2000, 0.1, 4, 10, 100, 400, 40), // no nginx row at 2000
	}
	vs, w2 := compareRatios(cells)
	want := []Ratio{
		{Protocol: ProtoRTMP, Players: 1000, Of: "streamedge -w 1", Against: "nginx-rtmp RTMP",
			CPUPerGbit: 0.5, CPUPerMsg: 0.5, StartupP50: 0.01, StartupP99: 0.05, GapP99: 4, KiB: 2},
		{Protocol: ProtoFLV, Players: 1000, Of: "streamedge -w 1", Against: "nginx-rtmp RTMP",
			CPUPerGbit: 0.25, CPUPerMsg: 0.25, StartupP50: 0.005, StartupP99: 0.025, GapP99: 3.5, KiB: 0},
	}
	if !ratiosNear(vs, want) {
		t.Errorf("against nginx:\n got %+v\nwant %+v", vs, want)
	}
	wantW2 := []Ratio{{Protocol: ProtoRTMP, Players: 1000, Of: "streamedge -w 2", Against: "streamedge -w 1 RTMP",
		CPUPerGbit: 1.1, CPUPerMsg: 1.1, StartupP50: 2, StartupP99: 1.5, GapP99: 1, KiB: 1.1}}
	if !ratiosNear(w2, wantW2) {
		t.Errorf("-w 2 against -w 1:\n got %+v\nwant %+v", w2, wantW2)
	}
}

func ratiosNear(got, want []Ratio) bool {
	if len(got) != len(want) {
		return false
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	for i := range got {
		g, w := got[i], want[i]
		if g.Protocol != w.Protocol || g.Players != w.Players || g.Of != w.Of || g.Against != w.Against ||
			!near(g.CPUPerGbit, w.CPUPerGbit) || !near(g.CPUPerMsg, w.CPUPerMsg) || !near(g.StartupP50, w.StartupP50) ||
			!near(g.StartupP99, w.StartupP99) || !near(g.GapP99, w.GapP99) || !near(g.KiB, w.KiB) {
			return false
		}
	}
	return true
}

func TestCellAddFigures(t *testing.T) {
	probes := func(cpu, rss float64) map[string]float64 {
		return map[string]float64{"server_cpu_s": cpu, userProbe: cpu / 4, rssProbe: rss}
	}
	const mib = 1 << 20
	r := &Result{
		Timeline: []Sample{
			{T: 0, Launched: 0, Probes: probes(0, 10*mib)},
			{T: 1, Launched: 100, Playing: 100, Frames: 1000, Probes: probes(1, 12*mib)},
			{T: 3, Launched: 100, Playing: 100, Frames: 5000, Probes: probes(1.1, 13*mib)},  // settled: the window opens
			{T: 4, Launched: 100, Playing: 100, Frames: 9000, Probes: probes(1.2, 14*mib)},  // the peak with every player
			{T: 5, Launched: 100, Playing: 100, Frames: 15000, Probes: probes(1.4, 11*mib)}, // after they left
		},
		Clients: []ClientResult{{FirstMediaMS: new(1.0), MaxGapMS: 300}, {FirstMediaMS: new(1.0), MaxGapMS: 500}, {MaxGapMS: 9999}},
	}
	r.Summary.Startup.P50 = 42
	c := CellResult{StepResult: StepResult{Players: 100}}
	c.addFigures(r, 10*mib)
	// 0.3 s of CPU over 10,000 messages; 4 MiB over 100 players; the
	// client without media has no gap to count.
	if math.Abs(c.CPUMicrosPerMsg-30) > 1e-9 || math.Abs(c.UserPct-25) > 1e-9 || c.KiBPerPlayer != 40.96 || c.RSSPeakBytes != 14*mib ||
		c.GapP99MS != 500 || c.StartupP50MS != 42 {
		t.Errorf("figures: %+v", c)
	}

	short := CellResult{StepResult: StepResult{Players: 100}}
	short.addFigures(&Result{Timeline: r.Timeline[:1]}, 10*mib)
	if short.CPUMicrosPerMsg != 0 || short.KiBPerPlayer != 0 {
		t.Errorf("no steady window, yet figures: %+v", short)
	}
}

func TestCompareTableText(t *testing.T) {
	var b bytes.Buffer
	writeCellHead(&b)
	writeCellRow(&b, CellResult{Server: serverNginx, Workers: 1, Protocol: ProtoRTMP,
		StepResult:      StepResult{Players: 2000, DeliveredGbps: 4, ServerCPUPct: 95, BenchCPUPct: 64, CPUSecPerGbit: 0.2375, StartupP99MS: 1980, Saturated: true},
		CPUMicrosPerMsg: 6.5, UserPct: 41, StartupP50MS: 990, GapP99MS: 120, KiBPerPlayer: 30.25})
	writeRatios(&b, "ratios:", []Ratio{{Protocol: ProtoFLV, Players: 2000, Of: "streamedge -w 1", Against: "nginx-rtmp RTMP",
		CPUPerGbit: 0.3125, CPUPerMsg: 0.31, StartupP50: 0.0012, StartupP99: 0.02, GapP99: 3.4, KiB: 250}})
	writeRatios(&b, "never printed: no rows", nil)
	out := b.String()
	for _, want := range []string{
		"nginx-rtmp        RTMP         2000   4.000         95%   41%       0.237    6.50        990ms       1980ms    120ms        30.2      0.0%        64%        0% *",
		"streamedge -w 1   HTTP-FLV     2000  nginx-rtmp RTMP                0.31x   0.31x      0.0012x        0.02x     3.4x        250x",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks\n%q\nin\n%s", want, out)
		}
	}
	if strings.Contains(out, "never printed") {
		t.Errorf("an empty ratio table was printed:\n%s", out)
	}
}

func TestParseProtocols(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  bool
	}{
		{"rtmp,flv", []string{ProtoRTMP, ProtoFLV}, false},
		{" flv ", []string{ProtoFLV}, false},
		{"", nil, false},
		{"whep", nil, true},
		{"rtmp,", nil, true},
	}
	for _, tt := range tests {
		got, err := parseProtocols(tt.in)
		if (err != nil) != tt.err || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseProtocols(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}
