package webrtc

import "time"

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
}

// Defaults for the zero fields of Config.
const (
	DefaultHandshakeTimeout  = 30 * time.Second
	DefaultDisconnectTimeout = 10 * time.Second
)

func (c Config) withDefaults() Config {
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.DisconnectTimeout <= 0 {
		c.DisconnectTimeout = DefaultDisconnectTimeout
	}
	return c
}
