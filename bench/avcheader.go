package bench

import (
	"encoding/binary"

	"streamedge/media/flv"
)

// The synthetic stream's picture: what its SPS and metadata announce.
const (
	synthWidth  = 1280
	synthHeight = 720
)

// synthSPS is a Constrained Baseline, level 3.1 SPS for the synthetic size.
func synthSPS() []byte {
	var w flv.BitWriter
	w.U(8, 66)   // profile_idc: baseline
	w.U(8, 0xc0) // constraint_set0 and set1: constrained baseline
	w.U(8, 31)   // level_idc
	w.UE(0)      // seq_parameter_set_id
	w.UE(2)      // log2_max_frame_num_minus4
	w.UE(2)      // pic_order_cnt_type: none needed without B-frames
	w.UE(1)      // max_num_ref_frames
	w.U(1, 0)    // gaps_in_frame_num_value_allowed_flag
	w.UE(synthWidth/16 - 1)
	w.UE(synthHeight/16 - 1)
	w.U(1, 1) // frame_mbs_only_flag
	w.U(1, 1) // direct_8x8_inference_flag
	w.U(1, 0) // frame_cropping_flag: 1280x720 is whole macroblocks
	w.U(1, 0) // vui_parameters_present_flag
	return w.NAL(0x67)
}

// synthPPS is a CAVLC PPS for synthSPS.
func synthPPS() []byte {
	var w flv.BitWriter
	w.UE(0)   // pic_parameter_set_id
	w.UE(0)   // seq_parameter_set_id
	w.U(1, 0) // entropy_coding_mode_flag: CAVLC
	w.U(1, 0) // bottom_field_pic_order_in_frame_present_flag
	w.UE(0)   // num_slice_groups_minus1
	w.UE(0)   // num_ref_idx_l0_default_active_minus1
	w.UE(0)   // num_ref_idx_l1_default_active_minus1
	w.U(1, 0) // weighted_pred_flag
	w.U(2, 0) // weighted_bipred_idc
	w.UE(0)   // pic_init_qp_minus26 (se 0 codes as ue 0)
	w.UE(0)   // pic_init_qs_minus26
	w.UE(0)   // chroma_qp_index_offset
	w.U(1, 1) // deblocking_filter_control_present_flag
	w.U(1, 0) // constrained_intra_pred_flag
	w.U(1, 0) // redundant_pic_cnt_present_flag
	return w.NAL(0x68)
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
