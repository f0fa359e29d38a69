package supervisor

import (
	"cmp"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"streamedge/configs"
	"streamedge/ipc"
	"streamedge/supervisor/balance"
	"streamedge/supervisor/steer"
)

// attachEvery bounds how often new weights are attached: a program swap is
// cheap (tens of µs) but weights that move every report are noise. A slot
// that joins or leaves, or a share to or from zero, is attached at once.
const attachEvery = time.Second

// keptDecisions is how many decisions GET /api/v1/balance shows, and how
// many decision latencies its summary is over.
const keptDecisions = 100

// slotView is one slot as the master loop shows it to the balancer.
type slotView struct {
	Slot    int
	Gen     uint64 // the serving worker's generation; 0 when none
	Ready   bool
	Load    *ipc.Load
	Sockets *slotSockets // the slot's current sockets
}

// balanceEffects are what the balancer asks of the master.
type balanceEffects interface {
	sendSlot(slot int, msg ipc.Message) error // to the slot's serving worker
	broadcastAll(msg ipc.Message)             // to every serving worker
	// shedSlot tells the slot's worker to shed at perSec, moving players
	// to the workers with a weight in weights (nil: any that takes them).
	shedSlot(slot, perSec int, reason string, weights map[int]int) error
	// movePlayers hands n players of slot from to slot to, at perSec.
	movePlayers(from, to, n, perSec int, reason string) error
	retireSlotWorker(slot int, reason string) error
}

// Decision is one logged balancing action, for the API.
type Decision struct {
	At      time.Time `json:"at"`
	Kind    string    `json:"kind"`
	Slot    int       `json:"slot"` // -1: the host
	Reason  string    `json:"reason"`
	Detail  string    `json:"detail"`
	Weights []int     `json:"weights,omitempty"`
	PerSec  int       `json:"per_sec,omitempty"`
	// A decision that changed steering (a share to or from zero, a pause
	// or resume) says when it was due, from the report that triggered it,
	// and when the kernel had it: Latency is InEffect - Due.
	Due       time.Time `json:"due_at,omitzero"` // hot: over the threshold for hot_for; else the report's time
	Report    time.Time `json:"report_at,omitzero"`
	InEffect  time.Time `json:"in_effect_at,omitzero"`
	LatencyMS float64   `json:"latency_ms,omitempty"`
	n         int       // players, for the log line
}

// balancer is the master's side of the balancing: it turns the slots and
// the host sample into balance.Decide's input, carries the state actions
// leave from one decision to the next, and applies them (weights to the
// kernel, pauses, commands to workers). The master loop owns it.
type balancer struct {
	log    *slog.Logger
	cfg    configs.Balance
	policy balance.Policy
	tier   balance.Tier
	why    string // why this tier, from the probe
	fx     balanceEffects

	// groups are the reuseport groups by socket name and address; a
	// member is a socket, by an id of its own, so sockets of a reload's
	// new addresses and of retiring slots are tracked in their own groups.
	groups  map[string]*steer.Group
	members map[*socket]member
	nextID  int
	socks   map[int]*slotSockets    // each slot's current sockets
	state   map[int]*balance.Worker // carried by slot
	gens    map[int]uint64
	lastAt  map[int]time.Time // time of the last load report used
	host    balance.Host
	admit   ipc.Admission // in force

	attached   map[string]map[int]int // weights in the kernel, by group and member
	want       map[int]int            // weights Decide asked for, by slot
	lastAttach time.Time
	// urgent: a slot joined or left, or a share went to or from zero:
	// the program must follow now, not at the next second.
	urgent bool

	// sheds are the shed orders in force, by slot: when the weights move,
	// they are sent again, so players move to where new ones go.
	sheds map[int]shedOrder

	decisions []Decision
	actions   map[[2]string]uint64 // kind, reason
	// turned are the slots whose steering this step changes (a share to
	// or from zero, a pause, a resume), and the decisions that did it.
	turned    map[int]bool
	turnedBy  []int           // indexes into decisions
	paused    bool            // a slot left or rejoined its groups this step
	latencies []time.Duration // the last keptDecisions
	latHist   latencyHist
}

type shedOrder struct {
	perSec int
	reason string
}

