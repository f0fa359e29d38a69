package webrtc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"streamedge/media/hub"
	"streamedge/media/transcode"
)

// Stats are the server's running counters.
type Stats struct {
	Publishers atomic.Int64
	Players    atomic.Int64
	// Garbage counts datagrams that were no WebRTC at all; Unrouted those
	// that looked like it but belonged to no session (a closed session's
	// late packets, a scanner's STUN). Neither is logged per packet.
	Garbage  atomic.Uint64
	Unrouted atomic.Uint64
	// PionWarnings counts pion's warnings and errors, which go to debug.
	PionWarnings atomic.Uint64
	// BytesIn and BytesOut are media payload bytes received from
	// publishers and sent to players, every session ever.
	BytesIn, BytesOut atomic.Uint64
	// Bridges are the AAC-to-Opus renditions made here (one transcoder
	// each); AudioDropped the audio packets their decoders refused.
	Bridges      atomic.Int64
	AudioDropped atomic.Uint64
}

// Server serves WHIP publishers and WHEP players of one hub over one UDP
// socket. Publish, Play, Patch and Delete may be called from any goroutine
// while Run runs.
type Server struct {
	hub   *hub.Hub
	log   *slog.Logger
	cfg   Config
	api   atomic.Pointer[webrtc.API] // replaced by SetCandidates
	logs  pionLogs
	mux   *ice.UDPMuxDefault
	Stats Stats

	mu       sync.Mutex
	sessions map[string]*session
	caches   map[hub.Key]*packetCache
	pubs     map[hub.Key]*publisher
	asked    map[hub.Key]time.Time // keyframe requests passed on (Config.AskKeyframe)
	bridges  map[hub.Key]*bridge
	closed   bool
	done     chan struct{}  // closed by Close
	idle     chan struct{}  // closed when the last session ends (Idle)
	wg       sync.WaitGroup // session goroutines
}

// New returns a server for the hub h on the UDP socket conn, which the
// server owns from now on (Run closes it).
func New(h *hub.Hub, conn net.PacketConn, cfg Config, log *slog.Logger) (*Server, error) {
	cfg = cfg.withDefaults()
	s := &Server{hub: h, log: log, cfg: cfg, sessions: make(map[string]*session),
		caches: make(map[hub.Key]*packetCache), pubs: make(map[hub.Key]*publisher), asked: make(map[hub.Key]time.Time),
		bridges: make(map[hub.Key]*bridge), done: make(chan struct{})}
	fc, err := newFilterConn(conn, &s.Stats.Garbage)
	if err != nil {
		return nil, err
	}
	s.logs = pionLogs{log: log, warnings: &s.Stats.PionWarnings}
	s.mux = ice.NewUDPMuxDefault(ice.UDPMuxParams{
		UDPConn: fc, Logger: s.logs.NewLogger("udpmux"),
		OnUnhandledPacket: func([]byte, netip.AddrPort) { s.Stats.Unrouted.Add(1) },
	})
	api, err := newAPI(s.mux, fc.LocalAddr(), cfg, s.logs)
	if err != nil {
		s.mux.Close()
		return nil, err
	}
	s.api.Store(api)
	return s, nil
}

// SetCandidates changes the addresses announced to sessions that start from
// now on (a reload of rtc.candidates); running sessions keep theirs. It
// reports whether they changed.
func (s *Server) SetCandidates(candidates []string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if slices.Equal(candidates, s.cfg.Candidates) {
		return false, nil
	}
	cfg := s.cfg
	cfg.Candidates = slices.Clone(candidates)
	api, err := newAPI(s.mux, s.mux.LocalAddr(), cfg, s.logs)
	if err != nil {
		return false, err
	}
	s.cfg.Candidates = cfg.Candidates // the other fields never change: readers take no lock
	s.api.Store(api)
	return true, nil
}

// Addr is the UDP address the server receives on.
func (s *Server) Addr() net.Addr { return s.mux.LocalAddr() }

// noiseInterval is how often Run summarises the traffic it dropped.
const noiseInterval = time.Minute

// Run serves until ctx ends, then closes every session and the socket and
// returns once the sessions' goroutines are done.
func (s *Server) Run(ctx context.Context) error {
	tick := time.NewTicker(noiseInterval)
	defer tick.Stop()
	var seen [3]uint64
	for {
		select {
		case <-ctx.Done():
			s.Close()
			return nil
		case <-tick.C:
			now := [3]uint64{s.Stats.Garbage.Load(), s.Stats.Unrouted.Load(), s.Stats.PionWarnings.Load()}
			if now != seen {
				s.log.Info("rtc dropped traffic", "garbage", now[0]-seen[0], "unrouted", now[1]-seen[1], "pion_warnings", now[2]-seen[2])
				seen = now
			}
		}
	}
}

