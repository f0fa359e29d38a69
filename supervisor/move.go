package supervisor

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"streamedge/ipc"
)

// ErrBadMove: a move names a worker that cannot send or take players.
var ErrBadMove = errors.New("bad move")

// retireMovesPerSec bounds how fast a retiring worker hands its players
// to the others, so a retire does not become a burst of load elsewhere.
const retireMovesPerSec = 500

// MoveResult is what a move did, for the API.
type MoveResult struct {
	Code   int    `json:"code"`
	From   int    `json:"from"`
	To     int    `json:"to"`
	Moved  int    `json:"moved"`
	Kept   int    `json:"kept"`
	Closed int    `json:"closed"`
	Error  string `json:"error,omitempty"`
}

// Move hands n players of the worker in slot from to the worker in slot
// to (to < 0: the ready worker with the fewest players), and waits for
// the answer (POST /api/v1/workers/{slot}/move).
func (m *Master) Move(ctx context.Context, from, to, n int, reason string) (MoveResult, error) {
	reply := make(chan *ipc.Moved, 1)
	type sent struct {
		to  int
		err error
	}
	asked := make(chan sent, 1)
	ask := func(m *Master) {
		src, dst, err := m.movePair(from, to)
		if err != nil {
			asked <- sent{err: err}
			return
		}
		m.nextReq++
		if err := src.proc.Send(&ipc.Move{ID: m.nextReq, N: n, To: dst.slot, ToAddr: dst.handoffAddr, Reason: reason}); err != nil {
			asked <- sent{err: fmt.Errorf("worker %d cannot be told: %w", from, err)}
			return
		}
		m.moveReqs[m.nextReq] = reply
		m.log.Info("players moving", "from", from, "to", dst.slot, "n", n, "reason", reason)
		asked <- sent{to: dst.slot}
	}
	select {
	case m.events <- ask:
	case <-ctx.Done():
		return MoveResult{}, ctx.Err()
	}
	s := <-asked
	if s.err != nil {
		return MoveResult{}, s.err
	}
	select {
	case r := <-reply:
		res := MoveResult{From: from, To: s.to, Moved: r.Moved, Kept: r.Kept, Closed: r.Closed, Error: r.Err}
		m.log.Info("players moved", "from", from, "to", s.to, "moved", r.Moved, "kept", r.Kept, "closed", r.Closed, "reason", reason)
		return res, nil
	case <-ctx.Done():
		return MoveResult{}, ctx.Err()
	}
}

// movePair finds the serving worker of slot from and the ready worker
// that takes its players.
func (m *Master) movePair(from, to int) (src, dst *workerProc, err error) {
	if from < 0 || from >= len(m.slots) || m.slots[from].proc == nil || m.slots[from].proc.state != StateReady {
		return nil, nil, fmt.Errorf("%w: worker %d is not serving", ErrBadMove, from)
	}
	src = m.slots[from].proc
	if to >= 0 {
		if to == from || to >= len(m.slots) || !canTake(m.slots[to].proc) {
			return nil, nil, fmt.Errorf("%w: worker %d cannot take players", ErrBadMove, to)
		}
		return src, m.slots[to].proc, nil
	}
	targets := m.moveTargets(src)
	if len(targets) == 0 {
		return nil, nil, fmt.Errorf("%w: no other worker can take players", ErrBadMove)
	}
	return src, targets[0], nil
}

func canTake(p *workerProc) bool { return p != nil && p.state == StateReady && p.handoffAddr != "" }

// moveTargets are the ready workers other than src that can take players,
// the fewest players first.
func (m *Master) moveTargets(src *workerProc) []*workerProc {
	var list []*workerProc
	for _, s := range m.slots {
		if p := s.proc; p != src && canTake(p) {
			list = append(list, p)
		}
	}
	players := func(p *workerProc) int {
		if p.load == nil {
			return 0
		}
		return p.load.Conns.ByRole(ipc.RolePlayer)
	}
	for i := 1; i < len(list); i++ {
		for j := i; j > 0 && players(list[j]) < players(list[j-1]); j-- {
			list[j], list[j-1] = list[j-1], list[j]
		}
	}
	return list
}

