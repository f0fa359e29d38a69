package worker

import (
	"os"
	"sort"
	"time"

	"github.com/shirou/gopsutil/v3/process"

	"streamedge/ipc"
	"streamedge/media/hub"
)

// loadSampler turns the worker's counters into per-second figures.
type loadSampler struct {
	w        *Worker
	proc     *process.Process
	lastCPU  float64 // user+system seconds
	lastAt   time.Time
	lastIn   uint64
	lastOut  uint64
	streamIn map[string]uint64
}

func newLoadSampler(w *Worker) (*loadSampler, error) {
	p, err := process.NewProcess(int32(os.Getpid()))
	if err != nil {
		return nil, err
	}
	s := &loadSampler{w: w, proc: p, streamIn: map[string]uint64{}}
	s.sample(time.Now()) // the baseline
	return s, nil
}

func (s *loadSampler) sample(now time.Time) *ipc.Load {
	l := &ipc.Load{Time: now}
	elapsed := now.Sub(s.lastAt).Seconds()
	if t, err := s.proc.Times(); err == nil {
		cpu := t.User + t.System
		if !s.lastAt.IsZero() && elapsed > 0 {
			l.CPUPercent = 100*(cpu-s.lastCPU)/elapsed + s.w.cpuBias
		}
		s.lastCPU = cpu
	}
	if m, err := s.proc.MemoryInfo(); err == nil {
		l.RSSBytes = m.RSS
	}
	w := s.w
	w.report(l)
	w.bal.counts(l)
	l.WriterLoad = w.hub.WriterLoad()
	if !s.lastAt.IsZero() && elapsed > 0 {
		l.BytesInPerSec = float64(l.BytesIn-s.lastIn) / elapsed
		l.BytesOutPerSec = float64(l.BytesOut-s.lastOut) / elapsed
	}
	s.lastIn, s.lastOut = l.BytesIn, l.BytesOut
	seen := make(map[string]uint64)
	var rtcNotes map[hub.Key]*ipc.StreamRTC
	if w.rtc != nil {
		rtcNotes = w.rtc.notes()
	}
	for _, info := range w.hub.Streams() {
		name := info.Key.String()
		st := ipc.StreamLoad{Stream: name, Publishing: info.Publishing, Relay: info.Relay, Players: info.Players, BytesIn: info.BytesIn}
		if prev, ok := s.streamIn[name]; ok && elapsed > 0 && info.BytesIn >= prev {
			st.BitrateKbps = float64(info.BytesIn-prev) * 8 / 1000 / elapsed
		}
		if w.edge != nil {
			st.Upstream = w.edge.upstream(name)
		}
		st.RTC = rtcNotes[info.Key]
		if info.Relay && st.Upstream == nil {
			l.Conns[ipc.ConnRelayIn]++
		}
		seen[name] = info.BytesIn
		l.Streams = append(l.Streams, st)
	}
	s.streamIn = seen
	s.lastAt = now
	if len(l.Streams) > maxStreamsReported {
		// Keep the frame under ipc.MaxFrame: the busiest streams matter most.
		sort.Slice(l.Streams, func(i, j int) bool { return l.Streams[i].Players > l.Streams[j].Players })
		l.Streams = l.Streams[:maxStreamsReported]
	}
	return l
}

// maxStreamsReported bounds a load report's stream list (about 120 bytes each).
const maxStreamsReported = 4000