// Close ends every session and closes the socket; later offers are refused.
func (s *Server) Close() {
	s.mu.Lock()
	if !s.closed {
		close(s.done)
	}
	s.closed = true
	list := make([]*session, 0, len(s.sessions))
	for _, ses := range s.sessions {
		list = append(list, ses)
	}
	s.mu.Unlock()
	for _, ses := range list {
		ses.close(errServerClosed)
	}
	s.wg.Wait()
	s.mux.Close()
}

// Sessions lists the WebRTC sessions for the API.
func (s *Server) Sessions() []hub.Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := make([]hub.Session, 0, len(s.sessions))
	for _, ses := range s.sessions {
		list = append(list, ses.info())
	}
	return list
}

// Count is the number of open sessions.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// newSession makes a PeerConnection and registers it, unless the server
// is closed.
func (s *Server) newSession(kind string, key hub.Key, addr string) (*session, error) {
	pc, err := s.api.Load().NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("new peer connection: %w", err)
	}
	ses := &session{srv: s, id: newSessionID(s.cfg.Slot), kind: kind, key: key, addr: addr, since: time.Now(), pc: pc,
		up: make(chan struct{}), done: make(chan struct{})}
	ses.log = s.log.With("client", addr, "stream", key.String(), "session", ses.id, "kind", kind)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		pc.Close()
		return nil, ErrClosed
	}
	s.sessions[ses.id] = ses
	s.wg.Add(1) // done in forget
	return ses, nil
}

// forget drops a closed session from the table.
func (s *Server) forget(ses *session) {
	s.mu.Lock()
	delete(s.sessions, ses.id)
	if len(s.sessions) == 0 && s.idle != nil {
		close(s.idle)
		s.idle = nil
	}
	s.mu.Unlock()
	s.wg.Done()
}

// Idle returns a channel that is closed once the server has no sessions,
// at once when it has none now: a draining worker waits on it.
func (s *Server) Idle() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sessions) == 0 {
		c := make(chan struct{})
		close(c)
		return c
	}
	if s.idle == nil {
		s.idle = make(chan struct{})
	}
	return s.idle
}

// negotiate answers offer on the session's PeerConnection, with every
// candidate in the answer (no trickle from our side: with one UDP port per
// worker, gathering is immediate).
func (s *Server) negotiate(ses *session, offer string) (string, error) {
	if err := ses.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	answer, err := ses.pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNoCodec, err)
	}
	gathered := webrtc.GatheringCompletePromise(ses.pc)
	if err := ses.pc.SetLocalDescription(answer); err != nil {
		return "", fmt.Errorf("set local description: %w", err)
	}
	select {
	case <-gathered:
	case <-time.After(5 * time.Second):
		return "", errors.New("ICE gathering did not complete")
	}
	ses.watch(s.cfg.HandshakeTimeout)
	return ses.pc.LocalDescription().SDP, nil
}

// Publish answers a WHIP offer: the peer becomes the publisher of key. It
// fails with hub.ErrStreamBusy when key is published anywhere on the host,
// and with hub.ErrReservedName for a rendition's name.
func (s *Server) Publish(offer string, key hub.Key, addr string) (answer, id string, err error) {
	media, err := inspectOffer(offer)
	if err != nil {
		return "", "", err
	}
	if !validKey(key) {
		return "", "", ErrBadStream
	}
	hp, err := s.hub.Publish(key)
	if err != nil {
		return "", "", err
	}
	ses, err := s.newSession(KindPublish, key, addr)
	if err != nil {
		hp.Close()
		return "", "", err
	}
	p := &publisher{ses: ses, hub: hp, start: time.Now()}
	if media.audio && s.rtcToRTMP(key.Vhost) && transcode.Built() {
		// RTMP players get AAC in the stream itself; WebRTC players the
		// publisher's Opus in the rendition.
		if p.rtc, err = s.hub.PublishRendition(RTCKey(key)); err != nil {
			ses.log.Warn("rtc rendition not published: rtmp players get no audio", "err", err)
			p.rtc = nil
		} else if media.video {
			p.il = &interleave{write: p.write}
		}
	}
	s.Stats.Publishers.Add(1)
	s.mu.Lock()
	s.pubs[key] = p
	s.mu.Unlock()
	ses.onEnd = func() {
		s.mu.Lock()
		if s.pubs[key] == p {
			delete(s.pubs, key)
		}
		s.mu.Unlock()
		hp.Close()
		if p.rtc != nil {
			p.rtc.Close()
		}
		if p.il != nil {
			if n := p.il.dropped(); n > 0 {
				ses.log.Info("rtc late aac dropped", "frames", n)
			}
		}
		s.Stats.Publishers.Add(-1)
	}
	ses.pc.OnTrack(p.onTrack)
	if answer, err = s.negotiate(ses, offer); err != nil {
		ses.close(err)
		return "", "", err
	}
	audio := AudioOpus
	switch {
	case !media.audio:
		audio = "none"
	case p.rtc != nil:
		audio = AudioToAAC
	case !transcode.Built():
		audio = "opus: rtmp players get video only, audio transcoding is not built"
	}
	ses.log.Info("rtc publish start", "video", media.video, "audio", audio)
	return answer, ses.id, nil
}