func newBalancer(log *slog.Logger, cfg configs.Balance, hostBytesOutMax float64, tier balance.Tier, why string, fx balanceEffects) *balancer {
	b := &balancer{log: log.With("component", "balance"), tier: tier, why: why, fx: fx,
		groups: map[string]*steer.Group{}, members: map[*socket]member{}, socks: map[int]*slotSockets{},
		state: map[int]*balance.Worker{}, gens: map[int]uint64{}, lastAt: map[int]time.Time{},
		attached: map[string]map[int]int{}, actions: map[[2]string]uint64{}, sheds: map[int]shedOrder{}}
	b.configure(cfg, hostBytesOutMax)
	return b
}

// configure takes new thresholds (start and reload); the tier stays.
func (b *balancer) configure(cfg configs.Balance, hostBytesOutMax float64) {
	b.cfg = cfg
	b.policy = balance.Policy{Tier: b.tier, WorkerCPUHigh: cfg.WorkerCPUHigh, WorkerCPULow: cfg.WorkerCPULow,
		HotFor: cfg.HotFor.Std(), ShedAfter: cfg.ShedAfter.Std(), RetireAfter: cfg.RetireAfter.Std(),
		MaxConnections: cfg.MaxConnections, WorkerBytesOutMax: float64(cfg.WorkerBytesOutMax),
		HostCPUHigh: cfg.HostCPUHigh, HostBytesOutMax: hostBytesOutMax, HostMaxConnections: cfg.HostMaxConnections,
		ShedRate: cfg.ShedRate / 100, ShedMax: cfg.ShedMax, WriterLoadHigh: cfg.WriterLoadHigh, WriterLoadLow: cfg.WriterLoadLow}
	if b.policy.RetireAfter == 0 {
		b.policy.RetireAfter = 1<<63 - 1 // never
	}
}

// member is a tracked socket: its group and its id there.
type member struct {
	group string
	id    int
}

// track records a TCP socket that has just joined its group (it listens).
func (b *balancer) track(so *socket) {
	key := so.name + " " + so.addr.String()
	g := b.groups[key]
	if g == nil {
		g = steer.NewGroup(key)
		b.groups[key] = g
	}
	b.nextID++
	if err := g.Add(b.nextID, so.file); err != nil {
		b.log.Error("steering cannot track a socket", "group", key, "err", err)
		return
	}
	b.members[so] = member{group: key, id: b.nextID}
}

// untrack forgets a socket that is being closed.
func (b *balancer) untrack(so *socket) {
	mb, ok := b.members[so]
	if !ok {
		return
	}
	delete(b.members, so)
	if err := b.groups[mb.group].Remove(mb.id); err != nil {
		b.log.Error("steering: remove failed", "group", mb.group, "err", err)
	}
	if !b.anyIn(mb.group) {
		delete(b.groups, mb.group)
		delete(b.attached, mb.group)
	}
}

func (b *balancer) anyIn(group string) bool {
	for _, mb := range b.members {
		if mb.group == group {
			return true
		}
	}
	return false
}

// leave takes one socket out of its group for good (it is on its way out).
func (b *balancer) leave(so *socket) error {
	mb, ok := b.members[so]
	if !ok {
		return nil
	}
	return b.groups[mb.group].Pause(mb.id)
}

// pauseSlot takes a slot's current sockets out of their groups, or back.
func (b *balancer) pauseSlot(slot int, out bool) {
	socks := b.socks[slot]
	if socks == nil {
		return
	}
	for _, so := range socks.list {
		mb, ok := b.members[so]
		if !ok {
			continue
		}
		g := b.groups[mb.group]
		var err error
		if out {
			err = g.Pause(mb.id)
		} else {
			err = g.Resume(mb.id)
		}
		if err != nil {
			b.log.Error("steering failed", "pause", out, "worker", slot, "group", mb.group, "err", err)
		}
	}
}

// hold pauses (or releases) a slot by hand.
func (b *balancer) hold(slot int, on bool) bool {
	w := b.state[slot]
	if w == nil {
		return false
	}
	w.Held = on
	return true
}

