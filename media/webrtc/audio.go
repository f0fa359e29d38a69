package webrtc

import (
	"errors"

	"streamedge/media/flv"
	"streamedge/media/hub"
	"streamedge/media/transcode"
)

// RTCSuffix names a stream's WebRTC rendition: "live/cam@rtc" is "live/cam"
// with its AAC turned into Opus (an RTMP publish) or with the publisher's
// own Opus (a WHIP publish, whose main stream carries AAC for RTMP). WHEP
// players play the rendition when there is one. It is a stream of the hub
// like any other, so the relays of other workers carry it, and its one
// transcoder serves every WebRTC player of the host.
// The hub reserves the suffix: clients cannot publish such a name.
const RTCSuffix = hub.RenditionSuffix

// RTCKey is the key of k's WebRTC rendition.
func RTCKey(k hub.Key) hub.Key { return hub.Key{Vhost: k.Vhost, App: k.App, Name: k.Name + RTCSuffix} }

// IsRTCKey reports whether k names a WebRTC rendition.
func IsRTCKey(k hub.Key) bool { return hub.IsRendition(k) }

// Audio notes, for the log and the API.
const (
	AudioOpus       = "opus"      // the publisher's own Opus
	AudioTranscoded = "aac->opus" // the rendition's transcoder
	AudioToAAC      = "opus->aac" // a WHIP publish, for RTMP players
	AudioNotBuilt   = "video only: audio transcoding is not built (cgo/libavcodec)"
	AudioOff        = "video only: rtc.rtmp_to_rtc is off for this vhost"
	BFramesWarning  = "the stream has B-frames: browsers may stutter; publish with ffmpeg -bf 0 (OBS: B-frames 0)"
)

// ErrNoTranscode is a rendition that will not be made: the codec library
// is not built, the vhost has transcoding off, or the stream needs none.
var ErrNoTranscode = errors.New("no WebRTC rendition for this stream")

// aacConfig returns the AudioSpecificConfig of an AAC sequence header.
func aacConfig(b []byte) ([]byte, bool) {
	if len(b) < 4 || flv.AudioCodecID(b) != flv.AudioCodecAAC || b[1] != 0 {
		return nil, false
	}
	return b[2:], true
}

// aacFrame returns the raw AAC frame of an audio tag.
func aacFrame(b []byte) ([]byte, bool) {
	if len(b) < 3 || flv.AudioCodecID(b) != flv.AudioCodecAAC || b[1] != 1 {
		return nil, false
	}
	return b[2:], true
}

// aacTag is an FLV AAC audio tag: 44 kHz, 16-bit, stereo flags (FLV says
// they are ignored for AAC), then the packet type.
func aacTag(packetType byte, body []byte) []byte {
	b := make([]byte, 0, 2+len(body))
	b = append(b, flv.AudioCodecAAC<<4|0x0f, packetType)
	return append(b, body...)
}

// opusToAAC turns a WHIP publisher's Opus into AAC tags for RTMP players.
type opusToAAC struct {
	tc  *transcode.Transcoder
	out []transcode.Packet
	seq bool
}

func newOpusToAAC(channels int) (*opusToAAC, error) {
	if channels <= 0 {
		channels = 2
	}
	tc, err := transcode.New(transcode.Params{From: transcode.Opus, Config: opusHead(channels), InRate: 48000, InChannels: channels,
		To: transcode.AAC, OutRate: 48000, OutChannels: 2})
	if err != nil {
		return nil, err
	}
	return &opusToAAC{tc: tc}, nil
}

// tags returns the FLV audio tags (the sequence header first) for one
// Opus packet at ms; a packet the decoder refuses gives none.
func (a *opusToAAC) tags(packet []byte, ms int64, emit func(ts uint32, body []byte) error) error {
	var err error
	a.out, err = a.tc.Transcode(packet, ms, a.out[:0])
	if err != nil && len(a.out) == 0 {
		return nil // dropped: counted in the transcoder
	}
	for _, p := range a.out {
		if !a.seq {
			a.seq = true
			if err := emit(uint32(p.MS), aacTag(0, a.tc.Config())); err != nil {
				return err
			}
		}
		if err := emit(uint32(p.MS), aacTag(1, p.Data)); err != nil {
			return err
		}
	}
	return nil
}

func (a *opusToAAC) close() { a.tc.Close() }
