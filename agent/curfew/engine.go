package curfew

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// Types of the decisions an [Engine] makes.
const (
	// TypeBreached: a resident left while one of their windows was in force.
	TypeBreached = "curfew.breached"
	// TypeAbsent: a resident was not in when one of their windows started (plus grace).
	TypeAbsent = "curfew.absent"
	// TypeReturnedLate: a resident reported absent came in while that window was in force.
	TypeReturnedLate = "curfew.returned-late"
	// TypeRoll: the nightly roll of who is in, out and unknown at the AP standard start.
	TypeRoll = "curfew.roll"
	// TypeInconsistent: a movement that contradicts the one before it (two exits or two
	// entries in a row).
	TypeInconsistent = "presence.inconsistent"
)

// Directions of a [Movement].
const (
	DirectionEntry = "entry"
	DirectionExit  = "exit"
)

// RollCRN stands for the person in the key of a roll, which concerns every resident.
const RollCRN = "all"

// DefaultHorizon is how far ahead [Engine.Next] looks.
const DefaultHorizon = 8 * 24 * time.Hour

// Person is a resident subject to curfew (staff and contractors never are).
type Person struct {
	CRN, NOMS string
	// Schedule is the person's rules ([APStandard] plus licence rules) and approved
	// absences.
	Schedule Schedule
	// Since, if set, is when the person became a resident of this AP (their arrival):
	// nothing is decided about them before it. Whether set or not, nothing is decided
	// about a person before they first appeared in [Engine.SetPeople], except for those
	// in the first roster given, who are bounded only by the epoch (so that a restarted
	// agent can catch up): a restarted agent should therefore set Since for residents
	// who may have arrived while it was down.
	Since time.Time
}

// Presence is where a resident is believed to be.
type Presence string

// Presences.
const (
	PresenceIn      Presence = "in"
	PresenceOut     Presence = "out"
	PresenceUnknown Presence = "unknown"
)

// Movement is one entry or exit of a resident, as journaled.
type Movement struct {
	CRN       string
	At        time.Time
	Direction string // DirectionEntry or DirectionExit
	Ref       string // the journaled movement event's id, for evidence
}

// PresenceState is what the engine believes about one resident's whereabouts.
type PresenceState struct {
	Presence Presence
	// Since is when the presence began: the time of the last movement (zero if none).
	Since time.Time
	// LastMovement is the resident's last movement, or nil if none was seen.
	LastMovement *Movement
	// Inconsistent reports that the last movement contradicted the one before it (for
	// example two exits in a row). Presence still follows the last movement.
	Inconsistent bool
}

// Decision is one curfew event to journal.
type Decision struct {
	// Type is one of TypeBreached, TypeAbsent, TypeReturnedLate, TypeRoll and
	// TypeInconsistent.
	Type string
	// Key identifies the decision, uniquely and stably: the type, the CRN (RollCRN for a
	// roll) and the window key, and for a movement's decision the movement's Ref, e.g.
	// "curfew.absent/X123456/ap-standard/2026-11-22" or
	// "curfew.breached/X123456/ap-standard/2026-11-22/ev-123". An engine never returns
	// the same key twice (see [Engine.Done]).
	Key string
	// At is when it happened: the movement's time, the window start plus grace (absent)
	// or the AP standard window's start (roll). Never the time of the call that
	// returned it.
	At   time.Time
	CRN  string // empty for a roll
	NOMS string
	// Window is the window that applied (nil for presence.inconsistent).
	Window *Window
	// Detail is the evidence, ready to marshal as the event's additional information.
	// Times are RFC 3339 strings (UTC, and local with its offset); CRN lists are sorted
	// and never nil. Keys by type:
	//   - all but roll: "presence" (absent: "out" or "unknown"; others: the presence
	//     before the movement), and for a movement "movement" {at, atLocal, direction,
	//     ref};
	//   - absent: "lastSeen" (the last movement before the window, or nil), "graceMinutes";
	//   - breached: "windows" (every window in force, when more than one);
	//   - returned-late: "minutesLate" (whole minutes from the window's Start, not
	//     Start+grace), "absentKey";
	//   - roll: "in", "out", "unknown" (CRNs) and "onApprovedAbsence" (those of them whose
	//     AP standard window is suspended at its start by an approved absence);
	//   - presence.inconsistent: "previous" (the movement contradicted), "reason";
	//   - window decisions: "window" {key, ruleId, source, description, date, start, end,
	//     startLocal, endLocal, and when an absence cut it suspendedBy, nominalStart,
	//     nominalEnd}.
	Detail map[string]any
}

