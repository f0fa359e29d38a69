package rtmp

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/yutopp/go-rtmp/handshake"

	"streamedge/media/rtmp/amf"
	"streamedge/media/rtmp/chunk"
)

// StatusError is an onStatus or _error the server answered with.
type StatusError struct {
	Code, Description string
	// Redirect is where the server sent us instead (an RTMP 302: SRS's
	// origin cluster answers a play of a stream it does not have with
	// NetConnection.Connect.Rejected and ex.redirect).
	Redirect string
}

func (e *StatusError) Error() string {
	if e.Redirect != "" {
		return e.Code + ": " + e.Description + " (redirect to " + e.Redirect + ")"
	}
	return e.Code + ": " + e.Description
}

// Is makes errors.Is(err, ErrStreamNotFound) true for the server's "no
// such stream" answer, whatever its description says.
func (e *StatusError) Is(target error) bool {
	return target == ErrStreamNotFound && e.Code == CodeStreamNotFound
}

// CodeStreamNotFound is the status a play of a stream the server does not
// have gets.
const CodeStreamNotFound = "NetStream.Play.StreamNotFound"

// ErrStreamNotFound matches (errors.Is) a *StatusError with CodeStreamNotFound.
var ErrStreamNotFound = errors.New("stream not found")

// DialOptions are the less common settings of DialWith.
type DialOptions struct {
	// ConnectProps are added to the connect command object, e.g. the edge's
	// identity for the origin's client list (SRS's debug_srs_upnode).
	ConnectProps []amf.Property
	// TCURL, when set, is the tcUrl sent instead of the one made from the
	// URL: an edge passes a client's tcUrl, query and token included, on
	// to its origin (token_traverse).
	TCURL string
}

// Client is an RTMP client that plays or publishes one stream: what tests,
// the load generator and relays use. go-rtmp's client cannot play, so this
// one is built on our chunk layer.
type Client struct {
	nc           net.Conn
	cr           *chunk.Reader
	wmu          sync.Mutex // a publisher's writes and its background reader's answers
	wbuf         []byte
	readerDone   chan struct{} // a publisher's background reader has ended
	outChunkSize int
	streamID     uint32
	app, tcURL   string
	stream       string
	txID         float64
	window       uint32
	lastAck      uint64
}

// Dial connects and handshakes to an rtmp:// URL whose path is /app/stream
// (the app may have several segments), and sends connect.
func Dial(ctx context.Context, rawURL string) (*Client, error) {
	return DialVia(ctx, "", "", rawURL)
}

// DialVia is Dial over a given network and address, such as a worker's
// private unix socket; the URL still names the app and stream. Empty
// network and address mean TCP to the URL's host.
func DialVia(ctx context.Context, network, address, rawURL string) (*Client, error) {
	return DialWith(ctx, network, address, rawURL, DialOptions{})
}

