package hub

import (
	"streamedge/media/flv"
	"streamedge/media/rtmp/chunk"
)

// RTMPStreamID is the message stream id the RTMP server gives every player,
// so that the RTMP headers encoded once in each Msg are valid for all of them.
const RTMPStreamID = 1

// Msg is one media or data message as the players see it. It is immutable
// once the publisher has pushed it: every player shares the same Msg.
type Msg struct {
	Type      uint8  // flv.TagAudio, flv.TagVideo or flv.TagScript
	Timestamp uint32 // milliseconds, rebased so a stream's time never restarts
	Payload   []byte // the FLV tag body / RTMP message body
	Keyframe  bool   // a video keyframe that is not a sequence header
	SeqHeader bool   // an AVC/HEVC/AAC sequence header

	flvHeader  [flv.TagHeaderSize]byte
	flvTrailer [4]byte
	rtmpHeader [chunk.MaxHeaderLen]byte
	rtmpCont   [chunk.MaxContinuationLen]byte
	rtmpHdrLen uint8
	rtmpCntLen uint8
}

// NewMsg classifies a message and encodes its wire headers once, at
// publish: the FLV tag header and trailer, and the RTMP chunk headers for
// RTMPStreamID. The hub knows both players' wire formats on purpose: it is
// what makes fan-out cheap, since every player of either protocol writes
// these same bytes (writev) instead of encoding each message again.
// The hub keeps payload: the caller must not change it afterwards.
func NewMsg(typeID uint8, timestamp uint32, payload []byte) *Msg {
	m := &Msg{Type: typeID, Timestamp: timestamp, Payload: payload}
	switch typeID {
	case flv.TagVideo:
		m.SeqHeader = flv.IsVideoSequenceHeader(payload)
		m.Keyframe = flv.IsVideoKeyPicture(payload)
	case flv.TagAudio:
		m.SeqHeader = flv.IsAudioSequenceHeader(payload)
	}
	flv.PutTagHeader(m.flvHeader[:], typeID, timestamp, len(payload))
	flv.PutTagTrailer(m.flvTrailer[:], len(payload))
	csid := chunk.CSIDForType(typeID)
	m.rtmpHdrLen = uint8(chunk.PutHeader(m.rtmpHeader[:], csid, typeID, timestamp, len(payload), RTMPStreamID))
	m.rtmpCntLen = uint8(chunk.PutContinuation(m.rtmpCont[:], csid, timestamp))
	return m
}

// FLVHeader is the 11-byte tag header that precedes Payload in an FLV stream.
func (m *Msg) FLVHeader() []byte { return m.flvHeader[:] }

// FLVTrailer is the PreviousTagSize that follows Payload in an FLV stream.
func (m *Msg) FLVTrailer() []byte { return m.flvTrailer[:] }

// RTMPHeader is the type-0 chunk header that starts the message on RTMPStreamID.
func (m *Msg) RTMPHeader() []byte { return m.rtmpHeader[:m.rtmpHdrLen] }

// RTMPContinuation is the type-3 header before each further chunk.
func (m *Msg) RTMPContinuation() []byte { return m.rtmpCont[:m.rtmpCntLen] }

// isMetadata tells an onMetaData script message (AMF0 string "onMetaData"
// first) from other data messages such as cue points.
func isMetadata(payload []byte) bool {
	const name = "\x02\x00\x0aonMetaData"
	return len(payload) >= len(name) && string(payload[:len(name)]) == name
}
