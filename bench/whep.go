package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"streamedge/media/flv"
)

// whepAPI is the pion API every WHEP player of the process shares: a peer
// on loopback only (the bench refuses other targets anyway) that does
// ICE, DTLS and SRTP as a browser does, and nothing a browser adds on top:
// no interceptors (no NACKs, receiver reports or congestion feedback), so
// that a load of players costs the machine little beside the server. The
// players pion's defaults made used twice the server's CPU (issue 15).
var whepAPI = sync.OnceValues(func() (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	se := webrtc.SettingEngine{}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(&interceptor.Registry{}),
		webrtc.WithSettingEngine(se)), nil
})

// whepFrame is one picture or Opus packet in the FLV shape the recorder
// counts: a video tag header (keyframe or not) or the enhanced-RTMP Opus
// header, then as many bytes as the frame's RTP payloads had. The bytes
// themselves are not the media: the recorder looks at nothing but the
// first byte and the length, and copying each picture out of its packets
// was most of what a player cost.
type whepFrame struct {
	typ  uint8
	ts   uint32
	body []byte
}

// whepSession is a WHEP play: a PeerConnection whose tracks feed frames.
type whepSession struct {
	pc       *webrtc.PeerConnection
	location string
	frames   chan whepFrame
	done     chan struct{}
	once     sync.Once
	nc       *whepConn
}

func openWHEP(ctx context.Context, rawURL string) (session, error) {
	api, err := whepAPI()
	if err != nil {
		return nil, phased("connect", err)
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, phased("connect", err)
	}
	s := &whepSession{pc: pc, frames: make(chan whepFrame, 256), done: make(chan struct{})}
	s.nc = &whepConn{s: s}
	fail := func(phase string, err error) (session, error) {
		s.close()
		return nil, phased(phase, ctxErr(ctx, err))
	}
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			return fail("connect", err)
		}
	}
	pc.OnTrack(s.onTrack)
	up := make(chan struct{})
	var upOnce sync.Once
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateConnected:
			upOnce.Do(func() { close(up) })
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			go s.close()
		}
	})
	answer, err := s.signal(ctx, rawURL)
	if err != nil {
		return fail("play", err)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		return fail("play", err)
	}
	select {
	case <-up:
		return s, nil
	case <-s.done:
		return fail("connect", errors.New("ICE/DTLS failed"))
	case <-ctx.Done():
		return fail("connect", ctx.Err())
	}
}

// signal POSTs the offer with every candidate in it and returns the answer.
func (s *whepSession) signal(ctx context.Context, rawURL string) (string, error) {
	offer, err := s.pc.CreateOffer(nil)
	if err != nil {
		return "", err
	}
	gathered := webrtc.GatheringCompletePromise(s.pc)
	if err := s.pc.SetLocalDescription(offer); err != nil {
		return "", err
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, strings.NewReader(s.pc.LocalDescription().SDP))
	req.Header.Set("Content-Type", "application/sdp")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("HTTP %s: %s", resp.Status, strings.TrimSpace(string(body[:min(len(body), 200)])))
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		if u, err := req.URL.Parse(loc); err == nil {
			s.location = u.String()
		}
	}
	return string(body), nil
}

// onTrack reads the track's RTP into reused buffers and hands on a frame
// per Opus packet and per picture: the packets up to the marker bit (or
// up to a new timestamp, when the marker packet was lost).
func (s *whepSession) onTrack(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	video := t.Kind() == webrtc.RTPCodecTypeVideo
	buf := make([]byte, 1500)
	var h rtp.Header
	var bodies frameBodies
	var pic picture
	for {
		n, _, err := t.Read(buf)
		if err != nil {
			return
		}
		hl, err := h.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		payload := buf[hl:n]
		if h.Padding && len(payload) > 0 {
			payload = payload[:max(0, len(payload)-int(payload[len(payload)-1]))]
		}
		if !video {
			s.deliver(whepFrame{typ: flv.TagAudio, ts: h.Timestamp / 48, body: bodies.audio(len(payload))})
			continue
		}
		if pic.bytes > 0 && h.Timestamp != pic.ts {
			s.deliver(pic.frame(&bodies))
		}
		pic.add(h.Timestamp, payload)
		if h.Marker {
			s.deliver(pic.frame(&bodies))
		}
	}
}

