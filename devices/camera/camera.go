// Package camera is the device class of CCTV cameras: the bridge checks each camera
// of the configuration's cameras section over RTSP (package devices/rtsp), judges its
// health and reports it on the site bus as a device of class "camera": a retained
// status (the verdict and the figures behind it), an event each time a verdict has
// held long enough to report, and, where ffmpeg is installed, a thumbnail every few
// minutes, judged for a black, covered or frozen picture.
//
// # Checks
//
// By default each camera is checked every 30 s with a short session: connect,
// OPTIONS, DESCRIBE, SETUP, PLAY, a few seconds of media, TEARDOWN. A camera set to
// watch keeps one session and is judged every sample instead. At most
// cameraChecks.concurrency short checks run at once; every step of a session has a
// deadline, and the whole check has one, so that a slow or hung camera holds only its
// own slot and never delays the others past that.
//
// # Verdicts
//
// online; offline (connect, DESCRIBE or SETUP failed, with the reason); auth-failed;
// stalled (the session is up but no media comes, or the RTP timestamps do not move,
// for stallAfter); degraded (fps, bitrate or size under its minimum, loss over its
// maximum); frozen (the thumbnail is black, almost uniform, or the same as the last
// one). A verdict different from the reported one is reported only once it has held
// for holdFor, confirmed by a check holdFor after it was first seen; a camera that
// flaps faster is counted in the status's repeats and never floods the journal.
//
// # Credentials
//
// A camera's password comes from its passwordFile (mode 0600) or its URL; it goes
// only to the camera, as Digest (or, where the camera offers nothing else, Basic)
// authentication. No state, event, log line or error holds it: URLs are shown
// redacted, and thumbnails are made from keyframes the check already has, so ffmpeg
// never connects to the camera and no password is on its command line.
//
// # Simulation
//
// In a simulated site, a camera whose url is "simulated" is an RTSP camera simulator
// (rtsp.SimCamera) on the loopback interface, added to Env.Sims under the camera's
// Ref so that tests can set its faults. Its sim section picks the codec, the picture
// and whether it fails now and then.
package camera

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/apedge/apedge/devices/device"
	"github.com/apedge/apedge/devices/rtsp"
	"github.com/apedge/apedge/internal/clock"
	"github.com/apedge/apedge/internal/config"
	"github.com/apedge/apedge/internal/secret"
)

// Class is the site-bus class of cameras; StatusKind the kind of a camera's retained
// state (data Status); ThumbnailKind the kind of the event carrying its thumbnail
// (data ThumbnailData). The events of verdicts have the verdict as their kind (data
// Event).
const (
	ClassName     = "camera"
	StatusKind    = "status"
	ThumbnailKind = "thumbnail"
)

// Status is a camera's retained state, as sitebus.CameraStatus (a test in
// firmware-bridge checks they encode alike).
type Status struct {
	Name              string        `json:"name,omitempty"`
	Verdict           string        `json:"verdict"`
	Reason            string        `json:"reason,omitempty"`
	Since             time.Time     `json:"since,omitzero"`
	Seen              string        `json:"seen,omitempty"`
	Repeats           int           `json:"repeats,omitempty"`
	CheckedAt         time.Time     `json:"checkedAt,omitzero"`
	Transport         string        `json:"transport,omitempty"`
	Codec             string        `json:"codec,omitempty"`
	Profile           string        `json:"profile,omitempty"`
	Level             string        `json:"level,omitempty"`
	Width             int           `json:"width,omitempty"`
	Height            int           `json:"height,omitempty"`
	FPS               float64       `json:"fps,omitempty"`
	BitrateKbps       float64       `json:"bitrateKbps,omitempty"`
	LossPct           float64       `json:"lossPct"`
	KeyframeIntervalS float64       `json:"keyframeIntervalS,omitempty"`
	FirstFrameMs      int64         `json:"firstFrameMs,omitempty"`
	LastKeyframe      time.Time     `json:"lastKeyframe,omitzero"`
	Picture           StatusPicture `json:"picture"`
	Simulated         bool          `json:"simulated,omitempty"`
}

// StatusPicture is the verdict on the latest thumbnail, as sitebus.CameraPicture.
type StatusPicture struct {
	State  string    `json:"state"`
	Why    string    `json:"why,omitempty"`
	At     time.Time `json:"at,omitzero"`
	Mean   float64   `json:"mean,omitempty"`
	Spread float64   `json:"spread,omitempty"`
	Change float64   `json:"change,omitempty"`
}

