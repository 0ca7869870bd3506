package config_test

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/internal/config"
)

func TestLoadBridgeCameras(t *testing.T) {
	dir := t.TempDir()
	writeKeys(t, dir, "MAN1")
	b, err := config.LoadBridge(writeFile(t, dir, "bridge.yaml", minimalBridge+`cameras:
  - {id: cam-front, name: front door, url: "rtsp://apedge@192.168.10.21:554/stream1", passwordFile: pw/front}
  - {id: cam-yard, url: "rtsp://cam-yard/h265", transport: tcp, watch: true, every: 10s, minFps: 10, holdFor: 0s, maxLossPct: 0}
`, 0o644))
	if err != nil {
		t.Fatal(err)
	}
	front, yard := b.Cameras[0], b.Cameras[1]
	if front.Every != 30*time.Second || front.Sample != 3*time.Second || front.Timeout != 5*time.Second || front.StallAfter != 10*time.Second ||
		front.HoldFor != 15*time.Second || *front.MaxLossPct != 5 || front.Transport != "auto" || front.PasswordFile != filepath.Join(dir, "pw", "front") {
		t.Errorf("cameras[0] defaults: %+v", front)
	}
	if yard.Transport != "tcp" || !yard.Watch || yard.Every != 10*time.Second || yard.MinFPS != 10 || yard.HoldFor != 15*time.Second || *yard.MaxLossPct != 0 {
		t.Errorf("cameras[1]: %+v", yard)
	}
	if cc := b.CameraChecks; cc.Concurrency != 8 || cc.FFmpeg != "ffmpeg" || cc.PictureEvery != 5*time.Minute {
		t.Errorf("cameraChecks defaults: %+v", cc)
	}
}

func TestLoadBridgeCamerasInvalid(t *testing.T) {
	dir := t.TempDir()
	writeKeys(t, dir, "MAN1")
	for _, c := range []struct {
		name, yaml string
		fields     []string
	}{
		{"no url", "cameras: [{id: c1}]\n", []string{"cameras[0].url"}},
		{"http", "cameras: [{id: c1, url: \"http://cam/x\"}]\n", []string{"cameras[0].url"}},
		{"no host", "cameras: [{id: c1, url: \"rtsp:///x\"}]\n", []string{"cameras[0].url"}},
		{"bad id", "cameras: [{id: \"c 1\", url: \"rtsp://cam/x\"}]\n", []string{"cameras[0].id"}},
		{"id twice", "cameras: [{id: c1, url: \"rtsp://a/x\"}, {id: c1, url: \"rtsp://b/x\"}]\n", []string{"cameras[1].id"}},
		{"transport", "cameras: [{id: c1, url: \"rtsp://cam/x\", transport: quic}]\n", []string{"cameras[0].transport"}},
		{"every", "cameras: [{id: c1, url: \"rtsp://cam/x\", every: 1s, stallAfter: 1s}]\n", []string{"cameras[0].every"}},
		{"stall longer than every", "cameras: [{id: c1, url: \"rtsp://cam/x\", every: 10s, stallAfter: 20s}]\n", []string{"cameras[0].stallAfter"}},
		{"loss", "cameras: [{id: c1, url: \"rtsp://cam/x\", maxLossPct: 101}]\n", []string{"cameras[0].maxLossPct"}},
		{"simulated without simulate", "cameras: [{id: c1, url: simulated}]\n", []string{"cameras[0].url"}},
		{"sim on a real camera", "cameras: [{id: c1, url: \"rtsp://cam/x\", sim: {codec: h265}}]\n", []string{"cameras[0].sim"}},
		{"concurrency", "cameraChecks: {concurrency: 1000}\n", []string{"cameraChecks.concurrency"}},
		{"pictureEvery", "cameraChecks: {pictureEvery: 1s}\n", []string{"cameraChecks.pictureEvery"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := config.LoadBridge(writeFile(t, dir, "bridge.yaml", minimalBridge+c.yaml, 0o644))
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a config error", err)
			}
			var got []string
			for _, p := range ce.Problems {
				got = append(got, p.Field)
			}
			for _, f := range c.fields {
				if !slices.Contains(got, f) {
					t.Errorf("problems %v, want %s", got, f)
				}
			}
		})
	}
	// A password in a URL that does not parse is not repeated in the error.
	_, err := config.LoadBridge(writeFile(t, dir, "bridge.yaml", minimalBridge+"cameras: [{id: c1, url: \"rtsp://u:s3cret@[::1\"}]\n", 0o644))
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("err = %v", err)
	}
}
