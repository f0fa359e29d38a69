package httpflv

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"streamedge/media/flv"
	"streamedge/media/handoff"
	"streamedge/media/hub"
)

// An HTTP-FLV response moves between batches: the player's goroutine
// stops writing, the goroutine that watches the client's side of the
// connection is woken by a deadline, and the socket goes with the player's
// position and the tracks its FLV header announced. The receiver writes no
// second header: the next bytes on the wire are the next tag.

var (
	errHandoff = errors.New("stopped for a handoff")
	errMoved   = errors.New("moved to another worker")
	errDropped = errors.New("handed to a worker that did not answer: closed")
)

// handoffSide is a player's part of handoffs.
type handoffSide struct {
	moved     bool // the socket went to another worker: its on_stop is the receiver's
	uncounted bool // taken off Stats.Players
	tail      handoff.Tail
	from      string                                  // the worker an adopted player came from
	cancel    atomic.Pointer[context.CancelCauseFunc] // set while the player runs
	req       atomic.Pointer[handoff.Request]
}

// play feeds the player until it ends or moves; a handoff that does not
// happen resumes it here.
func (p *player) play(r interface{ Read([]byte) (int, error) }) error {
	var answered *handoff.Request
	for {
		ctx, cancel := context.WithCancelCause(context.Background())
		p.ho.cancel.Store(&cancel)
		// The request of the last round is cleared only once this round's
		// cancel is in place, so a new one never cancels a round that is over.
		if answered != nil {
			p.ho.req.CompareAndSwap(answered, nil)
		}
		watched := make(chan struct{})
		gone := false // set by the watcher before it closes watched
		// A player sends nothing after its request: a read that returns means
		// it has gone, and we stop at once instead of at the next write.
		go func() {
			defer close(watched)
			var b [512]byte
			for {
				if _, err := r.Read(b[:]); err != nil {
					if errors.Is(err, os.ErrDeadlineExceeded) && p.ho.req.Load() != nil {
						return // woken for a handoff
					}
					gone = true
					cancel(errClientGone)
					p.nc.Close()
					return
				}
			}
		}()
		err := handoff.CatchUp(p.sub, &p.ho.tail, p)
		if err == nil {
			err = p.sub.Run(ctx, p)
		}
		if c := context.Cause(ctx); c != nil {
			err = c
		}
		if !errors.Is(err, errHandoff) {
			cancel(err)
			p.endHandoffs()
			// The watcher may be blocked reading from a client that
			// neither reads nor closes (the player the server just gave
			// up on): closing the socket, abortively after a drop, is what
			// ends its read.
			hub.ClosePlayerConn(p.nc, err)
			<-watched
			return err
		}
		p.nc.SetReadDeadline(time.Now())
		<-watched
		answered = p.ho.req.Load()
		if moved, err := p.handOff(answered, gone); moved || err != nil {
			cancel(nil)
			return cmp.Or(err, errMoved)
		}
		p.nc.SetReadDeadline(time.Time{})
		cancel(nil)
	}
}

// handOff answers the pending request of a stopped player.
func (p *player) handOff(req *handoff.Request, gone bool) (moved bool, err error) {
	defer p.shedding.Store(false)
	if gone {
		req.Reply(nil, errClientGone)
		return false, errClientGone
	}
	e, err := p.export()
	if err != nil {
		req.Reply(nil, err)
		return false, nil
	}
	req.Reply(e, nil)
	defer e.Settled()
	switch e.Outcome() {
	case handoff.Moved:
		p.ho.moved = true
		p.uncount() // before Settled: the mover's counts are right when it returns
		p.log.Info("flv play moved", "bytes_sent", p.sub.Sent.Load(), "skips", p.sub.Skipped.Load())
		return true, nil
	case handoff.Dropped:
		return false, errDropped
	}
	return false, nil
}

func (p *player) export() (*handoff.Export, error) {
	if !p.headSent {
		// Its FLV header waits for the tracks: nothing to resume elsewhere yet.
		return nil, errors.New("the player has not started yet")
	}
	fc, ok := p.nc.(interface{ File() (*os.File, error) })
	if !ok {
		return nil, fmt.Errorf("a %T cannot be passed", p.nc)
	}
	st := &handoff.State{Protocol: handoff.HTTPFLV, Stream: p.stream, Since: p.since.UnixNano(),
		HasAudio: p.audio, HasVideo: p.video, BytesSent: p.sub.Sent.Load()}
	p.ho.tail.Fill(st, p.sub.Stream())
	st.Hook = handoff.HookOf(p.gated)
	f, err := fc.File()
	if err != nil {
		return nil, err
	}
	return handoff.NewExport(st, f), nil
}

