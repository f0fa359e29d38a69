package webrtc

import (
	"bytes"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"

	"streamedge/media/flv"
	"streamedge/media/hub"
)

// publisher is one WHIP session's receiving side: it turns the peer's RTP
// into FLV messages for the hub.
type publisher struct {
	ses   *session
	hub   *hub.Publisher
	rtc   *hub.Publisher // the WebRTC rendition, when RTMP players get AAC
	il    *interleave    // orders the stream's video and transcoded AAC
	start time.Time      // time zero of the stream's FLV timestamps

	mu        sync.Mutex
	videoSSRC webrtc.SSRC
	keyAsked  time.Time
}

// keyframeInterval bounds how often we ask a publisher for a keyframe.
const keyframeInterval = 500 * time.Millisecond

// requestKeyframe sends a PLI for the video track, at most once per
// keyframeInterval however many players or losses ask.
func (p *publisher) requestKeyframe() {
	p.mu.Lock()
	ssrc, now := p.videoSSRC, time.Now()
	if ssrc == 0 || now.Sub(p.keyAsked) < keyframeInterval {
		p.mu.Unlock()
		return
	}
	p.keyAsked = now
	p.mu.Unlock()
	p.ses.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(ssrc)}})
}

// onTrack starts reading a track the peer sends.
func (p *publisher) onTrack(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
	select {
	case <-p.ses.done:
		return // a late callback: the session and its goroutines are gone
	default:
	}
	mime := strings.ToLower(t.Codec().MimeType)
	p.ses.srv.wg.Go(func() { drainRTCP(r) })
	switch mime {
	case strings.ToLower(webrtc.MimeTypeH264):
		p.mu.Lock()
		p.videoSSRC = t.SSRC()
		p.mu.Unlock()
		p.ses.srv.wg.Go(func() { p.readVideo(t) })
		p.ses.srv.wg.Go(p.askKeyframes)
	case strings.ToLower(webrtc.MimeTypeOpus):
		p.ses.srv.wg.Go(func() { p.readAudio(t) })
	default:
		p.ses.log.Warn("rtc track ignored", "codec", mime)
	}
}

// askKeyframes asks for a keyframe every Config.KeyframeInterval until
// the session ends.
func (p *publisher) askKeyframes() {
	if p.ses.srv.cfg.KeyframeInterval < 0 {
		return
	}
	t := time.NewTicker(p.ses.srv.cfg.KeyframeInterval)
	defer t.Stop()
	for {
		select {
		case <-p.ses.done:
			return
		case <-t.C:
			p.requestKeyframe()
		}
	}
}

// drainRTCP reads the receiver's RTCP so the interceptors see it.
func drainRTCP(r *webrtc.RTPReceiver) {
	buf := make([]byte, 1500)
	for {
		if _, _, err := r.Read(buf); err != nil {
			return
		}
	}
}

// rtpClock turns a track's RTP timestamps into FLV milliseconds on the
// session's time line: the first packet lands at its arrival time since the
// publish began, later ones follow the RTP clock, unwrapped (the 32-bit
// timestamp wraps every 24.9 hours at 48 kHz, 13.3 at 90 kHz), so audio
// and video stay together to within their arrival skew.
type rtpClock struct {
	rate    int64
	started bool
	last    uint32
	ext     int64 // unwrapped timestamp relative to the first packet
	baseMS  int64
}

// ms is the time of a packet stamped ts, arrived (only the first
// packet's arrival counts) this long after the publish began.
func (c *rtpClock) ms(ts uint32, arrived time.Duration) uint32 {
	if !c.started {
		c.started, c.last = true, ts
		c.baseMS = arrived.Milliseconds()
	}
	c.ext += int64(int32(ts - c.last))
	c.last = ts
	return uint32(c.baseMS + c.ext*1000/c.rate)
}

// maxLatePackets is how far the sample builder waits for a late or
// retransmitted packet before it gives a picture up as lost.
const maxLatePackets = 512

