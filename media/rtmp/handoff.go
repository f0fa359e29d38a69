package rtmp

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"time"

	"streamedge/media/connlog"
	"streamedge/media/handoff"
	"streamedge/media/hub"
	"streamedge/media/rtmp/chunk"

	"sync/atomic"
)

// A playing connection can move to another process: its reading goroutine
// stops at a read (woken by a deadline), its player stops between two
// batches, and what the client sent since the last whole message (kept by
// the journal under the bufio.Reader) travels with the chunk reader's state
// at that message, so the receiver parses the next chunk as we would have.

// errMoved ends a session whose socket another worker took; errDropped one
// whose receiver took the socket and did not answer.
var (
	errMoved   = errors.New("moved to another worker")
	errDropped = errors.New("handed to a worker that did not answer: closed")
)

// closedRequest marks a connection that takes no more export requests.
var closedRequest = handoff.NewRequest()

// handoffSide is a connection's part of handoffs.
type handoffSide struct {
	in    *journal
	br    *bufio.Reader
	snap  chunk.ReaderState // the chunk reader at the last message boundary
	armed bool              // snap is valid: the connection plays
	req   atomic.Pointer[handoff.Request]
}

// journal sits under the connection's bufio.Reader: while on, it keeps
// every byte read from the socket since the last message boundary. pending
// is served first: bytes another process read and did not parse.
type journal struct {
	r       io.Reader
	pending []byte
	rec     []byte
	on      bool
	over    bool // more than a state can carry: this connection cannot move now
}

// playerReadBuffer is the read buffer of a player's connection. A player
// sends little after its play (acks of 4 bytes, pings, a pause of 40): the
// setupReadBuffer a connection reads its handshake and commands with would
// otherwise stay for the player's whole life; it goes back to its pool. A
// larger message is read in more calls.
const playerReadBuffer = 256

// maxUnparsed bounds the bytes read and not parsed that a move carries.
const maxUnparsed = handoff.MaxState / 2

func (j *journal) Read(p []byte) (int, error) {
	var n int
	var err error
	if len(j.pending) > 0 {
		n = copy(p, j.pending)
		j.pending = j.pending[n:]
	} else {
		n, err = j.r.Read(p)
	}
	if j.on && !j.over {
		if len(j.rec)+n > maxUnparsed {
			j.over = true
		} else {
			j.rec = append(j.rec, p[:n]...)
		}
	}
	return n, err
}

// checkpoint records the chunk reader at a message boundary, for a player.
func (c *conn) checkpoint() {
	if c.play == nil || c.publisher != nil {
		return
	}
	c.ho.snap = c.cr.State()
	buffered, _ := c.ho.br.Peek(c.ho.br.Buffered())
	c.ho.in.rec = append(c.ho.in.rec[:0], buffered...)
	c.ho.in.on, c.ho.in.over, c.ho.armed = true, false, true
	if c.ho.br.Size() > playerReadBuffer {
		c.shrinkReader()
	}
}

// shrinkReader moves a player's connection to a reader with a
// playerReadBuffer, at a message boundary. What the old buffer held and
// had not parsed is served first, through the journal, as after a resume.
func (c *conn) shrinkReader() {
	pending := append(append([]byte(nil), c.ho.in.rec...), c.ho.in.pending...)
	br := bufio.NewReaderSize(c.ho.in, playerReadBuffer)
	cr, err := chunk.NewReaderAt(br, min(c.cfg.MaxMessageSize, maxCommandSize), c.ho.snap) // a player: commands only
	if err != nil {
		return // the state cannot be carried over: keep the reader we have
	}
	c.ho.in.pending, c.ho.in.rec = pending, c.ho.in.rec[:0]
	old := c.ho.br
	c.ho.br, c.cr = br, cr
	returnSetupReader(old) // what it held was copied into pending
}

// handoffPending reports an export request that a read error may be the
// answer to.
func (c *conn) handoffPending() bool {
	r := c.ho.req.Load()
	return r != nil && r != closedRequest
}

// handOff answers the pending request once a read was interrupted. nil
// means the session stays here and reads on; errMoved that it moved.
func (c *conn) handOff(readErr error) error {
	req := c.ho.req.Load()
	if !errors.Is(readErr, os.ErrDeadlineExceeded) {
		req.Reply(nil, fmt.Errorf("connection ending: %w", readErr))
		return readErr
	}
	if !c.ho.armed || c.ho.in.over {
		// Stopped mid-message with no way to carry what was read: this
		// read cannot be taken back, so the connection cannot go on.
		req.Reply(nil, errors.New("read state too large to move"))
		return errors.New("interrupted for a handoff that could not carry the read state")
	}
	if err := c.play.pause(); err != nil {
		req.Reply(nil, err)
		return err
	}
	e, err := c.export()
	if err != nil {
		req.Reply(nil, err)
		return c.resume()
	}
	req.Reply(e, nil)
	defer e.Settled()
	switch e.Outcome() {
	case handoff.Moved:
		c.play.moved()
		c.play = nil
		return errMoved
	case handoff.Dropped:
		return errDropped
	}
	return c.resume()
}

