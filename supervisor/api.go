package supervisor

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"streamedge/ipc"
)

// apiHandler serves the HTTP API (shapes after SRS's: {"code": 0, ...})
// and /metrics from the master's own Prometheus registry.
func (m *Master) apiHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&collector{m: m}, &balanceCollector{m: m})
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /api/v1/summaries", m.snapshotJSON(func(s Snapshot) any {
		return map[string]any{"server": map[string]any{"version": s.Version, "pid": s.PID, "started_at": s.Started,
			"uptime_seconds": time.Since(s.Started).Seconds(), "workers": len(s.Workers)},
			"host": s.Host, "workers": s.Workers, "totals": totals(s), "reloads": s.Reloads}
	}))
	mux.HandleFunc("GET /api/v1/workers", m.snapshotJSON(func(s Snapshot) any { return map[string]any{"workers": s.Workers} }))
	mux.HandleFunc("GET /api/v1/streams", m.snapshotJSON(func(s Snapshot) any { return map[string]any{"streams": s.Streams} }))
	mux.HandleFunc("GET /api/v1/clients", m.clientsJSON)
	m.balanceRoutes(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]any{"code": 404, "error": "no such endpoint",
			"endpoints": []string{"/api/v1/summaries", "/api/v1/workers", "/api/v1/streams", "/api/v1/clients", "/api/v1/balance", "/metrics"}})
	})
	return mux
}

// Totals add the workers' reports up.
type Totals struct {
	Connections    int     `json:"connections"`
	Publishers     int     `json:"publishers"`
	Players        int     `json:"players"`
	Relays         int     `json:"relays"`
	CPUPercent     float64 `json:"cpu_percent"`
	BytesInPerSec  float64 `json:"bytes_in_per_sec"`
	BytesOutPerSec float64 `json:"bytes_out_per_sec"`
}

func totals(s Snapshot) Totals {
	var t Totals
	for _, w := range s.Workers {
		if l := w.Load; l != nil {
			t.Connections += l.Connections
			t.Publishers += l.Conns.ByRole(ipc.RolePublisher)
			t.Players += l.Conns.ByRole(ipc.RolePlayer)
			t.Relays += l.Conns.ByRole(ipc.RoleRelayIn)
			t.CPUPercent += l.CPUPercent
			t.BytesInPerSec += l.BytesInPerSec
			t.BytesOutPerSec += l.BytesOutPerSec
		}
	}
	return t
}

// clientsJSON lists every session on the host, asking the workers now.
func (m *Master) clientsJSON(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	clients, truncated, err := m.Clients(ctx)
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"code": 503, "error": "master busy: " + err.Error()})
		return
	}
	if clients == nil {
		clients = []ClientInfo{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"code": 0, "total": len(clients), "truncated": truncated, "clients": clients})
}

func (m *Master) snapshotJSON(view func(Snapshot) any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		snap, err := m.Snapshot(ctx)
		if err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"code": 503, "error": "master busy: " + err.Error()})
			return
		}
		body := map[string]any{"code": 0}
		if v, ok := view(snap).(map[string]any); ok {
			for k, val := range v {
				body[k] = val
			}
		}
		writeJSON(w, http.StatusOK, body)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
