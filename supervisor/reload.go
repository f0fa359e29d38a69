package supervisor

import (
	"net"
	"os"
	"time"

	"streamedge/configs"
	"streamedge/ipc"
)

// reloadStats is what the API and /metrics tell of reloads.
type reloadStats struct {
	OK       int       `json:"ok"`
	Failed   int       `json:"failed"`
	LastAt   time.Time `json:"last_at"`
	LastOK   bool      `json:"last_ok"`
	LastErr  string    `json:"last_error,omitempty"`
	rollings []int     // slots still to be replaced, in order
}

func (m *Master) reloadFailed(err error) {
	m.reloads.Failed++
	m.reloads.LastAt, m.reloads.LastOK, m.reloads.LastErr = time.Now(), false, err.Error()
	m.log.Error("reload failed, configuration unchanged", "err", err.Error())
}

// reload re-reads the config file and applies what changed. Everything
// that can fail (parsing, validation, new sockets) happens before anything
// running is touched, so a bad reload changes nothing.
func (m *Master) reload() {
	if m.quitting || m.stopping {
		return
	}
	path := m.opts.ConfigPath
	if path == "" {
		m.log.Info("reload: running on the embedded default config, nothing to re-read")
		return
	}
	data, err := os.ReadFile(path)
	if err != nil {
		m.reloadFailed(err)
		return
	}
	next, err := configs.Parse(path, data)
	if err != nil {
		m.reloadFailed(err)
		return
	}
	prev := m.cfg
	n := m.workerCount(next)
	_, _, boundAPI := m.Addrs()
	listenChanged := !sameTable(socketTable(next), socketTable(prev), m.bound)
	apiChanged := !sameAddr(next.Listen.API, prev.Listen.API, boundAPI)
	var fresh []*slotSockets
	var freshBound []sockSpec
	if listenChanged {
		if fresh, freshBound, err = openSlots(socketTable(next), 0, n); err != nil {
			m.reloadFailed(err)
			return
		}
	} else if n > len(m.slots) {
		if fresh, _, err = openSlots(m.bound, len(m.slots), n-len(m.slots)); err != nil {
			m.reloadFailed(err)
			return
		}
	}
	var api net.Listener
	if apiChanged && next.Listen.API != "" {
		if api, err = net.Listen("tcp", next.Listen.API); err != nil {
			for _, s := range fresh {
				s.close()
			}
			m.reloadFailed(err)
			return
		}
	}

	// From here on nothing fails: apply.
	m.cfg, m.cfgYAML = next, data
	for _, s := range fresh {
		m.trackSockets(s)
	}
	if m.opts.SetLogLevel != nil {
		m.opts.SetLogLevel(next.Log.SlogLevel())
	}
	m.broadcastReady(&ipc.Configure{ConfigYAML: data, RelayDir: m.runDir})
	if apiChanged {
		m.swapAPI(api)
	}
	old := len(m.slots)
	switch {
	case listenChanged:
		m.bound = freshBound
		m.replaceAll(fresh)
	case n > old:
		for i, socks := range fresh {
			s := &slot{index: old + i, sockets: socks}
			m.slots = append(m.slots, s)
			m.startIn(s, socks)
		}
	case n < old:
		for _, s := range m.slots[n:] {
			m.retireSlot(s, "worker count lowered by reload")
		}
		m.slots = m.slots[:n]
	}
	limit, _ := m.hostBytesOutMax(next)
	m.bal.configure(next.Balance, limit)
	m.reloads.OK++
	m.reloads.LastAt, m.reloads.LastOK, m.reloads.LastErr = time.Now(), true, ""
	rtmpAddr, httpAddr, apiAddr := m.Addrs()
	m.log.Info("reload applied", "file", path, "workers_before", old, "workers", len(m.slots), "listen_changed", listenChanged,
		"rtmp", rtmpAddr, "http", httpAddr, "api", apiAddr)
}

// broadcastReady sends msg to every worker that serves or drains.
func (m *Master) broadcastReady(msg ipc.Message) { m.broadcast(0, msg) }

// retireSlot drains a slot's workers; its sockets close once they are gone.
func (m *Master) retireSlot(s *slot, reason string) {
	if s.next != nil {
		m.retire(s.next, reason, s.nextSock)
		s.next, s.nextSock = nil, nil
	}
	if s.proc != nil {
		m.retire(s.proc, reason, s.sockets)
		return
	}
	s.sockets.close() // nobody to wait for
}