// picture is the part of a picture received so far.
type picture struct {
	ts    uint32
	bytes int
	key   bool
}

func (p *picture) add(ts uint32, payload []byte) {
	p.ts = ts
	p.bytes += len(payload)
	p.key = p.key || hasIDR(payload)
}

// frame returns the picture as a frame and starts the next.
func (p *picture) frame(b *frameBodies) whepFrame {
	f := whepFrame{typ: flv.TagVideo, ts: p.ts / 90, body: b.video(p.key, p.bytes)}
	*p = picture{}
	return f
}

// frameBodies are a player's frame bodies: the tag header, then zeros.
// They are never written after they are made, so frames still queued for
// the recorder may share them; a longer frame makes a longer one.
type frameBodies struct {
	key, inter, opus []byte
}

func (b *frameBodies) video(key bool, n int) []byte {
	n += 5 // the FLV video tag header
	p, head := &b.inter, byte(flv.VideoFrameInter<<4|flv.VideoCodecAVC)
	if key {
		p, head = &b.key, flv.VideoFrameKey<<4|flv.VideoCodecAVC
	}
	if len(*p) < n {
		*p = make([]byte, max(n, 2*len(*p)))
		(*p)[0], (*p)[1] = head, 1 // an AVC NAL unit
	}
	return (*p)[:n]
}

func (b *frameBodies) audio(n int) []byte {
	n += 5 // the enhanced-RTMP Opus header
	if len(b.opus) < n {
		b.opus = append([]byte{0x91, 'O', 'p', 'u', 's'}, make([]byte, max(n, 1500))...)
	}
	return b.opus[:n]
}

// hasIDR reports an IDR slice in one RTP payload of H.264 (RFC 6184): a
// single NAL unit, one inside a STAP-A, or the first fragment of a FU-A.
func hasIDR(p []byte) bool {
	if len(p) < 2 {
		return false
	}
	switch p[0] & 0x1f {
	case naluIDR:
		return true
	case naluSTAPA:
		for rest := p[1:]; len(rest) > 2; {
			n := int(rest[0])<<8 | int(rest[1])
			if n == 0 || n > len(rest)-2 {
				return false
			}
			if rest[2]&0x1f == naluIDR {
				return true
			}
			rest = rest[2+n:]
		}
	case naluFUA:
		return p[1]&0x80 != 0 && p[1]&0x1f == naluIDR
	}
	return false
}

// H.264 NAL unit types hasIDR looks at.
const (
	naluIDR   = 5
	naluSTAPA = 24
	naluFUA   = 28
)

// deliver hands a frame to next; a player too slow to take it loses it,
// as a browser's jitter buffer would.
func (s *whepSession) deliver(f whepFrame) {
	select {
	case s.frames <- f:
	case <-s.done:
	}
}

func (s *whepSession) next() (uint8, uint32, []byte, error) {
	var timeout <-chan time.Time
	if d := s.nc.deadline(); !d.IsZero() {
		t := time.NewTimer(time.Until(d))
		defer t.Stop()
		timeout = t.C
	}
	select {
	case f := <-s.frames:
		return f.typ, f.ts, f.body, nil
	case <-s.done:
		return 0, 0, nil, errors.New("peer connection closed")
	case <-timeout:
		return 0, 0, nil, timeoutError{}
	}
}

func (s *whepSession) conn() net.Conn    { return s.nc }
func (s *whepSession) wireBytes() uint64 { return 0 }

// close ends the session and DELETEs its resource, as a WHEP client does.
func (s *whepSession) close() {
	s.once.Do(func() {
		close(s.done)
		s.pc.Close()
		if s.location != "" {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, s.location, nil)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}
	})
}

// whepConn gives the play loop what it uses of a connection: a local
// address for the logs and a read deadline for next.
type whepConn struct {
	net.Conn // nil: only the methods below are called
	s        *whepSession
	mu       sync.Mutex
	until    time.Time
}

func (c *whepConn) LocalAddr() net.Addr { return whepAddr{} }

func (c *whepConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.until = t
	c.mu.Unlock()
	return nil
}

func (c *whepConn) deadline() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.until
}

type whepAddr struct{}

func (whepAddr) Network() string { return "whep" }
func (whepAddr) String() string  { return "whep" }

// timeoutError is a read deadline passing, as net.Error says it.
type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }
