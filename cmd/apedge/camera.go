package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"time"

	"github.com/apedge/apedge/cmd/apedge/internal/cli"
	"github.com/apedge/apedge/devices/camera"
	"github.com/apedge/apedge/devices/rtsp"
	"github.com/apedge/apedge/internal/secret"
)

const cameraUsage = `apedge camera probe [-for 5s] [-json] [-user NAME] [-password-file FILE] [-transport auto|tcp|udp] URL

Connects once to the RTSP camera at URL (rtsp://[user[:password]@]host[:port]/path),
reads its video for the given time and prints its codec, profile, size, frame rate,
bitrate, keyframe interval, packet loss, time to the first keyframe and the verdict
the bridge would give it. With -json it prints one JSON object instead. It exits 0
only when the verdict is online.

A password is better in a file (mode 0600, given by -password-file) than in the URL:
a URL on a command line is seen by every user of the box. No password is printed.`

// cmdCamera is apedge camera: the installer's tools for CCTV cameras.
func (s sys) cmdCamera(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "probe" {
		fmt.Fprintln(stderr, cameraUsage)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			return nil
		}
		return cli.ErrUsage
	}
	fs := cli.Flags("camera probe", cameraUsage, stderr)
	dur := fs.Duration("for", 5*time.Second, "how long to read media")
	asJSON := fs.Bool("json", false, "print one JSON object")
	user := fs.String("user", "", "the RTSP user, when not in the URL")
	pwFile := fs.String("password-file", "", "a `file` (mode 0600) holding the RTSP password")
	transport := fs.String("transport", "auto", "auto (UDP, then TCP), tcp or udp")
	timeout := fs.Duration("timeout", 5*time.Second, "the most each step (connect, each request) may take")
	minFPS := fs.Float64("min-fps", 0, "the least frame rate that is online")
	maxLoss := fs.Float64("max-loss", 5, "the most packet loss, in %, that is online")
	if err := cli.Parse(fs, args[1:], 1); err != nil {
		return err
	}
	switch *transport {
	case "auto", "tcp", "udp":
	default:
		return fmt.Errorf("-transport %q: use auto, tcp or udp", *transport)
	}
	if *dur < 500*time.Millisecond || *dur > 10*time.Minute {
		return errors.New("-for: use 500ms to 10m")
	}
	raw := fs.Arg(0)
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "rtsp" {
		return errors.New("the camera's URL must be rtsp://[user@]host[:port]/path")
	}
	t := camera.Target{URL: raw, Transport: rtsp.Transport(*transport), Timeout: *timeout, Sample: *dur, StallAfter: *dur}
	// A user or password given here wins over the URL's; what is missing comes from
	// the URL (rtsp.Dial).
	if *pwFile != "" || *user != "" {
		t.Credentials = &rtsp.Credentials{User: *user}
	}
	if *pwFile != "" {
		pw, err := secret.Read(*pwFile)
		if err != nil {
			return err
		}
		t.Credentials.Password = pw
	}
	budget := camera.Budget(t)
	pctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	rp := camera.Probe(pctx, t, camera.Limits{StallAfter: *dur, MinFPS: *minFPS, MaxLossPct: *maxLoss}, s.clock, slog.New(slog.DiscardHandler))
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(rp)
	} else {
		err = rp.WriteText(stdout)
	}
	if err != nil {
		return err
	}
	if rp.Verdict != camera.Online {
		return fmt.Errorf("the camera is %s", rp.Verdict)
	}
	return nil
}
