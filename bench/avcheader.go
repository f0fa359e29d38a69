package bench

import "encoding/binary"

// The synthetic stream's picture: what its SPS and metadata announce.
const (
	synthWidth  = 1280
	synthHeight = 720
)

// bitWriter writes the MSB-first bit strings and Exp-Golomb codes of H.264
// syntax.
type bitWriter struct {
	b    []byte
	bits int
}

func (w *bitWriter) u(n int, v uint32) {
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

// ue writes an unsigned Exp-Golomb code: v+1 in binary, after as many zeros
// as it has bits less one.
func (w *bitWriter) ue(v uint32) {
	x := uint64(v) + 1
	n := 0
	for t := x; t > 1; t >>= 1 {
		n++
	}
	w.u(n, 0)
	w.u(n+1, uint32(x))
}

// trailing ends an RBSP: a one bit, then zeros to the byte boundary.
func (w *bitWriter) trailing() []byte {
	w.u(1, 1)
	for w.bits%8 != 0 {
		w.u(1, 0)
	}
	return w.b
}

// escapeRBSP inserts the emulation prevention bytes (00 00 0x -> 00 00 03 0x
// for x <= 3) that keep a NAL unit from containing a start code.
func escapeRBSP(rbsp []byte) []byte {
	out := make([]byte, 0, len(rbsp)+len(rbsp)/64)
	zeros := 0
	for _, c := range rbsp {
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

// synthSPS is a Constrained Baseline, level 3.1 SPS for the synthetic size.
func synthSPS() []byte {
	var w bitWriter
	w.u(8, 66)   // profile_idc: baseline
	w.u(8, 0xc0) // constraint_set0 and set1: constrained baseline
	w.u(8, 31)   // level_idc
	w.ue(0)      // seq_parameter_set_id
	w.ue(2)      // log2_max_frame_num_minus4
	w.ue(2)      // pic_order_cnt_type: none needed without B-frames
	w.ue(1)      // max_num_ref_frames
	w.u(1, 0)    // gaps_in_frame_num_value_allowed_flag
	w.ue(synthWidth/16 - 1)
	w.ue(synthHeight/16 - 1)
	w.u(1, 1) // frame_mbs_only_flag
	w.u(1, 1) // direct_8x8_inference_flag
	w.u(1, 0) // frame_cropping_flag: 1280x720 is whole macroblocks
	w.u(1, 0) // vui_parameters_present_flag
	return append([]byte{0x67}, escapeRBSP(w.trailing())...)
}

// synthPPS is a CAVLC PPS for synthSPS.
func synthPPS() []byte {
	var w bitWriter
	w.ue(0)   // pic_parameter_set_id
	w.ue(0)   // seq_parameter_set_id
	w.u(1, 0) // entropy_coding_mode_flag: CAVLC
	w.u(1, 0) // bottom_field_pic_order_in_frame_present_flag
	w.ue(0)   // num_slice_groups_minus1
	w.ue(0)   // num_ref_idx_l0_default_active_minus1
	w.ue(0)   // num_ref_idx_l1_default_active_minus1
	w.u(1, 0) // weighted_pred_flag
	w.u(2, 0) // weighted_bipred_idc
	w.ue(0)   // pic_init_qp_minus26 (se 0 codes as ue 0)
	w.ue(0)   // pic_init_qs_minus26
	w.ue(0)   // chroma_qp_index_offset
	w.u(1, 1) // deblocking_filter_control_present_flag
	w.u(1, 0) // constrained_intra_pred_flag
	w.u(1, 0) // redundant_pic_cnt_present_flag
	return append([]byte{0x68}, escapeRBSP(w.trailing())...)
}

// avcSequenceHeader is the FLV video tag body that carries the
// AVCDecoderConfigurationRecord for sps and pps.
func avcSequenceHeader(sps, pps []byte) []byte {
	b := []byte{0x17, 0, 0, 0, 0, // keyframe, AVC, sequence header, composition time 0
		1, sps[1], sps[2], sps[3], // configurationVersion, profile, compatibility, level
		0xff, // 4-byte NALU lengths
		0xe1} // one SPS
	b = binary.BigEndian.AppendUint16(b, uint16(len(sps)))
	b = append(b, sps...)
	b = append(b, 1) // one PPS
	b = binary.BigEndian.AppendUint16(b, uint16(len(pps)))
	return append(b, pps...)
}

// aacSequenceHeader is the FLV audio tag body with the AudioSpecificConfig
// of AAC-LC, 44.1 kHz, stereo: object type 2, frequency index 4, channels 2.
func aacSequenceHeader() []byte {
	return []byte{aacTagFlags, 0, 0x12, 0x10}
}

// aacTagFlags is the first byte of every AAC tag: AAC, 44 kHz, 16 bit, stereo.
const aacTagFlags = 0xaf
