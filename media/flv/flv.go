// Package flv encodes and decodes the FLV container at the tag level and
// inspects the codec headers carried in tag bodies.
//
// It is a pure codec: it reads from an io.Reader and writes into byte slices
// and knows nothing of RTMP, HTTP or any other transport.
package flv

// Tag types as stored in the low five bits of the first tag header byte.
const (
	TagAudio  = 8
	TagVideo  = 9
	TagScript = 18
)

const (
	// HeaderSize is the size of the FLV file header, excluding the
	// PreviousTagSize0 field that follows it.
	HeaderSize = 9
	// TagHeaderSize is the size of the header in front of every tag body.
	TagHeaderSize = 11
	// TagTrailerSize is the size of the PreviousTagSize field after every tag.
	TagTrailerSize = 4
	// MaxDataSize is the largest tag body the 24-bit DataSize field can describe.
	MaxDataSize = 1<<24 - 1
)

// Tag is one FLV tag. Timestamp is in milliseconds, with the extended byte
// already folded in.
type Tag struct {
	Type      uint8
	Timestamp uint32
	Data      []byte
}
