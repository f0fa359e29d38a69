package rtmp

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"streamedge/media/access"
	"streamedge/media/connlog"
	"streamedge/media/hub"
	"streamedge/media/rtmp/amf"
	"streamedge/media/rtmp/chunk"
)

// command is a decoded AMF0 command: name, transaction id, command object
// and the arguments after it.
type command struct {
	Name     string
	TxID     float64
	Object   amf.Object
	Args     []any
	StreamID uint32
}

// replyLimits bound what a server's replies to our client may cost. Looser
// than a client's commands: an origin's onStatus may carry a long
// description (the client clips it), and a server is one we chose to dial.
var replyLimits = amf.Limits{MaxCost: 256 << 10, MaxString: 64 << 10}

func parseCommand(streamID uint32, payload []byte, lim amf.Limits) (command, error) {
	vals, err := amf.Decode(payload, lim)
	if err != nil {
		return command{}, fmt.Errorf("bad command: %w", err)
	}
	cmd := command{StreamID: streamID}
	if len(vals) < 1 {
		return cmd, errors.New("empty command")
	}
	var ok bool
	if cmd.Name, ok = vals[0].(string); !ok {
		return cmd, fmt.Errorf("command name is %T, not a string", vals[0])
	}
	if len(vals) > 1 {
		cmd.TxID, _ = vals[1].(float64)
	}
	if len(vals) > 2 {
		cmd.Object, _ = vals[2].(amf.Object)
	}
	if len(vals) > 3 {
		cmd.Args = vals[3:]
	}
	return cmd, nil
}

// stringArg returns argument i when it is a string.
func (cmd command) stringArg(i int) string {
	if i < len(cmd.Args) {
		s, _ := cmd.Args[i].(string)
		return s
	}
	return ""
}

func (c *conn) handleCommand(streamID uint32, payload []byte) error {
	cmd, err := parseCommand(streamID, payload, amf.CommandLimits)
	if err != nil {
		return err
	}
	if cmd.Name != "connect" && !c.connected {
		return fmt.Errorf("%q before connect", connlog.Clip(cmd.Name))
	}
	switch cmd.Name {
	case "connect":
		return c.onConnect(cmd)
	case "createStream":
		id := c.nextStreamID
		c.nextStreamID++
		return c.writeCommand(0, "_result", cmd.TxID, nil, id)
	case "releaseStream", "FCPublish":
		return c.writeCommand(0, "_result", cmd.TxID, nil, nil)
	case "publish":
		return c.onPublish(cmd)
	case "play":
		return c.onPlay(cmd)
	case "FCUnpublish", "deleteStream", "closeStream":
		return c.onCloseStream(cmd)
	case "pause", "pauseRaw":
		return c.onPause(cmd)
	}
	return nil // getStreamLength, _checkbw, ...: nothing to answer on a live server
}

func (c *conn) onConnect(cmd command) error {
	if c.connected {
		return errors.New("second connect on one connection")
	}
	app, _ := cmd.Object["app"].(string)
	tcURL, _ := cmd.Object["tcUrl"].(string)
	target, err := parseConnect(app, tcURL)
	if err != nil {
		c.writeCommand(0, "_error", cmd.TxID, nil, status("error", "NetConnection.Connect.Rejected", err.Error()))
		return fmt.Errorf("connect rejected: %w", err)
	}
	if r := c.srv.refusal(c, app, tcURL, cmd.Object); r != nil {
		c.reject(cmd.TxID, r)
		return fmt.Errorf("connect refused: %s", r.Reason)
	}
	c.target, c.tcURL = target, tcURL
	c.upnode = upnode(cmd.Object)
	c.pageURL, _ = cmd.Object["pageUrl"].(string)
	if err := c.authorize(access.Connect, hub.Key{}, ""); err != nil {
		c.writeCommand(0, "_error", cmd.TxID, nil, status("error", "NetConnection.Connect.Rejected", deniedText(err)))
		return fmt.Errorf("connect refused: %w", err)
	}
	c.connected = true
	c.log = c.log.With("app", target.App)
	encoding, _ := cmd.Object["objectEncoding"].(float64)
	if err := c.writeUint32(chunk.TypeWindowAckSize, ackWindow); err != nil {
		return err
	}
	if err := c.writeUint32(chunk.TypeSetPeerBandwidth, peerBandwidth, 2); err != nil {
		return err
	}
	if err := c.writeUint32(chunk.TypeSetChunkSize, uint32(c.cfg.ChunkSize)); err != nil {
		return err
	}
	c.outChunkSize = c.cfg.ChunkSize
	props := []amf.Property{{Key: "fmsVer", Value: "FMS/3,5,3,888"}, {Key: "capabilities", Value: 127.0}, {Key: "mode", Value: 1.0}}
	info := append(status("status", "NetConnection.Connect.Success", "Connection succeeded."),
		amf.Property{Key: "objectEncoding", Value: encoding})
	if err := c.writeCommand(0, "_result", cmd.TxID, props, info); err != nil {
		return err
	}
	// Flash and librtmp clients wait for the bandwidth check to end before
	// they go on (nginx-rtmp and SRS send it too).
	return c.writeCommand(0, "onBWDone", 0, nil)
}