// export builds the state of the stopped player and dups its socket.
func (c *conn) export() (*handoff.Export, error) {
	fc, ok := c.nc.(interface{ File() (*os.File, error) })
	if !ok {
		return nil, fmt.Errorf("a %T cannot be passed", c.nc)
	}
	p := c.play
	st := &handoff.State{Protocol: handoff.RTMP, Stream: p.sub.Stream().Key().String(), Since: c.since.UnixNano(),
		BytesSent: p.sub.Sent.Load(), Unparsed: append([]byte(nil), c.ho.in.rec...),
		RTMP: &handoff.RTMPState{Vhost: c.target.Vhost, App: c.target.App, OutChunkSize: uint32(c.outChunkSize),
			StreamID: p.streamID, NextStreamID: c.nextStreamID, PeerWindow: c.peerWindow, LastAck: c.lastAck,
			InChunkSize: c.ho.snap.ChunkSize, BytesRead: c.ho.snap.BytesRead}}
	for _, s := range c.ho.snap.Streams {
		st.RTMP.In = append(st.RTMP.In, handoff.ChunkStream{CSID: s.CSID, Timestamp: s.Timestamp, Delta: s.Delta,
			Length: s.Length, TypeID: s.TypeID, StreamID: s.StreamID, Extended: s.Extended, Started: s.Started,
			HasBuf: s.HasBuf, Partial: s.Partial})
	}
	p.tail.Fill(st, p.sub.Stream())
	st.Hook = handoff.HookOf(c.gated)
	f, err := fc.File()
	if err != nil {
		return nil, err
	}
	return handoff.NewExport(st, f), nil
}

// resume goes on here after a handoff that did not happen: the reader is
// rebuilt from the last message boundary and the player starts again.
func (c *conn) resume() error {
	c.ho.in.pending = append(c.ho.in.rec[:0:0], c.ho.in.rec...)
	c.ho.in.rec = c.ho.in.rec[:0]
	c.ho.br.Reset(c.ho.in)                                                                      // what it held is in pending now
	cr, err := chunk.NewReaderAt(c.ho.br, min(c.cfg.MaxMessageSize, maxCommandSize), c.ho.snap) // a player: commands only
	if err != nil {
		return err
	}
	c.cr = cr
	c.nc.SetReadDeadline(time.Time{})
	c.ho.req.Store(nil)
	c.shedding.Store(false)
	c.play.start()
	return nil
}

// endHandoffs refuses a request that comes too late: the session is ending.
func (c *conn) endHandoffs() {
	if r := c.ho.req.Swap(closedRequest); r != nil && r != closedRequest {
		r.Reply(nil, errors.New("session ended"))
	}
}

// ExportPlayer stops the newest player that can move (not a relay, not
// being shed or moved) at a message boundary and returns it exported; its
// session waits for Moved or Resume.
func (s *Server) ExportPlayer(ctx context.Context) (*handoff.Export, error) {
	for _, c := range s.movablePlayers() {
		if !c.shedding.CompareAndSwap(false, true) {
			continue
		}
		req := handoff.NewRequest()
		if !c.ho.req.CompareAndSwap(nil, req) {
			c.shedding.Store(false)
			continue
		}
		c.nc.SetReadDeadline(time.Now()) // wakes the reading goroutine, or
		c.wait.Wake()                    // the session in the poller
		e, err := req.Wait(ctx)
		if err == nil {
			return e, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		s.log.Debug("rtmp player cannot move", "client", c.nc.RemoteAddr().String(), "reason", err.Error())
	}
	return nil, handoff.ErrNoPlayer
}

func (s *Server) movablePlayers() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	var list []*conn
	for c := range s.conns {
		if meta := c.session.Load(); meta != nil && meta.sub != nil && !c.relay && !c.shedding.Load() {
			list = append(list, c)
		}
	}
	slices.SortFunc(list, func(a, b *conn) int { return cmp.Compare(b.since.UnixNano(), a.since.UnixNano()) })
	return list
}

