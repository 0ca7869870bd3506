package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/apedge/apedge/cmd/apedge/internal/cli"
	"github.com/apedge/apedge/devices/rtsp"
	"github.com/apedge/apedge/internal/secret"
)

const simCameraUsage = `apedge sim camera [-listen ADDR] [-n N] [-codec h264|h265] [-picture moving|black|covered]
                  [-user NAME -password-file FILE] [flags]

Runs simulated RTSP cameras (TCP and UDP), serving small H.264 or H.265 streams as
live cameras do, for the bridge, apedge camera probe, ffprobe or any RTSP client. It
prints one URL per camera, one a line, then works on commands on standard input, for
every camera unless prefixed with @N (the Nth, from 1):
  ok                 no faults
  off | on           switch off (connections refused) and on
  stall [AFTER]      stop the media AFTER PLAY (default at once); the session stays up
  frozen-ts          RTP comes with a timestamp that no longer moves
  frozen             the same picture over and over
  fps N              send only N frames a second
  loss PCT           drop PCT% of the RTP packets
  slow DURATION      answer DESCRIBE late
  close AFTER        reset the connection AFTER PLAY
  garbage            garbage and requests of the camera's own between frames
  udp-only | tcp-only  refuse the other transport with 461
  wrong-password     refuse every password
  status             print each camera's counters`

// simCamera is apedge sim camera.
func (s sys) simCamera(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.Flags("sim camera", simCameraUsage, stderr)
	listen := fs.String("listen", "127.0.0.1:0", "`address` of the first camera; port 0: any free ports, else one port each from it")
	n := fs.Int("n", 1, "how many cameras")
	codec := fs.String("codec", "h264", "h264 or h265")
	picture := fs.String("picture", "moving", "moving, black or covered (H.264)")
	user := fs.String("user", "admin", "the user the cameras accept, with -password-file")
	pwFile := fs.String("password-file", "", "a `file` (mode 0600) with the password the cameras ask for (Digest); none: no password")
	auth := fs.String("auth", "digest", "with a password: basic, digest, digest-nocqop or digest-sha256")
	if err := cli.Parse(fs, args, 0); err != nil {
		return err
	}
	if *n < 1 || *n > 512 {
		return fmt.Errorf("-n %d: use 1 to 512", *n)
	}
	name := map[string]string{"h264/moving": rtsp.FixtureH264, "h265/moving": rtsp.FixtureH265,
		"h264/black": rtsp.FixtureH264Black, "h264/covered": rtsp.FixtureH264Covered}[*codec+"/"+*picture]
	if name == "" {
		return fmt.Errorf("-codec %s -picture %s: use h264 or h265; black and covered are H.264", *codec, *picture)
	}
	fixture, err := rtsp.Fixture(name)
	if err != nil {
		return err
	}
	o := rtsp.SimOptions{Codec: *codec, Fixture: fixture, Clock: s.clock}
	if *pwFile != "" {
		pw, err := secret.Read(*pwFile)
		if err != nil {
			return err
		}
		o.User, o.Password, o.Auth = *user, pw, *auth
	}
	host, port, err := net.SplitHostPort(*listen)
	if err != nil {
		return fmt.Errorf("-listen %q: %w", *listen, err)
	}
	first, _ := strconv.Atoi(port)
	var cams []*rtsp.SimCamera
	for i := range *n {
		o.Seed = int64(i + 1)
		cam, err := rtsp.NewSimCamera(o)
		if err != nil {
			return err
		}
		p := 0
		if first != 0 {
			p = first + i
		}
		u, err := cam.Start(ctx, net.JoinHostPort(host, strconv.Itoa(p)))
		if err != nil {
			return err
		}
		cams = append(cams, cam)
		fmt.Fprintln(stdout, u)
	}
	go simCameraCommands(ctx, s.stdin, stdout, cams)
	<-ctx.Done()
	return nil
}

// simCameraCommands works the simulated cameras by the commands read from in.
func simCameraCommands(ctx context.Context, in io.Reader, out io.Writer, cams []*rtsp.SimCamera) {
	sc := bufio.NewScanner(in)
	for sc.Scan() && ctx.Err() == nil {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		targets := cams
		if strings.HasPrefix(f[0], "@") {
			i, err := strconv.Atoi(f[0][1:])
			if err != nil || i < 1 || i > len(cams) || len(f) < 2 {
				fmt.Fprintf(out, "error: %s: say @1 to @%d and a command\n", f[0], len(cams))
				continue
			}
			targets, f = cams[i-1:i], f[1:]
		}
		for _, c := range targets {
			if err := simCameraCommand(c, f, out); err != nil {
				fmt.Fprintln(out, "error:", err)
				break
			}
		}
	}
}

// simCameraCommand carries out one command on camera c.
func simCameraCommand(c *rtsp.SimCamera, f []string, out io.Writer) error {
	arg := func(def string) string {
		if len(f) > 1 {
			return f[1]
		}
		return def
	}
	dur := func(def string) (time.Duration, error) { return time.ParseDuration(arg(def)) }
	ft := c.Faults()
	switch f[0] {
	case "ok":
		ft = rtsp.Faults{}
	case "off", "on":
		ft.Off = f[0] == "off"
	case "stall":
		d, err := dur("1ms")
		if err != nil {
			return err
		}
		ft.StallAfter = max(d, time.Millisecond)
	case "frozen-ts":
		ft.FrozenTimestamps = true
	case "frozen":
		ft.FrozenPicture = true
	case "fps":
		v, err := strconv.Atoi(arg(""))
		if err != nil {
			return fmt.Errorf("fps N")
		}
		ft.FPS = v
	case "loss":
		v, err := strconv.ParseFloat(arg(""), 64)
		if err != nil || v < 0 || v > 100 {
			return fmt.Errorf("loss PCT, 0 to 100")
		}
		ft.LossPct = v
	case "slow":
		d, err := dur("")
		if err != nil {
			return err
		}
		ft.SlowDescribe = d
	case "close":
		d, err := dur("")
		if err != nil {
			return err
		}
		ft.CloseAfter = d
	case "garbage":
		ft.Garbage = true
	case "udp-only":
		ft.UDPOnly, ft.TCPOnly = true, false
	case "tcp-only":
		ft.TCPOnly, ft.UDPOnly = true, false
	case "wrong-password":
		ft.WrongPassword = true
	case "status":
		fmt.Fprintf(out, "%s faults %+v counters %+v\n", c.URL(), c.Faults(), c.Counters())
		return nil
	default:
		return fmt.Errorf("unknown command %q (see apedge sim camera -h)", f[0])
	}
	c.Set(ft)
	fmt.Fprintf(out, "%s: %+v\n", c.URL(), ft)
	return nil
}
