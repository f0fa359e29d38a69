package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"time"

	"streamedge/media/flv"
)

// settle is skipped after a step's ramp before measuring: the last players
// are still taking their GOP burst.
const settle = 2 * time.Second

// ScenarioConfig is the standard benchmark: one server, one synthetic
// publisher, players in growing steps.
type ScenarioConfig struct {
	Server       string        // the streamedge binary to start
	Workers      int           // its -w
	Steps        []int         // player counts; empty doubles from 100 up to Cap
	StepDuration time.Duration // measured time per step, after its ramp
	Cap          int           // the most players in any step
	Ramp         float64       // players started per second
	Protocol     string        // ProtoFLV, ProtoRTMP or ProtoWHEP
	Bitrate      float64       // the publisher's
	MaxStarve    float64       // percent of failed or starving players that ends the scenario
	ExtraYAML    string        // appended to the server's config
	Pin          Pinning       // the server's and the load client's CPUs; none: shared
	// PastCapacity: when a step ends the ramp, one more step with this
	// many times its players, to see what the players the server admits
	// get when it is offered more than it carries. 0: none.
	PastCapacity float64
	Out          io.Writer // the table
	Progress     io.Writer // per-second progress within a step; nil for none
	Log          *slog.Logger
}

// StepResult is one row of the scenario's table. The server's CPU is
// measured over the step's steady part, after the ramp and the settle time.
type StepResult struct {
	Players       int     `json:"players"`
	DeliveredGbps float64 `json:"delivered_gbps"` // media payload
	ServerCPUPct  float64 `json:"server_cpu_pct"` // of one core
	CPUSecPerGbit float64 `json:"server_cpu_s_per_gbit"`
	StartupP99MS  float64 `json:"startup_p99_ms"`
	StarvingPct   float64 `json:"starving_pct"` // failed or starving players
	StalledPct    float64 `json:"stalled_pct"`  // players with a gap over a second
	BenchCPUPct   float64 `json:"bench_cpu_pct"`
	HostCPUPct    float64 `json:"host_cpu_pct"` // of all the machine's cores
	// With pinning: how busy the server's and the load client's cores
	// were, with anything else that ran on them.
	ServerCoresPct float64 `json:"server_cores_busy_pct,omitempty"`
	ClientCoresPct float64 `json:"client_cores_busy_pct,omitempty"`
	// Saturated: the load client's cores (unpinned: the machine) were over
	// 90% busy, so the client, not only the server, may have set the limit.
	Saturated bool      `json:"machine_saturated"`
	Admission Admission `json:"admission"`
	// The CPUs the server's and the bench's threads were allowed, read
	// back from /proc at the end of the step.
	ServerAffinity *Affinity `json:"server_affinity,omitempty"`
	ClientAffinity *Affinity `json:"client_affinity,omitempty"`
	Summary        *Summary  `json:"summary"`
}

// ScenarioResult is the whole table.
type ScenarioResult struct {
	Server   string       `json:"server"`
	Workers  int          `json:"workers"`
	Protocol string       `json:"protocol"`
	Bitrate  float64      `json:"bitrate_bps"`
	Steps    []StepResult `json:"steps"`
	Stopped  string       `json:"stopped"` // why there are no more steps
	// Past is the past-capacity step, when one ran, and the server's
	// admission decisions during it (from its log).
	Past          *StepResult `json:"past_capacity,omitempty"`
	PastDecisions []string    `json:"past_capacity_decisions,omitempty"`
}

// DefaultSteps doubles from 100 up to limit, ending on limit itself.
func DefaultSteps(limit int) []int {
	var steps []int
	for n := 100; n < limit; n *= 2 {
		steps = append(steps, n)
	}
	return append(steps, limit)
}

