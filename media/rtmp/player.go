package rtmp

import (
	"context"
	"errors"
	"sync/atomic"

	"streamedge/media/handoff"
	"streamedge/media/hub"
	"streamedge/media/rtmp/chunk"
)

// player feeds one RTMP play from the hub. The stream's writer loop writes
// its media (see hub.Feed), and the player has no goroutine of its own;
// commands from the session's reading goroutine share the write lock.
type player struct {
	c        *conn
	sub      *hub.Subscriber
	streamID uint32
	feed     hub.Feed
	ended    bool         // finish has run
	tail     handoff.Tail // where the client is, for handoffs
	from     string       // the worker an adopted player came from, for its log

	vecs    [][]byte // WriteBatch's scratch: a relay's, a handed-over player's catch-up
	out     *hub.Outlet
	scratch []byte // headers for a player on a stream id other than hub.RTMPStreamID
}

var _ hub.FanoutWriter = (*player)(nil)

func startPlayer(c *conn, sub *hub.Subscriber, streamID uint32) *player {
	p := &player{c: c, sub: sub, streamID: streamID, out: hub.NewOutlet(c.nc, &c.wmu, &c.srv.Stats.BytesOut)}
	p.counter().Add(1)
	c.log.Info("rtmp play start")
	c.srv.hub.SetupPlayerConn(c.nc)
	p.start()
	return p
}

// start feeds the player, from the session's goroutine: a handed-over
// player first catches up here, then the writer loop takes it. A handoff
// halts it, and starts it again if the socket stays.
func (p *player) start() {
	p.feed.OnDrop = p.c.wait.Wake
	p.feed.Start(p.sub, p, func() error { return handoff.CatchUp(p.sub, &p.tail, p) })
}

func (p *player) finish(err error) {
	if p.ended {
		return
	}
	p.ended = true
	p.sub.Close()
	p.counter().Add(-1)
	reason := "client closed the connection"
	if err != nil && !errors.Is(err, context.Canceled) {
		reason = err.Error()
	}
	p.c.log.Info("rtmp play end", "reason", reason, "bytes_sent", p.sub.Sent.Load(), "skips", p.sub.Skipped.Load())
}

// counter is the stat the player counts in: a relay feeding another hub (on
// a relay server), or a player.
func (p *player) counter() *atomic.Int64 {
	if p.c.relay {
		return &p.c.srv.Stats.RelayOut
	}
	return &p.c.srv.Stats.Players
}

// stop ends the player as its session ends and logs why.
func (p *player) stop() { p.finish(p.feed.Halt(p.sub)) }

// WriteBatch sends msgs as chunks in one writev, blocking: for writes
// outside the stream's writer loop.
func (p *player) WriteBatch(msgs []*hub.Msg) error {
	return hub.WriteNow(p, &p.vecs, msgs, p.c.srv.hub.Options().SendTimeout)
}

// Frame lays msgs out as chunks, reusing the headers the hub encoded once
// for every player.
func (p *player) Frame(vecs [][]byte, msgs []*hub.Msg) ([][]byte, []*hub.Msg) {
	msgs, resumed := p.tail.Admit(p.sub.Stream(), msgs)
	if resumed != nil {
		p.logResumed(resumed)
	}
	p.scratch = p.scratch[:0]
	size := p.c.outChunkSize
	for _, m := range msgs {
		hdr, cont := m.RTMPHeader(), m.RTMPContinuation()
		if p.streamID != hub.RTMPStreamID || p.tail.Shift != 0 {
			hdr, cont = p.ownHeaders(m)
		}
		vecs = appendChunks(vecs, hdr, cont, m.Payload, size)
	}
	return vecs, msgs
}

// Wrote records messages the client got whole.
func (p *player) Wrote(msgs []*hub.Msg) { p.tail.Wrote(msgs) }

// Outlet is the player's socket, shared with the session's commands.
func (p *player) Outlet() *hub.Outlet { return p.out }

// Shared: chunks as the hub encoded them, at the connection's chunk size,
// for a play on hub.RTMPStreamID on the hub's own timeline.
func (p *player) Shared() (hub.Wire, bool) {
	return hub.Wire{RTMPChunkSize: p.c.outChunkSize}, p.streamID == hub.RTMPStreamID && p.tail.Passthrough()
}

// appendChunks lays out one message as header, first chunk, then a
// continuation header before each further chunk; no bytes are copied.
func appendChunks(vecs [][]byte, hdr, cont, payload []byte, chunkSize int) [][]byte {
	n := min(len(payload), chunkSize)
	vecs = append(vecs, hdr, payload[:n])
	for payload = payload[n:]; len(payload) > 0; payload = payload[n:] {
		n = min(len(payload), chunkSize)
		vecs = append(vecs, cont, payload[:n])
	}
	return vecs
}

// ownHeaders encodes a message's headers for this player's stream id and
// timeline. Only clients that play on a second stream of one connection,
// and players handed over from a worker with another timeline, take this
// path.
func (p *player) ownHeaders(m *hub.Msg) (hdr, cont []byte) {
	csid := chunk.CSIDForType(m.Type)
	start := len(p.scratch)
	p.scratch = append(p.scratch, make([]byte, chunk.MaxHeaderLen+chunk.MaxContinuationLen)...)
	b := p.scratch[start:]
	ts := m.Timestamp + p.tail.Shift
	hn := chunk.PutHeader(b, csid, m.Type, ts, len(m.Payload), p.streamID)
	cn := chunk.PutContinuation(b[hn:], csid, ts)
	return b[:hn:hn], b[hn : hn+cn]
}
