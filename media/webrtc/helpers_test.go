package webrtc

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"

	"streamedge/media/flv"
	"streamedge/media/hub"
	"streamedge/media/mediatest"
)

func testLog() *slog.Logger {
	if os.Getenv("WEBRTC_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// testServer is a Server on a loopback UDP socket behind an httptest server.
type testServer struct {
	srv  *Server
	hub  *hub.Hub
	http *httptest.Server
	url  string
	udp  *net.UDPConn
}

func startServer(t *testing.T, cfg Config) *testServer {
	t.Helper()
	baseline := runtime.NumGoroutine()
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	opts := hub.DefaultOptions()
	h := hub.New(opts, testLog())
	srv, err := New(h, udp, cfg, testLog())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- srv.Run(ctx) }()
	hs := httptest.NewServer(srv.Handler(http.NotFoundHandler()))
	ts := &testServer{srv: srv, hub: h, http: hs, url: hs.URL, udp: udp}
	t.Cleanup(func() {
		hs.Close()
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("Run: %v", err)
		}
		h.Close()
		expectGoroutines(t, baseline)
	})
	return ts
}

// expectGoroutines waits for the goroutine count to fall back to what it
// was: every session's goroutines end with the server.
func expectGoroutines(t *testing.T, baseline int) {
	t.Helper()
	http.DefaultClient.CloseIdleConnections()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > baseline {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Errorf("%d goroutines left, %d before:\n%s", runtime.NumGoroutine(), baseline, buf[:n])
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// clientAPI is a pion peer on loopback only, as a browser would be.
func clientAPI(t *testing.T) *webrtc.API {
	t.Helper()
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	reg := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, reg); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se))
}

// offer makes pc's offer with every candidate in it (no trickle).
func offer(t *testing.T, pc *webrtc.PeerConnection) string {
	t.Helper()
	o, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(o); err != nil {
		t.Fatal(err)
	}
	<-gathered
	return pc.LocalDescription().SDP
}

// post sends an SDP offer and returns the status, body and Location.
func post(t *testing.T, url, contentType, body string) (int, string, string) {
	t.Helper()
	resp, err := http.Post(url, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header.Get("Location")
}

// signal runs WHIP or WHEP for pc at url and returns the session URL.
func signal(t *testing.T, pc *webrtc.PeerConnection, url string) string {
	t.Helper()
	code, answer, loc := post(t, url, "application/sdp", offer(t, pc))
	if code != http.StatusCreated || loc == "" {
		t.Fatalf("POST %s: %d %q", url, code, answer)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	return loc
}

// awaitConnected waits until pc's ICE and DTLS are up.
func awaitConnected(t *testing.T, pc *webrtc.PeerConnection) {
	t.Helper()
	up := make(chan struct{})
	var once sync.Once
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(up) })
		}
	})
	if pc.ConnectionState() == webrtc.PeerConnectionStateConnected {
		return
	}
	select {
	case <-up:
	case <-time.After(15 * time.Second):
		t.Fatalf("peer connection not connected: %v", pc.ConnectionState())
	}
}

// source is real H.264 from an ffmpeg-made FLV (320x240, a keyframe a
// second), as access units in Annex B, plus synthetic Opus packets.
type source struct {
	sps, pps []byte
	frames   []sourceFrame
}

type sourceFrame struct {
	nalus [][]byte // without parameter sets
	key   bool
}

func loadSource(t *testing.T) *source {
	t.Helper()
	path := mediatest.FLVFile(t, mediatest.Media{Duration: 4 * time.Second})
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := flv.NewReader(f)
	if _, _, err := r.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	src := &source{}
	lenSize := 4
	for {
		tag, err := r.ReadTag()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if tag.Type != flv.TagVideo {
			continue
		}
		if flv.IsVideoSequenceHeader(tag.Data) {
			cfg, err := flv.ParseAVCConfig(tag.Data)
			if err != nil {
				t.Fatal(err)
			}
			src.sps, src.pps, lenSize = cfg.SPS, cfg.PPS, cfg.NALULengthSize
			continue
		}
		vt, ok := parseVideoTag(tag.Data)
		if !ok {
			continue
		}
		var fr sourceFrame
		eachNALU(vt.data, lenSize, func(n []byte) {
			switch n[0] & 0x1f {
			case naluSPS, naluPPS, naluAUD:
				return
			case naluIDR:
				fr.key = true
			}
			fr.nalus = append(fr.nalus, bytes.Clone(n))
		})
		src.frames = append(src.frames, fr)
	}
	if src.sps == nil || len(src.frames) < 50 || !src.frames[0].key {
		t.Fatalf("fixture: sps %v, %d frames", src.sps != nil, len(src.frames))
	}
	return src
}

