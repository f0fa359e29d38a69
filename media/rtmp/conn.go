package rtmp

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"streamedge/media/access"
	"streamedge/media/hub"
	"streamedge/media/rtmp/chunk"
)

// Window sizes we announce (SRS's).
const (
	ackWindow     = 2500000
	peerBandwidth = 2500000
)

// errClientClosed ends a session the client ended itself.
var errClientClosed = errors.New("client closed the connection")

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
	session     atomic.Pointer[sessionMeta] // set once publishing or playing, read by Sessions

	id       string          // this session's id, as hooks and the API name it
	ctx      context.Context // ends with the session: a hook waited on is abandoned
	tcURL    string
	pageURL  string
	gated    *access.Request // the publish or play the gate admitted, told when it ends
	shedding atomic.Bool     // closed by ShedNewest
	ho       handoffSide     // see handoff.go
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
	if c.relay {
		c.log = s.log.With("client", "relay")
	} else {
		c.log = s.log.With("client", nc.RemoteAddr().String())
	}
	return c
}

// serve runs the session to its end and closes the connection.
func (c *conn) serve(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c.ctx = ctx
	stop := context.AfterFunc(ctx, func() { c.nc.Close() })
	defer stop()
	err := c.run()
	c.finish(err)
}

func (c *conn) run() error {
	c.nc.SetDeadline(time.Now().Add(c.cfg.HandshakeTimeout))
	c.ho.in = &journal{r: countingReader{c.nc, &c.srv.Stats.BytesIn}}
	br := bufio.NewReaderSize(c.ho.in, 16<<10)
	c.ho.br = br
	first, err := br.Peek(1)
	if err != nil {
		return fmt.Errorf("before handshake: %w", err)
	}
	if first[0] != 3 {
		return fmt.Errorf("not an RTMP handshake (first byte 0x%02x)", first[0])
	}
	if _, err := serverHandshake(br, c.nc); err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	c.cr = chunk.NewReader(br, c.cfg.MaxMessageSize)
	return c.readLoop()
}

// readLoop reads and handles messages until the session ends.
func (c *conn) readLoop() error {
	for {
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
	}
}

// finish releases what the session held and logs why it ended, once.
func (c *conn) finish(err error) {
	c.endHandoffs()
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
	if c.play == nil && !errors.Is(err, errClientClosed) && !errors.Is(err, errMoved) {
		c.log.Info("rtmp connection closed", "reason", err.Error())
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
