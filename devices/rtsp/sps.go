package rtsp

import (
	"errors"
	"fmt"
	"strconv"
)

// ErrSPS marks a NAL unit that is not a sequence parameter set apedge can read.
var ErrSPS = errors.New("rtsp: bad SPS")

// Limits on what an SPS may say. ITU-T H.264 and H.265 allow 16888 luma samples at
// their highest levels (H.265 table A.8: 8444 pixels wide at level 6.x is
// sqrt(MaxLumaPs*8)); anything bigger is garbage.
const (
	maxPictureSide = 16888
	maxSPSBytes    = 4096 // an SPS is some tens of bytes; with scaling lists a few hundred
)

// SPS is what a sequence parameter set says about a video stream.
type SPS struct {
	// Codec is "h264" or "h265".
	Codec string
	// Profile is the profile's name as ffprobe gives it: "Baseline", "Constrained
	// Baseline", "Main", "High", "High 10", "Main 10", "Rext", ...; ProfileIDC the
	// profile_idc (H.264) or general_profile_idc (H.265) it comes from.
	Profile    string
	ProfileIDC int
	// LevelIDC is level_idc (H.264: ten times the level) or general_level_idc (H.265:
	// thirty times the level); Level is the level written as a number, "3.1", "4",
	// "1b".
	LevelIDC int
	Level    string
	// Width and Height are the displayed picture size, after cropping (H.264 frame
	// cropping, H.265 conformance window).
	Width, Height int
	// CodedWidth and CodedHeight are the coded picture size: whole macroblocks for
	// H.264, pic_width/height_in_luma_samples for H.265.
	CodedWidth, CodedHeight int
	// ChromaFormat is chroma_format_idc (0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4);
	// BitDepth the luma bit depth.
	ChromaFormat int
	BitDepth     int
	// Interlaced is true for H.264 field or MBAFF coding (frame_mbs_only_flag 0).
	Interlaced bool
	// FPS is the frame rate the VUI timing information gives (H.264:
	// time_scale / (2 * num_units_in_tick), H.265: vui_time_scale /
	// vui_num_units_in_tick), or 0 when the SPS has none. Cameras often leave it out
	// or get it wrong: the RTP timestamps are what the Inspector measures.
	FPS float64
}

// ParseSPS parses an H.264 (ITU-T H.264 section 7.3.2.1.1) or H.265 (ITU-T H.265
// section 7.3.2.2.1) sequence parameter set NAL unit, header first, without a start
// code, emulation prevention bytes as sent. The VUI is read on a best-effort basis
// for its frame rate: a VUI cut short leaves FPS 0 rather than failing. Every other
// fault is an error wrapping ErrSPS.
func ParseSPS(codec string, nalu []byte) (SPS, error) {
	if len(nalu) > maxSPSBytes {
		return SPS{}, fmt.Errorf("%w: %d bytes", ErrSPS, len(nalu))
	}
	switch codec {
	case CodecH264:
		if len(nalu) < 1 || nalu[0]&0x1f != h264SPS {
			return SPS{}, fmt.Errorf("%w: not an H.264 SPS NAL unit", ErrSPS)
		}
		return parseSPS264(rbsp(nalu[1:]))
	case CodecH265:
		if t, ok := NALUType(CodecH265, nalu); !ok || t != h265SPS {
			return SPS{}, fmt.Errorf("%w: not an H.265 SPS NAL unit", ErrSPS)
		}
		return parseSPS265(rbsp(nalu[2:]))
	}
	return SPS{}, fmt.Errorf("%w: codec %q", ErrSPS, clip(codec))
}

