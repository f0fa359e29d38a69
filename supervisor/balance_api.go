package supervisor

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"streamedge/ipc"
)

// balanceRoutes are GET /api/v1/balance and the operator's actions on a
// slot, POST /api/v1/workers/{slot}/{action}: pause, resume, shed, retire,
// and burn?percent=&for= with debug.fault_injection.
func (m *Master) balanceRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/balance", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		bi, err := m.BalanceInfo(ctx)
		if err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"code": 503, "error": "master busy: " + err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"code": 0, "balance": bi})
	})
	mux.HandleFunc("POST /api/v1/workers/{slot}/{action}", m.workerAction)
}

func (m *Master) workerAction(w http.ResponseWriter, r *http.Request) {
	if !fromLoopback(r) {
		writeJSON(w, http.StatusForbidden, map[string]any{"code": 403, "error": "worker actions are taken from loopback only"})
		return
	}
	slot, err := strconv.Atoi(r.PathValue("slot"))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": 400, "error": "slot must be a number"})
		return
	}
	action := r.PathValue("action")
	var burn *ipc.Burn
	if action == "burn" {
		if burn, err = parseBurn(r); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"code": 400, "error": err.Error()})
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	err = m.do(ctx, func(m *Master) error { return m.operate(slot, action, burn) })
	switch {
	case errors.Is(err, errFaultInjectionOff):
		writeJSON(w, http.StatusForbidden, map[string]any{"code": 403, "error": err.Error()})
	case err != nil:
		writeJSON(w, http.StatusConflict, map[string]any{"code": 409, "error": err.Error()})
	default:
		writeJSON(w, http.StatusOK, map[string]any{"code": 0, "worker": slot, "action": action})
	}
}

// parseBurn reads percent (1..100), for (a Go duration, at most 10 min)
// and per_player (percent per player served, up to a core).
func parseBurn(r *http.Request) (*ipc.Burn, error) {
	q := r.URL.Query()
	pct, err := strconv.Atoi(q.Get("percent"))
	if err != nil || pct < 1 || pct > 100 {
		return nil, errors.New("percent must be 1..100")
	}
	d, err := time.ParseDuration(q.Get("for"))
	if err != nil || d <= 0 || d > 10*time.Minute {
		return nil, errors.New("for must be a duration up to 10m, e.g. 30s")
	}
	perPlayer := q.Get("per_player") == "true"
	if v := q.Get("per_player"); v != "" && v != "true" && v != "false" {
		return nil, errors.New("per_player must be true or false")
	}
	return &ipc.Burn{Percent: pct, For: d, PerPlayer: perPlayer}, nil
}

func fromLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(strings.TrimPrefix(host, "::ffff:"))
	return ip != nil && ip.IsLoopback()
}

// balanceCollector mirrors the balancer at scrape time.
type balanceCollector struct{ m *Master }

var (
	descWeight    = desc("balance_worker_weight", "Share of new connections the steering gives the slot, 0..100.", "worker")
	descState     = desc("balance_worker_state", "1 for the slot's balancing state (open, hot, writer_full, capped, held, retiring, down).", "worker", "state")
	descActions   = desc("balance_actions_total", "Balancing actions by kind and reason.", "kind", "reason")
	descTier      = desc("balance_steering_tier", "1 for the steering tier in force.", "tier")
	descHostFull  = desc("balance_host_full", "1 while the host refuses new players.")
	descRefusals  = desc("worker_refusals_total", "New sessions a worker refused, by protocol and reason.", "worker", "protocol", "reason")
	descShed      = desc("worker_shed_players_total", "Players a worker closed to shed load.", "worker")
	descShedMoved = desc("worker_shed_moved_total", "Players a worker moved to another with the live handoff to shed load.", "worker")
	descLatency   = desc("balance_decision_latency_seconds", "Time from a decision that changes steering being due (a report over the threshold for hot_for, or under worker_cpu_low) to the kernel having it.")
	balanceStates = []string{"open", "hot", "writer_full", "capped", "held", "retiring", "down"}
)

func (c *balanceCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descWeight, descState, descActions, descTier, descHostFull, descRefusals, descShed, descShedMoved, descLatency} {
		ch <- d
	}
}

func (c *balanceCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var bi BalanceInfo
	type counts struct {
		refusals    map[string]uint64
		shed, moved uint64
	}
	byWorker := map[int]counts{}
	err := c.m.do(ctx, func(m *Master) error {
		if m.bal == nil {
			return errors.New("no balancer")
		}
		bi = m.bal.info()
		for _, s := range m.slots {
			if p := s.proc; p != nil && p.load != nil {
				byWorker[s.index] = counts{p.load.Refusals, p.load.Shed, p.load.ShedMoved}
			}
		}
		return nil
	})
	if err != nil {
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	for _, t := range []string{"cbpf", "pause", "off"} {
		gauge(descTier, b2f(string(bi.Tier) == t), t)
	}
	gauge(descHostFull, b2f(bi.HostFull))
	for _, w := range bi.Workers {
		slot := strconv.Itoa(w.Slot)
		gauge(descWeight, float64(w.Weight), slot)
		for _, st := range balanceStates {
			gauge(descState, b2f(w.State == st), slot, st)
		}
	}
	ch <- prometheus.MustNewConstHistogram(descLatency, bi.latHist.n, bi.latHist.sum, bi.latHist.cumulative())
	for _, a := range bi.Actions {
		counter(descActions, float64(a.Count), a.Kind, a.Reason)
	}
	for slot, cs := range byWorker {
		s := strconv.Itoa(slot)
		counter(descShed, float64(cs.shed), s)
		counter(descShedMoved, float64(cs.moved), s)
		for key, n := range cs.refusals {
			proto, reason, _ := strings.Cut(key, "/")
			counter(descRefusals, float64(n), s, proto, reason)
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
