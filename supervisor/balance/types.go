package balance

import (
	"fmt"
	"strings"
	"time"
)

// Tier is the steering mechanism in force.
type Tier string

// The tiers, strongest first.
const (
	TierCBPF  Tier = "cbpf"  // weighted cBPF program on the reuseport group
	TierPause Tier = "pause" // binary: a slot leaves the group and rejoins
	TierOff   Tier = "off"   // the kernel's hash alone
)

// Policy is the thresholds Decide applies. Zero limits are off.
type Policy struct {
	Tier Tier

	WorkerCPUHigh float64 // percent of one core
	WorkerCPULow  float64 // a hot worker cools under this
	HotFor        time.Duration
	ShedAfter     time.Duration // hot this long: shed
	RetireAfter   time.Duration // hot this long: retire

	MaxConnections    int     // per worker
	WorkerBytesOutMax float64 // per worker, bytes/s

	HostCPUHigh        float64 // percent of all cores
	HostBytesOutMax    float64 // bytes/s
	HostMaxConnections int

	ShedRate float64 // fraction of a worker's players per second
	ShedMax  int     // players per second at most

	// WriterLoadHigh closes a worker to new players once its busiest
	// writer loop needs that share of the merge period; it reopens under
	// WriterLoadLow. 0 is off.
	WriterLoadHigh float64
	WriterLoadLow  float64
}

// Worker is one slot as Decide sees it: the latest report of its serving
// worker and what earlier actions left.
type Worker struct {
	Slot  int
	Ready bool // a worker serves the slot
	Held  bool // paused by the operator

	CPU      float64 // percent of one core
	Conns    int
	Players  int
	BytesOut float64 // bytes/s
	// WriterLoad is the share of the merge period the worker's busiest
	// stream writer loop took for its last pass (ipc.Load.WriterLoad).
	WriterLoad float64
	// WriterOver counts the reports in a row with WriterLoad at or over
	// writer_load_high (see OverCount); the master keeps it per slot.
	WriterOver int
	// WriterUnder counts the reports in a row with WriterLoad under
	// writer_load_low (see UnderCount).
	WriterUnder int

	// OverSince starts the current run of reports over worker_cpu_high;
	// zero when the last one was under (see Over).
	OverSince time.Time

	// State from applied actions.
	Hot      bool
	HotSince time.Time
	// WriterFull: over writer_load_high and not yet back under
	// writer_load_low; no new players, but none shed either.
	WriterFull bool
	Weight     int  // share in force, 0..100
	Paused     bool // out of the reuseport group
	Shedding   bool
	Retiring   bool
}

// Host is the whole machine.
type Host struct {
	CPU      float64 // percent of all cores
	BytesOut float64 // bytes/s
	Full     bool    // host-full refusal in force
	// MovingUntil is when the even move under way should be done and
	// reported: no other starts before.
	MovingUntil time.Time
	// Players is how many players the ready workers had when the count
	// last moved by evenConns or more, at PlayersSince: counts that still
	// move (arrivals, reconnects after a crash) are steering's to place,
	// not to be moved.
	Players      int
	PlayersSince time.Time
}

// Snapshot is Decide's input.
type Snapshot struct {
	Workers []Worker // by slot
	Host    Host
}

// Kind is what an action does.
type Kind string

// The actions, mildest first.
const (
	KindWeigh    Kind = "weigh"     // new shares of new connections (Weights)
	KindHot      Kind = "hot"       // mark the slot hot
	KindCool     Kind = "cool"      // it cooled
	KindPause    Kind = "pause"     // the slot leaves the reuseport group
	KindResume   Kind = "resume"    // it rejoins
	KindShed     Kind = "shed"      // close players at PerSec
	KindStopShed Kind = "stop_shed" // stop shedding
	KindMove     Kind = "move"      // move N players to slot To at PerSec
	KindRetire   Kind = "retire"    // replace the slot's worker
	KindHostFull Kind = "host_full" // refuse new players host-wide
	KindHostOK   Kind = "host_ok"   // admit them again

	KindWriterFull Kind = "writer_full" // the slot's writer loop is at capacity: no new players
	KindWriterOK   Kind = "writer_ok"   // it has room again
)

// Reason is a short code for why an action was taken; it labels metrics.
type Reason string

// The reasons.
const (
	ReasonLoad         Reason = "load"            // weights follow the headroom
	ReasonCPUHigh      Reason = "cpu_high"        // over worker_cpu_high for hot_for
	ReasonCPULow       Reason = "cpu_low"         // under worker_cpu_low
	ReasonNotReady     Reason = "not_ready"       // no ready worker in the slot
	ReasonReady        Reason = "ready"           // a worker is ready again
	ReasonHeld         Reason = "operator"        // paused by hand
	ReasonCapped       Reason = "capped"          // at max_connections
	ReasonLastOpen     Reason = "last_open_slot"  // kept open: the last one
	ReasonHotTooLong   Reason = "hot_too_long"    // shed_after or retire_after passed
	ReasonNoHeadroom   Reason = "no_headroom"     // nobody else could take the players
	ReasonUneven       Reason = "uneven"          // players piled on one worker
	ReasonAllHot       Reason = "all_workers_hot" // host full
	ReasonHostCPU      Reason = "host_cpu_high"
	ReasonHostBytesOut Reason = "host_bytes_out_high"
	ReasonHostConns    Reason = "host_connections_full"
	ReasonHostCool     Reason = "host_cool"
	ReasonWriterLoad   Reason = "writer_load"     // writer loop over writer_load_high
	ReasonWriterLow    Reason = "writer_load_low" // back under writer_load_low
)

// Action is one thing for the master to do.
type Action struct {
	Kind    Kind
	Slot    int // -1 for host-wide actions
	Reason  Reason
	Detail  string // the figures behind it, for the log
	Weights []int  // KindWeigh: share per slot, 0..100
	PerSec  int    // KindShed, KindMove: players per second
	N       int    // KindMove: players
	To      int    // KindMove: the receiving slot
}

func (a Action) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s", a.Kind)
	if a.Slot >= 0 {
		fmt.Fprintf(&b, " slot=%d", a.Slot)
	}
	fmt.Fprintf(&b, " reason=%s", a.Reason)
	if a.Weights != nil {
		fmt.Fprintf(&b, " weights=%v", a.Weights)
	}
	if a.Kind == KindMove {
		fmt.Fprintf(&b, " n=%d to=%d", a.N, a.To)
	}
	if a.PerSec > 0 {
		fmt.Fprintf(&b, " per_sec=%d", a.PerSec)
	}
	if a.Detail != "" {
		fmt.Fprintf(&b, " (%s)", a.Detail)
	}
	return b.String()
}

// OverCount returns the WriterOver to carry after a new report of load.
func OverCount(prev int, load, high float64) int {
	if high <= 0 || load < high {
		return 0
	}
	return prev + 1
}

// UnderCount returns the WriterUnder to carry after a new report of load.
func UnderCount(prev int, load, low float64) int {
	if load >= low {
		return 0
	}
	return prev + 1
}

// Over returns the OverSince to carry after a report of cpu at time at:
// the start of the current run of reports over high, zero once one is
// under. The master keeps it per slot; a fresh worker starts at zero.
func Over(prev time.Time, cpu, high float64, at time.Time) time.Time {
	switch {
	case cpu < high:
		return time.Time{}
	case prev.IsZero():
		return at
	}
	return prev
}