// annexB is how a browser's encoder hands pion a picture: parameter sets
// before each keyframe.
func (s *source) annexB(f sourceFrame) []byte {
	var b []byte
	nalus := f.nalus
	if f.key {
		nalus = append([][]byte{s.sps, s.pps}, nalus...)
	}
	for _, n := range nalus {
		b = append(b, 0, 0, 0, 1)
		b = append(b, n...)
	}
	return b
}

// opusPacketN is synthetic Opus: a TOC byte (20 ms CELT) and a counter, so
// a receiver can tell the packets apart.
func opusPacketN(i int) []byte {
	b := []byte{0xfc, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(i))
	return append(b, bytes.Repeat([]byte{0x55}, 60)...)
}

// publishClient is a WHIP publisher of the source.
type publishClient struct {
	pc           *webrtc.PeerConnection
	video, audio *webrtc.TrackLocalStaticSample
	loc          string
}

func newPublisher(t *testing.T, url string) *publishClient {
	t.Helper()
	pc, err := clientAPI(t).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	v, _ := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, "video", "pub")
	a, _ := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "pub")
	for _, tr := range []webrtc.TrackLocal{v, a} {
		if _, err := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			t.Fatal(err)
		}
	}
	p := &publishClient{pc: pc, video: v, audio: a}
	p.loc = signal(t, pc, url)
	awaitConnected(t, pc)
	return p
}

// send plays the source once, every frame paced by tick (the source is 25
// fps; a faster tick keeps tests short), with two Opus packets per frame.
// It stops early when stop closes.
func (p *publishClient) send(src *source, tick time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for i, f := range src.frames {
		p.video.WriteSample(media.Sample{Data: src.annexB(f), Duration: 40 * time.Millisecond})
		p.audio.WriteSample(media.Sample{Data: opusPacketN(2 * i), Duration: 20 * time.Millisecond})
		p.audio.WriteSample(media.Sample{Data: opusPacketN(2*i + 1), Duration: 20 * time.Millisecond})
		select {
		case <-t.C:
		case <-stop:
			return
		}
	}
}

// playClient is a WHEP player that depacketizes what it gets.
type playClient struct {
	pc  *webrtc.PeerConnection
	loc string

	mu       sync.Mutex
	frames   [][]byte // Annex B access units
	opus     [][]byte
	gotFrame chan struct{}
}

func newPlayer(t *testing.T, url string) *playClient {
	t.Helper()
	pc, err := clientAPI(t).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	p := &playClient{pc: pc, gotFrame: make(chan struct{}, 1)}
	pc.OnTrack(p.onTrack)
	p.loc = signal(t, pc, url)
	return p
}

func (p *playClient) onTrack(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	video := tr.Kind() == webrtc.RTPCodecTypeVideo
	sb := samplebuilder.New(512, &codecs.H264Packet{}, 90000)
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		if !video {
			p.mu.Lock()
			p.opus = append(p.opus, bytes.Clone(pkt.Payload))
			p.mu.Unlock()
			continue
		}
		sb.Push(pkt)
		for s := sb.Pop(); s != nil; s = sb.Pop() {
			p.mu.Lock()
			p.frames = append(p.frames, s.Data)
			p.mu.Unlock()
			select {
			case p.gotFrame <- struct{}{}:
			default:
			}
		}
	}
}

// awaitFrames waits until the player has n frames and n Opus packets.
func (p *playClient) awaitFrames(t *testing.T, n int) ([][]byte, [][]byte) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		p.mu.Lock()
		frames, opus := append([][]byte(nil), p.frames...), append([][]byte(nil), p.opus...)
		p.mu.Unlock()
		if len(frames) >= n && len(opus) >= n {
			return frames, opus
		}
		select {
		case <-p.gotFrame:
		case <-deadline:
			t.Fatalf("player got %d frames and %d opus packets, want %d", len(frames), len(opus), n)
		}
	}
}

// splitAnnexB returns the NAL units of an Annex B access unit.
func splitAnnexB(b []byte) [][]byte {
	var out [][]byte
	for _, part := range bytes.Split(b, []byte{0, 0, 1}) {
		part = bytes.TrimRight(part, "\x00")
		if len(part) > 0 {
			out = append(out, part)
		}
	}
	return out
}

// countPLIs counts the picture loss indications the publisher's video
// sender receives (reading its RTCP also runs the client's interceptors).
func (p *publishClient) countPLIs() *atomic.Int64 {
	var n atomic.Int64
	for _, s := range p.pc.GetSenders() {
		if s.Track() == nil || s.Track().Kind() != webrtc.RTPCodecTypeVideo {
			go func() {
				for {
					if _, _, err := s.ReadRTCP(); err != nil {
						return
					}
				}
			}()
			continue
		}
		go func() {
			for {
				pkts, _, err := s.ReadRTCP()
				if err != nil {
					return
				}
				for _, pkt := range pkts {
					if _, ok := pkt.(*rtcp.PictureLossIndication); ok {
						n.Add(1)
					}
				}
			}
		}()
	}
	return &n
}
