// Package rtctest is the client side of WebRTC tests: pion peers on
// loopback that publish real H.264 (from an ffmpeg-made file) and
// synthetic Opus over WHIP, and players that depacketize what WHEP sends
// them. The server's own tests and the process-level tests share it.
package rtctest

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
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
	"streamedge/media/mediatest"
)

// H.264 NAL unit types the tests look at.
const (
	NALUIDR = 5
	NALUSPS = 7
	NALUPPS = 8
	naluAUD = 9
)

// API is a pion peer on loopback only, as a browser on the same host would be.
func API(t testing.TB) *webrtc.API {
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

// Offer makes pc's offer with every candidate in it (no trickle).
func Offer(t testing.TB, pc *webrtc.PeerConnection) string {
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

// OfferOf is an offer for a throwaway peer with transceivers of kinds.
func OfferOf(t testing.TB, dir webrtc.RTPTransceiverDirection, kinds ...webrtc.RTPCodecType) string {
	t.Helper()
	pc, err := API(t).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for _, k := range kinds {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: dir}); err != nil {
			t.Fatal(err)
		}
	}
	return Offer(t, pc)
}

// Post sends body and returns the status, body and Location.
func Post(t testing.TB, url, contentType, body string) (int, string, string) {
	t.Helper()
	resp, err := http.Post(url, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header.Get("Location")
}

// Do sends a request without a body check and returns its status.
func Do(t testing.TB, method, url, contentType, body string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Signal runs WHIP or WHEP for pc at url and returns the answer and the
// session URL.
func Signal(t testing.TB, pc *webrtc.PeerConnection, url string) (answer, location string) {
	t.Helper()
	code, answer, loc := Post(t, url, "application/sdp", Offer(t, pc))
	if code != http.StatusCreated || loc == "" {
		t.Fatalf("POST %s: %d %q", url, code, answer)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	return answer, loc
}

// SignalJSON runs SRS's JSON API (/rtc/v1/publish/ or /rtc/v1/play/) for
// pc, as srs.sdk.js does, and returns the answer and session id.
func SignalJSON(t testing.TB, pc *webrtc.PeerConnection, apiURL, streamURL string) (answer, sessionID string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"api": apiURL, "tid": "t1", "streamurl": streamURL, "clientip": "", "sdp": Offer(t, pc)})
	code, resp, _ := Post(t, apiURL, "application/json", string(body))
	var a struct {
		Code      int    `json:"code"`
		SDP       string `json:"sdp"`
		SessionID string `json:"sessionid"`
		Server    string `json:"server"`
	}
	if err := json.Unmarshal([]byte(resp), &a); err != nil || code != http.StatusOK || a.Code != 0 || a.SessionID == "" || a.Server == "" {
		t.Fatalf("%s: %d %s", apiURL, code, resp)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: a.SDP}); err != nil {
		t.Fatal(err)
	}
	return a.SDP, a.SessionID
}

