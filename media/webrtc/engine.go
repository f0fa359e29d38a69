package webrtc

import (
	"fmt"
	"net"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
)

// Payload types we offer; answers use the peer's own numbers.
const (
	ptOpus = 111
	ptH264 = 102
)

// h264Profiles are the H.264 variants a peer may offer and we can carry:
// packetization-mode 1 (FU-A), the profiles browsers and encoders use. The
// bitstream goes through untouched, so any of them will do.
var h264Profiles = []string{"42e01f", "42001f", "4d001f", "64001f"}

var videoFeedback = []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"}}

// h264Capability is the codec every WHEP player's video track is bound as.
var h264Capability = webrtc.RTPCodecCapability{
	MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
	SDPFmtpLine:  "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
	RTCPFeedback: videoFeedback,
}

var opusCapability = webrtc.RTPCodecCapability{
	MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1",
}

func mediaEngine() (*webrtc.MediaEngine, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: opusCapability, PayloadType: ptOpus}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	for i, profile := range h264Profiles {
		c := h264Capability
		c.SDPFmtpLine = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + profile
		p := webrtc.RTPCodecParameters{RTPCodecCapability: c, PayloadType: webrtc.PayloadType(ptH264 + 2*i)}
		if err := m.RegisterCodec(p, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// newAPI builds the one pion API of a server: every PeerConnection it makes
// shares mux, the ICE UDP mux over the server's socket.
func newAPI(mux ice.UDPMux, local net.Addr, cfg Config, logs pionLogs) (*webrtc.API, error) {
	m, err := mediaEngine()
	if err != nil {
		return nil, err
	}
	// NACK (generator for publishers, responder for players) and RTCP
	// sender/receiver reports, per PeerConnection.
	reg := &interceptor.Registry{}
	if err := webrtc.ConfigureNack(m, reg); err != nil {
		return nil, err
	}
	if err := webrtc.ConfigureRTCPReports(reg); err != nil {
		return nil, err
	}
	se := webrtc.SettingEngine{LoggerFactory: logs}
	se.SetICEUDPMux(mux)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	// mDNS would open port 5353 in every worker and hide nothing a server
	// needs hidden.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetICETimeouts(cfg.DisconnectTimeout/2, cfg.DisconnectTimeout, 2*time.Second)
	// The DTLS handshake is kept as short as it can be, as SRS keeps it: a
	// worker that handshakes with a hundred players at once while it feeds
	// those already playing takes each step slowly, and every flight a
	// peer waits for beyond a second costs a retransmission with doubling
	// backoff (pion's 1, 2, 4, 8, 16 s).
	//  - The server is the DTLS server (the answer says setup:passive):
	//    it is done once it has sent its last flight; as the client it
	//    waited for the player's, a round trip more.
	//  - No HelloVerifyRequest: its cookie proves the client's address,
	//    which ICE has proved already (pion takes no DTLS from an address
	//    that has not passed a check); it would be one more round trip.
	if err := se.SetAnsweringDTLSRole(webrtc.DTLSRoleServer); err != nil {
		return nil, err
	}
	se.SetDTLSInsecureSkipHelloVerify(true)
	if ua, ok := local.(*net.UDPAddr); ok && ua.IP.IsLoopback() {
		se.SetIncludeLoopbackCandidate(true)
	}
	if len(cfg.Candidates) > 0 {
		for _, c := range cfg.Candidates {
			if net.ParseIP(c) == nil {
				return nil, fmt.Errorf("webrtc: candidate %q is not an IP address", c)
			}
		}
		rule := webrtc.ICEAddressRewriteRule{External: cfg.Candidates, AsCandidateType: webrtc.ICECandidateTypeHost, Mode: webrtc.ICEAddressRewriteReplace}
		if err := se.SetICEAddressRewriteRules(rule); err != nil {
			return nil, err
		}
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se)), nil
}