// replaceAll moves every slot onto new sockets, one slot at a time: each
// new worker is ready before the old one drains.
func (m *Master) replaceAll(fresh []*slotSockets) {
	n := len(fresh)
	for _, s := range m.slots[min(n, len(m.slots)):] {
		m.retireSlot(s, "worker count lowered by reload")
	}
	m.slots = m.slots[:min(n, len(m.slots))]
	m.reloads.rollings = nil
	for i, socks := range fresh {
		if i < len(m.slots) {
			m.slots[i].nextSock = socks
			m.reloads.rollings = append(m.reloads.rollings, i)
			continue
		}
		s := &slot{index: i, sockets: socks}
		m.slots = append(m.slots, s)
		m.startIn(s, socks)
	}
	m.rollNext()
}

// rollNext starts the replacement of the next slot waiting for one.
func (m *Master) rollNext() {
	for len(m.reloads.rollings) > 0 {
		i := m.reloads.rollings[0]
		if i >= len(m.slots) || m.slots[i].nextSock == nil {
			m.reloads.rollings = m.reloads.rollings[1:]
			continue
		}
		m.startIn(m.slots[i], m.slots[i].nextSock)
		return
	}
}

// rollingHead is the slot a rolling replacement works on, or -1.
func (m *Master) rollingHead() int {
	if len(m.reloads.rollings) == 0 {
		return -1
	}
	return m.reloads.rollings[0]
}

// promote makes a slot's ready replacement its worker and retires the old.
func (m *Master) promote(s *slot) {
	old, oldSock := s.proc, s.sockets
	s.proc, s.sockets = s.next, s.nextSock
	s.next, s.nextSock = nil, nil
	if retiredSame(oldSock, s.sockets) {
		// A balance retire: the fresh worker serves the same sockets; the
		// old one drains, shedding its players so they move now.
		reason := s.retireReason
		s.retireReason = ""
		if old != nil {
			m.retire(old, reason, nil)
			m.onRetiring(old, reason)
		}
		return
	}
	if old != nil {
		m.retire(old, "replaced by reload", oldSock)
	} else {
		oldSock.close()
	}
	if len(m.reloads.rollings) > 0 && m.reloads.rollings[0] == s.index {
		m.reloads.rollings = m.reloads.rollings[1:]
	}
	m.rollNext()
}

// swapAPI moves the API to a new listener (nil: off).
func (m *Master) swapAPI(ln net.Listener) {
	if m.apiSrv != nil {
		m.apiSrv.Close()
		m.apiSrv = nil
	}
	m.api = ln
	m.serveAPI()
}

// gracefulQuit waits grace_start_wait (a load balancer in front notices the
// health check), then drains every worker for up to grace_final_wait.
func (m *Master) gracefulQuit(why string) {
	if m.quitting || m.stopping {
		return
	}
	m.quitting = true
	start, final := m.cfg.GraceStartWait.Std(), m.cfg.GraceFinalWait.Std()
	m.log.Info("graceful quit", "signal", why, "grace_start_wait", start.String(), "grace_final_wait", final.String())
	m.after(start, func() {
		for _, p := range m.procs {
			if p.state != StateDraining {
				m.retire(p, "graceful quit", nil)
			}
		}
		// Nobody accepts from now on: late clients are refused at once
		// rather than left to wait on a socket.
		for _, s := range m.slots {
			m.leaveGroups(s.sockets)
			m.leaveGroups(s.nextSock)
		}
	})
}

// sameAddr tells whether a reloaded listen address is the one in use: the
// same text as before, or the address the kernel gave for a port 0.
func sameAddr(next, prev, bound string) bool {
	return next == prev || next == bound
}

// sameTable tells whether a reloaded socket table binds what is bound.
func sameTable(next, prev, bound []sockSpec) bool {
	if len(next) != len(prev) || len(next) != len(bound) {
		return false
	}
	for i := range next {
		if next[i].name != bound[i].name || next[i].network != bound[i].network || !sameAddr(next[i].addr, prev[i].addr, bound[i].addr) {
			return false
		}
	}
	return true
}
