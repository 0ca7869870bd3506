package curfew

import (
	"testing"
	"time"
)

// lastSunday finds the last Sunday of month m of year y by scanning back from the month's
// last day, independently of the package's own date arithmetic.
func lastSunday(y int, m time.Month) Date {
	for day := 31; ; day-- {
		t := time.Date(y, m, day, 12, 0, 0, 0, time.UTC)
		if t.Month() != m {
			continue
		}
		if t.Weekday() == time.Sunday {
			return Date{y, m, day}
		}
	}
}

func TestLastSunday(t *testing.T) {
	for _, tt := range []struct {
		y    int
		m    time.Month
		want string
	}{{2026, 3, "2026-03-29"}, {2026, 10, "2026-10-25"}, {2027, 3, "2027-03-28"}, {2027, 10, "2027-10-31"}} {
		if got := lastSunday(tt.y, tt.m); got.String() != tt.want {
			t.Errorf("lastSunday(%d, %s) = %s, want %s", tt.y, tt.m, got, tt.want)
		}
	}
}

// TestAPStandardWholeYears checks every AP standard window of 2026 and 2027.
func TestAPStandardWholeYears(t *testing.T) {
	loc := London()
	for _, year := range []int{2026, 2027} {
		springNight := lastSunday(year, time.March)
		springNight.Day-- // the Saturday night before
		autumnNight := lastSunday(year, time.October)
		autumnNight.Day--

		from, to := Date{year, time.January, 1}, Date{year, time.December, 31}
		ws := Schedule{Rules: []Rule{APStandard()}}.Windows(from, to)
		days := 365
		if got := len(ws); got != days {
			t.Fatalf("%d: %d windows, want %d", year, got, days)
		}
		var six, eight int
		for i, w := range ws {
			// Windows are contiguous in date, one per night.
			want := time.Date(year, time.January, 1+i, 12, 0, 0, 0, time.UTC)
			if w.Date != (Date{want.Year(), want.Month(), want.Day()}) {
				t.Fatalf("window %d: date %s, want %s", i, w.Date, want.Format(time.DateOnly))
			}
			next := time.Date(year, time.January, 2+i, 12, 0, 0, 0, time.UTC)

			sl, el := w.StartLocal(), w.EndLocal()
			if sl.Format("2006-01-02 15:04") != want.Format("2006-01-02")+" 23:00" {
				t.Errorf("%s: starts %s local", w.Key(), sl)
			}
			if el.Format("2006-01-02 15:04") != next.Format("2006-01-02")+" 06:00" {
				t.Errorf("%s: ends %s local", w.Key(), el)
			}
			if sl.Location() != loc || w.Start.Location() != time.UTC || w.End.Location() != time.UTC {
				t.Errorf("%s: locations %s %s %s", w.Key(), sl.Location(), w.Start.Location(), w.End.Location())
			}
			wantDur := 7 * time.Hour
			switch w.Date {
			case springNight:
				wantDur = 6 * time.Hour
				six++
			case autumnNight:
				wantDur = 8 * time.Hour
				eight++
			}
			if got := w.Duration(); got != wantDur {
				t.Errorf("%s: lasts %s, want %s", w.Key(), got, wantDur)
			}
			if w.Key() != "ap-standard/"+w.Date.String() || w.Suspended() || w.Start != w.NominalStart || w.End != w.NominalEnd {
				t.Errorf("%s: unexpected key, suspension or nominal bounds: %+v", w.Key(), w)
			}
			if i > 0 && !ws[i-1].End.Before(w.Start) {
				t.Errorf("%s overlaps the previous night", w.Key())
			}
		}
		if six != 1 || eight != 1 {
			t.Errorf("%d: %d six-hour and %d eight-hour nights, want 1 each", year, six, eight)
		}
	}
}

