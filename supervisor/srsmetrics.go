package supervisor

import (
	"os"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"streamedge/ipc"
)

// SRS's exporter names for the same worker figures, with a worker label,
// so dashboards built for SRS read streamedge. The streamedge_* series stay
// the reference; collectSRS runs in the one collector's Collect.

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

	srsDescs = []*prometheus.Desc{descSRSBuild, descSRSCPU, descSRSMemory, descSRSSend, descSRSReceive, descSRSClients, descSRSStreams, descSRSConnects}
)

func collectSRS(snap Snapshot, gauge, counter func(*prometheus.Desc, float64, ...string)) {
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