// endHandoffs refuses a request that comes as the player ends.
func (p *player) endHandoffs() {
	p.ho.cancel.Store(nil)
	if r := p.ho.req.Swap(nil); r != nil {
		r.Reply(nil, errors.New("session ended"))
	}
}

func (p *player) logEnd(err error) {
	if errors.Is(err, errMoved) {
		return
	}
	p.log.Info("flv play end", "reason", err.Error(), "bytes_sent", p.sub.Sent.Load(), "skips", p.sub.Skipped.Load())
}

func (p *player) logResumed(r *handoff.Resumed) {
	p.log.Info("flv play resumed", "from", p.ho.from, "gap_ms", r.Gap.Milliseconds(),
		"step_ms", r.Step.Milliseconds(), "dropped", r.Dropped)
}

// ownHeader encodes m's tag header on this player's timeline.
func (p *player) ownHeader(m *hub.Msg) []byte {
	start := len(p.scratch)
	p.scratch = append(p.scratch, make([]byte, flv.TagHeaderSize)...)
	b := p.scratch[start:]
	flv.PutTagHeader(b, m.Type, m.Timestamp+p.ho.tail.Shift, len(m.Payload))
	return b
}

// ExportPlayer stops the newest player that can move between two batches
// and returns it exported; its session waits for Moved or Resume.
func (h *Handler) ExportPlayer(ctx context.Context) (*handoff.Export, error) {
	for _, p := range h.movablePlayers() {
		if !p.shedding.CompareAndSwap(false, true) {
			continue
		}
		req := handoff.NewRequest()
		if !p.ho.req.CompareAndSwap(nil, req) {
			p.shedding.Store(false)
			continue
		}
		cancel := p.ho.cancel.Load()
		if cancel == nil {
			p.ho.req.CompareAndSwap(req, nil)
			p.shedding.Store(false)
			continue
		}
		(*cancel)(errHandoff)
		e, err := req.Wait(ctx)
		if err == nil {
			return e, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		h.log.Debug("flv player cannot move", "client", p.addr, "reason", err.Error())
	}
	return nil, handoff.ErrNoPlayer
}

func (h *Handler) movablePlayers() []*player {
	h.mu.Lock()
	defer h.mu.Unlock()
	var list []*player
	for p := range h.players {
		if !p.shedding.Load() && p.ho.cancel.Load() != nil {
			list = append(list, p)
		}
	}
	slices.SortFunc(list, func(a, b *player) int { return cmp.Compare(b.since.UnixNano(), a.since.UnixNano()) })
	return list
}

// Adopt takes a player another worker exported: it subscribes to the
// stream (here or through a relay) and writes the next tag the client has
// not had. It owns f: on error f is closed and the sender keeps the socket.
func (h *Handler) Adopt(f *os.File, st *handoff.State) error {
	defer f.Close()
	key, ok := hub.ParseKey(st.Stream)
	if st.Protocol != handoff.HTTPFLV || !ok {
		return fmt.Errorf("not an HTTP-FLV player of a valid stream: %v", st.Protocol)
	}
	nc, err := net.FileConn(f)
	if err != nil {
		return err
	}
	sub, err := h.hub.Subscribe(key, true)
	if err != nil {
		nc.Close()
		return err
	}
	addr := nc.RemoteAddr().String()
	p := &player{h: h, id: strconv.FormatUint(h.gates.ids.Add(1), 10), sub: sub, nc: nc, out: hub.NewOutlet(nc, nil, &h.Stats.BytesOut), addr: addr, stream: key.String(),
		since: time.Unix(0, st.Since), log: h.log.With("client", addr, "stream", key.String()), audio: st.HasAudio, video: st.HasVideo,
		gated: st.Hook.Request(), headSent: true}
	p.ho.tail, p.ho.from = handoff.AdoptedTail(st), st.From
	sub.Sent.Store(st.BytesSent)
	if !h.track(p) {
		sub.Close()
		nc.Close()
		return errors.New("handler closed")
	}
	h.Stats.Players.Add(1)
	p.log.Info("flv play adopted", "from", st.From)
	go func() {
		defer h.untrack(p)
		defer p.notifyStop()
		defer p.uncount()
		defer sub.Close()
		var err error
		defer func() { hub.ClosePlayerConn(nc, err) }()
		err = p.play(nc)
		p.logEnd(err)
	}()
	return nil
}

// notifyStop tells the gate the play ended, unless it goes on elsewhere.
func (p *player) notifyStop() {
	if !p.ho.moved {
		p.h.notifyStop(p.gated)
	}
}

// uncount takes the player off Stats.Players, once.
func (p *player) uncount() {
	if !p.ho.uncounted {
		p.ho.uncounted = true
		p.h.Stats.Players.Add(-1)
	}
}
