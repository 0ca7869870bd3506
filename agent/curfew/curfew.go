// Package curfew computes the curfew windows of residents of Approved Premises.
//
// Every resident must be in the building from 23:00 to 06:00 local time each night (the AP
// standard curfew, [APStandard]); licence conditions add further windows per resident
// ([Rule]); an approved absence ([Absence]) suspends windows for its span. A [Schedule]
// holds one person's rules and absences and yields the concrete [Window] occurrences.
//
// All wall-clock times are Europe/London ([London]) unless a schedule says otherwise. A
// window boundary is the first instant at which the local clock reads that time or later
// ([Boundary]): a boundary inside March's skipped hour falls at the moment the clocks go
// forward, and one inside October's repeated hour falls on its first pass. So 23:00-06:00
// lasts 6 hours of real time on the last Saturday night of March and 8 on the last
// Saturday night of October.
//
// The package is pure: it reads no clock and keeps no mutable state.
package curfew

import (
	"errors"
	"fmt"
	"sync"
	"time"
	_ "time/tzdata" // Europe/London must not depend on the host's zoneinfo being present.
)

// Errors wrapped by the errors this package returns, each followed by what was wrong
// ("curfew: invalid date "2026-02-30": day 30 out of range 01-28"); test for them with
// [errors.Is].
var (
	// ErrInvalidTimeOfDay reports a malformed or out-of-range time of day.
	ErrInvalidTimeOfDay = errors.New("curfew: invalid time of day")
	// ErrInvalidDate reports a malformed or out-of-range civil date.
	ErrInvalidDate = errors.New("curfew: invalid date")
	// ErrInvalidRule reports a rule that fails [Rule.Validate].
	ErrInvalidRule = errors.New("curfew: invalid rule")
	// ErrInvalidAbsence reports an absence that fails [Absence.Validate].
	ErrInvalidAbsence = errors.New("curfew: invalid absence")
)

// TimeOfDay is a local wall-clock time with minute resolution. The zero value is midnight.
type TimeOfDay struct {
	Hour, Minute int
}

// ParseTimeOfDay parses a time of day written "HH:MM" (24-hour clock, two digits each),
// from "00:00" to "23:59".
func ParseTimeOfDay(s string) (TimeOfDay, error) {
	bad := func(msg string) (TimeOfDay, error) {
		return TimeOfDay{}, fmt.Errorf("%w %q: %s", ErrInvalidTimeOfDay, s, msg)
	}
	if len(s) != 5 || s[2] != ':' {
		return bad(`want "HH:MM"`)
	}
	h, ok1 := digits2(s[0:2])
	m, ok2 := digits2(s[3:5])
	if !ok1 || !ok2 {
		return bad(`want "HH:MM" with two digits each`)
	}
	t := TimeOfDay{Hour: h, Minute: m}
	if err := t.check(); err != nil {
		return bad(err.Error())
	}
	return t, nil
}

// digits2 parses exactly two ASCII decimal digits.
func digits2(s string) (int, bool) {
	if len(s) != 2 || s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' {
		return 0, false
	}
	return int(s[0]-'0')*10 + int(s[1]-'0'), true
}

// check reports why t is out of range, or nil.
func (t TimeOfDay) check() error {
	switch {
	case t.Hour < 0 || t.Hour > 23:
		return fmt.Errorf("hour %d out of range 00-23", t.Hour)
	case t.Minute < 0 || t.Minute > 59:
		return fmt.Errorf("minute %d out of range 00-59", t.Minute)
	}
	return nil
}

// Validate reports whether t is a time of day from 00:00 to 23:59.
func (t TimeOfDay) Validate() error {
	if err := t.check(); err != nil {
		return fmt.Errorf("%w %02d:%02d: %s", ErrInvalidTimeOfDay, t.Hour, t.Minute, err)
	}
	return nil
}

// String returns t as "HH:MM", e.g. "23:00".
func (t TimeOfDay) String() string {
	return fmt.Sprintf("%02d:%02d", t.Hour, t.Minute)
}

// Minutes returns the number of minutes from midnight to t.
func (t TimeOfDay) Minutes() int { return t.Hour*60 + t.Minute }