// observe refreshes the carried state of every slot from the views.
func (b *balancer) observe(views []slotView) {
	seen := map[int]bool{}
	for _, v := range views {
		seen[v.Slot] = true
		if prev := b.socks[v.Slot]; prev != v.Sockets {
			b.socks[v.Slot] = v.Sockets
			if w := b.state[v.Slot]; w != nil && prev != nil {
				w.Paused = false // new sockets start in their group
			}
		}
		w := b.state[v.Slot]
		if w == nil || b.gens[v.Slot] != v.Gen {
			// A new worker in the slot starts cool, with nothing to shed.
			fresh := &balance.Worker{Slot: v.Slot}
			if w != nil {
				fresh.Held, fresh.Paused, fresh.Weight = w.Held, w.Paused, w.Weight
			}
			w = fresh
			b.state[v.Slot], b.gens[v.Slot] = w, v.Gen
			delete(b.lastAt, v.Slot)
			delete(b.sheds, v.Slot) // the order went with the old worker
		}
		w.Ready = v.Ready
		if l := v.Load; l != nil && v.Ready {
			w.CPU, w.BytesOut, w.WriterLoad = l.CPUPercent, l.BytesOutPerSec, l.WriterLoad
			w.Conns = l.Connections - l.Conns[ipc.ConnRelayOut]
			w.Players = l.Conns.ByRole(ipc.RolePlayer)
			if l.Time.After(b.lastAt[v.Slot]) {
				w.OverSince = balance.Over(w.OverSince, l.CPUPercent, b.policy.WorkerCPUHigh, l.Time)
				w.WriterOver = balance.OverCount(w.WriterOver, l.WriterLoad, b.policy.WriterLoadHigh)
				w.WriterUnder = balance.UnderCount(w.WriterUnder, l.WriterLoad, b.policy.WriterLoadLow)
				b.lastAt[v.Slot] = l.Time
			}
		} else if !v.Ready {
			w.CPU, w.BytesOut, w.WriterLoad, w.Conns, w.Players, w.OverSince, w.WriterOver = 0, 0, 0, 0, 0, time.Time{}, 0
			w.WriterUnder = 0
		}
	}
	for slot := range b.state {
		if !seen[slot] {
			delete(b.state, slot)
			delete(b.gens, slot)
			delete(b.lastAt, slot)
			delete(b.socks, slot)
			delete(b.sheds, slot)
		}
	}
}

// step decides and applies (see Master.rebalance for when), then logs the
// decisions, those that changed steering with their latency.
func (b *balancer) step(now time.Time, views []slotView, host HostLoad) {
	start := time.Now() // the work's own time, added to now: now may be a test's
	b.observe(views)
	b.turned, b.turnedBy, b.paused = map[int]bool{}, nil, false
	first := len(b.decisions)
	b.host.CPU, b.host.BytesOut = host.CPUPercent, host.NetSentPerSec
	snap := balance.Snapshot{Host: b.host}
	for _, slot := range slices.Sorted(maps.Keys(b.state)) {
		snap.Workers = append(snap.Workers, *b.state[slot])
	}
	acts := balance.Decide(snap, b.policy, now)
	for _, a := range acts {
		b.apply(now, a)
	}
	balance.Apply(&snap, acts, now)
	for _, w := range snap.Workers {
		*b.state[w.Slot] = w
	}
	b.host = snap.Host
	if b.attachDue(now) || b.paused {
		b.inEffect(now, now.Add(time.Since(start)))
	}
	for _, d := range b.decisions[first:] {
		args := []any{"action", d.Kind, "worker", d.Slot, "reason", d.Reason, "detail", d.Detail,
			"weights", fmt.Sprint(d.Weights), "per_sec", d.PerSec, "n", d.n}
		if !d.InEffect.IsZero() {
			args = append(args, "latency_ms", d.LatencyMS, "due", d.Due, "report", d.Report)
		}
		b.log.Info("balance decision", args...)
	}
	if over := len(b.decisions) - keptDecisions; over > 0 {
		b.decisions = slices.Delete(b.decisions, 0, over)
	}
}

// hotDue is the earliest time at which a slot over worker_cpu_high, not
// yet hot, will have been so for hot_for; zero when there is none. The
// last step made every slot whose time had come hot, so it is after it.
func (b *balancer) hotDue() time.Time {
	var first time.Time
	for _, w := range b.state {
		if w.Hot || !w.Ready || w.OverSince.IsZero() {
			continue
		}
		if at := w.OverSince.Add(b.policy.HotFor); first.IsZero() || at.Before(first) {
			first = at
		}
	}
	return first
}

// turn notes that slot's steering changes in this step, by the decision
// just recorded.
func (b *balancer) turn(slot int) {
	b.turned[slot] = true
	if i := len(b.decisions) - 1; !slices.Contains(b.turnedBy, i) {
		b.turnedBy = append(b.turnedBy, i)
	}
}

