package hiltests

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// probeResult is the part of `apedge camera probe -json`'s object these tests read.
type probeResult struct {
	Codec       string  `json:"codec"`
	Width       int     `json:"width"`
	Height      int     `json:"height"`
	FPS         float64 `json:"fps"`
	BitrateKbps float64 `json:"bitrateKbps"`
	Verdict     string  `json:"verdict"`
	Reason      string  `json:"reason"`
}

// probeFields are the keys the probe's JSON object must have (issue 15, item 7) when
// the camera is online; a camera that is not has at least a verdict and its reason
// (its codec may be unknown).
var (
	probeFields       = []string{"codec", "width", "height", "fps", "bitrateKbps", "verdict", "reason"}
	probeFailedFields = []string{"verdict", "reason"}
)

// probeRun is one run of `apedge camera probe`.
type probeRun struct {
	Code           int
	Stdout, Stderr string
	Result         probeResult
}

// runProbe runs `apedge camera probe -json args...` (with a deadline of a minute)
// and decodes the one JSON object it prints.
func runProbe(t *testing.T, args ...string) probeRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	argv := append([]string{"camera", "probe", "-json"}, args...)
	cmd := exec.CommandContext(ctx, apedgeBin, argv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := probeRun{Stdout: stdout.String(), Stderr: stderr.String()}
	code, ok := exitCode(err)
	if !ok || ctx.Err() != nil {
		t.Fatalf("apedge %s did not run to an exit: %v (context: %v)\nstdout: %s\nstderr: %s", strings.Join(argv, " "), err, ctx.Err(), r.Stdout, r.Stderr)
	}
	r.Code = code
	dec := json.NewDecoder(bytes.NewReader(stdout.Bytes()))
	var fields map[string]json.RawMessage
	if err := dec.Decode(&fields); err != nil {
		t.Fatalf("apedge %s (exit %d): stdout is not a JSON object: %v\nstdout: %s\nstderr: %s", strings.Join(argv, " "), code, err, r.Stdout, r.Stderr)
	}
	if dec.More() {
		t.Fatalf("apedge %s: stdout holds more than one JSON value\nstdout: %s", strings.Join(argv, " "), r.Stdout)
	}
	want := probeFields
	if v, _ := fields["verdict"]; string(v) != `"online"` {
		want = probeFailedFields
	}
	for _, f := range want {
		if _, ok := fields[f]; !ok {
			t.Errorf("apedge %s: the JSON object has no %q\nstdout: %s", strings.Join(argv, " "), f, r.Stdout)
		}
	}
	if err := json.Unmarshal(stdout.Bytes(), &r.Result); err != nil {
		t.Fatalf("apedge %s: decoding %s: %v", strings.Join(argv, " "), r.Stdout, err)
	}
	return r
}

