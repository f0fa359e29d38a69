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
	Load       *ipc.Load   `json:"load"`
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
}

// Snapshot is the master's state at one moment, for the API and /metrics.
type Snapshot struct {
	Version string       `json:"version"`
	PID     int          `json:"pid"`
	Started time.Time    `json:"started_at"`
	Host    HostLoad     `json:"host"`
	Workers []WorkerInfo `json:"workers"`
	Streams []StreamInfo `json:"streams"`
}

// snapshot is made on the master loop.
func (m *Master) snapshot() Snapshot {
	snap := Snapshot{Version: m.version, PID: os.Getpid(), Started: m.started, Host: m.host.last}
	streams := map[string]*StreamInfo{}
	get := func(name string) *StreamInfo {
		if st := streams[name]; st != nil {
			return st
		}
		st := &StreamInfo{Stream: name, Owner: -1, PlayersBy: map[int]int{}}
		if o, ok := m.registry.owner(name); ok {
			st.Owner, st.Publishing = o, true
		}
		streams[name] = st
		return st
	}
	for name := range m.registry.owners {
		get(name)
	}
	for _, s := range m.slots {
		wi := WorkerInfo{Slot: s.index, State: s.state(), Restarts: s.restarts, Crashes: s.crashes}
		if p := s.proc; p != nil {
			wi.PID, wi.StartedAt, wi.Load = p.pid, p.started, p.load
			if p.hello != nil {
				wi.GOMAXPROCS = p.hello.GOMAXPROCS
			}
			if p.load != nil {
				for _, sl := range p.load.Streams {
					st := get(sl.Stream)
					st.Players += sl.Players
					if sl.Players > 0 {
						st.PlayersBy[s.index] += sl.Players
					}
					if sl.Relay {
						st.RelayedBy = append(st.RelayedBy, s.index)
					} else if sl.Publishing {
						st.BitrateKbps = sl.BitrateKbps
					}
				}
			}
		}
		snap.Workers = append(snap.Workers, wi)
	}
	for _, st := range streams {
		snap.Streams = append(snap.Streams, *st)
	}
	sort.Slice(snap.Streams, func(i, j int) bool { return strings.Compare(snap.Streams[i].Stream, snap.Streams[j].Stream) < 0 })
	return snap
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