// Scenario starts the server and the publisher, runs the steps until one
// has too many starving players or the cap is reached, and stops the server.
func Scenario(ctx context.Context, cfg ScenarioConfig) (*ScenarioResult, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.NumCPU()
	}
	if len(cfg.Steps) == 0 {
		cfg.Steps = DefaultSteps(cfg.Cap)
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	decisions := &decisionLog{}
	opts := ServerOptions{Path: cfg.Server, Workers: cfg.Workers, ExtraYAML: cfg.ExtraYAML, Pin: cfg.Pin, OnLog: decisions.add}
	if cfg.Protocol == ProtoWHEP {
		opts.ExtraYAML += "\nrtc:\n  enabled: true\n  udp_port_base: 0\n"
	}
	srv, err := StartServer(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer srv.Stop()
	cfg.Log.Info("server started", "pid", srv.Pid, "rtmp", srv.RTMP, "http", srv.HTTP, "workers", cfg.Workers)

	defer startPublisher(ctx, srv.RTMP, cfg.Bitrate, cfg.Log)()
	url := benchURL(cfg.Protocol, srv.RTMP, srv.HTTP)
	if err := awaitPlayable(ctx, cfg.Protocol, url); err != nil {
		return nil, fmt.Errorf("the published stream never became playable: %w\nserver log:\n%s", err, srv.Log())
	}
	res := &ScenarioResult{Server: cfg.Server, Workers: cfg.Workers, Protocol: cfg.Protocol, Bitrate: cfg.Bitrate}
	writeScenarioHead(cfg)
	for _, n := range cfg.Steps {
		if n > cfg.Cap {
			res.Stopped = fmt.Sprintf("the next step, %d players, is over the cap of %d", n, cfg.Cap)
			break
		}
		step, _, err := runStep(ctx, cfg, srv.CPU, url, n)
		if err != nil {
			return res, err
		}
		step.readAffinity(srv.Pid)
		res.Steps = append(res.Steps, step)
		writeStepRow(cfg.Out, step)
		if step.StarvingPct > cfg.MaxStarve {
			res.Stopped = fmt.Sprintf("%.1f%% of %d players failed or starved (limit %g%%)", step.StarvingPct, n, cfg.MaxStarve)
			if past := pastCapacitySteps(n, cfg.PastCapacity); past > 0 && ctx.Err() == nil {
				start := time.Now()
				step, _, err := runStep(ctx, cfg, srv.CPU, url, past)
				if err != nil {
					return res, err
				}
				step.readAffinity(srv.Pid)
				res.Past, res.PastDecisions = &step, decisions.since(start)
				writeStepRow(cfg.Out, step)
			}
			break
		}
		select {
		case <-srv.Done():
			return res, fmt.Errorf("the server exited during the scenario:\n%s", srv.Log())
		default:
		}
		if ctx.Err() != nil {
			res.Stopped = "interrupted"
			break
		}
	}
	if res.Stopped == "" {
		res.Stopped = fmt.Sprintf("all steps passed, up to %d players", cfg.Steps[len(cfg.Steps)-1])
	}
	fmt.Fprintf(cfg.Out, "stopped: %s\n", res.Stopped)
	if res.Past != nil {
		writeAdmission(cfg.Out, res.Past.Admission)
		fmt.Fprintf(cfg.Out, "  the server's admission decisions during it (from the step's start):\n")
		for _, d := range res.PastDecisions {
			fmt.Fprintf(cfg.Out, "    %s\n", d)
		}
	}
	writeScenarioNotes(cfg.Out, cfg.Pin, append(res.Steps, derefSteps(res.Past)...))
	return res, nil
}

// pastCapacitySteps is the players of the step after the one that ended
// the ramp: factor times it, within MaxClients; 0 for none.
func pastCapacitySteps(n int, factor float64) int {
	if factor <= 1 {
		return 0
	}
	return min(int(float64(n)*factor+0.5), MaxClients)
}

func derefSteps(s *StepResult) []StepResult {
	if s == nil {
		return nil
	}
	return []StepResult{*s}
}

// readAffinity records the CPUs the server's threads and the bench's own
// were allowed at the end of the step.
func (s *StepResult) readAffinity(pid int) {
	if a, err := treeAffinity(pid); err == nil {
		s.ServerAffinity = &a
	}
	if a, err := pidsAffinity([]int{os.Getpid()}); err == nil {
		s.ClientAffinity = &a
	}
}

// writeScenarioNotes says what bounded the steps marked saturated, and
// whether the pinning held in every step.
func writeScenarioNotes(w io.Writer, pin Pinning, steps []StepResult) {
	for _, s := range steps {
		if s.Saturated {
			if len(pin.Client) > 0 {
				fmt.Fprintf(w, "* the load client's CPUs %s were over 90%% busy: at those steps the client, not only the server, set the limit\n", pin.Client)
			} else {
				fmt.Fprintf(w, "* this machine's %d cores were over 90%% busy (the bench and the server share them): "+
					"at those steps the machine, not only the server, set the limit\n", runtime.NumCPU())
			}
			break
		}
	}
	writeAffinityNote(w, pin, steps)
}

// runStep plays n players for a step and measures the server whose CPU
// time cpu reads; extra probes go into the same timeline.
// startPublisher publishes the synthetic stream bench/s to the RTMP
// address until the returned stop is called, which waits for it to end.
func startPublisher(ctx context.Context, rtmpAddr string, bitrate float64, log *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		Publish(ctx, PublishConfig{URL: "rtmp://" + rtmpAddr + "/bench/s", Publishers: 1, Synthetic: bitrate, Log: log})
	}()
	return func() { cancel(); <-done }
}

