package webrtc

import (
	"encoding/binary"

	"streamedge/media/flv"
)

// Opus travels in FLV as enhanced-RTMP audio: SoundFormat 9 (ExHeader) with
// the packet type in the low nibble, then the FourCC "Opus". The sequence
// start carries the Ogg Opus identification header (RFC 7845 section 5.1),
// which is what decoders that take FLV Opus expect.
const (
	opusFourCC         = "Opus"
	audioSequenceStart = 0
	audioCodedFrames   = 1
	opusHeaderSize     = 5 // flags byte + FourCC
)

// opusHead is the OpusHead identification header for a WebRTC Opus stream:
// 48 kHz, the usual 312-sample pre-skip, channel mapping family 0.
func opusHead(channels int) []byte {
	b := []byte("OpusHead")
	b = append(b, 1, byte(channels))
	b = binary.LittleEndian.AppendUint16(b, 312)
	b = binary.LittleEndian.AppendUint32(b, 48000)
	b = binary.LittleEndian.AppendUint16(b, 0) // output gain
	return append(b, 0)                        // mapping family
}

func opusTag(packetType byte, body []byte) []byte {
	b := make([]byte, 0, opusHeaderSize+len(body))
	b = append(b, flv.AudioCodecExHeader<<4|packetType)
	b = append(b, opusFourCC...)
	return append(b, body...)
}

// opusSequenceTag is the audio sequence start of a WHIP publish.
func opusSequenceTag(channels int) []byte { return opusTag(audioSequenceStart, opusHead(channels)) }

// opusFrameTag carries one Opus packet.
func opusFrameTag(packet []byte) []byte { return opusTag(audioCodedFrames, packet) }

// opusPacket returns the Opus packet of an FLV audio tag body, or ok false
// for sequence starts and any other codec (AAC needs transcoding, which
// this package does not do).
func opusPacket(b []byte) (packet []byte, ok bool) {
	if len(b) <= opusHeaderSize || flv.AudioCodecID(b) != flv.AudioCodecExHeader || string(b[1:5]) != opusFourCC {
		return nil, false
	}
	if b[0]&0x0f != audioCodedFrames {
		return nil, false
	}
	return b[opusHeaderSize:], true
}
