package supervisor

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"streamedge/configs"
	"streamedge/ipc"
	"streamedge/supervisor/console"
)

// apiHandler serves the HTTP API (shapes after SRS's: {"code": 0, ...})
// and /metrics from the master's own Prometheus registry.
func (m *Master) apiHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&collector{m: m}, &clusterCollector{m: m}, &balanceCollector{m: m})
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /api/v1/summaries", m.snapshotJSON(func(s Snapshot) any {
		return summariesResponse{Server: ServerInfo{Version: s.Version, PID: s.PID, StartedAt: s.Started,
			UptimeSeconds: time.Since(s.Started).Seconds(), Workers: len(s.Workers)},
			Host: s.Host, Workers: s.Workers, Totals: totals(s), Reloads: reloadInfo(s.Reloads)}
	}))
	mux.HandleFunc("GET /api/v1/workers", m.snapshotJSON(func(s Snapshot) any { return workersResponse{Workers: s.Workers} }))
	mux.HandleFunc("GET /api/v1/streams", m.snapshotJSON(func(s Snapshot) any { return streamsResponse{Streams: s.Streams, Origins: s.Origins} }))
	mux.HandleFunc("GET /api/v1/clients", m.clientsJSON)
	mux.HandleFunc("DELETE /api/v1/clients/{id}", m.kickJSON)
	m.balanceRoutes(mux)
	mux.Handle("GET /console/", console.Handler())
	mux.Handle("GET /console", http.RedirectHandler("/console/", http.StatusMovedPermanently))
	mux.HandleFunc("POST /api/v1/workers/{slot}/move", m.moveJSON)
	endpoints := append([]string{"/api/v1/summaries", "/api/v1/workers", "/api/v1/streams", "/api/v1/clients", "/api/v1/balance"}, m.clusterRoutes(mux)...)
	endpoints = append(endpoints, "/metrics")
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, errorResponse{Code: 404, Error: "no such endpoint", Endpoints: endpoints})
	})
	// The Host check comes first: a rebound page must not even learn
	// whether its guess at the credentials was right.
	return m.guardAPI(requireAuth(&m.apiAuth, mux))
}

// apiGuard is what guardAPI checks, set on the loop from the config and
// read by the API's goroutines.
type apiGuard struct {
	hosts   map[string]bool // names besides IP addresses and localhost
	origins map[string]bool // CORS; "*" for any
}

func newAPIGuard(cfg *configs.Config) *apiGuard {
	g := &apiGuard{hosts: map[string]bool{"localhost": true}, origins: map[string]bool{}}
	if host, _, err := net.SplitHostPort(cfg.Listen.API); err == nil && host != "" {
		g.hosts[strings.ToLower(host)] = true
	}
	for _, h := range cfg.API.Hosts {
		g.hosts[strings.ToLower(strings.TrimSuffix(h, "."))] = true
	}
	for _, o := range cfg.API.CORSOrigins {
		g.origins[strings.TrimSuffix(o, "/")] = true
	}
	return g
}

// hostAllowed refuses a Host that names a site of someone else's: DNS
// rebinding points such a name at our address, and a page of that site
// could then read the API. An IP address, localhost and configured names
// cannot be rebound by a stranger.
func (g *apiGuard) hostAllowed(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	return host == "" || net.ParseIP(host) != nil || g.hosts[host]
}

// guardAPI checks the Host of every request and answers CORS only to the
// configured origins.
func (m *Master) guardAPI(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g := m.apiGuard.Load()
		if !g.hostAllowed(r.Host) {
			writeJSON(w, http.StatusForbidden, errorResponse{Code: 403, Error: "host not allowed: add it to api.hosts"})
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" {
			w.Header().Add("Vary", "Origin")
			if g.origins["*"] || g.origins[origin] {
				w.Header().Set("Access-Control-Allow-Origin", origin)
			}
		}
		next.ServeHTTP(w, r)
	})
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
			byKind := ipc.ConnCounts(l.ByKind)
			t.Connections += l.Connections
			t.Publishers += byKind.ByRole(ipc.RolePublisher)
			t.Players += byKind.ByRole(ipc.RolePlayer)
			t.Relays += byKind.ByRole(ipc.RoleRelayIn)
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
		writeJSON(w, http.StatusServiceUnavailable, errorResponse{Code: 503, Error: "master busy: " + err.Error()})
		return
	}
	if clients == nil {
		clients = []ClientInfo{}
	}
	writeJSON(w, http.StatusOK, clientsResponse{Total: len(clients), Truncated: truncated, Clients: clients})
}

func (m *Master) snapshotJSON(view func(Snapshot) any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		snap, err := m.Snapshot(ctx)
		if err != nil {
			writeJSON(w, http.StatusServiceUnavailable, errorResponse{Code: 503, Error: "master busy: " + err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, view(snap))
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
