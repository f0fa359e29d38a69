package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"
)

// RebalanceConfig is `streamedge bench scenario rebalance`: players piled
// on one of two workers, then the balancer left to even them out.
type RebalanceConfig struct {
	Server   string        // the streamedge binary to start
	Players  int           // all started while worker 1 is paused
	Ramp     float64       // players started per second
	Protocol string        // ProtoFLV or ProtoRTMP (WebRTC players do not move)
	Bitrate  float64       // the synthetic publisher's
	Even     float64       // max/mean CPU that counts as even
	Timeout  time.Duration // the longest wait for even
	ShedRate float64       // balance.shed_rate, % of a worker's players a second
	ShedMax  int           // balance.shed_max
	Out      io.Writer     // the result
	Progress io.Writer     // a line a second while evening; nil for none
	Log      *slog.Logger
}

// RebalanceResult is what the scenario measured.
type RebalanceResult struct {
	Players int `json:"players"`
	// TimeToEvenS is from the resume of worker 1 to the first of three
	// reports in a row with max/mean CPU at most Even (when the mean is
	// over cpuFloor), and players too (at low load a report's CPU, in
	// whole percents, is mostly noise); -1: not within the timeout.
	TimeToEvenS float64   `json:"time_to_even_s"`
	Even        float64   `json:"even_max_mean_cpu"`
	CPU         []float64 `json:"cpu_percent_by_worker"` // at the end
	ByWorker    []int     `json:"players_by_worker"`     // at the end
	Moved       uint64    `json:"players_moved"`         // handed over between the workers
	Reconnects  int       `json:"reconnects"`
	Disconnects int       `json:"disconnects"`
	Refused     uint64    `json:"refused"` // sessions the workers refused
	Failed      int       `json:"failed_players"`
	MaxGapMS    float64   `json:"max_gap_ms"`
}

// evenReports is how many reports in a row must be even.
const evenReports = 3

// cpuFloor is the mean CPU (% of a core) under which the workers' CPU is
// not compared: a report's CPU comes in whole percents, so 1 against 0
// is noise, not a 2x imbalance.
const cpuFloor = 5

// Rebalance runs the scenario: a server with two workers, worker 1
// paused through the API while the players come (they all land on
// worker 0), then resumed, and the time until the CPU is even.
func Rebalance(ctx context.Context, cfg RebalanceConfig) (*RebalanceResult, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	yaml := fmt.Sprintf("balance:\n  host_cpu_high: 0\n  shed_rate: %g\n  shed_max: %d\n", cfg.ShedRate, cfg.ShedMax)
	srv, err := StartServer(ctx, ServerOptions{Path: cfg.Server, Workers: 2, API: true, ExtraYAML: yaml})
	if err != nil {
		return nil, err
	}
	defer srv.Stop()
	api := apiClient{base: "http://" + srv.API}
	if err := api.awaitWorkers(ctx, func(ws []apiWorker) bool { return len(ws) == 2 && ws[0].ready() && ws[1].ready() }); err != nil {
		return nil, err
	}
	if err := api.post(ctx, "/api/v1/workers/1/pause"); err != nil {
		return nil, err
	}
	if err := api.awaitBalance(ctx, func(b apiBalance) bool { return len(b.Workers) == 2 && b.Workers[1].KernelWeight == 0 }); err != nil {
		return nil, fmt.Errorf("worker 1 never left the steering: %w", err)
	}

	pubCtx, stopPub := context.WithCancel(ctx)
	pubDone := make(chan error, 1)
	go func() {
		_, err := Publish(pubCtx, PublishConfig{URL: "rtmp://" + srv.RTMP + "/bench/s", Publishers: 1, Synthetic: cfg.Bitrate, Log: cfg.Log})
		pubDone <- err
	}()
	defer func() { stopPub(); <-pubDone }()
	url := "http://" + srv.HTTP + "/bench/s.flv"
	if cfg.Protocol == ProtoRTMP {
		url = "rtmp://" + srv.RTMP + "/bench/s"
	}
	if err := awaitPlayable(ctx, cfg.Protocol, url); err != nil {
		return nil, fmt.Errorf("the published stream never became playable: %w\nserver log:\n%s", err, srv.Log())
	}

	playCtx, stopPlay := context.WithCancel(ctx)
	defer stopPlay()
	played := make(chan *Result, 1)
	go func() {
		r, err := Play(playCtx, PlayConfig{URL: url, Clients: cfg.Players, Ramp: cfg.Ramp, Duration: 24 * time.Hour,
			Timeout: 10 * time.Second, Reconnect: true, Bitrate: cfg.Bitrate, MaxFail: 100})
		if err != nil {
			cfg.Log.Error("players", "err", err)
		}
		played <- r
	}()
	pile := time.Duration(float64(cfg.Players)/cfg.Ramp*float64(time.Second)) + 30*time.Second
	pileCtx, cancel := context.WithTimeout(ctx, pile)
	err = api.awaitWorkers(pileCtx, func(ws []apiWorker) bool { return len(ws) == 2 && ws[0].players() >= cfg.Players })
	cancel()
	if err != nil {
		return nil, fmt.Errorf("the players never piled on worker 0: %w", err)
	}

	start := time.Now()
	if err := api.post(ctx, "/api/v1/workers/1/resume"); err != nil {
		return nil, err
	}
	res := &RebalanceResult{Players: cfg.Players, Even: cfg.Even, TimeToEvenS: -1}
	ws, err := api.evenOut(ctx, cfg, start, res)
	stopPlay()
	r := <-played
	if err != nil {
		return nil, err
	}
	for _, w := range ws {
		res.CPU = append(res.CPU, w.Load.CPUPercent)
		res.ByWorker = append(res.ByWorker, w.players())
		res.Moved += w.Load.HandoffsOut
		for _, n := range w.Load.Refusals {
			res.Refused += n
		}
	}
	if r != nil {
		res.Reconnects, res.Disconnects, res.Failed, res.MaxGapMS = r.Summary.Reconnects, r.Summary.Disconnects, r.Summary.Failed, r.Summary.MaxGapMS
	}
	writeRebalance(cfg.Out, res)
	return res, nil
}