// Adopt takes a player another worker exported: it subscribes to its
// stream (here, or through a relay) and goes on from where the other
// stopped, with no handshake and nothing sent twice. It owns f: on error f
// is closed and the sender keeps the socket.
func (s *Server) Adopt(f *os.File, st *handoff.State) error {
	defer f.Close()
	key, ok := hub.ParseKey(st.Stream)
	r := st.RTMP
	switch {
	case st.Protocol != handoff.RTMP || r == nil:
		return fmt.Errorf("not an RTMP player: %v", st.Protocol)
	case !ok:
		return errors.New("bad stream name")
	case r.OutChunkSize < 128 || r.OutChunkSize > chunk.MaxChunkSize:
		return fmt.Errorf("outbound chunk size %d out of range", r.OutChunkSize)
	}
	in := chunk.ReaderState{ChunkSize: r.InChunkSize, BytesRead: r.BytesRead}
	for _, cs := range r.In {
		in.Streams = append(in.Streams, chunk.StreamState{CSID: cs.CSID, Timestamp: cs.Timestamp, Delta: cs.Delta,
			Length: cs.Length, TypeID: cs.TypeID, StreamID: cs.StreamID, Extended: cs.Extended, Started: cs.Started,
			HasBuf: cs.HasBuf, Partial: cs.Partial})
	}
	cfg := *s.cfg.Load()
	jr := &journal{pending: st.Unparsed, on: true}
	br := bufio.NewReaderSize(jr, playerReadBuffer)
	cr, err := chunk.NewReaderAt(br, min(cfg.MaxMessageSize, maxCommandSize), in) // a player: commands only
	if err != nil {
		return err
	}
	nc, err := net.FileConn(f)
	if err != nil {
		return err
	}
	sub, err := s.hub.Subscribe(key, true)
	if err != nil {
		nc.Close()
		return err
	}
	c := newConn(s, nc, cfg)
	c.freshStack = true
	jr.r = countingReader{nc, &s.Stats.BytesIn}
	// The state we were handed is a message boundary too: this player can
	// move on before the client sends anything.
	c.ho.in, c.ho.br, c.cr, c.ho.snap, c.ho.armed = jr, br, cr, in, true
	c.target, c.connected = connectTarget{Vhost: r.Vhost, App: r.App}, true
	c.outChunkSize, c.nextStreamID, c.peerWindow, c.lastAck = int(r.OutChunkSize), r.NextStreamID, r.PeerWindow, r.LastAck
	c.since = time.Unix(0, st.Since)
	c.gated = st.Hook.Request()
	if c.gated != nil {
		c.tcURL, c.pageURL = c.gated.TcURL, c.gated.PageURL
	}
	c.log = c.log.With("app", r.App, "stream", key.String())
	if !s.track(c) {
		sub.Close()
		nc.Close()
		return errors.New("server closed")
	}
	c.setState(connlog.Playing)
	c.session.Store(&sessionMeta{kind: "rtmp_play", stream: key.String(), sub: sub, streamID: r.StreamID})
	sub.Sent.Store(st.BytesSent)
	c.play = adoptPlayer(c, sub, r.StreamID, handoff.AdoptedTail(st), st.From)
	ctx, cancel := context.WithCancel(context.Background())
	c.ctx = ctx
	c.end = func(err error) {
		c.finish(err)
		cancel()
		s.untrack(c)
	}
	go func() {
		c.play.start() // its catch-up write is the session's, not the caller's, to wait for
		c.readOn(true)
	}()
	return nil
}

// pause stops the player between two batches (a batch is written whole)
// for a handoff and waits for it. An error means the player ended on its
// own meanwhile.
func (p *player) pause() error {
	if p.feed.Halt(p.sub) != nil {
		return errors.New("player ended")
	}
	return nil
}

// moved ends a paused player whose socket another worker owns now.
func (p *player) moved() {
	p.ended = true
	p.sub.Close()
	p.counter().Add(-1)
	p.c.session.Store(nil)
	p.c.log.Info("rtmp play moved", "bytes_sent", p.sub.Sent.Load(), "skips", p.sub.Skipped.Load())
}

// adoptPlayer makes the player of an adopted connection; its session's
// goroutine starts it.
func adoptPlayer(c *conn, sub *hub.Subscriber, streamID uint32, tail handoff.Tail, from string) *player {
	p := &player{c: c, sub: sub, streamID: streamID, tail: tail, from: from, out: hub.NewOutlet(c.nc, &c.wmu, &c.srv.Stats.BytesOut)}
	p.counter().Add(1)
	c.log.Info("rtmp play adopted", "from", from)
	return p
}

func (p *player) logResumed(r *handoff.Resumed) {
	p.c.log.Info("rtmp play resumed", "from", p.from, "gap_ms", r.Gap.Milliseconds(),
		"step_ms", r.Step.Milliseconds(), "dropped", r.Dropped)
}
