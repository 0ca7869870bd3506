package rtsp

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestParseSPSFixtures parses the first SPS of every fixture and compares it with
// what `ffprobe -show_streams` says of the file (FFmpeg 5.1): profile, level, width,
// height, coded_width, coded_height, r_frame_rate.
//
// One difference is on purpose: for H.264, ffprobe 5.1 reports coded_width and
// coded_height equal to the cropped size, where ParseSPS gives whole macroblocks.
// `ffmpeg -i h264-320x180-high.h264 -c copy -bsf:v trace_headers -f null -` shows
// pic_height_in_map_units_minus1 = 11 (12 macroblocks, 192 lines) and
// frame_crop_bottom_offset = 6 (12 lines in 4:2:0): coded 320x192, shown 320x180.
func TestParseSPSFixtures(t *testing.T) {
	tests := []struct {
		file, codec, profile, level string
		levelIDC                    int
		w, h, cw, ch                int
		fps                         float64
	}{
		{"h264-640x480-10fps.h264", "h264", "Main", "2.2", 22, 640, 480, 640, 480, 10},
		{"h264-640x480-black.h264", "h264", "Main", "2.2", 22, 640, 480, 640, 480, 10},
		{"h264-640x480-covered.h264", "h264", "Main", "2.2", 22, 640, 480, 640, 480, 10},
		{"h264-320x180-high.h264", "h264", "High", "1.1", 11, 320, 180, 320, 192, 10},
		{"h265-640x480-10fps.h265", "h265", "Main", "3", 90, 640, 480, 640, 480, 10},
		{"h265-320x180.h265", "h265", "Main", "2", 60, 320, 180, 320, 184, 10},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			nal := firstNAL(t, tt.codec, filepath.Join("testdata", tt.file), IsSPS)
			s, err := ParseSPS(tt.codec, nal)
			if err != nil {
				t.Fatal(err)
			}
			want := SPS{Codec: tt.codec, Profile: tt.profile, Level: tt.level, LevelIDC: tt.levelIDC, Width: tt.w, Height: tt.h,
				CodedWidth: tt.cw, CodedHeight: tt.ch, FPS: tt.fps}
			if got := spsFacts(s); got != spsFacts(want) {
				t.Errorf("got  %s\nwant %s", got, spsFacts(want))
			}
		})
	}
}

// spsFacts is what the tables compare: all but ProfileIDC, ChromaFormat, BitDepth and
// Interlaced, which TestParseSPSSamples checks where they matter.
func spsFacts(s SPS) string {
	s.ProfileIDC, s.ChromaFormat, s.BitDepth, s.Interlaced = 0, 0, 0, false
	s.FPS = math.Round(s.FPS*1000) / 1000
	return fmt.Sprintf("%+v", s)
}

