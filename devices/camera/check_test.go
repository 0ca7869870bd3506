package camera

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/devices/rtsp"
	"github.com/apedge/apedge/devices/rtsp/rtsptest"
	"github.com/apedge/apedge/internal/clock"
	"github.com/apedge/apedge/internal/testlog"
)

func testClock() clock.Clock { return rtsptest.Clock() }

// startSim starts a simulated camera on clock clk with options o.
func startSim(t *testing.T, clk clock.Clock, o rtsp.SimOptions) (*rtsp.SimCamera, string) {
	t.Helper()
	o.Clock = clk
	return rtsptest.Start(t, o)
}

var testLimits = Limits{StallAfter: 2 * time.Second, MinFPS: 8, MinBitrateKbps: 20, MinWidth: 320, MinHeight: 240, MaxLossPct: 5}

// TestCheckVerdicts checks each fault of the simulator reaches its verdict in one
// check, within the check's configured time.
func TestCheckVerdicts(t *testing.T) {
	for _, c := range []struct {
		name      string
		sim       rtsp.SimOptions
		target    Target // URL filled in; zero Sample, Timeout, StallAfter take the defaults below
		verdict   string
		reason    string
		transport string
	}{
		{name: "h264 over tcp", target: Target{Transport: rtsp.TransportTCP}, verdict: Online, transport: "tcp"},
		{name: "h265 over udp", sim: rtsp.SimOptions{Codec: "h265"}, target: Target{Transport: rtsp.TransportUDP}, verdict: Online, transport: "udp"},
		{name: "auto takes udp", target: Target{Transport: rtsp.TransportAuto}, verdict: Online, transport: "udp"},
		{name: "auto falls back to tcp on 461", sim: rtsp.SimOptions{Faults: rtsp.Faults{TCPOnly: true}}, target: Target{Transport: rtsp.TransportAuto}, verdict: Online, transport: "tcp"},
		{name: "udp only camera", sim: rtsp.SimOptions{Faults: rtsp.Faults{UDPOnly: true}}, target: Target{Transport: rtsp.TransportAuto}, verdict: Online, transport: "udp"},
		{name: "tcp asked of a udp-only camera", sim: rtsp.SimOptions{Faults: rtsp.Faults{UDPOnly: true}}, target: Target{Transport: rtsp.TransportTCP}, verdict: Offline, reason: "461"},
		{name: "digest md5", sim: rtsp.SimOptions{Auth: "digest", User: "admin", Password: "p@ss:w/rd"},
			target: Target{Transport: rtsp.TransportTCP, Credentials: &rtsp.Credentials{User: "admin", Password: "p@ss:w/rd"}}, verdict: Online},
		{name: "digest sha-256", sim: rtsp.SimOptions{Auth: "digest-sha256", User: "admin", Password: "pw"},
			target: Target{Transport: rtsp.TransportTCP, Credentials: &rtsp.Credentials{User: "admin", Password: "pw"}}, verdict: Online},
		{name: "digest without qop", sim: rtsp.SimOptions{Auth: "digest-nocqop", User: "admin", Password: "pw"},
			target: Target{Transport: rtsp.TransportTCP, Credentials: &rtsp.Credentials{User: "admin", Password: "pw"}}, verdict: Online},
		{name: "basic", sim: rtsp.SimOptions{Auth: "basic", User: "admin", Password: "pw"},
			target: Target{Transport: rtsp.TransportTCP, Credentials: &rtsp.Credentials{User: "admin", Password: "pw"}}, verdict: Online},
		{name: "digest only", sim: rtsp.SimOptions{Auth: "basic", User: "admin", Password: "pw", Faults: rtsp.Faults{DigestOnly: true}},
			target: Target{Transport: rtsp.TransportTCP, Credentials: &rtsp.Credentials{User: "admin", Password: "pw"}}, verdict: Online},
		{name: "wrong password", sim: rtsp.SimOptions{Auth: "digest", User: "admin", Password: "right"},
			target: Target{Transport: rtsp.TransportTCP, Credentials: &rtsp.Credentials{User: "admin", Password: "wrong"}}, verdict: AuthFailed, reason: "refused the configured user and password"},
		{name: "password changed on the camera", sim: rtsp.SimOptions{Auth: "digest", User: "admin", Password: "pw", Faults: rtsp.Faults{WrongPassword: true}},
			target: Target{Transport: rtsp.TransportTCP, Credentials: &rtsp.Credentials{User: "admin", Password: "pw"}}, verdict: AuthFailed},
		{name: "no password configured", sim: rtsp.SimOptions{Auth: "digest", User: "admin", Password: "pw"},
			target: Target{Transport: rtsp.TransportTCP}, verdict: AuthFailed, reason: "none is configured"},
		{name: "switched off", sim: rtsp.SimOptions{Faults: rtsp.Faults{Off: true}}, verdict: Offline, reason: "connection refused"},
		{name: "stalls", sim: rtsp.SimOptions{Faults: rtsp.Faults{StallAfter: 300 * time.Millisecond}}, target: Target{Transport: rtsp.TransportTCP}, verdict: Stalled, reason: "no media for the last"},
		{name: "stalled from the start", sim: rtsp.SimOptions{Faults: rtsp.Faults{StallAfter: time.Millisecond}}, target: Target{Transport: rtsp.TransportTCP}, verdict: Stalled, reason: "no media for the last"},
		{name: "frozen timestamps", sim: rtsp.SimOptions{Faults: rtsp.Faults{FrozenTimestamps: true}}, target: Target{Transport: rtsp.TransportTCP}, verdict: Stalled, reason: "timestamps have not moved"},
		{name: "low fps", sim: rtsp.SimOptions{Faults: rtsp.Faults{FPS: 2}}, target: Target{Transport: rtsp.TransportTCP}, verdict: Degraded, reason: "fps (at least 8)"},
		{name: "packet loss", sim: rtsp.SimOptions{Seed: 7, Faults: rtsp.Faults{LossPct: 20}}, target: Target{Transport: rtsp.TransportUDP}, verdict: Degraded, reason: "of packets lost"},
		{name: "slow describe", sim: rtsp.SimOptions{Faults: rtsp.Faults{SlowDescribe: 3 * time.Second}}, target: Target{Timeout: 500 * time.Millisecond}, verdict: Offline, reason: "DESCRIBE: no answer within 500ms"},
		{name: "abrupt close", sim: rtsp.SimOptions{Faults: rtsp.Faults{CloseAfter: 300 * time.Millisecond}}, target: Target{Transport: rtsp.TransportTCP}, verdict: Offline, reason: "reset the connection"},
		{name: "garbage between frames", sim: rtsp.SimOptions{Faults: rtsp.Faults{Garbage: true}}, target: Target{Transport: rtsp.TransportTCP, Sample: 2500 * time.Millisecond}, verdict: Online},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			clk := testClock()
			_, u := startSim(t, clk, c.sim)
			tg := c.target
			tg.URL = u
			if tg.Sample == 0 {
				tg.Sample = 1500 * time.Millisecond
			}
			if tg.Timeout == 0 {
				tg.Timeout = 2 * time.Second
			}
			tg.StallAfter = testLimits.StallAfter
			start := time.Now()
			r := Check(context.Background(), tg, clk, testlog.New(t))
			took := time.Since(start)
			v, reason := Judge(r, testLimits)
			if v != c.verdict || !strings.Contains(reason, c.reason) {
				t.Fatalf("verdict %s %q (stage %s, %+v), want %s with %q", v, reason, r.Stage, r.Stats, c.verdict, c.reason)
			}
			if c.transport != "" && r.Transport != c.transport {
				t.Errorf("transport %s, want %s", r.Transport, c.transport)
			}
			// Each verdict within the time the camera's configuration gives it: the
			// sample or the stall time, and the steps' timeouts.
			if limit := tg.Sample + tg.StallAfter + 3*tg.Timeout; took > limit {
				t.Errorf("the check took %s, more than its %s", took, limit)
			}
			if v != Online {
				return
			}
			want := map[string][2]int{"h264": {640, 480}, "h265": {640, 480}}[c.sim.Codec+map[bool]string{true: "h264"}[c.sim.Codec == ""]]
			f := r.Stats
			if f.Width != want[0] || f.Height != want[1] || math.Abs(f.FPS-10) > 0.5 || f.BitrateKbps <= 0 || f.Keyframes == 0 {
				t.Errorf("figures %+v, want %dx%d at 10 fps with keyframes", f, want[0], want[1])
			}
			if len(r.Keyframe) == 0 {
				t.Error("no keyframe kept for a thumbnail")
			}
		})
	}
}

