package curfew

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// licence1 is a licence curfew 19:00-07:00 every night.
func licence1() Rule {
	return Rule{ID: "licence-1", Source: SourceLicence, Description: "licence condition 7: curfew 19:00-07:00",
		Start: TimeOfDay{19, 0}, End: TimeOfDay{7, 0}}
}

func TestRuleValidate(t *testing.T) {
	if err := APStandard().Validate(); err != nil {
		t.Errorf("APStandard: %v", err)
	}
	if err := licence1().Validate(); err != nil {
		t.Errorf("licence1: %v", err)
	}
	tests := []struct {
		name string
		edit func(*Rule)
		msg  string
	}{
		{"empty id", func(r *Rule) { r.ID = "" }, "empty id"},
		{"slash in id", func(r *Rule) { r.ID = "a/b" }, "'/'"},
		{"unknown source", func(r *Rule) { r.Source = "court" }, `unknown source "court"`},
		{"bad start hour", func(r *Rule) { r.Start = TimeOfDay{24, 0} }, "start: hour 24"},
		{"bad end minute", func(r *Rule) { r.End = TimeOfDay{6, 60} }, "end: minute 60"},
		{"negative time", func(r *Rule) { r.Start = TimeOfDay{-1, 0} }, "start: hour -1"},
		{"start equals end", func(r *Rule) { r.End = r.Start }, "start and end are both 19:00"},
		{"duplicate weekday", func(r *Rule) { r.Weekdays = []time.Weekday{time.Monday, time.Friday, time.Monday} }, "duplicate weekday Monday"},
		{"bad weekday", func(r *Rule) { r.Weekdays = []time.Weekday{7} }, "weekday 7 out of range"},
		{"bad from", func(r *Rule) { r.From = Date{2026, 2, 30} }, "from: day 30"},
		{"bad until", func(r *Rule) { r.Until = Date{2026, 13, 1} }, "until: month 13"},
		{"from after until", func(r *Rule) { r.From, r.Until = MustParseDate("2026-05-02"), MustParseDate("2026-05-01") }, "from 2026-05-02 is after until 2026-05-01"},
	}
	for _, tt := range tests {
		r := licence1()
		tt.edit(&r)
		err := r.Validate()
		if !errors.Is(err, ErrInvalidRule) || !strings.Contains(err.Error(), tt.msg) || !strings.HasPrefix(err.Error(), "curfew: invalid rule ") {
			t.Errorf("%s: Validate() = %v, want ErrInvalidRule mentioning %q", tt.name, err, tt.msg)
		}
	}
	// A one-day rule (From == Until) is fine.
	r := licence1()
	r.From, r.Until = MustParseDate("2026-05-01"), MustParseDate("2026-05-01")
	if err := r.Validate(); err != nil {
		t.Error(err)
	}
}

func TestScheduleValidate(t *testing.T) {
	abs := Absence{ID: "abs-1", From: utc(2026, 5, 1, 20, 0), To: utc(2026, 5, 2, 9, 0), ApprovedBy: "staff-42", Reason: "hospital"}
	ok := Schedule{Rules: []Rule{APStandard(), licence1()}, Absences: []Absence{abs}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name string
		s    Schedule
		want error
	}{
		{"duplicate rule", Schedule{Rules: []Rule{APStandard(), APStandard()}}, ErrInvalidRule},
		{"invalid rule", Schedule{Rules: []Rule{{ID: "x", Source: SourceLicence}}}, ErrInvalidRule},
		{"duplicate absence", Schedule{Absences: []Absence{abs, abs}}, ErrInvalidAbsence},
		{"no approver", Schedule{Absences: []Absence{{ID: "a", From: abs.From, To: abs.To}}}, ErrInvalidAbsence},
		{"empty span", Schedule{Absences: []Absence{{ID: "a", From: abs.From, To: abs.From, ApprovedBy: "s"}}}, ErrInvalidAbsence},
		{"reversed", Schedule{Absences: []Absence{{ID: "a", From: abs.To, To: abs.From, ApprovedBy: "s"}}}, ErrInvalidAbsence},
		{"unset", Schedule{Absences: []Absence{{ID: "a", To: abs.To, ApprovedBy: "s"}}}, ErrInvalidAbsence},
		{"no id", Schedule{Absences: []Absence{{From: abs.From, To: abs.To, ApprovedBy: "s"}}}, ErrInvalidAbsence},
	}
	for _, tt := range bad {
		if err := tt.s.Validate(); !errors.Is(err, tt.want) {
			t.Errorf("%s: Validate() = %v, want %v", tt.name, err, tt.want)
		}
	}
}

