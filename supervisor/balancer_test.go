package supervisor

import (
	"io"
	"log/slog"
	"maps"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"streamedge/configs"
	"streamedge/ipc"
	"streamedge/supervisor/balance"
)

type fakeEffects struct {
	sent      map[int][]ipc.Message
	broadcast []ipc.Message
	retired   []int
}

func (f *fakeEffects) sendSlot(slot int, m ipc.Message) error {
	f.sent[slot] = append(f.sent[slot], m)
	return nil
}
func (f *fakeEffects) broadcastAll(m ipc.Message) { f.broadcast = append(f.broadcast, m) }
func (f *fakeEffects) movePlayers(from, to, n, perSec int, reason string) error {
	return f.sendSlot(from, &ipc.Move{N: n, To: to, PerSec: perSec, Reason: reason})
}
func (f *fakeEffects) shedSlot(slot, perSec int, reason string, weights map[int]int) error {
	order := &ipc.Shed{PerSec: perSec, Reason: reason}
	for _, s := range slices.Sorted(maps.Keys(weights)) {
		if s != slot && weights[s] > 0 {
			order.To = append(order.To, ipc.ShedTarget{Slot: s, Weight: weights[s]})
		}
	}
	return f.sendSlot(slot, order)
}
func (f *fakeEffects) retireSlotWorker(slot int, _ string) error {
	f.retired = append(f.retired, slot)
	return nil
}

// testBalancer runs a balancer of the given tier over the real sockets of
// n slots (RTMP and HTTP groups on loopback).
func testBalancer(t *testing.T, tier balance.Tier, n int) (*balancer, *fakeEffects, [][]*net.TCPListener) {
	t.Helper()
	fx := &fakeEffects{sent: map[int][]ipc.Message{}}
	b := newBalancer(slog.New(slog.NewTextHandler(io.Discard, nil)), configs.Default().Balance, 0, tier, "test", fx)
	table := []sockSpec{{name: "rtmp", network: netTCP, addr: "127.0.0.1:0"}, {name: "http", network: netTCP, addr: "127.0.0.1:0"}}
	socks, _, err := openSlots(table, 0, n)
	if err != nil {
		t.Fatal(err)
	}
	lns := make([][]*net.TCPListener, 2)
	for _, ss := range socks {
		t.Cleanup(ss.close)
		testSocks[b] = append(testSocks[b], ss)
		for r, so := range ss.list {
			b.track(so)
			// The test's own listener on a dup of the master's copy, as a
			// worker has: accepts show where connections land.
			ln, err := net.FileListener(so.file)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
			lns[r] = append(lns[r], ln.(*net.TCPListener))
		}
	}
	return b, fx, lns
}

// testSocks are each test balancer's slots' sockets, for views.
var testSocks = map[*balancer][]*slotSockets{}

func view(b *balancer, slot int, ready bool, cpu float64, at time.Time) slotView {
	v := slotView{Slot: slot, Gen: uint64(slot + 1), Ready: ready, Sockets: testSocks[b][slot]}
	if ready {
		v.Load = &ipc.Load{Time: at, CPUPercent: cpu, Conns: ipc.ConnCounts{ipc.ConnFLVPlay: 10}, Connections: 10}
	}
	return v
}

// landsOn dials the group n times and counts the accepts per slot. Its
// accept loops have ended when it returns: a loop left blocked in Accept
// would wake to the next call's fresh deadline and take one of its
// connections unseen (the startup-order test lost one that way).
func landsOn(t *testing.T, lns []*net.TCPListener, n int) []int {
	t.Helper()
	counts := make([]int, len(lns))
	for range n {
		c, err := net.Dial("tcp", lns[0].Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	got := make(chan int, n)
	var loops sync.WaitGroup
	for i, ln := range lns {
		ln.SetDeadline(time.Now().Add(10 * time.Second))
		loops.Go(func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
				got <- i
			}
		})
	}
	defer loops.Wait()
	defer func() {
		for _, ln := range lns {
			ln.SetDeadline(time.Now())
		}
	}()
	for range n {
		select {
		case i := <-got:
			counts[i]++
		case <-time.After(5 * time.Second):
			t.Fatalf("accepted %v of %d", counts, n)
		}
	}
	return counts
}

func TestBalancerDownSlotLeavesAndRejoins(t *testing.T) {
	b, _, lns := testBalancer(t, balance.TierCBPF, 2)
	now := time.Now()
	b.step(now, []slotView{view(b, 0, true, 10, now), view(b, 1, false, 0, now)}, HostLoad{})
	for name, order := range b.info().Groups {
		if !slices.Equal(order, []int{0}) {
			t.Errorf("%s group with slot 1 down: %v, want [0]", name, order)
		}
	}
	if got := landsOn(t, lns[0], 20); got[1] != 0 {
		t.Errorf("connections on a down slot: %v", got)
	}
	now = now.Add(time.Second)
	b.step(now, []slotView{view(b, 0, true, 10, now), view(b, 1, true, 0, now)}, HostLoad{})
	for name, order := range b.info().Groups {
		if !slices.Equal(order, []int{0, 1}) {
			t.Errorf("%s group after slot 1 is ready: %v, want [0 1]", name, order)
		}
	}
}

