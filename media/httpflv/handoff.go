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

// An HTTP-FLV response moves between batches: the session, which reads
// the client's side of the connection, is woken (by a deadline in its
// read, or through its poller handle), takes the player out of the
// stream's writer loop, and the
// socket goes with the player's position and the tracks its FLV header
// announced. The receiver writes no second header: the next bytes on the
// wire are the next tag.

var (
	errMoved   = errors.New("moved to another worker")
	errDropped = errors.New("handed to a worker that did not answer: closed")
)

// handoffSide is a player's part of handoffs.
type handoffSide struct {
	moved     bool // the socket went to another worker: its on_stop is the receiver's
	uncounted bool // taken off Stats.Players
	tail      handoff.Tail
	from      string      // the worker an adopted player came from
	running   atomic.Bool // fed and reading: a request wakes it
	req       atomic.Pointer[handoff.Request]
}

// handOff answers the pending request of a stopped player.
func (p *player) handOff(req *handoff.Request) (moved bool, err error) {
	defer p.shedding.Store(false)
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
	p.ho.running.Store(false)
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
		if !p.ho.running.Load() {
			p.ho.req.CompareAndSwap(req, nil)
			p.shedding.Store(false)
			continue
		}
		p.nc.SetReadDeadline(time.Now()) // wakes the player's read, or
		p.wait.Wake()                    // its session in the poller
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
		if !p.shedding.Load() && p.ho.running.Load() {
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
	go p.run(nc) // its catch-up write is the session's to wait for, not the caller's
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
