// Package rtsptest starts simulated RTSP cameras (rtsp.SimCamera) for tests, on the
// loopback interface, until the test ends.
package rtsptest

import (
	"context"
	"testing"
	"time"

	"github.com/apedge/apedge/devices/rtsp"
	"github.com/apedge/apedge/internal/clock"
	"github.com/apedge/apedge/internal/testlog"
)

// Clock is the tests' clock: a fixed date, running at the pace of real time, since a
// simulator's media and the sockets' deadlines run in real time.
func Clock() clock.Clock {
	c := clock.Scaled(clock.System(), time.Date(2026, 3, 14, 21, 30, 0, 0, time.UTC), 1)
	c.Run()
	return c
}

// Start starts a simulated camera with options o (H.264 unless o says otherwise; the
// clock Clock() and a log to t unless o gives its own) and returns it with its URL.
func Start(t testing.TB, o rtsp.SimOptions) (*rtsp.SimCamera, string) {
	t.Helper()
	if o.Codec == "" {
		o.Codec = "h264"
	}
	if o.Clock == nil {
		o.Clock = Clock()
	}
	if o.Log == nil {
		o.Log = testlog.New(t)
	}
	cam, err := rtsp.NewSimCamera(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	u, err := cam.Start(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return cam, u
}