// status builds an onStatus / _error info object.
func status(level, code, description string) []amf.Property {
	return []amf.Property{{Key: "level", Value: level}, {Key: "code", Value: code}, {Key: "description", Value: description}}
}

func (c *conn) writeCommand(streamID uint32, values ...any) error {
	return c.writeMessage(chunk.CSIDCommand, chunk.TypeCommandAMF0, streamID, amf.Append(nil, values...))
}

func (c *conn) writeStatus(streamID uint32, level, code, description string) error {
	return c.writeCommand(streamID, "onStatus", 0, nil, status(level, code, description))
}

func (c *conn) onPublish(cmd command) error {
	if c.publisher != nil || c.play != nil {
		return errors.New("publish on a connection that already publishes or plays")
	}
	key, err := streamKey(c.target, cmd.stringArg(0))
	if err != nil {
		c.writeStatus(cmd.StreamID, "error", "NetStream.Publish.BadName", err.Error())
		return fmt.Errorf("publish refused: %w", err)
	}
	if err := c.authorize(access.Publish, key, cmd.stringArg(0)); err != nil {
		c.writeStatus(cmd.StreamID, "error", "NetStream.Publish.Unauthorized", deniedText(err))
		return fmt.Errorf("publish refused: %w", err)
	}
	pub, err := c.srv.hub.Publish(key)
	if err != nil {
		desc := fmt.Sprintf("stream %s: %v", key.App+"/"+key.Name, err)
		c.writeStatus(cmd.StreamID, "error", "NetStream.Publish.BadName", desc)
		c.log = c.log.With("stream", key.String())
		return fmt.Errorf("publish refused: %w", err)
	}
	c.publisher, c.pubStreamID = pub, cmd.StreamID
	c.setState(connlog.Publishing)
	c.cr.SetMaxMessage(c.cfg.MaxMessageSize) // a publisher sends media: keyframes may be large
	c.gated = c.request(access.Publish, key, cmd.stringArg(0))
	c.session.Store(&sessionMeta{kind: "rtmp_publish", stream: key.String(), pub: pub})
	c.srv.Stats.Publishers.Add(1)
	c.log = c.log.With("stream", key.String())
	c.log.Info("rtmp publish start")
	c.nc.SetDeadline(time.Time{})
	if err := c.writeCommand(cmd.StreamID, "onFCPublish", 0, nil, status("status", "NetStream.Publish.Start", "Started publishing stream.")); err != nil {
		return err
	}
	return c.writeStatus(cmd.StreamID, "status", "NetStream.Publish.Start", "Started publishing stream.")
}

