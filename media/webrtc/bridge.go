package webrtc

import (
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"streamedge/media/flv"
	"streamedge/media/hub"
	"streamedge/media/transcode"
)

// bridge makes the WebRTC rendition of an RTMP (or HTTP-FLV, or relayed
// edge) stream on the worker that has it: video and metadata as they are,
// AAC through one transcoder into Opus. It runs while the rendition has
// players here or on other workers, and a linger after.
type bridge struct {
	srv *Server
	key hub.Key
	sub *hub.Subscriber
	pub *hub.Publisher
	log *slog.Logger

	tc      *transcode.Transcoder
	out     []transcode.Packet
	bframes atomic.Bool
	done    chan struct{}
}

// bridgeLinger is how long a rendition nobody plays is kept going: a
// player that reloads its page finds it running.
const bridgeLinger = 10 * time.Second

// StartBridge makes sure the WebRTC rendition of key is being made here.
// It returns once the rendition is published on the host (so another
// worker's player can relay it at once), or ErrNoTranscode when there
// will be none.
func (s *Server) StartBridge(key hub.Key) error {
	if !transcode.Built() || !s.rtmpToRTC(key.Vhost) || IsRTCKey(key) {
		return ErrNoTranscode
	}
	s.mu.Lock()
	if s.closed || s.pubs[key] != nil {
		s.mu.Unlock()
		return ErrNoTranscode // a WHIP publish makes its own rendition
	}
	if b := s.bridges[key]; b != nil {
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	sub, err := s.hub.Subscribe(key, true)
	if err != nil {
		return err
	}
	pub, err := s.hub.PublishRendition(RTCKey(key))
	if err != nil {
		sub.Close()
		if errors.Is(err, hub.ErrStreamBusy) {
			return nil // made already: by a bridge that started meanwhile, or a WHIP publish
		}
		return err
	}
	b := &bridge{srv: s, key: key, sub: sub, pub: pub, log: s.log.With("stream", key.String()), done: make(chan struct{})}
	s.mu.Lock()
	if s.closed || s.bridges[key] != nil {
		s.mu.Unlock()
		pub.Close()
		sub.Close()
		return nil
	}
	s.bridges[key] = b
	s.mu.Unlock()
	s.Stats.Bridges.Add(1)
	s.wg.Go(b.run)
	return nil
}

func (b *bridge) run() {
	reason := "idle"
	defer func() {
		if b.tc != nil {
			b.tc.Close()
		}
		b.pub.Close()
		b.sub.Close()
		b.srv.mu.Lock()
		if b.srv.bridges[b.key] == b {
			delete(b.srv.bridges, b.key)
		}
		b.srv.mu.Unlock()
		b.srv.Stats.Bridges.Add(-1)
		b.log.Info("rtc bridge end", "reason", reason)
	}()
	b.log.Info("rtc bridge start")
	tick := time.NewTicker(bridgeLinger / 2)
	defer tick.Stop()
	idle := 0
	var batch []*hub.Msg
	for {
		var wait <-chan struct{}
		var err error
		batch, wait, err = b.sub.Fetch(batch[:0])
		if err != nil {
			reason = err.Error()
			return
		}
		for _, m := range batch {
			if err := b.write(m); err != nil {
				reason = err.Error()
				return
			}
		}
		clear(batch)
		if len(batch) > 0 {
			continue
		}
		select {
		case <-wait:
		case <-b.srv.done:
			reason = "server closed"
			return
		case <-tick.C:
			// Players of the rendition, here and relays to other workers.
			if info := b.pub.Stream().Info(); info.Players+info.RelaysOut == 0 {
				if idle++; idle >= 2 {
					return
				}
			} else {
				idle = 0
			}
		}
	}
}

// write passes one message of the stream on to the rendition.
func (b *bridge) write(m *hub.Msg) error {
	switch m.Type {
	case flv.TagVideo:
		if t, ok := parseVideoTag(m.Payload); ok && t.cts != 0 {
			b.bframes.Store(true) // for the API; the players' packet caches log it
		}
		return b.pub.Write(m.Type, m.Timestamp, m.Payload)
	case flv.TagAudio:
		return b.audio(m)
	default:
		return b.pub.Write(m.Type, m.Timestamp, m.Payload)
	}
}

func (b *bridge) audio(m *hub.Msg) error {
	if _, ok := opusPacket(m.Payload); ok || (flv.AudioCodecID(m.Payload) == flv.AudioCodecExHeader) {
		return b.pub.Write(m.Type, m.Timestamp, m.Payload) // Opus already
	}
	if asc, ok := aacConfig(m.Payload); ok {
		if b.tc != nil {
			b.tc.Close()
			b.tc = nil
		}
		tc, err := transcode.New(transcode.Params{From: transcode.AAC, Config: asc, To: transcode.Opus, OutRate: 48000, OutChannels: 2})
		if err != nil {
			b.log.Warn("rtc aac not transcoded", "err", err)
			return nil
		}
		b.tc = tc
		return b.pub.Write(flv.TagAudio, m.Timestamp, opusSequenceTag(2))
	}
	frame, ok := aacFrame(m.Payload)
	if !ok || b.tc == nil {
		return nil
	}
	var err error
	b.out, err = b.tc.Transcode(frame, int64(m.Timestamp), b.out[:0])
	if err != nil {
		b.srv.Stats.AudioDropped.Add(1)
	}
	for _, p := range b.out {
		if err := b.pub.Write(flv.TagAudio, uint32(p.MS), opusFrameTag(p.Data)); err != nil {
			return err
		}
	}
	return nil
}
