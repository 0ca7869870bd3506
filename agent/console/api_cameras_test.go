package console_test

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/agent/eventindex"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/internal/broker/brokertest"
)

// siteCameras are the test site's cameras (config.Camera, in the bridge's YAML).
const siteCameras = `  - {id: front-cam, name: "front door, outside", url: "rtsp://192.0.2.10:554/stream1"}
  - {id: gate, name: side gate, url: "rtsp://192.0.2.11/live"}
  - {id: yard, url: "rtsp://192.0.2.12/live"}
`

// cameraBus plays the bridge's camera class on the site bus: it publishes camera
// states and events as the bridge does, with a boot of its own.
type cameraBus struct {
	t   *testing.T
	pub *sitebus.Publisher
}

func (s *consoleSite) cameraBus(t *testing.T) *cameraBus {
	return &cameraBus{t: t, pub: sitebus.NewPublisher(brokertest.Client(t, s.brk.URL(), "camera-class"), site, "boot-cameras", s.clock)}
}

func (b *cameraBus) status(id string, st sitebus.CameraStatus) {
	b.t.Helper()
	if _, err := b.pub.Publish(b.t.Context(), sitebus.ClassCamera, id, sitebus.KindState, sitebus.CameraStatusKind, st); err != nil {
		b.t.Fatal(err)
	}
}

func (b *cameraBus) thumbnail(id string, at time.Time, jpg []byte) {
	b.t.Helper()
	if _, err := b.pub.Publish(b.t.Context(), sitebus.ClassCamera, id, sitebus.KindEvent, sitebus.CameraThumbnailKind, // as the bridge sends it
		sitebus.CameraThumbnail{At: at, JPEG: jpg}); err != nil {
		b.t.Fatal(err)
	}
}

func (b *cameraBus) event(id, verdict string, ev sitebus.CameraEvent) {
	b.t.Helper()
	if _, err := b.pub.Publish(b.t.Context(), sitebus.ClassCamera, id, sitebus.KindEvent, verdict, ev); err != nil {
		b.t.Fatal(err)
	}
}

// testJPEG is a real JPEG of w x h, a gradient, as a camera's thumbnail would be.
func testJPEG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{R: uint8(x * 255 / w), G: uint8(y * 255 / h), B: 128, A: 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 70}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// cameraDoc is a camera as GET /api/v1/cameras sends it (the fields the tests read).
type cameraDoc struct {
	ID, Name, Verdict, Reason, Codec string
	Since, UpdatedAt, ThumbnailAt    time.Time
	Width, Height, Repeats           int
	FPS, BitrateKbps, LossPct        float64
	Picture                          struct{ State, Why string }
	HasThumbnail                     bool
}

// onlineStatus is the status of a camera that is online at 1280x720.
func onlineStatus(since time.Time) sitebus.CameraStatus {
	return sitebus.CameraStatus{Verdict: sitebus.CameraOnline, Since: since, CheckedAt: since.Add(time.Minute), Transport: "tcp",
		Codec: "h264", Profile: "Main", Level: "3.1", Width: 1280, Height: 720, FPS: 25, BitrateKbps: 2100, LossPct: 0.2,
		KeyframeIntervalS: 2, FirstFrameMs: 180, Picture: sitebus.CameraPicture{State: sitebus.PictureOK, At: since, Mean: 110, Spread: 40}}
}