// TestWindowsCrossMidnight: overnight windows end on the next date, same-day ones do not,
// and a window starting just before midnight belongs to the date it starts on.
func TestWindowsCrossMidnight(t *testing.T) {
	late := Rule{ID: "late", Source: SourceLicence, Start: TimeOfDay{23, 59}, End: TimeOfDay{0, 1}}
	early := Rule{ID: "early", Source: SourceLicence, Start: TimeOfDay{0, 0}, End: TimeOfDay{0, 30}}
	d := MustParseDate("2026-12-31")
	ws := Schedule{Rules: []Rule{late, early}}.Windows(d, d)
	if len(ws) != 2 {
		t.Fatalf("windows = %v", ws)
	}
	// early starts at 00:00 on the 31st, before late at 23:59.
	if ws[0].Rule.ID != "early" || !ws[0].Start.Equal(utc(2026, 12, 31, 0, 0)) || !ws[0].End.Equal(utc(2026, 12, 31, 0, 30)) {
		t.Errorf("early = %v", ws[0])
	}
	if ws[1].Rule.ID != "late" || !ws[1].Start.Equal(utc(2026, 12, 31, 23, 59)) || !ws[1].End.Equal(utc(2027, 1, 1, 0, 1)) || ws[1].Duration() != 2*time.Minute {
		t.Errorf("late = %v", ws[1])
	}
	if ws[1].Date != d || DateOf(ws[1].End, nil) != MustParseDate("2027-01-01") {
		t.Errorf("late dates: %s, ends %s", ws[1].Date, DateOf(ws[1].End, nil))
	}
}

// TestOverlappingRules: the AP standard and a 19:00-07:00 licence curfew are both returned,
// each with its own source, and both are in force in the small hours.
func TestOverlappingRules(t *testing.T) {
	s := Schedule{Rules: []Rule{APStandard(), licence1()}}
	d := MustParseDate("2026-06-10")
	ws := s.Windows(d, d)
	if len(ws) != 2 {
		t.Fatalf("windows = %v", ws)
	}
	lic, ap := ws[0], ws[1] // ordered by start: 19:00 before 23:00
	if lic.Rule.ID != "licence-1" || lic.Rule.Source != SourceLicence || lic.StartLocal().Format("15:04") != "19:00" || lic.EndLocal().Format("15:04") != "07:00" {
		t.Errorf("licence window = %v (%s)", lic, lic.Rule.Source)
	}
	if ap.Rule.ID != "ap-standard" || ap.Rule.Source != SourceAPRule || ap.Rule.Description != "AP rules: in the building 23:00-06:00" {
		t.Errorf("AP window = %v (%s)", ap, ap.Rule.Source)
	}
	at := s.At(utc(2026, 6, 11, 2, 0)) // 03:00 BST
	if len(at) != 2 || at[0].Rule.ID != "licence-1" || at[1].Rule.ID != "ap-standard" {
		t.Errorf("At 03:00 = %v", at)
	}
	at = s.At(utc(2026, 6, 10, 20, 0)) // 21:00 BST: licence only
	if len(at) != 1 || at[0].Rule.ID != "licence-1" {
		t.Errorf("At 21:00 = %v", at)
	}
	at = s.At(utc(2026, 6, 11, 5, 30)) // 06:30 BST: licence only
	if len(at) != 1 || at[0].Rule.ID != "licence-1" {
		t.Errorf("At 06:30 = %v", at)
	}
	// Equal starts order by rule ID.
	twin := APStandard()
	twin.ID, twin.Source = "a-licence", SourceLicence
	ws = Schedule{Rules: []Rule{APStandard(), twin}}.Windows(d, d)
	if len(ws) != 2 || ws[0].Rule.ID != "a-licence" || ws[1].Rule.ID != "ap-standard" {
		t.Errorf("tie order = %v", ws)
	}
}

