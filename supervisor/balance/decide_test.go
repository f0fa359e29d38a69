package balance

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func policy(edit ...func(*Policy)) Policy {
	p := Policy{Tier: TierCBPF, WorkerCPUHigh: 80, WorkerCPULow: 60, HotFor: 3 * time.Second,
		ShedAfter: 10 * time.Second, RetireAfter: 60 * time.Second, ShedRate: 0.02, ShedMax: 20, HostCPUHigh: 80,
		WriterLoadHigh: 0.9, WriterLoadLow: 0.75}
	for _, e := range edit {
		e(&p)
	}
	return p
}

// cool is a ready slot at cpu% with the given share in force.
func cool(slot int, cpu float64, weight int) Worker {
	return Worker{Slot: slot, Ready: true, CPU: cpu, Weight: weight, Players: 100, Conns: 200}
}

// hot is a slot marked hot since ago; it is over worker_cpu_high (80)
// since before then when cpu says so.
func hot(slot int, cpu float64, since time.Duration) Worker {
	w := Worker{Slot: slot, Ready: true, CPU: cpu, Hot: true, HotSince: t0.Add(-since), Players: 200, Conns: 200}
	if cpu >= 80 {
		w.OverSince = t0.Add(-since - 3*time.Second)
	}
	return w
}

// loaded is a slot whose busiest writer loop needs load of the tick; at
// writer_load_high (0.9), or under writer_load_low (0.75), it has been so
// for writerReports reports.
func loaded(w Worker, load float64, full bool) Worker {
	w.WriterLoad, w.WriterFull = load, full
	if load >= 0.9 {
		w.WriterOver = writerReports
	}
	if load < 0.75 {
		w.WriterUnder = writerReports
	}
	return w
}

func with(w Worker, edit func(*Worker)) Worker { edit(&w); return w }

// act is an expected action; Detail is only checked to be there.
type act struct {
	kind    Kind
	slot    int
	reason  Reason
	weights []int
	perSec  int
	n, to   int // KindMove
}

func (a act) String() string {
	return fmt.Sprintf("%s slot=%d reason=%s weights=%v per_sec=%d n=%d to=%d", a.kind, a.slot, a.reason, a.weights, a.perSec, a.n, a.to)
}

func move(from, to, n, perSec int) act {
	return act{kind: KindMove, slot: from, reason: ReasonUneven, to: to, n: n, perSec: perSec}
}

func weigh(w ...int) act { return act{kind: KindWeigh, slot: -1, reason: ReasonLoad, weights: w} }