// TestCamerasAPI: GET /api/v1/cameras lists every configured camera, unknown until the
// bridge reports on it; a camera's thumbnail is served as a JPEG, never cached, or a
// 404 saying why there is none; camera events are journaled with their sentences and
// all but camera.online are alarms of the priorities they should have.
func TestCamerasAPI(t *testing.T) {
	t.Parallel()
	s := newConsoleSite(t, withCameras(siteCameras))
	c := s.bearer("staff-1")
	var cams []cameraDoc
	if code := c.do("GET", "/api/v1/cameras", nil, &cams); code != http.StatusOK {
		t.Fatalf("GET /api/v1/cameras: %d", code)
	}
	if len(cams) != 3 || cams[0].ID != "front-cam" || cams[0].Name != "front door, outside" || cams[1].ID != "gate" || cams[2].ID != "yard" || cams[2].Name != "" {
		t.Fatalf("cameras %+v, want front-cam, gate and yard, sorted, with their configured names", cams)
	}
	for _, cam := range cams {
		if cam.Verdict != "unknown" || cam.Picture.State != "none" || !strings.Contains(cam.Picture.Why, "not reported") || cam.HasThumbnail {
			t.Errorf("%s before any report: %+v, want unknown, no picture and why", cam.ID, cam)
		}
	}
	for _, tc := range []struct{ path, want string }{
		{"/api/v1/cameras/front-cam/thumbnail", "camera front-cam has no picture: the bridge has not reported on this camera yet"},
		{"/api/v1/cameras/attic/thumbnail", `no camera "attic" is configured`},
	} {
		var e struct{ Error string }
		if code := c.do("GET", tc.path, nil, &e); code != http.StatusNotFound || e.Error != tc.want {
			t.Errorf("GET %s: %d %q, want 404 %q", tc.path, code, e.Error, tc.want)
		}
	}

	now := s.clock.Now()
	bus := s.cameraBus(t)
	pic := testJPEG(t, 64, 36)
	bus.status("front-cam", onlineStatus(now.Add(-time.Hour)))
	bus.thumbnail("front-cam", now.Add(-time.Minute), pic)
	bus.status("gate", sitebus.CameraStatus{Verdict: sitebus.CameraOffline, Reason: "connect: connection refused", Since: now.Add(-2 * time.Minute),
		Repeats: 3, Seen: sitebus.CameraOnline, Picture: sitebus.CameraPicture{State: sitebus.PictureNone, Why: "ffmpeg is not installed"}})
	s.waitFor("the cameras' reports", func() (bool, string) {
		c.do("GET", "/api/v1/cameras", nil, &cams)
		return len(cams) == 3 && cams[0].HasThumbnail && cams[0].Verdict == "online" && cams[1].Verdict == "offline", fmt.Sprintf("%+v", cams)
	})
	if f := cams[0]; f.Codec != "h264" || f.Width != 1280 || f.Height != 720 || f.FPS != 25 || f.BitrateKbps != 2100 || f.LossPct != 0.2 ||
		!f.Since.Equal(now.Add(-time.Hour)) || !f.ThumbnailAt.Equal(now.Add(-time.Minute)) || f.Picture.State != "ok" {
		t.Errorf("front-cam %+v, want its status as the bridge sent it", f)
	}
	if g := cams[1]; g.Reason != "connect: connection refused" || g.Repeats != 3 || g.Picture.Why != "ffmpeg is not installed" || g.HasThumbnail {
		t.Errorf("gate %+v, want offline, flapping, no picture and why", g)
	}
	// The devices' list carries the same cameras.
	var devs struct{ Cameras []cameraDoc }
	c.do("GET", "/api/v1/devices", nil, &devs)
	if len(devs.Cameras) != 3 || devs.Cameras[0].Verdict != "online" || devs.Cameras[1].Verdict != "offline" {
		t.Errorf("devices' cameras %+v", devs.Cameras)
	}

	// The thumbnail, as a JPEG, never cached; none for a camera without one.
	req, _ := http.NewRequestWithContext(t.Context(), "GET", s.srv.URL+"/api/v1/cameras/front-cam/thumbnail?at="+now.Format(time.RFC3339), nil)
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/jpeg" || resp.Header.Get("Cache-Control") != "no-store" ||
		!bytes.Equal(body, pic) {
		t.Errorf("thumbnail: %d %q %q, %d bytes; want 200 image/jpeg no-store, the %d bytes sent", resp.StatusCode,
			resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"), len(body), len(pic))
	}
	if _, err := jpeg.DecodeConfig(bytes.NewReader(body)); err != nil {
		t.Errorf("the thumbnail does not decode: %v", err)
	}
	var e struct{ Error string }
	if code := c.do("GET", "/api/v1/cameras/gate/thumbnail", nil, &e); code != http.StatusNotFound || e.Error != "camera gate has no picture: ffmpeg is not installed" {
		t.Errorf("gate's thumbnail: %d %q, want 404 saying ffmpeg is not installed", code, e.Error)
	}

	// Camera events: journaled, in words, and alarms but for camera.online.
	since := time.Date(2026, 6, 10, 10, 30, 0, 0, time.UTC) // 11:30 BST; the events' own time is the site's clock
	bus.event("gate", sitebus.CameraOffline, sitebus.CameraEvent{Previous: sitebus.CameraOnline, Reason: "connect: connection refused", Since: since, Repeats: 3})
	bus.event("front-cam", sitebus.CameraDegraded, sitebus.CameraEvent{Previous: sitebus.CameraOnline, Reason: "loss 7.5% over its maximum 5%", Since: since,
		Codec: "h264", Width: 1280, Height: 720, FPS: 25, BitrateKbps: 2100, LossPct: 7.5})
	bus.event("yard", sitebus.CameraAuthFailed, sitebus.CameraEvent{Previous: sitebus.CameraUnknown, Reason: "401 Unauthorized", Since: since})
	bus.event("front-cam", sitebus.CameraOnline, sitebus.CameraEvent{Previous: sitebus.CameraDegraded, Since: since.Add(15 * time.Minute), Codec: "h264", Width: 1280, Height: 720, FPS: 25})
	for _, typ := range []string{"camera.offline", "camera.degraded", "camera.auth-failed", "camera.online"} {
		s.waitEvent(typ)
	}
	var alarms []struct {
		eventindex.Alarm
		Priority        int
		PriorityName    string
		Group, Sentence string
	}
	c.do("GET", "/api/v1/alarms", nil, &alarms)
	got := map[string]string{}
	for _, a := range alarms {
		got[a.Type] = fmt.Sprintf("%d %s %s | %s", a.Priority, a.PriorityName, a.Group, a.Sentence)
	}
	want := map[string]string{
		"camera.offline": "2 high camera.offline|gate | Camera gate (side gate) is offline: connect: connection refused, since 11:30 on 10 Jun 2026; flapping: 3 repeats in the last hour",
		"camera.degraded": "3 normal camera.degraded|front-cam | Camera front-cam (front door, outside) is degraded: loss 7.5% over its maximum 5% " +
			"(H.264 1280x720, 25 fps, 2100 kbps, 7.5% loss), since 11:30 on 10 Jun 2026",
		"camera.auth-failed": "2 high camera.auth-failed|yard | Camera yard refuses the configured user and password: 401 Unauthorized, since 11:30 on 10 Jun 2026",
	}
	for typ, w := range want {
		if got[typ] != w {
			t.Errorf("alarm %s:\n got %q\nwant %q", typ, got[typ], w)
		}
	}
	if g, ok := got["camera.online"]; ok {
		t.Errorf("camera.online is listed as an alarm: %s", g)
	}
	var page struct {
		Events []struct{ Type, Sentence, Subject string }
	}
	c.do("GET", "/api/v1/journal?type=camera.*", nil, &page)
	var types []string
	for _, e := range page.Events {
		types = append(types, e.Type)
		if e.Type == "camera.online" && e.Sentence != "Camera front-cam (front door, outside) is back online (H.264 1280x720, 25 fps), since 11:45 on 10 Jun 2026" {
			t.Errorf("camera.online in words: %q", e.Sentence)
		}
		if e.Subject == "" {
			t.Errorf("%s has no subject: %+v", e.Type, e)
		}
	}
	slices.Sort(types)
	if strings.Join(types, " ") != "camera.auth-failed camera.degraded camera.offline camera.online" {
		t.Errorf("journal camera.* lists %v", types)
	}

	// The metrics say each camera's verdict.
	scraper := &client{s: s, hc: s.srv.Client(), token: metricsToken}
	_, m := scraper.raw("GET", "/metrics", nil, nil)
	for _, w := range []string{`apedge_camera_state{camera="front-cam",verdict="online"} 1`, `apedge_camera_state{camera="gate",verdict="offline"} 1`,
		`apedge_camera_state{camera="gate",verdict="online"} 0`, `apedge_camera_state{camera="yard",verdict="unknown"} 1`} {
		if !bytes.Contains(m, []byte(w)) {
			t.Errorf("/metrics lacks %q", w)
		}
	}
}

// TestAlarmTypesOnThePage: every alarm type the index marks has a title on the
// dashboard and shows there at once (app.js's ALARM_TYPES and ALARM_TITLE).
func TestAlarmTypesOnThePage(t *testing.T) {
	b, err := os.ReadFile("web/app.js")
	if err != nil {
		t.Fatal(err)
	}
	js := string(b)
	set := regexp.MustCompile(`(?s)const ALARM_TYPES = new Set\(\[(.*?)\]\);`).FindStringSubmatch(js)
	titles := regexp.MustCompile(`(?s)const ALARM_TITLE = \{(.*?)\n\};`).FindStringSubmatch(js)
	if set == nil || titles == nil {
		t.Fatal("app.js has no ALARM_TYPES or ALARM_TITLE")
	}
	for _, typ := range eventindex.AlarmTypes {
		if !strings.Contains(set[1], "'"+typ+"'") {
			t.Errorf("app.js's ALARM_TYPES lacks %s", typ)
		}
		if !strings.Contains(titles[1], "'"+typ+"':") {
			t.Errorf("app.js's ALARM_TITLE lacks %s", typ)
		}
	}
}
