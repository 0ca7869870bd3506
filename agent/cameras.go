package agent

import (
	"cmp"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/sitebus"
)

// CCTV cameras. The bridge checks each configured camera over RTSP and publishes, per
// camera, its retained state (kind "status": a sitebus.CameraStatus), its thumbnail
// every few minutes (kind "thumbnail": a sitebus.CameraThumbnail; taken as an event,
// which the bridge's outbox keeps until the agent has it, or as a state) and an event
// whenever a new verdict has held long enough to report (kind: the verdict; data: a
// sitebus.CameraEvent). The agent keeps each configured camera's status and newest
// thumbnail (one per camera: memory is bounded by the configuration, since
// checkDevice refuses every other id), and journals each verdict's event as
// camera.{verdict}, signed and forwarded like any other; a thumbnail is journaled
// never.

// Camera event types: "camera." and the verdict reported.
const (
	TypeCameraOnline     = "camera.online"
	TypeCameraOffline    = "camera.offline"
	TypeCameraAuthFailed = "camera.auth-failed"
	TypeCameraStalled    = "camera.stalled"
	TypeCameraDegraded   = "camera.degraded"
	TypeCameraFrozen     = "camera.frozen"
)

// cameraDescriptions are the camera events' one-line descriptions, by verdict.
var cameraDescriptions = map[string]string{
	sitebus.CameraOnline:     "camera online",
	sitebus.CameraOffline:    "camera offline: no RTSP session",
	sitebus.CameraAuthFailed: "camera refused the configured credentials",
	sitebus.CameraStalled:    "camera stalled: session up, no media",
	sitebus.CameraDegraded:   "camera stream degraded: under its minimums or losing packets",
	sitebus.CameraFrozen:     "camera picture frozen, black or covered",
}

// maxCameraReason bounds the reason kept in a camera event's info, in runes.
const maxCameraReason = 500

// noReport is the Picture.Why of a configured camera the bridge has not reported on.
const noReport = "the bridge has not reported on this camera yet"

// CameraView is a configured camera with its last reported status: the fields of
// sitebus.CameraStatus beside its id, its name from the bridge's configuration, when
// the status was dated and whether the agent holds a thumbnail of it. A camera the
// bridge has not reported on has verdict "unknown" and picture state "none".
type CameraView struct {
	ID string `json:"id"`
	// Name says where it looks, from the bridge's configuration (else as the bridge
	// reported it).
	Name string `json:"name"`
	sitebus.CameraStatus
	// UpdatedAt is the time of the status message; absent before the first.
	UpdatedAt time.Time `json:"updatedAt,omitzero"`
	// HasThumbnail says the agent holds a picture from the camera (CameraThumbnail);
	// ThumbnailAt is when it was taken.
	HasThumbnail bool      `json:"hasThumbnail"`
	ThumbnailAt  time.Time `json:"thumbnailAt,omitzero"`
}

// cameraState is what the agent keeps of one camera.
type cameraState struct {
	status    *sitebus.CameraStatus
	updatedAt time.Time
	thumb     *sitebus.CameraThumbnail
}

// CameraEventInfo is the additional information of a camera.* event.
type CameraEventInfo struct {
	// Camera is the camera's id; Name says where it looks (from the configuration).
	Camera string `json:"camera"`
	Name   string `json:"name,omitempty"`
	// Verdict is the one reported (the type's last part); Previous the one before.
	Verdict  string `json:"verdict"`
	Previous string `json:"previous"`
	// Reason says why, for a person; Since is when the verdict began (the event's
	// occurredAt is when it had held long enough to report).
	Reason string    `json:"reason,omitempty"`
	Since  time.Time `json:"since"`
	// Repeats counts the times the verdict began again within the last hour after a
	// change that did not hold: a flapping camera.
	Repeats int `json:"repeats"`
	// Figures are those of the check that confirmed the verdict.
	Figures CameraFigures `json:"figures"`
	// Device is the bus message the event came from.
	Device struct {
		Class string    `json:"class"`
		ID    string    `json:"id"`
		Boot  string    `json:"boot"`
		Seq   uint64    `json:"seq"`
		Time  time.Time `json:"time"`
	} `json:"device"`
}

// CameraFigures are a check's figures of a camera's stream.
type CameraFigures struct {
	Codec       string  `json:"codec,omitempty"`
	Width       int     `json:"width,omitempty"`
	Height      int     `json:"height,omitempty"`
	FPS         float64 `json:"fps,omitempty"`
	BitrateKbps float64 `json:"bitrateKbps,omitempty"`
	LossPct     float64 `json:"lossPct"`
}