// AwaitConnected waits until pc's ICE and DTLS are up.
func AwaitConnected(t testing.TB, pc *webrtc.PeerConnection) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for pc.ConnectionState() != webrtc.PeerConnectionStateConnected {
		if time.Now().After(deadline) {
			t.Fatalf("peer connection not connected: %v", pc.ConnectionState())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Source is real H.264 from an ffmpeg-made FLV (320x240, a keyframe a
// second), picture by picture, plus synthetic Opus.
type Source struct {
	SPS, PPS []byte
	Frames   []Frame
}

// Frame is one picture's NAL units, parameter sets left out.
type Frame struct {
	NALUs [][]byte
	Key   bool
}

// LoadSource reads the 320x240 test file.
func LoadSource(t testing.TB) *Source {
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
	src := &Source{}
	lenSize := 4
	for {
		tag, err := r.ReadTag()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if tag.Type != flv.TagVideo || flv.VideoCodecID(tag.Data) != flv.VideoCodecAVC || len(tag.Data) < 5 {
			continue
		}
		if flv.IsVideoSequenceHeader(tag.Data) {
			cfg, err := flv.ParseAVCConfig(tag.Data)
			if err != nil {
				t.Fatal(err)
			}
			src.SPS, src.PPS, lenSize = cfg.SPS, cfg.PPS, cfg.NALULengthSize
			continue
		}
		if tag.Data[1] != 1 {
			continue
		}
		var fr Frame
		for data := tag.Data[5:]; len(data) > lenSize; {
			n := 0
			for _, b := range data[:lenSize] {
				n = n<<8 | int(b)
			}
			data = data[lenSize:]
			if n > len(data) {
				t.Fatal("fixture: truncated NAL unit")
			}
			nalu := data[:n]
			data = data[n:]
			switch nalu[0] & 0x1f {
			case NALUSPS, NALUPPS, naluAUD:
				continue
			case NALUIDR:
				fr.Key = true
			}
			fr.NALUs = append(fr.NALUs, bytes.Clone(nalu))
		}
		src.Frames = append(src.Frames, fr)
	}
	if src.SPS == nil || len(src.Frames) < 50 || !src.Frames[0].Key {
		t.Fatalf("fixture: sps %v, %d frames", src.SPS != nil, len(src.Frames))
	}
	return src
}

// Known is the set of pictures of the source, keyed by Key.
func (s *Source) Known() map[string]bool {
	known := map[string]bool{}
	for _, f := range s.Frames {
		known[PictureKey(f.NALUs)] = true
	}
	return known
}

// PictureKey identifies a picture by its NAL units (parameter sets left out).
func PictureKey(nalus [][]byte) string {
	var keep [][]byte
	for _, n := range nalus {
		if typ := n[0] & 0x1f; typ != NALUSPS && typ != NALUPPS {
			keep = append(keep, n)
		}
	}
	return string(bytes.Join(keep, []byte{0}))
}

// annexB is how a browser's encoder hands pion a picture: parameter sets
// before each keyframe.
func (s *Source) annexB(f Frame) []byte {
	var b []byte
	nalus := f.NALUs
	if f.Key {
		nalus = append([][]byte{s.SPS, s.PPS}, nalus...)
	}
	for _, n := range nalus {
		b = append(b, 0, 0, 0, 1)
		b = append(b, n...)
	}
	return b
}

// OpusPacket is synthetic Opus: a TOC byte (20 ms CELT), a counter and
// padding, so a receiver can tell the packets apart.
func OpusPacket(i int) []byte {
	b := []byte{0xfc, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(i))
	return append(b, bytes.Repeat([]byte{0x55}, 60)...)
}

// OpusPacketSize is the size of every OpusPacket.
const OpusPacketSize = 65

// Publisher is a WHIP publisher of a Source.
type Publisher struct {
	PC           *webrtc.PeerConnection
	Location     string
	video, audio *webrtc.TrackLocalStaticSample
	plis         atomic.Int64
}

// NewPublisher connects a publisher over WHIP at url and waits for ICE and DTLS.
func NewPublisher(t testing.TB, url string) *Publisher {
	t.Helper()
	pc, err := API(t).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	v, _ := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, "video", "pub")
	a, _ := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "pub")
	p := &Publisher{PC: pc, video: v, audio: a}
	for _, tr := range []*webrtc.TrackLocalStaticSample{v, a} {
		tc, err := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			t.Fatal(err)
		}
		go p.readRTCP(tc.Sender(), tr == v)
	}
	_, p.Location = Signal(t, pc, url)
	AwaitConnected(t, pc)
	return p
}

// readRTCP runs the client's interceptors and counts the PLIs of video.
func (p *Publisher) readRTCP(s *webrtc.RTPSender, video bool) {
	for {
		pkts, _, err := s.ReadRTCP()
		if err != nil {
			return
		}
		for _, pkt := range pkts {
			if _, ok := pkt.(*rtcp.PictureLossIndication); ok && video {
				p.plis.Add(1)
			}
		}
	}
}

// PLIs counts the picture loss indications the publisher has received.
func (p *Publisher) PLIs() int64 { return p.plis.Load() }

// Loop sends the source over and over, a picture every 10 ms (the source
// is 25 fps: faster keeps tests short) with two Opus packets each, until
// stop closes; the returned channel closes when it has stopped.
func (p *Publisher) Loop(src *Source, stop <-chan struct{}) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			f := src.Frames[i%len(src.Frames)]
			p.video.WriteSample(media.Sample{Data: src.annexB(f), Duration: 40 * time.Millisecond})
			p.audio.WriteSample(media.Sample{Data: OpusPacket(2 * i), Duration: 20 * time.Millisecond})
			p.audio.WriteSample(media.Sample{Data: OpusPacket(2*i + 1), Duration: 20 * time.Millisecond})
			select {
			case <-tick.C:
			case <-stop:
				return
			}
		}
	}()
	return done
}

// Player is a WHEP player that depacketizes what it gets.
type Player struct {
	PC       *webrtc.PeerConnection
	Location string
	Answer   string

	mu       sync.Mutex
	frames   [][]byte             // Annex B access units
	at       []time.Time          // when each frame's last packet arrived
	lastAt   map[uint32]time.Time // by RTP timestamp, the picture's marker packet
	opus     [][]byte
	gotFrame chan struct{}
}

