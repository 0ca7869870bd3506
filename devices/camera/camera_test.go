package camera_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apedge/apedge/devices/camera"
	"github.com/apedge/apedge/devices/device"
	"github.com/apedge/apedge/devices/device/devicetest"
	"github.com/apedge/apedge/devices/rtsp"
	"github.com/apedge/apedge/internal/clock"
	"github.com/apedge/apedge/internal/config"
	"github.com/apedge/apedge/internal/wait"
)

// site returns a simulated site's configuration with cams, checked fast: every
// second, a sample of 500 ms, stalled after 1 s, a change reported once it has held
// for hold.
func site(hold time.Duration, cams ...config.Camera) *config.Bridge {
	for i := range cams {
		c := &cams[i]
		c.URL, c.Transport = config.SimulatedCamera, "tcp"
		loss := 5.0
		c.Every, c.Sample, c.Timeout, c.StallAfter, c.HoldFor, c.MaxLossPct = time.Second, 500*time.Millisecond, time.Second, time.Second, hold, &loss
	}
	return &config.Bridge{Site: "TST1", Cameras: cams, Simulate: &config.Simulate{Quiet: true},
		CameraChecks: config.CameraChecks{Concurrency: 4, FFmpeg: "ffmpeg", PictureEvery: time.Second}}
}

