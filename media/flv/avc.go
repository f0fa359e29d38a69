package flv

import (
	"errors"
	"fmt"
)

// ErrInvalidAVCConfig is wrapped by every error ParseAVCConfig returns.
var ErrInvalidAVCConfig = errors.New("flv: invalid AVC decoder configuration")

// AVCConfig is the part of an AVCDecoderConfigurationRecord that tools and
// tests care about, plus the picture size decoded from its first SPS.
type AVCConfig struct {
	Profile              uint8 // AVCProfileIndication, e.g. 66 baseline, 77 main, 100 high
	ProfileCompatibility uint8
	Level                uint8 // level_idc, e.g. 30 for level 3.0
	NALULengthSize       int   // bytes in each NALU length prefix (1, 2 or 4)

	// SPS and PPS are the first parameter sets in the record, NAL header
	// included. They are copies, so they stay valid if the tag body is reused.
	SPS, PPS []byte

	// Width and Height are the displayed size in pixels, after cropping.
	Width, Height int
}

// ParseAVCConfig parses the AVC sequence header carried in a video tag body
// (Tag.Data): the 5-byte video tag header, legacy or enhanced-RTMP "avc1",
// followed by the AVCDecoderConfigurationRecord. It decodes the first SPS far
// enough to report the picture size.
func ParseAVCConfig(data []byte) (AVCConfig, error) {
	var c AVCConfig
	if !isAVCSequenceHeader(data) {
		return c, fmt.Errorf("%w: not an AVC sequence header", ErrInvalidAVCConfig)
	}
	if len(data) < VideoTagHeaderSize {
		return c, fmt.Errorf("%w: video tag header truncated", ErrInvalidAVCConfig)
	}
	rec := data[VideoTagHeaderSize:]
	if len(rec) < 6 {
		return c, fmt.Errorf("%w: record too short (%d bytes)", ErrInvalidAVCConfig, len(rec))
	}
	if rec[0] != 1 {
		return c, fmt.Errorf("%w: configurationVersion %d", ErrInvalidAVCConfig, rec[0])
	}
	c.Profile, c.ProfileCompatibility, c.Level = rec[1], rec[2], rec[3]
	c.NALULengthSize = int(rec[4]&0x03) + 1

	p := 5
	sps, p, err := parameterSets(rec, p, int(rec[p]&0x1f), "SPS")
	if err != nil {
		return c, err
	}
	if p >= len(rec) {
		return c, fmt.Errorf("%w: missing PPS count", ErrInvalidAVCConfig)
	}
	pps, _, err := parameterSets(rec, p, int(rec[p]), "PPS")
	if err != nil {
		return c, err
	}
	c.SPS = append([]byte(nil), sps...)
	c.PPS = append([]byte(nil), pps...)

	c.Width, c.Height, err = spsPictureSize(sps)
	if err != nil {
		return c, fmt.Errorf("%w: SPS: %v", ErrInvalidAVCConfig, err)
	}
	return c, nil
}

func isAVCSequenceHeader(data []byte) bool {
	if IsVideoExHeader(data) {
		return IsVideoSequenceHeader(data) && VideoFourCC(data) == "avc1"
	}
	return VideoCodecID(data) == VideoCodecAVC && IsVideoSequenceHeader(data)
}

// parameterSets walks count length-prefixed parameter sets starting after
// the count byte at rec[p] and returns the first one and the offset just past
// the last one. At least one is required: a decoder cannot start without it.
func parameterSets(rec []byte, p, count int, name string) (first []byte, next int, err error) {
	if count == 0 {
		return nil, 0, fmt.Errorf("%w: no %s", ErrInvalidAVCConfig, name)
	}
	p++
	for i := range count {
		if p+2 > len(rec) {
			return nil, 0, fmt.Errorf("%w: truncated %s length", ErrInvalidAVCConfig, name)
		}
		n := int(rec[p])<<8 | int(rec[p+1])
		p += 2
		if n == 0 || p+n > len(rec) {
			return nil, 0, fmt.Errorf("%w: %s %d has length %d, %d bytes left", ErrInvalidAVCConfig, name, i, n, len(rec)-p)
		}
		if i == 0 {
			first = rec[p : p+n]
		}
		p += n
	}
	return first, p, nil
}
