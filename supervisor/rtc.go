package supervisor

import (
	"cmp"
	"net"
	"slices"
	"strconv"

	"streamedge/configs"
	"streamedge/ipc"
)

// rtcSockets is the WebRTC row of the socket table: with rtc.enabled, each
// slot gets a UDP socket of its own on the host of listen.http, port
// udp_port_base + slot.
func rtcSockets(cfg *configs.Config) []sockSpec {
	if !cfg.RTC.Enabled {
		return nil
	}
	host, _, _ := net.SplitHostPort(cfg.Listen.HTTP)
	return []sockSpec{{name: "rtc", network: netUDP, addr: net.JoinHostPort(host, strconv.Itoa(cfg.RTC.UDPPortBase))}}
}

// hotCPU is where a worker counts as overloaded for placement: SRS's 80 %
// of one core.
const hotCPU = 80

// placeCandidate is a worker that could take a new WebRTC session.
type placeCandidate struct {
	slot   int
	cpu    float64 // % of one core, from the last load report
	rtc    int     // WebRTC sessions in the last load report
	placed int     // sessions placed on it since that report
}

// placeRTC picks the worker for a new WebRTC session: the least loaded.
// WebRTC has no redirect, so this is the one moment the host chooses; the
// load report is up to a second old, so sessions placed since it count
// too, or a burst of offers would all land on the same worker. A worker
// over hotCPU goes last; among the rest, fewest sessions, then least CPU,
// then the lowest slot.
func placeRTC(cands []placeCandidate) (int, bool) {
	if len(cands) == 0 {
		return 0, false
	}
	best := slices.MinFunc(cands, func(a, b placeCandidate) int {
		if ha, hb := a.cpu >= hotCPU, b.cpu >= hotCPU; ha != hb {
			if ha {
				return 1
			}
			return -1
		}
		return cmp.Or(cmp.Compare(a.rtc+a.placed, b.rtc+b.placed), cmp.Compare(a.cpu, b.cpu), cmp.Compare(a.slot, b.slot))
	})
	return best.slot, true
}

// onPlace answers a worker's Place: where a new session goes, or where the
// worker of a given slot listens.
func (m *Master) onPlace(p *workerProc, msg *ipc.Place) {
	reply := &ipc.PlaceReply{ID: msg.ID}
	var cands []placeCandidate
	byslot := map[int]*workerProc{}
	for _, s := range m.slots {
		w := s.proc
		if w == nil || w.state != StateReady || w.relayAddr == "" {
			continue
		}
		byslot[w.slot] = w
		c := placeCandidate{slot: w.slot, placed: w.rtcPlaced}
		if w.load != nil {
			c.cpu = w.load.CPUPercent
			c.rtc = w.load.Conns[ipc.ConnRTCPublish] + w.load.Conns[ipc.ConnRTCPlay]
		}
		cands = append(cands, c)
	}
	slot, ok := msg.Slot, msg.Slot >= 0
	if !ok {
		slot, ok = placeRTC(cands)
	}
	if w := byslot[slot]; ok && w != nil {
		reply.Found, reply.Slot, reply.RelayAddr = true, slot, w.relayAddr
		if msg.Slot < 0 {
			w.rtcPlaced++
		}
	} else if msg.Slot >= 0 {
		// A session's owner that is draining still owns it.
		for _, w := range m.procs {
			if w.slot == msg.Slot && w.state == StateDraining && w.relayAddr != "" {
				reply.Found, reply.Slot, reply.RelayAddr = true, w.slot, w.relayAddr
			}
		}
	}
	p.proc.Send(reply)
}