// TestWatchKeepsAlive checks a watched session outlives the camera's session timeout:
// keep-alives (GET_PARAMETER, which the camera lists) and receiver reports go out
// within it.
func TestWatchKeepsAlive(t *testing.T) {
	for _, tr := range []rtsp.Transport{rtsp.TransportTCP, rtsp.TransportUDP} {
		t.Run(string(tr), func(t *testing.T) {
			t.Parallel()
			clk := testClock()
			cam, u := startSim(t, clk, rtsp.SimOptions{SessionTimeout: 2 * time.Second})
			w := OpenWatch(context.Background(), Target{URL: u, Transport: tr, Timeout: 2 * time.Second, Sample: time.Second, StallAfter: 2 * time.Second}, clk, testlog.New(t))
			defer w.Close(context.Background())
			for i := range 5 { // 5 s: more than twice the session timeout
				r := w.Sample(context.Background())
				if v, reason := Judge(r, testLimits); v != Online {
					t.Fatalf("sample %d: %s %s", i, v, reason)
				}
			}
			c := cam.Counters()
			if c.TimedOut != 0 || c.KeepAlives < 2 || c.ReceiverReports < 1 || c.Sessions != 1 {
				t.Errorf("counters %+v: want one session, not timed out, kept alive, with receiver reports", c)
			}
		})
	}
}

