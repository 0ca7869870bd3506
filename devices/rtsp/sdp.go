package rtsp

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// Track is one video stream a camera's DESCRIBE offers, as SETUP and the stream
// inspection need it.
type Track struct {
	// Codec is "h264" or "h265" (from a=rtpmap's encoding name).
	Codec string
	// PayloadType is the RTP payload type; ClockRate the RTP clock (90000 for video).
	PayloadType uint8
	ClockRate   uint32
	// Control is the absolute URL to SETUP (a=control resolved against the base).
	Control string
	// ParameterSets are the out-of-band parameter sets from a=fmtp: SPS and PPS for
	// H.264 (sprop-parameter-sets, RFC 6184 section 8.1), VPS, SPS and PPS for H.265
	// (sprop-vps, sprop-sps, sprop-pps, RFC 7798 section 7.1), each a NAL unit.
	ParameterSets [][]byte
}

// BaseURL is the URL relative control URLs of a DESCRIBE answer resolve against
// (RFC 2326 section C.1.1): its Content-Base, else its Content-Location, else the
// URL that was described.
func BaseURL(r *Response, requested string) string {
	for _, h := range []string{"Content-Base", "Content-Location"} {
		if v := strings.TrimSpace(r.Header.Get(h)); v != "" {
			return v
		}
	}
	return requested
}

// ParseTracks parses a DESCRIBE answer's SDP (with pion/sdp) and returns its H.264 and
// H.265 video tracks, their control URLs resolved against base. Other media (audio,
// metadata) are left out; an SDP with no video apedge can inspect is an error.
func ParseTracks(body []byte, base string) ([]Track, error) {
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(body); err != nil {
		return nil, fmt.Errorf("%w: SDP: %v", ErrMessage, err)
	}
	bu, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("%w: base URL %q: %v", ErrMessage, clip(base), err)
	}
	sessionControl, _ := sd.Attribute("control")
	var out []Track
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Media != "video" || len(md.MediaName.Formats) == 0 {
			continue
		}
		pt, err := strconv.ParseUint(md.MediaName.Formats[0], 10, 7)
		if err != nil {
			continue
		}
		t := Track{PayloadType: uint8(pt)}
		for _, a := range md.Attributes {
			if a.Key != "rtpmap" {
				continue
			}
			p, enc, _ := strings.Cut(a.Value, " ")
			if p != md.MediaName.Formats[0] {
				continue
			}
			name, rate, _ := strings.Cut(enc, "/")
			switch strings.ToUpper(name) {
			case "H264":
				t.Codec = "h264"
			case "H265", "HEVC":
				t.Codec = "h265"
			}
			if r, err := strconv.ParseUint(firstField(rate), 10, 32); err == nil {
				t.ClockRate = uint32(r)
			}
		}
		if t.Codec == "" {
			continue
		}
		control, _ := md.Attribute("control")
		t.Control = resolveControl(bu, sessionControl, control)
		for _, a := range md.Attributes {
			if a.Key == "fmtp" {
				t.ParameterSets = append(t.ParameterSets, parameterSets(t.Codec, a.Value)...)
			}
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: SDP offers no H.264 or H.265 video", ErrMessage)
	}
	return out, nil
}

// resolveControl resolves a track's a=control against the base URL and the session's
// a=control: "*" or empty means the base itself; an absolute URL is used as it is; a
// relative one is appended to the base as a path segment (cameras mean "base/trackID=1"
// whether or not the base ends in "/", as gortsplib and go2rtc both found).
func resolveControl(base *url.URL, session, track string) string {
	b := *base
	b.User = nil // credentials go in Authorization, never in the URL sent
	if session != "" && session != "*" {
		if u, err := url.Parse(session); err == nil && u.IsAbs() {
			b = *u
		}
	}
	switch {
	case track == "" || track == "*":
		return b.String()
	case strings.Contains(track, "://"):
		return track
	}
	s := b.String()
	if !strings.HasSuffix(s, "/") {
		s += "/"
	}
	return s + strings.TrimPrefix(track, "/")
}

// parameterSets decodes the out-of-band parameter sets of an a=fmtp value.
func parameterSets(codec, fmtp string) [][]byte {
	_, params, _ := strings.Cut(fmtp, " ")
	var out [][]byte
	for _, kv := range strings.Split(params, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		k = strings.ToLower(k)
		if (codec == "h264" && k == "sprop-parameter-sets") || (codec == "h265" && (k == "sprop-vps" || k == "sprop-sps" || k == "sprop-pps")) {
			for _, b64 := range strings.Split(v, ",") {
				if nal, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64)); err == nil && len(nal) > 0 {
					out = append(out, nal)
				}
			}
		}
	}
	return out
}

// firstField is s up to its first "/" (an rtpmap's clock rate before its channels).
func firstField(s string) string {
	f, _, _ := strings.Cut(s, "/")
	return f
}