// nightStart and nightEnd bound the AP standard window of 2026-06-10 (BST): 22:00Z to 05:00Z.
var (
	nightStart = utc(2026, 6, 10, 22, 0)
	nightEnd   = utc(2026, 6, 11, 5, 0)
)

func absence(id string, from, to time.Time) Absence {
	return Absence{ID: id, From: from, To: to, ApprovedBy: "staff-7", Reason: "test"}
}

type piece struct {
	key        string
	start, end time.Time
}

func TestAbsences(t *testing.T) {
	d := MustParseDate("2026-06-10")
	key := "ap-standard/2026-06-10"
	tests := []struct {
		name     string
		absences []Absence
		want     []piece
		by       []string
	}{
		{"none", nil, []piece{{key, nightStart, nightEnd}}, nil},
		{"whole window", []Absence{absence("h", nightStart.Add(-time.Hour), nightEnd.Add(time.Hour))}, nil, nil},
		{"exactly the window", []Absence{absence("h", nightStart, nightEnd)}, nil, nil},
		{"covers start", []Absence{absence("a", nightStart.Add(-time.Hour), nightStart.Add(2*time.Hour))},
			[]piece{{key, nightStart.Add(2 * time.Hour), nightEnd}}, []string{"a"}},
		{"covers end", []Absence{absence("a", nightEnd.Add(-time.Hour), nightEnd.Add(time.Hour))},
			[]piece{{key, nightStart, nightEnd.Add(-time.Hour)}}, []string{"a"}},
		{"inside", []Absence{absence("a", nightStart.Add(time.Hour), nightStart.Add(3*time.Hour))},
			[]piece{{key, nightStart, nightStart.Add(time.Hour)}, {key + "#2", nightStart.Add(3 * time.Hour), nightEnd}}, []string{"a"}},
		{"two inside", []Absence{
			absence("b", nightStart.Add(4*time.Hour), nightStart.Add(5*time.Hour)),
			absence("a", nightStart.Add(time.Hour), nightStart.Add(2*time.Hour))},
			[]piece{{key, nightStart, nightStart.Add(time.Hour)},
				{key + "#2", nightStart.Add(2 * time.Hour), nightStart.Add(4 * time.Hour)},
				{key + "#3", nightStart.Add(5 * time.Hour), nightEnd}}, []string{"a", "b"}},
		{"overlapping absences", []Absence{
			absence("a", nightStart.Add(time.Hour), nightStart.Add(3*time.Hour)),
			absence("b", nightStart.Add(2*time.Hour), nightStart.Add(4*time.Hour))},
			[]piece{{key, nightStart, nightStart.Add(time.Hour)}, {key + "#2", nightStart.Add(4 * time.Hour), nightEnd}}, []string{"a", "b"}},
		{"touching end before start", []Absence{absence("a", nightStart.Add(-time.Hour), nightStart)},
			[]piece{{key, nightStart, nightEnd}}, nil},
		{"touching start at end", []Absence{absence("a", nightEnd, nightEnd.Add(time.Hour))},
			[]piece{{key, nightStart, nightEnd}}, nil},
		{"one minute in at start", []Absence{absence("a", nightStart.Add(-time.Hour), nightStart.Add(time.Minute))},
			[]piece{{key, nightStart.Add(time.Minute), nightEnd}}, []string{"a"}},
		{"empty absence ignored", []Absence{absence("a", nightStart.Add(time.Hour), nightStart.Add(time.Hour))},
			[]piece{{key, nightStart, nightEnd}}, nil},
		{"local-zone instants", []Absence{absence("a", nightStart.Add(time.Hour).In(London()), nightStart.Add(2*time.Hour).In(time.FixedZone("X", 5*3600)))},
			[]piece{{key, nightStart, nightStart.Add(time.Hour)}, {key + "#2", nightStart.Add(2 * time.Hour), nightEnd}}, []string{"a"}},
	}
	for _, tt := range tests {
		s := Schedule{Rules: []Rule{APStandard()}, Absences: tt.absences}
		ws := s.Windows(d, d)
		var got []piece
		for _, w := range ws {
			got = append(got, piece{w.Key(), w.Start, w.End})
			if !w.NominalStart.Equal(nightStart) || !w.NominalEnd.Equal(nightEnd) {
				t.Errorf("%s: %s nominal %s - %s", tt.name, w.Key(), w.NominalStart, w.NominalEnd)
			}
			if !slices.Equal(w.SuspendedBy, tt.by) {
				t.Errorf("%s: %s SuspendedBy = %v, want %v", tt.name, w.Key(), w.SuspendedBy, tt.by)
			}
			if w.Start.Location() != time.UTC || w.End.Location() != time.UTC {
				t.Errorf("%s: %s not in UTC", tt.name, w.Key())
			}
		}
		if !slices.EqualFunc(got, tt.want, func(a, b piece) bool { return a.key == b.key && a.start.Equal(b.start) && a.end.Equal(b.end) }) {
			t.Errorf("%s:\n got %v\nwant %v", tt.name, got, tt.want)
		}
	}
}

