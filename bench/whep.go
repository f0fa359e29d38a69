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
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"

	"streamedge/media/flv"
)

// whepAPI is the pion API every WHEP player of the process shares: a peer
// on loopback only (the bench refuses other targets anyway), with the NACK
// and report interceptors a browser has.
var whepAPI = sync.OnceValues(func() (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	reg := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, reg); err != nil {
		return nil, err
	}
	se := webrtc.SettingEngine{}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se)), nil
})

// jitterBuffer is how long the player waits for a lost packet.
const jitterBuffer = 300 * time.Millisecond

// whepFrame is one depacketized picture or Opus packet, in the FLV shape
// the recorder counts: a video tag header (keyframe or not) before the
// picture, the enhanced-RTMP Opus header before audio.
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

func (s *whepSession) onTrack(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	video := t.Kind() == webrtc.RTPCodecTypeVideo
	// A browser's jitter buffer gives a missing packet a few hundred ms
	// (NACK has that long) and then plays on; waiting for 512 more packets
	// would turn every loss into a stall that no viewer sees.
	sb := samplebuilder.New(512, &codecs.H264Packet{}, 90000, samplebuilder.WithMaxTimeDelay(jitterBuffer))
	for {
		pkt, _, err := t.ReadRTP()
		if err != nil {
			return
		}
		if !video {
			s.deliver(whepFrame{typ: flv.TagAudio, ts: pkt.Timestamp / 48, body: append([]byte{0x91, 'O', 'p', 'u', 's'}, pkt.Payload...)})
			continue
		}
		sb.Push(pkt)
		for sample := sb.Pop(); sample != nil; sample = sb.Pop() {
			head := byte(flv.VideoFrameInter<<4 | flv.VideoCodecAVC)
			if hasIDR(sample.Data) {
				head = flv.VideoFrameKey<<4 | flv.VideoCodecAVC
			}
			s.deliver(whepFrame{typ: flv.TagVideo, ts: sample.PacketTimestamp / 90, body: append([]byte{head, 1, 0, 0, 0}, sample.Data...)})
		}
	}
}

// hasIDR reports an IDR slice in an Annex B access unit.
func hasIDR(au []byte) bool {
	for i := 0; i+3 < len(au); i++ {
		if au[i] == 0 && au[i+1] == 0 && au[i+2] == 1 && au[i+3]&0x1f == 5 {
			return true
		}
	}
	return false
}

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
