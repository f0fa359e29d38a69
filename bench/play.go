package bench

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// MaxClients caps the players of one run: beyond it the bench, not the
// server, is what a 2-core box would measure, and file descriptors run out.
const MaxClients = 20000

// MaxDuration bounds a run, so a forgotten bench ends by itself.
const MaxDuration = 24 * time.Hour

// PlayConfig is one play run.
type PlayConfig struct {
	URL         string        // rtmp:// or http://...flv; {i} and {i%N} expand to the client index
	Clients     int           // players to start
	Ramp        float64       // players started per second; 0 starts them all at once
	Duration    time.Duration // the whole run, ramp included
	Timeout     time.Duration // dial to first media, and the longest silence after
	Reconnect   bool          // reconnect dropped players and count it
	Bitrate     float64       // the source's bitrate in bit/s; 0 takes the clients' median
	MaxFail     float64       // percent of clients that may fail or starve and still pass
	AllowRemote bool          // allow targets off the loopback interface
	Progress    io.Writer     // a line a second; nil for none
	Probes      []Probe       // extra numbers sampled every second, e.g. server CPU
}

// Probe is a number sampled with the timeline, such as a server's CPU time.
type Probe struct {
	Name string
	Read func() (float64, error)
}

// Result is everything a play run measured.
type Result struct {
	Summary  Summary        `json:"summary"`
	Timeline []Sample       `json:"timeline"`
	Clients  []ClientResult `json:"clients"`
}

// Sample is the state of the run at one second. Counters are cumulative.
type Sample struct {
	T          float64            `json:"t"` // seconds since the start
	Launched   int                `json:"launched"`
	Playing    int                `json:"playing"` // clients whose session is receiving media
	Bytes      uint64             `json:"bytes"`
	Frames     uint64             `json:"frames"` // audio and video messages received
	Mbps       float64            `json:"mbps"`   // media received since the previous sample
	Stalls     int                `json:"stalls"`
	Errors     int                `json:"errors"`
	Reconnects int                `json:"reconnects"`
	Probes     map[string]float64 `json:"probes,omitempty"`
}

func (c *PlayConfig) validate() error {
	switch {
	case c.Clients < 1 || c.Clients > MaxClients:
		return fmt.Errorf("clients must be between 1 and %d, got %d", MaxClients, c.Clients)
	case c.Duration <= 0 || c.Duration > MaxDuration:
		return fmt.Errorf("duration must be between 0 and %v, got %v", MaxDuration, c.Duration)
	case c.Timeout <= 0:
		return fmt.Errorf("timeout must be positive, got %v", c.Timeout)
	case c.Ramp < 0:
		return fmt.Errorf("ramp must not be negative, got %v", c.Ramp)
	case c.MaxFail < 0 || c.MaxFail > 100:
		return fmt.Errorf("max-fail must be a percentage between 0 and 100, got %v", c.MaxFail)
	case c.Bitrate < 0:
		return fmt.Errorf("bitrate must not be negative, got %v", c.Bitrate)
	}
	if c.Ramp > 0 {
		if ramp := time.Duration(float64(c.Clients-1) / c.Ramp * float64(time.Second)); ramp >= c.Duration {
			return fmt.Errorf("starting %d clients at %g/s takes %v, longer than the duration %v", c.Clients, c.Ramp, ramp.Round(time.Millisecond), c.Duration)
		}
	}
	return checkFDs(c.Clients)
}

// checkFDs fails early when the process may not open a socket per client.
func checkFDs(clients int) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return nil // cannot tell; the dials will say
	}
	if need := uint64(clients) + 64; lim.Cur < need {
		return fmt.Errorf("%d clients need about %d open files, the limit is %d: raise it (ulimit -n)", clients, need, lim.Cur)
	}
	return nil
}

// Play runs cfg: it starts the players at the ramp rate, samples them once
// a second, stops them all at the end of the duration (or when ctx ends)
// and sums up what they received. It fails only for a bad config; a run
// whose clients failed is a Result that does not pass.
func Play(ctx context.Context, cfg PlayConfig) (*Result, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	proto, err := checkTargets(ctx, cfg.URL, cfg.Clients, cfg.AllowRemote)
	if err != nil {
		return nil, err
	}
	players := make([]*player, cfg.Clients)
	for i := range players {
		u := ExpandURL(cfg.URL, i)
		players[i] = &player{proto: proto, url: u, timeout: cfg.Timeout, reconnect: cfg.Reconnect,
			res: ClientResult{Index: i, URL: u}}
	}
	cpu0 := selfCPU()
	start := time.Now()
	runCtx, cancel := context.WithDeadline(ctx, start.Add(cfg.Duration))
	defer cancel()

	var launched atomic.Int64
	var wg sync.WaitGroup
	launcherDone := make(chan struct{})
	go func() {
		defer close(launcherDone)
		// When every player has given up (refused, no reconnect) there is
		// nothing left to measure: end the run then, not at the deadline.
		var finished atomic.Int64
		launch(runCtx, start, cfg.Ramp, players, &launched, &wg, func() {
			if finished.Add(1) == int64(len(players)) {
				cancel()
			}
		})
	}()

	s := sampler{start: start, players: players, launched: &launched, probes: cfg.Probes,
		progress: newProgress(cfg.Progress), target: cfg.Clients}
	s.run(runCtx)
	<-launcherDone
	wg.Wait()
	s.sample(time.Now())
	s.progress.finish()

	res := &Result{Timeline: s.timeline, Clients: make([]ClientResult, len(players))}
	for i, p := range players {
		if i >= int(launched.Load()) {
			// Interrupted during the ramp: requested and never served.
			p.res.Failed, p.res.FailReason = true, "not started: the run ended during the ramp"
		}
		res.Clients[i] = p.res
	}
	elapsed := time.Since(start)
	res.Summary = summarise(&cfg, proto, res.Clients, s.timeline, elapsed, selfCPU()-cpu0)
	if ctx.Err() != nil {
		res.Summary.Warnings = append(res.Summary.Warnings,
			fmt.Sprintf("the run was interrupted after %.1f s of %v", elapsed.Seconds(), cfg.Duration))
	}
	return res, nil
}

// launch starts the players at ramp per second (all at once for 0); those
// due within a millisecond start together, so a fast ramp does not need a
// timer per client.
func launch(ctx context.Context, start time.Time, ramp float64, players []*player, launched *atomic.Int64, wg *sync.WaitGroup, ended func()) {
	for i, p := range players {
		if ramp > 0 {
			due := start.Add(time.Duration(float64(i) / ramp * float64(time.Second)))
			if wait := time.Until(due); wait > time.Millisecond {
				t := time.NewTimer(wait)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
				}
			}
		}
		if ctx.Err() != nil {
			return
		}
		p.live.state.Store(stateConnecting)
		wg.Go(func() {
			p.run(ctx)
			ended()
		})
		launched.Store(int64(i + 1))
	}
}

// sampler builds the timeline and the progress line.
type sampler struct {
	start    time.Time
	players  []*player
	launched *atomic.Int64
	probes   []Probe
	progress *progress
	target   int
	timeline []Sample
}

func (s *sampler) run(ctx context.Context) {
	s.sample(s.start)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case now := <-tick.C:
			s.sample(now)
		case <-ctx.Done():
			return
		}
	}
}

func (s *sampler) sample(now time.Time) {
	n := int(s.launched.Load())
	smp := Sample{T: now.Sub(s.start).Seconds(), Launched: n}
	for _, p := range s.players[:n] {
		lv := &p.live
		if lv.state.Load() == statePlaying {
			smp.Playing++
		}
		smp.Bytes += lv.bytes.Load()
		smp.Frames += lv.frames.Load()
		smp.Stalls += int(lv.stalls.Load())
		smp.Errors += int(lv.errors.Load())
		smp.Reconnects += int(lv.reconnects.Load())
	}
	if k := len(s.timeline); k > 0 {
		prev := s.timeline[k-1]
		// The last sample comes when the run ends, often a moment after the
		// one before: a rate over a sliver of a second would be noise.
		if dt := smp.T - prev.T; dt >= 0.5 {
			smp.Mbps = float64(smp.Bytes-prev.Bytes) * 8 / dt / 1e6
		} else {
			smp.Mbps = prev.Mbps
		}
	}
	for _, pr := range s.probes {
		if v, err := pr.Read(); err == nil {
			if smp.Probes == nil {
				smp.Probes = map[string]float64{}
			}
			smp.Probes[pr.Name] = v
		}
	}
	s.timeline = append(s.timeline, smp)
	s.progress.line(smp, s.target)
}