// cameraStatus records a camera's status or thumbnail (from its state or event
// topic). It reports whether the message changed what the agent shows.
func (a *Agent) cameraStatus(tp sitebus.Topic, m *sitebus.Message) (bool, error) {
	s := &a.devices
	switch m.Kind {
	case sitebus.CameraStatusKind:
		st, err := sitebus.DecodeCameraStatus(m.Data)
		if err != nil {
			return false, err
		}
		st.Reason = safeReason(st.Reason)
		st.Picture.Why = safeReason(st.Picture.Why)
		s.mu.Lock()
		c := s.camera(tp.ID)
		c.status, c.updatedAt = st, m.Time
		s.mu.Unlock()
		return true, nil
	case sitebus.CameraThumbnailKind:
		th, err := sitebus.DecodeCameraThumbnail(m.Data)
		if err != nil {
			return false, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		c := s.camera(tp.ID)
		if c.thumb != nil && th.At.Before(c.thumb.At) {
			return false, nil // a redelivered older picture
		}
		c.thumb = th
		return true, nil
	}
	return false, nil
}

// camera returns the state kept of camera id, making it if need be. s.mu is held.
func (s *deviceState) camera(id string) *cameraState {
	if s.cameras == nil {
		s.cameras = map[string]*cameraState{}
	}
	c := s.cameras[id]
	if c == nil {
		c = &cameraState{}
		s.cameras[id] = c
	}
	return c
}

// cameraViews returns every configured camera with its status, sorted by id. s.mu is
// held.
func (a *Agent) cameraViews() []CameraView {
	s := &a.devices
	out := make([]CameraView, 0, len(a.cfg.Devices.Cameras))
	for id, name := range a.cfg.Devices.Cameras {
		v := CameraView{ID: id, Name: name,
			CameraStatus: sitebus.CameraStatus{Verdict: sitebus.CameraUnknown, Picture: sitebus.CameraPicture{State: sitebus.PictureNone, Why: noReport}}}
		if c := s.cameras[id]; c != nil {
			if c.status != nil {
				v.CameraStatus, v.UpdatedAt = *c.status, c.updatedAt
				v.Name = cmp.Or(name, c.status.Name)
			}
			if c.thumb != nil {
				v.HasThumbnail, v.ThumbnailAt = true, c.thumb.At
			}
		}
		out = append(out, v)
	}
	slices.SortFunc(out, func(x, y CameraView) int { return cmp.Compare(x.ID, y.ID) })
	return out
}

// CameraThumbnail returns the latest thumbnail of camera id, and whether there is one.
func (a *Agent) CameraThumbnail(id string) (sitebus.CameraThumbnail, bool) {
	s := &a.devices
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cameras[id]
	if c == nil || c.thumb == nil {
		return sitebus.CameraThumbnail{}, false
	}
	return *c.thumb, true // JPEG is never changed once decoded: sharing it is safe
}

// cameraEvent turns a camera's event into camera.{verdict}, or nil for a kind that is
// no verdict.
func (a *Agent) cameraEvent(tp sitebus.Topic, m *sitebus.Message) (*event.Draft, error) {
	if !sitebus.CameraVerdict(m.Kind) {
		a.log.Debug("camera event with no domain meaning", "id", tp.ID, "kind", m.Kind)
		return nil, nil
	}
	ev, err := sitebus.DecodeCameraEvent(m.Kind, m.Data)
	if err != nil {
		return nil, err
	}
	in := CameraEventInfo{Camera: tp.ID, Name: a.cfg.Devices.Cameras[tp.ID], Verdict: m.Kind, Previous: ev.Previous,
		Reason: safeReason(ev.Reason), Since: ev.Since.UTC(), Repeats: ev.Repeats,
		Figures: CameraFigures{Codec: ev.Codec, Width: ev.Width, Height: ev.Height, FPS: ev.FPS, BitrateKbps: ev.BitrateKbps, LossPct: ev.LossPct}}
	in.Device.Class, in.Device.ID, in.Device.Boot, in.Device.Seq, in.Device.Time = tp.Class, tp.ID, m.Boot, m.Seq, m.Time
	b, err := json.Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("agent: camera event: %w", err)
	}
	return &event.Draft{Type: "camera." + m.Kind, OccurredAt: m.Time, Description: cameraDescriptions[m.Kind], Info: b}, nil
}

// userinfo matches the user (and password) of a URL in a reason.
var userinfo = regexp.MustCompile(`(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]*@`)

// safeReason is a reason from the bridge as the agent keeps and shows it: with the
// user and password of any URL in it removed (the bridge should never send them, and
// they must never reach the journal, the console or central), and cut to
// maxCameraReason runes.
func safeReason(s string) string {
	s = userinfo.ReplaceAllString(s, "$1")
	if !utf8.ValidString(s) {
		s = string([]rune(s)) // invalid bytes become U+FFFD
	}
	if r := []rune(s); len(r) > maxCameraReason {
		s = string(r[:maxCameraReason-1]) + "…"
	}
	return s
}
