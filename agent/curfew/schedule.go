package curfew

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// Window is one occurrence of a rule, or one piece of it when an absence split it: the
// instants it is in force from (inclusive) and to (exclusive).
type Window struct {
	Rule Rule
	Date Date // the local date it nominally starts on
	// Start and End bound the part in force (UTC): the nominal window less any absences.
	Start, End time.Time
	// NominalStart and NominalEnd bound the whole occurrence before any absence (UTC).
	NominalStart, NominalEnd time.Time
	// Piece numbers the pieces an absence split the occurrence into, from 1.
	Piece int
	// SuspendedBy lists, in order of start, the ids of the absences that cut the occurrence
	// (empty when it is in force whole).
	SuspendedBy []string
	// Loc is the time zone of the schedule the window came from (nil: London).
	Loc *time.Location
}

func (w Window) loc() *time.Location {
	if w.Loc == nil {
		return London()
	}
	return w.Loc
}

// StartLocal returns Start in the window's local time zone.
func (w Window) StartLocal() time.Time { return w.Start.In(w.loc()) }

// EndLocal returns End in the window's local time zone.
func (w Window) EndLocal() time.Time { return w.End.In(w.loc()) }

// Duration returns the real time the window is in force for.
func (w Window) Duration() time.Duration { return w.End.Sub(w.Start) }

// Contains reports whether w is in force at t: Start <= t < End.
func (w Window) Contains(t time.Time) bool {
	return !t.Before(w.Start) && t.Before(w.End)
}

// Suspended reports whether an absence cut the occurrence w belongs to.
func (w Window) Suspended() bool { return len(w.SuspendedBy) > 0 }

// Key returns a stable identifier of the occurrence: the rule ID and the nominal start
// date, e.g. "ap-standard/2026-03-28". The second and later pieces of an occurrence an
// absence split get a suffix, e.g. "ap-standard/2026-03-28#2".
func (w Window) Key() string {
	k := w.Rule.ID + "/" + w.Date.String()
	if w.Piece > 1 {
		k += fmt.Sprintf("#%d", w.Piece)
	}
	return k
}

// String returns a one-line description of w, e.g.
// "ap-standard/2026-03-28 2026-03-28 23:00 GMT -> 2026-03-29 06:00 BST (6h0m0s)".
func (w Window) String() string {
	const layout = "2006-01-02 15:04 MST"
	return fmt.Sprintf("%s %s -> %s (%s)", w.Key(), w.StartLocal().Format(layout), w.EndLocal().Format(layout), w.Duration())
}

// compareWindows orders windows by Start, then rule ID, then nominal date and piece.
func compareWindows(a, b Window) int {
	return cmp.Or(
		a.Start.Compare(b.Start),
		cmp.Compare(a.Rule.ID, b.Rule.ID),
		a.Date.Compare(b.Date),
		cmp.Compare(a.Piece, b.Piece),
	)
}

// Schedule is one person's curfew: the rules they are under (normally [APStandard] plus
// any licence conditions) and their approved absences.
//
// The methods expect a schedule that passes [Schedule.Validate]; they do not fail on one
// that does not, but its results are then unspecified.
type Schedule struct {
	Rules    []Rule
	Absences []Absence
	Loc      *time.Location // nil: London
}

// Validate reports whether every rule and absence is valid and their IDs are unique.
func (s Schedule) Validate() error {
	rules := make(map[string]bool, len(s.Rules))
	for _, r := range s.Rules {
		if err := r.Validate(); err != nil {
			return err
		}
		if rules[r.ID] {
			return fmt.Errorf("%w %q: duplicate id", ErrInvalidRule, r.ID)
		}
		rules[r.ID] = true
	}
	absences := make(map[string]bool, len(s.Absences))
	for _, a := range s.Absences {
		if err := a.Validate(); err != nil {
			return err
		}
		if absences[a.ID] {
			return fmt.Errorf("%w %q: duplicate id", ErrInvalidAbsence, a.ID)
		}
		absences[a.ID] = true
	}
	return nil
}

func (s Schedule) loc() *time.Location {
	if s.Loc == nil {
		return London()
	}
	return s.Loc
}

// span is an absence reduced to what suspension needs.
type span struct {
	id       string
	from, to time.Time
}

// spans returns the non-empty absences in order of start, then end, then id.
func (s Schedule) spans() []span {
	out := make([]span, 0, len(s.Absences))
	for _, a := range s.Absences {
		if a.To.After(a.From) {
			out = append(out, span{id: a.ID, from: a.From.UTC(), to: a.To.UTC()})
		}
	}
	slices.SortFunc(out, func(a, b span) int {
		return cmp.Or(a.from.Compare(b.from), a.to.Compare(b.to), cmp.Compare(a.id, b.id))
	})
	return out
}

// Windows returns every window, or piece of one, whose nominal start date lies in
// [from, to], in order of Start, then rule ID. Overlapping windows of different rules are
// all returned, each with its own rule.
//
// An absence covering a whole window removes it; one covering its start or end shortens
// it; one inside it splits it into pieces with distinct keys. A window of zero length (a
// same-day rule that lies wholly inside the hour skipped in March) is omitted.
func (s Schedule) Windows(from, to Date) []Window {
	if from.check() != nil || to.check() != nil || from.After(to) {
		return nil
	}
	return s.windows(from, to, s.loc(), s.spans())
}

