package agent_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/agent"
	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/sitebus"
)

// cameraJPEG is a small thumbnail: SOI, filler, EOI (the agent keeps and serves the
// bytes; it never decodes them).
func cameraJPEG(fill byte) []byte {
	b := append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, bytes.Repeat([]byte{fill}, 300)...)
	return append(b, 0xFF, 0xD9)
}

// camera returns the agent's view of camera id.
func camera(t *testing.T, a *agent.Agent, id string) agent.CameraView {
	t.Helper()
	for _, c := range a.Devices().Cameras {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("camera %s not in %+v", id, a.Devices().Cameras)
	return agent.CameraView{}
}

// TestCameraState: every configured camera is listed, unknown until the bridge reports
// on it; a camera's retained status and its thumbnails (events, as the bridge sends
// them, or states) are kept (the newest picture only), journal nothing, and a bad one
// is refused as a bad message.
func TestCameraState(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	a, _, _ := s.startAgent()
	subscribed(t, a)
	cams := a.Devices().Cameras
	if len(cams) != 2 || cams[0].ID != "front-cam" || cams[0].Name != "front door, outside" || cams[1].ID != "yard-cam" || cams[1].Name != "yard" {
		t.Fatalf("cameras %+v, want front-cam and yard-cam with their configured names", cams)
	}
	for _, c := range cams {
		if c.Verdict != sitebus.CameraUnknown || c.Picture.State != sitebus.PictureNone || c.Picture.Why == "" || c.HasThumbnail || !c.UpdatedAt.IsZero() {
			t.Errorf("camera %s before any report: %+v, want unknown with no picture and why", c.ID, c)
		}
	}
	if _, ok := a.CameraThumbnail("front-cam"); ok {
		t.Error("a thumbnail before the bridge sent one")
	}

	now := s.clock.Now()
	pub := sitebus.NewPublisher(s.bus, site, "boot-a", s.clock)
	st := sitebus.CameraStatus{Name: "front door (as the bridge says)", Verdict: sitebus.CameraOnline, Since: now.Add(-time.Hour), CheckedAt: now,
		Transport: "tcp", Codec: "h264", Profile: "Main", Level: "3.1", Width: 1280, Height: 720, FPS: 25, BitrateKbps: 2100, LossPct: 0.2,
		KeyframeIntervalS: 2, FirstFrameMs: 180, Picture: sitebus.CameraPicture{State: sitebus.PictureOK, At: now.Add(-time.Minute), Mean: 110, Spread: 40}}
	if _, err := pub.Publish(t.Context(), sitebus.ClassCamera, "front-cam", sitebus.KindState, sitebus.CameraStatusKind, st); err != nil {
		t.Fatal(err)
	}
	// The bridge sends a thumbnail as an event, so that its outbox keeps it until the
	// agent has it; a retained state is taken too (below).
	pic := sitebus.CameraThumbnail{At: now.Add(-time.Minute), JPEG: cameraJPEG('a')}
	if _, err := pub.Publish(t.Context(), sitebus.ClassCamera, "front-cam", sitebus.KindEvent, sitebus.CameraThumbnailKind, pic); err != nil {
		t.Fatal(err)
	}
	s.waitFor("front-cam's status and thumbnail", func() (bool, string) {
		c := camera(t, a, "front-cam")
		return c.Verdict == sitebus.CameraOnline && c.HasThumbnail, fmt.Sprintf("%+v", c)
	})
	c := camera(t, a, "front-cam")
	if c.Name != "front door, outside" || c.Codec != "h264" || c.Width != 1280 || c.Height != 720 || c.FPS != 25 || c.BitrateKbps != 2100 ||
		c.LossPct != 0.2 || !c.Since.Equal(st.Since) || !c.UpdatedAt.Equal(now) || !c.ThumbnailAt.Equal(pic.At) || c.Picture.State != sitebus.PictureOK {
		t.Errorf("front-cam %+v, want the status as sent, named as configured", c)
	}
	if got, ok := a.CameraThumbnail("front-cam"); !ok || !bytes.Equal(got.JPEG, pic.JPEG) || !got.At.Equal(pic.At) {
		t.Errorf("thumbnail %d bytes at %v, want the %d sent", len(got.JPEG), got.At, len(pic.JPEG))
	}
	if y := camera(t, a, "yard-cam"); y.Verdict != sitebus.CameraUnknown {
		t.Errorf("yard-cam %+v, want it still unknown", y)
	}

	// An older picture (redelivered) does not replace a newer one; a newer one does.
	older := sitebus.CameraThumbnail{At: now.Add(-10 * time.Minute), JPEG: cameraJPEG('o')}
	newer := sitebus.CameraThumbnail{At: now, JPEG: cameraJPEG('n')}
	for i, th := range []sitebus.CameraThumbnail{older, newer} {
		kind := []string{sitebus.KindEvent, sitebus.KindState}[i]
		if _, err := pub.Publish(t.Context(), sitebus.ClassCamera, "front-cam", kind, sitebus.CameraThumbnailKind, th); err != nil {
			t.Fatal(err)
		}
	}
	s.waitFor("the newer thumbnail", func() (bool, string) {
		got, _ := a.CameraThumbnail("front-cam")
		return bytes.Equal(got.JPEG, newer.JPEG), fmt.Sprintf("%d bytes at %v (fill %q)", len(got.JPEG), got.At, got.JPEG[4])
	})
	if c := camera(t, a, "front-cam"); !c.ThumbnailAt.Equal(newer.At) {
		t.Errorf("thumbnailAt %v, want %v", c.ThumbnailAt, newer.At)
	}

	// A status that does not decode is a bad message: the last good one stands.
	bad := a.Stats().BadMessages
	if _, err := pub.Publish(t.Context(), sitebus.ClassCamera, "front-cam", sitebus.KindState, sitebus.CameraStatusKind,
		map[string]any{"verdict": "exploded", "picture": map[string]any{"state": "ok"}}); err != nil {
		t.Fatal(err)
	}
	s.waitFor("the bad status refused", func() (bool, string) { return a.Stats().BadMessages == bad+1, fmt.Sprintf("%+v", a.Stats()) })
	if c := camera(t, a, "front-cam"); c.Verdict != sitebus.CameraOnline {
		t.Errorf("after a bad status: %+v, want the last good one", c)
	}
	// A password in a reason never reaches the console.
	st.Verdict, st.Reason = sitebus.CameraAuthFailed, "DESCRIBE rtsp://admin:hunter2@192.0.2.10:554/stream1: 401"
	if _, err := pub.Publish(t.Context(), sitebus.ClassCamera, "front-cam", sitebus.KindState, sitebus.CameraStatusKind, st); err != nil {
		t.Fatal(err)
	}
	s.waitFor("auth-failed", func() (bool, string) {
		c := camera(t, a, "front-cam")
		return c.Verdict == sitebus.CameraAuthFailed, c.Verdict
	})
	if c := camera(t, a, "front-cam"); c.Reason != "DESCRIBE rtsp://192.0.2.10:554/stream1: 401" {
		t.Errorf("reason %q, want the URL without its user and password", c.Reason)
	}
	// A thumbnail that is not a JPEG is a bad message, on either topic.
	bad = a.Stats().BadMessages
	for _, kind := range []string{sitebus.KindEvent, sitebus.KindState} {
		if _, err := pub.Publish(t.Context(), sitebus.ClassCamera, "front-cam", kind, sitebus.CameraThumbnailKind,
			sitebus.CameraThumbnail{At: now.Add(time.Minute), JPEG: []byte("GIF89a, not a JPEG")}); err != nil {
			t.Fatal(err)
		}
	}
	s.waitFor("the bad thumbnails refused", func() (bool, string) { return a.Stats().BadMessages == bad+2, fmt.Sprintf("%+v", a.Stats()) })
	if got, _ := a.CameraThumbnail("front-cam"); !bytes.Equal(got.JPEG, newer.JPEG) {
		t.Errorf("after bad thumbnails the agent holds %q", got.JPEG)
	}
	if n := a.Stats().Journaled; n != 1 {
		t.Errorf("%d events journaled, want only agent.started: camera state and thumbnails journal nothing", n)
	}
}

// TestCameraEvents: each camera event the bridge reports is journaled as
// camera.{verdict}, signed, with the camera's id and configured name, the verdicts
// before and now, why, since when, how often it flapped and the figures; it is put
// into words, and central receives it like any other event. A kind that is no verdict
// makes no event; an event that does not decode is a bad message.
func TestCameraEvents(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	srv := s.startCentral()
	a, stop, _ := s.startAgent()
	subscribed(t, a)
	now := s.clock.Now()
	pub := sitebus.NewPublisher(s.bus, site, "boot-a", s.clock)
	since := now.Add(-20 * time.Second)
	tests := []struct {
		camera, kind string
		ev           sitebus.CameraEvent
		wantName     string
		wantSentence string
	}{
		{"front-cam", sitebus.CameraOffline, sitebus.CameraEvent{Previous: sitebus.CameraOnline, Reason: "connect: connection refused", Since: since, Repeats: 2},
			"front door, outside", "Camera front-cam (front door, outside) is offline: connect: connection refused, since 12:59 on 15 Jun 2026; flapping: 2 repeats in the last hour"},
		{"front-cam", sitebus.CameraOnline, sitebus.CameraEvent{Previous: sitebus.CameraOffline, Since: since, Codec: "h264", Width: 1280, Height: 720, FPS: 25, BitrateKbps: 2100},
			"front door, outside", "Camera front-cam (front door, outside) is back online (H.264 1280x720, 25 fps), since 12:59 on 15 Jun 2026"},
		{"yard-cam", sitebus.CameraAuthFailed, sitebus.CameraEvent{Previous: sitebus.CameraUnknown, Reason: "401 Unauthorized", Since: since},
			"yard", "Camera yard-cam (yard) refuses the configured user and password: 401 Unauthorized, since 12:59 on 15 Jun 2026"},
		{"yard-cam", sitebus.CameraStalled, sitebus.CameraEvent{Previous: sitebus.CameraOnline, Reason: "no media for 10s", Since: since},
			"yard", "Camera yard-cam (yard) is stalled: no media for 10s, since 12:59 on 15 Jun 2026"},
		{"yard-cam", sitebus.CameraDegraded, sitebus.CameraEvent{Previous: sitebus.CameraOnline, Reason: "loss 7.5% over its maximum 5%", Since: since,
			Codec: "h265", Width: 640, Height: 480, FPS: 10, BitrateKbps: 300, LossPct: 7.5},
			"yard", "Camera yard-cam (yard) is degraded: loss 7.5% over its maximum 5% (H.265 640x480, 10 fps, 300 kbps, 7.5% loss), since 12:59 on 15 Jun 2026"},
		{"yard-cam", sitebus.CameraFrozen, sitebus.CameraEvent{Previous: sitebus.CameraDegraded, Reason: "the picture is black", Since: since},
			"yard", "Camera yard-cam (yard) is frozen: the picture is black, since 12:59 on 15 Jun 2026"},
	}
	for _, tc := range tests {
		if _, err := pub.Publish(t.Context(), sitebus.ClassCamera, tc.camera, sitebus.KindEvent, tc.kind, tc.ev); err != nil {
			t.Fatal(err)
		}
	}
	// Neither a kind that is no verdict nor an event that does not decode is journaled.
	if _, err := pub.Publish(t.Context(), sitebus.ClassCamera, "yard-cam", sitebus.KindEvent, "picture-taken", map[string]any{}); err != nil {
		t.Fatal(err)
	}
	if _, err := pub.Publish(t.Context(), sitebus.ClassCamera, "yard-cam", sitebus.KindEvent, sitebus.CameraOffline, map[string]any{"previous": "online"}); err != nil {
		t.Fatal(err)
	}
	journaled(t, a, uint64(1+len(tests)), 0, 1)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if head := srv.Heads()[site]; head != a.Journal().Last() {
		t.Errorf("central's head %d, want the journal's last %d: camera events are forwarded like every other", head, a.Journal().Last())
	}
	evs := s.events(a) // verified with the site key, in order
	if len(evs) != 1+len(tests) {
		t.Fatalf("%d events, want %d", len(evs), 1+len(tests))
	}
	byType := map[string]*event.Event{} // appends run concurrently: the journal's order may differ from the bus's
	for _, ev := range evs[1:] {
		byType[ev.Type] = ev
	}
	d := a.Describer()
	for _, tc := range tests {
		ev := byType[event.TypePrefix+"camera."+tc.kind]
		if ev == nil {
			t.Errorf("no camera.%s journaled: %v", tc.kind, s.types(a))
			continue
		}
		var in agent.CameraEventInfo
		if err := json.Unmarshal(ev.Data.AdditionalInformation, &in); err != nil {
			t.Fatal(err)
		}
		f := tc.ev
		if in.Camera != tc.camera || in.Name != tc.wantName || in.Verdict != tc.kind || in.Previous != f.Previous || in.Reason != f.Reason ||
			!in.Since.Equal(f.Since) || in.Repeats != f.Repeats || in.Figures.Codec != f.Codec || in.Figures.Width != f.Width || in.Figures.Height != f.Height ||
			in.Figures.FPS != f.FPS || in.Figures.BitrateKbps != f.BitrateKbps || in.Figures.LossPct != f.LossPct ||
			in.Device.Class != sitebus.ClassCamera || in.Device.ID != tc.camera || in.Device.Boot != "boot-a" || in.Device.Seq == 0 {
			t.Errorf("camera.%s info %s, want %+v from %s", tc.kind, ev.Data.AdditionalInformation, f, tc.camera)
		}
		if got := occurredAt(ev); !got.Equal(now) {
			t.Errorf("camera.%s occurredAt %v, want the bridge's time %v", tc.kind, got, now)
		}
		if ev.Data.Description == "" {
			t.Errorf("camera.%s has no description", tc.kind)
		}
		got := d.Sentence(agent.Fact{Type: strings.TrimPrefix(ev.Type, event.TypePrefix), At: occurredAt(ev), Info: ev.Data.AdditionalInformation,
			Description: ev.Data.Description})
		if got != tc.wantSentence {
			t.Errorf("camera.%s in words:\n got %q\nwant %q", tc.kind, got, tc.wantSentence)
		}
	}
}