// readVideo depacketizes H.264 into access units and writes them as FLV:
// a sequence header whenever SPS or PPS change, then coded pictures. After
// a loss it drops pictures until the next keyframe, asking for one, so
// players get fewer frames, never corrupt ones.
func (p *publisher) readVideo(t *webrtc.TrackRemote) {
	sb := samplebuilder.New(maxLatePackets, &codecs.H264Packet{IsAVC: true}, 90000, samplebuilder.WithMaxTimeDelay(time.Second))
	clock := rtpClock{rate: 90000}
	var sps, pps []byte
	haveConfig, broken := false, true
	var buf []byte
	for {
		pkt, _, err := t.ReadRTP()
		if err != nil {
			return
		}
		p.ses.received(len(pkt.Payload))
		sb.Push(pkt)
		for s := sb.Pop(); s != nil; s = sb.Pop() {
			if s.PrevDroppedPackets > 0 {
				broken = true
			}
			au, err := splitAU(s.Data, buf)
			if err != nil {
				broken = true
				continue
			}
			buf = au.avcc[:0]
			ts := clock.ms(s.PacketTimestamp, time.Since(p.start))
			if au.sps != nil && au.pps != nil && (!bytes.Equal(au.sps, sps) || !bytes.Equal(au.pps, pps)) {
				sps, pps, haveConfig = bytes.Clone(au.sps), bytes.Clone(au.pps), true
				if p.writeBoth(flv.TagVideo, ts, avcSequenceHeader(sps, pps)) != nil {
					return
				}
			}
			if au.key && haveConfig {
				broken = false
			}
			if broken || len(au.avcc) == 0 {
				p.requestKeyframe()
				continue
			}
			if p.writeBoth(flv.TagVideo, ts, avcFrameTag(au.avcc, au.key)) != nil {
				return
			}
		}
	}
}

// readAudio writes each Opus packet as an FLV audio tag, after one
// sequence start: into the stream, or, when the stream gets AAC for RTMP
// players, into the WebRTC rendition, with its AAC (sample-counted
// timestamps from the same clock) into the stream. Opus needs no
// reassembly; a packet that arrives after a newer one (a retransmission)
// is dropped, as a player would.
func (p *publisher) readAudio(t *webrtc.TrackRemote) {
	clock := rtpClock{rate: 48000}
	started := false
	var lastSeq uint16
	opusTo := p.write
	var aac *opusToAAC
	if p.rtc != nil {
		var err error
		if aac, err = newOpusToAAC(int(t.Codec().Channels)); err != nil {
			p.ses.log.Warn("rtc opus not transcoded: rtmp players get no audio", "err", err)
		} else {
			defer aac.close()
			opusTo = p.writeRTC
		}
	}
	emitAAC := func(ts uint32, body []byte) error { return p.toStream(flv.TagAudio, ts, body) }
	for {
		pkt, _, err := t.ReadRTP()
		if err != nil {
			return
		}
		p.ses.received(len(pkt.Payload))
		if len(pkt.Payload) == 0 || (started && int16(pkt.SequenceNumber-lastSeq) <= 0) {
			continue
		}
		ts := clock.ms(pkt.Timestamp, time.Since(p.start))
		if !started {
			started = true
			if opusTo(flv.TagAudio, ts, opusSequenceTag(int(t.Codec().Channels))) != nil {
				return
			}
		}
		lastSeq = pkt.SequenceNumber
		if opusTo(flv.TagAudio, ts, opusFrameTag(pkt.Payload)) != nil {
			return
		}
		if aac != nil && aac.tags(pkt.Payload, int64(ts), emitAAC) != nil {
			return
		}
	}
}

// writeBoth writes to the stream and its rendition.
func (p *publisher) writeBoth(typeID uint8, ts uint32, body []byte) error {
	if err := p.toStream(typeID, ts, body); err != nil {
		return err
	}
	return p.writeRTC(typeID, ts, body)
}

// writeRTC writes to the rendition (to the stream when there is none).
func (p *publisher) writeRTC(typeID uint8, ts uint32, body []byte) error {
	if p.rtc == nil {
		return nil
	}
	err := p.rtc.Write(typeID, ts, body)
	if err != nil {
		p.ses.close(err)
	}
	return err
}

// toStream writes to the stream, in timestamp order across its tracks
// when its audio is transcoded.
func (p *publisher) toStream(typeID uint8, ts uint32, body []byte) error {
	if p.il != nil {
		return p.il.put(typeID, ts, body)
	}
	return p.write(typeID, ts, body)
}

// write hands one message to the hub; an error (the hub closed, or the
// publish was taken away) ends the session.
func (p *publisher) write(typeID uint8, ts uint32, body []byte) error {
	err := p.hub.Write(typeID, ts, body)
	if err != nil {
		p.ses.close(err)
	}
	return err
}
