package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// Exit codes of `streamedge bench`.
const (
	ExitPass  = 0
	ExitFail  = 1 // the run failed its threshold, or could not run
	ExitUsage = 2
)

const usage = `usage: streamedge bench <command> [flags]

commands:
  publish    publish streams: an FLV file looped in real time, or synthetic media
  play       start players, measure what they receive, print a summary
  scenario   start a server and a publisher, add players in steps, print a table
  compare    streamedge against nginx-rtmp with the same publisher and players, then its starving point

Run "streamedge bench <command> -h" for a command's flags.
`

// Main is `streamedge bench`: it parses args, runs the command until it ends
// or SIGINT/SIGTERM arrives (a summary is still printed), and returns the
// exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return ExitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// The first ^C ends the run and still prints what it measured; once it
	// has, the signals are the default again, so a second ^C kills.
	context.AfterFunc(ctx, stop)
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	switch args[0] {
	case "play":
		return playCommand(ctx, args[1:], stdout, stderr)
	case "publish":
		return publishCommand(ctx, args[1:], stdout, stderr, log)
	case "scenario":
		return scenarioCommand(ctx, args[1:], stdout, stderr, log)
	case "compare":
		return compareCommand(ctx, args[1:], stdout, stderr, log)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return ExitPass
	}
	fmt.Fprintf(stderr, "streamedge bench: unknown command %q\n%s", args[0], usage)
	return ExitUsage
}

// bitrateFlag is a flag.Value taking "2M"-style rates; empty means unset.
type bitrateFlag struct{ bps float64 }

func (f *bitrateFlag) String() string {
	if f == nil || f.bps == 0 {
		return ""
	}
	return formatBitrate(f.bps)
}

func (f *bitrateFlag) Set(s string) error {
	v, err := ParseBitrate(s)
	f.bps = v
	return err
}

type rampFlag struct{ perSec float64 }

func (f *rampFlag) String() string {
	if f == nil {
		return ""
	}
	return fmt.Sprintf("%g/s", f.perSec)
}

func (f *rampFlag) Set(s string) error {
	v, err := ParseRamp(s)
	f.perSec = v
	return err
}

func newFlagSet(name string, stderr io.Writer, summary string) *flag.FlagSet {
	fs := flag.NewFlagSet("streamedge bench "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: streamedge bench %s [flags]\n\n%s\n\nflags:\n", name, summary)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags and refuses stray arguments, which are nearly always a
// flag typed after a value that took none. When it returns false the
// command exits with code: 0 after -h, 2 for a mistake.
func parse(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitPass, false
		}
		return ExitUsage, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return ExitUsage, false
	}
	return 0, true
}

func playCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("play", stderr, "Starts players, shows progress once a second, prints a summary; exits 1 when more\n"+
		"clients failed or starved than -max-fail allows, or when none received media.")
	cfg := PlayConfig{}
	ramp := rampFlag{100}
	var bitrate bitrateFlag
	fs.StringVar(&cfg.URL, "url", "", "rtmp://host[:port]/app/stream or http://host:port/app/stream.flv; {i} and {i%N} expand to the client index")
	fs.IntVar(&cfg.Clients, "clients", 1, fmt.Sprintf("players to start (at most %d)", MaxClients))
	fs.Var(&ramp, "ramp", "players started per second, e.g. 100/s; 0 starts all at once")
	fs.DurationVar(&cfg.Duration, "duration", 30*time.Second, "length of the whole run, ramp included")
	fs.DurationVar(&cfg.Timeout, "timeout", 10*time.Second, "longest wait for the first media, and longest silence after it")
	fs.BoolVar(&cfg.Reconnect, "reconnect", false, "reconnect players that are dropped, and count the reconnects")
	fs.Var(&bitrate, "bitrate", "the source's bitrate (e.g. 2M), to judge starving clients by; default: the clients' median")
	fs.Float64Var(&cfg.MaxFail, "max-fail", 1, "percent of clients that may fail or starve before the run fails")
	fs.BoolVar(&cfg.AllowRemote, "allow-remote", false, "allow a target that is not on the loopback interface")
	jsonOut := fs.String("json", "", "write the result as JSON to this `file`")
	reportOut := fs.String("report", "", "write an HTML report with charts to this `file`")
	pid := fs.Int("pid", 0, "sample the CPU time of this server `process` and its children into the timeline")
	var pin Pinning
	fs.Var(cpuListFlag{&pin.Client}, "client-cpus", "run the players on these `CPUs`, with GOMAXPROCS their count (default: any)")
	fs.IntVar(&pin.Nice, "nice", 0, "run the players at this nice (negative: root only)")
	quiet := fs.Bool("q", false, "no progress line")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	undo, err := pin.Apply()
	defer undo()
	if err != nil {
		fmt.Fprintln(stderr, "streamedge bench play:", err)
		return ExitUsage
	}
	if cfg.URL == "" {
		fmt.Fprintln(stderr, "streamedge bench play: -url is required")
		return ExitUsage
	}
	cfg.Ramp, cfg.Bitrate = ramp.perSec, bitrate.bps
	if !*quiet {
		cfg.Progress = stderr
	}
	if *pid > 0 {
		p := *pid
		cfg.Probes = append(cfg.Probes, Probe{Name: "server_cpu_s", Read: func() (float64, error) {
			d, err := ProcessTreeCPU(p)
			return d.Seconds(), err
		}})
	}
	res, err := Play(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "streamedge bench play:", err)
		return ExitUsage
	}
	res.Summary.WriteText(stdout)
	if err := writeOutputs(res, *jsonOut, *reportOut); err != nil {
		fmt.Fprintln(stderr, "streamedge bench play:", err)
		return ExitFail
	}
	if !res.Summary.Pass {
		return ExitFail
	}
	return ExitPass
}

