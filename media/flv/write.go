package flv

import (
	"encoding/binary"
	"fmt"
)

// Header flag bits in byte 4 of the file header.
const (
	flagAudio = 0x04
	flagVideo = 0x01
)

// AppendFileHeader appends the 9-byte FLV file header followed by the 4-byte
// PreviousTagSize0 (always zero) and returns the extended slice.
func AppendFileHeader(dst []byte, hasAudio, hasVideo bool) []byte {
	var flags byte
	if hasAudio {
		flags |= flagAudio
	}
	if hasVideo {
		flags |= flagVideo
	}
	return append(dst,
		'F', 'L', 'V', 1, flags,
		0, 0, 0, HeaderSize, // DataOffset: the body starts right after this header.
		0, 0, 0, 0, // PreviousTagSize0
	)
}

// PutTagHeader writes the 11-byte tag header into dst[:TagHeaderSize].
// The timestamp is split into its lower 24 bits and the extended byte, and
// the stream ID is always 0 as the format requires.
//
// It panics if dst is shorter than TagHeaderSize or dataSize does not fit the
// 24-bit field: both are programming errors, like an out-of-range index.
func PutTagHeader(dst []byte, tagType uint8, timestamp uint32, dataSize int) {
	if dataSize < 0 || dataSize > MaxDataSize {
		panic(fmt.Sprintf("flv: tag data size %d out of range [0, %d]", dataSize, MaxDataSize))
	}
	_ = dst[TagHeaderSize-1] // one bounds check instead of eleven
	dst[0] = tagType
	put24(dst[1:], uint32(dataSize))
	put24(dst[4:], timestamp)
	dst[7] = byte(timestamp >> 24)
	put24(dst[8:], 0)
}

// PutTagTrailer writes the 4-byte PreviousTagSize (TagHeaderSize+dataSize)
// that follows a tag body into dst[:TagTrailerSize].
func PutTagTrailer(dst []byte, dataSize int) {
	binary.BigEndian.PutUint32(dst, uint32(TagHeaderSize+dataSize))
}

func put24(b []byte, v uint32) {
	_ = b[2]
	b[0] = byte(v >> 16)
	b[1] = byte(v >> 8)
	b[2] = byte(v)
}

func get24(b []byte) uint32 {
	_ = b[2]
	return uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2])
}
