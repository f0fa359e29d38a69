package webrtc

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"streamedge/media/hub"
)

// Session kinds, as the API lists them.
const (
	KindPublish = "rtc_publish"
	KindPlay    = "rtc_play"
)

// session is one PeerConnection: a WHIP publisher or a WHEP player.
type session struct {
	srv   *Server
	id    string
	kind  string
	key   hub.Key
	addr  string
	since time.Time
	pc    *webrtc.PeerConnection
	log   *slog.Logger

	connected atomic.Bool
	bytesIn   atomic.Uint64
	bytesOut  atomic.Uint64

	up     chan struct{} // closed when ICE and DTLS are up
	once   sync.Once
	done   chan struct{} // closed when the session ends
	reason error
	onEnd  func() // the role's own cleanup, run once when the session closes

	audioNote string // a player's audio source (Audio* constants); guarded by the server's lock
}

// newSessionID returns "{slot}-{32 hex}": the slot says which worker owns
// the session, the rest is unguessable, since it is the only credential
// for PATCH and DELETE.
func newSessionID(slot int) string {
	var b [16]byte
	rand.Read(b[:])
	return strconv.Itoa(slot) + "-" + hex.EncodeToString(b[:])
}

// SlotOf returns the worker slot a session id names.
func SlotOf(id string) (int, bool) {
	s, rest, ok := strings.Cut(id, "-")
	if !ok || len(rest) != 32 {
		return 0, false
	}
	slot, err := strconv.Atoi(s)
	return slot, err == nil && slot >= 0
}

// watch closes the session when its transport fails or never comes up.
func (s *session) watch(timeout time.Duration) {
	timer := time.AfterFunc(timeout, func() {
		if !s.connected.Load() {
			s.close(ErrHandshakeTimeout)
		}
	})
	s.pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateConnected:
			if !s.connected.Swap(true) {
				timer.Stop()
				close(s.up)
				s.log.Info("rtc session connected")
			}
		case webrtc.PeerConnectionStateFailed:
			timer.Stop()
			// Close from another goroutine: pion calls this with its own
			// locks held, and Close waits for them.
			go s.close(errTransportFailed)
		case webrtc.PeerConnectionStateClosed:
			timer.Stop()
			go s.close(errPeerClosed)
		}
	})
}

var (
	errTransportFailed = fmt.Errorf("ICE or DTLS failed")
	errPeerClosed      = fmt.Errorf("peer connection closed")
	errDeleted         = fmt.Errorf("deleted by the client")
	errServerClosed    = fmt.Errorf("server closed")
)

// close ends the session once, whatever asks first.
func (s *session) close(reason error) {
	s.once.Do(func() {
		s.reason = reason
		close(s.done)
		s.pc.Close()
		if s.onEnd != nil {
			s.onEnd()
		}
		s.srv.forget(s)
		s.log.Info("rtc session end", "reason", reason.Error(), "connected", s.connected.Load(),
			"bytes_in", s.bytesIn.Load(), "bytes_out", s.bytesOut.Load(), "duration", time.Since(s.since).Round(time.Millisecond).String())
	})
}

// received and sent count media bytes for the session and the server.
func (s *session) received(n int) {
	s.bytesIn.Add(uint64(n))
	s.srv.Stats.BytesIn.Add(uint64(n))
}

func (s *session) sent(n uint64) {
	s.bytesOut.Add(n)
	s.srv.Stats.BytesOut.Add(n)
}

func (s *session) info() hub.Session {
	return hub.Session{Kind: s.kind, Addr: s.addr, Stream: s.key.String(), Since: s.since, BytesSent: s.bytesOut.Load(), BytesIn: s.bytesIn.Load()}
}