// TestParseSPSSamples parses SPS NAL units of other encoders and cameras. The
// expected values are ffprobe's (FFmpeg 5.1) for streams made here with ffmpeg, and
// FFmpeg's trace_headers bitstream filter for SPS units alone (ffprobe shows nothing
// without a picture): `ffmpeg -f hevc -i sps.h265 -c copy -bsf:v trace_headers -f
// hevc /dev/null` with a VPS before the SPS. As for the fixtures, H.264 coded sizes are
// whole macroblocks.
func TestParseSPSSamples(t *testing.T) {
	tests := []struct {
		name, codec, sps string // sps in hex, or base64 when it ends in "="
		want             SPS
	}{
		// sprop-parameter-sets of a camera's SDP (sdp_test.go): no VUI timing.
		{"camera SDP", "h264", "Z0IAKeKQFAe2AtwEBAaQeJEV",
			SPS{Profile: "Baseline", Level: "4.1", LevelIDC: 41, Width: 640, Height: 480, CodedWidth: 640, CodedHeight: 480}},
		// ffmpeg -f lavfi -i testsrc=size=WxH:rate=R -frames:v 2 -c:v libx264 ...
		{"x264 1080p High 4.0", "h264", "67640028acd940780227e5c044000003000400000300c83c60c658",
			SPS{Profile: "High", Level: "4", LevelIDC: 40, Width: 1920, Height: 1080, CodedWidth: 1920, CodedHeight: 1088, FPS: 25}},
		{"x264 720p Constrained Baseline 3.1", "h264", "6742c01fd9005005bb0110000003001000000303c0f1832480",
			SPS{Profile: "Constrained Baseline", Level: "3.1", LevelIDC: 31, Width: 1280, Height: 720, CodedWidth: 1280, CodedHeight: 720, FPS: 30}},
		{"x264 interlaced 576i", "h264", "6764001eacd940b424d8088000000300800000190f8a14cb",
			SPS{Profile: "High", Level: "3", LevelIDC: 30, Width: 720, Height: 576, CodedWidth: 720, CodedHeight: 576, FPS: 25}},
		{"x264 High 10", "h264", "676e001ea6cd940a03db011000000300100000030320f162d960",
			SPS{Profile: "High 10", Level: "3", LevelIDC: 30, Width: 640, Height: 480, CodedWidth: 640, CodedHeight: 480, FPS: 25}},
		{"x264 4:2:2 cropped", "h264", "677a000cbcd941419f8dc044000003000400000300c83c50a658",
			SPS{Profile: "High 4:2:2", Level: "1.2", LevelIDC: 12, Width: 320, Height: 180, CodedWidth: 320, CodedHeight: 192, FPS: 25}},
		{"x264 4:4:4 cropped", "h264", "67f4000d919b282a33cf7808800000030080000019078a14cb",
			SPS{Profile: "High 4:4:4 Predictive", Level: "1.3", LevelIDC: 13, Width: 330, Height: 190, CodedWidth: 336, CodedHeight: 192, FPS: 25}},
		// ffmpeg -f lavfi -i testsrc=... -frames:v 2 -c:v libx265 -pix_fmt ...
		{"x265 1080p Main", "h265", "420101016000000300900000030000030078a003c08010e596566924caf0168080000003008000000c84",
			SPS{Profile: "Main", Level: "4", LevelIDC: 120, Width: 1920, Height: 1080, CodedWidth: 1920, CodedHeight: 1080, FPS: 25}},
		{"x265 Main 10", "h265", "42010102200000030090000003000003005aa0050201e1365959a4932bc05a020000030002000003003210",
			SPS{Profile: "Main 10", Level: "3", LevelIDC: 90, Width: 640, Height: 480, CodedWidth: 640, CodedHeight: 480, FPS: 25}},
		{"x265 4:2:2 conformance window", "h265", "4201010408000003009d0800000300003cb00a480b9c9796566924caf0168080000003008000000c84",
			SPS{Profile: "Rext", Level: "2", LevelIDC: 60, Width: 322, Height: 182, CodedWidth: 328, CodedHeight: 184, FPS: 25}},
		{"x265 two temporal sub-layers", "h265", "42010201600000030090000003000003005a0000a0050201e1659598acd24995e02d010000030001000003001908",
			SPS{Profile: "Main", Level: "3", LevelIDC: 90, Width: 640, Height: 480, CodedWidth: 640, CodedHeight: 480, FPS: 25}},
		{"x265 scaling lists enabled", "h265", "42010101600000030090000003000003005aa0050201e16592a49395e02d010000030001000003000f08",
			SPS{Profile: "Main", Level: "3", LevelIDC: 90, Width: 640, Height: 480, CodedWidth: 640, CodedHeight: 480, FPS: 15}},
		// Written here bit by bit (ITU-T H.264 7.3.2.1.1) and read back by trace_headers
		// alike: scaling matrices in the SPS (one list ending early on delta_scale -8,
		// an 8x8 one), pic_order_cnt_type 1 with a cycle of 3, MBAFF (23 map units of
		// field pairs: 736 lines) cropped by 4 chroma field lines to 720, 60000/1001 Hz
		// VUI timing.
		{"written: scaling matrices, POC type 1, MBAFF", "h264", "67640028ad90cc468a2b98e9422149249249249249249249249249249249249249249249249250a8898a602805df961000003e90000ea60840",
			SPS{Profile: "High", Level: "4", LevelIDC: 40, Width: 1280, Height: 720, CodedWidth: 1280, CodedHeight: 736, FPS: 29.97}},
		// Written likewise (ITU-T H.265 7.3.2.2.1, 7.3.7): three short-term reference
		// picture sets, the second and third predicted from the one before (so the third
		// is only read right if the second's NumDeltaPocs is derived right), two
		// long-term pictures, a VUI with extended SAR, colour description and a default
		// display window.
		{"written: predicted RPS, long-term pictures", "h265", "42010101600000030090000003000003005da003c0801107cb965e49126235ade997d88f21ffe00080006d40404043f00000030010000003019080",
			SPS{Profile: "Main", Level: "3.1", LevelIDC: 93, Width: 1920, Height: 1080, CodedWidth: 1920, CodedHeight: 1088, FPS: 25}},
		// SPS units of real encoders and cameras as published in bluenviron/mediacommon's
		// H.265 tests (pkg/codecs/h265/sps_test.go); values from trace_headers here.
		{"nvenc, conformance window", "h265", "4201010140000003000003000003000003007ba003c0801107cb96b4a42592e3016a02020208000003000800000301e3002ef2880007270c0000989682",
			SPS{Profile: "Main", Level: "4.1", LevelIDC: 123, Width: 1920, Height: 1080, CodedWidth: 1920, CodedHeight: 1088, FPS: 60}},
		{"Avigilon camera, PCM and a short-term RPS", "h265", "420101016000000300800000030000030096a001802006c1fe36bbb5377725d602dc0404041000003e800004268721dee510016e200066ff000b71000337f880",
			SPS{Profile: "Main", Level: "5", LevelIDC: 150, Width: 3072, Height: 1728, CodedWidth: 3072, CodedHeight: 1728, FPS: 17}},
		{"long-term reference pictures", "h265", "420101016000000300b0000003000003005da00280802d1636b924cbf0080000030008000003019508",
			SPS{Profile: "Main", Level: "3.1", LevelIDC: 93, Width: 1280, Height: 720, CodedWidth: 1280, CodedHeight: 720, FPS: 50}},
		{"Rext 4:4:4 12-bit", "h265", "420101040800000300980800000300005d9000501005a2294b7494985ffe00020002d404040410000003001000000301e080",
			SPS{Profile: "Rext", Level: "3.1", LevelIDC: 93, Width: 1280, Height: 720, CodedWidth: 1280, CodedHeight: 720, FPS: 30}},
		{"scaling list data, two RPS", "h265", scalingListSPS,
			SPS{Profile: "Main", Level: "5", LevelIDC: 150, Width: 2048, Height: 1536, CodedWidth: 2048, CodedHeight: 1536, FPS: 30}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nal := decodeSPS(t, tt.sps)
			s, err := ParseSPS(tt.codec, nal)
			if err != nil {
				t.Fatal(err)
			}
			tt.want.Codec = tt.codec
			if got := spsFacts(s); got != spsFacts(tt.want) {
				t.Errorf("got  %s\nwant %s", got, spsFacts(tt.want))
			}
		})
	}
}

