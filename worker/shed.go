package worker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"streamedge/ipc"
	"streamedge/media/handoff"
)

// errShedReplaced ends a shed run that a newer order replaces.
var errShedReplaced = errors.New("replaced by a new shed order")

// startShed starts shedding players at s.PerSec, newest first across
// protocols, until told 0 or there is nobody left: each moves to one of
// s.To with the live handoff where it can (the viewer's connection stays
// open), and is closed, told why, where it cannot.
func (b *balancer) startShed(ctx context.Context, s *ipc.Shed) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopShed != nil {
		cause := errShedReplaced
		if s.PerSec <= 0 {
			cause = errors.New(s.Reason)
		}
		b.stopShed(cause)
		b.stopShed = nil
	}
	if s.PerSec <= 0 {
		return
	}
	ctx, b.stopShed = context.WithCancelCause(ctx)
	run := &shedRun{b: b, ho: b.w.ho, order: s, credit: make([]int, len(s.To)), senders: map[string]*handoff.Sender{},
		desc: "server busy: moving you to a less loaded worker (" + s.Reason + "); reconnect"}
	var to []int
	for _, t := range s.To {
		to = append(to, t.Slot)
	}
	b.log.Info("shedding players", "per_sec", s.PerSec, "reason", s.Reason, "move_to", fmt.Sprint(to))
	go run.loop(ctx)
}

// shedRun is one shed order being carried out.
type shedRun struct {
	b       *balancer
	ho      *handoffs // nil: nothing moves
	order   *ipc.Shed
	desc    string // what a closed player is told
	credit  []int  // smooth weighted round robin over order.To
	senders map[string]*handoff.Sender

	moved, closed, kept int
}

func (r *shedRun) loop(ctx context.Context) {
	defer func() {
		for _, s := range r.senders {
			s.Close()
		}
		r.b.log.Info("shedding stopped", "reason", context.Cause(ctx).Error(), "moved", r.moved, "closed", r.closed, "kept", r.kept)
	}()
	t := time.NewTicker(time.Second / time.Duration(r.order.PerSec))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.one(ctx)
		}
	}
}

// one sheds one player: the newest that can move goes to the next target;
// when none can (no target, the receiver refused, no movable player),
// the newest is closed.
func (r *shedRun) one(ctx context.Context) {
	if t := r.next(); t != nil && r.ho != nil {
		switch out, err := r.move(ctx, t); out {
		case outMoved:
			r.moved++
			r.b.shedMoved.Add(1)
			return
		case outClosed:
			r.closed++
			r.b.shed.Add(1)
			return
		case outKept:
			r.kept++
			r.b.log.Debug("shed player not moved, closing one instead", "to", t.Slot, "reason", err.Error())
		}
	}
	if r.b.shedNewest(r.desc) {
		r.closed++
		r.b.shed.Add(1)
	}
}

// move hands the newest movable player to t: servers are asked in the
// order of their newest players.
func (r *shedRun) move(ctx context.Context, t *ipc.ShedTarget) (moveOutcome, error) {
	s, err := r.sender(ctx, t.Addr)
	if err != nil {
		return outKept, err
	}
	type newest struct {
		x  handoff.Exporter
		at int64
	}
	var order []newest
	for _, srv := range r.b.servers() {
		if at, ok := srv.newestPlayer(); ok && srv.exporter() != nil {
			order = append(order, newest{srv.exporter(), at})
		}
	}
	slices.SortFunc(order, func(a, b newest) int { return cmp.Compare(b.at, a.at) })
	for _, n := range order {
		out, err := r.ho.moveOne(ctx, n.x, s, t.Slot, r.order.Reason)
		if out == outNone {
			continue
		}
		if brokeSender(err) {
			s.Close()
			delete(r.senders, t.Addr)
		}
		return out, err
	}
	return outNone, handoff.ErrNoPlayer
}

// sender is the connection to a target's handoff socket, dialled once
// per run and again after it broke.
func (r *shedRun) sender(ctx context.Context, addr string) (*handoff.Sender, error) {
	if s := r.senders[addr]; s != nil {
		return s, nil
	}
	dctx, cancel := context.WithTimeout(ctx, handoff.AnswerTimeout)
	defer cancel()
	s, err := handoff.Dial(dctx, addr)
	if err != nil {
		return nil, fmt.Errorf("%w: no handoff socket at %s: %v", handoff.ErrNotSent, addr, err)
	}
	r.senders[addr] = s
	return s, nil
}

// next picks the target of the next move: smooth weighted round robin, so
// the targets get players in the proportion of their weights, interleaved.
func (r *shedRun) next() *ipc.ShedTarget {
	best, total := -1, 0
	for i, t := range r.order.To {
		w := max(t.Weight, 1)
		r.credit[i] += w
		total += w
		if best < 0 || r.credit[i] > r.credit[best] {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	r.credit[best] -= total
	return &r.order.To[best]
}

// shedNewest closes the newest player of any protocol.
func (b *balancer) shedNewest(desc string) bool {
	var newest balanced
	var at int64
	for _, s := range b.servers() {
		if since, ok := s.newestPlayer(); ok && (newest == nil || since > at) {
			newest, at = s, since
		}
	}
	return newest != nil && newest.shedNewest(desc)
}
