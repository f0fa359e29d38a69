package supervisor

import (
	"testing"
	"time"

	"streamedge/ipc"
	"streamedge/supervisor/balance"
)

// loadView is view with the worker's busiest writer loop at writer.
func loadView(b *balancer, slot int, writer float64, at time.Time) slotView {
	v := view(b, slot, true, 10, at)
	v.Load.WriterLoad = writer
	return v
}

// A worker whose writer loop is at capacity gets no new connections, in
// the kernel's program; every worker so makes the host full, and it admits
// again once the loads are under writer_load_low.
func TestBalancerWriterFullSlotGetsNothing(t *testing.T) {
	b, fx, lns := testBalancer(t, balance.TierCBPF, 2)
	start := time.Now()
	at := func(s int) time.Time { return start.Add(time.Duration(s) * time.Second) }
	// One long pass is not capacity: the second report in a row is.
	b.step(at(0), []slotView{loadView(b, 0, 0.95, at(0)), loadView(b, 1, 0.2, at(0))}, HostLoad{})
	if w := b.state[0]; w.WriterFull || w.Weight == 0 {
		t.Fatalf("slot 0 after one report at writer load 0.95: %+v, want open", *w)
	}
	b.step(at(1), []slotView{loadView(b, 0, 0.95, at(1)), loadView(b, 1, 0.2, at(1))}, HostLoad{})
	if w := b.state[0]; !w.WriterFull || w.Weight != 0 || w.Hot {
		t.Fatalf("slot 0 at writer load 0.95: %+v, want writer full with weight 0, not hot", *w)
	}
	if st := b.info().Workers[0]; st.State != "writer_full" || st.WriterLoad != 0.95 {
		t.Errorf("slot 0 in the API: %+v", st)
	}
	if got := landsOn(t, lns[1], 30); got[0] != 0 {
		t.Errorf("new connections on the writer-full slot: %v", got)
	}
	if len(fx.broadcast) != 0 || len(fx.sent[0]) != 0 {
		t.Errorf("one open worker left: broadcasts %v, orders to slot 0 %v; want none (its players stay)", fx.broadcast, fx.sent[0])
	}
	// In the hysteresis band it stays full; the other reaching capacity
	// fills the host.
	for s := 2; s <= 3; s++ {
		b.step(at(s), []slotView{loadView(b, 0, 0.8, at(s)), loadView(b, 1, 1.3, at(s))}, HostLoad{})
	}
	if len(fx.broadcast) != 1 || !fx.broadcast[0].(*ipc.Admission).Refuse {
		t.Fatalf("both writer full: broadcasts %v, want one refusing admission", fx.broadcast)
	}
	// One short pass is not headroom either (past capacity the players
	// parked on full sockets make passes short): the second report under
	// writer_load_low in a row is.
	b.step(at(4), []slotView{loadView(b, 0, 0.5, at(4)), loadView(b, 1, 0.8, at(4))}, HostLoad{})
	if len(fx.broadcast) != 1 || !b.state[0].WriterFull {
		t.Fatalf("slot 0 after one report under writer_load_low: broadcasts %v, %+v; want still full", fx.broadcast, *b.state[0])
	}
	b.step(at(5), []slotView{loadView(b, 0, 0.5, at(5)), loadView(b, 1, 0.8, at(5))}, HostLoad{})
	if len(fx.broadcast) != 2 || fx.broadcast[1].(*ipc.Admission).Refuse {
		t.Fatalf("slot 0 under writer_load_low: broadcasts %v, want admission again", fx.broadcast)
	}
	if b.state[0].WriterFull || !b.state[1].WriterFull || b.state[0].Weight == 0 || b.state[1].Weight != 0 {
		t.Errorf("after: slot 0 %+v, slot 1 %+v; want 0 open, 1 still writer full", *b.state[0], *b.state[1])
	}
	if got := b.actions[[2]string{string(balance.KindWriterFull), string(balance.ReasonWriterLoad)}]; got != 2 {
		t.Errorf("writer_full/writer_load actions counted: %d, want 2", got)
	}
}