// Play answers a WHEP offer: the peer plays key, which must be published
// on this host (hub.ErrNotPublished otherwise).
func (s *Server) Play(offer string, key hub.Key, addr string) (answer, id string, err error) {
	media, err := inspectOffer(offer)
	if err != nil {
		return "", "", err
	}
	if !validKey(key) {
		return "", "", ErrBadStream
	}
	sub, audio, err := s.subscribePlay(key, media.audio)
	if err != nil {
		return "", "", err
	}
	ses, err := s.newSession(KindPlay, key, addr)
	if err != nil {
		sub.Close()
		return "", "", err
	}
	p := &player{ses: ses, sub: sub, cache: s.acquireCache(key)}
	var started atomic.Bool
	ses.onEnd = func() {
		if !started.Load() {
			sub.Close()
		}
		s.releaseCache(key)
		s.Stats.Players.Add(-1)
	}
	s.Stats.Players.Add(1)
	if err := p.addTracks(media); err != nil {
		ses.close(err)
		return "", "", err
	}
	if answer, err = s.negotiate(ses, offer); err != nil {
		ses.close(err)
		return "", "", err
	}
	started.Store(true)
	s.wg.Go(p.run)
	s.mu.Lock() // Notes reads it
	ses.audioNote = audio
	s.mu.Unlock()
	ses.log.Info("rtc play start", "video", p.video != nil, "audio", p.audio != nil, "audio_source", audio)
	return answer, ses.id, nil
}

// addTracks gives the player one outgoing track per usable kind in its offer.
func (p *player) addTracks(media offerMedia) error {
	var err error
	if media.video {
		if p.video, err = newTrack(h264Capability, "video"); err != nil {
			return err
		}
	}
	if media.audio {
		if p.audio, err = newTrack(opusCapability, "audio"); err != nil {
			return err
		}
	}
	for _, t := range []*track{p.video, p.audio} {
		if t == nil {
			continue
		}
		if t.sender, err = p.ses.pc.AddTrack(t.local); err != nil {
			return err
		}
		p.ses.srv.wg.Go(func() { p.readRTCP(t.sender) })
	}
	return nil
}

func (s *Server) acquireCache(key hub.Key) *packetCache {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.caches[key]
	if c == nil {
		c = newPacketCache(key, s.log)
		s.caches[key] = c
	}
	c.users++
	return c
}

func (s *Server) releaseCache(key hub.Key) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.caches[key]; c != nil {
		if c.users--; c.users == 0 {
			delete(s.caches, key)
			delete(s.asked, key)
		}
	}
}

// requestKeyframe asks the publisher of key for a keyframe, when it is a
// WHIP session of this server.
func (s *Server) requestKeyframe(key hub.Key) {
	if s.RequestKeyframe(key) || s.cfg.AskKeyframe == nil {
		return
	}
	// Published elsewhere: pass the request on, at most once per
	// keyframeInterval per stream however many players ask.
	now := time.Now()
	s.mu.Lock()
	if s.closed || now.Sub(s.asked[key]) < keyframeInterval {
		s.mu.Unlock()
		return
	}
	s.asked[key] = now
	s.mu.Unlock()
	s.wg.Go(func() { s.cfg.AskKeyframe(key) })
}

