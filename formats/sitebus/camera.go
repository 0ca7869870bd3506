package sitebus

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// Camera verdicts: the Verdict of a CameraStatus, and (but for unknown) the kind of
// the camera event the bridge sends when a verdict has held long enough to report.
const (
	// CameraUnknown: not yet checked since the bridge started.
	CameraUnknown = "unknown"
	// CameraOnline: media comes as configured.
	CameraOnline = "online"
	// CameraOffline: no session (connect, DESCRIBE or SETUP failed; Reason says which).
	CameraOffline = "offline"
	// CameraAuthFailed: the camera refused the configured credentials.
	CameraAuthFailed = "auth-failed"
	// CameraStalled: the session is up but no media comes, or its RTP timestamps do
	// not move.
	CameraStalled = "stalled"
	// CameraDegraded: fps, bitrate or resolution under its minimum, or loss over its
	// maximum.
	CameraDegraded = "degraded"
	// CameraFrozen: the picture is the same as last time, black or covered.
	CameraFrozen = "frozen"
)

// CameraStatusKind is the kind of a camera's retained state, whose data is a
// CameraStatus. CameraThumbnailKind is the kind of the EVENT (not a state) that
// carries a camera's latest thumbnail, whose data is a CameraThumbnail: a state
// topic retains one message, so a thumbnail there would displace the status. The
// agent keeps the latest thumbnail of each camera and journals none of them.
const (
	CameraStatusKind    = "status"
	CameraThumbnailKind = "thumbnail"
)

// Picture verdicts of a CameraStatus's Picture (judged from a thumbnail).
const (
	PictureNone    = "none" // no thumbnail: Picture.Why says why
	PictureOK      = "ok"
	PictureBlack   = "black"
	PictureCovered = "covered" // almost no variance: covered, or pointed at a wall
	PictureFrozen  = "frozen"  // the same picture as last time, beyond a noise margin
)

// CameraStatus is a camera's retained state message: its reported verdict and the
// figures of the check that last confirmed it. It never holds credentials.
type CameraStatus struct {
	// Name says where it looks.
	Name string `json:"name,omitempty"`
	// Verdict is the reported verdict (one that has held for the camera's holdFor);
	// Since is when it began; Reason says why, for a person.
	Verdict string    `json:"verdict"`
	Reason  string    `json:"reason,omitempty"`
	Since   time.Time `json:"since,omitzero"`
	// Seen is the latest check's verdict when it differs from Verdict (not yet held
	// long enough to report), else empty.
	Seen string `json:"seen,omitempty"`
	// Repeats counts the times Verdict has begun again within the last hour after a
	// change that did not hold: a flapping camera is counted, not re-sent.
	Repeats int `json:"repeats,omitempty"`
	// CheckedAt is when the latest check ended; Transport is how its media came (tcp
	// or udp).
	CheckedAt time.Time `json:"checkedAt,omitzero"`
	Transport string    `json:"transport,omitempty"`
	// What the stream is, from its SPS: codec (h264, h265), profile, level and
	// display size.
	Codec   string `json:"codec,omitempty"`
	Profile string `json:"profile,omitempty"`
	Level   string `json:"level,omitempty"`
	Width   int    `json:"width,omitempty"`
	Height  int    `json:"height,omitempty"`
	// Figures of the latest check.
	FPS               float64   `json:"fps,omitempty"`
	BitrateKbps       float64   `json:"bitrateKbps,omitempty"`
	LossPct           float64   `json:"lossPct"`
	KeyframeIntervalS float64   `json:"keyframeIntervalS,omitempty"`
	FirstFrameMs      int64     `json:"firstFrameMs,omitempty"`
	LastKeyframe      time.Time `json:"lastKeyframe,omitzero"`
	// Picture is what the latest thumbnail showed.
	Picture CameraPicture `json:"picture"`
	// Simulated says the camera is a simulator.
	Simulated bool `json:"simulated,omitempty"`
}

// CameraPicture is the verdict on a camera's latest thumbnail.
type CameraPicture struct {
	// State is one of the Picture verdicts; Why says why there is none.
	State string    `json:"state"`
	Why   string    `json:"why,omitempty"`
	At    time.Time `json:"at,omitzero"`
	// Mean and Spread are the thumbnail's mean and standard deviation of luma
	// (0-255) over a 32x24 grid; Change is the largest change of a cell from the
	// thumbnail before.
	Mean   float64 `json:"mean,omitempty"`
	Spread float64 `json:"spread,omitempty"`
	Change float64 `json:"change,omitempty"`
}

// CameraThumbnail is a camera's latest thumbnail: a small JPEG.
type CameraThumbnail struct {
	At   time.Time `json:"at"`
	JPEG []byte    `json:"jpeg"`
}

// CameraEvent is the data of a camera event (kind: the verdict reported).
type CameraEvent struct {
	// Previous is the verdict reported before; Reason says why this one.
	Previous string `json:"previous"`
	Reason   string `json:"reason,omitempty"`
	// Since is when the verdict began (the event's time is when it had held long
	// enough to report).
	Since time.Time `json:"since"`
	// Repeats is the CameraStatus's Repeats when it was reported.
	Repeats int `json:"repeats,omitempty"`
	// The figures of the check that confirmed it, as in CameraStatus.
	Codec       string  `json:"codec,omitempty"`
	Width       int     `json:"width,omitempty"`
	Height      int     `json:"height,omitempty"`
	FPS         float64 `json:"fps,omitempty"`
	BitrateKbps float64 `json:"bitrateKbps,omitempty"`
	LossPct     float64 `json:"lossPct"`
}

