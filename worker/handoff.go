package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"streamedge/configs"
	"streamedge/ipc"
	"streamedge/media/handoff"
)

// handoffs is the worker's side of live handoffs: a private socket other
// workers hand players to, and the moves the master orders (Move) out of
// this worker. Players of both public protocols move; publishers, relays
// and WebRTC sessions stay.
type handoffs struct {
	w    *Worker
	ln   *net.UnixListener
	log  *slog.Logger
	from string // "worker N", for the receiver's log
	cfg  atomic.Pointer[configs.Config]

	movedIn, movedOut, kept, closed, refused atomic.Uint64
}

// listenHandoffs opens the worker's handoff socket beside its relay socket.
func listenHandoffs(w *Worker, dir string, slot int, cfg *configs.Config, log *slog.Logger) (*handoffs, error) {
	path := filepath.Join(dir, fmt.Sprintf("handoff-%d-%d.sock", slot, os.Getpid()))
	ln, err := handoff.Listen(path)
	if err != nil {
		return nil, fmt.Errorf("handoff socket: %w", err)
	}
	ho := &handoffs{w: w, ln: ln, log: log, from: fmt.Sprintf("worker %d", slot)}
	ho.cfg.Store(cfg)
	return ho, nil
}

// addr is the handoff socket's path; "" for a worker without one (tests
// that run a worker's loop on its own).
func (ho *handoffs) addr() string {
	if ho == nil {
		return ""
	}
	return ho.ln.Addr().String()
}

// Run takes players from other workers until ctx ends.
func (ho *handoffs) Run(ctx context.Context) error {
	if ho == nil {
		return nil
	}
	servers := map[handoff.Protocol]handoff.AdoptFunc{}
	if s := ho.w.rtmpPublic(); s != nil {
		servers[handoff.RTMP] = s.srv.Adopt
	}
	if s := ho.w.http(); s != nil {
		servers[handoff.HTTPFLV] = s.flv.Adopt
	}
	return handoff.Serve(ctx, ho.ln, handoff.Adopters(servers, ho.admit))
}

// Why a receiver refuses a player.
var (
	errDrainingRefuses = errors.New("the receiver is draining")
	errCapRefuses      = errors.New("the receiver is at balance.max_connections")
)

func (ho *handoffs) setConfig(cfg *configs.Config) {
	if ho != nil {
		ho.cfg.Store(cfg)
	}
}

// admit refuses a player this worker should not take.
func (ho *handoffs) admit(st *handoff.State) error {
	err := func() error {
		if ho.w.draining.Load() {
			return errDrainingRefuses
		}
		if limit := ho.cfg.Load().Balance.MaxConnections; limit > 0 && ho.w.Sessions() >= int64(limit) {
			return errCapRefuses
		}
		return nil
	}()
	if err != nil {
		ho.refused.Add(1)
		ho.log.Info("handoff refused", "from", st.From, "stream", st.Stream, "reason", err.Error())
		return err
	}
	ho.movedIn.Add(1)
	return nil
}

// move hands up to m.N players to the worker behind m.ToAddr, at most
// m.PerSec a second, and says how it went.
func (ho *handoffs) move(ctx context.Context, m *ipc.Move) *ipc.Moved {
	res := &ipc.Moved{ID: m.ID}
	if ho == nil {
		res.Err = "this worker has no handoff socket"
		return res
	}
	dctx, cancel := context.WithTimeout(ctx, handoff.AnswerTimeout)
	s, err := handoff.Dial(dctx, m.ToAddr)
	cancel()
	if err != nil {
		res.Err = fmt.Sprintf("no handoff socket at worker %d: %v", m.To, err)
		return res
	}
	defer s.Close()
	var pace <-chan time.Time
	if m.PerSec > 0 {
		t := time.NewTicker(time.Second / time.Duration(m.PerSec))
		defer t.Stop()
		pace = t.C
	}
	exporters := ho.w.exporters()
	for res.Moved+res.Kept+res.Closed < m.N && len(exporters) > 0 {
		if pace != nil && res.Moved+res.Kept+res.Closed > 0 {
			select {
			case <-pace:
			case <-ctx.Done():
				res.Err = context.Cause(ctx).Error()
				return res
			}
		}
		// Take turns between protocols, so a move of N splits them.
		x := exporters[(res.Moved+res.Kept+res.Closed)%len(exporters)]
		switch out, err := ho.moveOne(ctx, x, s, m.To, m.Reason); out {
		case outNone:
			exporters = without(exporters, x)
		case outMoved:
			res.Moved++
		case outKept:
			res.Kept++
			if brokeSender(err) {
				res.Err = err.Error()
				return res // the connection to the receiver broke: stop here
			}
		case outClosed:
			res.Closed++
			res.Err = err.Error()
			return res
		}
		if ctx.Err() != nil {
			res.Err = context.Cause(ctx).Error()
			return res
		}
	}
	return res
}

// What became of one player a move asked for.
type moveOutcome int

const (
	outNone   moveOutcome = iota // the server had no player that could move
	outMoved                     // the receiver owns it
	outKept                      // it goes on here
	outClosed                    // closed: the receiver took the socket without an answer
)

// moveOne hands one player of x to the receiver behind s, counts and logs
// it; err says why it did not move.
func (ho *handoffs) moveOne(ctx context.Context, x handoff.Exporter, s *handoff.Sender, to int, reason string) (moveOutcome, error) {
	start := time.Now()
	st, err := handoff.Move(ctx, x, s, ho.from)
	switch {
	case errors.Is(err, handoff.ErrNoPlayer):
		return outNone, err
	case err == nil:
		ho.movedOut.Add(1)
		ho.log.Info("player moved", "to", to, "stream", st.Stream, "kind", st.Protocol.String(), "reason", reason,
			"took_us", time.Since(start).Microseconds())
		return outMoved, nil
	case handoff.Resumable(err):
		ho.kept.Add(1)
		ho.log.Info("player kept", "to", to, "stream", stateStream(st), "reason", err.Error())
		return outKept, err
	}
	ho.closed.Add(1)
	ho.log.Warn("player closed: the receiver took its socket without an answer", "to", to, "stream", stateStream(st), "reason", err.Error())
	return outClosed, err
}

// brokeSender says a kept player's move failed because the connection to
// the receiver broke (not because its state was too large): the sender is
// of no more use.
func brokeSender(err error) bool {
	return errors.Is(err, handoff.ErrNotSent) && !errors.Is(err, handoff.ErrTooLarge)
}

func stateStream(st *handoff.State) string {
	if st == nil {
		return ""
	}
	return st.Stream
}

func without(xs []handoff.Exporter, x handoff.Exporter) []handoff.Exporter {
	out := xs[:0:0]
	for _, y := range xs {
		if y != x {
			out = append(out, y)
		}
	}
	return out
}

// exporters are the servers whose players can move.
func (w *Worker) exporters() []handoff.Exporter {
	var xs []handoff.Exporter
	if s := w.rtmpPublic(); s != nil {
		xs = append(xs, s.srv)
	}
	if s := w.http(); s != nil {
		xs = append(xs, s.flv)
	}
	return xs
}

func (w *Worker) rtmpPublic() *rtmpServer {
	for _, s := range w.servers {
		if r, ok := s.(*rtmpServer); ok && r.name() == "rtmp" {
			return r
		}
	}
	return nil
}

func (w *Worker) http() *httpServer {
	for _, s := range w.servers {
		if h, ok := s.(*httpServer); ok {
			return h
		}
	}
	return nil
}