// Config configures an [Engine].
type Config struct {
	// Grace is how long after a window starts a resident may still come in before being
	// reported absent (default 0). If a window, or the piece of one an absence left, is
	// shorter than Grace, the resident is judged at its end.
	Grace time.Duration
	// Loc is the time zone of the nightly roll (nil: London). Each person's windows use
	// their own Schedule.Loc.
	Loc *time.Location
}

// Engine decides curfew events from residents' schedules, their movements and the
// passage of time. It is pure: it reads no clock, does no I/O and starts no goroutines;
// time is passed in. It is not safe for concurrent use.
//
// Every decision follows from the roster, the movements and the time alone, so a
// decision is made exactly once whatever the pattern of calls: Advance(t1) then
// Advance(t2) returns what Advance(t2) alone would, and an engine rebuilt after a restart
// (see [Engine.SetEpoch]) neither repeats nor misses a decision.
//
// Decisions:
//   - curfew.absent: at each window's Start+Grace (see [Config.Grace]), for each resident
//     whose window it is and who is not in, one per person per window. A resident
//     whose presence is unknown (no movement seen) counts as not in. Presence is judged
//     as of that instant from the movements, not as of the call. A resident who is out
//     because they left after the window started (even within the grace) has a
//     curfew.breached for that, and no curfew.absent.
//   - curfew.roll: at the start of each AP standard window (23:00 local), one roll of all
//     residents, with key "curfew.roll/all/ap-standard/DATE". There is no roll at the
//     start of other rules' windows.
//   - curfew.breached: for each exit while a window of the resident is in force (one per
//     movement, under the earliest-starting window; all are in the detail).
//   - curfew.returned-late: for the first entry after a curfew.absent while that window
//     is in force; once per window.
//   - presence.inconsistent: for an exit after an exit, or an entry after an entry. The
//     movement is kept and presence follows it: nothing is silently corrected.
//
// A window an approved absence suspends entirely yields nothing; one an absence shortens
// at the start is judged at its later Start; the pieces an absence splits a window into
// are judged separately (the second with key suffix "#2").
//
// Movements and decisions of people not on the roster at the movement's time (staff,
// contractors, departed residents) yield nothing.
type Engine struct {
	grace time.Duration
	loc   *time.Location

	started  bool      // SetPeople has been called
	epoch    time.Time // nothing is decided before it
	epochSet bool      // SetEpoch has been called

	clock  time.Time // every decision due up to clock has been made
	dirty  time.Time // earliest time of a movement added since, if before clock
	pruned time.Time // floor at the last prune

	segs map[string][]*segment // by CRN: the person's roster entries, in time order
	hist map[string][]entry    // by CRN: movements in order of time
	done map[string]time.Time  // keys returned or marked Done, with their At (zero: Done)
}

// segment is a span of time during which a person was on the roster with one schedule.
type segment struct {
	p           Person
	from, until time.Time // until zero: still on the roster; from zero: unbounded
	// windows caches the person's windows by nominal start date.
	windows map[Date][]Window
}

// contains reports whether t lies in the segment.
func (s segment) contains(t time.Time) bool {
	return !t.Before(s.from) && (s.until.IsZero() || t.Before(s.until))
}

// start returns the earliest instant the segment decides anything about.
func (s segment) start() time.Time {
	if s.p.Since.After(s.from) {
		return s.p.Since
	}
	return s.from
}

type entry struct {
	m            Movement
	inconsistent bool
}

// retain is how long settled history is kept: more than a window's length plus grace, so
// any window in force at a new instant can still be judged.
func (e *Engine) retain() time.Duration { return 3*24*time.Hour + e.grace }