// TestAbsenceSeveralNights: a hospital stay from Monday evening to Thursday noon removes
// the nights in between, shortens none, and leaves the nights either side whole.
func TestAbsenceSeveralNights(t *testing.T) {
	stay := Absence{ID: "hosp-1", From: utc(2026, 6, 8, 17, 0), To: utc(2026, 6, 11, 11, 0), ApprovedBy: "AP manager J. Smith", Reason: "hospital admission"}
	s := Schedule{Rules: []Rule{APStandard(), licence1()}, Absences: []Absence{stay}}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	ws := s.Windows(MustParseDate("2026-06-07"), MustParseDate("2026-06-11"))
	var keys []string
	for _, w := range ws {
		keys = append(keys, w.Key())
		if w.Suspended() {
			t.Errorf("%s is in force yet marked suspended by %v", w.Key(), w.SuspendedBy)
		}
	}
	want := []string{"licence-1/2026-06-07", "ap-standard/2026-06-07", "licence-1/2026-06-11", "ap-standard/2026-06-11"}
	if !slices.Equal(keys, want) {
		t.Errorf("keys = %v, want %v", keys, want)
	}
	// An absence ending mid-window leaves the rest of it, marked.
	stay.To = utc(2026, 6, 11, 3, 0) // 04:00 BST on Thursday morning
	s.Absences = []Absence{stay}
	ws = s.Windows(MustParseDate("2026-06-10"), MustParseDate("2026-06-10"))
	if len(ws) != 2 {
		t.Fatalf("windows = %v", ws)
	}
	for _, w := range ws {
		if !w.Start.Equal(stay.To) || !slices.Equal(w.SuspendedBy, []string{"hosp-1"}) {
			t.Errorf("%s: starts %s, suspended by %v", w.Key(), w.Start, w.SuspendedBy)
		}
	}
}