// inEffect records, for the decisions that changed steering, when it was
// due and when the kernel had it. A slot that turned hot was due hot_for
// after its first report over worker_cpu_high, whether or not a report
// came then; any other turn was due at the report it followed. A turn
// with no report behind it (a worker ready or gone) is not timed.
func (b *balancer) inEffect(now, at time.Time) {
	var due, report time.Time
	for slot := range b.turned {
		w, r := b.state[slot], b.lastAt[slot]
		if r.IsZero() {
			continue // a worker come or gone, at once: no report to time it by
		}
		d := r
		if w != nil && w.Hot && w.HotSince.Equal(now) && !w.OverSince.IsZero() {
			d = w.OverSince.Add(b.policy.HotFor)
		}
		due, report = maxTime(due, d), maxTime(report, r)
	}
	if due.IsZero() {
		return
	}
	lat := max(at.Sub(due), 0)
	for _, i := range b.turnedBy {
		d := &b.decisions[i]
		d.Due, d.Report, d.InEffect, d.LatencyMS = due, report, at, float64(lat.Microseconds())/1000
	}
	b.latencies = append(b.latencies, lat)
	if over := len(b.latencies) - keptDecisions; over > 0 {
		b.latencies = slices.Delete(b.latencies, 0, over)
	}
	b.latHist.observe(lat)
}

// latencyBounds are the decision latency histogram's buckets, in seconds:
// the goal is one report period (1 s) plus 100 ms.
var latencyBounds = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 1.1, 2, 5}

// latencyHist is the decision latencies since start, for /metrics.
type latencyHist struct {
	counts []uint64 // per bucket, not cumulative
	n      uint64
	sum    float64 // seconds
}

func (h *latencyHist) observe(d time.Duration) {
	if h.counts == nil {
		h.counts = make([]uint64, len(latencyBounds))
	}
	s := d.Seconds()
	h.n++
	h.sum += s
	if i, _ := slices.BinarySearch(latencyBounds, s); i < len(latencyBounds) {
		h.counts[i]++
	}
}

// cumulative is the histogram as Prometheus wants it.
func (h *latencyHist) cumulative() map[float64]uint64 {
	out := map[float64]uint64{}
	var run uint64
	for i, le := range latencyBounds {
		if h.counts != nil {
			run += h.counts[i]
		}
		out[le] = run
	}
	return out
}

// LatencySummary is the decision latency over the last decisions that
// changed steering.
type LatencySummary struct {
	Count int     `json:"count"`
	P50MS float64 `json:"p50_ms"`
	MaxMS float64 `json:"max_ms"`
}

