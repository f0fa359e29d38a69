package bench

import (
	"encoding/binary"
	"math"

	"streamedge/media/flv"
	"streamedge/media/rtmp/amf"
)

// The synthetic stream: 25 fps video with a keyframe every 2 s, AAC-LC at
// 44.1 kHz. Its bytes parse as FLV/AVC/AAC (a valid decoder configuration,
// length-prefixed NAL units of the right types) but decode to nothing: the
// players only count them, and the server only looks at the headers.
const (
	synthFPS       = 25
	synthGOPFrames = 50 // 2 s
	// synthKeyRatio is how many inter frames a keyframe weighs, about what
	// x264 produces for talking heads at these bitrates.
	synthKeyRatio    = 8
	synthAudioMaxBPS = 64000
	aacSampleRate    = 44100
	aacFrameSamples  = 1024
)

// tagSource is an endless stream of FLV tags with rising timestamps. A
// tag's Data is only valid until the next call.
type tagSource interface {
	next() flv.Tag
}

// synthetic generates a stream whose tag bodies add up to a given bitrate.
type synthetic struct {
	headers  []flv.Tag
	video    int // frames made
	audio    int
	keySize  int
	interSz  int
	audioPer float64 // bytes per audio frame; sizes alternate to hit it exactly
	buf      []byte  // keySize of filler, overwritten frame by frame
	abuf     []byte
}

func newSynthetic(bitrate float64) *synthetic {
	audioBPS := min(synthAudioMaxBPS, bitrate/10)
	gopBytes := (bitrate - audioBPS) / 8 * synthGOPFrames / synthFPS
	inter := max(16, int(gopBytes/(synthKeyRatio+synthGOPFrames-1)))
	key := max(16, int(gopBytes)-(synthGOPFrames-1)*inter)
	s := &synthetic{keySize: key, interSz: inter, audioPer: audioBPS / 8 * aacFrameSamples / aacSampleRate}
	s.buf = filler(key)
	s.abuf = filler(int(s.audioPer) + 8)
	s.abuf[0], s.abuf[1] = aacTagFlags, 1 // AAC raw frame
	s.headers = []flv.Tag{
		{Type: flv.TagScript, Data: synthMetadata(bitrate, audioBPS)},
		{Type: flv.TagVideo, Data: avcSequenceHeader(synthSPS(), synthPPS())},
		{Type: flv.TagAudio, Data: aacSequenceHeader()},
	}
	return s
}

// filler is deterministic noise without zero bytes, so no run of it looks
// like a start code or an emulation prevention sequence.
func filler(n int) []byte {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x%255) + 1
	}
	return b
}

func synthMetadata(bitrate, audioBPS float64) []byte {
	return amf.Append(nil, "onMetaData", []amf.Property{
		{Key: "width", Value: float64(synthWidth)},
		{Key: "height", Value: float64(synthHeight)},
		{Key: "framerate", Value: float64(synthFPS)},
		{Key: "videocodecid", Value: float64(flv.VideoCodecAVC)},
		{Key: "videodatarate", Value: (bitrate - audioBPS) / 1000},
		{Key: "audiocodecid", Value: float64(flv.AudioCodecAAC)},
		{Key: "audiodatarate", Value: audioBPS / 1000},
		{Key: "audiosamplerate", Value: float64(aacSampleRate)},
		{Key: "stereo", Value: true},
		{Key: "encoder", Value: "streamedge bench (synthetic)"},
	})
}

func (s *synthetic) next() flv.Tag {
	if len(s.headers) > 0 {
		t := s.headers[0]
		s.headers = s.headers[1:]
		return t
	}
	vts := uint32(s.video * 1000 / synthFPS)
	ats := uint32(uint64(s.audio) * aacFrameSamples * 1000 / aacSampleRate)
	if vts <= ats {
		return s.videoFrame(vts)
	}
	return s.audioFrame(ats)
}

// videoFrame lays out one AVC NALU tag: frame type and codec, packet type 1,
// composition time 0, then a 4-byte length and an IDR or non-IDR slice.
func (s *synthetic) videoFrame(ts uint32) flv.Tag {
	size, first, nal := s.interSz, byte(0x27), byte(0x41) // inter frame, non-IDR slice
	if s.video%synthGOPFrames == 0 {
		size, first, nal = s.keySize, 0x17, 0x65 // keyframe, IDR slice
	}
	s.video++
	b := s.buf[:size]
	b[0], b[1], b[2], b[3], b[4] = first, 1, 0, 0, 0
	binary.BigEndian.PutUint32(b[5:], uint32(size-9))
	b[9] = nal
	return flv.Tag{Type: flv.TagVideo, Timestamp: ts, Data: b}
}

func (s *synthetic) audioFrame(ts uint32) flv.Tag {
	m := float64(s.audio)
	size := max(3, int(math.Floor((m+1)*s.audioPer)-math.Floor(m*s.audioPer)))
	s.audio++
	return flv.Tag{Type: flv.TagAudio, Timestamp: ts, Data: s.abuf[:min(size, len(s.abuf))]}
}