// NewEngine returns an engine with no residents. Nothing is decided until
// [Engine.SetPeople] is first called.
func NewEngine(cfg Config) *Engine {
	loc := cfg.Loc
	if loc == nil {
		loc = London()
	}
	g := cfg.Grace
	if g < 0 {
		g = 0
	}
	return &Engine{
		grace: g,
		loc:   loc,
		segs:  make(map[string][]*segment),
		hist:  make(map[string][]entry),
		done:  make(map[string]time.Time),
	}
}

// SetPeople replaces the roster as of now (arrivals, departures, schedule changes).
// Presence and movements of known CRNs are kept. People with an empty CRN are ignored,
// as are later entries repeating a CRN.
//
// The first call sets the epoch to now unless [Engine.SetEpoch] set it: no decision due
// before the epoch is ever made, so a new engine does not report the past. Windows judged
// before now are still judged by the roster that was in force then, so calling SetPeople
// before Advance has caught up loses nothing. A person not in the first roster is judged
// from now (or their Since), one in it from the epoch (or their Since).
func (e *Engine) SetPeople(people []Person, now time.Time) {
	first := !e.started
	if first {
		e.started = true
		if !e.epochSet {
			e.epoch = now
		}
	}
	// Close every open segment at now and open a new one for each person.
	for _, ss := range e.segs {
		last := ss[len(ss)-1]
		if last.until.IsZero() {
			at := now
			if at.Before(last.from) {
				at = last.from
			}
			last.until = at
		}
	}
	seen := make(map[string]bool, len(people))
	for _, p := range people {
		if p.CRN == "" || seen[p.CRN] {
			continue
		}
		seen[p.CRN] = true
		p.Schedule = cloneSchedule(p.Schedule)
		from := now
		if first {
			from = time.Time{}
		}
		ss := e.segs[p.CRN]
		if n := len(ss); n > 0 && from.Before(ss[n-1].until) {
			from = ss[n-1].until
		}
		e.segs[p.CRN] = append(ss, &segment{p: p, from: from, windows: make(map[Date][]Window)})
	}
}

// cloneSchedule copies s so the caller may change its slices afterwards.
func cloneSchedule(s Schedule) Schedule {
	s.Rules = slices.Clone(s.Rules)
	for i := range s.Rules {
		s.Rules[i].Weekdays = slices.Clone(s.Rules[i].Weekdays)
	}
	s.Absences = slices.Clone(s.Absences)
	return s
}

// SetEpoch sets the epoch: no decision due before t is ever made. A restarted agent
// passes the time (the event's own At, not when it was written) of the last event it
// journaled, movements included, after rebuilding the roster, so that decisions due
// while it was down are caught up but nothing older is. With the journal in time order
// (see [Engine.Move]) that misses nothing. An earlier time, down to the first run's
// epoch, is also safe: [Engine.Done] prevents repeats.
//
// The rebuild is: SetPeople, SetEpoch, Seen for every journaled movement, Done for every
// journaled decision key, then Advance(now).
func (e *Engine) SetEpoch(t time.Time) {
	e.epoch = t
	e.epochSet = true
}

// Done marks a decision key as already journaled (after a restart, from the journal),
// so that it is never returned.
func (e *Engine) Done(key string) {
	if _, ok := e.done[key]; !ok {
		e.done[key] = time.Time{}
	}
}

// Seen replays a movement from the journal, to rebuild presence after a restart. It
// returns no decisions; any decision that follows from it, is due at or after the epoch
// and was not marked [Engine.Done] (one lost in a crash between journaling the movement
// and its decisions) is returned by the next Advance. A movement already known (same CRN
// and Ref, or same CRN, time and direction when Ref is empty) is ignored, as is one with
// an empty CRN or an unknown direction.
func (e *Engine) Seen(m Movement) {
	e.add(m)
}

