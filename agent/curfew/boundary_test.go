package curfew

import (
	"testing"
	"time"
)

// utc is shorthand for an instant in UTC.
func utc(y int, m time.Month, d, h, min int) time.Time {
	return time.Date(y, m, d, h, min, 0, 0, time.UTC)
}

func TestBoundary(t *testing.T) {
	// Clock changes in Europe/London happen at 01:00 UTC: on the last Sunday of March
	// local 01:00 GMT becomes 02:00 BST (01:00-02:00 is skipped); on the last Sunday of
	// October local 02:00 BST becomes 01:00 GMT (01:00-02:00 happens twice).
	tests := []struct {
		date, tod string
		want      time.Time
	}{
		// Ordinary winter and summer days.
		{"2026-01-15", "23:00", utc(2026, 1, 15, 23, 0)},
		{"2026-01-15", "06:00", utc(2026, 1, 15, 6, 0)},
		{"2026-01-15", "01:30", utc(2026, 1, 15, 1, 30)},
		{"2026-07-15", "23:00", utc(2026, 7, 15, 22, 0)},
		{"2026-07-15", "06:00", utc(2026, 7, 15, 5, 0)},
		{"2026-07-15", "00:00", utc(2026, 7, 14, 23, 0)},
		{"2026-07-15", "01:30", utc(2026, 7, 15, 0, 30)},
		// Either side of the change days.
		{"2026-03-28", "23:00", utc(2026, 3, 28, 23, 0)},
		{"2026-03-30", "01:30", utc(2026, 3, 30, 0, 30)},
		{"2026-10-24", "23:00", utc(2026, 10, 24, 22, 0)},
		{"2026-10-26", "01:30", utc(2026, 10, 26, 1, 30)},

		// 2026-03-29: clocks go forward at 01:00 UTC.
		{"2026-03-29", "00:00", utc(2026, 3, 29, 0, 0)},
		{"2026-03-29", "00:59", utc(2026, 3, 29, 0, 59)},
		{"2026-03-29", "01:00", utc(2026, 3, 29, 1, 0)},  // skipped: the transition
		{"2026-03-29", "01:30", utc(2026, 3, 29, 1, 0)},  // skipped: the transition
		{"2026-03-29", "01:59", utc(2026, 3, 29, 1, 0)},  // skipped: the transition
		{"2026-03-29", "02:00", utc(2026, 3, 29, 1, 0)},  // 02:00 BST, the transition itself
		{"2026-03-29", "02:30", utc(2026, 3, 29, 1, 30)}, // BST
		{"2026-03-29", "06:00", utc(2026, 3, 29, 5, 0)},
		{"2026-03-29", "23:00", utc(2026, 3, 29, 22, 0)},

		// 2026-10-25: clocks go back at 01:00 UTC.
		{"2026-10-25", "00:00", utc(2026, 10, 24, 23, 0)},
		{"2026-10-25", "00:59", utc(2026, 10, 24, 23, 59)},
		{"2026-10-25", "01:00", utc(2026, 10, 25, 0, 0)},  // repeated: first pass, BST
		{"2026-10-25", "01:30", utc(2026, 10, 25, 0, 30)}, // repeated: first pass, BST
		{"2026-10-25", "01:59", utc(2026, 10, 25, 0, 59)}, // repeated: first pass, BST
		{"2026-10-25", "02:00", utc(2026, 10, 25, 2, 0)},  // GMT
		{"2026-10-25", "02:30", utc(2026, 10, 25, 2, 30)},
		{"2026-10-25", "06:00", utc(2026, 10, 25, 6, 0)},
		{"2026-10-25", "23:00", utc(2026, 10, 25, 23, 0)},

		// 2027-03-28: clocks go forward.
		{"2027-03-28", "00:59", utc(2027, 3, 28, 0, 59)},
		{"2027-03-28", "01:00", utc(2027, 3, 28, 1, 0)},
		{"2027-03-28", "01:30", utc(2027, 3, 28, 1, 0)},
		{"2027-03-28", "01:59", utc(2027, 3, 28, 1, 0)},
		{"2027-03-28", "02:00", utc(2027, 3, 28, 1, 0)},
		{"2027-03-28", "02:30", utc(2027, 3, 28, 1, 30)},
		{"2027-03-28", "23:00", utc(2027, 3, 28, 22, 0)},

		// 2027-10-31: clocks go back.
		{"2027-10-31", "00:59", utc(2027, 10, 30, 23, 59)},
		{"2027-10-31", "01:00", utc(2027, 10, 31, 0, 0)},
		{"2027-10-31", "01:30", utc(2027, 10, 31, 0, 30)},
		{"2027-10-31", "01:59", utc(2027, 10, 31, 0, 59)},
		{"2027-10-31", "02:00", utc(2027, 10, 31, 2, 0)},
		{"2027-10-31", "02:30", utc(2027, 10, 31, 2, 30)},
		{"2027-10-31", "23:00", utc(2027, 10, 31, 23, 0)},
	}
	for _, tt := range tests {
		d := MustParseDate(tt.date)
		tod, err := ParseTimeOfDay(tt.tod)
		if err != nil {
			t.Fatal(err)
		}
		got := Boundary(d, tod, London())
		if !got.Equal(tt.want) {
			t.Errorf("Boundary(%s, %s) = %s (%s local), want %s", tt.date, tt.tod,
				got.UTC().Format(time.RFC3339), got.In(London()).Format("15:04 MST"), tt.want.Format(time.RFC3339))
		}
		if got.Location() != time.UTC {
			t.Errorf("Boundary(%s, %s) location = %s, want UTC", tt.date, tt.tod, got.Location())
		}
		if nilLoc := Boundary(d, tod, nil); !nilLoc.Equal(got) {
			t.Errorf("Boundary(%s, %s, nil) = %s, want London's %s", tt.date, tt.tod, nilLoc, got)
		}
	}
}

