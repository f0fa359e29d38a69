package webrtc

import (
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/pion/rtp/codecs"

	"streamedge/media/flv"
	"streamedge/media/hub"
)

// rtpMTU is the payload size packets are cut to: room for the RTP header,
// SRTP's tag and a header extension under a 1280-byte IPv6 minimum path.
const rtpMTU = 1200

// frame is one hub message turned into RTP payloads, shared by every player
// of the stream. Players never change it.
type frame struct {
	payloads [][]byte
	video    bool
	key      bool
	avc      *avcParams // for a sequence header: the parameters it set
	ptsMS    int64      // presentation time in ms: timestamp plus composition offset
	bframes  bool       // a composition offset: pictures out of order
}

// avcParams are the parameter sets of an AVC sequence header, which go in
// front of each keyframe so a player can start decoding at any keyframe.
type avcParams struct {
	sps, pps []byte
	lenSize  int
}

// cacheSize is how many messages a stream's packet cache remembers: a few
// seconds more than a player can lag before the hub skips it.
const cacheSize = 4096

// packetCache packetizes each message of one stream once, for all its
// players on this server. Entries are keyed by the hub's *Msg, which every
// player of the stream shares, and evicted in arrival order.
type packetCache struct {
	mu      sync.Mutex
	entries map[*hub.Msg]*frame
	order   [cacheSize]*hub.Msg
	next    int
	users   int // players holding the cache; guarded by the server's lock

	packetized uint64 // messages packetized, for tests and stats
	// bframes is set at the first picture with a composition offset.
	// Such a stream is passed through as it is: browsers play it, but may
	// stutter, and the log and the API say so.
	bframes atomic.Bool
	key     hub.Key
	log     *slog.Logger
}

func newPacketCache(key hub.Key, log *slog.Logger) *packetCache {
	return &packetCache{entries: make(map[*hub.Msg]*frame, cacheSize), key: key, log: log}
}

// frame returns the RTP form of m, packetizing it on first use. params are
// the AVC parameters the asking player has in force; nil for audio or when
// the player has seen no sequence header yet. It returns nil for a message
// that WebRTC cannot carry (AAC, metadata, other codecs).
func (c *packetCache) frame(m *hub.Msg, params *avcParams) *frame {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f, ok := c.entries[m]; ok {
		return f
	}
	f := packetize(m, params)
	if f != nil && f.bframes && !c.bframes.Swap(true) && c.log != nil {
		c.log.Warn("rtc stream has b-frames", "stream", c.key.String(), "advice", BFramesWarning)
	}
	if old := c.order[c.next]; old != nil {
		delete(c.entries, old)
	}
	c.order[c.next] = m
	c.next = (c.next + 1) % cacheSize
	c.entries[m] = f
	c.packetized++
	return f
}

// packetize cuts one message into RTP payloads.
func packetize(m *hub.Msg, params *avcParams) *frame {
	switch m.Type {
	case flv.TagAudio:
		pkt, ok := opusPacket(m.Payload)
		if !ok {
			return nil
		}
		// The hub keeps the payload immutable, so players can send a slice of it.
		return &frame{payloads: [][]byte{pkt}, ptsMS: int64(m.Timestamp)}
	case flv.TagVideo:
		return packetizeVideo(m, params)
	}
	return nil
}

func packetizeVideo(m *hub.Msg, params *avcParams) *frame {
	t, ok := parseVideoTag(m.Payload)
	if !ok {
		return nil
	}
	if t.seq {
		cfg, err := flv.ParseAVCConfig(m.Payload)
		if err != nil {
			return nil
		}
		return &frame{video: true, avc: &avcParams{sps: cfg.SPS, pps: cfg.PPS, lenSize: cfg.NALULengthSize}}
	}
	if params == nil {
		return nil // no decoder configuration yet: nothing a player could decode
	}
	f := &frame{video: true, key: m.Keyframe, ptsMS: int64(m.Timestamp) + int64(t.cts), bframes: t.cts != 0}
	var p codecs.H264Payloader
	if m.Keyframe {
		// The payloader keeps SPS and PPS and sends them as one STAP-A in
		// front of the next NAL unit.
		p.Payload(rtpMTU, params.sps)
		p.Payload(rtpMTU, params.pps)
	}
	err := eachNALU(t.data, params.lenSize, func(nalu []byte) {
		f.payloads = append(f.payloads, p.Payload(rtpMTU, nalu)...)
	})
	if err != nil || len(f.payloads) == 0 {
		return nil
	}
	return f
}