// TestCheckTearsDown checks a short check ends its session with TEARDOWN.
func TestCheckTearsDown(t *testing.T) {
	clk := testClock()
	cam, u := startSim(t, clk, rtsp.SimOptions{})
	for range 2 {
		Check(context.Background(), Target{URL: u, Transport: rtsp.TransportTCP, Timeout: time.Second, Sample: 500 * time.Millisecond, StallAfter: time.Second}, clk, testlog.New(t))
	}
	if c := cam.Counters(); c.Teardowns != 2 || c.Sessions != 2 {
		t.Errorf("counters %+v: want two sessions, each torn down", c)
	}
}

// TestCredentialsNeverShown checks neither a wrong password nor one in the URL
// appears in the result's error, reason or the report.
func TestCredentialsNeverShown(t *testing.T) {
	clk := testClock()
	_, u := startSim(t, clk, rtsp.SimOptions{Auth: "digest", User: "admin", Password: "right-one"})
	withPw := strings.Replace(u, "rtsp://", "rtsp://admin:s3cr%3At@", 1)
	rp := Probe(context.Background(), Target{URL: withPw, Transport: rtsp.TransportTCP, Timeout: time.Second, Sample: 500 * time.Millisecond, StallAfter: time.Second},
		testLimits, clk, testlog.New(t))
	var text strings.Builder
	rp.WriteText(&text)
	for _, s := range []string{rp.Reason, rp.URL, text.String()} {
		if strings.Contains(s, "s3cr") {
			t.Errorf("the password shows: %s", s)
		}
	}
	if rp.Verdict != AuthFailed {
		t.Errorf("verdict %s, want auth-failed", rp.Verdict)
	}
}