// ThumbnailData is a thumbnail event's data, as sitebus.CameraThumbnail.
type ThumbnailData struct {
	At   time.Time `json:"at"`
	JPEG []byte    `json:"jpeg"`
}

// Event is a verdict event's data, as sitebus.CameraEvent.
type Event struct {
	Previous    string    `json:"previous"`
	Reason      string    `json:"reason,omitempty"`
	Since       time.Time `json:"since"`
	Repeats     int       `json:"repeats,omitempty"`
	Codec       string    `json:"codec,omitempty"`
	Width       int       `json:"width,omitempty"`
	Height      int       `json:"height,omitempty"`
	FPS         float64   `json:"fps,omitempty"`
	BitrateKbps float64   `json:"bitrateKbps,omitempty"`
	LossPct     float64   `json:"lossPct"`
}

// Class is the class of RTSP cameras. Its zero value is ready to use.
type Class struct{}

// Name returns "rtsp-camera".
func (Class) Name() string { return "rtsp-camera" }

// Open reads the cameras of env.Config (their password files, and in a simulated
// site their simulators), or returns nil if it lists none.
func (Class) Open(ctx context.Context, env device.Env) (device.Driver, error) {
	cfg := env.Config
	if len(cfg.Cameras) == 0 {
		return nil, nil
	}
	d := &driver{env: env, thumbs: NewThumbnailer(cfg.CameraChecks.FFmpeg),
		sem: make(chan struct{}, cfg.CameraChecks.Concurrency)}
	for _, cc := range cfg.Cameras {
		c := &cam{cfg: cc, ref: device.Ref{Class: ClassName, ID: cc.ID}, env: env, drv: d,
			rep:    newReporter(cc.HoldFor),
			log:    env.Log.With("camera", cc.ID),
			target: Target{URL: cc.URL, Transport: rtsp.Transport(cc.Transport), Timeout: cc.Timeout, Sample: cc.Sample, StallAfter: cc.StallAfter},
			limits: Limits{StallAfter: cc.StallAfter, MinFPS: cc.MinFPS, MinBitrateKbps: cc.MinBitrateKbps,
				MinWidth: cc.MinWidth, MinHeight: cc.MinHeight, MaxLossPct: *cc.MaxLossPct}}
		if cc.PasswordFile != "" {
			pw, err := secret.Read(cc.PasswordFile)
			if err != nil {
				// One camera's password file keeps no door from working: the camera
				// is auth-failed, saying why, until the file is fixed and the bridge
				// restarted.
				c.credErr = fmt.Errorf("its password file cannot be used: %w", err)
				c.log.Error("camera password file", "err", err)
			}
			c.target.Credentials = &rtsp.Credentials{User: cc.User, Password: pw}
		} else if cc.User != "" {
			c.target.Credentials = &rtsp.Credentials{User: cc.User}
		}
		if cc.URL == config.SimulatedCamera {
			if env.Sims == nil {
				return nil, fmt.Errorf("camera: %s: url simulated, but the site is not", cc.ID)
			}
			sim, err := newSim(cc, env)
			if err != nil {
				return nil, err
			}
			c.sim = sim
			env.Sims.Add(c.ref, sim.cam)
			if s := cc.Sim; s != nil && s.Password != "" && (c.target.Credentials == nil || c.target.Credentials.Password == "") {
				c.target.Credentials = &rtsp.Credentials{User: sim.user, Password: s.Password}
			}
		}
		c.status.Store(Status{Name: cc.Name, Verdict: Unknown, Picture: StatusPicture{State: PictureNone, Why: "not checked yet"},
			Simulated: c.sim != nil})
		d.cams = append(d.cams, c)
	}
	return d, nil
}

// driver runs the cameras Open opened.
type driver struct {
	env    device.Env
	thumbs *Thumbnailer
	sem    chan struct{}
	cams   []*cam
}

// Devices returns the cameras.
func (d *driver) Devices() []device.Device {
	out := make([]device.Device, len(d.cams))
	for i, c := range d.cams {
		out[i] = c
	}
	return out
}

