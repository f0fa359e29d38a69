package rtmp

import (
	"errors"
	"fmt"

	"streamedge/media/flv"
	"streamedge/media/rtmp/chunk"
)

func (c *conn) handleMedia(typeID uint8, timestamp uint32, payload []byte) error {
	if c.publisher == nil {
		return nil // media from a player: ignore, as other servers do
	}
	if len(payload) == 0 {
		return nil // some encoders send empty audio messages
	}
	if err := c.publisher.Write(typeID, timestamp, payload); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	return nil
}

// setDataFrame is the AMF0 string "@setDataFrame" that publishers put before
// onMetaData; players expect the metadata without it.
const setDataFrame = "\x02\x00\x0d@setDataFrame"

func (c *conn) handleData(msg chunk.Message) error {
	p := msg.Payload
	if msg.TypeID == chunk.TypeDataAMF3 && len(p) > 0 {
		p = p[1:]
	}
	if len(p) >= len(setDataFrame) && string(p[:len(setDataFrame)]) == setDataFrame {
		p = p[len(setDataFrame):]
	}
	return c.handleMedia(flv.TagScript, msg.Timestamp, p)
}

// handleAggregate splits an aggregate message: FLV tags back to back, whose
// timestamps are relative to the aggregate's own. The back pointers are not
// checked: muxers disagree on them.
func (c *conn) handleAggregate(msg chunk.Message) error {
	p := msg.Payload
	var base uint32
	for first := true; len(p) > 0; first = false {
		if len(p) < flv.TagHeaderSize {
			return errors.New("truncated aggregate message")
		}
		typeID := p[0]
		size := int(p[1])<<16 | int(p[2])<<8 | int(p[3])
		ts := uint32(p[4])<<16 | uint32(p[5])<<8 | uint32(p[6]) | uint32(p[7])<<24
		if len(p) < flv.TagHeaderSize+size+4 {
			return errors.New("truncated aggregate message")
		}
		if first {
			base = ts
		}
		body := p[flv.TagHeaderSize : flv.TagHeaderSize+size]
		stamp := msg.Timestamp + ts - base
		var err error
		if typeID == flv.TagScript {
			err = c.handleData(chunk.Message{TypeID: chunk.TypeDataAMF0, Timestamp: stamp, Payload: body})
		} else if typeID == flv.TagAudio || typeID == flv.TagVideo {
			err = c.handleMedia(typeID, stamp, body)
		}
		if err != nil {
			return err
		}
		p = p[flv.TagHeaderSize+size+4:]
	}
	return nil
}

func (c *conn) endPublish(reason error) {
	c.publisher.Close()
	c.srv.Stats.Publishers.Add(-1)
	info := c.publisher.Stream().Info()
	c.log.Info("rtmp publish end", "reason", reason.Error(), "bytes_in", info.BytesIn, "messages", info.MsgsIn)
	c.publisher = nil
}
