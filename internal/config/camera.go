package config

import (
	"fmt"
	"net/url"
	"time"
)

// SimulatedCamera is the URL of a camera that, in a simulated site, is an RTSP camera
// simulator on the loopback interface.
const SimulatedCamera = "simulated"

// Camera is one CCTV camera the bridge checks over RTSP.
type Camera struct {
	// ID names the camera on the site bus (class camera).
	ID string `yaml:"id"`
	// Name says where it looks, for people ("front door, outside").
	Name string `yaml:"name,omitempty"`
	// URL is its stream, rtsp://host[:port]/path, or "simulated" in a simulated site.
	// A user may be in it; a password in it works but is better in PasswordFile,
	// since a URL ends up in places a file does not.
	URL string `yaml:"url"`
	// User is the RTSP user, when not in the URL.
	User string `yaml:"user,omitempty"`
	// PasswordFile holds the RTSP password (mode 0600); it wins over one in the URL.
	PasswordFile string `yaml:"passwordFile,omitempty"`
	// Transport is how media comes: auto (UDP, then interleaved TCP on 461 or on
	// silence), tcp or udp. Default auto.
	Transport string `yaml:"transport,omitempty"`
	// Every is the time between checks (default 30s); each is a short session:
	// connect, read enough media to judge, TEARDOWN.
	Every time.Duration `yaml:"every,omitempty"`
	// Watch keeps one session open and judges continuously instead.
	Watch bool `yaml:"watch,omitempty"`
	// Sample is how much media a check reads (default 3s).
	Sample time.Duration `yaml:"sample,omitempty"`
	// Timeout bounds each step of a session (connect, each request; default 5s).
	Timeout time.Duration `yaml:"timeout,omitempty"`
	// StallAfter is how long a session may go without media, or with frozen RTP
	// timestamps, before the camera is stalled (default 10s). A check reads at least
	// this long before it says stalled.
	StallAfter time.Duration `yaml:"stallAfter,omitempty"`
	// HoldFor is how long a new state must hold before it is reported (default 15s):
	// a camera that flaps faster is counted, not reported each time. A state that
	// differs from the reported one is confirmed by a check HoldFor later.
	HoldFor time.Duration `yaml:"holdFor,omitempty"`
	// Minimums below which, and the loss above which, the camera is degraded; zero
	// minimums are not checked. MaxLossPct defaults to 5 (0 is no loss at all).
	MinFPS         float64  `yaml:"minFps,omitempty"`
	MinBitrateKbps float64  `yaml:"minBitrateKbps,omitempty"`
	MinWidth       int      `yaml:"minWidth,omitempty"`
	MinHeight      int      `yaml:"minHeight,omitempty"`
	MaxLossPct     *float64 `yaml:"maxLossPct,omitempty"`
	// Sim configures the simulator of a simulated camera.
	Sim *CameraSim `yaml:"sim,omitempty"`
}

// CameraSim is how a simulated camera behaves.
type CameraSim struct {
	// Codec is h264 (default) or h265.
	Codec string `yaml:"codec,omitempty"`
	// Picture is what it sees: moving (default), black or covered.
	Picture string `yaml:"picture,omitempty"`
	// Flaky makes it fail now and then: off, stalled or dropping packets for a
	// minute in every few.
	Flaky bool `yaml:"flaky,omitempty"`
	// Password makes it ask for Digest authentication with this password (the
	// camera's PasswordFile must hold the same).
	Password string `yaml:"password,omitempty"`
}

// CameraChecks is how the bridge runs its camera checks.
type CameraChecks struct {
	// Concurrency bounds the checks running at once (default 8); one slow or hung
	// camera holds only its own slot, for at most its timeouts.
	Concurrency int `yaml:"concurrency,omitempty"`
	// FFmpeg is the ffmpeg program that makes thumbnails from keyframes (default
	// "ffmpeg" on PATH; "off": none). The checks themselves never need it.
	FFmpeg string `yaml:"ffmpeg,omitempty"`
	// PictureEvery is the time between thumbnails of one camera (default 5m).
	PictureEvery time.Duration `yaml:"pictureEvery,omitempty"`
}

// checkCameras sets the defaults of the cameras and their checks and checks them,
// resolving password files against dir.
func (b *Bridge) checkCameras(c *checker, dir string) {
	cc := &b.CameraChecks
	if cc.Concurrency == 0 {
		cc.Concurrency = 8
	}
	if cc.FFmpeg == "" {
		cc.FFmpeg = "ffmpeg"
	}
	if cc.PictureEvery == 0 {
		cc.PictureEvery = 5 * time.Minute
	}
	if cc.Concurrency < 1 || cc.Concurrency > 256 {
		c.add("cameraChecks.concurrency", fmt.Sprint(cc.Concurrency), "use 1 to 256; 8 is usual")
	}
	if cc.PictureEvery < 10*time.Second || cc.PictureEvery > 24*time.Hour {
		c.add("cameraChecks.pictureEvery", cc.PictureEvery.String(), "use 10s to 24h; 5m is usual")
	}
	ids := map[string]string{}
	for i := range b.Cameras {
		b.checkCamera(c, ids, dir, i)
	}
}