// Run checks every camera until ctx ends (and runs the simulated ones), then stops
// the simulators.
func (d *driver) Run(ctx context.Context) error {
	if ctx.Err() != nil {
		return nil
	}
	var wg sync.WaitGroup
	for _, c := range d.cams {
		if c.sim != nil {
			u, err := c.sim.start(ctx, &wg)
			if err != nil {
				c.log.Error("camera simulator did not start", "err", err)
				continue
			}
			c.target.URL = u
		}
	}
	// The first checks are spread over a few seconds, so that the cameras are known
	// soon after a start; the slots (concurrency) spread them further, and each
	// camera's later checks follow every `every` from its own.
	spread := min(shortestEvery(d.cams), 5*time.Second)
	for i, c := range d.cams {
		wg.Go(func() { c.run(ctx, time.Duration(i)*spread/time.Duration(len(d.cams))) })
	}
	wg.Wait()
	return nil
}

// shortestEvery is the shortest time between checks of cams.
func shortestEvery(cams []*cam) time.Duration {
	e := time.Hour
	for _, c := range cams {
		e = min(e, c.cfg.Every)
	}
	return e
}

// cam is one camera.
type cam struct {
	cfg    config.Camera
	ref    device.Ref
	env    device.Env
	drv    *driver
	log    *slog.Logger
	target Target
	limits Limits
	// credErr says why the camera's credentials cannot be had: every check is then
	// auth-failed with it.
	credErr error
	rep     *reporter
	sim     *simCam
	status  atomicStatus

	// Thumbnails: the latest, when the next is due, and the verdict on it.
	thumb     *Thumbnail
	thumbDue  time.Time
	picture   Picture
	havePic   bool
	same      int // thumbnails in a row the same as the one before
	lastFail  string
	lastFails int
}

// Ref names the camera.
func (c *cam) Ref() device.Ref { return c.ref }

// Command: a camera takes none.
func (c *cam) Command(ctx context.Context, cmd device.Command) error {
	return device.Unsupported(c.ref, cmd.Action)
}

// Health says how the camera is, by its reported verdict.
func (c *cam) Health() device.Health {
	st := c.status.Load()
	switch st.Verdict {
	case Online:
		return device.Health{Status: device.HealthOK}
	case Degraded, Frozen:
		return device.Health{Status: device.HealthDegraded, Detail: st.Verdict + ": " + st.Reason}
	case Unknown:
		// Not known bad: the first check is on its way (spread over the first
		// seconds), and a warning for each camera at every start would cry wolf.
		return device.Health{Status: device.HealthOK, Detail: "not checked yet"}
	}
	return device.Health{Status: device.HealthDown, Detail: st.Verdict + ": " + st.Reason}
}

// run checks the camera, the first time after offset, until ctx ends.
func (c *cam) run(ctx context.Context, offset time.Duration) {
	if c.cfg.Watch {
		c.watch(ctx)
		return
	}
	t := time.NewTimer(offset)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		select {
		case c.drv.sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		var r *Result
		if c.credErr != nil {
			r = &Result{Stage: StageAuth, Err: c.credErr}
		} else {
			cctx, cancel := context.WithTimeout(ctx, c.budget())
			r = Check(cctx, c.target, clock.System(), c.log)
			cancel()
		}
		<-c.drv.sem
		if ctx.Err() != nil {
			return
		}
		c.judge(ctx, r)
		next := c.cfg.Every
		if at, ok := c.rep.pending(); ok {
			// Confirm a change as soon as it could be reported.
			next = min(next, max(at.Sub(c.env.Clock.Now()), time.Second))
		}
		t.Reset(next)
	}
}

// budget bounds a whole check.
func (c *cam) budget() time.Duration { return Budget(c.target) }

// watch keeps a session with the camera and judges each sample of it, opening a new
// one after a failure.
func (c *cam) watch(ctx context.Context) {
	for ctx.Err() == nil {
		w := OpenWatch(ctx, c.target, clock.System(), c.log)
		for ctx.Err() == nil {
			r := w.Sample(ctx)
			if ctx.Err() != nil {
				break
			}
			c.judge(ctx, r)
			if r.Err != nil {
				break
			}
		}
		w.Close(ctx)
		select {
		case <-ctx.Done():
		case <-time.After(min(c.cfg.Every, 5*time.Second)):
		}
	}
}

