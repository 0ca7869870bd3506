package hiltests

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// systemPython is Debian's Python, the one python3-gi is installed for; the python3
// on PATH may be another (pyenv, a virtualenv) without gi.
const systemPython = "/usr/bin/python3"

// gstServerScript is the GStreamer RTSP server the interoperability tests run.
const gstServerScript = "testdata/gst-rtsp-server.py"

// gstElements are the GStreamer elements gst-rtsp-server.py's pipelines use, with the
// Debian package each comes from.
var gstElements = []struct{ name, pkg string }{
	{"videotestsrc", "gstreamer1.0-plugins-base"},
	{"x264enc", "gstreamer1.0-plugins-ugly"},
	{"rtph264pay", "gstreamer1.0-plugins-good"},
	{"x265enc", "gstreamer1.0-plugins-bad"},
	{"rtph265pay", "gstreamer1.0-plugins-good"},
}

// requireGstreamer fails the test, naming what is missing and scripts/test-deps.sh
// (which `make test` runs to install it), unless the system Python can import
// GstRtspServer and GStreamer has every element in gstElements. It never skips: the
// interoperability tests are part of what `make test` shows.
func requireGstreamer(t testing.TB) {
	t.Helper()
	const fix = "run `make test` (or as root scripts/test-deps.sh), which installs python3-gi, gir1.2-gst-rtsp-server-1.0 and gstreamer1.0-plugins-base/good/ugly/bad"
	if _, err := os.Stat(systemPython); err != nil {
		t.Fatalf("the GStreamer RTSP server needs %s: %v; %s", systemPython, err, fix)
	}
	names := make([]string, len(gstElements))
	for i, e := range gstElements {
		names[i] = strconv.Quote(e.name)
	}
	check := `import sys, gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gst, GstRtsp, GstRtspServer
Gst.init(None)
missing = [e for e in [` + strings.Join(names, ", ") + `] if Gst.ElementFactory.find(e) is None]
print(" ".join(missing))
sys.exit(1 if missing else 0)
`
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, systemPython, "-c", check)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err == nil {
		return
	}
	if missing := strings.Fields(stdout.String()); len(missing) > 0 {
		var pkgs []string
		for _, m := range missing {
			for _, e := range gstElements {
				if e.name == m {
					pkgs = append(pkgs, m+" ("+e.pkg+")")
				}
			}
		}
		t.Fatalf("GStreamer elements missing: %s; %s", strings.Join(pkgs, ", "), fix)
	}
	t.Fatalf("%s cannot load GStreamer's RTSP server through PyGObject: %v\n%s\n%s", systemPython, err, strings.TrimSpace(stderr.String()), fix)
}

// gstOptions are the stream gst-rtsp-server.py is told to serve.
type gstOptions struct {
	Codec         string // h264 or h265
	Width, Height int
	FPS           int
	Protocols     string // tcp, udp or both
	// User and Password, when set, make the server require Digest authentication.
	User, Password string
}

// args are gst-rtsp-server.py's arguments for o.
func (o gstOptions) args() []string {
	a := []string{
		"--port", "0",
		"--codec", o.Codec,
		"--width", strconv.Itoa(o.Width),
		"--height", strconv.Itoa(o.Height),
		"--fps", strconv.Itoa(o.FPS),
		"--protocols", o.Protocols,
	}
	if o.User != "" {
		a = append(a, "--user", o.User, "--password", o.Password)
	}
	return a
}

// String is o as gst-rtsp-server.py's arguments, the password withheld, for logs.
func (o gstOptions) String() string {
	a := o.args()
	for i := range a {
		if i > 0 && a[i-1] == "--password" {
			a[i] = "(withheld)"
		}
	}
	return strings.Join(a, " ")
}

// gstServer is gst-rtsp-server.py running as its own process: GStreamer's
// gst-rtsp-server, an RTSP server no one at apedge wrote.
type gstServer struct {
	// URL is the stream's rtsp:// URL, without credentials.
	URL string
	log string
}

// Log is what the server wrote to stderr so far.
func (s *gstServer) Log() string {
	b, _ := os.ReadFile(s.log)
	return string(b)
}

// startGstServer starts gst-rtsp-server.py for o on a free port and waits (up to 30 s)
// for the READY line that says it listens. The server is stopped at the end of the
// test: its stdin is closed, then SIGTERM, then SIGKILL.
func startGstServer(t testing.TB, o gstOptions) *gstServer {
	t.Helper()
	s := &gstServer{log: filepath.Join(t.TempDir(), "gst-rtsp-server.log")}
	logf, err := os.Create(s.log)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()

	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, systemPython, append([]string{gstServerScript}, o.args()...)...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second // then SIGKILL
	cmd.Stderr = logf
	stdin, err := cmd.StdinPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting %s %s: %v", systemPython, gstServerScript, err)
	}
	exited := make(chan error, 1)
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "READY "); ok {
				ready <- strings.TrimSpace(u)
				break
			}
		}
		io.Copy(io.Discard, stdout) // until the server exits and its stdout closes
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		stdin.Close() // the server's way out: it exits when stdin closes
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cancel() // SIGTERM, and SIGKILL after WaitDelay
			<-exited
		}
		cancel()
		if t.Failed() {
			t.Logf("--- gst-rtsp-server.py %s log (last 40 lines) ---\n%s", o, tail(s.Log(), 40))
		}
	})

	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	select {
	case s.URL = <-ready:
	case err := <-exited:
		exited <- err // for the cleanup
		t.Fatalf("gst-rtsp-server.py %s exited before READY: %v\n%s", o, err, tail(s.Log(), 40))
	case <-timer.C:
		t.Fatalf("gst-rtsp-server.py %s printed no READY line within 30s\n%s", o, tail(s.Log(), 40))
	}
	if !strings.HasPrefix(s.URL, "rtsp://127.0.0.1:") {
		t.Fatalf("gst-rtsp-server.py said READY %q, want an rtsp://127.0.0.1: URL", s.URL)
	}
	return s
}

// withUser is rawURL with user in its userinfo, percent-encoded as net/url does
// (RFC 3986 section 3.2.1).
func withUser(t testing.TB, rawURL, user string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatalf("parsing %q: %v", rawURL, err)
	}
	u.User = url.User(user)
	return u.String()
}

// exitCode is the exit code in err from exec.Cmd.Run, 0 for nil; ok is false when the
// command did not run to an exit (not started, killed by a signal).
func exitCode(err error) (code int, ok bool) {
	if err == nil {
		return 0, true
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() >= 0 {
		return ee.ExitCode(), true
	}
	return -1, false
}