func (b *Bridge) checkCamera(c *checker, ids map[string]string, dir string, i int) {
	cam := &b.Cameras[i]
	f := fmt.Sprintf("cameras[%d]", i)
	checkDeviceID(c, ids, f+".id", cam.ID, "camera")
	defaults := []struct {
		d   *time.Duration
		def time.Duration
	}{{&cam.Every, 30 * time.Second}, {&cam.Sample, 3 * time.Second}, {&cam.Timeout, 5 * time.Second},
		{&cam.StallAfter, 10 * time.Second}, {&cam.HoldFor, 15 * time.Second}}
	for _, x := range defaults {
		if *x.d == 0 {
			*x.d = x.def
		}
	}
	if cam.MaxLossPct == nil {
		five := 5.0
		cam.MaxLossPct = &five
	}
	if cam.Transport == "" {
		cam.Transport = "auto"
	}
	cam.PasswordFile = resolve(dir, cam.PasswordFile)
	switch cam.URL {
	case "":
		c.add(f+".url", "missing", "give the camera's stream, e.g. rtsp://192.168.10.21:554/stream1")
	case SimulatedCamera:
		if b.Simulate == nil {
			c.add(f+".url", "simulated, but there is no simulate section", "add simulate: or give the camera's rtsp:// URL")
		}
		if s := cam.Sim; s != nil {
			if s.Codec != "" && s.Codec != "h264" && s.Codec != "h265" {
				c.add(f+".sim.codec", s.Codec, "use h264 or h265")
			}
			if s.Picture != "" && s.Picture != "moving" && s.Picture != "black" && s.Picture != "covered" {
				c.add(f+".sim.picture", s.Picture, "use moving, black or covered")
			}
		}
	default:
		u, err := url.Parse(cam.URL)
		switch {
		case err != nil:
			// url's error repeats the URL, and with it any password: say only what is wrong.
			c.add(f+".url", "not a URL", "write it as rtsp://host[:port]/path")
		case u.Scheme != "rtsp":
			c.add(f+".url", "scheme "+u.Scheme, "use rtsp://host[:port]/path (rtsps is not supported)")
		case u.Hostname() == "":
			c.add(f+".url", "no host", "write it as rtsp://host[:port]/path")
		}
		if cam.Sim != nil {
			c.add(f+".sim", "set on a camera that is not simulated", "remove it, or set url: simulated")
		}
	}
	switch cam.Transport {
	case "auto", "tcp", "udp":
	default:
		c.add(f+".transport", cam.Transport, "use auto, tcp or udp")
	}
	checks := []struct {
		name     string
		d        time.Duration
		min, max time.Duration
		fix      string
	}{
		{"every", cam.Every, 5 * time.Second, time.Hour, "use 5s to 1h; 30s is usual"},
		{"sample", cam.Sample, 500 * time.Millisecond, time.Minute, "use 500ms to 1m; 3s is usual"},
		{"timeout", cam.Timeout, 100 * time.Millisecond, time.Minute, "use 100ms to 1m; 5s is usual"},
		{"stallAfter", cam.StallAfter, 500 * time.Millisecond, 10 * time.Minute, "use 500ms to 10m; 10s is usual"},
		{"holdFor", cam.HoldFor, 0, time.Hour, "use 0 to 1h; 15s is usual"},
	}
	for _, x := range checks {
		if x.d < x.min || x.d > x.max {
			c.add(f+"."+x.name, x.d.String(), x.fix)
		}
	}
	if !cam.Watch && cam.StallAfter > cam.Every {
		c.add(f+".stallAfter", cam.StallAfter.String()+" is longer than every "+cam.Every.String(),
			"make the checks less frequent, or the stall shorter, or set watch: true")
	}
	if cam.MinFPS < 0 || cam.MinBitrateKbps < 0 || cam.MinWidth < 0 || cam.MinHeight < 0 {
		c.add(f, "a negative minimum", "use 0 (not checked) or more")
	}
	if l := *cam.MaxLossPct; l < 0 || l > 100 {
		c.add(f+".maxLossPct", fmt.Sprint(l), "use 0 to 100; 5 is usual")
	}
}
