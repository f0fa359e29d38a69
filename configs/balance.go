package configs

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Balance is the master's load balancing (see supervisor/balance). The
// thresholds are SRS's where SRS has them: 80 % of one core for a worker,
// 80 % of all cores for the host.
type Balance struct {
	Steering      string   `yaml:"steering"`        // auto | cbpf | pause | off
	WorkerCPUHigh float64  `yaml:"worker_cpu_high"` // % of one core
	WorkerCPULow  float64  `yaml:"worker_cpu_low"`
	HotFor        Duration `yaml:"hot_for"`
	ShedAfter     Duration `yaml:"shed_after"`
	RetireAfter   Duration `yaml:"retire_after"` // 0: never retire
	ShedRate      float64  `yaml:"shed_rate"`    // % of a worker's players per second
	ShedMax       int      `yaml:"shed_max"`     // players per second
	// WriterLoadHigh and WriterLoadLow are shares of the merge period
	// (mw_latency) a worker's busiest writer loop needs: at high the
	// worker takes no new players, under low again; high 0 is off.
	WriterLoadHigh float64 `yaml:"writer_load_high"`
	WriterLoadLow  float64 `yaml:"writer_load_low"`

	MaxConnections     int      `yaml:"max_connections"` // per worker, 0: no cap
	WorkerBytesOutMax  Rate     `yaml:"worker_bytes_out_max"`
	HostCPUHigh        float64  `yaml:"host_cpu_high"` // % of all cores
	HostBytesOutMax    Rate     `yaml:"host_bytes_out_max"`
	HostMaxConnections int      `yaml:"host_max_connections"`
	RetryAfter         Duration `yaml:"retry_after"` // HTTP 503 Retry-After when the host is full

	// Redirect: where a full host sends players, first peer first.
	Redirect []Peer `yaml:"redirect"`
}

// Peer is another streamedge (or any server of the same streams) a full
// host redirects players to: HTTP-FLV by a 302, RTMP by an FMS-style
// NetConnection.Connect.Rejected with ex.redirect.
type Peer struct {
	HTTP string `yaml:"http"` // host:port
	RTMP string `yaml:"rtmp"` // host:port
}

// Debug holds what only tests and operators chasing a problem turn on.
type Debug struct {
	// FaultInjection allows POST /api/v1/workers/{slot}/burn (a worker
	// burns real CPU for a while).
	FaultInjection bool `yaml:"fault_injection"`
}

// Rate is bytes per second: a number, or one with a decimal suffix k, M or
// G ("125M" is 125,000,000 B/s, a 1 Gbit/s link). RateAuto (written
// "auto") lets the master work it out.
type Rate float64

// RateAuto asks the master for the figure (host_bytes_out_max: 80 % of the
// listeners' link speed, where the kernel knows it).
const RateAuto Rate = -1

func (r Rate) String() string {
	switch {
	case r == RateAuto:
		return "auto"
	case r >= 1e9 && math.Mod(float64(r), 1e7) == 0:
		return strconv.FormatFloat(float64(r)/1e9, 'f', -1, 64) + "G"
	case r >= 1e6 && math.Mod(float64(r), 1e4) == 0:
		return strconv.FormatFloat(float64(r)/1e6, 'f', -1, 64) + "M"
	}
	return strconv.FormatFloat(float64(r), 'f', -1, 64)
}

// MarshalYAML writes the form UnmarshalYAML reads.
func (r Rate) MarshalYAML() (any, error) {
	if r == RateAuto || r >= 1e6 {
		return r.String(), nil
	}
	return float64(r), nil
}

// UnmarshalYAML reports problems as *yaml.TypeError, as Duration does.
func (r *Rate) UnmarshalYAML(n *yaml.Node) error {
	bad := func() error {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: invalid rate %q (bytes per second: 125000000, 125M, 1.25G or auto)", n.Line, n.Value)}}
	}
	if n.Kind != yaml.ScalarNode {
		return bad()
	}
	s := strings.TrimSpace(n.Value)
	if s == "auto" {
		*r = RateAuto
		return nil
	}
	mult := 1.0
	switch {
	case strings.HasSuffix(s, "k"):
		mult, s = 1e3, strings.TrimSuffix(s, "k")
	case strings.HasSuffix(s, "M"):
		mult, s = 1e6, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "G"):
		mult, s = 1e9, strings.TrimSuffix(s, "G")
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return bad()
	}
	*r = Rate(v * mult)
	return nil
}

func (b *Balance) problems(v *validator) {
	v.oneOf("balance.steering", b.Steering, "auto", "cbpf", "pause", "off")
	v.percent("balance.worker_cpu_high", b.WorkerCPUHigh, 1, 100)
	v.percent("balance.worker_cpu_low", b.WorkerCPULow, 0, 100)
	if b.WorkerCPULow >= b.WorkerCPUHigh {
		v.fail("balance.worker_cpu_low", "must be under balance.worker_cpu_high (%g), got %g", b.WorkerCPUHigh, b.WorkerCPULow)
	}
	// Load reports come once a second: a shorter hot_for is one report.
	v.minDuration("balance.hot_for", b.HotFor, 1e9)
	if b.RetireAfter > 0 && b.RetireAfter < b.ShedAfter {
		v.fail("balance.retire_after", "must be 0 (never) or at least balance.shed_after (%s), got %s", b.ShedAfter, b.RetireAfter)
	}
	// Over 1 a loop already misses ticks; up to 2 leaves room to trade
	// a late tick for more players.
	v.percent("balance.writer_load_high", b.WriterLoadHigh, 0, 2)
	v.percent("balance.writer_load_low", b.WriterLoadLow, 0, 2)
	if b.WriterLoadHigh > 0 && b.WriterLoadLow >= b.WriterLoadHigh {
		v.fail("balance.writer_load_low", "must be under balance.writer_load_high (%g), got %g", b.WriterLoadHigh, b.WriterLoadLow)
	}
	v.percent("balance.shed_rate", b.ShedRate, 0.01, 100)
	v.atLeast("balance.shed_max", b.ShedMax, 1)
	v.atLeast("balance.max_connections", b.MaxConnections, 0)
	v.atLeast("balance.host_max_connections", b.HostMaxConnections, 0)
	v.percent("balance.host_cpu_high", b.HostCPUHigh, 0, 100) // 0: off (a host shared with others)
	if b.WorkerBytesOutMax == RateAuto {
		v.fail("balance.worker_bytes_out_max", "cannot be auto: give bytes per second, or 0 for none")
	}
	v.positive("balance.retry_after", b.RetryAfter)
	// The index has lines for keys, not list entries: point at the list.
	for i, p := range b.Redirect {
		var ev validator
		path := fmt.Sprintf("balance.redirect[%d]", i)
		if p.HTTP == "" && p.RTMP == "" {
			ev.fail(path, "needs http or rtmp (host:port)")
		}
		ev.addr(path+".http", p.HTTP, true)
		ev.addr(path+".rtmp", p.RTMP, true)
		for _, pr := range ev.problems {
			v.problems = append(v.problems, problem{path: "balance.redirect", msg: pr.msg})
		}
	}
}

func (v *validator) percent(path string, x, lo, hi float64) {
	if x < lo || x > hi || math.IsNaN(x) {
		v.fail(path, "must be between %g and %g, got %g", lo, hi, x)
	}
}
