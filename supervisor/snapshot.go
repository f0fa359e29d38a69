package supervisor

import (
	"context"
	"os"
	"sort"
	"strings"
	"time"

	"streamedge/ipc"
)

// WorkerInfo is one slot as the API shows it.
type WorkerInfo struct {
	Slot       int         `json:"slot"`
	PID        int         `json:"pid"`
	State      WorkerState `json:"state"`
	Restarts   int         `json:"restarts"`
	Crashes    int         `json:"crashes"`
	StartedAt  time.Time   `json:"started_at"`
	GOMAXPROCS int         `json:"gomaxprocs"`
	Load       *LoadInfo   `json:"load"` // null until the first report
}

// StreamInfo is one stream across the host.
type StreamInfo struct {
	Stream      string      `json:"stream"` // vhost/app/name
	Owner       int         `json:"owner"`  // slot of the publishing worker, -1 if none
	Publishing  bool        `json:"publishing"`
	Players     int         `json:"players"`
	PlayersBy   map[int]int `json:"players_by_worker"`
	RelayedBy   []int       `json:"relayed_by"` // workers that pull it from the owner
	BitrateKbps float64     `json:"bitrate_kbps"`
	// Upstream is an edge stream's pull from its origin (owner: the worker
	// that pulls it).
	Upstream *ipc.Upstream `json:"upstream,omitempty"`
	// RTC is what WebRTC players get: Opus transcoded from AAC, or video
	// only and why; and a warning when browsers may stutter.
	RTC *ipc.StreamRTC `json:"rtc,omitempty"`
}

// Snapshot is the master's state at one moment, for the API and /metrics.
type Snapshot struct {
	Version string       `json:"version"`
	PID     int          `json:"pid"`
	Started time.Time    `json:"started_at"`
	Host    HostLoad     `json:"host"`
	Workers []WorkerInfo `json:"workers"`
	Streams []StreamInfo `json:"streams"`
	Reloads reloadStats  `json:"reloads"`
	// Origins are an edge's figures per origin (empty on an origin).
	Origins map[string]originStats `json:"origins,omitempty"`
}

// snapshot is made on the master loop.
func (m *Master) snapshot() Snapshot {
	snap := Snapshot{Version: m.opts.Version, PID: os.Getpid(), Started: m.started, Host: m.host.last, Reloads: m.reloads}
	streams := map[string]*StreamInfo{}
	get := func(name string) *StreamInfo {
		if st := streams[name]; st != nil {
			return st
		}
		st := &StreamInfo{Stream: name, Owner: -1, PlayersBy: map[int]int{}}
		if o, ok := m.registry.owner(name); ok {
			st.Owner, st.Publishing = m.slotOf(o), true
		}
		streams[name] = st
		return st
	}
	for name := range m.registry.owners {
		get(name)
	}
	add := func(wi WorkerInfo, p *workerProc) {
		if p != nil {
			wi.PID, wi.State, wi.StartedAt, wi.Load = p.pid, p.state, p.started, loadInfo(p.load)
			if p.hello != nil {
				wi.GOMAXPROCS = p.hello.GOMAXPROCS
			}
			for _, sl := range loadStreams(p.load) {
				st := get(sl.Stream)
				st.Players += sl.Players
				if sl.Players > 0 {
					st.PlayersBy[p.slot] += sl.Players
				}
				if sl.RTC != nil && (st.RTC == nil || sl.RTC.Warning != "") {
					st.RTC = sl.RTC
				}
				if sl.Upstream != nil {
					st.Upstream, st.BitrateKbps = sl.Upstream, sl.BitrateKbps
				} else if sl.Relay {
					st.RelayedBy = append(st.RelayedBy, p.slot)
				} else if sl.Publishing {
					st.BitrateKbps = sl.BitrateKbps
				}
			}
		}
		snap.Workers = append(snap.Workers, wi)
	}
	current := map[uint64]bool{}
	for _, s := range m.slots {
		add(WorkerInfo{Slot: s.index, State: s.state(), Restarts: s.restarts, Crashes: s.crashes}, s.proc)
		if s.proc != nil {
			current[s.proc.gen] = true
		}
	}
	// Replacements starting and workers draining, after the slots' own.
	for _, p := range m.procs {
		if !current[p.gen] {
			add(WorkerInfo{Slot: p.slot}, p)
		}
	}
	for _, st := range streams {
		snap.Streams = append(snap.Streams, *st)
	}
	for addr, st := range m.edge.origins {
		if snap.Origins == nil {
			snap.Origins = map[string]originStats{}
		}
		snap.Origins[addr] = *st
	}
	sort.Slice(snap.Streams, func(i, j int) bool { return strings.Compare(snap.Streams[i].Stream, snap.Streams[j].Stream) < 0 })
	return snap
}

func loadStreams(l *ipc.Load) []ipc.StreamLoad {
	if l == nil {
		return nil
	}
	return l.Streams
}

// Snapshot asks the master loop for its state; it fails when the loop is
// not running.
func (m *Master) Snapshot(ctx context.Context) (Snapshot, error) {
	reply := make(chan Snapshot, 1)
	select {
	case m.events <- func(m *Master) { reply <- m.snapshot() }:
	case <-ctx.Done():
		return Snapshot{}, ctx.Err()
	}
	select {
	case snap := <-reply:
		return snap, nil
	case <-ctx.Done():
		return Snapshot{}, ctx.Err()
	}
}
