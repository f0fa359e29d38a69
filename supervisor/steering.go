package supervisor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"streamedge/configs"
	"streamedge/ipc"
	"streamedge/supervisor/balance"
	"streamedge/supervisor/steer"
)

// initBalance picks the steering tier (a live probe on a throwaway group
// unless the config says), resolves host_bytes_out_max and starts tracking
// every slot's TCP sockets in their reuseport groups.
func (m *Master) initBalance() {
	cfg := m.cfg.Balance
	tier, why := balance.TierOff, "balance.steering: off"
	if cfg.Steering != "off" {
		tier, why = steer.Probe(probeOpen)
		switch {
		case cfg.Steering == "pause" && tier != balance.TierOff:
			tier, why = balance.TierPause, "balance.steering: pause ("+why+")"
		case cfg.Steering == "cbpf" && tier != balance.TierCBPF:
			m.log.Warn("balance.steering asks for cbpf, which this kernel refuses: falling back", "tier", string(tier), "reason", why)
		}
	}
	m.log.Info("steering tier", "tier", string(tier), "reason", why)
	limit, how := m.hostBytesOutMax(m.cfg)
	m.log.Info("host outbound limit", "host_bytes_out_max", limit, "how", how)
	m.bal = newBalancer(m.log, cfg, limit, tier, why, m)
	for _, s := range m.slots {
		m.trackSockets(s.sockets)
	}
}

// probeOpen opens the probe's group the way the master opens its own.
func probeOpen(addr string, n int) ([]*net.TCPListener, error) {
	return steer.ListenGroup(addr, n)
}

func (m *Master) hostBytesOutMax(cfg *configs.Config) (float64, string) {
	var listen []string
	for _, spec := range m.bound {
		if spec.network == netTCP {
			listen = append(listen, spec.addr)
		}
	}
	return hostBytesOutMax(cfg.Balance.HostBytesOutMax, listen, systemNICs(), sysSpeed)
}

// trackSockets puts a slot's just-opened TCP sockets in the balancer's
// groups, and has each say when it closes.
func (m *Master) trackSockets(socks *slotSockets) {
	for _, so := range socks.list {
		if so.network != netTCP || so.onClose != nil {
			continue
		}
		m.bal.track(so)
		so.onClose = func() { m.bal.untrack(so) }
	}
}

// views is every slot as the balancer sees it.
func (m *Master) views() []slotView {
	var vs []slotView
	for _, s := range m.slots {
		v := slotView{Slot: s.index, Sockets: s.sockets}
		if p := s.proc; p != nil {
			v.Gen, v.Ready, v.Load = p.gen, p.state == StateReady, p.load
		}
		vs = append(vs, v)
	}
	return vs
}

// rebalance runs the balancer now: every tick, and whenever a slot's
// readiness changes (a dead slot must leave its group at once).
func (m *Master) rebalance() {
	if m.bal == nil || m.stopping {
		return
	}
	m.bal.step(m.now(), m.views(), m.host.last)
}

// sendSlot, broadcastAll and retireSlotWorker are the balancer's effects.
func (m *Master) sendSlot(slot int, msg ipc.Message) error {
	if slot < 0 || slot >= len(m.slots) || m.slots[slot].proc == nil {
		return fmt.Errorf("no worker in slot %d", slot)
	}
	return m.slots[slot].proc.proc.Send(msg)
}

func (m *Master) broadcastAll(msg ipc.Message) { m.broadcast(0, msg) }

var errRetireBusy = errors.New("the slot is already being replaced")

// retireSlotWorker replaces a slot's worker by a fresh one on the same
// sockets: the fresh one takes the slot once ready, then the old one drains
// (shedding at shed_rate) and exits by grace_final_wait.
func (m *Master) retireSlotWorker(slot int, reason string) error {
	if slot < 0 || slot >= len(m.slots) {
		return fmt.Errorf("no slot %d", slot)
	}
	s := m.slots[slot]
	if s.proc == nil || s.proc.state != StateReady {
		return fmt.Errorf("slot %d has no ready worker", slot)
	}
	if s.next != nil || s.nextSock != nil || m.quitting || m.stopping {
		return errRetireBusy
	}
	s.retireReason = reason
	s.nextSock = s.sockets // the same sockets: nothing queued moves
	m.startIn(s, s.nextSock)
	if s.next == nil {
		s.nextSock = nil
		return errors.New("the fresh worker did not start")
	}
	return nil
}

// retiredSame tells promote that a slot's replacement shares its sockets
// (a balance retire), so the old worker must not close them on its way out.
func retiredSame(old, next *slotSockets) bool { return old == next }