var decideCases = []struct {
	name string
	p    Policy
	ws   []Worker
	host Host
	want []act
}{
	{name: "even cool group: nothing to do",
		ws: []Worker{cool(0, 30, 50), cool(1, 30, 50)}},
	{name: "small noise does not re-weigh",
		ws: []Worker{cool(0, 30, 50), cool(1, 33, 50)}},
	{name: "a fresh worker fills first",
		// headroom 0.5 and 1.0: ranked, 0.05 and 1.05 of 1.1
		ws:   []Worker{cool(0, 40, 50), cool(1, 0, 50)},
		want: []act{weigh(5, 95)}},
	{name: "headroom within 0.05: shares follow it",
		// headroom 0.375 and 0.4: 48 and 52 of 100, no move worth a program
		ws: []Worker{cool(0, 50, 50), cool(1, 48, 50)}},
	{name: "cool and level on cpu: connection counts rank the slots",
		// a restarted worker: 300 players against none, cpu within 0.05
		ws:   []Worker{with(cool(0, 3, 50), func(w *Worker) { w.Conns = 300 }), with(cool(1, 1, 50), func(w *Worker) { w.Conns = 0 })},
		want: []act{weigh(5, 95)}},
	{name: "a few connections apart is even",
		ws: []Worker{with(cool(0, 3, 50), func(w *Worker) { w.Conns = 105 }), with(cool(1, 3, 50), func(w *Worker) { w.Conns = 100 })}},
	{name: "an even group re-weighs out of a skew",
		ws:   []Worker{cool(0, 50, 90), cool(1, 48, 10)},
		want: []act{weigh(48, 52)}},
	{name: "over high but not yet for hot_for: lowest share, not hot",
		ws: []Worker{with(cool(0, 90, 50), func(w *Worker) { w.OverSince = t0.Add(-2 * time.Second) }), cool(1, 0, 50)},
		// headroom 0 and 1: 0.05 and 1.05 of 1.1
		want: []act{weigh(5, 95)}},
	{name: "over high for hot_for: hot, weight 0",
		ws:   []Worker{with(cool(0, 90, 50), func(w *Worker) { w.OverSince = t0.Add(-3 * time.Second) }), cool(1, 20, 50)},
		want: []act{{kind: KindHot, slot: 0, reason: ReasonCPUHigh}, weigh(0, 100)}},
	{name: "hysteresis: hot between low and high stays hot",
		ws: []Worker{with(hot(0, 70, 5*time.Second), func(w *Worker) { w.OverSince = time.Time{} }), cool(1, 20, 100)}},
	{name: "hot under low cools and gets weight again",
		ws:   []Worker{hot(0, 50, 5*time.Second), cool(1, 20, 100)},
		want: []act{{kind: KindCool, slot: 0, reason: ReasonCPULow}, weigh(5, 95)}},
	{name: "cool again with twice the players at more than twice the cpu: half the difference moves",
		host: Host{Players: 300},
		ws:   []Worker{hot(0, 50, 5*time.Second), cool(1, 20, 100)},
		// at shed_rate of its 200
		want: []act{{kind: KindCool, slot: 0, reason: ReasonCPULow}, weigh(5, 95), move(0, 1, 50, 4)}},
	{name: "capped at max_connections: weight 0",
		p:    policy(func(p *Policy) { p.MaxConnections = 100 }),
		ws:   []Worker{cool(0, 10, 50), with(cool(1, 10, 50), func(w *Worker) { w.Conns = 50 })},
		want: []act{weigh(0, 100)}},
	{name: "connections are the scarcest resource",
		p: policy(func(p *Policy) { p.MaxConnections = 1000 }),
		// cpu headroom 0.875 each; connections 0.2 and 0.9
		ws:   []Worker{with(cool(0, 10, 50), func(w *Worker) { w.Conns = 800 }), with(cool(1, 10, 50), func(w *Worker) { w.Conns = 100 })},
		want: []act{weigh(5, 95)}},
	{name: "bytes out over worker_bytes_out_max: capped",
		p:    policy(func(p *Policy) { p.WorkerBytesOutMax = 1e6 }),
		ws:   []Worker{with(cool(0, 10, 50), func(w *Worker) { w.BytesOut = 2e6 }), cool(1, 10, 50)},
		want: []act{weigh(0, 100)}},
	{name: "cbpf: a held slot gets weight 0 and stays in the group",
		ws:   []Worker{with(cool(0, 10, 50), func(w *Worker) { w.Held = true }), cool(1, 10, 50), cool(2, 10, 0)},
		want: []act{weigh(0, 50, 50)}},
	{name: "pause tier: a held slot leaves the group",
		p:    policy(func(p *Policy) { p.Tier = TierPause }),
		ws:   []Worker{with(cool(0, 10, 50), func(w *Worker) { w.Held = true }), cool(1, 10, 50)},
		want: []act{weigh(0, 100), {kind: KindPause, slot: 0, reason: ReasonHeld}}},
	{name: "pause tier: a hot slot leaves, and rejoins once cool",
		p:    policy(func(p *Policy) { p.Tier = TierPause }),
		ws:   []Worker{with(cool(0, 90, 50), func(w *Worker) { w.OverSince = t0.Add(-4 * time.Second) }), cool(1, 10, 50)},
		want: []act{{kind: KindHot, slot: 0, reason: ReasonCPUHigh}, weigh(0, 100), {kind: KindPause, slot: 0, reason: ReasonCPUHigh}}},
	{name: "pause tier: rejoin when cool",
		p:    policy(func(p *Policy) { p.Tier = TierPause }),
		ws:   []Worker{with(hot(0, 40, 5*time.Second), func(w *Worker) { w.Paused = true }), cool(1, 40, 100)},
		want: []act{{kind: KindCool, slot: 0, reason: ReasonCPULow}, weigh(50, 50), {kind: KindResume, slot: 0, reason: ReasonReady}}},
	{name: "pause tier: never the last open slot",
		p: policy(func(p *Policy) { p.Tier = TierPause }),
		ws: []Worker{with(cool(0, 95, 50), func(w *Worker) { w.OverSince = t0.Add(-5 * time.Second) }),
			with(hot(1, 99, 5*time.Second), func(w *Worker) { w.Paused = true })},
		// both hot: host full, shares over whoever serves; slot 0, open
		// and no worse than slot 1, stays open
		want: []act{{kind: KindHot, slot: 0, reason: ReasonCPUHigh}, {kind: KindHostFull, slot: -1, reason: ReasonAllHot}, weigh(50, 50)}},
	{name: "pause tier: the last open slot comes back when the other leaves",
		p:  policy(func(p *Policy) { p.Tier = TierPause }),
		ws: []Worker{with(hot(0, 99, 5*time.Second), func(w *Worker) { w.Paused = true }), {Slot: 1, Weight: 50}},
		want: []act{{kind: KindHostFull, slot: -1, reason: ReasonAllHot}, weigh(100, 0),
			{kind: KindResume, slot: 0, reason: ReasonLastOpen}, {kind: KindPause, slot: 1, reason: ReasonNotReady}}},
	{name: "a slot without a ready worker leaves the group",
		ws:   []Worker{cool(0, 10, 50), {Slot: 1, Weight: 50}},
		want: []act{weigh(100, 0), {kind: KindPause, slot: 1, reason: ReasonNotReady}}},
	{name: "it rejoins when its worker is ready",
		ws:   []Worker{cool(0, 10, 100), {Slot: 1, Ready: true, Paused: true}},
		want: []act{weigh(5, 95), {kind: KindResume, slot: 1, reason: ReasonReady}}},
	{name: "players piled on one cool worker: the difference moves to the emptiest",
		host: Host{Players: 300},
		ws: []Worker{with(cool(0, 30, 50), func(w *Worker) { w.Players = 160 }), with(cool(1, 20, 50), func(w *Worker) { w.Players = 20 }),
			with(cool(2, 22, 0), func(w *Worker) { w.Players = 120 })},
		// mean 100: 60 over it, 80 under; headroom 0.625, 0.75, 0.725: ranked
		want: []act{weigh(3, 54, 44), move(0, 1, 60, 4)}},
	{name: "players apart at even cpu (heavier streams): no move",
		ws: []Worker{with(cool(0, 40, 50), func(w *Worker) { w.Players = 200 }), with(cool(1, 40, 50), func(w *Worker) { w.Players = 100 })}},
	{name: "cpu all noise: players alone decide",
		host: Host{Players: 195},
		ws:   []Worker{with(cool(0, 3, 50), func(w *Worker) { w.Players = 130 }), with(cool(1, 5, 50), func(w *Worker) { w.Players = 70 })},
		want: []act{move(0, 1, 30, 3)}},
	{name: "players still arriving: steering's to place",
		host: Host{Players: 150},
		ws:   []Worker{with(cool(0, 3, 50), func(w *Worker) { w.Players = 130 }), with(cool(1, 5, 50), func(w *Worker) { w.Players = 70 })}},
	{name: "players came a second ago: wait for the next report",
		host: Host{Players: 200, PlayersSince: t0.Add(-time.Second)},
		ws:   []Worker{with(cool(0, 3, 50), func(w *Worker) { w.Players = 130 }), with(cool(1, 5, 50), func(w *Worker) { w.Players = 70 })}},
	{name: "a few players apart is even",
		host: Host{Players: 20},
		ws:   []Worker{with(cool(0, 3, 50), func(w *Worker) { w.Players = 14 }), with(cool(1, 1, 50), func(w *Worker) { w.Players = 6 })}},
	{name: "one even move at a time",
		host: Host{MovingUntil: t0.Add(time.Second), Players: 200},
		ws:   []Worker{with(cool(0, 3, 50), func(w *Worker) { w.Players = 130 }), with(cool(1, 5, 50), func(w *Worker) { w.Players = 70 })}},
	{name: "no even move to a held worker",
		host: Host{Players: 200},
		ws: []Worker{with(cool(0, 3, 50), func(w *Worker) { w.Players = 130 }),
			with(cool(1, 5, 0), func(w *Worker) { w.Players, w.Held = 70, true })},
		want: []act{weigh(100, 0)}},
	{name: "no even move on the off tier",
		p:    policy(func(p *Policy) { p.Tier = TierOff }),
		host: Host{Players: 200},
		ws:   []Worker{with(cool(0, 3, 50), func(w *Worker) { w.Players = 130 }), with(cool(1, 5, 50), func(w *Worker) { w.Players = 70 })}},
	{name: "every slot down: the open one stays in",
		ws:   []Worker{{Slot: 0, Paused: true}, {Slot: 1}},
		want: nil},
	{name: "every slot down, all out: one comes back",
		ws:   []Worker{{Slot: 0, Paused: true}, {Slot: 1, Paused: true}},
		want: []act{{kind: KindResume, slot: 0, reason: ReasonLastOpen}}},
	{name: "off: no weights, but a dead slot still leaves",
		p:    policy(func(p *Policy) { p.Tier = TierOff }),
		ws:   []Worker{cool(0, 70, 0), {Slot: 1}, cool(2, 0, 0)},
		want: []act{{kind: KindPause, slot: 1, reason: ReasonNotReady}}},
	{name: "hot for shed_after with headroom elsewhere: shed at shed_rate",
		ws:   []Worker{with(hot(0, 95, 10*time.Second), func(w *Worker) { w.Players = 210 }), cool(1, 20, 100)},
		want: []act{{kind: KindShed, slot: 0, reason: ReasonHotTooLong, perSec: 5}}},
	{name: "shed is bounded by shed_max",
		ws:   []Worker{with(hot(0, 95, 10*time.Second), func(w *Worker) { w.Players = 5000 }), cool(1, 20, 100)},
		want: []act{{kind: KindShed, slot: 0, reason: ReasonHotTooLong, perSec: 20}}},
	{name: "one player is shed at 1/s",
		ws:   []Worker{with(hot(0, 95, 10*time.Second), func(w *Worker) { w.Players = 1 }), cool(1, 20, 100)},
		want: []act{{kind: KindShed, slot: 0, reason: ReasonHotTooLong, perSec: 1}}},
	{name: "not before shed_after",
		ws: []Worker{hot(0, 95, 9*time.Second), cool(1, 20, 100)}},
	{name: "no shed when nobody else has headroom",
		p:  policy(func(p *Policy) { p.MaxConnections = 100 }),
		ws: []Worker{with(hot(0, 95, 20*time.Second), func(w *Worker) { w.Weight, w.Conns = 100, 50 }), cool(1, 20, 0)},
		// every worker hot or at its cap: the host is full
		want: []act{{kind: KindHostFull, slot: -1, reason: ReasonAllHot}}},
	{name: "shedding stops when the others lose their headroom",
		p:    policy(func(p *Policy) { p.MaxConnections = 100 }),
		ws:   []Worker{with(hot(0, 95, 20*time.Second), func(w *Worker) { w.Shedding, w.Weight, w.Conns = true, 100, 50 }), cool(1, 20, 0)},
		want: []act{{kind: KindHostFull, slot: -1, reason: ReasonAllHot}, {kind: KindStopShed, slot: 0, reason: ReasonNoHeadroom}}},
	{name: "shedding stops under worker_cpu_low",
		ws: []Worker{with(hot(0, 55, 20*time.Second), func(w *Worker) { w.Shedding = true }), cool(1, 55, 100)},
		want: []act{{kind: KindCool, slot: 0, reason: ReasonCPULow}, weigh(50, 50),
			{kind: KindStopShed, slot: 0, reason: ReasonCPULow}}},
	{name: "no shed while the host is full",
		host: Host{Full: true, CPU: 90},
		ws:   []Worker{hot(0, 95, 20*time.Second), cool(1, 20, 100)},
		want: nil},
	{name: "hot past retire_after: retire",
		ws:   []Worker{with(hot(0, 95, 60*time.Second), func(w *Worker) { w.Shedding = true }), cool(1, 20, 100)},
		want: []act{{kind: KindRetire, slot: 0, reason: ReasonHotTooLong}}},
	{name: "the one hot longest is retired first, one at a time",
		ws: []Worker{hot(0, 95, 61*time.Second), hot(1, 95, 90*time.Second), cool(2, 20, 100)},
		want: []act{{kind: KindShed, slot: 0, reason: ReasonHotTooLong, perSec: 4}, {kind: KindShed, slot: 1, reason: ReasonHotTooLong, perSec: 4},
			{kind: KindRetire, slot: 1, reason: ReasonHotTooLong}}},
	{name: "no retire while another retires",
		ws: []Worker{with(hot(0, 95, 90*time.Second), func(w *Worker) { w.Shedding = true }),
			with(cool(1, 20, 100), func(w *Worker) { w.Retiring = true }), cool(2, 20, 0)},
		want: []act{weigh(0, 0, 100)}},
	{name: "host full: every worker hot",
		ws:   []Worker{hot(0, 95, time.Second), hot(1, 95, time.Second)},
		want: []act{{kind: KindHostFull, slot: -1, reason: ReasonAllHot}, weigh(50, 50)}},
	{name: "host full: host cpu",
		host: Host{CPU: 85},
		ws:   []Worker{cool(0, 40, 50), cool(1, 40, 50)},
		want: []act{{kind: KindHostFull, slot: -1, reason: ReasonHostCPU}}},
	{name: "host full: bytes out",
		p:    policy(func(p *Policy) { p.HostBytesOutMax = 1e8 }),
		host: Host{CPU: 20, BytesOut: 1.2e8},
		ws:   []Worker{cool(0, 10, 50), cool(1, 10, 50)},
		want: []act{{kind: KindHostFull, slot: -1, reason: ReasonHostBytesOut}}},
	{name: "host full: host_max_connections",
		p:    policy(func(p *Policy) { p.HostMaxConnections = 200 }),
		ws:   []Worker{cool(0, 10, 50), cool(1, 10, 50)},
		want: []act{{kind: KindHostFull, slot: -1, reason: ReasonHostConns}}},
	{name: "host full holds above 90% of the limit",
		host: Host{Full: true, CPU: 75},
		ws:   []Worker{cool(0, 10, 50), cool(1, 10, 50)}},
	{name: "host_cpu_high 100 never fires",
		p:    policy(func(p *Policy) { p.HostCPUHigh = 100 }),
		host: Host{CPU: 100},
		ws:   []Worker{cool(0, 10, 50), cool(1, 10, 50)}},
	{name: "host full ends under 90% of every limit",
		host: Host{Full: true, CPU: 70},
		ws:   []Worker{cool(0, 10, 50), cool(1, 10, 50)},
		want: []act{{kind: KindHostOK, slot: -1, reason: ReasonHostCool}}},
	{name: "host full holds while every worker is hot",
		host: Host{Full: true, CPU: 10},
		ws:   []Worker{hot(0, 70, time.Second), with(hot(1, 70, time.Second), func(w *Worker) { w.Weight = 100 })},
		want: []act{weigh(50, 50)}},
	{name: "writer load at writer_load_high: weight 0, nobody shed",
		ws:   []Worker{with(loaded(cool(0, 10, 50), 0.9, false), func(w *Worker) { w.Players = 5000 }), cool(1, 10, 50)},
		want: []act{{kind: KindWriterFull, slot: 0, reason: ReasonWriterLoad}, weigh(0, 100)}},
	{name: "one report at writer_load_high (a long pass): open, the lowest share",
		ws:   []Worker{with(loaded(cool(0, 10, 50), 1.5, false), func(w *Worker) { w.WriterOver = 1 }), cool(1, 10, 50)},
		want: []act{weigh(5, 95)}},
	{name: "writer load just under writer_load_high: open, the lowest share",
		// headroom 1-0.85/0.9 = 0.06 and 0.875: ranked, 0.05 and 1.05 of 1.1
		ws:   []Worker{loaded(cool(0, 10, 50), 0.85, false), cool(1, 10, 50)},
		want: []act{weigh(5, 95)}},
	{name: "hysteresis: writer full between low and high stays full",
		ws: []Worker{loaded(cool(0, 10, 0), 0.8, true), cool(1, 10, 100)}},
	{name: "writer full under writer_load_low opens again",
		// headroom 1-0.5/0.9 = 0.44 and 0.875: ranked
		ws:   []Worker{loaded(cool(0, 10, 0), 0.5, true), cool(1, 10, 100)},
		want: []act{{kind: KindWriterOK, slot: 0, reason: ReasonWriterLow}, weigh(5, 95)}},
	{name: "every worker's writer loop at capacity: host full",
		ws: []Worker{loaded(cool(0, 10, 50), 1.2, false), loaded(cool(1, 10, 50), 0.95, false)},
		want: []act{{kind: KindWriterFull, slot: 0, reason: ReasonWriterLoad}, {kind: KindWriterFull, slot: 1, reason: ReasonWriterLoad},
			{kind: KindHostFull, slot: -1, reason: ReasonWriterLoad}}},
	{name: "one worker (-w 1) at capacity: host full",
		ws:   []Worker{loaded(cool(0, 10, 100), 1.0, false)},
		want: []act{{kind: KindWriterFull, slot: 0, reason: ReasonWriterLoad}, {kind: KindHostFull, slot: -1, reason: ReasonWriterLoad}}},
	{name: "one worker writer full in the hysteresis band: the host stays full",
		host: Host{Full: true, CPU: 10},
		ws:   []Worker{loaded(cool(0, 10, 100), 0.8, true)}},
	{name: "one report at writer_load_high on a core over worker_cpu_high: full at once",
		// during a ramp of 500/s, the second report would let 500 more in
		ws:   []Worker{with(loaded(cool(0, 85, 100), 1.2, false), func(w *Worker) { w.WriterOver = 1; w.OverSince = t0.Add(-time.Second) })},
		want: []act{{kind: KindWriterFull, slot: 0, reason: ReasonWriterLoad}, {kind: KindHostFull, slot: -1, reason: ReasonWriterLoad}}},
	{name: "one report under writer_load_low (a pass the parked players made short): stays full",
		host: Host{Full: true, CPU: 10},
		ws:   []Worker{with(loaded(cool(0, 60, 100), 0.43, true), func(w *Worker) { w.WriterUnder = 1 })}},
	{name: "under writer_load_low with the core over worker_cpu_high: stays full",
		// measured: 2.05, then 0.43 at 86 % with 9,300 players starving
		host: Host{Full: true, CPU: 10},
		ws:   []Worker{with(loaded(cool(0, 86, 100), 0.43, true), func(w *Worker) { w.OverSince = t0.Add(-time.Second) })}},
	{name: "one worker under writer_load_low: the host admits again",
		host: Host{Full: true, CPU: 10},
		ws:   []Worker{loaded(cool(0, 10, 100), 0.7, true)},
		want: []act{{kind: KindWriterOK, slot: 0, reason: ReasonWriterLow}, {kind: KindHostOK, slot: -1, reason: ReasonHostCool}}},
	{name: "one hot, one writer full: host full, all hot",
		// what the host-full rule lets through goes where no cap is
		ws:   []Worker{hot(0, 95, time.Second), loaded(cool(1, 10, 100), 1.1, false)},
		want: []act{{kind: KindWriterFull, slot: 1, reason: ReasonWriterLoad}, {kind: KindHostFull, slot: -1, reason: ReasonAllHot}, weigh(100, 0)}},
	{name: "pause tier: a writer-full slot leaves the group",
		p:    policy(func(p *Policy) { p.Tier = TierPause }),
		ws:   []Worker{loaded(cool(0, 10, 50), 1.5, false), cool(1, 10, 50)},
		want: []act{{kind: KindWriterFull, slot: 0, reason: ReasonWriterLoad}, weigh(0, 100), {kind: KindPause, slot: 0, reason: ReasonWriterLoad}}},
	{name: "no even move to a writer-full worker",
		host: Host{Players: 200},
		ws: []Worker{with(cool(0, 3, 100), func(w *Worker) { w.Players = 130 }),
			with(loaded(cool(1, 5, 0), 0.8, true), func(w *Worker) { w.Players = 70 })}},
	{name: "writer_load_high 0 is off: a loop past its tick closes nothing",
		p:  policy(func(p *Policy) { p.WriterLoadHigh, p.WriterLoadLow = 0, 0 }),
		ws: []Worker{loaded(cool(0, 10, 50), 2, false), cool(1, 10, 50)}},
	{name: "writer_load_high turned off: a writer-full slot opens",
		p:    policy(func(p *Policy) { p.WriterLoadHigh, p.WriterLoadLow = 0, 0 }),
		ws:   []Worker{loaded(cool(0, 10, 0), 2, true), cool(1, 10, 100)},
		want: []act{{kind: KindWriterOK, slot: 0, reason: ReasonWriterLow}, weigh(50, 50)}},
	{name: "a dead worker is no longer writer full",
		ws:   []Worker{loaded(Worker{Slot: 0}, 0, true), cool(1, 10, 100)},
		want: []act{{kind: KindWriterOK, slot: 0, reason: ReasonNotReady}, {kind: KindPause, slot: 0, reason: ReasonNotReady}}},
	{name: "a dead worker is no longer hot",
		ws: []Worker{with(hot(0, 95, 5*time.Second), func(w *Worker) { w.Ready = false; w.Shedding = true }), cool(1, 10, 100)},
		want: []act{{kind: KindCool, slot: 0, reason: ReasonNotReady}, {kind: KindPause, slot: 0, reason: ReasonNotReady},
			{kind: KindStopShed, slot: 0, reason: ReasonNotReady}}},
}

