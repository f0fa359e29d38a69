package balance

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// evenSpread is the difference in headroom under which a group counts as
// even: each slot then gets a share in proportion to its headroom. Over it,
// the slots are ranked: the emptiest takes nearly every new connection until
// it has caught up (a restarted worker must fill first: its neighbours'
// players stay for hours), and the busiest still gets evenFloor of a share,
// so the program never hangs on one stale report. The spread is on the
// scarcest resource, so 0.05 is 4 points of CPU at worker_cpu_high 80.
//
// Within evenSpread, connection counts even the load out instead: at low
// load CPU is mostly noise, while a restarted worker with no players is
// plain to see. They rank the slots once the busiest has evenConns more
// than the emptiest, and at least a tenth more than the mean.
const (
	evenSpread = 0.05
	evenFloor  = 0.05
	evenConns  = 10
)

// weighStep is the change in any slot's share (of 100) worth a new program;
// smaller moves are measurement noise and would only churn the kernel.
const weighStep = 5

// hostClear is the fraction of each host limit the host must be under
// before a host-full refusal ends, so it does not flap at the threshold.
const hostClear = 0.9

// Decide returns the actions that take the host from s to what policy p
// wants at now. It is pure: the same input gives the same actions.
func Decide(s Snapshot, p Policy, now time.Time) []Action {
	d := decision{ws: slices.Clone(s.Workers), host: s.Host, p: p, now: now}
	d.heat()
	d.writers()
	d.hostFull()
	d.weigh()
	d.pause()
	d.shed()
	d.even()
	d.retire()
	return d.acts
}

// decision is one run of Decide: its working copy of the slots, updated as
// actions are taken so later rules see their effect.
type decision struct {
	ws   []Worker
	host Host
	p    Policy
	now  time.Time
	acts []Action
}

func (d *decision) add(a Action) { d.acts = append(d.acts, a) }

// heat marks workers hot after hot_for over worker_cpu_high, and cool once
// under worker_cpu_low.
func (d *decision) heat() {
	for i := range d.ws {
		w := &d.ws[i]
		switch {
		case w.Hot && !w.Ready:
			w.Hot = false
			d.add(Action{Kind: KindCool, Slot: w.Slot, Reason: ReasonNotReady, Detail: "no ready worker in the slot"})
		case w.Hot && w.CPU < d.p.WorkerCPULow:
			w.Hot = false
			d.add(Action{Kind: KindCool, Slot: w.Slot, Reason: ReasonCPULow,
				Detail: fmt.Sprintf("cpu %.1f%% < worker_cpu_low %.0f%%", w.CPU, d.p.WorkerCPULow)})
		case !w.Hot && w.Ready && !w.OverSince.IsZero() && d.now.Sub(w.OverSince) >= d.p.HotFor:
			w.Hot, w.HotSince = true, d.now
			d.add(Action{Kind: KindHot, Slot: w.Slot, Reason: ReasonCPUHigh,
				Detail: fmt.Sprintf("cpu %.1f%% >= worker_cpu_high %.0f%% for %s", w.CPU, d.p.WorkerCPUHigh, d.now.Sub(w.OverSince).Round(time.Millisecond))})
		}
	}
}

// writerReports is how many reports in a row at writer_load_high close a
// slot, and under writer_load_low open it. The load is one pass's wall
// time, and a single pass can run long for reasons that pass (a GC, the
// process descheduled on a busy host); two reports, a second apart, tell
// capacity from that. No longer, as hot_for is for CPU: from then on every
// player admitted takes rate from those already there, and a loop is one
// goroutine, so a spare core does not help. Opening takes as many: past
// capacity a pass runs short too, since it skips the players parked on a
// full socket, which are the ones starving (measured at -w 1 with 9,300
// HTTP-FLV players: a report of 2.05, then 0.43 with the core at 86 %).
const writerReports = 2

