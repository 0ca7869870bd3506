package camera

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/apedge/apedge/devices/rtsp"
	"github.com/apedge/apedge/internal/clock"
)

// Report is what an installer's probe of a camera found: the figures of one check
// and its verdict. Its JSON is apedge camera probe -json's output.
type Report struct {
	// URL is the camera's URL with any password redacted.
	URL               string  `json:"url"`
	Verdict           string  `json:"verdict"`
	Reason            string  `json:"reason"`
	Stage             Stage   `json:"stage"`
	Transport         string  `json:"transport,omitempty"`
	Codec             string  `json:"codec"`
	Profile           string  `json:"profile,omitempty"`
	Level             string  `json:"level,omitempty"`
	Width             int     `json:"width"`
	Height            int     `json:"height"`
	FPS               float64 `json:"fps"`
	BitrateKbps       float64 `json:"bitrateKbps"`
	KeyframeIntervalS float64 `json:"keyframeIntervalS"`
	LossPct           float64 `json:"lossPct"`
	Packets           uint64  `json:"packets"`
	Keyframes         int     `json:"keyframes"`
	Lost              uint64  `json:"lost"`
	FirstFrameMs      int64   `json:"firstFrameMs"`
	ReadMs            int64   `json:"readMs"`
}

// Probe checks the camera t once, reading media for t.Sample, and judges it by l.
func Probe(ctx context.Context, t Target, l Limits, clk clock.Clock, log *slog.Logger) Report {
	r := Check(ctx, t, clk, log)
	v, reason := Judge(r, l)
	f := r.Stats
	return Report{URL: rtsp.Redacted(t.URL), Verdict: v, Reason: reason, Stage: r.Stage, Transport: r.Transport,
		Codec: f.Codec, Profile: f.Profile, Level: f.Level, Width: f.Width, Height: f.Height,
		FPS: round(f.FPS, 2), BitrateKbps: round(f.BitrateKbps, 1), KeyframeIntervalS: round(f.KeyframeInterval.Seconds(), 2),
		LossPct: round(f.LossPct, 2), Packets: f.Packets, Keyframes: f.Keyframes, Lost: f.Lost, FirstFrameMs: f.FirstFrame.Milliseconds(),
		ReadMs: r.Read.Milliseconds()}
}

// WriteText writes the report for a person, one figure a line.
func (rp Report) WriteText(w io.Writer) error {
	var b strings.Builder
	line := func(k, format string, a ...any) { fmt.Fprintf(&b, "%-15s "+format+"\n", append([]any{k}, a...)...) }
	line("camera", "%s", rp.URL)
	if rp.Reason != "" {
		line("verdict", "%s: %s", rp.Verdict, rp.Reason)
	} else {
		line("verdict", "%s", rp.Verdict)
	}
	if rp.Packets > 0 {
		line("codec", "%s", strings.TrimSpace(strings.Join([]string{rp.Codec, rp.Profile, levelText(rp.Level)}, " ")))
		line("size", "%dx%d", rp.Width, rp.Height)
		line("fps", "%.1f", rp.FPS)
		line("bitrate", "%.0f kbps", rp.BitrateKbps)
		if rp.KeyframeIntervalS > 0 {
			line("keyframe every", "%.2f s", rp.KeyframeIntervalS)
		} else {
			line("keyframe every", "(fewer than two keyframes came)")
		}
		line("loss", "%.1f%% (%d of %d packets)", rp.LossPct, rp.Lost, rp.Packets+rp.Lost)
		switch {
		case rp.Keyframes == 0:
			line("first keyframe", "none came")
		case rp.FirstFrameMs == 0:
			line("first keyframe", "under 1 ms after PLAY")
		default:
			line("first keyframe", "%d ms after PLAY", rp.FirstFrameMs)
		}
		line("transport", "%s", rp.Transport)
	}
	line("read", "%s", (time.Duration(rp.ReadMs) * time.Millisecond).String())
	_, err := io.WriteString(w, b.String())
	return err
}

func levelText(l string) string {
	if l == "" {
		return ""
	}
	return "level " + l
}