// scalingListSPS is the "scaling list data" SPS of mediacommon's tests: scaling lists
// with prediction and DC coefficients, two short-term reference picture sets.
const scalingListSPS = "420101016000000300900000030000030096a00100200601634bb9084e5111188e09302440dd28521cc12706181bb2a19158ae16c0f107d08020828c1670357ca524993aaf4ba4bb492f20" +
	"8111320c183068d180b0081020c0800f81fc1f7ca322308719e33e3bf097f0c7e10f830f07dff2a112344e4f255c95b9295b9a23131008010410821020010302081fbff0804210c21c31e1" +
	"0f843f087f0a7e14f83efffca5264c9d57a5d25da49790408899060c183468c058040810604007c0fe0fbe510488c21c678cf8efc25fc31f843e0c3c1f7fca88491a272792ae4adc94adcd" +
	"11898804008208410810008181040fdff842108430870c7843e10fc21fc29f853e0fbfff2949932755e974976925e41022264183060d1a3016010204181001f03f83efa2124689c9e4ab92" +
	"b7252b73446262010020821042040020604103f7fd3cb89a8101010200000300c800001770e00bbcae0003e800000301f4000003007d000003003e8005708041"

// TestParseSPSFields checks what the tables leave out.
func TestParseSPSFields(t *testing.T) {
	s, err := ParseSPS("h264", decodeSPS(t, "6764001eacd940b424d8088000000300800000190f8a14cb"))
	if err != nil || !s.Interlaced || s.ChromaFormat != 1 || s.BitDepth != 8 || s.ProfileIDC != 100 {
		t.Errorf("576i: %+v %v", s, err)
	}
	s, err = ParseSPS("h265", decodeSPS(t, "42010102200000030090000003000003005aa0050201e1365959a4932bc05a020000030002000003003210"))
	if err != nil || s.BitDepth != 10 || s.ProfileIDC != 2 || s.Interlaced {
		t.Errorf("Main 10: %+v %v", s, err)
	}
	s, err = ParseSPS("h264", decodeSPS(t, "67f4000d919b282a33cf7808800000030080000019078a14cb"))
	if err != nil || s.ChromaFormat != 3 {
		t.Errorf("4:4:4: %+v %v", s, err)
	}
}

// TestParseSPSVUICutShort: an SPS whose VUI is cut short still gives its size, with
// no frame rate; one cut before the VUI is refused.
func TestParseSPSVUICutShort(t *testing.T) {
	full := decodeSPS(t, "67640028acd940780227e5c044000003000400000300c83c60c658")
	s, err := ParseSPS("h264", full[:len(full)-6]) // inside timing_info
	if err != nil || s.Width != 1920 || s.FPS != 0 {
		t.Errorf("VUI cut short: %+v %v", s, err)
	}
	if _, err := ParseSPS("h264", full[:8]); !errors.Is(err, ErrSPS) {
		t.Errorf("SPS cut before its VUI: %v", err)
	}
}

