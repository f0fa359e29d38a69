package supervisor

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"streamedge/ipc"
)

// collector mirrors the workers' latest reports at scrape time, so the
// numbers in /metrics are the ones the API shows.
type collector struct{ m *Master }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("streamedge_"+name, help, labels, nil)
}

var (
	descWorkerUp       = desc("worker_up", "1 when the slot's worker is ready.", "worker", "state")
	descWorkerCPU      = desc("worker_cpu_percent", "Worker process CPU, percent of one core.", "worker")
	descWorkerRSS      = desc("worker_rss_bytes", "Worker resident memory.", "worker")
	descWorkerConns    = desc("worker_connections", "Worker connections by kind.", "worker", "kind")
	descWorkerBytesIn  = desc("worker_received_bytes_total", "Bytes received by the worker process since it started.", "worker")
	descWorkerBytesOut = desc("worker_sent_bytes_total", "Bytes sent by the worker process since it started.", "worker")
	descWorkerRestarts = desc("worker_restarts_total", "Workers started in the slot after its first.", "worker")
	descStreams        = desc("streams", "Streams published on the host.")
	descStreamPlayers  = desc("stream_players", "Players of a stream across the host.", "stream")
	descReloads        = desc("reloads_total", "Configuration reloads (SIGHUP) by result.", "result")
	descHostCPU        = desc("host_cpu_percent", "Host CPU, percent of all cores.")
	descHostMemUsed    = desc("host_memory_used_bytes", "Host memory in use.")
	descHostNetRecv    = desc("host_network_receive_bytes_per_second", "Host network receive rate.")
	descHostNetSent    = desc("host_network_transmit_bytes_per_second", "Host network transmit rate.")
	descUpConns        = desc("upstream_connections", "Edge pulls live on an origin (one per stream on the host).", "origin")
	descUpFailures     = desc("upstream_failures_total", "Edge pulls an origin refused, timed out or broke; each moved the pull to the next origin.", "origin")
	descUpBytes        = desc("upstream_received_bytes_total", "Media received from an origin by edge pulls (a pull's bytes count against the origin it ended on).", "origin")
)

// descWorkerTranscoders is the worker's AAC-to-Opus transcoders: one per
// stream that WebRTC players get as Opus, however many play it.
var descWorkerTranscoders = desc("worker_rtc_transcoders", "Audio transcoders of the worker: one per stream WebRTC players get as Opus.", "worker")

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descWorkerUp, descWorkerCPU, descWorkerRSS, descWorkerConns, descWorkerBytesIn,
		descWorkerBytesOut, descWorkerRestarts, descStreams, descStreamPlayers, descReloads, descHostCPU, descHostMemUsed, descHostNetRecv, descHostNetSent,
		descUpConns, descUpFailures, descUpBytes, descWorkerTranscoders} {
		ch <- d
	}
	for _, d := range srsDescs {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	snap, err := c.m.Snapshot(ctx)
	if err != nil {
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	seen := map[int]bool{}
	for _, w := range snap.Workers {
		// One series per slot: its serving worker, listed first; a
		// replacement or a draining worker of the same slot would clash.
		if seen[w.Slot] {
			continue
		}
		seen[w.Slot] = true
		slot := strconv.Itoa(w.Slot)
		up := 0.0
		if w.State == StateReady {
			up = 1
		}
		gauge(descWorkerUp, up, slot, string(w.State))
		counter(descWorkerRestarts, float64(w.Restarts), slot)
		if l := w.Load; l != nil {
			gauge(descWorkerCPU, l.CPUPercent, slot)
			gauge(descWorkerRSS, float64(l.RSSBytes), slot)
			gauge(descWorkerTranscoders, float64(l.Transcoders), slot)
			counter(descWorkerBytesIn, float64(l.BytesIn), slot)
			counter(descWorkerBytesOut, float64(l.BytesOut), slot)
			// Every known kind, zero or not, then any the table does not know.
			for _, kind := range ipc.ConnKinds() {
				gauge(descWorkerConns, float64(l.ByKind[kind]), slot, string(kind))
			}
			for kind, n := range l.ByKind {
				if !kind.Known() {
					gauge(descWorkerConns, float64(n), slot, string(kind))
				}
			}
		}
	}
	published := 0
	for _, st := range snap.Streams {
		if st.Publishing {
			published++
		}
		gauge(descStreamPlayers, float64(st.Players), st.Stream)
	}
	gauge(descStreams, float64(published))
	collectOrigins(snap, gauge, counter)
	collectSRS(snap, gauge, counter)
	counter(descReloads, float64(snap.Reloads.OK), "ok")
	counter(descReloads, float64(snap.Reloads.Failed), "failed")
	gauge(descHostCPU, snap.Host.CPUPercent)
	gauge(descHostMemUsed, float64(snap.Host.MemUsed))
	gauge(descHostNetRecv, snap.Host.NetRecvPerSec)
	gauge(descHostNetSent, snap.Host.NetSentPerSec)
}

// collectOrigins gives the edge's per-origin series: ended pulls' figures
// from the master, running pulls' from their owners' latest reports.
func collectOrigins(snap Snapshot, gauge, counter func(*prometheus.Desc, float64, ...string)) {
	live, bytes := map[string]int{}, map[string]uint64{}
	for addr, st := range snap.Origins {
		bytes[addr] += st.Bytes
	}
	for _, st := range snap.Streams {
		if up := st.Upstream; up != nil && up.Origin != "" {
			bytes[up.Origin] += up.Bytes
			if up.State == "live" {
				live[up.Origin]++
			}
		}
	}
	for addr, n := range bytes {
		gauge(descUpConns, float64(live[addr]), addr)
		counter(descUpBytes, float64(n), addr)
		counter(descUpFailures, float64(snap.Origins[addr].Failures), addr)
	}
}