func TestAtBoundaries(t *testing.T) {
	s := Schedule{Rules: []Rule{APStandard()}}
	step := sec
	tests := []struct {
		at   time.Time
		want string // key, or "" for none
	}{
		{nightStart.Add(-step), ""},
		{nightStart, "ap-standard/2026-06-10"}, // start is inclusive
		{nightStart.Add(3 * time.Hour), "ap-standard/2026-06-10"},
		{nightEnd.Add(-step), "ap-standard/2026-06-10"},
		{nightEnd, ""}, // end is exclusive
		{utc(2026, 6, 11, 12, 0), ""},
		// The spring-forward night: 23:00 GMT to 06:00 BST.
		{utc(2026, 3, 28, 23, 0), "ap-standard/2026-03-28"},
		{utc(2026, 3, 29, 1, 0), "ap-standard/2026-03-28"},
		{utc(2026, 3, 29, 4, 59), "ap-standard/2026-03-28"},
		{utc(2026, 3, 29, 5, 0), ""},
		// The fall-back night: 23:00 BST to 06:00 GMT.
		{utc(2026, 10, 24, 21, 59), ""},
		{utc(2026, 10, 24, 22, 0), "ap-standard/2026-10-24"},
		{utc(2026, 10, 25, 5, 59), "ap-standard/2026-10-24"},
		{utc(2026, 10, 25, 6, 0), ""},
	}
	for _, tt := range tests {
		var keys []string
		for _, w := range s.At(tt.at) {
			keys = append(keys, w.Key())
			if !w.Contains(tt.at) {
				t.Errorf("At(%s) returned %s which does not contain it", tt.at, w.Key())
			}
		}
		var want []string
		if tt.want != "" {
			want = []string{tt.want}
		}
		if !slices.Equal(keys, want) {
			t.Errorf("At(%s) = %v, want %v", tt.at, keys, want)
		}
	}
	// In a split window, the gap is not in force and each piece is.
	s.Absences = []Absence{absence("a", nightStart.Add(time.Hour), nightStart.Add(2*time.Hour))}
	if got := s.At(nightStart.Add(time.Hour)); len(got) != 0 {
		t.Errorf("At(absence start) = %v", got)
	}
	if got := s.At(nightStart.Add(2 * time.Hour)); len(got) != 1 || got[0].Key() != "ap-standard/2026-06-10#2" {
		t.Errorf("At(absence end) = %v", got)
	}
}

// sec is a short name for time.Second in the tables.
const sec = time.Second