// judge takes a check's result: a thumbnail when one is due, the verdict through the
// hysteresis, the status, and the event of a change that has held.
func (c *cam) judge(ctx context.Context, r *Result) {
	now := c.env.Clock.Now()
	c.takePicture(ctx, r, now)
	r.Picture = c.picture
	v, reason := Judge(r, c.limits)
	if r.Err != nil && reason != c.lastFail {
		c.lastFail = reason
		c.log.Info("camera check failed", "stage", r.Stage, "verdict", v, "reason", reason)
	}
	ch := c.rep.observe(v, reason, now)
	st := c.status.Load()
	st.Verdict, st.Reason, st.Since = c.rep.reported, c.rep.reason, c.rep.reportedSince
	st.Seen, st.Repeats, st.CheckedAt = c.rep.seen, c.rep.repeats(now), now
	st.Transport = r.Transport
	if r.Stage == StageMedia && r.Stats.Packets > 0 {
		f := r.Stats
		st.Codec, st.Profile, st.Level, st.Width, st.Height = f.Codec, f.Profile, f.Level, f.Width, f.Height
		st.FPS, st.BitrateKbps, st.LossPct = round(f.FPS, 2), round(f.BitrateKbps, 1), round(f.LossPct, 2)
		st.KeyframeIntervalS = round(f.KeyframeInterval.Seconds(), 2)
		st.FirstFrameMs = f.FirstFrame.Milliseconds()
		if !f.LastKeyframe.IsZero() {
			st.LastKeyframe = f.LastKeyframe.UTC()
		}
	} else {
		st.FPS, st.BitrateKbps, st.LossPct, st.FirstFrameMs = 0, 0, 0, 0
	}
	p := c.picture
	st.Picture = StatusPicture{State: p.State, Why: p.Why, At: p.At, Mean: round(p.Mean, 1), Spread: round(p.Spread, 1), Change: round(p.Change, 2)}
	c.status.Store(st)
	c.env.Sink.State(c.ref, StatusKind, st, now)
	if ch == nil || ch.previous == Unknown && ch.verdict == Online {
		return // a camera found well at start is its status, not an event
	}
	c.log.Info("camera verdict", "verdict", ch.verdict, "previous", ch.previous, "reason", ch.reason)
	c.env.Sink.Event(c.ref, ch.verdict, Event{Previous: ch.previous, Reason: ch.reason, Since: ch.since.UTC(), Repeats: st.Repeats,
		Codec: st.Codec, Width: st.Width, Height: st.Height, FPS: st.FPS, BitrateKbps: st.BitrateKbps, LossPct: st.LossPct}, now)
}

// takePicture makes a thumbnail of r's keyframe when one is due and judges it.
func (c *cam) takePicture(ctx context.Context, r *Result, now time.Time) {
	th := c.drv.thumbs
	if r.Err != nil || r.Stats.Packets == 0 {
		// After a failure the picture is judged again at the first good check: a
		// camera back from offline is not left frozen by an old picture.
		c.thumbDue, c.same = time.Time{}, 0
		if c.picture.State != PictureNone {
			c.picture.State = PictureOK
		}
	}
	switch {
	case th.FFmpeg == "":
		c.picture = Picture{State: PictureNone, Why: th.Missing}
		return
	case r.Keyframe == nil:
		if !c.havePic {
			c.picture = Picture{State: PictureNone, Why: "no keyframe has come yet to make a picture of"}
		}
		return
	case c.havePic && now.Before(c.thumbDue):
		return
	}
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	t, err := th.Make(tctx, r.Stats.Codec, r.Keyframe, now)
	if err != nil {
		c.log.Warn("no thumbnail", "err", err)
		if !c.havePic {
			c.picture = Picture{State: PictureNone, Why: "ffmpeg could not decode the keyframe"}
		}
		c.thumbDue = now.Add(c.env.Config.CameraChecks.PictureEvery)
		return
	}
	p := JudgePicture(t, c.thumb)
	// The same picture twice could be a still scene between two grabs (a night
	// corridor, a camera without its clock overlay): frozen is the same picture three
	// times in a row.
	if p.State == PictureFrozen {
		if c.same++; c.same < 2 {
			p.State = PictureOK
		}
	} else {
		c.same = 0
	}
	c.picture = p
	c.thumb, c.havePic = t, true
	c.thumbDue = now.Add(c.env.Config.CameraChecks.PictureEvery)
	if len(t.JPEG) <= maxThumbnail {
		c.env.Sink.Event(c.ref, ThumbnailKind, ThumbnailData{At: now.UTC(), JPEG: t.JPEG}, now)
	}
}

// maxThumbnail is sitebus.MaxThumbnail.
const maxThumbnail = 40 << 10

func round(f float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(f*p) / p
}

// atomicStatus holds a camera's status for Health and judge.
type atomicStatus struct {
	mu sync.Mutex
	st Status
}

func (a *atomicStatus) Load() Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.st
}

func (a *atomicStatus) Store(st Status) {
	a.mu.Lock()
	a.st = st
	a.mu.Unlock()
}
