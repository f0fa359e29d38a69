package rtmp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"streamedge/media/access"
	"streamedge/media/connlog"
	"streamedge/media/hub"
	"streamedge/media/readpoll"
	"streamedge/media/rtmp/chunk"
)

// Window sizes we announce (SRS's).
const (
	ackWindow     = 2500000
	peerBandwidth = 2500000
)

// maxCommandSize bounds every message before a session publishes, and
// every command message after: commands are tiny (a connect is a few
// hundred bytes), media messages are not, and only a publisher sends media.
// Holding unpublished connections to it means a hostile one never makes
// the server buffer more than this per chunk stream.
const maxCommandSize = 64 << 10

// errClientClosed ends a session the client ended itself.
var errClientClosed = errors.New("client closed the connection")

// junkError ends a connection that was never of use; it is counted and
// summarised, not logged on its own (see connlog).
type junkError struct {
	reason connlog.Reason
	err    error
}

func (e *junkError) Error() string { return e.err.Error() }
func (e *junkError) Unwrap() error { return e.err }

// junk wraps err, without the addresses of a *net.OpError: the summary
// names the client once.
func junk(r connlog.Reason, msg string, err error) error {
	var op *net.OpError
	if errors.As(err, &op) {
		err = op.Err
	}
	return &junkError{r, fmt.Errorf("%s: %w", msg, err)}
}

// conn is one RTMP connection on the server side. Its reading goroutine owns
// all of its state but the write lock and the player.
type conn struct {
	srv *Server
	cfg Config
	nc  net.Conn
	log *slog.Logger
	cr  *chunk.Reader

	wmu          sync.Mutex // one writer at a time: commands and the player
	wbuf         []byte
	outChunkSize int

	target       connectTarget
	connected    bool
	nextStreamID uint32
	peerWindow   uint32 // the client's window: we acknowledge every so many bytes
	lastAck      uint64

	publisher   *hub.Publisher
	pubStreamID uint32
	play        *player
	relay       bool   // on a relay server: a relay feeding another hub
	upnode      string // an edge that pulls: how its connect said who it is
	since       time.Time
	state       connlog.State               // read by untrack once the session is over
	session     atomic.Pointer[sessionMeta] // set once publishing or playing, read by Sessions

	id       string          // this session's id, as hooks and the API name it
	ctx      context.Context // ends with the session: a hook waited on is abandoned
	tcURL    string
	pageURL  string
	gated    *access.Request // the publish or play the gate admitted, told when it ends
	shedding atomic.Bool     // closed by ShedNewest
	ho       handoffSide     // see handoff.go
	// freshStack: the session reads in a goroutine started once it
	// played (an adopted one's is that already); see serve.
	freshStack bool
	end        func(error)     // ends the session: see serve and Adopt
	wait       readpoll.Handle // a player's wait in the server's poller (see park)
}

// sessionMeta is what the API lists of a connection that publishes or plays.
type sessionMeta struct {
	kind   string
	stream string
	pub    *hub.Publisher
	sub    *hub.Subscriber
	// streamID is the play's message stream, for a status from ShedNewest.
	streamID uint32
}

func newConn(s *Server, nc net.Conn, cfg Config) *conn {
	c := &conn{srv: s, cfg: cfg, nc: nc, outChunkSize: 128, nextStreamID: hub.RTMPStreamID, peerWindow: ackWindow,
		relay: s.Relay, since: time.Now(), id: strconv.FormatUint(s.ids.Add(1), 10)}
	c.log = s.log.With("client", c.client())
	return c
}

// client names the peer in logs.
func (c *conn) client() string {
	if c.relay {
		return "relay"
	}
	return c.nc.RemoteAddr().String()
}

// serve runs the session to its end, closes the connection and calls
// done.
func (c *conn) serve(ctx context.Context, done func()) {
	ctx, cancel := context.WithCancel(ctx)
	c.ctx = ctx
	stop := context.AfterFunc(ctx, c.kill)
	c.end = func(err error) {
		stop()
		c.finish(err)
		cancel()
		done()
	}
	switch err := c.run(); {
	case errors.Is(err, errParked):
	case errors.Is(err, errPlaying):
		// A player's session reads on in a new goroutine: the handshake
		// and the commands grew this one's stack to 8 KiB, which a
		// goroutine blocked in a read keeps (the runtime shrinks only
		// stacks used to under a quarter), for the player's whole life.
		go c.readOn(false)
	default:
		c.end(err)
		returnSetupReader(c.ho.br) // a publisher's, or one never played: no one reads it now
	}
}