func TestNext(t *testing.T) {
	s := Schedule{Rules: []Rule{APStandard(), licence1()}}
	tests := []struct {
		after time.Time
		want  string
		start time.Time
	}{
		{utc(2026, 6, 10, 12, 0), "licence-1/2026-06-10", utc(2026, 6, 10, 18, 0)},
		{utc(2026, 6, 10, 18, 0), "licence-1/2026-06-10", utc(2026, 6, 10, 18, 0)}, // at the start: inclusive
		{utc(2026, 6, 10, 18, 0).Add(sec), "ap-standard/2026-06-10", nightStart},
		{nightStart, "ap-standard/2026-06-10", nightStart},
		{nightStart.Add(sec), "licence-1/2026-06-11", utc(2026, 6, 11, 18, 0)}, // in force now: not next
		{utc(2026, 12, 31, 23, 30), "licence-1/2027-01-01", utc(2027, 1, 1, 19, 0)},
	}
	for _, tt := range tests {
		w, ok := s.Next(tt.after)
		if !ok || w.Key() != tt.want || !w.Start.Equal(tt.start) {
			t.Errorf("Next(%s) = %s %s %v, want %s %s", tt.after, w.Key(), w.Start, ok, tt.want, tt.start)
		}
	}

	// The second piece of a split window is found, even when it starts after midnight.
	s = Schedule{Rules: []Rule{APStandard()}, Absences: []Absence{absence("a", nightStart.Add(time.Hour), nightStart.Add(5*time.Hour))}}
	if w, ok := s.Next(nightStart.Add(sec)); !ok || w.Key() != "ap-standard/2026-06-10#2" || !w.Start.Equal(nightStart.Add(5*time.Hour)) {
		t.Errorf("Next after split = %s %v", w, ok)
	}

	// A piece carried past the end of Next's first scan chunk must still compete with the
	// next chunk's windows: rule z's window of 2026-01-05 (12:00 to 11:00 the next day)
	// and rule b's of the 6th (10:30-10:45) are both suspended until 10:40 on the 6th, so
	// both start then and the tie goes to the smaller rule ID.
	z := Rule{ID: "z", Source: SourceLicence, Start: TimeOfDay{12, 0}, End: TimeOfDay{11, 0},
		From: MustParseDate("2026-01-05"), Until: MustParseDate("2026-01-05")}
	b := Rule{ID: "b", Source: SourceLicence, Start: TimeOfDay{10, 30}, End: TimeOfDay{10, 45}, From: MustParseDate("2026-01-06")}
	s = Schedule{Rules: []Rule{z, b}, Absences: []Absence{absence("x", utc(2026, 1, 5, 11, 0), utc(2026, 1, 6, 10, 40))}}
	if w, ok := s.Next(utc(2026, 1, 1, 11, 0)); !ok || w.Key() != "b/2026-01-06" || !w.Start.Equal(utc(2026, 1, 6, 10, 40)) {
		t.Errorf("Next across chunks = %s %v, want b/2026-01-06 from 10:40", w, ok)
	}
	s.Absences[0].To = utc(2026, 1, 6, 10, 20)
	if w, ok := s.Next(utc(2026, 1, 1, 11, 0)); !ok || w.Key() != "z/2026-01-05" || !w.Start.Equal(utc(2026, 1, 6, 10, 20)) {
		t.Errorf("Next across chunks = %s %v, want z/2026-01-05 from 10:20", w, ok)
	}

	// Rules with an end: nothing after it; rules not yet started: their first window.
	bounded := licence1()
	bounded.From, bounded.Until = MustParseDate("2030-02-01"), MustParseDate("2030-02-03")
	s = Schedule{Rules: []Rule{bounded}}
	if w, ok := s.Next(utc(2026, 6, 1, 0, 0)); !ok || w.Key() != "licence-1/2030-02-01" {
		t.Errorf("Next before From = %s %v", w, ok)
	}
	if w, ok := s.Next(utc(2030, 2, 3, 19, 0).Add(sec)); ok {
		t.Errorf("Next after Until = %s, want none", w)
	}
	if _, ok := (Schedule{}).Next(utc(2026, 1, 1, 0, 0)); ok {
		t.Error("Next with no rules found a window")
	}

	// An absence for decades is skipped quickly; it ends at midnight, inside a window.
	s = Schedule{Rules: []Rule{APStandard()}, Absences: []Absence{absence("long", utc(2026, 1, 1, 0, 0), utc(2090, 1, 1, 0, 0))}}
	if w, ok := s.Next(utc(2026, 1, 1, 0, 0)); !ok || w.Key() != "ap-standard/2089-12-31" || !w.Start.Equal(utc(2090, 1, 1, 0, 0)) {
		t.Errorf("Next after a long absence = %s %v", w, ok)
	}
	// An absence that never ends within the rule's life: none.
	s.Rules[0].Until = MustParseDate("2080-01-01")
	if w, ok := s.Next(utc(2026, 1, 1, 0, 0)); ok {
		t.Errorf("Next inside a permanent absence = %s, want none", w)
	}
}

// TestNextAgreesWithWindows checks Next against a linear search of Windows at many
// instants around the clock changes and an awkward set of absences.
func TestNextAgreesWithWindows(t *testing.T) {
	weekend := licence1()
	weekend.ID, weekend.Weekdays = "licence-weekend", []time.Weekday{time.Saturday, time.Sunday}
	s := Schedule{
		Rules: []Rule{APStandard(), weekend, {ID: "day", Source: SourceLicence, Start: TimeOfDay{10, 0}, End: TimeOfDay{12, 0}, Weekdays: []time.Weekday{time.Monday}}},
		Absences: []Absence{
			absence("x", utc(2026, 3, 28, 20, 0), utc(2026, 3, 29, 2, 0)),
			absence("y", utc(2026, 10, 20, 0, 0), utc(2026, 10, 24, 23, 30)),
		},
	}
	all := s.Windows(MustParseDate("2026-03-01"), MustParseDate("2026-12-31"))
	for at := utc(2026, 3, 20, 0, 0); at.Before(utc(2026, 11, 30, 0, 0)); at = at.Add(97 * time.Minute) {
		i := slices.IndexFunc(all, func(w Window) bool { return !w.Start.Before(at) })
		got, ok := s.Next(at)
		if !ok || i < 0 || got.Key() != all[i].Key() || !got.Start.Equal(all[i].Start) {
			t.Fatalf("Next(%s) = %s %v, want %s", at, got.Key(), ok, all[i].Key())
		}
	}
}