// benchURL is where a player of proto finds the stream bench/s.
func benchURL(proto, rtmpAddr, httpAddr string) string {
	switch proto {
	case ProtoRTMP:
		return "rtmp://" + rtmpAddr + "/bench/s"
	case ProtoWHEP:
		return "http://" + httpAddr + "/bench/s/whep"
	}
	return "http://" + httpAddr + "/bench/s.flv"
}

func runStep(ctx context.Context, cfg ScenarioConfig, cpu func() (time.Duration, error), url string, n int, extra ...Probe) (StepResult, *Result, error) {
	ramp := time.Duration(0)
	if cfg.Ramp > 0 {
		ramp = time.Duration(float64(n) / cfg.Ramp * float64(time.Second))
	}
	cpuProbe := Probe{Name: "server_cpu_s", Read: func() (float64, error) {
		d, err := cpu()
		return d.Seconds(), err
	}}
	hostProbe := Probe{Name: "host_cpu_s", Read: func() (float64, error) {
		d, err := hostBusy()
		return d.Seconds(), err
	}}
	probes := append([]Probe{cpuProbe, hostProbe}, extra...)
	probes = append(probes, coresProbes(cfg.Pin)...)
	r, err := Play(ctx, PlayConfig{URL: url, Clients: n, Ramp: cfg.Ramp, Duration: ramp + settle + cfg.StepDuration,
		Timeout: 10 * time.Second, Bitrate: cfg.Bitrate, MaxFail: cfg.MaxStarve, Progress: cfg.Progress,
		Probes: probes})
	if err != nil {
		return StepResult{}, nil, err
	}
	step := StepResult{Players: n, StartupP99MS: r.Summary.Startup.P99, StarvingPct: r.Summary.BadPct,
		StalledPct: 100 * float64(r.Summary.StalledClient) / float64(n), BenchCPUPct: r.Summary.BenchCPUPct,
		Admission: admissionOf(r.Clients, &r.Summary), Summary: &r.Summary}
	a, b, ok := steadyWindow(r.Timeline, n)
	if !ok {
		return step, r, nil
	}
	// Bytes and CPU over the same seconds. A window of whole seconds holds
	// a keyframe more or less than the average: with a 2 s GOP that is
	// about 1% of a 20 s window.
	secs := b.T - a.T
	gbit := float64(b.Bytes-a.Bytes) * 8 / 1e9
	step.DeliveredGbps = gbit / secs
	if cpu := b.Probes["server_cpu_s"] - a.Probes["server_cpu_s"]; cpu >= 0 {
		step.ServerCPUPct = 100 * cpu / secs
		if gbit > 0 {
			step.CPUSecPerGbit = cpu / gbit
		}
	}
	if host := b.Probes["host_cpu_s"] - a.Probes["host_cpu_s"]; host >= 0 {
		step.HostCPUPct = 100 * host / secs / float64(runtime.NumCPU())
	}
	step.Saturated = step.HostCPUPct > 90
	if len(cfg.Pin.Client) > 0 {
		step.ServerCoresPct = coresPct(a, b, serverCoresProbe, len(cfg.Pin.Server))
		step.ClientCoresPct = coresPct(a, b, clientCoresProbe, len(cfg.Pin.Client))
		step.Saturated = step.ClientCoresPct > 90
	}
	return step, r, nil
}