// Move applies a new movement and returns the decisions due up to its time: first any
// due before it (as Advance(m.At) would return), then its own (breached, returned-late,
// inconsistent), all ordered by At then Key. A caller that journals the movement before
// calling Move should call Advance(m.At) first and journal that, so that the journal
// stays in time order (which [Engine.SetEpoch] relies on).
//
// A movement is taken at its own time. One that arrives after decisions past its time
// were made (a late report) still yields its own decisions, and absences it reveals that
// are not yet decided; decisions already made are not retracted. Movements dated far in
// the future must not be passed: Move brings the engine up to their time.
//
// Repeated movements are ignored (see [Engine.Seen]).
func (e *Engine) Move(m Movement) []Decision {
	e.add(m)
	upTo := e.clock
	if m.At.After(upTo) {
		upTo = m.At
	}
	return e.advance(upTo)
}

// Advance applies the passage of time up to now and returns the decisions due, ordered by
// At then Key. A decision that fell due while nobody called (the agent was down) is
// returned with its own At. Calling it again with the same or an earlier time returns
// nothing new.
func (e *Engine) Advance(now time.Time) []Decision {
	return e.advance(now)
}

// Next returns when Advance next may have something to do: the time of the earliest
// decision already due at now but not yet returned, or else the next window start (plus
// grace) or roll after now, within [DefaultHorizon]; zero if none. Movements can make
// decisions sooner: call Next again after Move and SetPeople.
func (e *Engine) Next(now time.Time) time.Time {
	if !e.started {
		return time.Time{}
	}
	if ds := e.pending(now); len(ds) > 0 {
		return ds[0].At
	}
	lo := now
	if lo.Before(e.epoch) {
		lo = e.epoch.Add(-time.Nanosecond)
	}
	hi := now.Add(DefaultHorizon)
	var best time.Time
	consider := func(t time.Time) {
		if t.After(lo) && !t.After(hi) && (best.IsZero() || t.Before(best)) {
			best = t
		}
	}
	for d := DateOf(lo, e.loc).AddDays(-1); !d.After(DateOf(hi, e.loc)); d = d.AddDays(1) {
		if t := Boundary(d, APStandard().Start, e.loc); t.After(lo) {
			consider(t)
			break
		}
	}
	for _, ss := range e.segs {
		for _, s := range ss {
			a, b := maxTime(lo, s.start()), hi
			if !s.until.IsZero() && s.until.Before(b) {
				b = s.until
			}
			if b.Before(a) {
				continue
			}
			e.eachWindow(s, a, b, func(w *Window) {
				if j := e.judge(*w); s.contains(j) && !j.Before(s.start()) {
					consider(j)
				}
			})
		}
	}
	return best
}

// Presence returns each current resident's presence and last movement, by CRN.
func (e *Engine) Presence() map[string]PresenceState {
	out := make(map[string]PresenceState)
	for crn, ss := range e.segs {
		if !ss[len(ss)-1].until.IsZero() {
			continue
		}
		st := PresenceState{Presence: PresenceUnknown}
		if h := e.hist[crn]; len(h) > 0 {
			last := h[len(h)-1]
			m := last.m
			st = PresenceState{Presence: presenceOf(m.Direction), Since: m.At, LastMovement: &m, Inconsistent: last.inconsistent}
		}
		out[crn] = st
	}
	return out
}

func presenceOf(direction string) Presence {
	if direction == DirectionEntry {
		return PresenceIn
	}
	return PresenceOut
}

// add records a movement in the history, keeping it in order of time and its
// inconsistency flags up to date.
func (e *Engine) add(m Movement) {
	if m.CRN == "" || (m.Direction != DirectionEntry && m.Direction != DirectionExit) {
		return
	}
	h := e.hist[m.CRN]
	for _, x := range h {
		if m.Ref != "" && x.m.Ref == m.Ref ||
			m.Ref == "" && x.m.Ref == "" && x.m.At.Equal(m.At) && x.m.Direction == m.Direction {
			return
		}
	}
	// After every movement at the same time: the later report wins a tie.
	i, _ := slices.BinarySearchFunc(h, m.At, func(x entry, t time.Time) int {
		if x.m.At.After(t) {
			return 1
		}
		return -1
	})
	h = slices.Insert(h, i, entry{m: m})
	for j := max(i, 1); j < len(h); j++ {
		h[j].inconsistent = h[j].m.Direction == h[j-1].m.Direction
	}
	e.hist[m.CRN] = h
	if e.dirty.IsZero() || m.At.Before(e.dirty) {
		e.dirty = m.At
	}
}

