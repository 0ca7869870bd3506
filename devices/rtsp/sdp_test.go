package rtsp

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

// camSDP is a DESCRIBE answer as a typical IP camera sends it: video and audio, a
// session-level control of "*" and relative track controls.
const camSDP = "v=0\r\no=- 1 1 IN IP4 192.168.1.64\r\ns=Media Presentation\r\nt=0 0\r\na=control:*\r\n" +
	"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 profile-level-id=420029; packetization-mode=1; sprop-parameter-sets=Z0IAKeKQFAe2AtwEBAaQeJEV,aM48gA==\r\na=control:trackID=1\r\n" +
	"m=audio 0 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=control:trackID=2\r\n"

func TestParseTracks(t *testing.T) {
	tests := []struct {
		name, sdp, base string
		codec, control  string
		sets            int
	}{
		{"relative control, base with slash", camSDP, "rtsp://192.168.1.64:554/Streaming/Channels/101/", "h264", "rtsp://192.168.1.64:554/Streaming/Channels/101/trackID=1", 2},
		{"relative control, base without slash", camSDP, "rtsp://cam/live", "h264", "rtsp://cam/live/trackID=1", 2},
		{"credentials never in the control URL", camSDP, "rtsp://admin:secret@cam/live", "h264", "rtsp://cam/live/trackID=1", 2},
		{"absolute control", strings.Replace(camSDP, "a=control:trackID=1", "a=control:rtsp://cam/other/track1", 1), "rtsp://cam/live", "h264", "rtsp://cam/other/track1", 2},
		{"no track control", strings.Replace(camSDP, "a=control:trackID=1\r\n", "", 1), "rtsp://cam/live", "h264", "rtsp://cam/live", 2},
		{"h265", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=x\r\nt=0 0\r\nm=video 0 RTP/AVP 97\r\na=rtpmap:97 H265/90000\r\n" +
			"a=fmtp:97 sprop-vps=QAEMAf//; sprop-sps=QgEBAWA=; sprop-pps=RAHA8vA=\r\na=control:stream=0\r\n", "rtsp://cam/h265/", "h265", "rtsp://cam/h265/stream=0", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts, err := ParseTracks([]byte(tt.sdp), tt.base)
			if err != nil {
				t.Fatal(err)
			}
			if len(ts) != 1 || ts[0].Codec != tt.codec || ts[0].Control != tt.control || ts[0].ClockRate != 90000 || len(ts[0].ParameterSets) != tt.sets {
				t.Fatalf("tracks %+v", ts)
			}
		})
	}
	ts, _ := ParseTracks([]byte(camSDP), "rtsp://cam/")
	if sps, _ := base64.StdEncoding.DecodeString("Z0IAKeKQFAe2AtwEBAaQeJEV"); !bytes.Equal(ts[0].ParameterSets[0], sps) || ts[0].ParameterSets[0][0]&0x1f != 7 {
		t.Errorf("first parameter set %x, want the SPS (NAL type 7)", ts[0].ParameterSets[0])
	}
	if _, err := ParseTracks([]byte("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=x\r\nt=0 0\r\nm=audio 0 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n"), "rtsp://cam/"); err == nil {
		t.Error("an SDP with audio only was accepted")
	}
}

func TestBaseURL(t *testing.T) {
	r := &Response{Header: Header{{"Content-Location", "rtsp://cam/loc/"}}}
	if got := BaseURL(r, "rtsp://cam/asked"); got != "rtsp://cam/loc/" {
		t.Errorf("with Content-Location: %s", got)
	}
	r.Header = append(r.Header, [2]string{"Content-Base", "rtsp://cam/base/"})
	if got := BaseURL(r, "rtsp://cam/asked"); got != "rtsp://cam/base/" {
		t.Errorf("with Content-Base too: %s", got)
	}
	if got := BaseURL(&Response{}, "rtsp://cam/asked"); got != "rtsp://cam/asked" {
		t.Errorf("with neither: %s", got)
	}
}

func FuzzParseTracks(f *testing.F) {
	f.Add([]byte(camSDP))
	addBad(f, "sdp-")
	f.Fuzz(func(t *testing.T, b []byte) {
		ts, err := ParseTracks(b, "rtsp://cam/live/")
		if err == nil && len(ts) == 0 {
			t.Fatal("no error and no track")
		}
		for _, tr := range ts {
			if tr.Codec != "h264" && tr.Codec != "h265" {
				t.Fatalf("codec %q", tr.Codec)
			}
		}
	})
}
