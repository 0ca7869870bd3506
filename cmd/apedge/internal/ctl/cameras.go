package ctl

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// cameraDoc is a CCTV camera as the agent sends it (GET /api/v1/cameras).
type cameraDoc struct {
	ID          string  `json:"id"`
	Name        string  `json:"name"`
	Verdict     string  `json:"verdict"`
	Reason      string  `json:"reason"`
	Since       string  `json:"since"`
	Seen        string  `json:"seen"`
	Repeats     int     `json:"repeats"`
	Codec       string  `json:"codec"`
	Width       int     `json:"width"`
	Height      int     `json:"height"`
	FPS         float64 `json:"fps"`
	BitrateKbps float64 `json:"bitrateKbps"`
	LossPct     float64 `json:"lossPct"`
	Picture     struct {
		State string `json:"state"`
		Why   string `json:"why"`
	} `json:"picture"`
	HasThumbnail bool `json:"hasThumbnail"`
}

const camerasSynopsis = `apedge ctl cameras [-json]

Every CCTV camera of the site: its verdict (online, OFFLINE, AUTH-FAILED, STALLED,
DEGRADED, FROZEN, or unknown before the bridge has reported on it) and since when, the
figures of its latest check (codec, size, frames per second, bitrate, packet loss), its
picture and why it is as it is. A flapping camera's verdict says how often it began
again in the last hour.`

// cmdCameras is apedge ctl cameras.
func cmdCameras(ctx context.Context, e *runEnv, args []string) error {
	c, err := globalsOnly(e, "cameras", camerasSynopsis, args)
	if err != nil {
		return err
	}
	return show(ctx, e, c, http.MethodGet, "/api/v1/cameras", nil, func(cs []cameraDoc) error { return cameraTable(e, cs) })
}

// cameraTable prints cameras as a table.
func cameraTable(e *runEnv, cs []cameraDoc) error {
	if len(cs) == 0 {
		_, err := fmt.Fprintln(e.Stdout, "no cameras")
		return err
	}
	tw := newTable(e.Stdout)
	fmt.Fprintln(tw, "CAMERA\tNAME\tVERDICT\tSINCE\tCODEC\tSIZE\tFPS\tKBPS\tLOSS\tPICTURE\tREASON")
	for _, c := range cs {
		verdict := c.Verdict
		if verdict != "online" && verdict != "unknown" {
			verdict = strings.ToUpper(verdict)
		}
		if c.Repeats > 0 {
			verdict += fmt.Sprintf(" (flapping: %d repeats)", c.Repeats)
		}
		if c.Seen != "" && c.Seen != c.Verdict {
			verdict += ", now " + c.Seen + "?"
		}
		size, fps, kbps, loss := "-", "-", "-", "-"
		if c.Width > 0 && c.Height > 0 {
			size = fmt.Sprintf("%dx%d", c.Width, c.Height)
		}
		if c.FPS > 0 {
			fps = strconv.FormatFloat(c.FPS, 'f', 1, 64)
		}
		if c.BitrateKbps > 0 {
			kbps = strconv.FormatFloat(c.BitrateKbps, 'f', 0, 64)
		}
		if c.Codec != "" {
			loss = strconv.FormatFloat(c.LossPct, 'f', 1, 64) + "%"
		}
		picture := dash(c.Picture.State)
		switch {
		case c.Picture.State == "none" || c.Picture.State == "":
			picture = "none"
			if c.Picture.Why != "" {
				picture += ": " + c.Picture.Why
			}
		case c.Picture.State != "ok":
			picture = strings.ToUpper(picture)
		}
		reason := ""
		if c.Verdict != "online" {
			reason = c.Reason
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, dash(c.Name), verdict, localTime(c.Since),
			dash(c.Codec), size, fps, kbps, loss, picture, dash(reason))
	}
	return tw.Flush()
}