// presenceAt returns the presence of crn at t (as of the last movement at or before t)
// and that movement.
func (e *Engine) presenceAt(crn string, t time.Time) (Presence, *Movement) {
	h := e.hist[crn]
	i, _ := slices.BinarySearchFunc(h, t, func(x entry, t time.Time) int {
		if x.m.At.After(t) {
			return 1
		}
		return -1
	})
	if i == 0 {
		return PresenceUnknown, nil
	}
	m := h[i-1].m
	return presenceOf(m.Direction), &m
}

// judge returns the instant a window's absentees are judged: Start+Grace, but no later
// than its End.
func (e *Engine) judge(w Window) time.Time {
	j := w.Start.Add(e.grace)
	if j.After(w.End) {
		return w.End
	}
	return j
}

// eachWindow calls f for each window of s that may be judged or in force from a to b, in
// no particular order. f must not modify the window.
func (e *Engine) eachWindow(s *segment, a, b time.Time, f func(w *Window)) {
	loc := s.p.Schedule.loc()
	for d, to := DateOf(a.Add(-e.grace), loc).AddDays(-2), DateOf(b, loc); !d.After(to); d = d.AddDays(1) {
		ws := s.windowsOn(d)
		for i := range ws {
			f(&ws[i])
		}
	}
}

// windowsOn returns the windows of s whose nominal start date is d, from the cache.
func (s *segment) windowsOn(d Date) []Window {
	ws, ok := s.windows[d]
	if !ok {
		ws = s.p.Schedule.Windows(d, d)
		s.windows[d] = ws
	}
	return ws
}

// at returns the windows of s in force at t, as [Schedule.At] does.
func (s *segment) at(t time.Time) []Window {
	var out []Window
	d := DateOf(t, s.p.Schedule.loc())
	for k := -2; k <= 0; k++ {
		for _, w := range s.windowsOn(d.AddDays(k)) {
			if w.Contains(t) {
				out = append(out, w)
			}
		}
	}
	slices.SortFunc(out, compareWindows)
	return out
}

// segmentAt returns the roster entry of crn in force at t.
func (e *Engine) segmentAt(crn string, t time.Time) (*segment, bool) {
	for _, s := range e.segs[crn] {
		if s.contains(t) {
			return s, true
		}
	}
	return nil, false
}

// floor returns the time before which nothing is decided any more: decisions older than
// that are settled, and a movement reported later than that only updates presence.
func (e *Engine) floor() time.Time {
	f := e.epoch
	if !e.clock.IsZero() {
		if c := e.clock.Add(-e.retain()); c.After(f) {
			f = c
		}
	}
	return f
}

// advance returns the decisions due up to upTo not yet returned, marks them returned,
// and prunes what is settled.
func (e *Engine) advance(upTo time.Time) []Decision {
	if !e.started {
		return nil
	}
	ds := e.pending(upTo)
	for _, d := range ds {
		e.done[d.Key] = d.At
	}
	if !upTo.Before(e.clock) {
		e.clock = upTo
		e.dirty = time.Time{}
	}
	e.prune()
	return ds
}

// pending returns the decisions due up to upTo not yet returned, in order.
func (e *Engine) pending(upTo time.Time) []Decision {
	if !e.started {
		return nil
	}
	lo := e.clock
	if !e.dirty.IsZero() && e.dirty.Before(lo) {
		lo = e.dirty
	}
	lo = maxTime(lo, e.floor())
	if upTo.Before(lo) {
		return nil
	}
	var ds []Decision
	for crn, ss := range e.segs {
		for _, s := range ss {
			a, b := maxTime(lo, s.start()), upTo
			if !s.until.IsZero() && !s.until.After(a) || b.Before(a) {
				continue
			}
			ds = e.personDecisions(ds, crn, s, a, b)
		}
	}
	ds = e.rolls(ds, lo, upTo)

	slices.SortFunc(ds, func(x, y Decision) int {
		return cmp.Or(x.At.Compare(y.At), strings.Compare(x.Key, y.Key))
	})
	out := ds[:0]
	seen := make(map[string]bool)
	for _, d := range ds {
		if _, done := e.done[d.Key]; done || seen[d.Key] {
			continue
		}
		seen[d.Key] = true
		out = append(out, d)
	}
	return out
}

