package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"time"
)

// CompareConfig is `bench compare`: streamedge against nginx-rtmp with the
// same publisher and players, then streamedge alone to its starving point.
type CompareConfig struct {
	Server      string        // the streamedge binary
	Nginx       string        // the nginx binary
	NginxModule string        // its ngx_rtmp_module.so
	Players     []int         // player counts of the side-by-side cells
	Protocols   []string      // streamedge's players: ProtoRTMP, ProtoFLV; nginx-rtmp plays RTMP
	W2          bool          // also streamedge -w 2 at the same players
	Duration    time.Duration // measured per cell, after its ramp and settle
	Ramp        float64       // players started per second
	Bitrate     float64       // the synthetic publisher's
	// The starving point: streamedge -w 1 alone, with `bench scenario`'s
	// steps, on each of these protocols (none: skipped).
	StarveProtocols []string
	StarveSteps     []int
	StarveDuration  time.Duration
	// PastCapacity: after each starving point, one step with this many
	// times the players of the step that ended it (0: none).
	PastCapacity float64
	Pin          Pinning // every server's CPUs and the load client's
	// Profile: where to write a perf record of the streamedge -w 1 worker
	// during its largest HTTP-FLV cell (RTMP without one); "" for none.
	Profile  string
	Out      io.Writer // the tables
	Progress io.Writer // per-second progress; nil for none
	Log      *slog.Logger
}

// CompareResult is everything `bench compare` measured.
type CompareResult struct {
	Bitrate   float64           `json:"bitrate_bps"`
	DurationS float64           `json:"measured_s_per_cell"`
	Cells     []CellResult      `json:"cells"`
	VsNginx   []Ratio           `json:"streamedge_vs_nginx"`
	W2        []Ratio           `json:"w2_vs_w1"`
	Starve    []*ScenarioResult `json:"starving_point"`
	Profile   string            `json:"profile,omitempty"` // the perf report, when one was taken
	Stopped   string            `json:"stopped,omitempty"` // set when the run ended early
}

// compareYAML is streamedge's config in every cell: the bench shares the
// host, so its CPU must not make the server refuse players as a full host,
// and the ramp looks for the CPU's limit, not the connection cap's.
const compareYAML = "balance:\n  host_cpu_high: 0\n  max_connections: 0\n"