// writers closes a slot to new players while its busiest writer loop is at
// writer_load_high, and opens it under writer_load_low. Nobody is shed for
// it: the players it has keep full rate as long as no more come. The
// worker's CPU is the second witness: a long pass on a core over
// worker_cpu_high is capacity, not a blip, and closes at once (during a
// ramp each report waited for lets another second of players in); a short
// one there is the parked players' doing, and does not open.
func (d *decision) writers() {
	high, low := d.p.WriterLoadHigh, d.p.WriterLoadLow
	for i := range d.ws {
		w := &d.ws[i]
		coreFull := w.CPU >= d.p.WorkerCPUHigh
		switch {
		case w.WriterFull && !w.Ready:
			w.WriterFull = false
			d.add(Action{Kind: KindWriterOK, Slot: w.Slot, Reason: ReasonNotReady, Detail: "no ready worker in the slot"})
		case w.WriterFull && (high <= 0 || (w.WriterLoad < low && w.WriterUnder >= writerReports && !coreFull)):
			w.WriterFull = false
			d.add(Action{Kind: KindWriterOK, Slot: w.Slot, Reason: ReasonWriterLow,
				Detail: fmt.Sprintf("writer load %.3g < writer_load_low %.3g for %d reports, cpu %.1f%%, %d players", w.WriterLoad, low, w.WriterUnder, w.CPU, w.Players)})
		case !w.WriterFull && w.Ready && high > 0 && w.WriterLoad >= high && (w.WriterOver >= writerReports || coreFull):
			w.WriterFull = true
			d.add(Action{Kind: KindWriterFull, Slot: w.Slot, Reason: ReasonWriterLoad,
				Detail: fmt.Sprintf("writer load %.3g >= writer_load_high %.3g for %d reports, cpu %.1f%%, %d players", w.WriterLoad, high, w.WriterOver, w.CPU, w.Players)})
		}
	}
}

// headroom is the fraction left of w's scarcest resource, 0..1, and the
// name of that resource.
func (p Policy) headroom(w Worker) (float64, string) {
	h, what := 1.0, "none"
	use := func(name string, used, limit float64) {
		if limit <= 0 {
			return
		}
		if r := 1 - used/limit; r < h {
			h, what = r, name
		}
	}
	use("cpu", w.CPU, p.WorkerCPUHigh)
	use("connections", float64(w.Conns), float64(p.MaxConnections))
	use("bytes_out", w.BytesOut, p.WorkerBytesOutMax)
	use("writer_load", w.WriterLoad, p.WriterLoadHigh)
	return max(h, 0), what
}

// capped says w is at a hard per-worker limit: it takes no new connection.
func (p Policy) capped(w Worker) bool {
	return w.WriterFull || (p.MaxConnections > 0 && w.Conns >= p.MaxConnections) ||
		(p.WorkerBytesOutMax > 0 && w.BytesOut >= p.WorkerBytesOutMax)
}

// eligible says w should get new connections at all.
func (p Policy) eligible(w Worker) bool {
	return w.Ready && !w.Held && !w.Hot && !w.Retiring && !p.capped(w)
}

// hostFull starts and ends the host-wide refusal of new players.
func (d *decision) hostFull() {
	p, h := d.p, d.host
	ready, hot, writer, conns := 0, 0, 0, 0
	for _, w := range d.ws {
		if w.Ready && !w.Held {
			ready++
			if w.Hot || p.capped(w) {
				hot++
			}
			if w.WriterFull {
				writer++
			}
		}
		conns += w.Conns
	}
	allHot := ready > 0 && hot == ready
	over := func(used, limit, frac float64) bool { return limit > 0 && used >= frac*limit }
	if !h.Full {
		var r Reason
		var detail string
		switch {
		case allHot && writer == ready:
			r, detail = ReasonWriterLoad, fmt.Sprintf("%d of %d workers' writer loops at writer_load_high %.3g", writer, ready, p.WriterLoadHigh)
		case allHot:
			r, detail = ReasonAllHot, fmt.Sprintf("%d of %d workers hot or at their cap (%d by writer load)", hot, ready, writer)
		case p.HostCPUHigh > 0 && h.CPU > p.HostCPUHigh: // over it: 100 never fires
			r, detail = ReasonHostCPU, fmt.Sprintf("host cpu %.1f%% > host_cpu_high %.0f%%", h.CPU, p.HostCPUHigh)
		case over(h.BytesOut, p.HostBytesOutMax, 1):
			r, detail = ReasonHostBytesOut, fmt.Sprintf("host out %.0f B/s >= host_bytes_out_max %.0f B/s", h.BytesOut, p.HostBytesOutMax)
		case over(float64(conns), float64(p.HostMaxConnections), 1):
			r, detail = ReasonHostConns, fmt.Sprintf("%d connections >= host_max_connections %d", conns, p.HostMaxConnections)
		default:
			return
		}
		d.host.Full = true
		d.add(Action{Kind: KindHostFull, Slot: -1, Reason: r, Detail: detail})
		return
	}
	if allHot || over(h.CPU, p.HostCPUHigh, hostClear) || over(h.BytesOut, p.HostBytesOutMax, hostClear) ||
		over(float64(conns), float64(p.HostMaxConnections), hostClear) {
		return
	}
	d.host.Full = false
	d.add(Action{Kind: KindHostOK, Slot: -1, Reason: ReasonHostCool,
		Detail: fmt.Sprintf("host cpu %.1f%%, out %.0f B/s, %d connections: all under %.0f%% of their limits", h.CPU, h.BytesOut, conns, 100*hostClear)})
}