// personDecisions appends the decisions about one person's roster entry s due from a to b
// (inclusive; the entry's own end excluded): absences at the judging of each window,
// then, for each of their movements, whether it contradicts the one before, breaches a
// window or is a late return.
func (e *Engine) personDecisions(ds []Decision, crn string, s *segment, a, b time.Time) []Decision {
	in := func(t time.Time) bool { return !t.Before(a) && !t.After(b) && s.contains(t) }
	ds = e.absenceDecisions(ds, crn, s, a, b, in)
	for i, x := range e.hist[crn] {
		if in(x.m.At) {
			ds = e.movementDecisions(ds, crn, s, i)
		}
	}
	return ds
}

// absenceDecisions appends an absent decision for each window of s from a to b that is
// judged (at its start plus grace) while in holds and finds the person out.
func (e *Engine) absenceDecisions(ds []Decision, crn string, s *segment, a, b time.Time, in func(time.Time) bool) []Decision {
	e.eachWindow(s, a, b, func(wp *Window) {
		j := e.judge(*wp)
		if !in(j) {
			return
		}
		absent, pres, last := e.absentAt(crn, *wp, j)
		if !absent {
			return
		}
		w := *wp
		detail := map[string]any{
			"presence":     string(pres),
			"lastSeen":     movementDetail(last, e.loc),
			"graceMinutes": int(e.grace / time.Minute),
			"window":       windowDetail(w),
		}
		ds = append(ds, e.decision(TypeAbsent, s.p, w, j, detail))
	})
	return ds
}

// movementDecisions appends the decisions about the person's i-th movement in history,
// made while on roster entry s: an inconsistent decision if it contradicts the one
// before, then a breach for an exit during a window or a late return for an entry.
func (e *Engine) movementDecisions(ds []Decision, crn string, s *segment, i int) []Decision {
	x := e.hist[crn][i]
	m := x.m
	before := PresenceUnknown
	var prev *Movement
	if i > 0 {
		p := e.hist[crn][i-1].m
		prev = &p
		before = presenceOf(p.Direction)
	}
	if i == 0 && x.inconsistent {
		// The movement it contradicted has been pruned; it was of the same direction.
		before = presenceOf(m.Direction)
	}
	mv := movementDetail(&m, e.loc)
	if x.inconsistent {
		ds = append(ds, e.inconsistentDecision(crn, s, m, prev, before, mv))
	}
	ws := s.at(m.At)
	switch m.Direction {
	case DirectionExit:
		if len(ws) > 0 {
			ds = append(ds, e.breachDecision(s, m, ws, before, mv))
		}
	case DirectionEntry:
		ds = e.lateReturnDecisions(ds, crn, s, m, ws, before, mv)
	}
	return ds
}

// inconsistentDecision is the decision that movement m, with presence before it before
// and detail mv, repeats the direction of prev, the movement before it (nil if pruned).
func (e *Engine) inconsistentDecision(crn string, s *segment, m Movement, prev *Movement, before Presence, mv any) Decision {
	reason := "exit while already out"
	if m.Direction == DirectionEntry {
		reason = "entry while already in"
	}
	return Decision{
		Type: TypeInconsistent,
		Key:  TypeInconsistent + "/" + crn + "/" + movementID(m),
		At:   m.At, CRN: crn, NOMS: s.p.NOMS,
		Detail: map[string]any{
			"presence": string(before),
			"movement": mv,
			"previous": movementDetail(prev, e.loc),
			"reason":   reason,
		},
	}
}

