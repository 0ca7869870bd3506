package agent

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/apedge/apedge/agent/bwc"
)

// bwcFields is the union of the fields of bwc events' infos that sentences use.
type bwcFields struct {
	Camera, Dock, Staff, By, Via, Detail string
	Slot, Battery, Issue                 int
	Taken                                bool
	IssuedAt                             time.Time
	OutSeconds, ShiftSeconds, Bytes      int64
}

// bwcSentence says what a bwc.* event records, and false for any other type:
// "Kim issued camera BWC-0002 to Ann from dock dock-1, slot 2 (battery 95%), at
// 14:30 on 2 Dec 2026".
func (d *Describer) bwcSentence(f Fact) (string, bool) {
	if !slices.Contains(bwc.Types(), f.Type) {
		return "", false
	}
	var in bwcFields
	if len(f.Info) > 0 && f.Info[0] == '{' {
		_ = json.Unmarshal(f.Info, &in) // another shape leaves fields empty: the sentence still says what
	}
	when := d.When(f.At)
	cam := "camera " + dash(in.Camera, "?")
	staff := d.staffName(in.Staff)
	at := fmt.Sprintf("dock %s, slot %d", dash(in.Dock, "?"), in.Slot)
	switch f.Type {
	case bwc.TypeIssued:
		if in.Via == bwc.ViaBadge {
			return fmt.Sprintf("%s was issued %s with their card at %s (battery %d%%), at %s", staff, cam, at, in.Battery, when), true
		}
		return fmt.Sprintf("%s issued %s to %s from %s (battery %d%%), at %s", d.staffName(in.By), cam, staff, at, in.Battery, when), true
	case bwc.TypeTaken:
		return fmt.Sprintf("%s took %s, issued to them at %s, from %s at %s", staff, cam, d.Clock(in.IssuedAt), at, when), true
	case bwc.TypeReturned:
		if !in.Taken {
			return fmt.Sprintf("The issue of %s to %s lapsed at %s: not taken from %s in time", cam, staff, when, at), true
		}
		return fmt.Sprintf("%s returned %s to %s at %s, after %s out", staff, cam, at, when,
			waitedWords(time.Duration(in.OutSeconds)*time.Second)), true
	case bwc.TypeOffloaded:
		size := ""
		if in.Bytes > 0 {
			size = fmt.Sprintf(" (%.1f GB)", float64(in.Bytes)/1e9)
		}
		return fmt.Sprintf("%s's footage%s was offloaded at %s, at %s", upper(cam), size, at, when), true
	case bwc.TypeOffloadFailed:
		return fmt.Sprintf("%s's footage failed to offload at %s, at %s (%s)", upper(cam), at, when, dash(in.Detail, "no reason given")), true
	case bwc.TypeOverdue:
		return fmt.Sprintf("%s, issued to %s at %s, is still out at %s, after %s: longer than a shift of %s", upper(cam), staff,
			d.When(in.IssuedAt), when, waitedWords(time.Duration(in.OutSeconds)*time.Second),
			waitedWords(time.Duration(in.ShiftSeconds)*time.Second)), true
	case bwc.TypeRemoved:
		return fmt.Sprintf("%s was taken from %s with no issue recorded, at %s", upper(cam), at, when), true
	}
	return "", false
}