func writeOutputs(res *Result, jsonPath, reportPath string) error {
	if jsonPath != "" {
		if err := writeFile(jsonPath, func(w io.Writer) error { return writeJSON(w, res) }); err != nil {
			return err
		}
	}
	if reportPath != "" {
		return writeFile(reportPath, func(w io.Writer) error { return WriteReport(w, res) })
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeFile writes through a temporary file, so a failed write never leaves
// half a report where the last good one was.
func writeFile(path string, write func(io.Writer) error) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	err = write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

func publishCommand(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) int {
	fs := newFlagSet("publish", stderr, "Publishes RTMP streams in real time until -duration ends or it is interrupted;\n"+
		"a publisher that is dropped or refused tries again.")
	cfg := PublishConfig{Log: log}
	var synthetic bitrateFlag
	fs.StringVar(&cfg.URL, "url", "", "rtmp://host[:port]/app/stream; {i} expands to the publisher index")
	fs.StringVar(&cfg.File, "file", "", "an FLV `file` to loop, paced by its timestamps")
	fs.Var(&synthetic, "synthetic", "publish generated H.264- and AAC-shaped media at this bitrate, e.g. 2M (25 fps, 2 s GOP)")
	fs.IntVar(&cfg.Publishers, "publishers", 1, "streams to publish; put {i} in the URL to name them apart")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Minute, "how long to publish")
	fs.BoolVar(&cfg.AllowRemote, "allow-remote", false, "allow a target that is not on the loopback interface")
	jsonOut := fs.String("json", "", "write the result as JSON to this `file`")
	quiet := fs.Bool("q", false, "no progress line")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if cfg.URL == "" {
		fmt.Fprintln(stderr, "streamedge bench publish: -url is required")
		return ExitUsage
	}
	if cfg.Duration <= 0 {
		fmt.Fprintln(stderr, "streamedge bench publish: -duration must be positive")
		return ExitUsage
	}
	cfg.Synthetic = synthetic.bps
	if !*quiet {
		cfg.Progress = stderr
	}
	res, err := Publish(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "streamedge bench publish:", err)
		return ExitUsage
	}
	code := writePublishText(stdout, res)
	if *jsonOut != "" {
		if err := writeFile(*jsonOut, func(w io.Writer) error { return writeJSON(w, res) }); err != nil {
			fmt.Fprintln(stderr, "streamedge bench publish:", err)
			return ExitFail
		}
	}
	return code
}

// writePublishText prints the publish summary; a publisher that was never
// accepted makes the run fail.
func writePublishText(w io.Writer, res *PublishResult) int {
	never, errs := 0, 0
	for _, p := range res.Publishers {
		if p.Sessions == 0 {
			never++
		}
		errs += p.ErrorCount
	}
	fmt.Fprintf(w, "published %d streams for %.1f s: %.2f Mbit/s in all (source %s each), %s, %d errors\n",
		len(res.Publishers), res.DurationS, res.Mbps, formatBitrate(res.SourceBPS), bytesLabel(res.Bytes), errs)
	for _, p := range res.Publishers {
		if p.ErrorCount > 0 {
			fmt.Fprintf(w, "  %s: %d sessions, %d errors, last kept: %s\n", p.URL, p.Sessions, p.ErrorCount, p.Errors[len(p.Errors)-1])
		}
	}
	if never > 0 {
		fmt.Fprintf(w, "FAIL: %d publishers were never accepted\n", never)
		return ExitFail
	}
	return ExitPass
}