// shares computes every slot's share of new connections, 0..100.
func (d *decision) shares() ([]int, string) {
	p := d.p
	pick := func(ok func(Worker) bool) []int {
		var idx []int
		for i, w := range d.ws {
			if ok(w) {
				idx = append(idx, i)
			}
		}
		return idx
	}
	// Nobody eligible: spread over whoever serves and is under its cap,
	// else over whoever serves, and leave the refusing to the host-full
	// rule rather than to a dead program.
	elig := pick(p.eligible)
	if len(elig) == 0 {
		elig = pick(func(w Worker) bool { return w.Ready && !w.Held && !p.capped(w) })
	}
	if len(elig) == 0 {
		elig = pick(func(w Worker) bool { return w.Ready && !w.Held })
	}
	out := make([]int, len(d.ws))
	if len(elig) == 0 {
		return out, "no ready worker"
	}
	hs := make([]float64, len(d.ws))
	hmin := math.Inf(1)
	var why []string
	for _, i := range elig {
		h, what := p.headroom(d.ws[i])
		hs[i], hmin = h, min(hmin, h)
		why = append(why, fmt.Sprintf("%d:%s %.2f", d.ws[i].Slot, what, h))
	}
	hmax := math.Inf(-1)
	for _, i := range elig {
		hmax = max(hmax, hs[i])
	}
	cmin, cmax, csum := math.MaxInt, 0, 0
	for _, i := range elig {
		c := d.ws[i].Conns
		cmin, cmax, csum = min(cmin, c), max(cmax, c), csum+c
	}
	cspread := cmax - cmin
	byConns := cspread >= evenConns && float64(cspread) >= 0.1*float64(csum)/float64(len(elig))
	raw := make([]float64, len(d.ws))
	sum := 0.0
	for _, i := range elig {
		switch spread := hmax - hmin; {
		case spread >= evenSpread:
			raw[i] = evenFloor + (hs[i]-hmin)/spread
		case byConns:
			raw[i] = evenFloor + float64(cmax-d.ws[i].Conns)/float64(cspread)
		default:
			raw[i] = hs[i]
		}
		sum += raw[i]
	}
	if byConns && hmax-hmin < evenSpread {
		why = append(why, fmt.Sprintf("connections %d..%d", cmin, cmax))
	}
	for _, i := range elig {
		if sum == 0 {
			raw[i] = 1 / float64(len(elig)) // no headroom anywhere: share evenly
		} else {
			raw[i] /= sum
		}
	}
	for _, i := range elig {
		out[i] = max(1, int(math.Round(100*raw[i])))
	}
	return out, "headroom " + strings.Join(why, " ")
}

// weigh issues new shares when they moved enough to matter.
func (d *decision) weigh() {
	if d.p.Tier == TierOff {
		return
	}
	next, detail := d.shares()
	changed := false
	for i, w := range d.ws {
		if (w.Weight == 0) != (next[i] == 0) || abs(w.Weight-next[i]) >= weighStep {
			changed = true
		}
	}
	for i := range d.ws {
		d.ws[i].Weight = next[i]
	}
	if changed {
		d.add(Action{Kind: KindWeigh, Slot: -1, Reason: ReasonLoad, Weights: next, Detail: detail})
	}
}

