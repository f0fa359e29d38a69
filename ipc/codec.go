package ipc

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
)

// MaxFrame caps the length field of a frame (the kind byte and the body).
// It is far above any real message (a load report is a few KiB) and far
// below what would hurt the master if a worker sent garbage.
const MaxFrame = 1 << 20

// headerLen is the size of the big-endian length that starts every frame.
const headerLen = 4

var (
	// ErrFrameTooLarge: a length over MaxFrame, refused before allocating.
	ErrFrameTooLarge = errors.New("ipc: frame too large")
	// ErrUnknownKind: a kind byte that is no message of this build.
	ErrUnknownKind = errors.New("ipc: unknown message kind")
	// ErrEmptyFrame: a zero length, which cannot even hold the kind byte.
	ErrEmptyFrame = errors.New("ipc: empty frame")
	// ErrTrailingData: bytes after the frame's length, or after its JSON body.
	ErrTrailingData = errors.New("ipc: trailing data")
)

// Marshal encodes m as one whole frame: a 4-byte big-endian length of what
// follows, the kind byte, and the JSON body.
func Marshal(m Message) ([]byte, error) {
	if m == nil {
		return nil, errors.New("ipc: marshal of a nil message")
	}
	if v := reflect.ValueOf(m); v.Kind() == reflect.Pointer && v.IsNil() {
		return nil, fmt.Errorf("ipc: marshal of a nil %T", m)
	}
	body, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("ipc: marshal %s: %w", m.Kind(), err)
	}
	n := 1 + len(body)
	if n > MaxFrame {
		return nil, fmt.Errorf("%w: %s of %d bytes (max %d)", ErrFrameTooLarge, m.Kind(), n, MaxFrame)
	}
	frame := make([]byte, headerLen, headerLen+n)
	binary.BigEndian.PutUint32(frame, uint32(n))
	frame = append(frame, byte(m.Kind()))
	frame = append(frame, body...)
	return frame, nil
}

// Unmarshal decodes one whole frame as Marshal makes it. It is strict: the
// length must match the frame exactly, the kind must be known, and the JSON
// body must be a single value with no field the message does not have.
func Unmarshal(frame []byte) (Message, error) {
	if len(frame) < headerLen {
		return nil, fmt.Errorf("ipc: frame of %d bytes has no length: %w", len(frame), io.ErrUnexpectedEOF)
	}
	n, err := checkLength(binary.BigEndian.Uint32(frame))
	if err != nil {
		return nil, err
	}
	switch rest := len(frame) - headerLen; {
	case rest < n:
		return nil, fmt.Errorf("ipc: frame says %d bytes, has %d: %w", n, rest, io.ErrUnexpectedEOF)
	case rest > n:
		return nil, fmt.Errorf("%w: %d bytes after a frame of %d", ErrTrailingData, rest-n, n)
	}
	return decodeBody(Kind(frame[headerLen]), frame[headerLen+1:])
}

// ReadFrame reads one whole frame (length included) from r, ready for
// Unmarshal. It returns io.EOF only when r ends cleanly between frames, and
// io.ErrUnexpectedEOF when it ends inside one. A length over MaxFrame is
// refused before anything is allocated or read past the length. Every error
// leaves r at an unknown place in the stream: the caller should give up on r.
func ReadFrame(r io.Reader) ([]byte, error) {
	var hdr [headerLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err // io.EOF between frames, io.ErrUnexpectedEOF inside
	}
	n, err := checkLength(binary.BigEndian.Uint32(hdr[:]))
	if err != nil {
		return nil, err
	}
	frame := make([]byte, headerLen+n)
	copy(frame, hdr[:])
	if _, err := io.ReadFull(r, frame[headerLen:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return frame, nil
}

// checkLength vets a frame's length field before anything trusts it.
func checkLength(n uint32) (int, error) {
	switch {
	case n == 0:
		return 0, ErrEmptyFrame
	case n > MaxFrame:
		return 0, fmt.Errorf("%w: length %d (max %d)", ErrFrameTooLarge, n, MaxFrame)
	}
	return int(n), nil
}

// decodeBody is the one place that maps a kind byte to its type.
func decodeBody(k Kind, body []byte) (Message, error) {
	switch k {
	case KindHello:
		return decodeAs[Hello](body)
	case KindConfigure:
		return decodeAs[Configure](body)
	case KindReady:
		return decodeAs[Ready](body)
	case KindLoad:
		return decodeAs[Load](body)
	case KindClaim:
		return decodeAs[Claim](body)
	case KindClaimReply:
		return decodeAs[ClaimReply](body)
	case KindRelease:
		return decodeAs[Release](body)
	case KindLookup:
		return decodeAs[Lookup](body)
	case KindLookupReply:
		return decodeAs[LookupReply](body)
	case KindStreamPublished:
		return decodeAs[StreamPublished](body)
	case KindCommand:
		return decodeAs[Command](body)
	case KindStreamUnpublished:
		return decodeAs[StreamUnpublished](body)
	case KindListClients:
		return decodeAs[ListClients](body)
	case KindClientList:
		return decodeAs[ClientList](body)
	case KindAdmission:
		return decodeAs[Admission](body)
	case KindShed:
		return decodeAs[Shed](body)
	case KindBurn:
		return decodeAs[Burn](body)
	case KindKick:
		return decodeAs[Kick](body)
	case KindMove:
		return decodeAs[Move](body)
	case KindMoved:
		return decodeAs[Moved](body)
	case KindKicked:
		return decodeAs[Kicked](body)
	case KindPlace:
		return decodeAs[Place](body)
	case KindPlaceReply:
		return decodeAs[PlaceReply](body)
	case KindPull:
		return decodeAs[Pull](body)
	case KindUpstreamEvent:
		return decodeAs[UpstreamEvent](body)
	case KindRedirect:
		return decodeAs[Redirect](body)
	case KindRedirectReply:
		return decodeAs[RedirectReply](body)
	}
	return nil, fmt.Errorf("%w: %d", ErrUnknownKind, k)
}

// decodeAs decodes body strictly into a new T.
func decodeAs[T any, PT interface {
	*T
	Message
}](body []byte) (Message, error) {
	m := PT(new(T))
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(m); err != nil {
		if err == io.EOF {
			// Not the peer going away: a frame with a kind and no body.
			err = errors.New("no JSON body")
		}
		return nil, fmt.Errorf("ipc: decode %s: %w", m.Kind(), err)
	}
	// Token skips white space, so only a second value or stray bytes fail.
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w after the JSON body of %s", ErrTrailingData, m.Kind())
	}
	return m, nil
}
