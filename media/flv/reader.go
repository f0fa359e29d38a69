package flv

import (
	"encoding/binary"
	"fmt"
	"io"
)

// DefaultMaxTagSize is the default limit on a tag body accepted by Reader.
// It is just above MaxDataSize, so by default only the format itself limits
// tag size; servers reading untrusted input should lower it.
const DefaultMaxTagSize = 16 << 20

// readChunk bounds how far ahead of the bytes actually received a Reader
// allocates. A tag header is free to claim 16 MiB; growing the buffer in
// steps means a peer must send the data before we commit the memory.
const readChunk = 64 << 10

// Reader decodes an FLV stream tag by tag.
//
// The PreviousTagSize field after each tag is read but not checked: many
// muxers write wrong values (for example, omitting the tag header, or
// leaving values stale after rewriting a tag), and the field adds nothing
// to sequential parsing, so rejecting streams over it would only break
// playback of files that are otherwise fine.
//
// Any error other than io.EOF is sticky: once the stream is misaligned there
// is no reliable way to find the next tag, so every later call returns the
// same error.
type Reader struct {
	r          io.Reader
	maxTagSize int
	reuse      bool

	buf [TagHeaderSize]byte
	// data is the body buffer kept between calls in reuse mode.
	data []byte
	err  error
}

// ReaderOption configures a Reader.
type ReaderOption func(*Reader)

// WithMaxTagSize limits the body size of tags the Reader accepts; ReadTag
// returns an error wrapping ErrTagTooLarge for larger ones. Values <= 0
// leave the default (DefaultMaxTagSize).
func WithMaxTagSize(n int) ReaderOption {
	return func(r *Reader) {
		if n > 0 {
			r.maxTagSize = n
		}
	}
}

// WithReuseBuffer makes ReadTag decode every tag body into one buffer owned
// by the Reader instead of allocating a fresh slice per tag. Tag.Data is
// then only valid until the next call to ReadTag; callers that keep it must
// copy it.
func WithReuseBuffer() ReaderOption {
	return func(r *Reader) { r.reuse = true }
}

// NewReader returns a Reader decoding from r. By default each Tag.Data is a
// freshly allocated slice the caller may keep; see WithReuseBuffer.
func NewReader(r io.Reader, opts ...ReaderOption) *Reader {
	fr := &Reader{r: r, maxTagSize: DefaultMaxTagSize}
	for _, o := range opts {
		o(fr)
	}
	return fr
}

// ReadHeader reads the FLV file header and PreviousTagSize0, leaving the
// Reader at the first tag. It reports the audio and video presence flags,
// which are hints only: muxers often set both regardless.
//
// An empty stream yields io.EOF. Header extension bytes announced by a data
// offset above HeaderSize are skipped, up to the Reader's max tag size.
func (r *Reader) ReadHeader() (hasAudio, hasVideo bool, err error) {
	if r.err != nil {
		return false, false, r.err
	}
	h := r.buf[:HeaderSize]
	if _, err := io.ReadFull(r.r, h); err != nil {
		return false, false, r.fail(truncated(err, "file header"))
	}
	if h[0] != 'F' || h[1] != 'L' || h[2] != 'V' {
		return false, false, r.fail(fmt.Errorf("%w: got %q", ErrInvalidSignature, h[:3]))
	}
	if h[3] != 1 {
		return false, false, r.fail(fmt.Errorf("%w: %d", ErrUnsupportedVersion, h[3]))
	}
	hasAudio = h[4]&flagAudio != 0
	hasVideo = h[4]&flagVideo != 0

	off := binary.BigEndian.Uint32(h[5:])
	if off < HeaderSize || int64(off)-HeaderSize > int64(r.maxTagSize) {
		return false, false, r.fail(fmt.Errorf("%w: %d", ErrInvalidDataOffset, off))
	}
	if skip := int64(off) - HeaderSize; skip > 0 {
		n, err := io.CopyN(io.Discard, r.r, skip)
		if n < skip {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return false, false, r.fail(fmt.Errorf("flv: truncated header extension: %w", err))
		}
	}
	if _, err := io.ReadFull(r.r, r.buf[:TagTrailerSize]); err != nil {
		return false, false, r.fail(truncated(errEOFIsUnexpected(err), "PreviousTagSize0"))
	}
	return hasAudio, hasVideo, nil
}

// ReadTag reads the next tag, including the PreviousTagSize that follows it.
// It returns io.EOF, unwrapped, only when the stream ends exactly at a tag
// boundary; a stream ending inside a tag yields an error wrapping
// io.ErrUnexpectedEOF.
//
// Tag.Type is the 5-bit tag type; the filter (encryption) bit and reserved
// bits are dropped. Unknown types are returned as-is for the caller to skip.
func (r *Reader) ReadTag() (Tag, error) {
	if r.err != nil {
		return Tag{}, r.err
	}
	h := r.buf[:TagHeaderSize]
	if _, err := io.ReadFull(r.r, h); err != nil {
		return Tag{}, r.fail(truncated(err, "tag header"))
	}
	size := int(get24(h[1:]))
	if size > r.maxTagSize {
		return Tag{}, r.fail(fmt.Errorf("%w: %d bytes, limit %d", ErrTagTooLarge, size, r.maxTagSize))
	}
	t := Tag{
		Type:      h[0] & 0x1f,
		Timestamp: get24(h[4:]) | uint32(h[7])<<24,
	}
	data, err := r.readBody(size)
	if err != nil {
		return Tag{}, r.fail(truncated(errEOFIsUnexpected(err), "tag body"))
	}
	t.Data = data
	if _, err := io.ReadFull(r.r, r.buf[:TagTrailerSize]); err != nil {
		return Tag{}, r.fail(truncated(errEOFIsUnexpected(err), "PreviousTagSize"))
	}
	return t, nil
}

// readBody reads exactly n bytes, growing its buffer at most readChunk (or
// double the bytes already received) ahead of the data, and never past n.
func (r *Reader) readBody(n int) ([]byte, error) {
	var buf []byte
	if r.reuse {
		buf = r.data[:0]
	}
	for len(buf) < n {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(n, max(2*len(buf), readChunk)))
			copy(grown, buf)
			buf = grown
		}
		end := min(n, cap(buf))
		k, err := io.ReadFull(r.r, buf[len(buf):end])
		buf = buf[:len(buf)+k]
		if err != nil {
			if r.reuse {
				r.data = buf
			}
			return nil, err
		}
	}
	if r.reuse {
		r.data = buf
	}
	return buf, nil
}

func (r *Reader) fail(err error) error {
	r.err = err
	return err
}

// truncated passes io.EOF through untouched, since it marks a clean end,
// and adds context to anything else.
func truncated(err error, what string) error {
	if err == io.EOF {
		return err
	}
	return fmt.Errorf("flv: reading %s: %w", what, err)
}

// errEOFIsUnexpected turns io.EOF into io.ErrUnexpectedEOF for reads that
// happen in the middle of a tag, where no clean end is possible.
func errEOFIsUnexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// ReadAll reads an FLV file's header and every tag after it, for callers
// that replay a whole file (tests, tools). Tags keep their own data.
func ReadAll(rd io.Reader) ([]Tag, error) {
	r := NewReader(rd)
	if _, _, err := r.ReadHeader(); err != nil {
		return nil, err
	}
	var tags []Tag
	for {
		tag, err := r.ReadTag()
		if err == io.EOF {
			return tags, nil
		}
		if err != nil {
			return tags, err
		}
		tags = append(tags, tag)
	}
}
