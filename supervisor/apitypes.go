package supervisor

import (
	"time"

	"streamedge/ipc"
)

// The API's response types: one JSON style, snake_case, with SRS's names
// where the concept is SRS's (code, server, pid). Nothing from ipc is
// served as it is, so the wire between master and workers can change
// without the API changing.

// LoadInfo is a worker's latest load report.
type LoadInfo struct {
	At             time.Time            `json:"at"`
	CPUPercent     float64              `json:"cpu_percent"` // of one core
	RSSBytes       uint64               `json:"rss_bytes"`
	Connections    int                  `json:"connections"`          // every open connection
	ByKind         map[ipc.ConnKind]int `json:"connections_by_kind"`  // sessions: rtmp_publish, flv_play, ...
	ByState        map[string]int       `json:"connections_by_state"` // every open connection: handshaking, idle, playing, publishing
	Junk           map[string]uint64    `json:"junk_connections"`     // closed before any session, by protocol/reason, since the worker started
	BytesInPerSec  float64              `json:"bytes_in_per_sec"`
	BytesOutPerSec float64              `json:"bytes_out_per_sec"`
	BytesIn        uint64               `json:"bytes_in"` // since the worker started
	BytesOut       uint64               `json:"bytes_out"`
	Streams        []WorkerStreamInfo   `json:"streams"`
	// New sessions refused since the worker started, by "protocol/reason",
	// and players shed by the balancer.
	Refusals  map[string]uint64 `json:"refusals,omitempty"`
	Shed      uint64            `json:"shed,omitempty"`       // players closed to shed load
	ShedMoved uint64            `json:"shed_moved,omitempty"` // players moved to shed load
	// Players handed between workers since the worker started: adopted
	// here, and now on another worker (shed, even, retire, by hand).
	HandoffsIn  uint64 `json:"handoffs_in"`
	HandoffsOut uint64 `json:"handoffs_out"`
	// Transcoders are the worker's AAC-to-Opus transcoders, one per stream.
	Transcoders int `json:"rtc_transcoders"`
}

// WorkerStreamInfo is one stream as one worker sees it.
type WorkerStreamInfo struct {
	Stream      string  `json:"stream"`
	Publishing  bool    `json:"publishing"` // the worker has the publisher
	Relay       bool    `json:"relay"`      // the worker pulls it from another
	Players     int     `json:"players"`
	BytesIn     uint64  `json:"bytes_in"`
	BitrateKbps float64 `json:"bitrate_kbps"`
}

func loadInfo(l *ipc.Load) *LoadInfo {
	if l == nil {
		return nil
	}
	li := &LoadInfo{At: l.Time, CPUPercent: l.CPUPercent, RSSBytes: l.RSSBytes, Connections: l.Connections,
		ByKind: map[ipc.ConnKind]int{}, ByState: map[string]int{}, Junk: map[string]uint64{}, BytesInPerSec: l.BytesInPerSec, BytesOutPerSec: l.BytesOutPerSec,
		BytesIn: l.BytesIn, BytesOut: l.BytesOut, Streams: []WorkerStreamInfo{}, Refusals: l.Refusals, Shed: l.Shed, ShedMoved: l.ShedMoved, HandoffsIn: l.HandoffsIn, HandoffsOut: l.HandoffsOut, Transcoders: l.Transcoders}
	for k, n := range l.Conns {
		li.ByKind[k] = n
	}
	for k, n := range l.States {
		li.ByState[k] = n
	}
	for k, n := range l.Junk {
		li.Junk[k] = n
	}
	for _, st := range l.Streams {
		li.Streams = append(li.Streams, WorkerStreamInfo{Stream: st.Stream, Publishing: st.Publishing, Relay: st.Relay,
			Players: st.Players, BytesIn: st.BytesIn, BitrateKbps: st.BitrateKbps})
	}
	return li
}

// ReloadInfo tells of the reloads (SIGHUP) so far; the last_* fields are
// left out until there has been one.
type ReloadInfo struct {
	OK      int        `json:"ok"`
	Failed  int        `json:"failed"`
	LastAt  *time.Time `json:"last_at,omitempty"`
	LastOK  *bool      `json:"last_ok,omitempty"`
	LastErr string     `json:"last_error,omitempty"`
}

func reloadInfo(r reloadStats) ReloadInfo {
	ri := ReloadInfo{OK: r.OK, Failed: r.Failed, LastErr: r.LastErr}
	if !r.LastAt.IsZero() {
		at, ok := r.LastAt, r.LastOK
		ri.LastAt, ri.LastOK = &at, &ok
	}
	return ri
}

// ServerInfo is the master itself.
type ServerInfo struct {
	Version       string    `json:"version"`
	PID           int       `json:"pid"`
	StartedAt     time.Time `json:"started_at"`
	UptimeSeconds float64   `json:"uptime_seconds"`
	Workers       int       `json:"workers"`
}

// The bodies of the endpoints.
type (
	summariesResponse struct {
		Code    int          `json:"code"`
		Server  ServerInfo   `json:"server"`
		Host    HostLoad     `json:"host"`
		Workers []WorkerInfo `json:"workers"`
		Totals  Totals       `json:"totals"`
		Reloads ReloadInfo   `json:"reloads"`
	}
	workersResponse struct {
		Code    int          `json:"code"`
		Workers []WorkerInfo `json:"workers"`
	}
	streamsResponse struct {
		Code    int          `json:"code"`
		Streams []StreamInfo `json:"streams"`
		// Origins: an edge's figures per origin (absent on an origin).
		Origins map[string]originStats `json:"origins,omitempty"`
	}
	clientsResponse struct {
		Code      int          `json:"code"`
		Total     int          `json:"total"`
		Truncated bool         `json:"truncated"`
		Clients   []ClientInfo `json:"clients"`
	}
	errorResponse struct {
		Code      int      `json:"code"`
		Error     string   `json:"error"`
		Endpoints []string `json:"endpoints,omitempty"`
	}
)