// evenOut follows the workers' reports until evenReports of them in a row
// are even, or the timeout; it returns the workers as last seen.
func (a apiClient) evenOut(ctx context.Context, cfg RebalanceConfig, start time.Time, res *RebalanceResult) ([]apiWorker, error) {
	var last time.Time
	var firstEven time.Time
	inRow := 0
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		ws, err := a.workers(ctx)
		if err != nil {
			return nil, err
		}
		if len(ws) == 2 && ws[0].Load != nil && ws[1].Load != nil && ws[1].Load.At.After(last) {
			last = ws[1].Load.At
			c0, c1 := ws[0].Load.CPUPercent, ws[1].Load.CPUPercent
			p0, p1 := ws[0].players(), ws[1].players()
			cpu, players := maxMean(c0, c1), maxMean(float64(p0), float64(p1))
			if cfg.Progress != nil {
				fmt.Fprintf(cfg.Progress, "%5.1fs  cpu %5.1f%% %5.1f%% (max/mean %.2f)  players %d %d (%.2f)\n",
					time.Since(start).Seconds(), c0, c1, cpu, p0, p1, players)
			}
			switch {
			case (cpu > cfg.Even && c0+c1 >= 2*cpuFloor) || players > cfg.Even:
				inRow = 0
			case inRow == 0:
				firstEven, inRow = time.Now(), 1
			default:
				inRow++
			}
			if inRow == evenReports {
				res.TimeToEvenS = firstEven.Sub(start).Seconds()
				return ws, nil
			}
		}
		if time.Since(start) > cfg.Timeout {
			return ws, nil
		}
		select {
		case <-ctx.Done():
			return ws, nil
		case <-tick.C:
		}
	}
}

func maxMean(a, b float64) float64 {
	if a+b == 0 {
		return 1
	}
	return max(a, b) / ((a + b) / 2)
}

func writeRebalance(w io.Writer, r *RebalanceResult) {
	even := "not within the timeout"
	if r.TimeToEvenS >= 0 {
		even = fmt.Sprintf("%.1f s", r.TimeToEvenS)
	}
	fmt.Fprintf(w, "rebalance: %d players piled on worker 0 of 2, then worker 1 resumed\n", r.Players)
	fmt.Fprintf(w, "  time to even (max/mean cpu and players <= %.2f, %d reports in a row)  %s\n", r.Even, evenReports, even)
	fmt.Fprintf(w, "  cpu by worker at the end                 %s\n", joinFloats(r.CPU, "%.1f%%"))
	fmt.Fprintf(w, "  players by worker at the end             %s\n", strings.Trim(fmt.Sprint(r.ByWorker), "[]"))
	fmt.Fprintf(w, "  players moved                            %d\n", r.Moved)
	fmt.Fprintf(w, "  reconnects                               %d (%d disconnects)\n", r.Reconnects, r.Disconnects)
	fmt.Fprintf(w, "  refused                                  %d\n", r.Refused)
	fmt.Fprintf(w, "  failed players                           %d, longest gap %.0f ms\n", r.Failed, r.MaxGapMS)
}

func joinFloats(vs []float64, format string) string {
	var parts []string
	for _, v := range vs {
		parts = append(parts, fmt.Sprintf(format, v))
	}
	return strings.Join(parts, " ")
}

// apiClient reads and drives the server's HTTP API.
type apiClient struct{ base string }

// apiWorker is what the scenario reads of GET /api/v1/workers.
type apiWorker struct {
	Slot  int    `json:"slot"`
	State string `json:"state"`
	Load  *struct {
		At          time.Time         `json:"at"`
		CPUPercent  float64           `json:"cpu_percent"`
		ByKind      map[string]int    `json:"connections_by_kind"`
		Refusals    map[string]uint64 `json:"refusals"`
		HandoffsOut uint64            `json:"handoffs_out"`
	} `json:"load"`
}

func (w apiWorker) ready() bool { return w.State == "ready" && w.Load != nil }

