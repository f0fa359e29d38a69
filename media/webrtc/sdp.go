package webrtc

import (
	"fmt"
	"strings"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// maxOfferSize bounds an SDP offer or trickle fragment; real ones are a few KB.
const maxOfferSize = 64 << 10

// offerMedia is what an offer can carry that we can use.
type offerMedia struct {
	video bool // an m=video section with H.264, packetization-mode=1
	audio bool // an m=audio section with Opus
}

// inspectOffer parses an SDP offer and reports which of our codecs it has.
// An offer that does not parse is ErrBadOffer; one with neither codec is
// ErrNoCodec: both are the client's mistake and answered 400.
func inspectOffer(offer string) (offerMedia, error) {
	var m offerMedia
	var desc sdp.SessionDescription
	if err := desc.UnmarshalString(offer); err != nil {
		return m, fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	if len(desc.MediaDescriptions) == 0 {
		return m, fmt.Errorf("%w: no media sections", ErrBadOffer)
	}
	for _, md := range desc.MediaDescriptions {
		if md.MediaName.Port.Value == 0 {
			continue // rejected or stopped section
		}
		switch md.MediaName.Media {
		case "video":
			m.video = m.video || hasH264(md)
		case "audio":
			m.audio = m.audio || hasCodec(md, "opus/48000")
		}
	}
	if !m.video && !m.audio {
		return m, ErrNoCodec
	}
	return m, nil
}

// hasCodec reports an rtpmap whose encoding starts with name (case-insensitive).
func hasCodec(md *sdp.MediaDescription, name string) bool {
	for _, a := range md.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		if _, enc, ok := strings.Cut(a.Value, " "); ok && strings.HasPrefix(strings.ToLower(enc), name) {
			return true
		}
	}
	return false
}

// hasH264 reports an H.264 payload type with packetization-mode=1: mode 0
// (one NAL unit per packet) cannot carry our frames.
func hasH264(md *sdp.MediaDescription) bool {
	pts := map[string]bool{}
	for _, a := range md.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		if pt, enc, ok := strings.Cut(a.Value, " "); ok && strings.HasPrefix(strings.ToLower(enc), "h264/90000") {
			pts[pt] = true
		}
	}
	for _, a := range md.Attributes {
		if a.Key != "fmtp" {
			continue
		}
		if pt, params, ok := strings.Cut(a.Value, " "); ok && pts[pt] && strings.Contains(params, "packetization-mode=1") {
			return true
		}
	}
	return false
}

// trickleCandidates reads an application/trickle-ice-sdpfrag body (RFC
// 8840): candidate lines, each under the m= section (by a=mid) it belongs to.
func trickleCandidates(frag string) ([]webrtc.ICECandidateInit, error) {
	var out []webrtc.ICECandidateInit
	var mid *string
	var index uint16
	sections := 0
	for line := range strings.Lines(frag) {
		line = strings.TrimRight(line, "\r\n")
		switch {
		case strings.HasPrefix(line, "m="):
			mid = nil
			index = uint16(sections)
			sections++
		case strings.HasPrefix(line, "a=mid:"):
			v := strings.TrimPrefix(line, "a=mid:")
			mid = &v
		case strings.HasPrefix(line, "a=candidate:"):
			c := webrtc.ICECandidateInit{Candidate: strings.TrimPrefix(line, "a="), SDPMid: mid}
			if mid == nil {
				i := index
				c.SDPMLineIndex = &i
			}
			out = append(out, c)
		case line == "":
		case len(line) < 2 || line[1] != '=':
			return nil, fmt.Errorf("not an SDP fragment line: %.40q", line)
		}
		// ice-ufrag, ice-pwd, end-of-candidates, ...: nothing to do
	}
	return out, nil
}
