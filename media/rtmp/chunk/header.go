package chunk

import "encoding/binary"

// Message type ids used by this server (RTMP spec 5.4 and 7.1).
const (
	TypeSetChunkSize     = 1
	TypeAbort            = 2
	TypeAck              = 3
	TypeUserControl      = 4
	TypeWindowAckSize    = 5
	TypeSetPeerBandwidth = 6
	TypeAudio            = 8
	TypeVideo            = 9
	TypeDataAMF3         = 15
	TypeCommandAMF3      = 17
	TypeDataAMF0         = 18
	TypeCommandAMF0      = 20
	TypeAggregate        = 22
)

// Chunk stream ids: the ones SRS uses, so captures look familiar.
const (
	CSIDProtocol = 2
	CSIDCommand  = 3
	CSIDData     = 5
	CSIDVideo    = 6
	CSIDAudio    = 7
)

// extendedTimestamp marks a 24-bit timestamp field whose value follows as 32 bits.
const extendedTimestamp = 0xFFFFFF

// MaxHeaderLen is the longest type-0 chunk header: 3 bytes of basic header,
// 11 of message header, 4 of extended timestamp.
const MaxHeaderLen = 18

// MaxContinuationLen is the longest type-3 header: basic header plus extended timestamp.
const MaxContinuationLen = 7

// CSIDForType picks the chunk stream a media or data message travels on.
func CSIDForType(typeID uint8) uint32 {
	switch typeID {
	case TypeAudio:
		return CSIDAudio
	case TypeVideo:
		return CSIDVideo
	case TypeDataAMF0, TypeDataAMF3:
		return CSIDData
	default:
		return CSIDCommand
	}
}

func putBasicHeader(dst []byte, format byte, csid uint32) int {
	switch {
	case csid < 64:
		dst[0] = format<<6 | byte(csid)
		return 1
	case csid < 64+256:
		dst[0] = format << 6
		dst[1] = byte(csid - 64)
		return 2
	default:
		dst[0] = format<<6 | 1
		binary.LittleEndian.PutUint16(dst[1:], uint16(csid-64))
		return 3
	}
}

func putUint24(dst []byte, v uint32) {
	dst[0] = byte(v >> 16)
	dst[1] = byte(v >> 8)
	dst[2] = byte(v)
}

// PutHeader writes the type-0 header that starts a message of length bytes and
// returns its length. Every message starts with a full header so that its
// bytes do not depend on what the connection sent before: that is what lets
// one encoding serve every player.
func PutHeader(dst []byte, csid uint32, typeID uint8, timestamp uint32, length int, streamID uint32) int {
	n := putBasicHeader(dst, 0, csid)
	ts := timestamp
	if timestamp >= extendedTimestamp {
		ts = extendedTimestamp
	}
	putUint24(dst[n:], ts)
	putUint24(dst[n+3:], uint32(length))
	dst[n+6] = typeID
	binary.LittleEndian.PutUint32(dst[n+7:], streamID)
	n += 11
	if timestamp >= extendedTimestamp {
		binary.BigEndian.PutUint32(dst[n:], timestamp)
		n += 4
	}
	return n
}

// PutContinuation writes the type-3 header that precedes each further chunk
// of a message and returns its length. It repeats the extended timestamp, as
// the spec and Flash do.
func PutContinuation(dst []byte, csid uint32, timestamp uint32) int {
	n := putBasicHeader(dst, 3, csid)
	if timestamp >= extendedTimestamp {
		binary.BigEndian.PutUint32(dst[n:], timestamp)
		n += 4
	}
	return n
}

// AppendMessage appends a whole message, split into chunks of chunkSize, to dst.
// It is for control and command messages; media goes through the hub's
// pre-encoded headers instead.
func AppendMessage(dst []byte, csid uint32, typeID uint8, timestamp, streamID uint32, payload []byte, chunkSize int) []byte {
	var hdr [MaxHeaderLen]byte
	n := PutHeader(hdr[:], csid, typeID, timestamp, len(payload), streamID)
	dst = append(dst, hdr[:n]...)
	var cont [MaxContinuationLen]byte
	cn := PutContinuation(cont[:], csid, timestamp)
	for first := true; first || len(payload) > 0; first = false {
		if !first {
			dst = append(dst, cont[:cn]...)
		}
		k := min(len(payload), chunkSize)
		dst = append(dst, payload[:k]...)
		payload = payload[k:]
	}
	return dst
}