func (c *conn) onPlay(cmd command) error {
	if c.publisher != nil || c.play != nil {
		return errors.New("play on a connection that already publishes or plays")
	}
	key, err := streamKey(c.target, cmd.stringArg(0))
	if err != nil {
		c.writeStatus(cmd.StreamID, "error", "NetStream.Play.StreamNotFound", err.Error())
		return fmt.Errorf("play refused: %w", err)
	}
	if err := c.authorize(access.Play, key, cmd.stringArg(0)); err != nil {
		c.writeStatus(cmd.StreamID, "error", "NetStream.Play.Unauthorized", deniedText(err))
		return fmt.Errorf("play refused: %w", err)
	}
	if r := c.srv.playRefusal(c, key); r != nil {
		c.rejectPlay(cmd.StreamID, r)
		c.log = c.log.With("stream", key.String())
		return fmt.Errorf("play refused: %s", r.Reason)
	}
	subscribe := func(k hub.Key) (*hub.Subscriber, error) {
		sub, err := c.srv.hub.Subscribe(k, false)
		if err == nil {
			sub.MetadataAtZero() // for ffmpeg, which reads it as metadata only at 0
		}
		return sub, err
	}
	if c.relay {
		subscribe = c.srv.hub.SubscribeRelay
	}
	sub, err := subscribe(key)
	if err != nil {
		code := "NetStream.Play.Failed"
		if errors.Is(err, hub.ErrNotPublished) || errors.Is(err, hub.ErrUpstream) {
			code = CodeStreamNotFound // an edge whose origins do not have it, or failed
		}
		c.writeStatus(cmd.StreamID, "error", code, err.Error())
		return fmt.Errorf("play refused: %w", err)
	}
	c.log = c.log.With("stream", key.String())
	c.nc.SetDeadline(time.Time{})
	// Play.Start must come before any metadata or media.
	if err := c.writeUserControl(eventStreamBegin, cmd.StreamID); err != nil {
		sub.Close()
		return err
	}
	c.writeStatus(cmd.StreamID, "status", "NetStream.Play.Reset", "Playing and resetting stream.")
	if err := c.writeStatus(cmd.StreamID, "status", "NetStream.Play.Start", "Started playing stream."); err != nil {
		sub.Close()
		return err
	}
	if !c.relay {
		// Flash asks for it to let a page read the media; it belongs to this
		// connection, not to the stream, so a relay must not get (and
		// forward) it: players on its worker would see it twice.
		c.writeMessage(chunk.CSIDData, chunk.TypeDataAMF0, cmd.StreamID, amf.Append(nil, "|RtmpSampleAccess", true, true))
	}
	kind := "rtmp_play"
	if c.relay {
		kind = "relay_out"
	}
	c.session.Store(&sessionMeta{kind: kind, stream: key.String(), sub: sub, streamID: cmd.StreamID})
	c.setState(connlog.Playing)
	c.gated = c.request(access.Play, key, cmd.stringArg(0))
	c.play = startPlayer(c, sub, cmd.StreamID)
	return nil
}

func (c *conn) onCloseStream(cmd command) error {
	if c.publisher != nil && (cmd.Name == "FCUnpublish" || cmd.StreamID == c.pubStreamID || cmd.Name == "deleteStream") {
		return errClientClosed
	}
	if c.play != nil && cmd.Name != "FCUnpublish" {
		return errClientClosed
	}
	return nil
}

// onPause stops or resumes a player's media (pause flag true or false, then
// the stream time, which a live stream ignores), answering as SRS does.
func (c *conn) onPause(cmd command) error {
	if c.play == nil {
		return nil
	}
	on := true
	if len(cmd.Args) > 0 {
		on, _ = cmd.Args[0].(bool)
	}
	if on {
		c.play.sub.Pause(true)
		if err := c.writeStatus(cmd.StreamID, "status", "NetStream.Pause.Notify", "Paused stream."); err != nil {
			return err
		}
		return c.writeUserControl(eventStreamEOF, cmd.StreamID)
	}
	// The answer first, then the media: the stream's writer loop resumes the
	// player at once, and its headers and GOP must follow the answer.
	if err := c.writeStatus(cmd.StreamID, "status", "NetStream.Unpause.Notify", "Unpaused stream."); err != nil {
		return err
	}
	err := c.writeUserControl(eventStreamBegin, cmd.StreamID)
	c.play.sub.Pause(false)
	return err
}

// upnode is how an edge that pulls introduced itself in its connect
// (SRS's debug_srs_upnode properties), bounded: it is the client's text.
func upnode(obj amf.Object) string {
	host, _ := obj["srs_server_ip"].(string)
	pid, _ := obj["srs_pid"].(float64)
	if host == "" && pid == 0 {
		return ""
	}
	if len(host) > 100 {
		host = host[:100]
	}
	return fmt.Sprintf("%s pid %d", strings.ToValidUTF8(host, "?"), int64(pid))
}