// Date is a civil (calendar) date, without a time zone. The zero value means "no date"
// where a field allows one (see [Rule]).
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// ParseDate parses a date written "YYYY-MM-DD", e.g. "2026-03-29", years 0000 to 9999.
func ParseDate(s string) (Date, error) {
	bad := func(msg string) (Date, error) {
		return Date{}, fmt.Errorf("%w %q: %s", ErrInvalidDate, s, msg)
	}
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return bad(`want "YYYY-MM-DD"`)
	}
	y1, ok1 := digits2(s[0:2])
	y2, ok2 := digits2(s[2:4])
	m, ok3 := digits2(s[5:7])
	d, ok4 := digits2(s[8:10])
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return bad(`want "YYYY-MM-DD" with digits only`)
	}
	date := Date{Year: y1*100 + y2, Month: time.Month(m), Day: d}
	if err := date.check(); err != nil {
		return bad(err.Error())
	}
	return date, nil
}

// MustParseDate is like [ParseDate] but panics on error. It is meant for constants in
// tests and examples.
func MustParseDate(s string) Date {
	d, err := ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

// DateOf returns the local date of instant t in loc (nil: London).
func DateOf(t time.Time, loc *time.Location) Date {
	if loc == nil {
		loc = London()
	}
	y, m, d := t.In(loc).Date()
	return Date{Year: y, Month: m, Day: d}
}

// check reports why d is not a real date, or nil.
func (d Date) check() error {
	if d.Month < time.January || d.Month > time.December {
		return fmt.Errorf("month %d out of range 01-12", int(d.Month))
	}
	if n := daysIn(d.Year, d.Month); d.Day < 1 || d.Day > n {
		return fmt.Errorf("day %d out of range 01-%02d", d.Day, n)
	}
	return nil
}

// daysIn returns the number of days in month m of year y.
func daysIn(y int, m time.Month) int {
	return time.Date(y, m+1, 0, 12, 0, 0, 0, time.UTC).Day()
}

// Validate reports whether d is a real calendar date.
func (d Date) Validate() error {
	if err := d.check(); err != nil {
		return fmt.Errorf("%w %s: %s", ErrInvalidDate, d, err)
	}
	return nil
}

// IsZero reports whether d is the zero Date.
func (d Date) IsZero() bool { return d == Date{} }

// String returns d as "YYYY-MM-DD".
func (d Date) String() string {
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day)
}

// noon returns noon UTC on d, a safe anchor for calendar arithmetic.
func (d Date) noon() time.Time {
	return time.Date(d.Year, d.Month, d.Day, 12, 0, 0, 0, time.UTC)
}

// AddDays returns the date n days after d (before it if n is negative).
func (d Date) AddDays(n int) Date {
	y, m, day := time.Date(d.Year, d.Month, d.Day+n, 12, 0, 0, 0, time.UTC).Date()
	return Date{Year: y, Month: m, Day: day}
}

// Weekday returns the day of the week of d.
func (d Date) Weekday() time.Weekday { return d.noon().Weekday() }

// Compare returns -1 if d is before e, 0 if they are equal and +1 if d is after e.
func (d Date) Compare(e Date) int {
	switch {
	case d.Year != e.Year:
		return sign(d.Year - e.Year)
	case d.Month != e.Month:
		return sign(int(d.Month) - int(e.Month))
	default:
		return sign(d.Day - e.Day)
	}
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

// Before reports whether d is before e.
func (d Date) Before(e Date) bool { return d.Compare(e) < 0 }

// After reports whether d is after e.
func (d Date) After(e Date) bool { return d.Compare(e) > 0 }

// london loads Europe/London once; the result is never modified.
var london = sync.OnceValue(func() *time.Location {
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		// Unreachable: time/tzdata is embedded in the binary.
		panic(fmt.Sprintf("curfew: load Europe/London: %v", err))
	}
	return loc
})

// London returns the Europe/London location. It loads the host's zoneinfo if present and
// otherwise the copy embedded through time/tzdata, so it never fails.
func London() *time.Location { return london() }