// errPlaying ends a session's first goroutine once it plays (see serve),
// when it has no poller to wait in.
var errPlaying = errors.New("playing: read on in a new goroutine")

// readOn reads and handles the session's messages until it ends, or until
// it waits in the poller with no goroutine.
func (c *conn) readOn(parkNow bool) {
	if err := c.readLoop(parkNow); !errors.Is(err, errParked) {
		c.end(err)
	}
}

func (c *conn) run() error {
	c.nc.SetDeadline(time.Now().Add(c.cfg.HandshakeTimeout))
	c.ho.in = &journal{r: countingReader{c.nc, &c.srv.Stats.BytesIn}}
	br := lendSetupReader(c.ho.in)
	c.ho.br = br
	first, err := br.Peek(1)
	if err != nil {
		return junk(connlog.NoHandshake, "before handshake", err)
	}
	if first[0] != 3 {
		return junk(connlog.BadHandshake, "not an RTMP handshake", fmt.Errorf("first byte 0x%02x", first[0]))
	}
	if _, err := serverHandshake(br, c.nc); err != nil {
		return junk(connlog.BadHandshake, "handshake", err)
	}
	c.setState(connlog.Idle)
	c.cr = chunk.NewReader(br, min(c.cfg.MaxMessageSize, maxCommandSize))
	return c.readLoop(false)
}

// readLoop reads and handles messages until the session ends, or parks
// it; parkNow allows that before the first read, which a goroutine the
// poller started must make (it was started because there is something).
func (c *conn) readLoop(parkNow bool) error {
	for ; ; parkNow = true {
		if parkNow && c.park() {
			return errParked
		}
		msg, err := c.cr.ReadMessage()
		if err != nil {
			if c.handoffPending() {
				if err = c.handOff(err); err == nil {
					continue // stays here: read on
				}
				return err
			}
			if err == io.EOF || errors.Is(err, net.ErrClosed) {
				return errClientClosed
			}
			if errors.Is(err, os.ErrDeadlineExceeded) && c.session.Load() == nil {
				return junk(connlog.IdleTimeout, fmt.Sprintf("no publish or play within %v", c.cfg.HandshakeTimeout), err)
			}
			return err
		}
		if c.publisher != nil {
			// A publisher that goes silent is gone; players wait for the next one.
			c.nc.SetReadDeadline(time.Now().Add(c.cfg.HandshakeTimeout))
		}
		if err := c.handle(msg); err != nil {
			return err
		}
		if err := c.maybeAck(); err != nil {
			return err
		}
		c.checkpoint()
		if c.play != nil && !c.freshStack && c.srv.poller == nil {
			c.freshStack = true
			return errPlaying
		}
	}
}

// setState moves the connection to s in the server's counts.
func (c *conn) setState(s connlog.State) {
	c.srv.Stats.Open.Move(c.state, s)
	c.state = s
}

// finish releases what the session held and logs why it ended, once.
func (c *conn) finish(err error) {
	c.endHandoffs()
	c.wait.Remove()
	c.nc.Close()
	if c.play != nil {
		c.play.stop()
	}
	if c.publisher != nil {
		c.endPublish(err)
	}
	if !errors.Is(err, errMoved) {
		c.notifyEnd() // a moved session goes on elsewhere
	}
	var j *junkError
	switch {
	case errors.As(err, &j):
		c.srv.Stats.Junk.Add(j.reason, c.client(), j.err)
	case c.play == nil && !errors.Is(err, errClientClosed) && !errors.Is(err, errMoved):
		c.log.Info("rtmp connection closed", "reason", connlog.Clip(err.Error()))
	}
}