// rbsp removes the emulation prevention bytes of a NAL unit's payload: the 0x03 of
// every 0x00 0x00 0x03 (ITU-T H.264 section 7.4.1, H.265 section 7.4.2).
func rbsp(b []byte) []byte {
	out := make([]byte, 0, len(b))
	zeros := 0
	for _, c := range b {
		if zeros >= 2 && c == 3 {
			zeros = 0
			continue
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

// bitReader reads the bits of an RBSP most significant first. A read past the end
// sets err and returns zeros; the parsers check err where a loop or a size depends
// on what was read, and at the end.
type bitReader struct {
	b   []byte
	pos int // in bits
	err error
}

// errShort is the error of a read past the end.
var errShort = errors.New("ends too soon")

// u reads an n-bit unsigned integer, n at most 32 (u(n) of section 7.2).
func (r *bitReader) u(n int) uint32 {
	if r.err != nil {
		return 0
	}
	if n < 0 || n > 32 || r.pos+n > len(r.b)*8 {
		r.err = errShort
		return 0
	}
	var v uint32
	for range n {
		v = v<<1 | uint32(r.b[r.pos>>3]>>(7-r.pos&7)&1)
		r.pos++
	}
	return v
}

// flag reads one bit.
func (r *bitReader) flag() bool { return r.u(1) == 1 }

// skip skips n bits.
func (r *bitReader) skip(n int) {
	if r.err == nil && r.pos+n > len(r.b)*8 {
		r.err = errShort
	}
	if r.err == nil {
		r.pos += n
	}
}

// ue reads an unsigned exp-Golomb code (ue(v), section 9.1); more than 31 leading
// zeros cannot be a 32-bit value and is an error.
func (r *bitReader) ue() uint32 {
	zeros := 0
	for r.err == nil && !r.flag() {
		zeros++
		if zeros > 31 {
			r.err = errors.New("exp-Golomb code over 32 bits")
		}
	}
	if r.err != nil {
		return 0
	}
	v := uint64(1)<<zeros - 1 + uint64(r.u(zeros))
	if v > 1<<32-2 {
		r.err = errors.New("exp-Golomb code over 32 bits")
		return 0
	}
	return uint32(v)
}

// se reads a signed exp-Golomb code (se(v), section 9.1.1).
func (r *bitReader) se() int32 {
	k := int64(r.ue())
	if k&1 == 1 {
		return int32((k + 1) / 2)
	}
	return int32(-k / 2)
}

// uemax reads a ue(v) that the standard bounds by max, as the named field.
func (r *bitReader) uemax(name string, max uint32) int {
	v := r.ue()
	if r.err == nil && v > max {
		r.err = fmt.Errorf("%s %d over %d", name, v, max)
	}
	return int(v)
}

// h264HighProfiles are the profile_idc values whose SPS carries chroma_format_idc,
// bit depths and scaling matrices (section 7.3.2.1.1).
var h264HighProfiles = map[int]bool{100: true, 110: true, 122: true, 244: true, 44: true, 83: true, 86: true, 118: true, 128: true, 138: true, 139: true, 134: true, 135: true}

// parseSPS264 reads an H.264 seq_parameter_set_data() (section 7.3.2.1.1).
func parseSPS264(b []byte) (SPS, error) {
	r := &bitReader{b: b}
	s := SPS{Codec: CodecH264, ChromaFormat: 1, BitDepth: 8}
	s.ProfileIDC = int(r.u(8))
	constraints := r.u(8) // constraint_set0..5_flag, reserved_zero_2bits
	s.LevelIDC = int(r.u(8))
	r.uemax("seq_parameter_set_id", 31)
	separateColourPlane := false
	if h264HighProfiles[s.ProfileIDC] {
		s.ChromaFormat = r.uemax("chroma_format_idc", 3)
		if s.ChromaFormat == 3 {
			separateColourPlane = r.flag()
		}
		s.BitDepth = 8 + r.uemax("bit_depth_luma_minus8", 6)
		r.uemax("bit_depth_chroma_minus8", 6)
		r.skip(1)     // qpprime_y_zero_transform_bypass_flag
		if r.flag() { // seq_scaling_matrix_present_flag
			lists := 8
			if s.ChromaFormat == 3 {
				lists = 12
			}
			for i := 0; i < lists && r.err == nil; i++ {
				if r.flag() { // seq_scaling_list_present_flag[i]
					size := 16
					if i >= 6 {
						size = 64
					}
					scalingList264(r, size)
				}
			}
		}
	}
	r.uemax("log2_max_frame_num_minus4", 12)
	switch r.uemax("pic_order_cnt_type", 2) {
	case 0:
		r.uemax("log2_max_pic_order_cnt_lsb_minus4", 12)
	case 1:
		r.skip(1) // delta_pic_order_always_zero_flag
		r.se()    // offset_for_non_ref_pic
		r.se()    // offset_for_top_to_bottom_field
		n := r.uemax("num_ref_frames_in_pic_order_cnt_cycle", 255)
		for i := 0; i < n && r.err == nil; i++ {
			r.se() // offset_for_ref_frame[i]
		}
	}
	r.uemax("max_num_ref_frames", 32)
	r.skip(1) // gaps_in_frame_num_value_allowed_flag
	widthMBs := r.uemax("pic_width_in_mbs_minus1", maxPictureSide/16) + 1
	heightMapUnits := r.uemax("pic_height_in_map_units_minus1", maxPictureSide/16) + 1
	frameMBsOnly := r.flag()
	if !frameMBsOnly {
		r.skip(1) // mb_adaptive_frame_field_flag
	}
	r.skip(1) // direct_8x8_inference_flag
	var crop [4]int
	if r.flag() { // frame_cropping_flag
		for i := range crop {
			crop[i] = r.uemax("frame_crop_offset", maxPictureSide)
		}
	}
	vui := r.flag()
	if r.err != nil {
		return SPS{}, fmt.Errorf("%w: H.264: %v", ErrSPS, r.err)
	}

	s.Interlaced = !frameMBsOnly
	fieldFactor := 1
	if !frameMBsOnly {
		fieldFactor = 2
	}
	s.CodedWidth = widthMBs * 16
	s.CodedHeight = heightMapUnits * 16 * fieldFactor
	// Crop units, equations 7-19 to 7-22.
	cropX, cropY := 1, fieldFactor
	if !separateColourPlane && s.ChromaFormat != 0 {
		subW, subH := 2, 2 // 4:2:0
		switch s.ChromaFormat {
		case 2:
			subH = 1
		case 3:
			subW, subH = 1, 1
		}
		cropX, cropY = subW, subH*fieldFactor
	}
	s.Width = s.CodedWidth - cropX*(crop[0]+crop[1])
	s.Height = s.CodedHeight - cropY*(crop[2]+crop[3])
	if s.CodedHeight > maxPictureSide || s.Width <= 0 || s.Height <= 0 {
		return SPS{}, fmt.Errorf("%w: H.264 picture %dx%d cropped to %dx%d", ErrSPS, s.CodedWidth, s.CodedHeight, s.Width, s.Height)
	}
	s.Profile = profile264(s.ProfileIDC, constraints)
	s.Level = level264(s.ProfileIDC, s.LevelIDC, constraints)
	if vui {
		s.FPS = vui264(r)
	}
	return s, nil
}

// scalingList264 skips a scaling_list() (section 7.3.2.1.1.1).
func scalingList264(r *bitReader, size int) {
	last, next := int32(8), int32(8)
	for j := 0; j < size && r.err == nil; j++ {
		if next != 0 {
			delta := r.se()
			if delta < -128 || delta > 127 {
				r.err = fmt.Errorf("delta_scale %d", delta)
				return
			}
			next = (last + delta + 256) % 256
		}
		if next != 0 {
			last = next
		}
	}
}

// vui264 reads the frame rate from an H.264 vui_parameters() (section E.1.1), 0 if
// it has no timing information or is cut short.
func vui264(r *bitReader) float64 {
	if r.flag() { // aspect_ratio_info_present_flag
		if r.u(8) == 255 { // aspect_ratio_idc: Extended_SAR
			r.skip(32) // sar_width, sar_height
		}
	}
	if r.flag() { // overscan_info_present_flag
		r.skip(1) // overscan_appropriate_flag
	}
	if r.flag() { // video_signal_type_present_flag
		r.skip(4) // video_format, video_full_range_flag
		if r.flag() {
			r.skip(24) // colour_primaries, transfer_characteristics, matrix_coefficients
		}
	}
	if r.flag() { // chroma_loc_info_present_flag
		r.ue()
		r.ue()
	}
	if !r.flag() { // timing_info_present_flag
		return 0
	}
	units, scale := r.u(32), r.u(32)
	if r.err != nil || units == 0 || scale == 0 {
		return 0
	}
	return float64(scale) / (2 * float64(units))
}

// profile264 names an H.264 profile as FFmpeg's profile table does (constraint
// flags per section A.2).
func profile264(idc int, constraints uint32) string {
	set1 := constraints&0x40 != 0
	set3 := constraints&0x10 != 0
	switch idc {
	case 66:
		if set1 {
			return "Constrained Baseline"
		}
		return "Baseline"
	case 77:
		return "Main"
	case 88:
		return "Extended"
	case 100:
		return "High"
	case 110:
		if set3 {
			return "High 10 Intra"
		}
		return "High 10"
	case 122:
		if set3 {
			return "High 4:2:2 Intra"
		}
		return "High 4:2:2"
	case 244:
		if set3 {
			return "High 4:4:4 Intra"
		}
		return "High 4:4:4 Predictive"
	case 44:
		return "CAVLC 4:4:4"
	case 118:
		return "Multiview High"
	case 128:
		return "Stereo High"
	}
	return "profile " + strconv.Itoa(idc)
}

// level264 writes an H.264 level_idc as a level number: 31 is "3.1", and 9, or 11
// with constraint_set3_flag in the Baseline, Main and Extended profiles, is "1b"
// (section A.3.1 and table A-1).
func level264(profile, idc int, constraints uint32) string {
	if idc == 9 || idc == 11 && constraints&0x10 != 0 && (profile == 66 || profile == 77 || profile == 88) {
		return "1b"
	}
	return levelString(idc, 10)
}

// levelString writes idc/div with one decimal when it has one: (31, 10) is "3.1",
// (90, 30) is "3", (93, 30) is "3.1".
func levelString(idc, div int) string {
	step := div / 10
	major, minor := idc/div, idc%div/step
	if minor == 0 {
		return strconv.Itoa(major)
	}
	return strconv.Itoa(major) + "." + strconv.Itoa(minor)
}

// parseSPS265 reads an H.265 seq_parameter_set_rbsp() (section 7.3.2.2.1).
func parseSPS265(b []byte) (SPS, error) {
	r := &bitReader{b: b}
	s := SPS{Codec: CodecH265}
	r.skip(4) // sps_video_parameter_set_id
	maxSubLayersMinus1 := int(r.u(3))
	if r.err == nil && maxSubLayersMinus1 > 6 {
		return SPS{}, fmt.Errorf("%w: H.265 sps_max_sub_layers_minus1 %d", ErrSPS, maxSubLayersMinus1)
	}
	r.skip(1) // sps_temporal_id_nesting_flag
	var compat uint32
	s.ProfileIDC, compat, s.LevelIDC = profileTierLevel(r, maxSubLayersMinus1)
	r.uemax("sps_seq_parameter_set_id", 15)
	s.ChromaFormat = r.uemax("chroma_format_idc", 3)
	separateColourPlane := false
	if s.ChromaFormat == 3 {
		separateColourPlane = r.flag()
	}
	s.CodedWidth = r.uemax("pic_width_in_luma_samples", maxPictureSide)
	s.CodedHeight = r.uemax("pic_height_in_luma_samples", maxPictureSide)
	var conf [4]int
	if r.flag() { // conformance_window_flag
		for i := range conf {
			conf[i] = r.uemax("conf_win_offset", maxPictureSide)
		}
	}
	s.BitDepth = 8 + r.uemax("bit_depth_luma_minus8", 8)
	r.uemax("bit_depth_chroma_minus8", 8)
	log2MaxPOCLsb := 4 + r.uemax("log2_max_pic_order_cnt_lsb_minus4", 12)
	first := maxSubLayersMinus1
	if r.flag() { // sps_sub_layer_ordering_info_present_flag
		first = 0
	}
	for i := first; i <= maxSubLayersMinus1 && r.err == nil; i++ {
		r.uemax("sps_max_dec_pic_buffering_minus1", 15)
		r.uemax("sps_max_num_reorder_pics", 15)
		r.ue() // sps_max_latency_increase_plus1
	}
	log2MinCb := 3 + r.uemax("log2_min_luma_coding_block_size_minus3", 3)
	r.uemax("log2_diff_max_min_luma_coding_block_size", 3)
	r.uemax("log2_min_luma_transform_block_size_minus2", 3)
	r.uemax("log2_diff_max_min_luma_transform_block_size", 3)
	r.uemax("max_transform_hierarchy_depth_inter", 4)
	r.uemax("max_transform_hierarchy_depth_intra", 4)
	if r.flag() && r.flag() { // scaling_list_enabled_flag, sps_scaling_list_data_present_flag
		scalingListData265(r)
	}
	r.skip(2)     // amp_enabled_flag, sample_adaptive_offset_enabled_flag
	if r.flag() { // pcm_enabled_flag
		r.skip(8) // pcm_sample_bit_depth_luma_minus1, pcm_sample_bit_depth_chroma_minus1
		r.ue()    // log2_min_pcm_luma_coding_block_size_minus3
		r.ue()    // log2_diff_max_min_pcm_luma_coding_block_size
		r.skip(1) // pcm_loop_filter_disabled_flag
	}
	nSets := r.uemax("num_short_term_ref_pic_sets", 64)
	var sets []refPicSet
	for i := 0; i < nSets && r.err == nil; i++ {
		sets = append(sets, stRefPicSet(r, sets))
	}
	if r.flag() { // long_term_ref_pics_present_flag
		n := r.uemax("num_long_term_ref_pics_sps", 32)
		for i := 0; i < n && r.err == nil; i++ {
			r.skip(log2MaxPOCLsb + 1) // lt_ref_pic_poc_lsb_sps, used_by_curr_pic_lt_sps_flag
		}
	}
	r.skip(2) // sps_temporal_mvp_enabled_flag, strong_intra_smoothing_enabled_flag
	vui := r.flag()
	if r.err != nil {
		return SPS{}, fmt.Errorf("%w: H.265: %v", ErrSPS, r.err)
	}

	minCb := 1 << log2MinCb
	if s.CodedWidth == 0 || s.CodedHeight == 0 || s.CodedWidth%minCb != 0 || s.CodedHeight%minCb != 0 {
		return SPS{}, fmt.Errorf("%w: H.265 picture %dx%d (coding blocks of %d)", ErrSPS, s.CodedWidth, s.CodedHeight, minCb)
	}
	// SubWidthC and SubHeightC, table 6-1; 1 when ChromaArrayType is 0.
	subW, subH := 1, 1
	if !separateColourPlane {
		switch s.ChromaFormat {
		case 1:
			subW, subH = 2, 2
		case 2:
			subW = 2
		}
	}
	s.Width = s.CodedWidth - subW*(conf[0]+conf[1])
	s.Height = s.CodedHeight - subH*(conf[2]+conf[3])
	if s.Width <= 0 || s.Height <= 0 {
		return SPS{}, fmt.Errorf("%w: H.265 picture %dx%d cropped to %dx%d", ErrSPS, s.CodedWidth, s.CodedHeight, s.Width, s.Height)
	}
	s.Profile = profile265(s.ProfileIDC, compat)
	s.Level = levelString(s.LevelIDC, 30)
	if vui {
		s.FPS = vui265(r)
	}
	return s, nil
}

// profileTierLevel reads a profile_tier_level(1, maxNumSubLayersMinus1) (section
// 7.3.3) and returns general_profile_idc, the general_profile_compatibility_flags and
// general_level_idc.
func profileTierLevel(r *bitReader, maxNumSubLayersMinus1 int) (profile int, compat uint32, level int) {
	r.skip(3) // general_profile_space, general_tier_flag
	profile = int(r.u(5))
	compat = r.u(32)
	r.skip(4 + 43 + 1) // source and constraint flags, general_inbld_flag or reserved
	level = int(r.u(8))
	var profilePresent, levelPresent [8]bool
	for i := range maxNumSubLayersMinus1 {
		profilePresent[i] = r.flag()
		levelPresent[i] = r.flag()
	}
	if maxNumSubLayersMinus1 > 0 {
		r.skip(2 * (8 - maxNumSubLayersMinus1)) // reserved_zero_2bits
	}
	for i := range maxNumSubLayersMinus1 {
		if profilePresent[i] {
			r.skip(88) // sub_layer profile space, tier, idc, compatibility and constraint flags
		}
		if levelPresent[i] {
			r.skip(8) // sub_layer_level_idc
		}
	}
	return profile, compat, level
}

// profile265 names an H.265 profile as FFmpeg does; a general_profile_idc of 0 takes
// the first compatible profile (section 7.4.4).
func profile265(idc int, compat uint32) string {
	if idc == 0 {
		for j := 1; j < 32; j++ {
			if compat&(1<<(31-j)) != 0 {
				idc = j
				break
			}
		}
	}
	switch idc {
	case 1:
		return "Main"
	case 2:
		return "Main 10"
	case 3:
		return "Main Still Picture"
	case 4:
		return "Rext"
	case 9:
		return "SCC"
	}
	return "profile " + strconv.Itoa(idc)
}

// scalingListData265 skips a scaling_list_data() (section 7.3.4).
func scalingListData265(r *bitReader) {
	for sizeID := 0; sizeID < 4; sizeID++ {
		step := 1
		if sizeID == 3 {
			step = 3
		}
		for matrixID := 0; matrixID < 6; matrixID += step {
			if r.err != nil {
				return
			}
			if !r.flag() { // scaling_list_pred_mode_flag
				r.ue() // scaling_list_pred_matrix_id_delta
				continue
			}
			coefs := min(64, 1<<(4+sizeID<<1))
			if sizeID > 1 {
				r.se() // scaling_list_dc_coef_minus8
			}
			for i := 0; i < coefs && r.err == nil; i++ {
				r.se() // scaling_list_delta_coef
			}
		}
	}
}

// refPicSet is what later short-term reference picture sets predicted from this one
// need of it: DeltaPocS0 and DeltaPocS1 (section 7.4.8).
type refPicSet struct {
	s0, s1 []int32
}

// maxRefPics bounds the pictures of one reference picture set (16 per list:
// sps_max_dec_pic_buffering_minus1 is at most 15).
const maxRefPics = 16

// stRefPicSet reads an st_ref_pic_set(stRpsIdx) of an SPS (section 7.3.7), sets being
// those before it, and derives its DeltaPocS0 and DeltaPocS1 (equations 7-61 and
// 7-62) so that the next one can be predicted from it.
func stRefPicSet(r *bitReader, sets []refPicSet) refPicSet {
	var out refPicSet
	if len(sets) > 0 && r.flag() { // inter_ref_pic_set_prediction_flag
		// In an SPS, delta_idx_minus1 is absent: the reference is the set before.
		ref := sets[len(sets)-1]
		sign := r.flag()
		abs := r.ue()
		if r.err != nil {
			return out
		}
		if abs > 1<<15-1 {
			r.err = fmt.Errorf("abs_delta_rps_minus1 %d", abs)
			return out
		}
		deltaRps := int32(abs) + 1
		if sign {
			deltaRps = -deltaRps
		}
		nRef := len(ref.s0) + len(ref.s1)
		used := make([]bool, nRef+1) // use_delta_flag, inferred 1 when absent
		for j := 0; j <= nRef && r.err == nil; j++ {
			used[j] = true
			if !r.flag() { // used_by_curr_pic_flag
				used[j] = r.flag() // use_delta_flag
			}
		}
		if r.err != nil {
			return out
		}
		// Equation 7-61.
		for j := len(ref.s1) - 1; j >= 0; j-- {
			if d := ref.s1[j] + deltaRps; d < 0 && used[len(ref.s0)+j] {
				out.s0 = append(out.s0, d)
			}
		}
		if deltaRps < 0 && used[nRef] {
			out.s0 = append(out.s0, deltaRps)
		}
		for j := range ref.s0 {
			if d := ref.s0[j] + deltaRps; d < 0 && used[j] {
				out.s0 = append(out.s0, d)
			}
		}
		// Equation 7-62.
		for j := len(ref.s0) - 1; j >= 0; j-- {
			if d := ref.s0[j] + deltaRps; d > 0 && used[j] {
				out.s1 = append(out.s1, d)
			}
		}
		if deltaRps > 0 && used[nRef] {
			out.s1 = append(out.s1, deltaRps)
		}
		for j := range ref.s1 {
			if d := ref.s1[j] + deltaRps; d > 0 && used[len(ref.s0)+j] {
				out.s1 = append(out.s1, d)
			}
		}
	} else {
		neg := r.uemax("num_negative_pics", maxRefPics)
		pos := r.uemax("num_positive_pics", maxRefPics)
		var poc int32
		for i := 0; i < neg && r.err == nil; i++ {
			poc -= int32(r.uemax("delta_poc_s0_minus1", 1<<15-1)) + 1
			r.skip(1) // used_by_curr_pic_s0_flag
			out.s0 = append(out.s0, poc)
		}
		poc = 0
		for i := 0; i < pos && r.err == nil; i++ {
			poc += int32(r.uemax("delta_poc_s1_minus1", 1<<15-1)) + 1
			r.skip(1) // used_by_curr_pic_s1_flag
			out.s1 = append(out.s1, poc)
		}
	}
	if r.err == nil && (len(out.s0) > maxRefPics || len(out.s1) > maxRefPics) {
		r.err = fmt.Errorf("reference picture set of %d+%d pictures", len(out.s0), len(out.s1))
	}
	return out
}

// vui265 reads the frame rate from an H.265 vui_parameters() (section E.2.1), 0 if
// it has no timing information or is cut short.
func vui265(r *bitReader) float64 {
	if r.flag() { // aspect_ratio_info_present_flag
		if r.u(8) == 255 { // aspect_ratio_idc: EXTENDED_SAR
			r.skip(32)
		}
	}
	if r.flag() { // overscan_info_present_flag
		r.skip(1)
	}
	if r.flag() { // video_signal_type_present_flag
		r.skip(4) // video_format, video_full_range_flag
		if r.flag() {
			r.skip(24)
		}
	}
	if r.flag() { // chroma_loc_info_present_flag
		r.ue()
		r.ue()
	}
	r.skip(3)     // neutral_chroma_indication_flag, field_seq_flag, frame_field_info_present_flag
	if r.flag() { // default_display_window_flag
		for range 4 {
			r.ue()
		}
	}
	if !r.flag() { // vui_timing_info_present_flag
		return 0
	}
	units, scale := r.u(32), r.u(32)
	if r.err != nil || units == 0 || scale == 0 {
		return 0
	}
	return float64(scale) / float64(units)
}