// RequestKeyframe asks the publisher of key for a keyframe, when it is a
// WHIP session of this server, and reports whether it is.
func (s *Server) RequestKeyframe(key hub.Key) bool {
	s.mu.Lock()
	p := s.pubs[key]
	s.mu.Unlock()
	if p != nil {
		p.requestKeyframe()
	}
	return p != nil
}

// Delete ends the session id (WHIP/WHEP DELETE).
func (s *Server) Delete(id string) error {
	ses := s.lookup(id)
	if ses == nil {
		return ErrNoSession
	}
	ses.close(errDeleted)
	return nil
}

// Patch adds the trickled ICE candidates of an sdpfrag to session id.
func (s *Server) Patch(id, frag string) error {
	ses := s.lookup(id)
	if ses == nil {
		return ErrNoSession
	}
	cands, err := trickleCandidates(frag)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	for _, c := range cands {
		if err := ses.pc.AddICECandidate(c); err != nil {
			return fmt.Errorf("%w: candidate: %v", ErrBadOffer, err)
		}
	}
	return nil
}

func (s *Server) lookup(id string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[id]
}

func validKey(k hub.Key) bool {
	return hub.ValidName(k.Vhost) && hub.ValidName(k.App) && hub.ValidName(k.Name)
}

// subscribePlay subscribes a WHEP player to key's WebRTC rendition when
// there is or can be one (starting its bridge, here or on the worker that
// has the stream), else to key itself. audio says what the player's audio
// is, for the log and the API.
func (s *Server) subscribePlay(key hub.Key, wantAudio bool) (sub *hub.Subscriber, audio string, err error) {
	if !wantAudio || IsRTCKey(key) {
		sub, err = s.hub.Subscribe(key, true)
		return sub, "", err
	}
	rtc := RTCKey(key)
	if transcode.Built() && s.rtmpToRTC(key.Vhost) {
		if sub, err := s.hub.Subscribe(rtc, true); err == nil {
			return sub, AudioTranscoded, nil
		}
	}
	// The stream itself first: on an edge this is what pulls it from the
	// origin, and with it here the bridge has something to read.
	if sub, err = s.hub.Subscribe(key, true); err != nil {
		return nil, "", err
	}
	switch {
	case !transcode.Built():
		return sub, AudioNotBuilt, nil
	case !s.rtmpToRTC(key.Vhost):
		return sub, AudioOff, nil
	}
	s.mu.Lock()
	whip := s.pubs[key] != nil
	s.mu.Unlock()
	if whip {
		return sub, AudioOpus, nil // its rendition is off: the stream has the Opus
	}
	start := s.StartBridge
	if s.cfg.Bridge != nil {
		start = s.cfg.Bridge
	}
	if err := start(key); err != nil {
		if !errors.Is(err, ErrNoTranscode) {
			s.log.Warn("rtc bridge not started", "stream", key.String(), "err", err)
		}
		return sub, AudioOpus, nil
	}
	rsub, err := s.hub.Subscribe(rtc, true)
	if err != nil {
		s.log.Warn("rtc rendition not playable", "stream", rtc.String(), "err", err)
		return sub, AudioOpus, nil
	}
	sub.Close()
	return rsub, AudioTranscoded, nil
}

func (s *Server) rtmpToRTC(vhost string) bool {
	if f := s.cfg.Transcode; f != nil {
		on, _ := f(vhost)
		return on
	}
	return true
}

func (s *Server) rtcToRTMP(vhost string) bool {
	if f := s.cfg.Transcode; f != nil {
		_, on := f(vhost)
		return on
	}
	return true
}

// StreamNote is what the API says about a stream's WebRTC side.
type StreamNote struct {
	Audio   string // how WHEP players get audio
	Warning string // e.g. B-frames
}

// Notes describes, per stream, what WebRTC players of it get: the
// streams with WHEP players or a bridge here.
func (s *Server) Notes() map[hub.Key]StreamNote {
	s.mu.Lock()
	defer s.mu.Unlock()
	notes := make(map[hub.Key]StreamNote)
	for _, ses := range s.sessions {
		if ses.kind == KindPlay && ses.audioNote != "" {
			n := notes[ses.key]
			n.Audio = ses.audioNote
			notes[ses.key] = n
		}
	}
	for key, c := range s.caches {
		if c.bframes.Load() {
			n := notes[key]
			n.Warning = BFramesWarning
			notes[key] = n
		}
	}
	for key, b := range s.bridges {
		n := notes[key]
		n.Audio = AudioTranscoded
		if b.bframes.Load() {
			n.Warning = BFramesWarning
		}
		notes[key] = n
	}
	return notes
}