// breachDecision is the decision that exit m, with presence before it before and
// detail mv, breached ws[0], the earliest of the windows ws (not empty) in force then;
// the detail lists them all when there are more.
func (e *Engine) breachDecision(s *segment, m Movement, ws []Window, before Presence, mv any) Decision {
	w := ws[0]
	detail := map[string]any{
		"presence": string(before),
		"movement": mv,
		"window":   windowDetail(w),
	}
	if len(ws) > 1 {
		all := make([]map[string]any, len(ws))
		for k, w := range ws {
			all[k] = windowDetail(w)
		}
		detail["windows"] = all
	}
	d := e.decision(TypeBreached, s.p, w, m.At, detail)
	d.Key += "/" + movementID(m)
	return d
}

// lateReturnDecisions appends a returned-late decision for each window of ws (those in
// force at entry m) that m comes after the judging of and whose absent decision was
// issued.
func (e *Engine) lateReturnDecisions(ds []Decision, crn string, s *segment, m Movement, ws []Window, before Presence, mv any) []Decision {
	for _, w := range ws {
		j := e.judge(w)
		if !j.Before(m.At) {
			continue // in by Start+Grace: not absent
		}
		absentKey := e.key(TypeAbsent, crn, w)
		if !e.absentIssued(crn, w, j, absentKey) {
			continue
		}
		detail := map[string]any{
			"presence":    string(before),
			"movement":    mv,
			"minutesLate": int(m.At.Sub(w.Start) / time.Minute),
			"absentKey":   absentKey,
			"window":      windowDetail(w),
		}
		ds = append(ds, e.decision(TypeReturnedLate, s.p, w, m.At, detail))
	}
	return ds
}

// absentIssued reports whether curfew.absent for window w of crn, judged at j, was or is
// being returned: it is marked done, or it is due at or after the epoch with the person
// on the roster and not in.
func (e *Engine) absentIssued(crn string, w Window, j time.Time, key string) bool {
	if _, ok := e.done[key]; ok {
		return true
	}
	if j.Before(e.floor()) {
		return false
	}
	s, ok := e.segmentAt(crn, j)
	if !ok || j.Before(s.start()) {
		return false
	}
	absent, _, _ := e.absentAt(crn, w, j)
	return absent
}

// absentAt reports whether crn is absent for window w, judged at j: not in at j, unless
// they were out because they left during the window (that is a breach, not an absence).
// It returns the presence at j and the last movement before it.
func (e *Engine) absentAt(crn string, w Window, j time.Time) (bool, Presence, *Movement) {
	pres, last := e.presenceAt(crn, j)
	if pres == PresenceIn || pres == PresenceOut && !last.At.Before(w.Start) {
		return false, pres, last
	}
	return true, pres, last
}

// rolls appends the nightly rolls due from lo to hi.
func (e *Engine) rolls(ds []Decision, lo, hi time.Time) []Decision {
	ap := APStandard()
	for d := DateOf(lo, e.loc).AddDays(-1); !d.After(DateOf(hi, e.loc)); d = d.AddDays(1) {
		start, end := ap.nominal(d, e.loc)
		if start.Before(lo) || start.After(hi) {
			continue
		}
		w := Window{Rule: ap, Date: d, Start: start, End: end, NominalStart: start, NominalEnd: end, Piece: 1, Loc: e.loc}
		lists := map[Presence][]string{PresenceIn: {}, PresenceOut: {}, PresenceUnknown: {}}
		excused := []string{}
		for crn := range e.segs {
			s, ok := e.segmentAt(crn, start)
			if !ok || start.Before(s.start()) {
				continue
			}
			pres, _ := e.presenceAt(crn, start)
			lists[pres] = append(lists[pres], crn)
			if e.excused(s.p.Schedule, start) {
				excused = append(excused, crn)
			}
		}
		for _, l := range lists {
			slices.Sort(l)
		}
		slices.Sort(excused)
		ds = append(ds, Decision{
			Type: TypeRoll, Key: TypeRoll + "/" + RollCRN + "/" + w.Key(), At: start, Window: &w,
			Detail: map[string]any{
				"in":                lists[PresenceIn],
				"out":               lists[PresenceOut],
				"unknown":           lists[PresenceUnknown],
				"onApprovedAbsence": excused,
				"window":            windowDetail(w),
			},
		})
	}
	return ds
}

