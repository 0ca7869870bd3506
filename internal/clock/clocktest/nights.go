package clocktest

import (
	"fmt"
	"time"
	_ "time/tzdata" // Europe/London on a host without zoneinfo
)

// Night is an evening at an AP and the morning after, on which a curfew test runs.
type Night struct {
	Name string
	// Year, Month and Day are the evening's local date: the AP curfew begins at 23:00
	// on it and ends at 06:00 on the next day.
	Year  int
	Month time.Month
	Day   int
}

// Nights are the nights every curfew test runs on: the night the tests were first
// written for, one in 2019 and one in 2031, far from whatever day the suite runs, and
// both clock-change nights of 2027 (on 28 March 01:00–01:59 local does not exist; on
// 31 October it happens twice).
func Nights() []Night {
	return []Night{
		{"2026-11-22", 2026, time.November, 22},
		{"2019-02-12", 2019, time.February, 12},
		{"2031-07-15", 2031, time.July, 15},
		{"2027-03-27-spring-forward", 2027, time.March, 27},
		{"2027-10-30-fall-back", 2027, time.October, 30},
	}
}

// London is the local time of the Approved Premises.
func London() *time.Location {
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		panic(fmt.Sprintf("clocktest: Europe/London: %v", err)) // embedded by time/tzdata
	}
	return loc
}

// At returns hour:minute local time on the evening (day 0) or a day after it (day 1
// is the morning after).
func (n Night) At(day, hour, minute int) time.Time {
	return time.Date(n.Year, n.Month, n.Day+day, hour, minute, 0, 0, London())
}

// Date is the local date of the evening plus day days, as 2006-01-02.
func (n Night) Date(day int) string {
	return time.Date(n.Year, n.Month, n.Day+day, 12, 0, 0, 0, time.UTC).Format(time.DateOnly)
}