func summarize(ds []time.Duration) LatencySummary {
	if len(ds) == 0 {
		return LatencySummary{}
	}
	s := slices.Sorted(slices.Values(ds))
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return LatencySummary{Count: len(s), P50MS: ms(s[(len(s)-1)/2]), MaxMS: ms(s[len(s)-1])}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func (b *balancer) apply(now time.Time, a balance.Action) {
	b.actions[[2]string{string(a.Kind), string(a.Reason)}]++
	b.decisions = append(b.decisions, Decision{At: now, Kind: string(a.Kind), Slot: a.Slot, Reason: string(a.Reason),
		Detail: a.Detail, Weights: a.Weights, PerSec: a.PerSec, n: a.N})
	switch a.Kind {
	case balance.KindWeigh:
		prev := b.want
		b.want = map[int]int{}
		opened := false // a share went to or from zero
		for i, w := range a.Weights {
			if i < len(b.state) {
				slot := b.slotAt(i)
				b.want[slot] = w
				if (prev[slot] == 0) != (w == 0) {
					opened = true
					b.turn(slot)
				}
			}
		}
		b.urgent = b.urgent || opened
		if opened {
			// Who takes shed players changed (shares alone are not worth
			// restarting a shed for).
			for slot, o := range b.sheds {
				b.shed(slot, o)
			}
		}
	case balance.KindPause, balance.KindResume:
		b.pauseSlot(a.Slot, a.Kind == balance.KindPause)
		b.urgent, b.paused = true, true
		b.turn(a.Slot)
	case balance.KindShed:
		b.sheds[a.Slot] = shedOrder{perSec: a.PerSec, reason: a.Detail}
		b.shed(a.Slot, b.sheds[a.Slot])
	case balance.KindStopShed:
		delete(b.sheds, a.Slot)
		b.send(a.Slot, &ipc.Shed{PerSec: 0, Reason: string(a.Reason)})
	case balance.KindMove:
		if err := b.fx.movePlayers(a.Slot, a.To, a.N, a.PerSec, "balance: "+a.Detail); err != nil {
			b.log.Warn("balance move not sent", "worker", a.Slot, "to", a.To, "err", err)
		}
	case balance.KindRetire:
		if err := b.fx.retireSlotWorker(a.Slot, "balance: "+a.Detail); err != nil {
			b.log.Error("retire failed", "worker", a.Slot, "err", err)
		}
	case balance.KindHostFull, balance.KindHostOK:
		b.admit = ipc.Admission{Refuse: a.Kind == balance.KindHostFull, Reason: string(a.Reason),
			Description: "server busy: " + a.Detail}
		b.fx.broadcastAll(&b.admit)
	}
}

// kernelWeight is the weight attached for a slot's first tracked socket.
func (b *balancer) kernelWeight(slot int) int {
	if socks := b.socks[slot]; socks != nil {
		for _, so := range socks.list {
			if mb, ok := b.members[so]; ok {
				if ws, ok := b.attached[mb.group]; ok {
					return ws[mb.id]
				}
			}
		}
	}
	return -1
}

// slotOfSocket is the slot whose current socket so is, or -1.
func (b *balancer) slotOfSocket(so *socket) int {
	for slot, socks := range b.socks {
		if socks != nil && slices.Contains(socks.list, so) {
			return slot
		}
	}
	return -1
}

// slotAt maps an index of a Weigh action (Decide's slots, sorted) to a slot.
func (b *balancer) slotAt(i int) int {
	return slices.Sorted(maps.Keys(b.state))[i]
}

// shed orders a slot's worker to shed: its players move to the slots new
// connections go to (weight over 0), and only those that cannot move close.
func (b *balancer) shed(slot int, o shedOrder) {
	if err := b.fx.shedSlot(slot, o.perSec, o.reason, b.want); err != nil {
		b.log.Warn("balance command not sent", "worker", slot, "kind", "shed", "err", err)
	}
}

func (b *balancer) send(slot int, msg ipc.Message) {
	if err := b.fx.sendSlot(slot, msg); err != nil {
		b.log.Warn("balance command not sent", "worker", slot, "kind", msg.Kind().String(), "err", err)
	}
}

// attachDue puts the wanted weights into the kernel, at most once a
// second: each group's members get their slot's weight, and a socket that
// is no slot's current one (a replacement's, not yet serving) gets none.
// It says whether it attached a new program.
func (b *balancer) attachDue(now time.Time) bool {
	if b.tier != balance.TierCBPF || b.want == nil || (!b.urgent && now.Sub(b.lastAttach) < attachEvery) {
		return false
	}
	attached := false
	b.urgent = false
	bySock := map[*socket]int{}
	for slot, socks := range b.socks {
		if socks == nil {
			continue
		}
		for _, so := range socks.list {
			bySock[so] = b.want[slot]
		}
	}
	per := map[string]map[int]int{}
	for so, mb := range b.members {
		if per[mb.group] == nil {
			per[mb.group] = map[int]int{}
		}
		per[mb.group][mb.id] = bySock[so]
	}
	for key, ws := range per {
		if maps.Equal(ws, b.attached[key]) {
			continue
		}
		if err := b.groups[key].Attach(ws); err != nil {
			b.log.Error("steering program not attached", "group", key, "err", err)
			continue
		}
		b.attached[key] = ws
		b.lastAttach = now
		attached = true
	}
	return attached
}

// ready tells a worker that just became ready what it must know: whether
// the host refuses new players.
func (b *balancer) ready(slot int) {
	if b.admit.Refuse {
		b.send(slot, &b.admit)
	}
}

// BalanceInfo is GET /api/v1/balance.
type BalanceInfo struct {
	Tier       balance.Tier     `json:"tier"`
	TierWhy    string           `json:"tier_reason"`
	Thresholds map[string]any   `json:"thresholds"`
	HostFull   bool             `json:"host_full"`
	Workers    []BalanceWorker  `json:"workers"`
	Groups     map[string][]int `json:"group_order"` // slots in the kernel's order, per socket and address; -1: no slot's current socket
	Decisions  []Decision       `json:"decisions"`   // the last 100
	Actions    []ActionCount    `json:"actions"`
	// Latency is how long steering took to follow its decisions (due to
	// in the kernel), over the last 100 that changed it.
	Latency LatencySummary `json:"decision_latency"`
	latHist latencyHist
}

// BalanceWorker is one slot as the balancer sees it.
type BalanceWorker struct {
	Slot        int     `json:"slot"`
	Ready       bool    `json:"ready"`
	CPUPercent  float64 `json:"cpu_percent"`
	Connections int     `json:"connections"`
	Players     int     `json:"players"`
	BytesOut    float64 `json:"bytes_out_per_sec"`
	WriterLoad  float64 `json:"writer_load"` // share of mw_latency the busiest writer loop needs
	Weight      int     `json:"weight"`      // share of new connections, 0..100
	// KernelWeight is the weight of the slot's sockets in the program
	// attached to their groups (at most a second behind weight); -1 when no
	// program is attached (tiers pause and off, or before the first).
	KernelWeight int    `json:"weight_in_kernel"`
	Cap          int    `json:"max_connections"`
	Hot          bool   `json:"hot"`
	Held         bool   `json:"held"`   // paused by hand
	Paused       bool   `json:"paused"` // out of the reuseport group
	Shedding     bool   `json:"shedding"`
	Retiring     bool   `json:"retiring"`
	State        string `json:"state"`
}

// ActionCount is how many actions of a kind were taken for a reason.
type ActionCount struct {
	Kind   string `json:"kind"`
	Reason string `json:"reason"`
	Count  uint64 `json:"count"`
}

// state names what a slot's steering is, for the API and a metric label.
func (b *balancer) stateOf(w balance.Worker) string {
	switch {
	case !w.Ready:
		return "down"
	case w.Retiring:
		return "retiring"
	case w.Held:
		return "held"
	case w.Hot:
		return "hot"
	case w.WriterFull:
		return "writer_full"
	case b.policy.MaxConnections > 0 && w.Conns >= b.policy.MaxConnections:
		return "capped"
	}
	return "open"
}

func (b *balancer) info() BalanceInfo {
	p := b.policy
	bi := BalanceInfo{Tier: b.tier, TierWhy: b.why, HostFull: b.host.Full, Groups: map[string][]int{},
		Decisions: slices.Clone(b.decisions), Latency: summarize(b.latencies),
		latHist: latencyHist{counts: slices.Clone(b.latHist.counts), n: b.latHist.n, sum: b.latHist.sum},
		Thresholds: map[string]any{"worker_cpu_high": p.WorkerCPUHigh, "worker_cpu_low": p.WorkerCPULow,
			"hot_for": b.cfg.HotFor.String(), "shed_after": b.cfg.ShedAfter.String(), "retire_after": b.cfg.RetireAfter.String(),
			"shed_rate_percent": b.cfg.ShedRate, "shed_max": p.ShedMax, "max_connections": p.MaxConnections,
			"worker_bytes_out_max": p.WorkerBytesOutMax, "host_cpu_high": p.HostCPUHigh,
			"host_bytes_out_max": p.HostBytesOutMax, "host_max_connections": p.HostMaxConnections,
			"writer_load_high": p.WriterLoadHigh, "writer_load_low": p.WriterLoadLow}}
	for _, slot := range slices.Sorted(maps.Keys(b.state)) {
		w := *b.state[slot]
		bi.Workers = append(bi.Workers, BalanceWorker{Slot: w.Slot, Ready: w.Ready, CPUPercent: w.CPU, Connections: w.Conns,
			Players: w.Players, BytesOut: w.BytesOut, WriterLoad: w.WriterLoad, Weight: w.Weight, Cap: p.MaxConnections, Hot: w.Hot, Held: w.Held,
			Paused: w.Paused, Shedding: w.Shedding, Retiring: w.Retiring, State: b.stateOf(w), KernelWeight: b.kernelWeight(slot)})
	}
	for key, g := range b.groups {
		slotOf := map[int]int{}
		for so, mb := range b.members {
			if mb.group == key {
				slotOf[mb.id] = b.slotOfSocket(so)
			}
		}
		var order []int
		for _, id := range g.Members() {
			order = append(order, slotOf[id])
		}
		bi.Groups[key] = order
	}
	for k, n := range b.actions {
		bi.Actions = append(bi.Actions, ActionCount{Kind: k[0], Reason: k[1], Count: n})
	}
	slices.SortFunc(bi.Actions, func(x, y ActionCount) int {
		return cmp.Or(cmp.Compare(x.Kind, y.Kind), cmp.Compare(x.Reason, y.Reason))
	})
	if bi.Decisions == nil {
		bi.Decisions = []Decision{}
	}
	return bi
}
