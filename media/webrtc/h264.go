package webrtc

import (
	"encoding/binary"
	"errors"

	"streamedge/media/flv"
)

// H.264 NAL unit types that matter here.
const (
	naluIDR = 5
	naluSPS = 7
	naluPPS = 8
	naluAUD = 9
)

// avcSequenceHeader is the FLV video tag body of an AVC sequence header
// (ISO 14496-15 AVCDecoderConfigurationRecord) for one SPS and one PPS,
// with 4-byte NALU lengths.
func avcSequenceHeader(sps, pps []byte) []byte {
	b := make([]byte, 0, flv.VideoTagHeaderSize+11+len(sps)+len(pps))
	b = append(b, flv.VideoFrameKey<<4|flv.VideoCodecAVC, flv.PacketSequenceHeader, 0, 0, 0)
	b = append(b, 1, sps[1], sps[2], sps[3], 0xfc|3, 0xe0|1)
	b = binary.BigEndian.AppendUint16(b, uint16(len(sps)))
	b = append(b, sps...)
	b = append(b, 1)
	b = binary.BigEndian.AppendUint16(b, uint16(len(pps)))
	return append(b, pps...)
}

// accessUnit is one depacketized H.264 picture: its NAL units in AVC form
// (4-byte length prefixes), the parameter sets it carried, and whether it
// is an IDR picture.
type accessUnit struct {
	avcc     []byte // every NALU but SPS, PPS and AUD, length-prefixed
	sps, pps []byte // the last of each in the unit, or nil
	key      bool
}

var errBadAVCC = errors.New("truncated AVC NAL unit")

// splitAU sorts the NAL units of a 4-byte-length-prefixed access unit.
// Parameter sets go to the sequence header, access unit delimiters are
// noise to FLV players; the rest is kept in order. It reuses dst.
func splitAU(data, dst []byte) (accessUnit, error) {
	au := accessUnit{avcc: dst[:0]}
	err := eachNALU(data, 4, func(nalu []byte) {
		switch nalu[0] & 0x1f {
		case naluSPS:
			if len(nalu) >= 4 {
				au.sps = nalu
			}
			return
		case naluPPS:
			au.pps = nalu
			return
		case naluAUD:
			return
		case naluIDR:
			au.key = true
		}
		au.avcc = binary.BigEndian.AppendUint32(au.avcc, uint32(len(nalu)))
		au.avcc = append(au.avcc, nalu...)
	})
	return au, err
}

// eachNALU calls fn for every non-empty NAL unit of an AVCC buffer whose
// lengths take lenSize bytes.
func eachNALU(data []byte, lenSize int, fn func(nalu []byte)) error {
	for len(data) > 0 {
		if len(data) < lenSize {
			return errBadAVCC
		}
		n := 0
		for _, b := range data[:lenSize] {
			n = n<<8 | int(b)
		}
		data = data[lenSize:]
		if n > len(data) {
			return errBadAVCC
		}
		if n > 0 {
			fn(data[:n])
		}
		data = data[n:]
	}
	return nil
}

// avcFrameTag is the FLV video tag body of a coded picture.
func avcFrameTag(avcc []byte, key bool) []byte {
	frame := byte(flv.VideoFrameInter)
	if key {
		frame = flv.VideoFrameKey
	}
	b := make([]byte, 0, flv.VideoTagHeaderSize+len(avcc))
	b = append(b, frame<<4|flv.VideoCodecAVC, 1, 0, 0, 0) // NALU, composition time 0: WebRTC has no B-frames
	return append(b, avcc...)
}

// videoTag is an FLV video tag body as a WHEP player needs it.
type videoTag struct {
	seq  bool   // an AVC sequence header (decoder configuration)
	cts  int32  // composition time offset, ms
	data []byte // length-prefixed NAL units of a coded picture
}

// parseVideoTag reads an H.264 tag, legacy (codec 7) or enhanced RTMP
// ("avc1"). ok is false for anything else: other codecs, end of sequence,
// command frames.
func parseVideoTag(b []byte) (t videoTag, ok bool) {
	if flv.IsVideoExHeader(b) {
		if flv.VideoFourCC(b) != "avc1" {
			return t, false
		}
		switch b[0] & 0x0f {
		case 0: // SequenceStart
			return videoTag{seq: true}, true
		case 1: // CodedFrames: SI24 composition time, then data
			if len(b) < 8 {
				return t, false
			}
			return videoTag{cts: si24(b[5:8]), data: b[8:]}, true
		case 3: // CodedFramesX: composition time 0
			return videoTag{data: b[5:]}, true
		}
		return t, false
	}
	if len(b) < flv.VideoTagHeaderSize || flv.VideoCodecID(b) != flv.VideoCodecAVC || flv.VideoFrameType(b) == flv.VideoFrameCommand {
		return t, false
	}
	switch b[1] {
	case flv.PacketSequenceHeader:
		return videoTag{seq: true}, true
	case 1:
		return videoTag{cts: si24(b[2:5]), data: b[5:]}, true
	}
	return t, false
}

func si24(b []byte) int32 {
	return int32(uint32(b[0])<<24|uint32(b[1])<<16|uint32(b[2])<<8) >> 8
}
