package curfew

import (
	"errors"
	"testing"
	"time"
)

func TestParseTimeOfDay(t *testing.T) {
	good := map[string]TimeOfDay{
		"00:00": {0, 0},
		"06:00": {6, 0},
		"23:00": {23, 0},
		"23:59": {23, 59},
		"01:30": {1, 30},
	}
	for s, want := range good {
		got, err := ParseTimeOfDay(s)
		if err != nil || got != want {
			t.Errorf("ParseTimeOfDay(%q) = %v, %v; want %v", s, got, err, want)
		}
		if got.String() != s {
			t.Errorf("%v.String() = %q, want %q", got, got.String(), s)
		}
	}
	for _, s := range []string{"", "24:00", "23:60", "7:00", "07:0", "0700", "07-00", "07:00 ", " 07:00",
		"-1:00", "+1:00", "ab:cd", "07:00:00", "１２:00", "99:99"} {
		_, err := ParseTimeOfDay(s)
		if !errors.Is(err, ErrInvalidTimeOfDay) {
			t.Errorf("ParseTimeOfDay(%q) error = %v, want ErrInvalidTimeOfDay", s, err)
		}
	}
	_, err := ParseTimeOfDay("24:00")
	if want := `curfew: invalid time of day "24:00": hour 24 out of range 00-23`; err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
	if err := (TimeOfDay{Hour: 12, Minute: 60}).Validate(); !errors.Is(err, ErrInvalidTimeOfDay) {
		t.Errorf("Validate(12:60) = %v", err)
	}
}

func TestParseDate(t *testing.T) {
	good := map[string]Date{
		"2026-03-29": {2026, time.March, 29},
		"2024-02-29": {2024, time.February, 29},
		"2000-02-29": {2000, time.February, 29},
		"0000-01-01": {0, time.January, 1},
		"9999-12-31": {9999, time.December, 31},
	}
	for s, want := range good {
		got, err := ParseDate(s)
		if err != nil || got != want {
			t.Errorf("ParseDate(%q) = %v, %v; want %v", s, got, err, want)
		}
		if got.String() != s {
			t.Errorf("%v.String() = %q, want %q", got, got.String(), s)
		}
	}
	for _, s := range []string{"", "2026-3-29", "2026-13-01", "2026-00-10", "2026-02-29", "1900-02-29",
		"2026-04-31", "2026-01-00", "26-03-29", "2026/03/29", "2026-03-29T00:00", "+026-03-29", "2026-03-2a"} {
		if _, err := ParseDate(s); !errors.Is(err, ErrInvalidDate) {
			t.Errorf("ParseDate(%q) error = %v, want ErrInvalidDate", s, err)
		}
	}
	if err := (Date{2026, 2, 30}).Validate(); !errors.Is(err, ErrInvalidDate) {
		t.Errorf("Validate(2026-02-30) = %v", err)
	}
}

func TestDateArithmetic(t *testing.T) {
	d := MustParseDate("2026-12-31")
	if got := d.AddDays(1); got != MustParseDate("2027-01-01") {
		t.Errorf("AddDays(1) = %s", got)
	}
	if got := MustParseDate("2028-03-01").AddDays(-1); got != MustParseDate("2028-02-29") {
		t.Errorf("AddDays(-1) = %s", got)
	}
	if got := MustParseDate("2026-03-29").Weekday(); got != time.Sunday {
		t.Errorf("2026-03-29 weekday = %s", got)
	}
	a, b := MustParseDate("2026-03-28"), MustParseDate("2026-03-29")
	if !a.Before(b) || a.After(b) || !b.After(a) || a.Compare(a) != 0 || a.Compare(b) != -1 || b.Compare(a) != 1 {
		t.Error("Before/After/Compare wrong")
	}
	if !(Date{}).IsZero() || a.IsZero() {
		t.Error("IsZero wrong")
	}
	// 23:30 UTC on 2026-07-01 is 00:30 BST on the 2nd.
	if got := DateOf(utc(2026, 7, 1, 23, 30), nil); got != MustParseDate("2026-07-02") {
		t.Errorf("DateOf = %s", got)
	}
}

func TestLondon(t *testing.T) {
	if London().String() != "Europe/London" {
		t.Errorf("London() = %s", London())
	}
	if London() != London() {
		t.Error("London() should return the same location each time")
	}
}

func FuzzParseTimeOfDay(f *testing.F) {
	for _, s := range []string{"23:00", "00:00", "23:59", "24:00", "7:00", "", "1a:00", "12:60"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tod, err := ParseTimeOfDay(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidTimeOfDay) {
				t.Fatalf("ParseTimeOfDay(%q) error %v does not wrap ErrInvalidTimeOfDay", s, err)
			}
			return
		}
		if tod.Validate() != nil {
			t.Fatalf("ParseTimeOfDay(%q) = %v, which does not validate", s, tod)
		}
		if tod.String() != s {
			t.Fatalf("ParseTimeOfDay(%q).String() = %q", s, tod.String())
		}
		back, err := ParseTimeOfDay(tod.String())
		if err != nil || back != tod {
			t.Fatalf("round trip of %q: %v, %v", s, back, err)
		}
	})
}

func FuzzParseDate(f *testing.F) {
	for _, s := range []string{"2026-03-29", "2024-02-29", "2026-02-29", "0000-01-01", "9999-12-31", "", "2026-1-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDate(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidDate) {
				t.Fatalf("ParseDate(%q) error %v does not wrap ErrInvalidDate", s, err)
			}
			return
		}
		if d.Validate() != nil {
			t.Fatalf("ParseDate(%q) = %v, which does not validate", s, d)
		}
		if d.String() != s {
			t.Fatalf("ParseDate(%q).String() = %q", s, d.String())
		}
		back, err := ParseDate(d.String())
		if err != nil || back != d {
			t.Fatalf("round trip of %q: %v, %v", s, back, err)
		}
		// Stepping a day forward and back is the identity.
		if got := d.AddDays(1).AddDays(-1); got != d {
			t.Fatalf("%s +1 -1 day = %s", d, got)
		}
	})
}