// TestBoundaryOtherZones checks the rule does not assume London's transition times.
func TestBoundaryOtherZones(t *testing.T) {
	tests := []struct {
		zone, date, tod string
		want            time.Time
	}{
		// New York: 2026-03-08 02:00 EST -> 03:00 EDT at 07:00 UTC; 2026-11-01 02:00 EDT ->
		// 01:00 EST at 06:00 UTC.
		{"America/New_York", "2026-03-08", "01:59", utc(2026, 3, 8, 6, 59)},
		{"America/New_York", "2026-03-08", "02:30", utc(2026, 3, 8, 7, 0)},
		{"America/New_York", "2026-03-08", "03:00", utc(2026, 3, 8, 7, 0)},
		{"America/New_York", "2026-11-01", "01:30", utc(2026, 11, 1, 5, 30)},
		{"America/New_York", "2026-11-01", "02:00", utc(2026, 11, 1, 7, 0)},
		// Sydney (southern hemisphere): 2026-04-05 03:00 AEDT -> 02:00 AEST at 16:00 UTC on
		// the 4th; 2026-10-04 02:00 AEST -> 03:00 AEDT at 16:00 UTC on the 3rd.
		{"Australia/Sydney", "2026-04-05", "02:30", utc(2026, 4, 4, 15, 30)},
		{"Australia/Sydney", "2026-10-04", "02:30", utc(2026, 10, 3, 16, 0)},
		// Samoa skipped 30 December 2011 altogether.
		{"Pacific/Apia", "2011-12-30", "12:00", utc(2011, 12, 30, 10, 0)},
	}
	for _, tt := range tests {
		loc, err := time.LoadLocation(tt.zone)
		if err != nil {
			t.Fatal(err)
		}
		tod, _ := ParseTimeOfDay(tt.tod)
		if got := Boundary(MustParseDate(tt.date), tod, loc); !got.Equal(tt.want) {
			t.Errorf("Boundary(%s, %s, %s) = %s, want %s", tt.date, tt.tod, tt.zone, got, tt.want)
		}
	}
}

// bruteBoundary finds the boundary by scanning minute by minute for the first instant
// whose London wall clock reads the wanted time or later. London's offset is at most an
// hour and changes on the minute, so starting three hours early suffices.
func bruteBoundary(d Date, tod TimeOfDay) time.Time {
	wall := time.Date(d.Year, d.Month, d.Day, tod.Hour, tod.Minute, 0, 0, time.UTC)
	loc := London()
	for c := wall.Add(-3 * time.Hour); ; c = c.Add(time.Minute) {
		if !localWall(c, loc).Before(wall) {
			return c
		}
	}
}

// TestBoundaryBruteForce checks Boundary against a brute-force search for every minute of
// every clock-change day of 2026 and 2027, and a few times on every day.
func TestBoundaryBruteForce(t *testing.T) {
	loc := London()
	check := func(d Date, tod TimeOfDay) {
		t.Helper()
		got, want := Boundary(d, tod, loc), bruteBoundary(d, tod)
		if !got.Equal(want) {
			t.Errorf("Boundary(%s, %s) = %s, brute force %s", d, tod, got, want)
		}
		// First instant reading tod or later: a nanosecond earlier the clock read less.
		if !localWall(got.Add(-time.Nanosecond), loc).Before(localWall(want, loc)) {
			t.Errorf("Boundary(%s, %s) = %s is not the first instant", d, tod, got)
		}
	}
	for _, ds := range []string{"2026-03-29", "2026-10-25", "2027-03-28", "2027-10-31"} {
		d := MustParseDate(ds)
		for m := 0; m < 24*60; m++ {
			check(d, TimeOfDay{Hour: m / 60, Minute: m % 60})
		}
	}
	times := []TimeOfDay{{0, 0}, {1, 0}, {1, 30}, {2, 0}, {6, 0}, {12, 0}, {23, 0}, {23, 59}}
	for d := MustParseDate("2026-01-01"); d.Year < 2028; d = d.AddDays(1) {
		for _, tod := range times {
			check(d, tod)
		}
	}
}
