package supervisor

import (
	"context"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"streamedge/ipc"
)

// srsCollector mirrors the workers' reports under the names SRS's exporter
// uses, with a worker label, so dashboards built for SRS read streamedge.
// The streamedge_* series stay the reference; these are the same figures.
type srsCollector struct{ m *Master }

func srsDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("srs_"+name, help, labels, nil)
}

var (
	descSRSBuild    = srsDesc("build_info", "The server's build and process (value 1).", "server", "service", "pid", "version")
	descSRSCPU      = srsDesc("cpu_percent", "Worker CPU, percent of one core.", "worker")
	descSRSMemory   = srsDesc("memory", "Worker resident memory in bytes.", "worker")
	descSRSSend     = srsDesc("send_bytes_total", "Bytes the worker sent.", "worker")
	descSRSReceive  = srsDesc("receive_bytes_total", "Bytes the worker received.", "worker")
	descSRSClients  = srsDesc("clients", "Publishing and playing sessions on the worker.", "worker")
	descSRSStreams  = srsDesc("streams", "Streams the worker publishes or relays.", "worker")
	descSRSConnects = srsDesc("connections", "Open connections on the worker, sessions or not.", "worker")
)

func (c *srsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSRSBuild, descSRSCPU, descSRSMemory, descSRSSend, descSRSReceive, descSRSClients, descSRSStreams, descSRSConnects} {
		ch <- d
	}
}

func (c *srsCollector) Collect(ch chan<- prometheus.Metric) {
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
	host, _ := os.Hostname()
	gauge(descSRSBuild, 1, host, "streamedge", strconv.Itoa(snap.PID), snap.Version)
	seen := map[int]bool{}
	for _, w := range snap.Workers {
		if seen[w.Slot] || w.Load == nil {
			continue // one series per slot, its serving worker first
		}
		seen[w.Slot] = true
		l, slot := w.Load, strconv.Itoa(w.Slot)
		sessions := 0
		for kind, n := range l.ByKind {
			if r := kind.Role(); r == ipc.RolePublisher || r == ipc.RolePlayer {
				sessions += n
			}
		}
		gauge(descSRSCPU, l.CPUPercent, slot)
		gauge(descSRSMemory, float64(l.RSSBytes), slot)
		counter(descSRSSend, float64(l.BytesOut), slot)
		counter(descSRSReceive, float64(l.BytesIn), slot)
		gauge(descSRSClients, float64(sessions), slot)
		gauge(descSRSStreams, float64(len(l.Streams)), slot)
		gauge(descSRSConnects, float64(l.Connections), slot)
	}
}