// run opens and runs the cameras of cfg until the test ends.
func run(t *testing.T, cfg *config.Bridge) (*devicetest.Recorder, device.Driver, device.Env) {
	t.Helper()
	clk := clock.Scaled(clock.System(), time.Date(2026, 3, 14, 21, 30, 0, 0, time.UTC), 1)
	clk.Run()
	rec := &devicetest.Recorder{}
	env := devicetest.Env(t, cfg, clk, rec, nil)
	drv, err := camera.Class{}.Open(context.Background(), env)
	if err != nil || drv == nil {
		t.Fatalf("Open: %v, %v", drv, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := drv.Run(ctx); err != nil {
			t.Error(err)
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	return rec, drv, env
}

func status(t *testing.T, m devicetest.Msg) camera.Status {
	t.Helper()
	var st camera.Status
	if err := json.Unmarshal(m.Data, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func sim(t *testing.T, env device.Env, id string) *rtsp.SimCamera {
	t.Helper()
	s, ok := env.Sims.Get(device.Ref{Class: camera.ClassName, ID: id}).(*rtsp.SimCamera)
	if !ok {
		t.Fatalf("no simulator of %s", id)
	}
	return s
}

// TestCameraReports runs two simulated cameras through the class: their status says
// online with the stream's figures and a picture, a fault is reported as one event
// with its reason once it has held, recovery as another, and no message holds the
// password.
func TestCameraReports(t *testing.T) {
	cfg := site(1500*time.Millisecond,
		config.Camera{ID: "front", Name: "front door", User: "admin", Sim: &config.CameraSim{Password: "s3cret-pw"}},
		config.Camera{ID: "yard", Name: "yard", Sim: &config.CameraSim{Codec: "h265"}})
	rec, drv, env := run(t, cfg)
	front, yard := device.Ref{Class: "camera", ID: "front"}, device.Ref{Class: "camera", ID: "yard"}
	for _, c := range []struct {
		ref   device.Ref
		codec string
	}{{front, "h264"}, {yard, "h265"}} {
		m := rec.LastState(t, 20*time.Second, c.ref, func(b json.RawMessage) bool {
			return strings.Contains(string(b), `"verdict":"online"`) && strings.Contains(string(b), `"state":"ok"`)
		})
		st := status(t, m)
		if st.Codec != c.codec || st.Width != 640 || st.Height != 480 || st.FPS < 9 || st.FPS > 11 || st.BitrateKbps <= 0 || st.Transport != "tcp" || !st.Simulated {
			t.Errorf("%s status %+v", c.ref, st)
		}
	}
	if h := drv.Devices()[0].Health(); h.Status != device.HealthOK {
		t.Errorf("front health %+v", h)
	}
	// The front camera is switched off: one offline event, once it has held.
	sim(t, env, "front").Set(rtsp.Faults{Off: true})
	ev := rec.WaitEvents(t, 20*time.Second, front, camera.Offline)[0]
	var e camera.Event
	json.Unmarshal(ev.Data, &e)
	if e.Previous != camera.Online || !strings.Contains(e.Reason, "connection refused") || ev.At.Sub(e.Since) < 1500*time.Millisecond {
		t.Errorf("offline event %+v at %v", e, ev.At)
	}
	if h := drv.Devices()[0].Health(); h.Status != device.HealthDown || !strings.Contains(h.Detail, "offline") {
		t.Errorf("front health when off %+v", h)
	}
	sim(t, env, "front").Set(rtsp.Faults{})
	rec.WaitEvents(t, 20*time.Second, front, camera.Offline, camera.Online)
	// The yard camera saw none of it.
	for _, m := range rec.Of(yard, devicetest.Event) {
		if m.Kind != camera.ThumbnailKind {
			t.Errorf("yard event %s", m.Kind)
		}
	}
	for _, m := range rec.All() {
		if strings.Contains(string(m.Data), "s3cret") {
			t.Fatalf("%s %s holds the password", m.Ref, m.Kind)
		}
	}
	if th := rec.Of(front, devicetest.Event); !hasKind(th, camera.ThumbnailKind) {
		t.Error("no thumbnail from front")
	}
}

func hasKind(ms []devicetest.Msg, kind string) bool {
	for _, m := range ms {
		if m.Kind == kind {
			return true
		}
	}
	return false
}

// TestFlappingCamera checks the hysteresis: a camera switched off and on faster than
// its holdFor makes no event, and its repeats are counted in its status; once it stays
// off, exactly one offline event.
func TestFlappingCamera(t *testing.T) {
	cfg := site(4*time.Second, config.Camera{ID: "flap"})
	rec, _, env := run(t, cfg)
	ref := device.Ref{Class: "camera", ID: "flap"}
	rec.LastState(t, 20*time.Second, ref, func(b json.RawMessage) bool { return strings.Contains(string(b), `"verdict":"online"`) })
	s := sim(t, env, "flap")
	// Off and on in turn, each for about two checks, for a while.
	deadline := time.Now().Add(10 * time.Second)
	off := false
	for time.Now().Before(deadline) {
		off = !off
		s.Set(rtsp.Faults{Off: off})
		n := len(rec.Of(ref, devicetest.State))
		wait.Until(t, 10*time.Second, "two checks", func() bool { return len(rec.Of(ref, devicetest.State)) >= n+2 })
	}
	s.Set(rtsp.Faults{Off: true})
	rec.WaitEvents(t, 20*time.Second, ref, camera.Offline)
	var verdicts []string
	for _, m := range rec.Of(ref, devicetest.Event) {
		if m.Kind != camera.ThumbnailKind {
			verdicts = append(verdicts, m.Kind)
		}
	}
	if len(verdicts) != 1 || verdicts[0] != camera.Offline {
		t.Errorf("events %v, want one offline: flapping faster than holdFor is not reported", verdicts)
	}
	st := status(t, rec.LastState(t, 5*time.Second, ref, nil))
	if st.Repeats < 2 {
		t.Errorf("status %+v: want the flaps counted in repeats", st)
	}
}

// TestFrozenPicture checks a camera serving the same picture over and over is judged
// frozen from its thumbnails, and a covered one too.
func TestFrozenPicture(t *testing.T) {
	cfg := site(0, config.Camera{ID: "still"}, config.Camera{ID: "taped", Sim: &config.CameraSim{Picture: "covered"}})
	rec, _, env := run(t, cfg)
	sim(t, env, "still").Set(rtsp.Faults{FrozenPicture: true})
	for _, id := range []string{"still", "taped"} {
		ref := device.Ref{Class: "camera", ID: id}
		ev := rec.WaitEvents(t, 30*time.Second, ref, camera.Frozen)[0]
		var e camera.Event
		json.Unmarshal(ev.Data, &e)
		want := map[string]string{"still": "same as the last one", "taped": "covered"}[id]
		if !strings.Contains(e.Reason, want) {
			t.Errorf("%s frozen because %q, want %q", id, e.Reason, want)
		}
	}
}

// TestHungCameraDelaysNoOther checks one camera that takes a connection and then
// answers nothing holds only its own slot: with two slots for three cameras, the
// other two keep being checked at their rate while it is stuck.
func TestHungCameraDelaysNoOther(t *testing.T) {
	cfg := site(0, config.Camera{ID: "hung"}, config.Camera{ID: "a"}, config.Camera{ID: "b"})
	cfg.CameraChecks.Concurrency = 2
	for i := range cfg.Cameras {
		cfg.Cameras[i].Timeout = 3 * time.Second
	}
	rec, _, env := run(t, cfg)
	sim(t, env, "hung").Set(rtsp.Faults{SlowDescribe: time.Hour})
	hung := device.Ref{Class: "camera", ID: "hung"}
	ev := rec.WaitEvents(t, 30*time.Second, hung, camera.Offline)[0]
	var e camera.Event
	json.Unmarshal(ev.Data, &e)
	if !strings.Contains(e.Reason, "DESCRIBE: no answer within 3s") {
		t.Errorf("hung camera: %q", e.Reason)
	}
	// In the next 6 s, each of the others is checked at least three times (every
	// second, a check taking about 0.6 s), though the hung camera takes a slot 3 s at
	// a time.
	n := map[string]int{}
	for _, id := range []string{"a", "b"} {
		n[id] = len(rec.Of(device.Ref{Class: "camera", ID: id}, devicetest.State))
	}
	wait.For(t, 6*time.Second, "three more checks of a and of b", func() (bool, string) {
		a := len(rec.Of(device.Ref{Class: "camera", ID: "a"}, devicetest.State)) - n["a"]
		b := len(rec.Of(device.Ref{Class: "camera", ID: "b"}, devicetest.State)) - n["b"]
		return a >= 3 && b >= 3, fmt.Sprintf("a %d, b %d", a, b)
	})
	for _, id := range []string{"a", "b"} {
		ref := device.Ref{Class: "camera", ID: id}
		if st := status(t, rec.LastState(t, time.Second, ref, nil)); st.Verdict != camera.Online {
			t.Errorf("camera %s: %+v", id, st)
		}
	}
}

// TestBadPasswordFile checks a camera whose password file cannot be used is
// auth-failed, saying why, and keeps no other device of the bridge from opening.
func TestBadPasswordFile(t *testing.T) {
	dir := t.TempDir()
	pw := dir + "/pw"
	if err := os.WriteFile(pw, []byte("secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := site(0, config.Camera{ID: "c1", User: "admin", PasswordFile: pw}, config.Camera{ID: "c2"})
	rec, _, _ := run(t, cfg)
	ev := rec.WaitEvents(t, 20*time.Second, device.Ref{Class: "camera", ID: "c1"}, camera.AuthFailed)[0]
	var e camera.Event
	json.Unmarshal(ev.Data, &e)
	if !strings.Contains(e.Reason, "password file cannot be used") || !strings.Contains(e.Reason, "chmod 600") {
		t.Errorf("reason %q", e.Reason)
	}
	rec.LastState(t, 20*time.Second, device.Ref{Class: "camera", ID: "c2"}, func(b json.RawMessage) bool { return strings.Contains(string(b), `"verdict":"online"`) })
}