// moveAll asks a move for every player the worker has (the API's bound).
const moveAll = 1 << 20

// moveOut hands a retiring worker's players to the workers that stay,
// split evenly, at a bounded rate; what cannot move stays until the drain
// ends it. Nobody waits for the answers.
func (m *Master) moveOut(p *workerProc, reason string) {
	if m.quitting || m.stopping || p.load == nil {
		return // everyone leaves: moving would only move players twice
	}
	// Ask for every player, not the report's count: the report is up to a
	// second old, and players that came since would be left to the end of
	// the drain. The targets' moves run side by side at the same rate, so
	// they split the players evenly, and each ends when none is left.
	n := p.load.Conns.ByRole(ipc.RolePlayer)
	if m.moveFrom(p, moveAll, retireMovesPerSec, reason) {
		m.log.Info("players moving out", "worker", p.slot, "pid", p.pid, "players", n, "reason", reason)
	}
}

// moveFrom asks p to hand n players to the other ready workers, split
// evenly, at most perSec a second in all, and reports whether any worker
// could take them. It is the move the balancer's shed can order instead
// of closing players (closing stays the fallback when this is false).
func (m *Master) moveFrom(p *workerProc, n, perSec int, reason string) bool {
	targets := m.moveTargets(p)
	if len(targets) == 0 || n <= 0 {
		return false
	}
	each := (n + len(targets) - 1) / len(targets)
	rate := max(1, perSec/len(targets))
	for _, t := range targets {
		if err := p.proc.Send(&ipc.Move{N: each, To: t.slot, ToAddr: t.handoffAddr, Reason: reason, PerSec: rate}); err != nil {
			return false
		}
	}
	return true
}

// movePlayers is the balancer's even move: n players of slot from's
// worker go to slot to's at perSec; nobody waits for the answer.
func (m *Master) movePlayers(from, to, n, perSec int, reason string) error {
	src, dst, err := m.movePair(from, to)
	if err != nil {
		return err
	}
	return src.proc.Send(&ipc.Move{N: n, To: dst.slot, ToAddr: dst.handoffAddr, Reason: reason, PerSec: perSec})
}

// onMoved hands a worker's answer to the request waiting for it.
func (m *Master) onMoved(msg *ipc.Moved) {
	if ch := m.moveReqs[msg.ID]; ch != nil {
		delete(m.moveReqs, msg.ID)
		ch <- msg
	}
}

// moveJSON is POST /api/v1/workers/{slot}/move?n=&to=.
func (m *Master) moveJSON(w http.ResponseWriter, r *http.Request) {
	from, err := strconv.Atoi(r.PathValue("slot"))
	q := r.URL.Query()
	n, nerr := strconv.Atoi(q.Get("n"))
	to := -1
	if v := q.Get("to"); v != "" {
		var terr error
		if to, terr = strconv.Atoi(v); terr != nil || to < 0 {
			err = cmpErr(err, errors.New("to must be a worker slot"))
		}
	}
	if err != nil || nerr != nil || n < 1 || n > 1<<20 {
		writeJSON(w, http.StatusBadRequest, errorResponse{Code: 400, Error: "use POST /api/v1/workers/{slot}/move?n=N[&to=SLOT] with N >= 1"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 60*time.Second)
	defer cancel()
	res, err := m.Move(ctx, from, to, n, "moved through the API")
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, res)
	case errors.Is(err, ErrBadMove):
		writeJSON(w, http.StatusConflict, errorResponse{Code: 409, Error: err.Error()})
	default:
		writeJSON(w, http.StatusServiceUnavailable, errorResponse{Code: 503, Error: "master busy: " + err.Error()})
	}
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