// CameraVerdict says whether v is a verdict a camera event may carry.
func CameraVerdict(v string) bool {
	switch v {
	case CameraOnline, CameraOffline, CameraAuthFailed, CameraStalled, CameraDegraded, CameraFrozen:
		return true
	}
	return false
}

// MaxThumbnail bounds a thumbnail's JPEG, so that it fits a site-bus message once
// base64-encoded.
const MaxThumbnail = 40 << 10

// DecodeCameraStatus parses and checks a camera's status data. It never panics.
func DecodeCameraStatus(b []byte) (*CameraStatus, error) {
	var st CameraStatus
	if len(b) > MaxMessage {
		return nil, fmt.Errorf("%w: camera status of %d bytes", ErrMessage, len(b))
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%w: camera status: %v", ErrMessage, err)
	}
	if st.Verdict != CameraUnknown && !CameraVerdict(st.Verdict) {
		return nil, fmt.Errorf("%w: camera status: verdict %q", ErrMessage, st.Verdict)
	}
	if st.Seen != "" && !CameraVerdict(st.Seen) {
		return nil, fmt.Errorf("%w: camera status: seen %q", ErrMessage, st.Seen)
	}
	if err := checkFigures("camera status", st.Codec, st.Width, st.Height, st.FPS, st.BitrateKbps, st.LossPct); err != nil {
		return nil, err
	}
	switch st.Picture.State {
	case PictureNone, PictureOK, PictureBlack, PictureCovered, PictureFrozen:
	default:
		return nil, fmt.Errorf("%w: camera status: picture %q", ErrMessage, st.Picture.State)
	}
	if st.Repeats < 0 || st.KeyframeIntervalS < 0 || st.FirstFrameMs < 0 {
		return nil, fmt.Errorf("%w: camera status: a negative figure", ErrMessage)
	}
	return &st, nil
}

// DecodeCameraEvent parses and checks the data of a camera event of kind kind. It
// never panics.
func DecodeCameraEvent(kind string, b []byte) (*CameraEvent, error) {
	if !CameraVerdict(kind) {
		return nil, fmt.Errorf("%w: camera event %q is not a verdict", ErrMessage, kind)
	}
	var ev CameraEvent
	if len(b) > MaxMessage {
		return nil, fmt.Errorf("%w: camera event of %d bytes", ErrMessage, len(b))
	}
	if err := json.Unmarshal(b, &ev); err != nil {
		return nil, fmt.Errorf("%w: camera event: %v", ErrMessage, err)
	}
	if ev.Previous != CameraUnknown && !CameraVerdict(ev.Previous) {
		return nil, fmt.Errorf("%w: camera event: previous %q", ErrMessage, ev.Previous)
	}
	if ev.Since.IsZero() {
		return nil, fmt.Errorf("%w: camera event: no since", ErrMessage)
	}
	if ev.Repeats < 0 {
		return nil, fmt.Errorf("%w: camera event: negative repeats", ErrMessage)
	}
	if err := checkFigures("camera event", ev.Codec, ev.Width, ev.Height, ev.FPS, ev.BitrateKbps, ev.LossPct); err != nil {
		return nil, err
	}
	return &ev, nil
}

// DecodeCameraThumbnail parses and checks a camera's thumbnail data. It never panics.
func DecodeCameraThumbnail(b []byte) (*CameraThumbnail, error) {
	var th CameraThumbnail
	if len(b) > MaxMessage {
		return nil, fmt.Errorf("%w: camera thumbnail of %d bytes", ErrMessage, len(b))
	}
	if err := json.Unmarshal(b, &th); err != nil {
		return nil, fmt.Errorf("%w: camera thumbnail: %v", ErrMessage, err)
	}
	if len(th.JPEG) < 4 || th.JPEG[0] != 0xFF || th.JPEG[1] != 0xD8 || len(th.JPEG) > MaxThumbnail {
		return nil, fmt.Errorf("%w: camera thumbnail: not a JPEG of at most %d bytes", ErrMessage, MaxThumbnail)
	}
	return &th, nil
}

func checkFigures(what, codec string, w, h int, fps, kbps, loss float64) error {
	switch {
	case codec != "" && codec != "h264" && codec != "h265":
		return fmt.Errorf("%w: %s: codec %q", ErrMessage, what, codec)
	case w < 0 || h < 0 || w > 16384 || h > 16384:
		return fmt.Errorf("%w: %s: size %dx%d", ErrMessage, what, w, h)
	case !finite(fps) || fps < 0 || fps > 1000, !finite(kbps) || kbps < 0:
		return fmt.Errorf("%w: %s: fps or bitrate out of range", ErrMessage, what)
	case !finite(loss) || loss < 0 || loss > 100:
		return fmt.Errorf("%w: %s: loss %v%%", ErrMessage, what, loss)
	}
	return nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
