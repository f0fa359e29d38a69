package supervisor

import (
	"fmt"
	"net"
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
	m.reloads.LastAt, m.reloads.LastOK, m.reloads.LastErr = m.now(), false, err.Error()
	m.log.Error("reload failed, configuration unchanged", "err", err.Error())
}

// reloadPlan is what a reload changes, worked out from the old and new
// configurations alone: planReload has no I/O, so every case is a row of a
// table test. Live settings (log level, rtmp.*, play.*, grace times) need
// no plan: every reload sends the new configuration to every worker.
type reloadPlan struct {
	workers int  // slots after the reload
	listen  bool // a public address changed: every slot moves to new sockets, one at a time
	grow    int  // slots to add on the sockets in use (when the addresses stay)
	shrink  int  // highest slots to retire (when the addresses stay)
	api     bool // listen.api changed
}

// planReload compares next with prev, as bound now: bound is the socket
// table with the ports the kernel chose, boundAPI the API's address, slots
// the slots there are and workers the count next asks for, resolved.
func planReload(prev, next *configs.Config, bound []sockSpec, boundAPI string, slots, workers int) reloadPlan {
	p := reloadPlan{workers: workers}
	p.listen = !sameTable(socketTable(next), socketTable(prev), bound)
	p.api = !sameAddr(next.Listen.API, prev.Listen.API, boundAPI)
	if !p.listen {
		p.grow, p.shrink = max(workers-slots, 0), max(slots-workers, 0)
	}
	return p
}

// provisioned is what a reload opened before touching anything: it is
// either applied whole or closed.
type provisioned struct {
	slots []*slotSockets // new slots' sockets, or every slot's when the addresses changed
	bound []sockSpec     // the new socket table as bound, when the addresses changed
	api   net.Listener   // the new API listener; nil when off or unchanged
}

func (pv *provisioned) close() {
	for _, s := range pv.slots {
		s.close()
	}
	if pv.api != nil {
		pv.api.Close()
	}
}

// provision opens what plan needs: the step that can fail.
func (m *Master) provision(plan reloadPlan, next *configs.Config) (*provisioned, error) {
	pv := &provisioned{}
	var err error
	switch {
	case plan.listen:
		pv.slots, pv.bound, err = openSlots(socketTable(next), 0, plan.workers, m.bound...)
	case plan.grow > 0:
		pv.slots, _, err = openSlots(m.bound, len(m.slots), plan.grow)
	}
	if err != nil {
		return nil, err
	}
	if plan.api && next.Listen.API != "" {
		if pv.api, err = net.Listen("tcp", next.Listen.API); err != nil {
			pv.close()
			return nil, fmt.Errorf("listen api: %w", err)
		}
	}
	return pv, nil
}

// reload re-reads the config file and applies what changed, as caddy
// does: load and validate, plan, provision (open the new sockets), and
// only then apply. Everything that can fail happens before anything
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
	defer m.notifyReloading()()
	next, err := configs.Load(path)
	if err != nil {
		m.reloadFailed(err)
		return
	}
	m.keepHosts(next)
	data, err := next.Dump()
	if err != nil {
		m.reloadFailed(err)
		return
	}
	plan := planReload(m.cfg, next, m.bound, m.Addr("api"), len(m.slots), m.workerCount(next))
	pv, err := m.provision(plan, next)
	if err != nil {
		m.reloadFailed(err)
		return
	}
	old := len(m.slots)
	m.apply(plan, next, data, pv)
	m.reloads.OK++
	m.reloads.LastAt, m.reloads.LastOK, m.reloads.LastErr = m.now(), true, ""
	m.log.Info("reload applied", "file", path, "workers_before", old, "workers", len(m.slots), "listen_changed", plan.listen,
		"rtmp", m.Addr("rtmp"), "http", m.Addr("http"), "api", m.Addr("api"))
}

// apply carries out a provisioned plan; nothing here fails.
func (m *Master) apply(plan reloadPlan, next *configs.Config, data []byte, pv *provisioned) {
	m.cfg, m.cfgYAML = next, data
	for _, s := range pv.slots {
		m.trackSockets(s)
	}
	m.apiGuard.Store(newAPIGuard(next))
	m.apiAuth.Store(&next.API.Auth)
	if m.opts.SetLogLevel != nil {
		m.opts.SetLogLevel(next.Log.SlogLevel())
	}
	m.broadcast(0, &ipc.Configure{ConfigYAML: data, RelayDir: m.runDir})
	if plan.api {
		m.swapAPI(pv.api)
	}
	switch {
	case plan.listen:
		m.bound = pv.bound
		m.replaceAll(pv.slots)
	case plan.grow > 0:
		for _, socks := range pv.slots {
			s := &slot{index: len(m.slots), sockets: socks}
			m.slots = append(m.slots, s)
			m.startIn(s, socks)
		}
	case plan.shrink > 0:
		for _, s := range m.slots[plan.workers:] {
			m.retireSlot(s, "worker count lowered by reload")
		}
		m.slots = m.slots[:plan.workers]
	}
	limit, _ := m.hostBytesOutMax(next)
	m.bal.configure(next.Balance, limit)
}

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
	m.notifyStopping()
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
