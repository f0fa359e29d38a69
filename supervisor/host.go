package supervisor

import (
	"time"

	"github.com/shirou/gopsutil/v3/cpu"
	"github.com/shirou/gopsutil/v3/mem"
	psnet "github.com/shirou/gopsutil/v3/net"
)

// HostLoad is the whole machine's load, sampled by the master every second.
type HostLoad struct {
	CPUPercent    float64   `json:"cpu_percent"` // of all cores
	CPUs          int       `json:"cpus"`
	MemTotal      uint64    `json:"mem_total"`
	MemUsed       uint64    `json:"mem_used"`
	NetRecvPerSec float64   `json:"net_recv_bytes_per_sec"`
	NetSentPerSec float64   `json:"net_sent_bytes_per_sec"`
	SampledAt     time.Time `json:"sampled_at"`
}

type hostSampler struct {
	last       HostLoad
	recv, sent uint64
	at         time.Time
}

func (h *hostSampler) sample(now time.Time) {
	l := HostLoad{SampledAt: now}
	if p, err := cpu.Percent(0, false); err == nil && len(p) > 0 {
		l.CPUPercent = p[0]
	}
	l.CPUs, _ = cpu.Counts(true)
	if v, err := mem.VirtualMemory(); err == nil {
		l.MemTotal, l.MemUsed = v.Total, v.Used
	}
	if io, err := psnet.IOCounters(false); err == nil && len(io) > 0 {
		if !h.at.IsZero() {
			secs := now.Sub(h.at).Seconds()
			l.NetRecvPerSec = float64(io[0].BytesRecv-h.recv) / secs
			l.NetSentPerSec = float64(io[0].BytesSent-h.sent) / secs
		}
		h.recv, h.sent, h.at = io[0].BytesRecv, io[0].BytesSent, now
	}
	h.last = l
}