// DialWith is DialVia with options.
func DialWith(ctx context.Context, network, address, rawURL string, opts DialOptions) (*Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "rtmp" {
		return nil, fmt.Errorf("not an rtmp:// URL: %s", rawURL)
	}
	path := strings.Trim(u.Path, "/")
	i := strings.LastIndex(path, "/")
	if i <= 0 {
		return nil, fmt.Errorf("URL has no app and stream: %s", rawURL)
	}
	if network == "" {
		network, address = "tcp", u.Host
		if u.Port() == "" {
			address = net.JoinHostPort(u.Hostname(), "1935")
		}
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	c := &Client{nc: nc, outChunkSize: 128, window: ackWindow, app: path[:i], stream: path[i+1:]}
	if u.RawQuery != "" {
		c.stream += "?" + u.RawQuery
	}
	c.tcURL = (&url.URL{Scheme: "rtmp", Host: u.Host, Path: "/" + c.app}).String()
	if opts.TCURL != "" {
		c.tcURL = opts.TCURL
	}
	if err := c.connect(ctx, opts.ConnectProps); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// PeerChunkSize is the chunk size the server announced.
func (c *Client) PeerChunkSize() uint32 { return c.cr.ChunkSize() }

// Close ends the connection. A publisher first says it is done
// (deleteStream), so the server sees a clean end rather than a reset.
func (c *Client) Close() error {
	if c.readerDone != nil {
		c.writeCommand(0, "deleteStream", 0, nil, float64(c.streamID))
		if tc, ok := c.nc.(interface{ CloseWrite() error }); ok {
			tc.CloseWrite()
			select {
			case <-c.readerDone:
			case <-time.After(time.Second):
			}
		}
	}
	return c.nc.Close()
}

// Conn is the underlying connection (for deadlines and addresses).
func (c *Client) Conn() net.Conn { return c.nc }

func (c *Client) withDeadline(ctx context.Context, f func() error) error {
	if dl, ok := ctx.Deadline(); ok {
		c.nc.SetDeadline(dl)
		defer c.nc.SetDeadline(time.Time{})
	}
	stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	return f()
}

func (c *Client) connect(ctx context.Context, extra []amf.Property) error {
	return c.withDeadline(ctx, func() error {
		br := bufio.NewReaderSize(c.nc, 16<<10)
		if err := handshake.HandshakeWithServer(br, c.nc, &handshake.Config{SkipHandshakeVerification: true}); err != nil {
			return fmt.Errorf("handshake: %w", err)
		}
		c.cr = chunk.NewReader(br, 16<<20)
		if err := c.writeUint(chunk.TypeSetChunkSize, 60000); err != nil {
			return err
		}
		c.outChunkSize = 60000
		obj := []amf.Property{{Key: "app", Value: c.app}, {Key: "flashVer", Value: "LNX 9,0,124,2"},
			{Key: "tcUrl", Value: c.tcURL}, {Key: "fpad", Value: false}, {Key: "capabilities", Value: 15.0},
			{Key: "audioCodecs", Value: 4071.0}, {Key: "videoCodecs", Value: 252.0}, {Key: "videoFunction", Value: 1.0}}
		obj = append(obj, extra...)
		if _, err := c.call("connect", 0, obj); err != nil {
			return fmt.Errorf("connect: %w", err)
		}
		return nil
	})
}

// call sends a command and waits for its _result, answering control
// messages meanwhile.
func (c *Client) call(name string, streamID uint32, args ...any) (command, error) {
	c.txID++
	tx := c.txID
	vals := append([]any{name, tx}, args...)
	if err := c.writeCommand(streamID, vals...); err != nil {
		return command{}, err
	}
	for {
		msg, err := c.readAny()
		if err != nil {
			return command{}, err
		}
		if msg.TypeID != chunk.TypeCommandAMF0 {
			continue
		}
		cmd, err := parseCommand(msg.StreamID, msg.Payload)
		if err != nil {
			return command{}, err
		}
		if cmd.TxID != tx {
			continue
		}
		if cmd.Name == "_error" {
			return cmd, statusOf(cmd)
		}
		return cmd, nil
	}
}

func statusOf(cmd command) *StatusError {
	info, _ := lastArg(cmd).(amf.Object)
	code, _ := info["code"].(string)
	desc, _ := info["description"].(string)
	st := &StatusError{Code: code, Description: desc}
	if ex, ok := info["ex"].(amf.Object); ok {
		st.Redirect, _ = ex["redirect"].(string)
	}
	return st
}

func lastArg(cmd command) any {
	if len(cmd.Args) == 0 {
		return nil
	}
	return cmd.Args[len(cmd.Args)-1]
}

func (c *Client) createStream() error {
	res, err := c.call("createStream", 0, nil)
	if err != nil {
		return fmt.Errorf("createStream: %w", err)
	}
	id, ok := lastArg(res).(float64)
	if !ok {
		return errors.New("createStream: no stream id in the answer")
	}
	c.streamID = uint32(id)
	return nil
}

// awaitStatus reads until an onStatus with one of the codes (nil) or with
// level error (a *StatusError).
func (c *Client) awaitStatus(codes ...string) error {
	for {
		msg, err := c.readAny()
		if err != nil {
			return err
		}
		if msg.TypeID != chunk.TypeCommandAMF0 {
			continue
		}
		cmd, err := parseCommand(msg.StreamID, msg.Payload)
		if err != nil || cmd.Name != "onStatus" {
			continue
		}
		st := statusOf(cmd)
		info, _ := lastArg(cmd).(amf.Object)
		if level, _ := info["level"].(string); level == "error" {
			return st
		}
		for _, code := range codes {
			if st.Code == code {
				return nil
			}
		}
	}
}

// Play asks for the stream named in the URL and waits for Play.Start.
func (c *Client) Play(ctx context.Context) error {
	return c.withDeadline(ctx, func() error {
		if err := c.createStream(); err != nil {
			return err
		}
		if err := c.writeCommand(c.streamID, "play", 0, nil, c.stream, -2000.0); err != nil {
			return err
		}
		return c.awaitStatus("NetStream.Play.Start")
	})
}

// Publish announces the stream named in the URL and waits for Publish.Start.
func (c *Client) Publish(ctx context.Context) error {
	return c.withDeadline(ctx, func() error {
		if err := c.createStream(); err != nil {
			return err
		}
		if err := c.writeCommand(c.streamID, "publish", 0, nil, c.stream, "live"); err != nil {
			return err
		}
		if err := c.awaitStatus("NetStream.Publish.Start"); err != nil {
			return err
		}
		// A publisher still has to read: the server's acknowledgements and
		// pings would otherwise sit unread and turn a clean close into a reset.
		c.readerDone = make(chan struct{})
		go func() {
			defer close(c.readerDone)
			for {
				if _, err := c.readAny(); err != nil {
					return
				}
			}
		}()
		return nil
	})
}

// ReadMedia returns the next audio, video or data message. An onStatus
// error (the stream was refused or closed) comes back as a *StatusError.
func (c *Client) ReadMedia() (chunk.Message, error) {
	for {
		msg, err := c.readAny()
		if err != nil {
			return msg, err
		}
		switch msg.TypeID {
		case chunk.TypeAudio, chunk.TypeVideo, chunk.TypeDataAMF0:
			return msg, nil
		case chunk.TypeCommandAMF0:
			if cmd, err := parseCommand(msg.StreamID, msg.Payload); err == nil && cmd.Name == "onStatus" {
				if info, _ := lastArg(cmd).(amf.Object); info["level"] == "error" {
					return msg, statusOf(cmd)
				}
			}
		}
	}
}

// Pause asks the server to stop (true) or resume (false) the media of a
// stream being played. The answer (NetStream.Pause.Notify or
// NetStream.Unpause.Notify) comes among what ReadAny returns.
func (c *Client) Pause(on bool) error {
	return c.writeCommand(c.streamID, "pause", 0, nil, on, 0.0)
}

// ReadAny returns the next message of any kind, for clients that look at
// commands and control messages too (tests of the server's answers).
func (c *Client) ReadAny() (chunk.Message, error) { return c.readAny() }

// ParseStatus returns the code of an onStatus command message ("" for any
// other message).
func ParseStatus(msg chunk.Message) string {
	if msg.TypeID != chunk.TypeCommandAMF0 {
		return ""
	}
	cmd, err := parseCommand(msg.StreamID, msg.Payload)
	if err != nil || cmd.Name != "onStatus" {
		return ""
	}
	return statusOf(cmd).Code
}

// WriteMedia sends one audio, video or data message on the published stream.
func (c *Client) WriteMedia(typeID uint8, timestamp uint32, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = chunk.AppendMessage(c.wbuf[:0], chunk.CSIDForType(typeID), typeID, timestamp, c.streamID, payload, c.outChunkSize)
	_, err := c.nc.Write(c.wbuf)
	return err
}

// readAny reads the next message and handles protocol control on the way.
func (c *Client) readAny() (chunk.Message, error) {
	msg, err := c.cr.ReadMessage()
	if err != nil {
		return msg, err
	}
	switch msg.TypeID {
	case chunk.TypeSetChunkSize:
		if len(msg.Payload) >= 4 {
			err = c.cr.SetChunkSize(binary.BigEndian.Uint32(msg.Payload))
		}
	case chunk.TypeWindowAckSize:
		if len(msg.Payload) >= 4 {
			c.window = max(binary.BigEndian.Uint32(msg.Payload), 4096)
		}
	case chunk.TypeUserControl:
		if len(msg.Payload) >= 6 && binary.BigEndian.Uint16(msg.Payload) == eventPingRequest {
			err = c.writeMessage(chunk.CSIDProtocol, chunk.TypeUserControl, 0,
				append([]byte{0, eventPingResponse}, msg.Payload[2:6]...))
		}
	}
	if err == nil && c.cr.BytesRead-c.lastAck >= uint64(c.window) {
		c.lastAck = c.cr.BytesRead
		err = c.writeUint(chunk.TypeAck, uint32(c.cr.BytesRead))
	}
	return msg, err
}

func (c *Client) writeMessage(csid uint32, typeID uint8, streamID uint32, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = chunk.AppendMessage(c.wbuf[:0], csid, typeID, 0, streamID, payload, c.outChunkSize)
	_, err := c.nc.Write(c.wbuf)
	return err
}

func (c *Client) writeUint(typeID uint8, v uint32) error {
	return c.writeMessage(chunk.CSIDProtocol, typeID, 0, binary.BigEndian.AppendUint32(nil, v))
}

func (c *Client) writeCommand(streamID uint32, values ...any) error {
	return c.writeMessage(chunk.CSIDCommand, chunk.TypeCommandAMF0, streamID, amf.Append(nil, values...))
}
