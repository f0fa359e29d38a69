package webrtc

import "errors"

// Errors the signalling answers with; each maps to one HTTP status.
var (
	// ErrBadOffer is an offer that is not a parsable SDP offer (400).
	ErrBadOffer = errors.New("offer is not a valid SDP offer")
	// ErrNoCodec is an offer without H.264 (packetization-mode 1) or Opus (400).
	ErrNoCodec = errors.New("offer has no usable codec: H.264 video or Opus audio")
	// ErrBadStream is a missing or invalid app or stream name (400).
	ErrBadStream = errors.New("missing or invalid app/stream name")
	// ErrNoSession is a resource URL that names no live session (404).
	ErrNoSession = errors.New("no such session")
	// ErrClosed is a server that has stopped taking sessions (503).
	ErrClosed = errors.New("webrtc server is closed")
	// ErrHandshakeTimeout ends a session that never finished ICE and DTLS.
	ErrHandshakeTimeout = errors.New("ICE/DTLS did not complete in time")
)