func scenarioCommand(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) int {
	if len(args) > 0 && args[0] == "rebalance" {
		return rebalanceCommand(ctx, args[1:], stdout, stderr, log)
	}
	fs := newFlagSet("scenario", stderr, "Starts the server with -w workers on free loopback ports and one synthetic publisher,\n"+
		"then runs players in growing steps until more than -max-starve percent fail or starve,\n"+
		"or the cap is reached, and prints one table row per step.\n"+
		"\"scenario rebalance\" piles players on one of two workers instead and times the balancer evening them out.")
	self, _ := os.Executable()
	cfg := ScenarioConfig{Out: stdout, Log: log}
	bitrate := bitrateFlag{2e6}
	ramp := rampFlag{500}
	steps := fs.String("steps", "", "player counts per step, e.g. 100,200,400 (default: double from 100 up to -cap)")
	fs.StringVar(&cfg.Server, "server", self, "the streamedge `binary` to start")
	fs.IntVar(&cfg.Workers, "w", runtime.NumCPU(), "the server's worker processes (-w)")
	fs.DurationVar(&cfg.StepDuration, "step-duration", 20*time.Second, "measured time per step, after its ramp")
	fs.IntVar(&cfg.Cap, "cap", MaxClients, "the most players in a step")
	fs.Var(&ramp, "ramp", "players started per second within a step")
	fs.StringVar(&cfg.Protocol, "protocol", ProtoFLV, "the players' protocol: flv (HTTP-FLV), rtmp or whep (WebRTC)")
	fs.Var(&bitrate, "bitrate", "the synthetic publisher's bitrate")
	fs.Float64Var(&cfg.MaxStarve, "max-starve", 1, "percent of failed or starving players that ends the scenario")
	fs.StringVar(&cfg.ExtraYAML, "yaml", "", "YAML appended to the server's config, e.g. 'balance: {host_cpu_high: 0, max_connections: 0}'")
	fs.Float64Var(&cfg.PastCapacity, "past-capacity", 0, "after the step that ends the ramp, one step of this many times its players, e.g. 1.5 (0: none)")
	pinFlags(fs, &cfg.Pin)
	jsonOut := fs.String("json", "", "write the steps as JSON to this `file`")
	quiet := fs.Bool("q", false, "no progress line")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	cfg.Bitrate, cfg.Ramp = bitrate.bps, ramp.perSec
	err := cfg.check(*steps)
	var undo func()
	if err == nil {
		undo, err = cfg.Pin.Apply()
		defer undo()
	}
	if err != nil {
		fmt.Fprintln(stderr, "streamedge bench scenario:", err)
		return ExitUsage
	}
	if !*quiet {
		cfg.Progress = stderr
	}
	res, err := Scenario(ctx, cfg)
	if err == nil && *jsonOut != "" {
		err = writeFile(*jsonOut, func(w io.Writer) error { return writeJSON(w, res) })
	}
	if err != nil {
		fmt.Fprintln(stderr, "streamedge bench scenario:", err)
		return ExitFail
	}
	return ExitPass
}

// pinFlags adds -server-cpus and -client-cpus.
func pinFlags(fs *flag.FlagSet, p *Pinning) {
	fs.Var(cpuListFlag{&p.Server}, "server-cpus", "run the server (and nginx-rtmp) on these `CPUs`, e.g. 0 or 0-1 (default: any)")
	fs.Var(cpuListFlag{&p.Client}, "client-cpus", "run the load client, this process, on these `CPUs`, with GOMAXPROCS their count (default: any)")
	fs.IntVar(&p.Nice, "nice", 0, "run the server and the load client at this nice, e.g. -5 on a machine others share (negative: root only)")
}

// check validates the command line's view of a scenario.
func (cfg *ScenarioConfig) check(steps string) error {
	if cfg.Protocol != ProtoFLV && cfg.Protocol != ProtoRTMP && cfg.Protocol != ProtoWHEP {
		return fmt.Errorf("-protocol must be flv, rtmp or whep, got %q", cfg.Protocol)
	}
	if cfg.Server == "" {
		return errors.New("-server is required")
	}
	if cfg.Cap < 1 || cfg.Cap > MaxClients {
		return fmt.Errorf("-cap must be between 1 and %d", MaxClients)
	}
	if cfg.StepDuration < time.Second || cfg.StepDuration > time.Hour {
		return fmt.Errorf("-step-duration must be between 1s and 1h, got %v", cfg.StepDuration)
	}
	if cfg.Ramp <= 0 {
		return errors.New("-ramp must be positive")
	}
	if steps != "" {
		var err error
		if cfg.Steps, err = ParseSteps(steps); err != nil {
			return err
		}
	}
	return nil
}