// NewPlayer makes a player with a receive-only video and audio transceiver.
// Connect it with Play or PlayJSON.
func NewPlayer(t testing.TB) *Player {
	t.Helper()
	pc, err := API(t).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	p := &Player{PC: pc, gotFrame: make(chan struct{}, 1), lastAt: map[uint32]time.Time{}}
	pc.OnTrack(p.onTrack)
	return p
}

// Play connects the player over WHEP at url.
func (p *Player) Play(t testing.TB, url string) *Player {
	t.Helper()
	p.Answer, p.Location = Signal(t, p.PC, url)
	return p
}

// PlayJSON connects the player through SRS's /rtc/v1/play/ at base.
func (p *Player) PlayJSON(t testing.TB, base, streamURL string) *Player {
	t.Helper()
	var id string
	p.Answer, id = SignalJSON(t, p.PC, base+"/rtc/v1/play/", streamURL)
	p.Location = "/rtc/v1/session/" + id
	return p
}

func (p *Player) onTrack(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
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
		if pkt.Marker {
			p.mu.Lock()
			if _, ok := p.lastAt[pkt.Timestamp]; !ok {
				p.lastAt[pkt.Timestamp] = time.Now()
			}
			p.mu.Unlock()
		}
		sb.Push(pkt)
		for s := sb.Pop(); s != nil; s = sb.Pop() {
			p.mu.Lock()
			p.frames = append(p.frames, s.Data)
			// The sample builder hands a picture over only once the next
			// one starts: its arrival is its marker packet's.
			p.at = append(p.at, p.lastAt[s.PacketTimestamp])
			delete(p.lastAt, s.PacketTimestamp)
			p.mu.Unlock()
			select {
			case p.gotFrame <- struct{}{}:
			default:
			}
		}
	}
}

// Received is what the player has got so far.
func (p *Player) Received() (frames, opus [][]byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([][]byte(nil), p.frames...), append([][]byte(nil), p.opus...)
}

// Arrivals is when each received frame's last packet arrived.
func (p *Player) Arrivals() []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Time(nil), p.at...)
}

// Got is signalled when a picture arrives.
func (p *Player) Got() <-chan struct{} { return p.gotFrame }

// AwaitFrames waits until the player has n pictures and n Opus packets.
func (p *Player) AwaitFrames(t testing.TB, n int) (frames, opus [][]byte) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		p.mu.Lock()
		frames, opus = append([][]byte(nil), p.frames...), append([][]byte(nil), p.opus...)
		p.mu.Unlock()
		if len(frames) >= n && len(opus) >= n {
			return frames, opus
		}
		select {
		case <-p.gotFrame:
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			t.Fatalf("player got %d frames and %d opus packets, want %d (peer connection %v, ICE %v)",
				len(frames), len(opus), n, p.PC.ConnectionState(), p.PC.ICEConnectionState())
		}
	}
}

// CheckFrames checks what a player got against the source: its first
// picture is a keyframe with the SPS and PPS in front, every picture is one
// the publisher sent, and every Opus packet is one of OpusPacket's.
func CheckFrames(t testing.TB, name string, src *Source, frames, opus [][]byte) {
	t.Helper()
	first := SplitAnnexB(frames[0])
	if len(first) < 3 || first[0][0]&0x1f != NALUSPS || first[1][0]&0x1f != NALUPPS || !bytes.Equal(first[0], src.SPS) {
		t.Fatalf("%s: first frame does not start with the source's SPS and PPS (%d NAL units)", name, len(first))
	}
	if !HasIDR(first) {
		t.Fatalf("%s: first picture has no IDR slice", name)
	}
	known := src.Known()
	for i, fr := range frames {
		if !known[PictureKey(SplitAnnexB(fr))] {
			t.Fatalf("%s: frame %d (%d bytes) is not one the publisher sent", name, i, len(fr))
		}
	}
	for i, o := range opus {
		if len(o) != OpusPacketSize || o[0] != 0xfc {
			t.Fatalf("%s: opus packet %d is %d bytes %x...", name, i, len(o), o[:min(8, len(o))])
		}
	}
}

// SplitAnnexB returns the NAL units of an Annex B access unit.
func SplitAnnexB(b []byte) [][]byte {
	var out [][]byte
	for _, part := range bytes.Split(b, []byte{0, 0, 1}) {
		part = bytes.TrimRight(part, "\x00")
		if len(part) > 0 {
			out = append(out, part)
		}
	}
	return out
}

// HasIDR reports an IDR slice among nalus.
func HasIDR(nalus [][]byte) bool {
	for _, n := range nalus {
		if n[0]&0x1f == NALUIDR {
			return true
		}
	}
	return false
}