// Compare runs the cells of the plan one by one, each on a freshly started
// server (so one cell's memory is not the next one's baseline), prints a
// row as each ends and the ratios after them, then ramps streamedge alone.
// The servers it starts, nginx's temporary prefix and the perf recorder
// are gone when it returns, also when ctx ends early.
func Compare(ctx context.Context, cfg CompareConfig) (*CompareResult, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	dir, err := os.MkdirTemp("", "streamedge-compare-nginx")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	res := &CompareResult{Bitrate: cfg.Bitrate, DurationS: cfg.Duration.Seconds()}
	plan := comparePlan(cfg.Players, cfg.Protocols, cfg.W2)
	profiled := profiledCell(plan, cfg.Profile != "")
	fmt.Fprintf(cfg.Out, "streamedge bench compare: %s against %s (%s), one synthetic publisher at %s, %v measured per cell, "+
		"a fresh server for each; this machine has %d cores\n",
		cfg.Server, serverNginx, cfg.NginxModule, formatBitrate(cfg.Bitrate), cfg.Duration, runtime.NumCPU())
	writePinningHead(cfg.Out, cfg.Pin)
	writeCellHead(cfg.Out)
	for i, spec := range plan {
		profile := ""
		if i == profiled {
			profile = cfg.Profile
		}
		cell, err := runCell(ctx, &cfg, dir, spec, profile)
		if ctx.Err() != nil {
			res.Stopped = "interrupted"
			break
		}
		if err != nil {
			return res, fmt.Errorf("%s %s, %d players: %w", cellLabel(spec), protoName(spec.Protocol), spec.Players, err)
		}
		if _, err := os.Stat(profile + ".txt"); profile != "" && err == nil {
			res.Profile = profile + ".txt"
		}
		res.Cells = append(res.Cells, cell)
		writeCellRow(cfg.Out, cell)
	}
	res.VsNginx, res.W2 = compareRatios(res.Cells)
	writeCompareNotes(cfg.Out, cfg.Pin, res)
	if res.Stopped != "" {
		return res, nil
	}
	for _, proto := range cfg.StarveProtocols {
		fmt.Fprintln(cfg.Out)
		sr, err := Scenario(ctx, ScenarioConfig{Server: cfg.Server, Workers: 1, Steps: cfg.StarveSteps,
			StepDuration: cfg.StarveDuration, Cap: MaxClients, Ramp: cfg.Ramp, Protocol: proto, Bitrate: cfg.Bitrate,
			MaxStarve: 1, ExtraYAML: compareYAML, Pin: cfg.Pin, PastCapacity: cfg.PastCapacity,
			Out: cfg.Out, Progress: cfg.Progress, Log: cfg.Log})
		if sr != nil {
			res.Starve = append(res.Starve, sr)
		}
		if ctx.Err() != nil {
			res.Stopped = "interrupted"
			fmt.Fprintf(cfg.Out, "stopped: %s\n", res.Stopped)
			break
		}
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

func writeCompareNotes(w io.Writer, pin Pinning, res *CompareResult) {
	for _, c := range res.Cells {
		if c.Saturated {
			if len(pin.Client) > 0 {
				fmt.Fprintf(w, "* the load client's CPUs %s were over 90%% busy: the client, not only the server, may have set the limit\n", pin.Client)
			} else {
				fmt.Fprintf(w, "* the machine was over 90%% busy (players and server share it): the machine, not only the server, set the limit\n")
			}
			break
		}
	}
	rows := make([]affinityRow, len(res.Cells))
	for i, c := range res.Cells {
		rows[i] = affinityRow{fmt.Sprintf("%s %s %d", c.Label(), protoName(c.Protocol), c.Players), c.ServerAffinity, c.ClientAffinity}
	}
	writeAffinityRows(w, pin, rows)
	writeRatios(w, "streamedge -w 1 / nginx-rtmp, same players (nginx-rtmp has no HTTP-FLV: its RTMP row is the reference for both):", res.VsNginx)
	writeRatios(w, "streamedge -w 2 / -w 1, same protocol and players:", res.W2)
	if res.Profile != "" {
		fmt.Fprintf(w, "\nperf profile of the streamedge -w 1 worker during its largest cell: %s (perf report -i %s)\n",
			res.Profile, strings.TrimSuffix(res.Profile, ".txt"))
	}
	if res.Stopped != "" {
		fmt.Fprintf(w, "stopped: %s\n", res.Stopped)
	}
}

func cellLabel(s cellSpec) string {
	c := CellResult{Server: s.Server, Workers: s.Workers}
	return c.Label()
}

// profiledCell is the plan's index of the streamedge -w 1 cell to profile:
// the most players, HTTP-FLV before RTMP. -1 for none.
func profiledCell(plan []cellSpec, want bool) int {
	best := -1
	for i, s := range plan {
		if !want || s.Server != serverStreamedge || s.Workers != 1 {
			continue
		}
		if best < 0 || s.Players > plan[best].Players ||
			(s.Players == plan[best].Players && s.Protocol == ProtoFLV) {
			best = i
		}
	}
	return best
}

// target is a server under test, whichever it is.
type target struct {
	rtmp, http string // host:port; http is "" for nginx-rtmp
	pid        int    // the root of its processes
	cpu        func() (time.Duration, error)
	stop       func() error
	done       <-chan struct{}
	log        func() string
}

func startTarget(ctx context.Context, cfg *CompareConfig, dir string, spec cellSpec) (*target, error) {
	if spec.Server == serverNginx {
		n, err := StartNginx(ctx, cfg.Nginx, cfg.NginxModule, dir, spec.Players+64, cfg.Pin)
		if err != nil {
			return nil, err
		}
		return &target{rtmp: n.RTMP, pid: n.Pid, cpu: n.CPU, stop: n.Stop, done: n.Done(), log: n.Log}, nil
	}
	s, err := StartServer(ctx, ServerOptions{Path: cfg.Server, Workers: spec.Workers, ExtraYAML: compareYAML, Pin: cfg.Pin})
	if err != nil {
		return nil, err
	}
	return &target{rtmp: s.RTMP, http: s.HTTP, pid: s.Pid, cpu: s.CPU, stop: s.Stop, done: s.Done(), log: s.Log}, nil
}

// runCell starts the cell's server and the publisher, waits until the
// stream plays, takes the server's memory, and runs the players as one
// scenario step, sampling the memory with the CPU.
func runCell(ctx context.Context, cfg *CompareConfig, dir string, spec cellSpec, profile string) (CellResult, error) {
	cell := CellResult{Server: spec.Server, Workers: spec.Workers, Protocol: spec.Protocol}
	tgt, err := startTarget(ctx, cfg, dir, spec)
	if err != nil {
		return cell, err
	}
	defer tgt.stop()
	defer startPublisher(ctx, tgt.rtmp, cfg.Bitrate, cfg.Log)()
	url := benchURL(spec.Protocol, tgt.rtmp, tgt.http)
	if err := awaitPlayable(ctx, spec.Protocol, url); err != nil {
		return cell, fmt.Errorf("the published stream never became playable: %w\nserver log:\n%s", err, tgt.log())
	}
	base, err := ProcessTreeRSS(tgt.pid)
	if err != nil {
		return cell, err
	}
	rss := Probe{Name: rssProbe, Read: func() (float64, error) {
		v, err := ProcessTreeRSS(tgt.pid)
		return float64(v), err
	}}
	user := Probe{Name: userProbe, Read: func() (float64, error) {
		d, err := ProcessTreeUserCPU(tgt.pid)
		return d.Seconds(), err
	}}
	step := ScenarioConfig{StepDuration: cfg.Duration, Ramp: cfg.Ramp, Bitrate: cfg.Bitrate, MaxStarve: 1, Pin: cfg.Pin, Progress: cfg.Progress}
	if profile != "" {
		// A profile is evidence beside the figures: without one the cell
		// still counts.
		wait, err := startProfile(ctx, tgt.pid, rampTime(spec.Players, cfg.Ramp)+settle, cfg.Duration, profile)
		if err != nil {
			wait = func() error { return err }
		}
		defer func() {
			if err := wait(); err != nil && ctx.Err() == nil {
				cfg.Log.Warn("no profile", "reason", err)
			}
		}()
	}
	sr, r, err := runStep(ctx, step, tgt.cpu, url, spec.Players, rss, user)
	if err != nil {
		return cell, err
	}
	select {
	case <-tgt.done:
		return cell, fmt.Errorf("the server exited during the cell:\n%s", tgt.log())
	default:
	}
	sr.readAffinity(tgt.pid)
	cell.StepResult, cell.Pid = sr, tgt.pid
	cell.addFigures(r, base)
	return cell, nil
}

// rampTime is how long starting n players at ramp per second takes.
func rampTime(n int, ramp float64) time.Duration {
	if ramp <= 0 {
		return 0
	}
	return time.Duration(float64(n) / ramp * float64(time.Second))
}

// check validates a CompareConfig from the command line.
func (cfg *CompareConfig) check() error {
	switch {
	case cfg.Server == "":
		return errors.New("-server is required")
	case len(cfg.Players) == 0:
		return errors.New("-players needs at least one count")
	case cfg.Players[len(cfg.Players)-1] > MaxClients:
		return fmt.Errorf("-players: at most %d", MaxClients)
	case len(cfg.Protocols) == 0:
		return errors.New("-protocols needs at least one of rtmp and flv")
	case cfg.Duration < time.Second || cfg.Duration > time.Hour:
		return fmt.Errorf("-duration must be between 1s and 1h, got %v", cfg.Duration)
	case len(cfg.StarveProtocols) > 0 && (cfg.StarveDuration < time.Second || cfg.StarveDuration > time.Hour):
		return fmt.Errorf("-starve-duration must be between 1s and 1h, got %v", cfg.StarveDuration)
	case cfg.Ramp <= 0:
		return errors.New("-ramp must be positive")
	}
	if n := cfg.StarveSteps; len(n) > 0 && n[len(n)-1] > MaxClients {
		return fmt.Errorf("-starve-steps: at most %d", MaxClients)
	}
	return nil
}

// parseProtocols reads a comma-separated list of rtmp and flv; "" is none.
func parseProtocols(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []string
	for _, f := range strings.Split(s, ",") {
		p := strings.TrimSpace(f)
		if p != ProtoRTMP && p != ProtoFLV {
			return nil, fmt.Errorf("bad protocol %q: want rtmp or flv", p)
		}
		out = append(out, p)
	}
	return out, nil
}

func compareCommand(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) int {
	fs := newFlagSet("compare", stderr, "Runs streamedge (-w 1, and -w 2 unless -w2=false) and nginx-rtmp one after the other with the\n"+
		"same synthetic publisher and players at each -players count, prints CPU per delivered Gbit and per\n"+
		"message, startup, longest gap and memory per player for each with the ratios, then ramps\n"+
		"streamedge -w 1 alone to its starving point (bench scenario) on each -starve protocol.")
	self, _ := os.Executable()
	cfg := CompareConfig{Out: stdout, Log: log}
	bitrate := bitrateFlag{2e6}
	ramp := rampFlag{500}
	players := fs.String("players", "1000,2000", "player counts of the side-by-side cells")
	protocols := fs.String("protocols", "rtmp,flv", "streamedge's player protocols (nginx-rtmp plays RTMP, the reference for both)")
	starve := fs.String("starve", "flv,rtmp", "protocols to ramp streamedge -w 1 alone on until more than 1% starve; empty for none")
	starveSteps := fs.String("starve-steps", "2000,4000,6000,8000,10000,12000,14000", "player counts of the ramp's steps")
	fs.StringVar(&cfg.Server, "server", self, "the streamedge `binary` to start")
	fs.StringVar(&cfg.Nginx, "nginx", "nginx", "the nginx `binary`")
	fs.StringVar(&cfg.NginxModule, "nginx-module", NginxRTMPModule, "nginx's RTMP `module`")
	fs.BoolVar(&cfg.W2, "w2", true, "also run streamedge -w 2 at the same players")
	fs.DurationVar(&cfg.Duration, "duration", 15*time.Second, "measured time per cell, after its ramp")
	fs.DurationVar(&cfg.StarveDuration, "starve-duration", 10*time.Second, "measured time per step of the ramp")
	fs.Var(&ramp, "ramp", "players started per second")
	fs.Var(&bitrate, "bitrate", "the synthetic publisher's bitrate")
	fs.StringVar(&cfg.Profile, "profile", "", "perf record the streamedge -w 1 worker during its largest cell into this `file` (+ .txt: the flat report)")
	fs.Float64Var(&cfg.PastCapacity, "past-capacity", 1.5, "after each starving point, one step of this many times its players (0: none)")
	pinFlags(fs, &cfg.Pin)
	jsonOut := fs.String("json", "", "write the result as JSON to this `file`")
	quiet := fs.Bool("q", false, "no progress line")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	cfg.Bitrate, cfg.Ramp = bitrate.bps, ramp.perSec
	var err error
	if cfg.Players, err = ParseSteps(*players); err == nil {
		if cfg.Protocols, err = parseProtocols(*protocols); err == nil {
			if cfg.StarveProtocols, err = parseProtocols(*starve); err == nil {
				cfg.StarveSteps, err = ParseSteps(*starveSteps)
			}
		}
	}
	if err == nil {
		err = cfg.check()
	}
	var undo func()
	if err == nil {
		undo, err = cfg.Pin.Apply()
		defer undo()
	}
	if err != nil {
		fmt.Fprintln(stderr, "streamedge bench compare:", err)
		return ExitUsage
	}
	if !*quiet {
		cfg.Progress = stderr
	}
	res, err := Compare(ctx, cfg)
	if res != nil && *jsonOut != "" {
		if jerr := writeFile(*jsonOut, func(w io.Writer) error { return writeJSON(w, res) }); err == nil {
			err = jerr
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "streamedge bench compare:", err)
		return ExitFail
	}
	return ExitPass
}
