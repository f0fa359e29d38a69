package webrtc

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"streamedge/media/flv"
	"streamedge/media/hub"
)

// player is one WHEP session's sending side: it reads the stream from the
// hub, takes each message's shared RTP payloads from the stream's packet
// cache, and sends them with its own headers.
type player struct {
	ses   *session
	sub   *hub.Subscriber
	cache *packetCache
	video *track // nil when the player's offer had no usable video
	audio *track

	params   *avcParams // the AVC parameters in force for this player
	sentKey  bool       // a keyframe has gone out: inter frames may follow
	batch    []*hub.Msg
	keyAsked time.Time
}

// track is one outgoing RTP stream of a player: its own sequence numbers
// and timestamp base over the shared payloads.
type track struct {
	local  *webrtc.TrackLocalStaticRTP
	sender *webrtc.RTPSender
	clock  int64 // Hz
	base   uint32
	pkt    rtp.Packet
}

func newTrack(c webrtc.RTPCodecCapability, id string) (*track, error) {
	local, err := webrtc.NewTrackLocalStaticRTP(c, id, "streamedge")
	if err != nil {
		return nil, err
	}
	t := &track{local: local, clock: int64(c.ClockRate), base: rand.Uint32()}
	t.pkt.Version = 2
	t.pkt.SequenceNumber = uint16(rand.Uint32())
	return t, nil
}

// send writes one frame: the payloads are the cache's, only the header is
// this player's. The marker bit ends a video picture.
func (t *track) send(f *frame) (int, error) {
	ts := t.base + uint32(f.ptsMS*t.clock/1000)
	n := 0
	for i, payload := range f.payloads {
		t.pkt.Timestamp = ts
		t.pkt.Marker = !f.video || i == len(f.payloads)-1
		t.pkt.Payload = payload
		if err := t.local.WriteRTP(&t.pkt); err != nil {
			return n, err
		}
		t.pkt.SequenceNumber++
		n += len(payload)
	}
	return n, nil
}

// run feeds the player until the session ends. It waits for the transport
// first: packets written before DTLS is up would be lost, and the first of
// them is the keyframe the player must start on.
func (p *player) run() {
	defer p.sub.Close()
	select {
	case <-p.ses.up:
	case <-p.ses.done:
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-p.ses.done:
		case <-ctx.Done():
		}
		cancel()
	}()
	first := true
	for ctx.Err() == nil {
		batch, wait, err := p.sub.Fetch(p.batch[:0])
		if err != nil {
			p.ses.close(err)
			return
		}
		if first && len(batch) > 0 {
			first = false
			if !hasKeyframe(batch) {
				// The hub has no GOP to start us on: ask the publisher.
				p.askKeyframe()
			}
		}
		if len(batch) == 0 {
			select {
			case <-wait:
			case <-ctx.Done():
			}
			continue
		}
		if err := p.write(batch); err != nil {
			if !errors.Is(err, io.ErrClosedPipe) {
				p.ses.close(err)
			}
			return
		}
		clear(batch)
		p.batch = batch
	}
}

func hasKeyframe(batch []*hub.Msg) bool {
	for _, m := range batch {
		if m.Keyframe {
			return true
		}
	}
	return false
}

// write sends a batch of hub messages as RTP.
func (p *player) write(batch []*hub.Msg) error {
	var sent uint64
	for _, m := range batch {
		if (m.Type == flv.TagVideo && p.video == nil) || (m.Type == flv.TagAudio && p.audio == nil) || m.Type == flv.TagScript {
			continue
		}
		f := p.cache.frame(m, p.params)
		if f == nil {
			continue
		}
		if f.avc != nil {
			p.params = f.avc
			continue
		}
		t := p.audio
		if f.video {
			if !f.key && !p.sentKey {
				continue // a player cannot start on an inter frame
			}
			p.sentKey = true
			t = p.video
		}
		n, err := t.send(f)
		sent += uint64(n)
		if err != nil {
			return err
		}
	}
	p.sub.Sent.Add(sent)
	p.ses.sent(sent)
	return nil
}

// askKeyframe forwards a keyframe request to the stream's publisher when
// it is a WHIP session of this server; other publishers send keyframes on
// their own schedule (the GOP cache covers them).
func (p *player) askKeyframe() {
	if now := time.Now(); now.Sub(p.keyAsked) > time.Second {
		p.keyAsked = now
		p.ses.srv.requestKeyframe(p.ses.key)
	}
}

// readRTCP runs pion's interceptors over the player's RTCP (NACKs are
// answered there) and passes picture loss on to the publisher.
func (p *player) readRTCP(sender *webrtc.RTPSender) {
	buf := make([]byte, 1500)
	for {
		n, _, err := sender.Read(buf)
		if err != nil {
			return
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		for _, pkt := range pkts {
			switch pkt.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				p.ses.srv.requestKeyframe(p.ses.key)
			}
		}
	}
}