// players counts the worker's players: plays of every protocol.
func (w apiWorker) players() int {
	n := 0
	if w.Load != nil {
		for kind, c := range w.Load.ByKind {
			if strings.HasSuffix(kind, "_play") {
				n += c
			}
		}
	}
	return n
}

// apiBalance is what the scenario reads of GET /api/v1/balance.
type apiBalance struct {
	Workers []struct {
		KernelWeight int `json:"weight_in_kernel"`
	} `json:"workers"`
}

func (a apiClient) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func (a apiClient) post(ctx context.Context, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.base+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: %s", path, resp.Status)
	}
	return nil
}

func (a apiClient) workers(ctx context.Context) ([]apiWorker, error) {
	var doc struct {
		Workers []apiWorker `json:"workers"`
	}
	err := a.get(ctx, "/api/v1/workers", &doc)
	return doc.Workers, err
}

// awaitWorkers polls the workers until ok holds or ctx ends (at most a
// minute).
func (a apiClient) awaitWorkers(ctx context.Context, ok func([]apiWorker) bool) error {
	return poll(ctx, func() (bool, error) {
		ws, err := a.workers(ctx)
		return err == nil && ok(ws), err
	})
}

func (a apiClient) awaitBalance(ctx context.Context, ok func(apiBalance) bool) error {
	return poll(ctx, func() (bool, error) {
		var doc struct {
			Balance apiBalance `json:"balance"`
		}
		err := a.get(ctx, "/api/v1/balance", &doc)
		return err == nil && ok(doc.Balance), err
	})
}

var errPollTimeout = errors.New("not within a minute")

func poll(ctx context.Context, done func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var last error
	for {
		ok, err := done()
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return errors.Join(errPollTimeout, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// rebalanceCommand is `streamedge bench scenario rebalance`.
func rebalanceCommand(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) int {
	fs := newFlagSet("scenario rebalance", stderr, "Starts the server with 2 workers and one synthetic publisher, pauses worker 1 through the API\n"+
		"while -players players come (all on worker 0), resumes it, and prints the time until the workers'\n"+
		"CPU and player counts are even (max/mean at most -even), the players moved, reconnects and refusals.")
	cfg := RebalanceConfig{Out: stdout, Log: log}
	bitrate := bitrateFlag{2e6}
	ramp := rampFlag{100}
	self, _ := os.Executable()
	fs.StringVar(&cfg.Server, "server", self, "the streamedge `binary` to start")
	fs.IntVar(&cfg.Players, "players", 200, "players, all piled on worker 0 first")
	fs.Var(&ramp, "ramp", "players started per second")
	fs.StringVar(&cfg.Protocol, "protocol", ProtoFLV, "the players' protocol: flv (HTTP-FLV) or rtmp")
	fs.Var(&bitrate, "bitrate", "the synthetic publisher's bitrate")
	fs.Float64Var(&cfg.Even, "even", 1.2, "max/mean CPU of the workers that counts as even")
	fs.DurationVar(&cfg.Timeout, "timeout", 3*time.Minute, "the longest wait for even")
	fs.Float64Var(&cfg.ShedRate, "shed-rate", 2, "the server's balance.shed_rate: % of a worker's players moved a second")
	fs.IntVar(&cfg.ShedMax, "shed-max", 20, "the server's balance.shed_max: players moved a second at most")
	jsonOut := fs.String("json", "", "write the result as JSON to this `file`")
	quiet := fs.Bool("q", false, "no progress line")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	cfg.Bitrate, cfg.Ramp = bitrate.bps, ramp.perSec
	if err := cfg.check(); err != nil {
		fmt.Fprintln(stderr, "streamedge bench scenario rebalance:", err)
		return ExitUsage
	}
	if !*quiet {
		cfg.Progress = stderr
	}
	res, err := Rebalance(ctx, cfg)
	if err == nil && *jsonOut != "" {
		err = writeFile(*jsonOut, func(w io.Writer) error { return writeJSON(w, res) })
	}
	if err != nil {
		fmt.Fprintln(stderr, "streamedge bench scenario rebalance:", err)
		return ExitFail
	}
	return ExitPass
}

func (cfg *RebalanceConfig) check() error {
	switch {
	case cfg.Protocol != ProtoFLV && cfg.Protocol != ProtoRTMP:
		return fmt.Errorf("-protocol must be flv or rtmp (WebRTC players do not move), got %q", cfg.Protocol)
	case cfg.Server == "":
		return errors.New("-server is required")
	case cfg.Players < 2 || cfg.Players > MaxClients:
		return fmt.Errorf("-players must be between 2 and %d", MaxClients)
	case cfg.Ramp <= 0:
		return errors.New("-ramp must be positive")
	case cfg.Even <= 1:
		return fmt.Errorf("-even must be over 1, got %g", cfg.Even)
	case cfg.ShedRate < 0.01 || cfg.ShedRate > 100 || cfg.ShedMax < 1:
		return errors.New("-shed-rate must be 0.01..100 and -shed-max at least 1")
	}
	return nil
}
