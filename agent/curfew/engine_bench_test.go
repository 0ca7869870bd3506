package curfew

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkWindowStart200 measures the curfew decisions at the start of the AP window
// for 200 residents (a large AP holds about 30; this is the design's margin), a third
// of them with a licence curfew as well and half of them out: one Advance across 23:00
// that makes the roll and every absence.
func BenchmarkWindowStart200(b *testing.B) {
	const residents = 200
	loc := London()
	night := MustParseDate("2026-11-22")
	licence := Rule{ID: "licence-1", Source: SourceLicence, Description: "licence: 19:00-07:00",
		Start: TimeOfDay{Hour: 19}, End: TimeOfDay{Hour: 7}}
	var people []Person
	for i := range residents {
		s := Schedule{Rules: []Rule{APStandard()}, Loc: loc}
		if i%3 == 0 {
			s.Rules = append(s.Rules, licence)
		}
		people = append(people, Person{CRN: fmt.Sprintf("X%06d", i), Schedule: s})
	}
	evening := Boundary(night, TimeOfDay{Hour: 18}, loc)
	start := Boundary(night, TimeOfDay{Hour: 23}, loc)
	decisions := 0
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		e := NewEngine(Config{Loc: loc})
		e.SetPeople(people, evening)
		for i, p := range people {
			dir := DirectionEntry
			if i%2 == 1 {
				dir = DirectionExit
			}
			e.Move(Movement{CRN: p.CRN, At: evening.Add(time.Duration(i) * time.Second), Direction: dir, Ref: fmt.Sprint("m", i)})
		}
		e.Advance(start.Add(-time.Hour)) // the licence windows at 19:00 are behind us
		b.StartTimer()
		decisions = len(e.Advance(start))
	}
	b.ReportMetric(float64(decisions), "decisions")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/start")
}