// onRetiring starts the old worker's shedding once the fresh one serves,
// beside its move out: what the move cannot hand over is closed at
// shed_rate, newest first, rather than all at once when the drain ends.
func (m *Master) onRetiring(old *workerProc, reason string) {
	if err := m.shed(old, m.shedRate(old), reason, nil); err != nil {
		m.log.Warn("shed not sent to a retiring worker", "worker", old.slot, "pid", old.pid, "err", err)
	}
}

// shedRate is shed_rate of p's players a second, within 1..shed_max.
func (m *Master) shedRate(p *workerProc) int {
	return max(1, min(m.cfg.Balance.ShedMax, int(float64(connsOf(p))*m.cfg.Balance.ShedRate/100)))
}

// shedSlot is the balancer's shed: see shed.
func (m *Master) shedSlot(slot, perSec int, reason string, weights map[int]int) error {
	if slot < 0 || slot >= len(m.slots) || m.slots[slot].proc == nil {
		return fmt.Errorf("no worker in slot %d", slot)
	}
	return m.shed(m.slots[slot].proc, perSec, reason, weights)
}

// shed tells p to shed players at perSec: each moves with the live
// handoff to one of the ready workers that take players and have a weight
// in weights (nil: all of them, evenly), and is closed where it cannot.
func (m *Master) shed(p *workerProc, perSec int, reason string, weights map[int]int) error {
	order := &ipc.Shed{PerSec: perSec, Reason: reason}
	for _, t := range m.moveTargets(p) {
		w := 1
		if weights != nil {
			w = weights[t.slot]
		}
		if w > 0 {
			order.To = append(order.To, ipc.ShedTarget{Slot: t.slot, Addr: t.handoffAddr, Weight: w})
		}
	}
	return p.proc.Send(order)
}

func connsOf(p *workerProc) int {
	if p.load == nil {
		return 0
	}
	return p.load.Conns.ByRole(ipc.RolePlayer)
}

// leaveGroups takes sockets out of their groups at once: a retiring slot's
// when its drain starts, every slot's at the end of a graceful quit, so
// that late clients are refused at once instead of waiting on a socket
// nobody will accept from.
func (m *Master) leaveGroups(socks *slotSockets) {
	if socks == nil || m.bal == nil {
		return
	}
	for _, so := range socks.list {
		if so.network == netTCP {
			if err := m.bal.leave(so); err != nil {
				m.log.Warn("socket did not leave its group", "socket", so.name, "err", err)
			}
		}
	}
}

// BalanceInfo is the balancer's state, asked of the master loop.
func (m *Master) BalanceInfo(ctx context.Context) (BalanceInfo, error) {
	var bi BalanceInfo
	err := m.do(ctx, func(m *Master) error {
		if m.bal == nil {
			return errors.New("no balancer")
		}
		bi = m.bal.info()
		return nil
	})
	return bi, err
}

// do runs fn on the master loop and returns its error.
func (m *Master) do(ctx context.Context, fn func(*Master) error) error {
	reply := make(chan error, 1)
	select {
	case m.events <- func(m *Master) { reply <- fn(m) }:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// operate is an operator's action on a slot, from the API.
func (m *Master) operate(slot int, action string, burn *ipc.Burn) error {
	if slot < 0 || slot >= len(m.slots) {
		return fmt.Errorf("no worker slot %d (there are %d)", slot, len(m.slots))
	}
	switch action {
	case "pause", "resume":
		m.bal.hold(slot, action == "pause")
		m.log.Info("balance by hand", "action", action, "worker", slot)
		m.rebalance()
		return nil
	case "shed":
		p := m.slots[slot].proc
		if p == nil {
			return fmt.Errorf("no worker in slot %d", slot)
		}
		per := m.shedRate(p)
		m.log.Info("balance by hand", "action", action, "worker", slot, "per_sec", per)
		return m.shed(p, per, "shed by the operator", m.bal.want)
	case "retire":
		m.log.Info("balance by hand", "action", action, "worker", slot)
		return m.retireSlotWorker(slot, "retired by the operator")
	case "burn":
		if !m.cfg.Debug.FaultInjection {
			return errFaultInjectionOff
		}
		m.log.Warn("fault injection", "action", action, "worker", slot, "percent", burn.Percent, "for", burn.For.String())
		return m.sendSlot(slot, burn)
	}
	return fmt.Errorf("no action %q: pause, resume, shed, retire or burn", strings.TrimSpace(action))
}

var errFaultInjectionOff = errors.New("fault injection is off: set debug.fault_injection: true")