func TestBalancerHotSlotGetsNothing(t *testing.T) {
	b, fx, lns := testBalancer(t, balance.TierCBPF, 2)
	start := time.Now()
	for s := range 6 {
		now := start.Add(time.Duration(s) * time.Second)
		b.step(now, []slotView{view(b, 0, true, 95, now), view(b, 1, true, 20, now)}, HostLoad{})
	}
	if w := b.state[0]; !w.Hot || w.Weight != 0 {
		t.Fatalf("slot 0 after 5 s at 95%%: %+v, want hot with weight 0", *w)
	}
	if got := landsOn(t, lns[1], 30); got[0] != 0 {
		t.Errorf("new connections on the hot slot: %v", got)
	}
	if len(fx.broadcast) != 0 {
		t.Errorf("the host is not full with slot 1 cool: %v", fx.broadcast)
	}
	// Both hot: the host is full, and the workers hear it.
	for s := 6; s < 12; s++ {
		now := start.Add(time.Duration(s) * time.Second)
		b.step(now, []slotView{view(b, 0, true, 95, now), view(b, 1, true, 95, now)}, HostLoad{})
	}
	if len(fx.broadcast) != 1 || !fx.broadcast[0].(*ipc.Admission).Refuse {
		t.Fatalf("both hot: broadcasts %v, want one refusing admission", fx.broadcast)
	}
	info := b.info()
	if !info.HostFull || len(info.Decisions) == 0 || info.Tier != balance.TierCBPF {
		t.Errorf("info: %+v", info)
	}
}

func TestBalancerPauseTierHeldSlot(t *testing.T) {
	b, _, lns := testBalancer(t, balance.TierPause, 3)
	now := time.Now()
	views := []slotView{view(b, 0, true, 10, now), view(b, 1, true, 10, now), view(b, 2, true, 10, now)}
	b.step(now, views, HostLoad{})
	b.hold(0, true)
	b.step(now, views, HostLoad{})
	if !b.state[0].Paused {
		t.Fatal("a held slot stays in the group on the pause tier")
	}
	if got := landsOn(t, lns[1], 30); got[0] != 0 {
		t.Errorf("connections on the held slot: %v", got)
	}
	// Holding every slot keeps the last one open.
	b.hold(1, true)
	b.hold(2, true)
	b.step(now, views, HostLoad{})
	for name, order := range b.info().Groups {
		if len(order) != 1 {
			t.Errorf("%s group with every slot held: %v, want the last open one", name, order)
		}
	}
}

// Workers get ready in any order at start: the slots leave their groups
// and rejoin, and the program still sends each slot its share.
func TestBalancerStartupOrder(t *testing.T) {
	b, _, lns := testBalancer(t, balance.TierCBPF, 3)
	now := time.Now()
	b.step(now, []slotView{view(b, 0, false, 0, now), view(b, 1, true, 0, now), view(b, 2, false, 0, now)}, HostLoad{})
	b.step(now, []slotView{view(b, 0, true, 0, now), view(b, 1, true, 0, now), view(b, 2, false, 0, now)}, HostLoad{})
	b.step(now, []slotView{view(b, 0, true, 0, now), view(b, 1, true, 0, now), view(b, 2, true, 0, now)}, HostLoad{})
	now = now.Add(2 * time.Second)
	b.step(now, []slotView{view(b, 0, true, 0, now), view(b, 1, true, 0, now), view(b, 2, true, 0, now)}, HostLoad{})
	t.Logf("order %v", b.info().Groups)
	got := landsOn(t, lns[0], 90)
	for i, n := range got {
		if n < 10 {
			t.Errorf("slot %d got %d of 90 at weights %v: %v", i, n, b.want, got)
		}
	}
	b.hold(0, true)
	b.hold(1, true)
	now = now.Add(2 * time.Second)
	b.step(now, []slotView{view(b, 0, true, 0, now), view(b, 1, true, 0, now), view(b, 2, true, 0, now)}, HostLoad{})
	if got := landsOn(t, lns[0], 30); got[2] != 30 {
		t.Errorf("with 0 and 1 held: %v, want all on 2", got)
	}
}

// A hot slot sheds by moving: its order names the slot new connections go
// to, and follows the weights when they move.
func TestBalancerShedMovesToTheCoolSlot(t *testing.T) {
	b, fx, _ := testBalancer(t, balance.TierCBPF, 3)
	b.cfg.RetireAfter = 0
	b.configure(b.cfg, 0)
	start := time.Now()
	cpus := []float64{95, 20, 20}
	var orders []*ipc.Shed
	for s := range 30 {
		now := start.Add(time.Duration(s) * time.Second)
		if s == 25 {
			cpus[2] = 95 // slot 2 heats up: the moves go to slot 1 alone
		}
		b.step(now, []slotView{view(b, 0, true, cpus[0], now), view(b, 1, true, cpus[1], now), view(b, 2, true, cpus[2], now)}, HostLoad{})
	}
	for _, m := range fx.sent[0] {
		if o, ok := m.(*ipc.Shed); ok {
			orders = append(orders, o)
		}
	}
	if len(orders) < 2 {
		t.Fatalf("slot 0 got shed orders %v, want one at shed_after and another when the weights moved", orders)
	}
	to := func(o *ipc.Shed) []int {
		var slots []int
		for _, t := range o.To {
			slots = append(slots, t.Slot)
		}
		return slots
	}
	if first := orders[0]; first.PerSec < 1 || !slices.Equal(to(first), []int{1, 2}) {
		t.Errorf("first order %+v, want moves to slots 1 and 2", first)
	}
	if last := orders[len(orders)-1]; !slices.Equal(to(last), []int{1}) {
		t.Errorf("after slot 2 got hot: %+v, want moves to slot 1 alone", last)
	}
	for _, m := range fx.sent[1] {
		if _, ok := m.(*ipc.Shed); ok {
			t.Errorf("the cool slot was told to shed: %+v", m)
		}
	}
}
