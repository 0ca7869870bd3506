package ctl

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/apedge/apedge/cmd/apedge/internal/clitest"
)

// The response ctl cameras decodes (registered beside the command, so that
// TestCtlReadsOnlyTheContract checks it).
func init() {
	ctlContract["cameras"] = []decodes{{method: "GET", path: "/api/v1/cameras", status: 200, doc: []cameraDoc{}}}
}

// ctlCamerasJSON is GET /api/v1/cameras with four cameras: online, offline and
// flapping, degraded with its picture covered, and one not yet reported on.
const ctlCamerasJSON = `[
 {"id":"front-cam","name":"front door, outside","verdict":"online","since":"2026-11-22T23:00:00Z","checkedAt":"2026-11-22T23:10:00Z","transport":"tcp",
  "codec":"h264","profile":"Main","level":"3.1","width":1280,"height":720,"fps":25,"bitrateKbps":2100.4,"lossPct":0.2,"keyframeIntervalS":2,"firstFrameMs":180,
  "picture":{"state":"ok","at":"2026-11-22T23:05:00Z"},"updatedAt":"2026-11-22T23:10:00Z","hasThumbnail":true,"thumbnailAt":"2026-11-22T23:05:00Z"},
 {"id":"gate","name":"side gate","verdict":"offline","reason":"connect: connection refused","since":"2026-07-01T13:05:00Z","seen":"online","repeats":3,"lossPct":0,
  "picture":{"state":"none","why":"ffmpeg is not installed"},"updatedAt":"2026-07-01T13:06:00Z","hasThumbnail":false},
 {"id":"yard","name":"","verdict":"degraded","reason":"loss 7.5% over its maximum 5%","since":"2026-11-22T22:59:00Z","codec":"h265","width":640,"height":480,
  "fps":9.96,"bitrateKbps":180,"lossPct":7.5,"picture":{"state":"covered"},"hasThumbnail":true,"thumbnailAt":"2026-11-22T22:55:00Z"},
 {"id":"loft","name":"loft","verdict":"unknown","lossPct":0,"picture":{"state":"none","why":"the bridge has not reported on this camera yet"},"hasThumbnail":false}
]`

func TestCtlCameras(t *testing.T) {
	mux := http.NewServeMux()
	body := ctlCamerasJSON
	mux.HandleFunc("GET /api/v1/cameras", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+ctlTestToken {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"sign in first: no session"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	})
	srv := httptest.NewServer(contractChecker(t, mux, nil))
	t.Cleanup(srv.Close)
	tok := clitest.WriteFile(t, t.TempDir(), "token", ctlTestToken+"\n", 0o600)
	flags := []string{"-url", srv.URL, "-token-file", tok}

	r := ctl(t, "", append([]string{"cameras"}, flags...)...)
	if r.Code != 0 || r.Stderr != "" {
		t.Fatalf("exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	lines := strings.Split(strings.TrimRight(r.Stdout, "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d lines, want a header and four cameras:\n%s", len(lines), r.Stdout)
	}
	cols := regexp.MustCompile(`\s{2,}`)
	header := cols.Split(lines[0], -1)
	want := []string{"CAMERA", "NAME", "VERDICT", "SINCE", "CODEC", "SIZE", "FPS", "KBPS", "LOSS", "PICTURE", "REASON"}
	if strings.Join(header, "|") != strings.Join(want, "|") {
		t.Errorf("header %q, want %q", header, want)
	}
	rows := map[string][]string{
		"front-cam": {"front-cam", "front door, outside", "online", "2026-11-22 23:00", "h264", "1280x720", "25.0", "2100", "0.2%", "ok", "-"},
		"gate": {"gate", "side gate", "OFFLINE (flapping: 3 repeats), now online?", "2026-07-01 14:05", "-", "-", "-", "-", "-",
			"none: ffmpeg is not installed", "connect: connection refused"},
		"yard": {"yard", "-", "DEGRADED", "2026-11-22 22:59", "h265", "640x480", "10.0", "180", "7.5%", "COVERED", "loss 7.5% over its maximum 5%"},
		"loft": {"loft", "loft", "unknown", "-", "-", "-", "-", "-", "-", "none: the bridge has not reported on this camera yet", "-"},
	}
	for i, id := range []string{"front-cam", "gate", "yard", "loft"} {
		got := cols.Split(strings.TrimRight(lines[i+1], " "), -1)
		if strings.Join(got, "|") != strings.Join(rows[id], "|") {
			t.Errorf("row of %s:\n got %q\nwant %q", id, got, rows[id])
		}
	}

	// -json: the agent's document as it is, on one line.
	r = ctl(t, "", append([]string{"cameras", "-json"}, flags...)...)
	if r.Code != 0 || strings.Count(r.Stdout, "\n") != 1 {
		t.Fatalf("-json: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	var got, sent []map[string]any
	if err := json.Unmarshal([]byte(r.Stdout), &got); err != nil {
		t.Fatal(err)
	}
	json.Unmarshal([]byte(ctlCamerasJSON), &sent)
	g, _ := json.Marshal(got)
	s, _ := json.Marshal(sent)
	if string(g) != string(s) {
		t.Errorf("-json printed %s, want the agent's %s", g, s)
	}

	body = `[]`
	if r := ctl(t, "", append([]string{"cameras"}, flags...)...); r.Code != 0 || r.Stdout != "no cameras\n" {
		t.Errorf("no cameras: exit %d %q %q", r.Code, r.Stdout, r.Stderr)
	}
	if r := ctl(t, "", "cameras", "-url", srv.URL, "-token-file", clitest.WriteFile(t, t.TempDir(), "token", "wrong\n", 0o600)); r.Code != 1 {
		t.Errorf("with a bad token: exit %d, want 1\n%s", r.Code, r.Stderr)
	}
}