func TestDecide(t *testing.T) {
	for _, tc := range decideCases {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.p
			if p.Tier == "" {
				p = policy()
			}
			in := slices.Clone(tc.ws)
			acts := Decide(Snapshot{Workers: tc.ws, Host: tc.host}, p, t0)
			if !slices.Equal(in, tc.ws) {
				t.Errorf("Decide changed its input")
			}
			var got []act
			for _, a := range acts {
				got = append(got, act{kind: a.Kind, slot: a.Slot, reason: a.Reason, weights: a.Weights, perSec: a.PerSec, n: a.N, to: a.To})
				if a.Detail == "" {
					t.Errorf("%s: no figures in the detail", a)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("actions\n got %v\nwant %v", got, tc.want)
				for _, a := range acts {
					t.Logf("  %s", a)
				}
			}
		})
	}
}

// Applying Decide's actions and deciding again settles: a third run on
// the state the first two left asks for nothing more.
func TestDecideSettles(t *testing.T) {
	for _, tc := range decideCases {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.p
			if p.Tier == "" {
				p = policy()
			}
			// Twice: an even move waits one decision for the player
			// counts to show they have settled.
			s := Snapshot{Workers: slices.Clone(tc.ws), Host: tc.host}
			Apply(&s, Decide(s, p, t0), t0)
			Apply(&s, Decide(s, p, t0), t0)
			if again := Decide(s, p, t0); len(again) > 0 {
				t.Errorf("third decision not empty: %v", again)
			}
		})
	}
}

func TestOverCount(t *testing.T) {
	for _, tc := range []struct {
		prev       int
		load, high float64
		want       int
	}{
		{0, 0.5, 0.9, 0}, {0, 0.9, 0.9, 1}, {1, 1.2, 0.9, 2}, {2, 0.89, 0.9, 0}, {3, 5, 0, 0},
	} {
		if got := OverCount(tc.prev, tc.load, tc.high); got != tc.want {
			t.Errorf("OverCount(%d, %g, %g) = %d, want %d", tc.prev, tc.load, tc.high, got, tc.want)
		}
	}
}

func TestOver(t *testing.T) {
	at := t0.Add(time.Second)
	for _, tc := range []struct {
		prev time.Time
		cpu  float64
		want time.Time
	}{
		{time.Time{}, 50, time.Time{}},
		{time.Time{}, 80, at},
		{t0, 95, t0},
		{t0, 79.9, time.Time{}},
	} {
		if got := Over(tc.prev, tc.cpu, 80, at); !got.Equal(tc.want) {
			t.Errorf("Over(%v, %.1f) = %v, want %v", tc.prev, tc.cpu, got, tc.want)
		}
	}
}
