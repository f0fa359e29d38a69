package flv

// encodeStream builds an FLV stream from tags with the package's own writers.
func encodeStream(hasAudio, hasVideo bool, tags ...Tag) []byte {
	b := AppendFileHeader(nil, hasAudio, hasVideo)
	for _, t := range tags {
		b = appendTag(b, t)
	}
	return b
}

func appendTag(b []byte, t Tag) []byte {
	var h [TagHeaderSize]byte
	PutTagHeader(h[:], t.Type, t.Timestamp, len(t.Data))
	b = append(b, h[:]...)
	b = append(b, t.Data...)
	var tr [TagTrailerSize]byte
	PutTagTrailer(tr[:], len(t.Data))
	return append(b, tr[:]...)
}

// avcSequenceHeader wraps parameter sets in a legacy AVC sequence header tag
// body, as an encoder would send it.
func avcSequenceHeader(sps, pps []byte) []byte {
	var profile [3]byte // copied from the SPS when it is long enough to hold them
	copy(profile[:], sps[min(1, len(sps)):])
	b := []byte{0x17, 0x00, 0, 0, 0, 1, profile[0], profile[1], profile[2], 0xff, 0xe1}
	b = append(b, byte(len(sps)>>8), byte(len(sps)))
	b = append(b, sps...)
	b = append(b, 1, byte(len(pps)>>8), byte(len(pps)))
	return append(b, pps...)
}

// bitWriter produces H.264-style bit strings for synthesised SPS test data.
type bitWriter struct {
	b []byte
	n int // bits used
}

func (w *bitWriter) u(bits int, v uint32) {
	for i := bits - 1; i >= 0; i-- {
		if w.n%8 == 0 {
			w.b = append(w.b, 0)
		}
		if v>>i&1 == 1 {
			w.b[len(w.b)-1] |= 0x80 >> (w.n % 8)
		}
		w.n++
	}
}

func (w *bitWriter) flag(v bool) {
	if v {
		w.u(1, 1)
	} else {
		w.u(1, 0)
	}
}

func (w *bitWriter) ue(v uint32) {
	x := uint64(v) + 1
	bits := 0
	for x>>bits > 1 {
		bits++
	}
	w.u(bits, 0)
	w.u(bits+1, uint32(x))
}

func (w *bitWriter) se(v int32) {
	if v > 0 {
		w.ue(uint32(2*v - 1))
	} else {
		w.ue(uint32(-2 * v))
	}
}

// nal finishes the RBSP with its stop bit and returns it as a NAL unit with
// emulation prevention bytes inserted, as they would appear in a stream.
func (w *bitWriter) nal(header byte) []byte {
	w.u(1, 1)
	for w.n%8 != 0 {
		w.u(1, 0)
	}
	out := []byte{header}
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

// spsFields are the SPS syntax elements the tests vary.
type spsFields struct {
	profile        uint32
	chromaFormat   uint32
	separatePlanes bool
	// scalingLists, if non-nil, enables the scaling matrix; each entry is
	// the delta_scale list for that index, nil meaning "not present".
	scalingLists   [][]int32
	pocType        uint32
	pocCycle       []int32
	widthMbs       uint32
	heightMapUnits uint32
	frameMbsOnly   bool
	crop           *[4]uint32 // left, right, top, bottom
}

func (f spsFields) encode() []byte {
	w := &bitWriter{}
	w.u(8, f.profile)
	w.u(8, 0)  // constraint flags
	w.u(8, 40) // level 4.0
	w.ue(0)    // sps id
	if hasChromaInfo(f.profile) {
		w.ue(f.chromaFormat)
		if f.chromaFormat == 3 {
			w.flag(f.separatePlanes)
		}
		w.ue(0)
		w.ue(0)
		w.flag(false)
		w.flag(f.scalingLists != nil)
		for _, l := range f.scalingLists {
			w.flag(l != nil)
			for _, d := range l {
				w.se(d)
			}
		}
	}
	w.ue(0) // log2_max_frame_num_minus4
	w.ue(f.pocType)
	switch f.pocType {
	case 0:
		w.ue(2)
	case 1:
		w.flag(false)
		w.se(-3)
		w.se(5)
		w.ue(uint32(len(f.pocCycle)))
		for _, o := range f.pocCycle {
			w.se(o)
		}
	}
	w.ue(4)
	w.flag(false)
	w.ue(f.widthMbs - 1)
	w.ue(f.heightMapUnits - 1)
	w.flag(f.frameMbsOnly)
	if !f.frameMbsOnly {
		w.flag(true)
	}
	w.flag(true)
	w.flag(f.crop != nil)
	if f.crop != nil {
		for _, c := range f.crop {
			w.ue(c)
		}
	}
	w.flag(false) // vui_parameters_present_flag
	return w.nal(0x67)
}