// TestBitReader checks the exp-Golomb codes of ITU-T H.264 table 9-2 and 9-3 and
// that reads past the end are errors.
func TestBitReader(t *testing.T) {
	// 1 010 011 00100 00101 0001000 | ue: 0 1 2 3 4 7
	r := &bitReader{b: []byte{0b1010_0110, 0b0100_0010, 0b1000_1000}}
	for _, want := range []uint32{0, 1, 2, 3, 4, 7} {
		if got := r.ue(); got != want || r.err != nil {
			t.Fatalf("ue %d, want %d (%v)", got, want, r.err)
		}
	}
	if r.ue(); r.err == nil {
		t.Error("read past the end without an error")
	}
	r = &bitReader{b: []byte{0b0100_1100, 0b1000_0000}} // se: 1 -1 2
	for _, want := range []int32{1, -1, 2} {
		if got := r.se(); got != want {
			t.Errorf("se %d, want %d", got, want)
		}
	}
	r = &bitReader{b: []byte{0, 0, 0, 0, 0x80}} // 32 leading zeros
	if r.ue(); r.err == nil {
		t.Error("a 33-bit exp-Golomb code was accepted")
	}
	r = &bitReader{b: []byte{0, 0, 0, 1, 0xff, 0xff, 0xff, 0xfe}} // 31 zeros: 2^32-2
	if v := r.ue(); r.err != nil || v != 1<<32-2 {
		t.Errorf("largest ue: %d %v", v, r.err)
	}
	if r := (&bitReader{b: []byte{0xff}}); r.u(33) != 0 || r.err == nil {
		t.Error("u(33) accepted")
	}
}

// TestRBSP removes emulation prevention bytes, and only those.
func TestRBSP(t *testing.T) {
	for in, want := range map[string]string{
		"0000030100":     "00000100",
		"00000300000302": "0000000002",
		"000003":         "0000",
		"0003000003":     "00030000",
		"1234":           "1234",
	} {
		b, _ := hex.DecodeString(in)
		if got := hex.EncodeToString(rbsp(b)); got != want {
			t.Errorf("rbsp(%s) = %s, want %s", in, got, want)
		}
	}
}

// TestBadSPSCorpus: every testdata/bad/sps-h264-* and sps-h265-* file is refused by
// ParseSPS for its codec with ErrSPS, and nothing panics.
func TestBadSPSCorpus(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "bad", "sps-*"))
	if len(files) < 8 {
		t.Fatalf("only %d sps- files in testdata/bad", len(files))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(f)
		codec := strings.SplitN(name, "-", 3)[1]
		if codec != "h264" && codec != "h265" {
			t.Errorf("%s: name it sps-h264-... or sps-h265-...", name)
			continue
		}
		if s, err := ParseSPS(codec, b); !errors.Is(err, ErrSPS) {
			t.Errorf("%s: %v, %+v; want an ErrSPS", name, err, s)
		}
	}
}

func FuzzParseSPS(f *testing.F) {
	for _, s := range []string{"67640028acd940780227e5c044000003000400000300c83c60c658", "6764001eacd940b424d8088000000300800000190f8a14cb",
		"42010102200000030090000003000003005aa0050201e1365959a4932bc05a020000030002000003003210", scalingListSPS} {
		b, _ := hex.DecodeString(s)
		f.Add(b[0] == 0x42, b)
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "bad", "sps-*"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(strings.Contains(p, "h265"), b)
		}
	}
	f.Fuzz(func(t *testing.T, h265 bool, b []byte) {
		codec := CodecH264
		if h265 {
			codec = CodecH265
		}
		s, err := ParseSPS(codec, b)
		if err != nil {
			return
		}
		if s.Width <= 0 || s.Height <= 0 || s.Width > s.CodedWidth || s.Height > s.CodedHeight || s.CodedWidth > 2*maxPictureSide ||
			s.CodedHeight > 2*maxPictureSide || s.FPS < 0 || math.IsNaN(s.FPS) || math.IsInf(s.FPS, 0) || s.Codec != codec {
			t.Fatalf("accepted out of bounds: %+v", s)
		}
	})
}

// decodeSPS decodes a table's SPS: hex, or base64 when it ends in "=" or is not hex.
func decodeSPS(t *testing.T, s string) []byte {
	t.Helper()
	if b, err := hex.DecodeString(s); err == nil {
		return b
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("%s is neither hex nor base64", s)
	}
	return b
}
