package flv

import (
	"errors"
	"fmt"
)

const nalTypeSPS = 7

// maxPictureSize bounds decoded dimensions. It is far above any H.264 level
// limit; its job is to reject garbage that happens to parse.
const maxPictureSize = 1 << 16

// spsPictureSize decodes an H.264 sequence parameter set NAL unit (header
// byte included) up to the frame cropping fields and returns the cropped
// picture size (ITU-T H.264 section 7.3.2.1.1 and equations 7-19 to 7-22).
func spsPictureSize(nal []byte) (width, height int, err error) {
	if len(nal) < 4 {
		return 0, 0, errors.New("too short")
	}
	if t := nal[0] & 0x1f; t != nalTypeSPS {
		return 0, 0, fmt.Errorf("NAL unit type %d, want %d", t, nalTypeSPS)
	}
	r := &bitReader{b: unescapeRBSP(nal[1:])}
	profile := r.u(8)
	r.u(8) // constraint flags
	r.u(8) // level_idc
	r.ue() // seq_parameter_set_id

	chromaFormat := uint32(1) // 4:2:0 unless the high-profile fields say otherwise
	separateColourPlanes := false
	if hasChromaInfo(profile) {
		chromaFormat = r.ue()
		if chromaFormat > 3 {
			return 0, 0, fmt.Errorf("chroma_format_idc %d", chromaFormat)
		}
		if chromaFormat == 3 {
			separateColourPlanes = r.flag()
		}
		r.ue()        // bit_depth_luma_minus8
		r.ue()        // bit_depth_chroma_minus8
		r.u(1)        // qpprime_y_zero_transform_bypass_flag
		if r.flag() { // seq_scaling_matrix_present_flag
			lists := 8
			if chromaFormat == 3 {
				lists = 12
			}
			for i := range lists {
				if r.flag() {
					size := 16
					if i >= 6 {
						size = 64
					}
					skipScalingList(r, size)
				}
			}
		}
	}

	r.ue() // log2_max_frame_num_minus4
	switch pocType := r.ue(); pocType {
	case 0:
		r.ue() // log2_max_pic_order_cnt_lsb_minus4
	case 1:
		r.u(1) // delta_pic_order_always_zero_flag
		r.se() // offset_for_non_ref_pic
		r.se() // offset_for_top_to_bottom_field
		n := r.ue()
		if n > 255 {
			return 0, 0, fmt.Errorf("num_ref_frames_in_pic_order_cnt_cycle %d", n)
		}
		for range n {
			r.se()
		}
	case 2:
	default:
		return 0, 0, fmt.Errorf("pic_order_cnt_type %d", pocType)
	}
	r.ue() // max_num_ref_frames
	r.u(1) // gaps_in_frame_num_value_allowed_flag
	widthMbs := int64(r.ue()) + 1
	heightMapUnits := int64(r.ue()) + 1
	frameMbsOnly := r.flag()
	if !frameMbsOnly {
		r.u(1) // mb_adaptive_frame_field_flag
	}
	r.u(1) // direct_8x8_inference_flag
	var cropL, cropR, cropT, cropB int64
	if r.flag() {
		cropL, cropR, cropT, cropB = int64(r.ue()), int64(r.ue()), int64(r.ue()), int64(r.ue())
	}
	if r.err != nil {
		return 0, 0, r.err
	}

	// Interlaced streams code field pairs, so each map unit is two MB rows.
	fieldFactor := int64(2)
	if frameMbsOnly {
		fieldFactor = 1
	}
	// Crop offsets count chroma samples, so scale by the subsampling.
	cropUnitX, cropUnitY := int64(1), fieldFactor
	if !separateColourPlanes && chromaFormat != 0 {
		subW, subH := int64(2), int64(2)
		switch chromaFormat {
		case 2:
			subH = 1
		case 3:
			subW, subH = 1, 1
		}
		cropUnitX, cropUnitY = subW, subH*fieldFactor
	}
	w := widthMbs*16 - cropUnitX*(cropL+cropR)
	h := fieldFactor*heightMapUnits*16 - cropUnitY*(cropT+cropB)
	if w <= 0 || h <= 0 || w > maxPictureSize || h > maxPictureSize {
		return 0, 0, fmt.Errorf("implausible picture size %dx%d", w, h)
	}
	return int(w), int(h), nil
}

// hasChromaInfo reports whether profile_idc is one of the profiles whose SPS
// carries chroma format, bit depth and scaling matrix fields.
func hasChromaInfo(profile uint32) bool {
	switch profile {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		return true
	}
	return false
}

// skipScalingList consumes a scaling_list() structure. Only its length
// matters here, but that depends on the decoded values: a next scale of 0
// ends the explicit deltas early.
func skipScalingList(r *bitReader, size int) {
	last, next := int32(8), int32(8)
	for range size {
		if next != 0 {
			delta := r.se()
			next = (last + delta + 256) % 256
		}
		if next != 0 {
			last = next
		}
		if r.err != nil {
			return
		}
	}
}