// TestGStreamerInterop: the installer's probe (`apedge camera probe`) against
// GStreamer's gst-rtsp-server (testdata/gst-rtsp-server.py through PyGObject), a
// server no one here wrote, reads the codec, resolution and frame rate the server was
// told to send: H.264 (RFC 6184, rtph264pay) and H.265 (RFC 7798, rtph265pay), over
// TCP-interleaved and UDP transport (RFC 2326 sections 10.12 and 12.39; the server
// is limited to the one tested, so a client on the other is refused with 461), and
// with Digest authentication (RFC 2069 style, as gst-rtsp-server challenges: MD5,
// no qop) with the password from a 0600 file. A wrong password is auth-failed with a
// non-zero exit, and no password ever appears in what the probe prints.
//
// 320x180 is not a whole number of H.264 macroblocks or H.265 coding blocks, so the
// encoder codes 320x192 and crops (SPS frame_cropping, H.264 section 7.4.2.1.1; the
// conformance window, H.265 section 7.4.3.2.1): the probe must report the cropped
// size.
func TestGStreamerInterop(t *testing.T) {
	t.Parallel()
	requireGstreamer(t)

	const (
		user     = "installer"
		password = "s3cr:t@Gst/9%x" // characters a URL would have to escape
		wrong    = "not-the-password"
	)
	cases := []struct {
		name      string
		server    gstOptions
		transport string
		// password, when not empty, is written (with the newline `echo` adds) to a
		// 0600 file passed with -password-file; user goes in the URL.
		password    string
		wantVerdict string
	}{
		{"h264-640x480-tcp", gstOptions{Codec: "h264", Width: 640, Height: 480, FPS: 10, Protocols: "tcp"}, "tcp", "", "online"},
		{"h264-320x240-udp", gstOptions{Codec: "h264", Width: 320, Height: 240, FPS: 15, Protocols: "udp"}, "udp", "", "online"},
		{"h265-640x480-tcp", gstOptions{Codec: "h265", Width: 640, Height: 480, FPS: 10, Protocols: "tcp"}, "tcp", "", "online"},
		{"h265-320x180-udp", gstOptions{Codec: "h265", Width: 320, Height: 180, FPS: 15, Protocols: "udp"}, "udp", "", "online"},
		{"h264-320x180-digest", gstOptions{Codec: "h264", Width: 320, Height: 180, FPS: 15, Protocols: "tcp", User: user, Password: password}, "tcp", password, "online"},
		{"h264-digest-wrong-password", gstOptions{Codec: "h264", Width: 320, Height: 240, FPS: 10, Protocols: "tcp", User: user, Password: password}, "tcp", wrong, "auth-failed"},
	}
	// The cases run one after another: each keeps an encoder busy, and the machine's
	// cores are shared with the other end-to-end tests.
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := startGstServer(t, tc.server)
			target := srv.URL
			args := []string{"-for", "3s", "-transport", tc.transport}
			if tc.server.User != "" {
				target = withUser(t, srv.URL, tc.server.User)
			}
			if tc.password != "" {
				f := filepath.Join(t.TempDir(), "camera.password")
				if err := os.WriteFile(f, []byte(tc.password+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				args = append(args, "-password-file", f)
			}
			r := runProbe(t, append(args, target)...)
			got := r.Result
			t.Logf("exit %d: %s %dx%d %.2f fps %.0f kbit/s, %s (%s)", r.Code, got.Codec, got.Width, got.Height, got.FPS, got.BitrateKbps, got.Verdict, got.Reason)

			for _, secret := range []string{password, url.QueryEscape(password), url.PathEscape(password), wrong} {
				if strings.Contains(r.Stdout, secret) || strings.Contains(r.Stderr, secret) {
					t.Errorf("the probe printed a password (%q)\nstdout: %s\nstderr: %s", secret, r.Stdout, r.Stderr)
				}
			}
			if got.Verdict != tc.wantVerdict {
				t.Fatalf("verdict %q (reason %q), want %q\nstdout: %s\nstderr: %s", got.Verdict, got.Reason, tc.wantVerdict, r.Stdout, r.Stderr)
			}
			if tc.wantVerdict != "online" {
				if r.Code == 0 {
					t.Errorf("verdict %s exited 0, want non-zero", got.Verdict)
				}
				if got.Reason == "" {
					t.Errorf("verdict %s has no reason", got.Verdict)
				}
				return
			}
			if r.Code != 0 {
				t.Errorf("verdict online exited %d, want 0\nstderr: %s", r.Code, r.Stderr)
			}
			if got.Codec != tc.server.Codec {
				t.Errorf("codec %q, want %q", got.Codec, tc.server.Codec)
			}
			if got.Width != tc.server.Width || got.Height != tc.server.Height {
				t.Errorf("resolution %dx%d, want %dx%d", got.Width, got.Height, tc.server.Width, tc.server.Height)
			}
			if math.Abs(got.FPS-float64(tc.server.FPS)) > 0.5 {
				t.Errorf("fps %.2f, want %d ± 0.5", got.FPS, tc.server.FPS)
			}
			if !(got.BitrateKbps > 0) {
				t.Errorf("bitrateKbps %v, want > 0", got.BitrateKbps)
			}
			if t.Failed() {
				t.Logf("stdout: %s\nstderr: %s", r.Stdout, r.Stderr)
			}
		})
	}
}