func (s Schedule) windows(from, to Date, loc *time.Location, spans []span) []Window {
	rules := make([]Rule, len(s.Rules))
	for i, r := range s.Rules {
		r.Weekdays = slices.Clone(r.Weekdays) // windows must not alias the caller's slice
		rules[i] = r
	}
	var out []Window
	for d := from; !d.After(to); d = d.AddDays(1) {
		for _, r := range rules {
			if !r.AppliesOn(d) {
				continue
			}
			start, end := r.nominal(d, loc)
			if !start.Before(end) {
				continue
			}
			out = append(out, suspend(Window{
				Rule: r, Date: d,
				Start: start, End: end,
				NominalStart: start, NominalEnd: end,
				Piece: 1, Loc: s.Loc,
			}, spans)...)
		}
	}
	slices.SortFunc(out, compareWindows)
	return out
}

// suspend cuts the absences out of the whole window w, returning the pieces left.
func suspend(w Window, spans []span) []Window {
	var by []string
	for _, a := range spans {
		if a.from.Before(w.NominalEnd) && a.to.After(w.NominalStart) {
			by = append(by, a.id)
		}
	}
	if by == nil {
		return []Window{w}
	}
	var pieces []Window
	cur := w.NominalStart
	add := func(from, to time.Time) {
		p := w
		p.Start, p.End = from, to
		p.Piece = len(pieces) + 1
		p.SuspendedBy = slices.Clone(by)
		pieces = append(pieces, p)
	}
	for _, a := range spans {
		if !a.from.Before(w.NominalEnd) || !a.to.After(w.NominalStart) {
			continue
		}
		if a.from.After(cur) {
			add(cur, a.from)
		}
		if a.to.After(cur) {
			cur = a.to
		}
	}
	if cur.Before(w.NominalEnd) {
		add(cur, w.NominalEnd)
	}
	return pieces
}

// At returns the windows in force at instant t, in the order of [Schedule.Windows]; when
// rules overlap, all of them.
func (s Schedule) At(t time.Time) []Window {
	loc := s.loc()
	d := DateOf(t, loc)
	// A window in force at t started no later than t, so on d or before, and lasts less
	// than two days.
	var out []Window
	for _, w := range s.windows(d.AddDays(-2), d, loc, s.spans()) {
		if w.Contains(t) {
			out = append(out, w)
		}
	}
	return out
}

// Next returns the first window, or piece of one, that starts at or after t (ties broken
// by rule ID), and false if there is none.
func (s Schedule) Next(t time.Time) (Window, bool) {
	if len(s.Rules) == 0 {
		return Window{}, false
	}
	loc := s.loc()
	spans := s.spans()
	// Windows starting on a date start no earlier than that date's midnight and end before
	// midnight two days later, so those starting before d-2 end before t.
	a := DateOf(t, loc).AddDays(-2)
	stop := s.horizon(t, loc, spans)

	const chunk = 7
	var best Window
	have := false
	for !a.After(stop) {
		b := a.AddDays(chunk - 1)
		if b.After(stop) {
			b = stop
		}
		for _, w := range s.windows(a, b, loc, spans) {
			if !w.Start.Before(t) && (!have || compareWindows(w, best) < 0) {
				best, have = w, true
			}
		}
		// Every window starting on b+1 or later starts at or after its midnight.
		if have && best.Start.Before(Boundary(b.AddDays(1), TimeOfDay{}, loc)) {
			return best, true
		}
		a = b.AddDays(1)
		if !have {
			a = skipAbsent(a, loc, spans)
		}
	}
	return best, have
}

// horizon returns the last nominal date on which Next need look for a window after t:
// past it, every open-ended rule has started and no absence remains, so a window would
// have been found within a week; and no bounded rule has windows after its Until.
func (s Schedule) horizon(t time.Time, loc *time.Location, spans []span) Date {
	last := DateOf(t, loc)
	bounded := true
	var until Date
	for _, r := range s.Rules {
		if r.From.After(last) {
			last = r.From
		}
		if r.Until.IsZero() {
			bounded = false
		} else if r.Until.After(until) {
			until = r.Until
		}
	}
	for _, a := range spans {
		if d := DateOf(a.to, loc); d.After(last) {
			last = d
		}
	}
	stop := last.AddDays(16)
	if bounded && until.Before(stop) {
		stop = until
	}
	return stop
}

// skipAbsent returns the first date from which windows can start after absences that are
// in force from midnight on a onwards: a window starting on a date before d-2, where d is
// the date an absence covering a's midnight ends, ends before that absence does.
func skipAbsent(a Date, loc *time.Location, spans []span) Date {
	for {
		midnight := Boundary(a, TimeOfDay{}, loc)
		next := a
		for _, sp := range spans {
			if !midnight.Before(sp.from) && midnight.Before(sp.to) {
				if d := DateOf(sp.to, loc).AddDays(-2); d.After(next) {
					next = d
				}
			}
		}
		if !next.After(a) {
			return a
		}
		a = next
	}
}