// steadyWindow picks the samples that bound a step's steady part: from
// settle after every player was started and (nearly) every one was playing,
// so startup bursts stay out of it, to the end. ok is false when the step
// was too short to have one.
func steadyWindow(tl []Sample, n int) (a, b Sample, ok bool) {
	first := -1
	for i, s := range tl {
		if s.Launched == n {
			first = i
			break
		}
	}
	if first < 0 {
		return a, b, false
	}
	for i, s := range tl[first:] {
		if s.Playing >= n-n/100 {
			first += i
			break
		}
	}
	b = tl[len(tl)-1]
	a = tl[first]
	for _, s := range tl[first:] {
		if s.T >= tl[first].T+settle.Seconds() {
			a = s
			break
		}
	}
	if b.T-a.T < 1 {
		a = tl[first]
	}
	_, hasA := a.Probes["server_cpu_s"]
	_, hasB := b.Probes["server_cpu_s"]
	return a, b, b.T-a.T >= 1 && hasA == hasB
}

// awaitPlayable waits until a player gets a keyframe of the stream: the
// publisher is up and the server has the headers and a GOP.
func awaitPlayable(ctx context.Context, proto, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var last error
	for ctx.Err() == nil {
		if last = probeKeyframe(ctx, proto, url); last == nil {
			return nil
		}
		select {
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
		}
	}
	if last == nil {
		last = ctx.Err()
	}
	return last
}

func probeKeyframe(ctx context.Context, proto, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := open(ctx, proto, url)
	if err != nil {
		return err
	}
	defer s.close()
	stop := context.AfterFunc(ctx, s.close)
	defer stop()
	for {
		typ, _, body, err := s.next()
		if err != nil {
			return errors.Join(err, ctx.Err())
		}
		if typ == flv.TagVideo && flv.IsVideoKeyPicture(body) {
			return nil
		}
	}
}

func writeScenarioHead(cfg ScenarioConfig) {
	fmt.Fprintf(cfg.Out, "streamedge bench scenario: %s -w %d, one synthetic publisher at %s, %s players, %v measured per step\n",
		cfg.Server, cfg.Workers, formatBitrate(cfg.Bitrate), protoName(cfg.Protocol), cfg.StepDuration)
	writePinningHead(cfg.Out, cfg.Pin)
	fmt.Fprintf(cfg.Out, "%8s  %16s  %10s  %10s  %11s  %8s  %7s  %9s  %8s  %8s  %8s  %8s  %8s  %7s\n",
		"players", "delivered Gbit/s", "server CPU", "CPU-s/Gbit", "startup p99", "starving", "stalled", "bench CPU", "host CPU",
		"srv core", "cli core", "admitted", "refused", "adm p1")
}

func writeStepRow(w io.Writer, s StepResult) {
	mark := ""
	if s.Saturated {
		mark = " *"
	}
	fmt.Fprintf(w, "%8d  %16.3f  %9.0f%%  %10.2f  %11s  %7.1f%%  %6.1f%%  %8.0f%%  %7.0f%%  %8s  %8s  %8d  %8d  %7.2f%s\n",
		s.Players, s.DeliveredGbps, s.ServerCPUPct, s.CPUSecPerGbit, ms(s.StartupP99MS), s.StarvingPct,
		s.StalledPct, s.BenchCPUPct, s.HostCPUPct, busyPct(s.ServerCoresPct), busyPct(s.ClientCoresPct),
		s.Admission.Admitted, s.Admission.Refused, s.Admission.ShareP1, mark)
}

func protoName(p string) string {
	switch p {
	case ProtoRTMP:
		return "RTMP"
	case ProtoWHEP:
		return "WHEP"
	}
	return "HTTP-FLV"
}
