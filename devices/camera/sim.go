package camera

import (
	"context"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/apedge/apedge/devices/device"
	"github.com/apedge/apedge/devices/rtsp"
	"github.com/apedge/apedge/internal/config"
)

// simCam is a simulated camera: an RTSP camera simulator on the loopback interface,
// failing now and then when it is flaky.
type simCam struct {
	cam   *rtsp.SimCamera
	flaky bool
	user  string // the user it asks for, if it asks for a password
}

// flakyEvery is the cycle of a flaky simulated camera: it works for most of each
// cycle and fails for flakyFor at its end, a different way each time.
const (
	flakyEvery = 4 * time.Minute
	flakyFor   = time.Minute
)

// newSim makes the simulator of camera cc from its sim section.
func newSim(cc config.Camera, env device.Env) (*simCam, error) {
	sc := config.CameraSim{}
	if cc.Sim != nil {
		sc = *cc.Sim
	}
	codec := sc.Codec
	if codec == "" {
		codec = "h264"
	}
	name := rtsp.FixtureH264
	switch {
	case sc.Picture == "black":
		codec, name = "h264", rtsp.FixtureH264Black
	case sc.Picture == "covered":
		codec, name = "h264", rtsp.FixtureH264Covered
	case codec == "h265":
		name = rtsp.FixtureH265
	}
	fixture, err := rtsp.Fixture(name)
	if err != nil {
		return nil, fmt.Errorf("camera: %s: %w", cc.ID, err)
	}
	h := fnv.New64a()
	h.Write([]byte(cc.ID))
	// The simulator runs on real time (its clock left nil), as a camera does: the
	// site's clock runs fast in a demo at -speed, and media and session timeouts are
	// durations, not times of day.
	o := rtsp.SimOptions{Codec: codec, Fixture: fixture, FPS: 10, Path: "/" + cc.ID,
		Log: env.Log.With("sim-camera", cc.ID), Seed: int64(h.Sum64() >> 1)}
	if sc.Password != "" {
		o.Auth, o.User, o.Password = "digest", cc.User, sc.Password
		if o.User == "" {
			o.User = "admin"
		}
	}
	cam, err := rtsp.NewSimCamera(o)
	if err != nil {
		return nil, fmt.Errorf("camera: %s: %w", cc.ID, err)
	}
	return &simCam{cam: cam, flaky: sc.Flaky, user: o.User}, nil
}

// start serves the simulator on a free loopback port until ctx ends and returns its
// URL; a flaky one starts failing now and then.
func (s *simCam) start(ctx context.Context, wg *sync.WaitGroup) (string, error) {
	u, err := s.cam.Start(ctx, "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	if s.flaky {
		wg.Go(func() { s.flap(ctx) })
	}
	return u, nil
}

// flap fails the simulator for flakyFor at the end of every flakyEvery: switched
// off, then stalled, then dropping a fifth of its packets, in turn.
func (s *simCam) flap(ctx context.Context) {
	faults := []rtsp.Faults{{Off: true}, {StallAfter: time.Millisecond}, {LossPct: 20}}
	for i := 0; ; i++ {
		for _, step := range []struct {
			wait time.Duration
			f    rtsp.Faults
		}{{flakyEvery - flakyFor, faults[i%len(faults)]}, {flakyFor, rtsp.Faults{}}} {
			select {
			case <-ctx.Done():
				return
			case <-time.After(step.wait):
			}
			s.cam.Set(step.f)
		}
	}
}