// TestEarlyMorningRuleAcrossChanges checks a 01:30-05:00 rule on the clock-change nights:
// it starts at the transition instant in March (01:30 does not exist) and at the first
// pass of 01:30 in October.
func TestEarlyMorningRuleAcrossChanges(t *testing.T) {
	r := Rule{ID: "licence-early", Source: SourceLicence, Start: TimeOfDay{1, 30}, End: TimeOfDay{5, 0}}
	s := Schedule{Rules: []Rule{r}}
	tests := []struct {
		date       string
		start, end time.Time
		dur        time.Duration
	}{
		{"2026-03-28", utc(2026, 3, 28, 1, 30), utc(2026, 3, 28, 5, 0), 3*time.Hour + 30*time.Minute},
		{"2026-03-29", utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 4, 0), 3 * time.Hour},
		{"2026-03-30", utc(2026, 3, 30, 0, 30), utc(2026, 3, 30, 4, 0), 3*time.Hour + 30*time.Minute},
		{"2026-10-25", utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 5, 0), 4*time.Hour + 30*time.Minute},
		{"2027-03-28", utc(2027, 3, 28, 1, 0), utc(2027, 3, 28, 4, 0), 3 * time.Hour},
		{"2027-10-31", utc(2027, 10, 31, 0, 30), utc(2027, 10, 31, 5, 0), 4*time.Hour + 30*time.Minute},
	}
	for _, tt := range tests {
		d := MustParseDate(tt.date)
		ws := s.Windows(d, d)
		if len(ws) != 1 {
			t.Fatalf("%s: %d windows", tt.date, len(ws))
		}
		w := ws[0]
		if !w.Start.Equal(tt.start) || !w.End.Equal(tt.end) || w.Duration() != tt.dur {
			t.Errorf("%s: %s -> %s (%s), want %s -> %s (%s)", tt.date, w.Start, w.End, w.Duration(), tt.start, tt.end, tt.dur)
		}
	}
	// In March the window starts at 02:00 BST, the first reading at or after 01:30.
	w := s.Windows(MustParseDate("2026-03-29"), MustParseDate("2026-03-29"))[0]
	if got := w.StartLocal().Format("15:04 MST"); got != "02:00 BST" {
		t.Errorf("March start local = %s, want 02:00 BST", got)
	}
	// In October the window starts at 01:30 BST, the first of the two 01:30s.
	w = s.Windows(MustParseDate("2026-10-25"), MustParseDate("2026-10-25"))[0]
	if got := w.StartLocal().Format("15:04 MST"); got != "01:30 BST" {
		t.Errorf("October start local = %s, want 01:30 BST", got)
	}
}

// TestSkippedHourRuleIsEmpty: a rule lying wholly inside March's skipped hour has no
// window that night, and normal ones on other nights.
func TestSkippedHourRuleIsEmpty(t *testing.T) {
	r := Rule{ID: "odd", Source: SourceLicence, Start: TimeOfDay{1, 15}, End: TimeOfDay{1, 45}}
	ws := Schedule{Rules: []Rule{r}}.Windows(MustParseDate("2026-03-28"), MustParseDate("2026-03-30"))
	if len(ws) != 2 || ws[0].Date.Day != 28 || ws[1].Date.Day != 30 {
		t.Errorf("windows = %v", ws)
	}
}

// TestDaytimeWeekdayRule checks a Monday and Wednesday 10:00-12:00 rule bounded by dates
// over two years: exactly the right count, weekdays and times.
func TestDaytimeWeekdayRule(t *testing.T) {
	r := Rule{
		ID: "licence-2", Source: SourceLicence, Description: "licence condition 9: at the AP Mon/Wed 10:00-12:00",
		Start: TimeOfDay{10, 0}, End: TimeOfDay{12, 0},
		Weekdays: []time.Weekday{time.Wednesday, time.Monday},
		From:     MustParseDate("2026-02-11"), // a Wednesday
		Until:    MustParseDate("2027-11-08"), // a Monday
	}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	// Count independently with the standard library.
	want := 0
	for d := time.Date(2026, 2, 11, 12, 0, 0, 0, time.UTC); !d.After(time.Date(2027, 11, 8, 12, 0, 0, 0, time.UTC)); d = d.AddDate(0, 0, 1) {
		if wd := d.Weekday(); wd == time.Monday || wd == time.Wednesday {
			want++
		}
	}
	ws := Schedule{Rules: []Rule{r}}.Windows(MustParseDate("2026-01-01"), MustParseDate("2027-12-31"))
	if len(ws) != want {
		t.Fatalf("%d windows, want %d", len(ws), want)
	}
	if first, last := ws[0].Date.String(), ws[len(ws)-1].Date.String(); first != "2026-02-11" || last != "2027-11-08" {
		t.Errorf("first %s, last %s", first, last)
	}
	for _, w := range ws {
		if wd := w.StartLocal().Weekday(); wd != time.Monday && wd != time.Wednesday {
			t.Errorf("%s: starts on a %s", w.Key(), wd)
		}
		if w.StartLocal().Format("15:04") != "10:00" || w.EndLocal().Format("15:04") != "12:00" || w.Duration() != 2*time.Hour {
			t.Errorf("%s: %s", w.Key(), w)
		}
		if DateOf(w.End, nil) != w.Date {
			t.Errorf("%s: ends on another day", w.Key())
		}
	}
}
