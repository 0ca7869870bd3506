package camera

import (
	"fmt"
	"strings"
	"time"
)

// Verdicts, as the site-bus vocabulary names them (package sitebus, camera.go).
const (
	Unknown    = "unknown"
	Online     = "online"
	Offline    = "offline"
	AuthFailed = "auth-failed"
	Stalled    = "stalled"
	Degraded   = "degraded"
	Frozen     = "frozen"
)

// Limits are the thresholds one camera is judged by.
type Limits struct {
	// StallAfter: no media, or RTP timestamps that do not move, for this long.
	StallAfter time.Duration
	// Minimums (zero: not checked) and the most loss allowed.
	MinFPS, MinBitrateKbps float64
	MinWidth, MinHeight    int
	MaxLossPct             float64
}

// Judge says what a check's result means for a camera judged by l: its verdict and
// why, for a person. A picture judged black, covered or frozen makes an otherwise
// online camera frozen.
func Judge(r *Result, l Limits) (verdict, reason string) {
	switch {
	case r.Err != nil && r.Stage == StageAuth:
		return AuthFailed, r.Err.Error()
	case r.Err != nil && r.Stage != StageMedia:
		return Offline, r.Err.Error()
	case r.Err != nil: // the session broke while media was read
		return Offline, r.Err.Error()
	case r.Stats.Packets == 0:
		return Stalled, fmt.Sprintf("the session is up but no media came for %s", r.Read.Round(100*time.Millisecond))
	case r.Silent >= l.StallAfter:
		return Stalled, fmt.Sprintf("no media for the last %s", r.Silent.Round(100*time.Millisecond))
	case r.TimestampsStill >= l.StallAfter:
		return Stalled, fmt.Sprintf("media comes but its RTP timestamps have not moved for %s", r.TimestampsStill.Round(100*time.Millisecond))
	}
	var low []string
	s := &r.Stats
	if l.MinFPS > 0 && s.FPS < l.MinFPS {
		low = append(low, fmt.Sprintf("%.1f fps (at least %g)", s.FPS, l.MinFPS))
	}
	if l.MinBitrateKbps > 0 && s.BitrateKbps < l.MinBitrateKbps {
		low = append(low, fmt.Sprintf("%.0f kbps (at least %g)", s.BitrateKbps, l.MinBitrateKbps))
	}
	// A size not known yet (no SPS in the SDP, and no keyframe within the sample) is
	// not a small one.
	if s.Width > 0 && (l.MinWidth > 0 && s.Width < l.MinWidth || l.MinHeight > 0 && s.Height < l.MinHeight) {
		low = append(low, fmt.Sprintf("%dx%d (at least %dx%d)", s.Width, s.Height, l.MinWidth, l.MinHeight))
	}
	if s.LossPct > l.MaxLossPct {
		low = append(low, fmt.Sprintf("%.1f%% of packets lost (at most %g%%)", s.LossPct, l.MaxLossPct))
	}
	if len(low) > 0 {
		return Degraded, strings.Join(low, "; ")
	}
	switch r.Picture.State {
	case PictureBlack:
		return Frozen, "the picture is black"
	case PictureCovered:
		return Frozen, "the picture is almost uniform: covered, or facing a wall"
	case PictureFrozen:
		return Frozen, "the picture is the same as the last one"
	}
	return Online, ""
}

// reporter holds a camera's reported verdict and the one waiting to hold long enough
// to be reported: the hysteresis that keeps a flapping camera to one event per change.
type reporter struct {
	hold time.Duration
	// reported is the verdict last reported, since when and why.
	reported      string
	reportedSince time.Time
	reason        string
	// seen is a different verdict not yet held for hold, since seenSince.
	seen      string
	seenSince time.Time
	// flaps are when a change that did not hold came back to the reported verdict,
	// within the last hour.
	flaps []time.Time
}

func newReporter(hold time.Duration) *reporter { return &reporter{hold: hold, reported: Unknown} }

// change is a verdict that has held long enough to report.
type change struct {
	verdict, previous, reason string
	since                     time.Time
}

// observe takes the verdict of a check ended at now and returns the change to
// report, or nil. The first verdict after the bridge starts is reported at once.
func (p *reporter) observe(v, reason string, now time.Time) *change {
	p.trim(now)
	if v == p.reported {
		if p.seen != "" {
			p.flaps = append(p.flaps, now) // a change that did not hold
		}
		p.seen, p.reason = "", reason
		return nil
	}
	// The hold is timed from the first check that left the reported verdict: a
	// camera going offline, stalled, offline... has not held any one verdict, but it
	// has held away from online, and its latest verdict is reported.
	if p.seen == "" {
		p.seenSince = now
	}
	p.seen = v
	if p.reported != Unknown && now.Sub(p.seenSince) < p.hold {
		return nil
	}
	c := &change{verdict: v, previous: p.reported, reason: reason, since: p.seenSince}
	p.reported, p.reportedSince, p.reason, p.seen = v, p.seenSince, reason, ""
	return c
}

// pending says when a different verdict, seen but not yet held, would be reported:
// the time to check again.
func (p *reporter) pending() (time.Time, bool) {
	if p.seen == "" {
		return time.Time{}, false
	}
	return p.seenSince.Add(p.hold), true
}

// repeats counts the flaps within the last hour.
func (p *reporter) repeats(now time.Time) int {
	p.trim(now)
	return len(p.flaps)
}

func (p *reporter) trim(now time.Time) {
	i := 0
	for i < len(p.flaps) && now.Sub(p.flaps[i]) > time.Hour {
		i++
	}
	p.flaps = p.flaps[i:]
}
