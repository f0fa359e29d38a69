package webrtc

import (
	"time"

	"streamedge/media/hub"
)

// Config is what a Server needs to know besides its hub and socket.
type Config struct {
	// Slot is the worker slot, carried in every session id so that a PATCH
	// or DELETE landing on another worker can be sent to its owner.
	Slot int
	// Candidates are the IP addresses announced in answers (the host's, or
	// a public address behind 1:1 NAT, as SRS's `candidate`). Empty: the
	// socket's own address, or every non-loopback interface address when
	// the socket is bound to 0.0.0.0.
	Candidates []string
	// HandshakeTimeout closes a session whose ICE and DTLS have not
	// completed by then.
	HandshakeTimeout time.Duration
	// DisconnectTimeout closes a session whose ICE has gone quiet.
	DisconnectTimeout time.Duration
	// KeyframeInterval is how often a WHIP publisher is asked for a
	// keyframe whether a player asked or not (SRS's pli_for_rtmp).
	// Browsers send one only on request, so without it the GOP cache would
	// hold everything since the publish began, and a player on another
	// worker, whose picture loss cannot reach the publisher, would wait for
	// a keyframe after any loss until the next one.
	// 0 takes the default; negative never asks.
	KeyframeInterval time.Duration
	// AskKeyframe passes a player's keyframe request on to the publisher of
	// key when it is not a WHIP session of this server (another worker's);
	// nil drops such requests. It is called on a goroutine of its own, at
	// most every 500 ms per stream, and must return within seconds.
	AskKeyframe func(key hub.Key)
	// Transcode says, per vhost, whether RTMP streams get an Opus
	// rendition for WHEP players and WHIP publishes an AAC one for RTMP
	// players (SRS's rtmp_to_rtc, rtc_to_rtmp); nil: both. It is asked at
	// each session, so a reload applies to the next.
	Transcode func(vhost string) (rtmpToRTC, rtcToRTMP bool)
	// Bridge starts key's rendition where key is published on the host
	// (Server.StartBridge on that worker) and returns once the rendition
	// is published, or ErrNoTranscode. nil: Server.StartBridge here.
	Bridge func(key hub.Key) error
}

// Defaults for the zero fields of Config.
const (
	DefaultHandshakeTimeout  = 30 * time.Second
	DefaultDisconnectTimeout = 10 * time.Second
	DefaultKeyframeInterval  = 3 * time.Second
)

func (c Config) withDefaults() Config {
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.DisconnectTimeout <= 0 {
		c.DisconnectTimeout = DefaultDisconnectTimeout
	}
	if c.KeyframeInterval == 0 {
		c.KeyframeInterval = DefaultKeyframeInterval
	}
	return c
}
