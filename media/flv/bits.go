package flv

import "errors"

var errBitsExhausted = errors.New("ran out of bits")

// bitReader reads the MSB-first bit strings and Exp-Golomb codes of H.264
// syntax. Errors are sticky and reads past the end return 0, so parsing code
// can read a run of fields and check err once.
type bitReader struct {
	b   []byte
	pos int // in bits
	err error
}

func (r *bitReader) bit() uint32 {
	if r.err != nil {
		return 0
	}
	if r.pos >= len(r.b)*8 {
		r.err = errBitsExhausted
		return 0
	}
	v := uint32(r.b[r.pos/8]>>(7-r.pos%8)) & 1
	r.pos++
	return v
}

// u reads an n-bit unsigned field, n <= 32.
func (r *bitReader) u(n int) uint32 {
	var v uint32
	for range n {
		v = v<<1 | r.bit()
	}
	return v
}

func (r *bitReader) flag() bool { return r.u(1) == 1 }

// ue reads an unsigned Exp-Golomb code. Codes longer than 32 bits cannot
// occur in a valid stream (no syntax element needs them), so they are
// rejected rather than risking overflow.
func (r *bitReader) ue() uint32 {
	zeros := 0
	for r.bit() == 0 {
		if r.err != nil {
			return 0
		}
		zeros++
		if zeros > 31 {
			r.err = errors.New("exp-golomb code too long")
			return 0
		}
	}
	return uint32(uint64(1)<<zeros-1) + r.u(zeros)
}

// se reads a signed Exp-Golomb code.
func (r *bitReader) se() int32 {
	k := int64(r.ue())
	if k%2 == 1 {
		return int32((k + 1) / 2)
	}
	return int32(-k / 2)
}

// unescapeRBSP removes emulation prevention bytes (the 0x03 in 00 00 03),
// turning a NAL unit payload back into the raw bit string the syntax
// describes.
func unescapeRBSP(b []byte) []byte {
	out := make([]byte, 0, len(b))
	zeros := 0
	for _, c := range b {
		if zeros >= 2 && c == 3 {
			zeros = 0
			continue
		}
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
		out = append(out, c)
	}
	return out
}