// wantOut says whether w's socket should be out of the reuseport group.
func (d *decision) wantOut(w Worker) (bool, Reason) {
	switch {
	case !w.Ready:
		return true, ReasonNotReady
	case d.p.Tier == TierCBPF:
		return false, ReasonReady // the program steers around hot, capped and held slots
	case w.Held:
		return true, ReasonHeld
	case d.p.Tier != TierPause:
		return false, ReasonReady
	case w.Hot:
		return true, ReasonCPUHigh
	case w.WriterFull:
		return true, ReasonWriterLoad
	case d.p.capped(w):
		return true, ReasonCapped
	}
	return false, ReasonReady
}

// pause takes slots out of the group and back, never the last open one.
func (d *decision) pause() {
	out := make([]bool, len(d.ws))
	why := make([]Reason, len(d.ws))
	open := 0
	for i, w := range d.ws {
		out[i], why[i] = d.wantOut(w)
		if !out[i] {
			open++
		}
	}
	if open == 0 && len(d.ws) > 0 {
		k := d.keepOpen()
		out[k], why[k] = false, ReasonLastOpen
	}
	for i := range d.ws {
		w := &d.ws[i]
		switch {
		case out[i] && !w.Paused:
			w.Paused = true
			d.add(Action{Kind: KindPause, Slot: w.Slot, Reason: why[i], Detail: d.figures(*w)})
		case !out[i] && w.Paused:
			w.Paused = false
			d.add(Action{Kind: KindResume, Slot: w.Slot, Reason: why[i], Detail: d.figures(*w)})
		}
	}
}

// keepOpen picks the slot that stays in the group when every one would
// leave: a ready one with the most headroom, else one already open, else
// the first; a connection waiting for a restart beats one reset.
func (d *decision) keepOpen() int {
	best, bestH := -1, -1.0
	for i, w := range d.ws {
		if h, _ := d.p.headroom(w); w.Ready && h > bestH {
			best, bestH = i, h
		}
	}
	if best >= 0 {
		return best
	}
	for i, w := range d.ws {
		if !w.Paused {
			return i
		}
	}
	return 0
}

func (d *decision) figures(w Worker) string {
	if !w.Ready {
		return "no ready worker in the slot"
	}
	return fmt.Sprintf("cpu %.1f%%, %d connections, out %.0f B/s", w.CPU, w.Conns, w.BytesOut)
}

// headroomElsewhere names a slot other than skip that could take players.
func (d *decision) headroomElsewhere(skip int) (int, bool) {
	for _, w := range d.ws {
		if w.Slot == skip || !d.p.eligible(w) {
			continue
		}
		if h, _ := d.p.headroom(w); h > 0 {
			return w.Slot, true
		}
	}
	return -1, false
}

// shed starts and stops the bounded closing of a hot worker's players.
func (d *decision) shed() {
	for i := range d.ws {
		w := &d.ws[i]
		other, room := d.headroomElsewhere(w.Slot)
		room = room && !d.host.Full // a shed player would be refused
		switch {
		case w.Shedding && (!w.Ready || !w.Hot):
			w.Shedding = false
			r := ReasonCPULow
			if !w.Ready {
				r = ReasonNotReady
			}
			d.add(Action{Kind: KindStopShed, Slot: w.Slot, Reason: r, Detail: d.figures(*w)})
		case w.Shedding && !room:
			w.Shedding = false
			d.add(Action{Kind: KindStopShed, Slot: w.Slot, Reason: ReasonNoHeadroom, Detail: "no other worker has headroom"})
		case !w.Shedding && w.Ready && w.Hot && room && w.Players > 0 && d.now.Sub(w.HotSince) >= d.p.ShedAfter:
			w.Shedding = true
			n := int(math.Ceil(float64(w.Players) * d.p.ShedRate))
			n = max(1, min(n, d.p.ShedMax))
			d.add(Action{Kind: KindShed, Slot: w.Slot, Reason: ReasonHotTooLong, PerSec: n,
				Detail: fmt.Sprintf("hot for %s (shed_after %s), %d players, slot %d has headroom",
					d.now.Sub(w.HotSince).Round(time.Second), d.p.ShedAfter, w.Players, other)})
		}
	}
}

