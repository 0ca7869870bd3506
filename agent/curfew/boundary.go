package curfew

import "time"

// Boundary returns the first instant at which the local clock in loc (nil: London) reads
// t or later on date d, in UTC.
//
// On most days that is simply d at t. When t falls in a gap (the hour skipped when the
// clocks go forward), it is the instant the clocks go forward; when t falls in an overlap
// (the hour repeated when the clocks go back), it is its first pass. It does not rely on
// [time.Date], whose choice in gaps and overlaps is unspecified.
//
// d and t should be valid (see [Date.Validate], [TimeOfDay.Validate]); out-of-range
// fields are normalized as [time.Date] does.
func Boundary(d Date, t TimeOfDay, loc *time.Location) time.Time {
	if loc == nil {
		loc = London()
	}
	// The wall-clock reading wanted, expressed as if it were UTC.
	wall := time.Date(d.Year, d.Month, d.Day, t.Hour, t.Minute, 0, 0, time.UTC)
	offsets := offsetsNear(wall, loc)

	// Every instant whose local reading is exactly wall: take the earliest.
	var best time.Time
	found := false
	for _, off := range offsets {
		c := wall.Add(-off)
		if localWall(c, loc).Equal(wall) && (!found || c.Before(best)) {
			best, found = c, true
		}
	}
	if found {
		return best
	}

	// No instant reads wall: it lies in a gap. The boundary is the transition at which the
	// clock jumps from before wall to after it. Any candidate computed with an offset in
	// force before the gap lies after that transition, in the zone period it starts.
	for _, off := range offsets {
		c := wall.Add(-off)
		start, _ := c.In(loc).ZoneBounds()
		if start.IsZero() || start.After(c) {
			continue
		}
		if localWall(start, loc).After(wall) && localWall(start.Add(-time.Nanosecond), loc).Before(wall) {
			if !found || start.Before(best) {
				best, found = start.UTC(), true
			}
		}
	}
	if found {
		return best
	}
	// Unreachable for real zones; stay total rather than panic.
	return wall.Add(-offsets[0])
}

// offsetsNear returns the distinct UTC offsets loc uses within two days of wall, which
// covers any transition that can affect the wall-clock reading wall.
func offsetsNear(wall time.Time, loc *time.Location) []time.Duration {
	var offs []time.Duration
	for _, h := range []time.Duration{-48, -24, -12, 0, 12, 24, 48} {
		_, off := wall.Add(h * time.Hour).In(loc).Zone()
		o := time.Duration(off) * time.Second
		dup := false
		for _, x := range offs {
			dup = dup || x == o
		}
		if !dup {
			offs = append(offs, o)
		}
	}
	return offs
}

// localWall returns the local wall-clock reading of instant c in loc, expressed as if it
// were UTC, so readings can be compared.
func localWall(c time.Time, loc *time.Location) time.Time {
	l := c.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), l.Nanosecond(), time.UTC)
}
