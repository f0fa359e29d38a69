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
	w := &BitWriter{}
	w.U(8, f.profile)
	w.U(8, 0)  // constraint flags
	w.U(8, 40) // level 4.0
	w.UE(0)    // sps id
	if hasChromaInfo(f.profile) {
		w.UE(f.chromaFormat)
		if f.chromaFormat == 3 {
			w.Flag(f.separatePlanes)
		}
		w.UE(0)
		w.UE(0)
		w.Flag(false)
		w.Flag(f.scalingLists != nil)
		for _, l := range f.scalingLists {
			w.Flag(l != nil)
			for _, d := range l {
				w.SE(d)
			}
		}
	}
	w.UE(0) // log2_max_frame_num_minus4
	w.UE(f.pocType)
	switch f.pocType {
	case 0:
		w.UE(2)
	case 1:
		w.Flag(false)
		w.SE(-3)
		w.SE(5)
		w.UE(uint32(len(f.pocCycle)))
		for _, o := range f.pocCycle {
			w.SE(o)
		}
	}
	w.UE(4)
	w.Flag(false)
	w.UE(f.widthMbs - 1)
	w.UE(f.heightMapUnits - 1)
	w.Flag(f.frameMbsOnly)
	if !f.frameMbsOnly {
		w.Flag(true)
	}
	w.Flag(true)
	w.Flag(f.crop != nil)
	if f.crop != nil {
		for _, c := range f.crop {
			w.UE(c)
		}
	}
	w.Flag(false) // vui_parameters_present_flag
	return w.NAL(0x67)
}