// Evening out: players piled on one worker (after a crash, a pause, a
// restart) stay there for hours, since steering only places new ones. A
// cool worker with evenRatio of the mean players and evenConns more than
// the emptiest hands the difference to it with the live handoff, at
// shed_rate. Players count only where CPU agrees (the fuller is busier by
// evenSpread of worker_cpu_high) or is noise (both under evenNoise of
// it): players of heavier streams cost more, and even CPU is the goal.
// Only settled counts are moved: while players arrive or come back after
// a crash, steering places them, and a move would be overtaken.
const (
	evenRatio = 1.1
	evenNoise = 0.25
)

// evenSettled is how long the count of players must have held (within
// evenConns) before an even move: two reports.
const evenSettled = 2 * time.Second

func readyPlayers(ws []Worker) int {
	n := 0
	for _, w := range ws {
		if w.Ready {
			n += w.Players
		}
	}
	return n
}

// moveSettle is how long after an even move's last player the reports
// need to show it, before another move is judged on them.
const moveSettle = 3 * time.Second

// moveTime is how long an even move of n players at perSec takes and
// settles.
func moveTime(n, perSec int) time.Duration {
	return time.Duration((n+perSec-1)/max(perSec, 1))*time.Second + moveSettle
}

// even moves players from the fullest cool worker to the emptiest, one
// move at a time.
func (d *decision) even() {
	if d.p.Tier == TierOff || d.host.Full || d.now.Before(d.host.MovingUntil) {
		return
	}
	if abs(readyPlayers(d.ws)-d.host.Players) >= evenConns || d.now.Sub(d.host.PlayersSince) < evenSettled {
		return // players still arrive or leave: steering places them
	}
	from, to, sum, n := -1, -1, 0, 0
	for i, w := range d.ws {
		if !w.Ready || w.Held || w.Hot || w.Retiring {
			continue
		}
		sum, n = sum+w.Players, n+1
		if !w.Shedding && (from < 0 || w.Players > d.ws[from].Players) {
			from = i
		}
		if d.p.eligible(w) && (to < 0 || w.Players < d.ws[to].Players) {
			to = i
		}
	}
	if from < 0 || to < 0 || from == to {
		return
	}
	f, r := d.ws[from], d.ws[to]
	mean := float64(sum) / float64(n)
	high := d.p.WorkerCPUHigh
	cpuAgrees := f.CPU-r.CPU >= evenSpread*high || max(f.CPU, r.CPU) < evenNoise*high
	if f.Players-r.Players < evenConns || float64(f.Players) < evenRatio*mean || !cpuAgrees {
		return
	}
	moves := max(1, min(f.Players-int(math.Ceil(mean)), int(mean)-r.Players))
	per := max(1, min(int(math.Ceil(float64(f.Players)*d.p.ShedRate)), d.p.ShedMax))
	d.host.MovingUntil = d.now.Add(moveTime(moves, per))
	d.add(Action{Kind: KindMove, Slot: f.Slot, To: r.Slot, N: moves, PerSec: per, Reason: ReasonUneven,
		Detail: fmt.Sprintf("%d players (cpu %.1f%%) on slot %d, %d (cpu %.1f%%) on slot %d, mean %.1f: moving %d at %d/s",
			f.Players, f.CPU, f.Slot, r.Players, r.CPU, r.Slot, mean, moves, per)})
}

// retire replaces the worker hot longest past retire_after, one at a time.
func (d *decision) retire() {
	best := -1
	for i, w := range d.ws {
		if w.Retiring {
			return
		}
		if !w.Ready || !w.Hot || d.now.Sub(w.HotSince) < d.p.RetireAfter || d.host.Full {
			continue
		}
		if _, room := d.headroomElsewhere(w.Slot); room && (best < 0 || w.HotSince.Before(d.ws[best].HotSince)) {
			best = i
		}
	}
	if best < 0 {
		return
	}
	w := &d.ws[best]
	w.Retiring = true
	d.add(Action{Kind: KindRetire, Slot: w.Slot, Reason: ReasonHotTooLong,
		Detail: fmt.Sprintf("hot for %s (retire_after %s), cpu %.1f%%", d.now.Sub(w.HotSince).Round(time.Second), d.p.RetireAfter, w.CPU)})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
