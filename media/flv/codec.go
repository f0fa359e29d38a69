package flv

// Codec IDs and packet types from the FLV and enhanced-RTMP specifications.
const (
	VideoCodecAVC = 7
	// VideoCodecHEVC is the de facto ID that CDNs and muxers used for HEVC
	// in FLV before enhanced RTMP; it is not in Adobe's specification.
	VideoCodecHEVC = 12

	AudioCodecMP3 = 2
	AudioCodecAAC = 10
	// AudioCodecExHeader marks an enhanced-RTMP audio tag that names its
	// codec with a FourCC instead.
	AudioCodecExHeader = 9

	VideoFrameKey        = 1
	VideoFrameInter      = 2
	VideoFrameDisposable = 3
	VideoFrameGenerated  = 4
	VideoFrameCommand    = 5

	// AVCPacketType / AACPacketType / enhanced-RTMP PacketType value that
	// carries decoder configuration rather than media.
	PacketSequenceHeader = 0
)

// videoExHeader is the IsExHeader bit of an enhanced-RTMP video tag. When
// set, the low nibble is a packet type and a FourCC follows the first byte.
const videoExHeader = 0x80

// VideoTagHeaderSize is the size of the legacy AVC/HEVC video tag header:
// frame type and codec, packet type, 24-bit composition time. An
// enhanced-RTMP sequence start header is also 5 bytes (flags + FourCC).
const VideoTagHeaderSize = 5

// All helpers below take a tag body and return a zero value for bodies too
// short to hold the fields they need, so they are safe on untrusted input.

// IsVideoExHeader reports whether a video tag body uses the enhanced-RTMP
// extended header.
func IsVideoExHeader(data []byte) bool {
	return len(data) > 0 && data[0]&videoExHeader != 0
}

// VideoFrameType returns the frame type of a video tag body for both the
// legacy and the enhanced-RTMP layout.
func VideoFrameType(data []byte) uint8 {
	if len(data) == 0 {
		return 0
	}
	if IsVideoExHeader(data) {
		return data[0] >> 4 & 0x07
	}
	return data[0] >> 4
}

// IsVideoKeyframe reports whether a video tag body has frame type 1 (key
// frame). Sequence headers and AVC end-of-sequence tags are also marked as
// key frames, so callers looking for a decodable picture must test the
// packet type as well.
func IsVideoKeyframe(data []byte) bool {
	return VideoFrameType(data) == VideoFrameKey
}

// IsVideoSequenceHeader reports whether a video tag body carries decoder
// configuration: an AVC (or de facto HEVC) sequence header, or an
// enhanced-RTMP SequenceStart for any FourCC.
func IsVideoSequenceHeader(data []byte) bool {
	if IsVideoExHeader(data) {
		return len(data) >= 5 && data[0]&0x0f == PacketSequenceHeader
	}
	// Command frames carry a one-byte command where other frames have the
	// packet type, so a 0 there is not a sequence header.
	if len(data) < 2 || VideoFrameType(data) == VideoFrameCommand {
		return false
	}
	id := data[0] & 0x0f
	return (id == VideoCodecAVC || id == VideoCodecHEVC) && data[1] == PacketSequenceHeader
}

// VideoCodecID returns the legacy 4-bit codec ID of a video tag body, or 0
// for enhanced-RTMP tags, whose codec is given by VideoFourCC instead (the
// low nibble there is a packet type, and reporting it as a codec would
// mislead).
func VideoCodecID(data []byte) uint8 {
	if len(data) == 0 || IsVideoExHeader(data) {
		return 0
	}
	return data[0] & 0x0f
}

// VideoFourCC returns the codec FourCC ("avc1", "hvc1", "av01", "vp09", ...)
// of an enhanced-RTMP video tag body, or "" for legacy or short bodies.
func VideoFourCC(data []byte) string {
	if !IsVideoExHeader(data) || len(data) < 5 {
		return ""
	}
	return string(data[1:5])
}

// AudioCodecID returns the 4-bit SoundFormat of an audio tag body
// (AudioCodecAAC, AudioCodecMP3, ...), or 0 for an empty body. 0 is also a
// valid SoundFormat (linear PCM), so check the length if that matters.
func AudioCodecID(data []byte) uint8 {
	if len(data) == 0 {
		return 0
	}
	return data[0] >> 4
}

// IsAudioSequenceHeader reports whether an audio tag body carries decoder
// configuration: an AAC sequence header (AudioSpecificConfig) or an
// enhanced-RTMP audio SequenceStart.
func IsAudioSequenceHeader(data []byte) bool {
	if len(data) < 2 {
		return false
	}
	switch data[0] >> 4 {
	case AudioCodecAAC:
		return data[1] == PacketSequenceHeader
	case AudioCodecExHeader:
		return len(data) >= 5 && data[0]&0x0f == PacketSequenceHeader
	}
	return false
}

// IsVideoKeyPicture reports a keyframe that carries a picture: not a
// sequence header nor an end-of-sequence tag, which share its frame type.
// A player that starts on one of these can decode at once.
func IsVideoKeyPicture(data []byte) bool {
	if !IsVideoKeyframe(data) || len(data) < 2 {
		return false
	}
	if IsVideoExHeader(data) {
		packetType := data[0] & 0x0f
		return packetType == 1 || packetType == 3 // CodedFrames, CodedFramesX
	}
	switch VideoCodecID(data) {
	case VideoCodecAVC, VideoCodecHEVC:
		return data[1] == 1 // NALU, not sequence header (0) or end of sequence (2)
	}
	return true
}