// excused reports whether an approved absence in s covers t.
func (e *Engine) excused(s Schedule, t time.Time) bool {
	for _, a := range s.Absences {
		if !t.Before(a.From) && t.Before(a.To) {
			return true
		}
	}
	return false
}

// key returns the key of a decision of type typ about crn for window w.
func (e *Engine) key(typ, crn string, w Window) string {
	return typ + "/" + crn + "/" + w.Key()
}

// decision builds a window decision about p.
func (e *Engine) decision(typ string, p Person, w Window, at time.Time, detail map[string]any) Decision {
	w.SuspendedBy = slices.Clone(w.SuspendedBy)
	w.Rule.Weekdays = slices.Clone(w.Rule.Weekdays)
	return Decision{Type: typ, Key: e.key(typ, p.CRN, w), At: at, CRN: p.CRN, NOMS: p.NOMS, Window: &w, Detail: detail}
}

// movementID names a movement in keys: its Ref, or its time when it has none.
func movementID(m Movement) string {
	if m.Ref != "" {
		return m.Ref
	}
	return "at-" + m.At.UTC().Format("20060102T150405.000000000Z")
}

// prune forgets what can no longer affect a decision. It does so at most once an hour of
// engine time.
func (e *Engine) prune() {
	f := e.floor()
	if f.Before(e.pruned.Add(time.Hour)) {
		return
	}
	e.pruned = f
	for crn, ss := range e.segs {
		keep := ss[:0]
		for _, s := range ss {
			if s.until.IsZero() || !s.until.Before(f) {
				keep = append(keep, s)
				old := DateOf(f.Add(-e.grace), s.p.Schedule.loc()).AddDays(-3)
				for d := range s.windows {
					if d.Before(old) {
						delete(s.windows, d)
					}
				}
			}
		}
		clear(ss[len(keep):])
		if len(keep) == 0 {
			delete(e.segs, crn)
		} else {
			e.segs[crn] = keep
		}
	}
	for crn, h := range e.hist {
		// Keep the last movement at or before f (it gives presence at f) and all after.
		i := 0
		for i+1 < len(h) && !h[i+1].m.At.After(f) {
			i++
		}
		h = h[i:]
		if _, onRoster := e.segs[crn]; !onRoster && len(h) > 0 && h[len(h)-1].m.At.Before(f) {
			delete(e.hist, crn)
			continue
		}
		e.hist[crn] = h
	}
	// A key is needed while a decision could be derived again: keep twice the history.
	old := f.Add(-e.retain())
	for k, at := range e.done {
		if at.IsZero() {
			at = e.epoch
		}
		if at.Before(old) {
			delete(e.done, k)
		}
	}
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

const layoutUTC = time.RFC3339Nano

// movementDetail describes m for a decision's detail (untyped nil if m is nil).
func movementDetail(m *Movement, loc *time.Location) any {
	if m == nil {
		return nil
	}
	return map[string]any{
		"at":        m.At.UTC().Format(layoutUTC),
		"atLocal":   m.At.In(loc).Format(time.RFC3339),
		"direction": m.Direction,
		"ref":       m.Ref,
	}
}

// windowDetail describes w for a decision's detail.
func windowDetail(w Window) map[string]any {
	d := map[string]any{
		"key":         w.Key(),
		"ruleId":      w.Rule.ID,
		"source":      w.Rule.Source,
		"description": w.Rule.Description,
		"date":        w.Date.String(),
		"start":       w.Start.UTC().Format(time.RFC3339),
		"end":         w.End.UTC().Format(time.RFC3339),
		"startLocal":  w.StartLocal().Format(time.RFC3339),
		"endLocal":    w.EndLocal().Format(time.RFC3339),
	}
	if w.Suspended() {
		d["suspendedBy"] = slices.Clone(w.SuspendedBy)
		d["nominalStart"] = w.NominalStart.UTC().Format(time.RFC3339)
		d["nominalEnd"] = w.NominalEnd.UTC().Format(time.RFC3339)
	}
	return d
}