func (c *conn) handle(msg chunk.Message) error {
	switch msg.TypeID {
	case chunk.TypeSetChunkSize:
		if len(msg.Payload) < 4 {
			return errors.New("short set chunk size")
		}
		return c.cr.SetChunkSize(binary.BigEndian.Uint32(msg.Payload))
	case chunk.TypeAbort:
		if len(msg.Payload) >= 4 {
			c.cr.Abort(binary.BigEndian.Uint32(msg.Payload))
		}
	case chunk.TypeWindowAckSize:
		if len(msg.Payload) >= 4 {
			c.peerWindow = max(binary.BigEndian.Uint32(msg.Payload), 4096)
		}
	case chunk.TypeUserControl:
		return c.handleUserControl(msg.Payload)
	case chunk.TypeAudio, chunk.TypeVideo:
		return c.handleMedia(msg.TypeID, msg.Timestamp, msg.Payload)
	case chunk.TypeDataAMF0, chunk.TypeDataAMF3:
		return c.handleData(msg)
	case chunk.TypeAggregate:
		return c.handleAggregate(msg)
	case chunk.TypeCommandAMF0, chunk.TypeCommandAMF3:
		if len(msg.Payload) > maxCommandSize {
			return fmt.Errorf("command of %d bytes over the %d byte limit", len(msg.Payload), maxCommandSize)
		}
		payload := msg.Payload
		if msg.TypeID == chunk.TypeCommandAMF3 && len(payload) > 0 {
			payload = payload[1:] // AMF3 commands start with a format byte, then AMF0
		}
		return c.handleCommand(msg.StreamID, payload)
	}
	return nil // acks, bandwidth and shared objects need nothing from us
}

// User control event types.
const (
	eventStreamBegin  = 0
	eventStreamEOF    = 1
	eventPingRequest  = 6
	eventPingResponse = 7
)

func (c *conn) handleUserControl(p []byte) error {
	if len(p) >= 6 && binary.BigEndian.Uint16(p) == eventPingRequest {
		return c.writeUserControl(eventPingResponse, binary.BigEndian.Uint32(p[2:]))
	}
	return nil
}

func (c *conn) maybeAck() error {
	if c.cr.BytesRead-c.lastAck < uint64(c.peerWindow) {
		return nil
	}
	c.lastAck = c.cr.BytesRead
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(c.cr.BytesRead))
	return c.writeMessage(chunk.CSIDProtocol, chunk.TypeAck, 0, b[:])
}

// writeMessage sends one control or command message.
func (c *conn) writeMessage(csid uint32, typeID uint8, streamID uint32, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = chunk.AppendMessage(c.wbuf[:0], csid, typeID, 0, streamID, payload, c.outChunkSize)
	c.nc.SetWriteDeadline(time.Now().Add(c.srv.hub.Options().SendTimeout))
	n, err := c.nc.Write(c.wbuf)
	// The stream's writer loop writes the raw socket, which fails once a
	// deadline has passed: one is set only for the length of a write.
	c.nc.SetWriteDeadline(time.Time{})
	c.srv.Stats.BytesOut.Add(uint64(n))
	return err
}

func (c *conn) writeUserControl(event uint16, value uint32) error {
	var b [6]byte
	binary.BigEndian.PutUint16(b[:], event)
	binary.BigEndian.PutUint32(b[2:], value)
	return c.writeMessage(chunk.CSIDProtocol, chunk.TypeUserControl, 0, b[:])
}

func (c *conn) writeUint32(typeID uint8, v uint32, extra ...byte) error {
	b := binary.BigEndian.AppendUint32(nil, v)
	return c.writeMessage(chunk.CSIDProtocol, typeID, 0, append(b, extra...))
}

// countingReader counts bytes read from the network into a server counter.
type countingReader struct {
	r io.Reader
	n interface{ Add(uint64) uint64 }
}

func (cr countingReader) Read(p []byte) (int, error) {
	n, err := cr.r.Read(p)
	cr.n.Add(uint64(n))
	return n, err
}

// errParked ends a goroutine of a player's session that left it waiting
// in the poller (see park).
var errParked = errors.New("waiting in the poller")

// park leaves a playing session waiting in the server's poller, with no
// goroutine, when it has read every message that came and no handoff
// waits: a player sends almost nothing after its play. It reports whether
// it did; the poller then starts a goroutine that reads on when the
// client sends something or the session is woken (c.wait). A message
// that comes in parts is read by the goroutine its first part started,
// which blocks for the rest, as before.
func (c *conn) park() bool {
	poller := c.srv.poller
	if poller == nil || c.play == nil || c.publisher != nil || c.ho.br.Buffered() > 0 || len(c.ho.in.pending) > 0 || c.handoffPending() {
		return false
	}
	if w := c.wait.Waiter(); w != nil {
		return w.Arm()
	}
	// Else it reads on in a goroutine of its own.
	return poller.Add(c.nc, &c.wait, func(*readpoll.Waiter) { c.readOn(false) }) == nil
}

// kill ends the session from outside it (a kick, a shed, Close, the end
// of the server's context): a closed fd leaves the poller without an
// event, so the session is woken.
func (c *conn) kill() {
	c.nc.Close()
	c.wait.Wake()
}
