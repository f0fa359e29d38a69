package flv

// BitWriter writes the MSB-first bit strings and Exp-Golomb codes of H.264
// syntax: what a synthetic stream (the load generator) or a test needs to
// make a real SPS, the inverse of the parsing in sps.go.
type BitWriter struct {
	b    []byte
	bits int
}

// U writes v in n bits, most significant first.
func (w *BitWriter) U(n int, v uint32) {
	for i := n - 1; i >= 0; i-- {
		if w.bits%8 == 0 {
			w.b = append(w.b, 0)
		}
		if v>>i&1 == 1 {
			w.b[len(w.b)-1] |= 0x80 >> (w.bits % 8)
		}
		w.bits++
	}
}

// Flag writes one bit.
func (w *BitWriter) Flag(v bool) {
	if v {
		w.U(1, 1)
	} else {
		w.U(1, 0)
	}
}

// UE writes an unsigned Exp-Golomb code: v+1 in binary, after as many zeros
// as it has bits less one.
func (w *BitWriter) UE(v uint32) {
	x := uint64(v) + 1
	n := 0
	for t := x; t > 1; t >>= 1 {
		n++
	}
	w.U(n, 0)
	w.U(n+1, uint32(x))
}

// SE writes a signed Exp-Golomb code.
func (w *BitWriter) SE(v int32) {
	if v > 0 {
		w.UE(uint32(2*v - 1))
	} else {
		w.UE(uint32(-2 * v))
	}
}

// NAL ends the RBSP (a one bit, then zeros to the byte boundary) and
// returns it as a NAL unit with header, emulation prevention bytes inserted
// (00 00 0x becomes 00 00 03 0x for x <= 3) as in a stream.
func (w *BitWriter) NAL(header byte) []byte {
	w.U(1, 1)
	for w.bits%8 != 0 {
		w.U(1, 0)
	}
	out := make([]byte, 0, 1+len(w.b)+len(w.b)/64)
	out = append(out, header)
	zeros := 0
	for _, c := range w.b {
		if zeros >= 2 && c <= 3 {
			out = append(out, 3)
			zeros = 0
		}
		out = append(out, c)
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return out
}
