package curfew

import (
	"fmt"
	"strings"
	"time"
)

// Sources of a [Rule]: where the obligation comes from.
const (
	// SourceAPRule marks a window imposed by the AP Rules on every resident.
	SourceAPRule = "ap-rule"
	// SourceLicence marks a window imposed by a resident's licence (or court) conditions.
	SourceLicence = "licence"
)

// Rule is a recurring curfew window: from Start to End local time (if End is not after
// Start, the window ends the next day), starting on the given weekdays (empty: every day),
// for windows starting on dates from From to Until inclusive (a zero Date leaves that end
// open).
type Rule struct {
	ID          string // unique within a schedule, e.g. "ap-standard", "licence-1"
	Source      string // SourceAPRule or SourceLicence
	Description string // e.g. "licence condition 7: curfew 19:00-07:00"
	Start, End  TimeOfDay
	Weekdays    []time.Weekday // days a window may start on; empty: every day
	From, Until Date           // first and last date a window may start on; zero: unbounded
}

// APStandard returns the AP rule every resident is under: in the building 23:00-06:00
// every night, indefinitely.
func APStandard() Rule {
	return Rule{
		ID:          "ap-standard",
		Source:      SourceAPRule,
		Description: "AP rules: in the building 23:00-06:00",
		Start:       TimeOfDay{Hour: 23},
		End:         TimeOfDay{Hour: 6},
	}
}

// Validate reports whether r is well formed: a non-empty ID without '/' or '#' (they
// delimit [Window.Key]), a known source, valid times with Start != End, valid and
// distinct weekdays, valid dates with From not after Until.
func (r Rule) Validate() error {
	if err := r.validate(); err != nil {
		return fmt.Errorf("%w %q: %w", ErrInvalidRule, r.ID, err)
	}
	return nil
}

func (r Rule) validate() error {
	switch {
	case r.ID == "":
		return fmt.Errorf("empty id")
	case strings.ContainsAny(r.ID, "/#"):
		return fmt.Errorf("id contains '/' or '#'")
	}
	switch r.Source {
	case SourceAPRule, SourceLicence:
	default:
		return fmt.Errorf("unknown source %q (want %q or %q)", r.Source, SourceAPRule, SourceLicence)
	}
	if err := r.Start.check(); err != nil {
		return fmt.Errorf("start: %v", err)
	}
	if err := r.End.check(); err != nil {
		return fmt.Errorf("end: %v", err)
	}
	if r.Start == r.End {
		return fmt.Errorf("start and end are both %s", r.Start)
	}
	var seen [7]bool
	for _, wd := range r.Weekdays {
		if wd < time.Sunday || wd > time.Saturday {
			return fmt.Errorf("weekday %d out of range", int(wd))
		}
		if seen[wd] {
			return fmt.Errorf("duplicate weekday %s", wd)
		}
		seen[wd] = true
	}
	if !r.From.IsZero() {
		if err := r.From.check(); err != nil {
			return fmt.Errorf("from: %v", err)
		}
	}
	if !r.Until.IsZero() {
		if err := r.Until.check(); err != nil {
			return fmt.Errorf("until: %v", err)
		}
	}
	if !r.From.IsZero() && !r.Until.IsZero() && r.From.After(r.Until) {
		return fmt.Errorf("from %s is after until %s", r.From, r.Until)
	}
	return nil
}

// Overnight reports whether r's windows end on the day after they start.
func (r Rule) Overnight() bool { return r.End.Minutes() <= r.Start.Minutes() }

// AppliesOn reports whether r has a window starting on date d.
func (r Rule) AppliesOn(d Date) bool {
	if !r.From.IsZero() && d.Before(r.From) {
		return false
	}
	if !r.Until.IsZero() && d.After(r.Until) {
		return false
	}
	if len(r.Weekdays) == 0 {
		return true
	}
	wd := d.Weekday()
	for _, w := range r.Weekdays {
		if w == wd {
			return true
		}
	}
	return false
}

// nominal returns the instants r's window starting on d runs from and to in loc.
func (r Rule) nominal(d Date, loc *time.Location) (start, end time.Time) {
	endDate := d
	if r.Overnight() {
		endDate = d.AddDays(1)
	}
	return Boundary(d, r.Start, loc), Boundary(endDate, r.End, loc)
}

// Absence is an approved absence, such as a hospital stay or an authorised overnight
// leave: every window is suspended from From (inclusive) to To (exclusive).
type Absence struct {
	ID         string
	From, To   time.Time
	ApprovedBy string // who approved it, e.g. a staff identifier
	Reason     string
}

// Validate reports whether a is well formed: an ID, a non-empty span (To after From) and
// an approver.
func (a Absence) Validate() error {
	var err error
	switch {
	case a.ID == "":
		err = fmt.Errorf("empty id")
	case a.From.IsZero() || a.To.IsZero():
		err = fmt.Errorf("from and to must both be set")
	case !a.To.After(a.From):
		err = fmt.Errorf("to %s is not after from %s", a.To.UTC().Format(time.RFC3339), a.From.UTC().Format(time.RFC3339))
	case a.ApprovedBy == "":
		err = fmt.Errorf("no approver recorded")
	}
	if err != nil {
		return fmt.Errorf("%w %q: %w", ErrInvalidAbsence, a.ID, err)
	}
	return nil
}
