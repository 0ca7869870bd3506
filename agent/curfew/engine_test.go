package curfew

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// lon is shorthand for a local time in London (not inside a clock change's gap or overlap).
func lon(y int, m time.Month, d, h, min int) time.Time {
	return time.Date(y, m, d, h, min, 0, 0, London())
}

// nov22 returns a local time on the night of Sunday 22 November 2026 (GMT, so UTC): day
// 22 from noon, day 23 before noon.
func nov22(h, min int) time.Time {
	if h < 12 {
		return lon(2026, 11, 23, h, min)
	}
	return lon(2026, 11, 22, h, min)
}

func resident(crn string, rules ...Rule) Person {
	return Person{CRN: crn, NOMS: "A" + crn[1:] + "Z", Schedule: Schedule{Rules: append([]Rule{APStandard()}, rules...)}}
}

// step is one call in a scenario: a movement if dir is set, otherwise Advance(at).
type step struct {
	at       time.Time
	crn, dir string
	ref      string
}

func adv(at time.Time) step { return step{at: at} }
func in(crn string, at time.Time, ref string) step {
	return step{at: at, crn: crn, dir: DirectionEntry, ref: ref}
}
func out(crn string, at time.Time, ref string) step {
	return step{at: at, crn: crn, dir: DirectionExit, ref: ref}
}

func (s step) movement() Movement {
	return Movement{CRN: s.crn, At: s.at, Direction: s.dir, Ref: s.ref}
}

// every returns Advance steps every d from a to b inclusive.
func every(a, b time.Time, d time.Duration) []step {
	var out []step
	for t := a; !t.After(b); t = t.Add(d) {
		out = append(out, adv(t))
	}
	return out
}

// merge orders steps by time, movements before Advance calls at the same time.
func merge(groups ...[]step) []step {
	var all []step
	for _, g := range groups {
		all = append(all, g...)
	}
	slices.SortStableFunc(all, func(a, b step) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		switch {
		case a.dir != "" && b.dir == "":
			return -1
		case a.dir == "" && b.dir != "":
			return 1
		}
		return 0
	})
	return all
}

// run applies the steps to a new engine and returns every decision, checking as it goes
// that no key repeats and that each call's decisions are in order.
func run(t *testing.T, cfg Config, people []Person, start time.Time, steps []step) []Decision {
	t.Helper()
	e := NewEngine(cfg)
	e.SetPeople(people, start)
	var all []Decision
	for _, s := range steps {
		var ds []Decision
		if s.dir != "" {
			ds = e.Move(s.movement())
		} else {
			ds = e.Advance(s.at)
		}
		checkOrder(t, ds)
		all = append(all, ds...)
	}
	checkUnique(t, all)
	return all
}

func checkOrder(t *testing.T, ds []Decision) {
	t.Helper()
	for i := 1; i < len(ds); i++ {
		a, b := ds[i-1], ds[i]
		if a.At.After(b.At) || a.At.Equal(b.At) && a.Key >= b.Key {
			t.Errorf("decisions out of order: %s @%s before %s @%s", a.Key, a.At.Format(time.RFC3339), b.Key, b.At.Format(time.RFC3339))
		}
	}
}

func checkUnique(t *testing.T, ds []Decision) {
	t.Helper()
	seen := make(map[string]bool)
	for _, d := range ds {
		if seen[d.Key] {
			t.Errorf("key %s returned twice", d.Key)
		}
		seen[d.Key] = true
	}
}

// brief describes a decision as "KEY @UTC-time".
func brief(d Decision) string {
	return d.Key + " @" + d.At.UTC().Format("2006-01-02T15:04Z")
}

func briefs(ds []Decision) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = brief(d)
	}
	return out
}

func find(ds []Decision, key string) (Decision, bool) {
	for _, d := range ds {
		if d.Key == key {
			return d, true
		}
	}
	return Decision{}, false
}

func mustFind(t *testing.T, ds []Decision, key string) Decision {
	t.Helper()
	d, ok := find(ds, key)
	if !ok {
		t.Fatalf("no decision %s in %q", key, briefs(ds))
	}
	return d
}

func TestEngineScenarios(t *testing.T) {
	const x = "X123456"
	nightStart, nightEnd := nov22(12, 0), nov22(11, 59) // noon to noon
	hospital := Absence{ID: "hosp-1", From: nov22(18, 0), To: nov22(10, 0), ApprovedBy: "staff-7", Reason: "hospital"}
	shortLeave := Absence{ID: "leave-1", From: nov22(20, 0), To: nov22(1, 0), ApprovedBy: "staff-7", Reason: "family visit"}
	licence := licence1()
	withAbsence := func(p Person, a Absence) Person {
		p.Schedule.Absences = []Absence{a}
		return p
	}

	tests := []struct {
		name   string
		grace  time.Duration
		people []Person
		start  time.Time
		steps  []step
		want   []string // brief(d) of every decision, in order
		check  func(t *testing.T, ds []Decision)
	}{{
		name:   "in before 23:00: only the roll",
		people: []Person{resident(x)},
		steps:  []step{in(x, nov22(22, 30), "m1"), adv(nightEnd)},
		want:   []string{"curfew.roll/all/ap-standard/2026-11-22 @2026-11-22T23:00Z"},
		check: func(t *testing.T, ds []Decision) {
			d := ds[0]
			if d.CRN != "" || d.Window == nil || d.Window.Key() != "ap-standard/2026-11-22" {
				t.Errorf("roll = %+v", d)
			}
			if got := d.Detail["in"]; !reflect.DeepEqual(got, []string{x}) {
				t.Errorf("roll in = %v", got)
			}
			if got := d.Detail["out"]; !reflect.DeepEqual(got, []string{}) {
				t.Errorf("roll out = %v", got)
			}
		},
	}, {
		name:   "out at 23:00, back at 23:40",
		people: []Person{resident(x)},
		steps:  merge([]step{out(x, nov22(21, 0), "m1"), in(x, nov22(23, 40), "m2")}, every(nightStart, nightEnd, 10*time.Minute)),
		want: []string{
			"curfew.absent/X123456/ap-standard/2026-11-22 @2026-11-22T23:00Z",
			"curfew.roll/all/ap-standard/2026-11-22 @2026-11-22T23:00Z",
			"curfew.returned-late/X123456/ap-standard/2026-11-22 @2026-11-22T23:40Z",
		},
		check: func(t *testing.T, ds []Decision) {
			a := ds[0]
			if a.CRN != x || a.NOMS != "A123456Z" || a.Detail["presence"] != "out" {
				t.Errorf("absent = %+v", a)
			}
			last, _ := a.Detail["lastSeen"].(map[string]any)
			if last["ref"] != "m1" || last["direction"] != "exit" || last["at"] != "2026-11-22T21:00:00Z" {
				t.Errorf("absent lastSeen = %v", a.Detail["lastSeen"])
			}
			w := a.Detail["window"].(map[string]any)
			if w["startLocal"] != "2026-11-22T23:00:00Z" || w["source"] != SourceAPRule || w["ruleId"] != "ap-standard" {
				t.Errorf("absent window = %v", w)
			}
			r := ds[2]
			if r.Detail["minutesLate"] != 40 || r.Detail["absentKey"] != a.Key || r.Detail["presence"] != "out" {
				t.Errorf("returned-late detail = %v", r.Detail)
			}
			if ds[1].Detail["out"].([]string)[0] != x {
				t.Errorf("roll = %v", ds[1].Detail)
			}
		},
	}, {
		name:   "leaves at 02:00",
		people: []Person{resident(x)},
		steps:  merge([]step{in(x, nov22(20, 0), "m1"), out(x, nov22(2, 0), "m2")}, every(nightStart, nightEnd, 10*time.Minute)),
		want: []string{
			"curfew.roll/all/ap-standard/2026-11-22 @2026-11-22T23:00Z",
			"curfew.breached/X123456/ap-standard/2026-11-22/m2 @2026-11-23T02:00Z",
		},
		check: func(t *testing.T, ds []Decision) {
			b := ds[1]
			mv := b.Detail["movement"].(map[string]any)
			if b.Detail["presence"] != "in" || mv["ref"] != "m2" || b.Window.Rule.ID != "ap-standard" {
				t.Errorf("breached = %+v", b)
			}
		},
	}, {
		name:   "leaves at 23:00 sharp: breached, not absent",
		people: []Person{resident(x)},
		steps:  merge([]step{in(x, nov22(20, 0), "m1"), out(x, nov22(23, 0), "m2")}, every(nightStart, nightEnd, 10*time.Minute)),
		want: []string{
			"curfew.breached/X123456/ap-standard/2026-11-22/m2 @2026-11-22T23:00Z",
			"curfew.roll/all/ap-standard/2026-11-22 @2026-11-22T23:00Z",
		},
	}, {
		name:   "grace 15 min, leaves at 23:05 and is back at 23:40: breached only",
		grace:  15 * time.Minute,
		people: []Person{resident(x)},
		steps:  merge([]step{in(x, nov22(20, 0), "m1"), out(x, nov22(23, 5), "m2"), in(x, nov22(23, 40), "m3")}, every(nightStart, nightEnd, 10*time.Minute)),
		want: []string{
			"curfew.roll/all/ap-standard/2026-11-22 @2026-11-22T23:00Z",
			"curfew.breached/X123456/ap-standard/2026-11-22/m2 @2026-11-22T23:05Z",
		},
	}, {
		name:   "never returns: absent once however often Advance is called",
		people: []Person{resident(x)},
		steps:  merge([]step{out(x, nov22(20, 0), "m1")}, every(nightStart, nightEnd, time.Minute), every(nightEnd, nightEnd.Add(2*time.Hour), time.Second)),
		want: []string{
			"curfew.absent/X123456/ap-standard/2026-11-22 @2026-11-22T23:00Z",
			"curfew.roll/all/ap-standard/2026-11-22 @2026-11-22T23:00Z",
		},
	}, {
		name:   "grace 15 min, in at 23:10: no absent",
		grace:  15 * time.Minute,
		people: []Person{resident(x)},
		steps:  merge([]step{out(x, nov22(20, 0), "m1"), in(x, nov22(23, 10), "m2")}, every(nightStart, nightEnd, 5*time.Minute)),
		want:   []string{"curfew.roll/all/ap-standard/2026-11-22 @2026-11-22T23:00Z"},
	}, {
		name:   "grace 15 min, in at 23:20: absent at 23:15, 20 minutes late",
		grace:  15 * time.Minute,
		people: []Person{resident(x)},
		steps:  merge([]step{out(x, nov22(20, 0), "m1"), in(x, nov22(23, 20), "m2")}, every(nightStart, nightEnd, 5*time.Minute)),
		want: []string{
			"curfew.roll/all/ap-standard/2026-11-22 @2026-11-22T23:00Z",
			"curfew.absent/X123456/ap-standard/2026-11-22 @2026-11-22T23:15Z",
			"curfew.returned-late/X123456/ap-standard/2026-11-22 @2026-11-22T23:20Z",
		},
		check: func(t *testing.T, ds []Decision) {
			if ds[1].Detail["graceMinutes"] != 15 || ds[2].Detail["minutesLate"] != 20 {
				t.Errorf("details = %v / %v", ds[1].Detail, ds[2].Detail)
			}
		},
	}, {
		name:   "licence 19:00-07:00 and AP standard: absent for each",
		people: []Person{resident(x, licence)},
		steps:  merge([]step{out(x, nov22(18, 0), "m1"), in(x, nov22(23, 30), "m2")}, every(nightStart, nightEnd, 15*time.Minute)),
		want: []string{
			"curfew.absent/X123456/licence-1/2026-11-22 @2026-11-22T19:00Z",
			"curfew.absent/X123456/ap-standard/2026-11-22 @2026-11-22T23:00Z",
			"curfew.roll/all/ap-standard/2026-11-22 @2026-11-22T23:00Z",
			"curfew.returned-late/X123456/ap-standard/2026-11-22 @2026-11-22T23:30Z",
			"curfew.returned-late/X123456/licence-1/2026-11-22 @2026-11-22T23:30Z",
		},
		check: func(t *testing.T, ds []Decision) {
			if ds[0].Window.Rule.Source != SourceLicence || ds[1].Window.Rule.Source != SourceAPRule {
				t.Errorf("sources %s, %s", ds[0].Window.Rule.Source, ds[1].Window.Rule.Source)
			}
			if ds[0].Detail["window"].(map[string]any)["description"] != licence.Description {
				t.Errorf("licence window detail = %v", ds[0].Detail["window"])
			}
			if ds[3].Detail["minutesLate"] != 30 || ds[4].Detail["minutesLate"] != 270 {
				t.Errorf("minutesLate %v, %v", ds[3].Detail["minutesLate"], ds[4].Detail["minutesLate"])
			}
		},
	}, {
		name:   "licence: leaving at 21:00 breaches the licence window only",
		people: []Person{resident(x, licence)},
		steps:  merge([]step{in(x, nov22(18, 0), "m1"), out(x, nov22(21, 0), "m2"), in(x, nov22(22, 0), "m3")}, every(nightStart, nightEnd, 15*time.Minute)),
		want: []string{
			"curfew.breached/X123456/licence-1/2026-11-22/m2 @2026-11-22T21:00Z",
			"curfew.roll/all/ap-standard/2026-11-22 @2026-11-22T23:00Z",
		},
	}, {
		name:   "leaving at 02:00 with overlapping windows: one breach, all windows in the detail",
		people: []Person{resident(x, licence)},
		steps:  merge([]step{in(x, nov22(18, 0), "m1"), out(x, nov22(2, 0), "m2")}, every(nightStart, nightEnd, 15*time.Minute)),
		want: []string{
			"curfew.roll/all/ap-standard/2026-11-22 @2026-11-22T23:00Z",
			"curfew.breached/X123456/licence-1/2026-11-22/m2 @2026-11-23T02:00Z",
		},
		check: func(t *testing.T, ds []Decision) {
			if ws, _ := ds[1].Detail["windows"].([]map[string]any); len(ws) != 2 {
				t.Errorf("windows = %v", ds[1].Detail["windows"])
			}
		},
	}, {
		name:   "approved absence covering the night: nothing",
		people: []Person{withAbsence(resident(x), hospital)},
		steps:  merge([]step{out(x, nov22(17, 0), "m1"), in(x, nov22(10, 30), "m2")}, every(nightStart, nightEnd, 10*time.Minute)),
		want:   []string{"curfew.roll/all/ap-standard/2026-11-22 @2026-11-22T23:00Z"},
		check: func(t *testing.T, ds []Decision) {
			if got := ds[0].Detail["onApprovedAbsence"]; !reflect.DeepEqual(got, []string{x}) {
				t.Errorf("onApprovedAbsence = %v", got)
			}
			if got := ds[0].Detail["out"]; !reflect.DeepEqual(got, []string{x}) {
				t.Errorf("out = %v", got)
			}
		},
	}, {
		name:   "absence until 01:00: the window is judged at 01:00",
		people: []Person{withAbsence(resident(x), shortLeave)},
		steps:  merge([]step{out(x, nov22(19, 0), "m1"), in(x, nov22(1, 30), "m2")}, every(nightStart, nightEnd, 10*time.Minute)),
		want: []string{
			"curfew.roll/all/ap-standard/2026-11-22 @2026-11-22T23:00Z",
			"curfew.absent/X123456/ap-standard/2026-11-22 @2026-11-23T01:00Z",
			"curfew.returned-late/X123456/ap-standard/2026-11-22 @2026-11-23T01:30Z",
		},
		check: func(t *testing.T, ds []Decision) {
			w := ds[1].Detail["window"].(map[string]any)
			if !reflect.DeepEqual(w["suspendedBy"], []string{"leave-1"}) || w["start"] != "2026-11-23T01:00:00Z" || w["nominalStart"] != "2026-11-22T23:00:00Z" {
				t.Errorf("window = %v", w)
			}
			if ds[2].Detail["minutesLate"] != 30 {
				t.Errorf("minutesLate from the later start = %v", ds[2].Detail["minutesLate"])
			}
		},
	}, {
		name:   "absence inside the window: each piece judged",
		people: []Person{withAbsence(resident(x), Absence{ID: "a", From: nov22(0, 0), To: nov22(2, 0), ApprovedBy: "s"})},
		steps:  merge([]step{in(x, nov22(20, 0), "m1"), out(x, nov22(0, 5), "m2"), in(x, nov22(3, 0), "m3")}, every(nightStart, nightEnd, 10*time.Minute)),
		want: []string{
			"curfew.roll/all/ap-standard/2026-11-22 @2026-11-22T23:00Z",
			"curfew.absent/X123456/ap-standard/2026-11-22#2 @2026-11-23T02:00Z",
			"curfew.returned-late/X123456/ap-standard/2026-11-22#2 @2026-11-23T03:00Z",
		},
	}, {
		name:   "spring forward: 23:00 GMT to 06:00 BST",
		people: []Person{resident(x)},
		start:  lon(2026, 3, 28, 12, 0),
		steps: merge([]step{
			out(x, lon(2026, 3, 28, 20, 0), "m1"),
			in(x, utc(2026, 3, 29, 0, 30), "m2"),  // 00:30 GMT
			out(x, utc(2026, 3, 29, 4, 59), "m3"), // 05:59 BST: in the window
			in(x, utc(2026, 3, 29, 5, 0), "m4"),   // 06:00 BST
			out(x, utc(2026, 3, 29, 5, 0), "m5"),  // 06:00 BST: the window has ended
		}, every(lon(2026, 3, 28, 12, 0), lon(2026, 3, 29, 11, 0), 5*time.Minute)),
		want: []string{
			"curfew.absent/X123456/ap-standard/2026-03-28 @2026-03-28T23:00Z",
			"curfew.roll/all/ap-standard/2026-03-28 @2026-03-28T23:00Z",
			"curfew.returned-late/X123456/ap-standard/2026-03-28 @2026-03-29T00:30Z",
			"curfew.breached/X123456/ap-standard/2026-03-28/m3 @2026-03-29T04:59Z",
		},
		check: func(t *testing.T, ds []Decision) {
			w := ds[0].Detail["window"].(map[string]any)
			if w["startLocal"] != "2026-03-28T23:00:00Z" || w["endLocal"] != "2026-03-29T06:00:00+01:00" || w["end"] != "2026-03-29T05:00:00Z" {
				t.Errorf("window = %v", w)
			}
			mv := ds[3].Detail["movement"].(map[string]any)
			if mv["atLocal"] != "2026-03-29T05:59:00+01:00" {
				t.Errorf("breach local time = %v", mv["atLocal"])
			}
		},
	}, {
		name:   "fall back: 23:00 BST to 06:00 GMT",
		people: []Person{resident(x)},
		start:  lon(2026, 10, 24, 12, 0),
		steps: merge([]step{
			out(x, lon(2026, 10, 24, 20, 0), "m1"),
			in(x, utc(2026, 10, 25, 5, 59), "m2"), // 05:59 GMT, 8h59m after 23:00 BST
			out(x, utc(2026, 10, 25, 6, 0), "m3"), // 06:00 GMT: ended
			in(x, utc(2026, 10, 25, 6, 30), "m4"),
		}, every(lon(2026, 10, 24, 12, 0), lon(2026, 10, 25, 11, 0), 5*time.Minute)),
		want: []string{
			"curfew.absent/X123456/ap-standard/2026-10-24 @2026-10-24T22:00Z",
			"curfew.roll/all/ap-standard/2026-10-24 @2026-10-24T22:00Z",
			"curfew.returned-late/X123456/ap-standard/2026-10-24 @2026-10-25T05:59Z",
		},
		check: func(t *testing.T, ds []Decision) {
			if ds[2].Detail["minutesLate"] != 479 {
				t.Errorf("minutesLate = %v, want 479 (the night is 8 hours long)", ds[2].Detail["minutesLate"])
			}
			w := ds[0].Detail["window"].(map[string]any)
			if w["startLocal"] != "2026-10-24T23:00:00+01:00" || w["endLocal"] != "2026-10-25T06:00:00Z" {
				t.Errorf("window = %v", w)
			}
		},
	}, {
		name:   "never seen: absent with presence unknown",
		people: []Person{resident(x)},
		steps:  every(nightStart, nightEnd, time.Hour),
		want: []string{
			"curfew.absent/X123456/ap-standard/2026-11-22 @2026-11-22T23:00Z",
			"curfew.roll/all/ap-standard/2026-11-22 @2026-11-22T23:00Z",
		},
		check: func(t *testing.T, ds []Decision) {
			if ds[0].Detail["presence"] != "unknown" || ds[0].Detail["lastSeen"] != nil {
				t.Errorf("absent detail = %v", ds[0].Detail)
			}
			if !reflect.DeepEqual(ds[1].Detail["unknown"], []string{x}) {
				t.Errorf("roll = %v", ds[1].Detail)
			}
		},
	}, {
		name:   "one Advance after a long gap catches up with the times they fell due",
		people: []Person{resident(x, licence)},
		steps:  []step{out(x, nov22(18, 0), "m1"), adv(nov22(11, 0))},
		want: []string{
			"curfew.absent/X123456/licence-1/2026-11-22 @2026-11-22T19:00Z",
			"curfew.absent/X123456/ap-standard/2026-11-22 @2026-11-22T23:00Z",
			"curfew.roll/all/ap-standard/2026-11-22 @2026-11-22T23:00Z",
		},
	}, {
		name:   "movements of people not on the roster yield nothing",
		people: []Person{resident(x)},
		steps:  []step{in(x, nov22(20, 0), "m1"), out("S-STAFF", nov22(1, 0), "m2"), out("X999999", nov22(1, 0), "m3"), out("X999999", nov22(1, 5), "m4"), adv(nightEnd)},
		want:   []string{"curfew.roll/all/ap-standard/2026-11-22 @2026-11-22T23:00Z"},
	}}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := tt.start
			if start.IsZero() {
				start = nightStart
			}
			ds := run(t, Config{Grace: tt.grace}, tt.people, start, tt.steps)
			if got := briefs(ds); !slices.Equal(got, tt.want) {
				t.Fatalf("decisions:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			for _, d := range ds {
				if (d.Window == nil) != (d.Type == TypeInconsistent) {
					t.Errorf("%s: window %v", d.Key, d.Window)
				}
				if !strings.HasPrefix(d.Key, d.Type+"/") {
					t.Errorf("%s: type %s", d.Key, d.Type)
				}
				if _, err := json.Marshal(d.Detail); err != nil {
					t.Errorf("%s: detail does not marshal: %v", d.Key, err)
				}
			}
			if tt.check != nil {
				tt.check(t, ds)
			}
			// The same decisions come from a single Advance after the movements (each
			// Move brings the engine up to its time): Advance is idempotent.
			var moves []step
			for _, s := range tt.steps {
				if s.dir != "" {
					moves = append(moves, s)
				}
			}
			moves = append(moves, adv(tt.steps[len(tt.steps)-1].at))
			if got := briefs(run(t, Config{Grace: tt.grace}, tt.people, start, moves)); !slices.Equal(got, tt.want) {
				t.Errorf("with Advance only at the end:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// apNight builds the night of 22 November 2026 at an AP with 40 residents:
//   - X100005, X100006 and X100007 go out at 19:00 and come back at 23:20, 23:45 and
//     00:30;
//   - X100010 is in from 20:00 and leaves at 02:00;
//   - X100011 goes out at 21:00 and never returns;
//   - X100012 has a licence curfew 19:00-07:00 and comes in at 19:30;
//   - X100013 went out at 14:00 for an approved hospital stay until Tuesday;
//   - X100040 has no movement at all;
//   - everyone else comes in between 18:00 and 22:55 and stays in.
func apNight() ([]Person, []step) {
	var people []Person
	var moves []step
	for i := 1; i <= 40; i++ {
		crn := fmt.Sprintf("X1000%02d", i)
		p := resident(crn)
		ref := func(n int) string { return fmt.Sprintf("mv-%s-%d", crn, n) }
		switch i {
		case 5, 6, 7:
			back := map[int]time.Time{5: nov22(23, 20), 6: nov22(23, 45), 7: nov22(0, 30)}[i]
			moves = append(moves, out(crn, nov22(19, 0), ref(1)), in(crn, back, ref(2)))
		case 10:
			moves = append(moves, in(crn, nov22(20, 0), ref(1)), out(crn, nov22(2, 0), ref(2)))
		case 11:
			moves = append(moves, out(crn, nov22(21, 0), ref(1)))
		case 12:
			p = resident(crn, licence1())
			moves = append(moves, out(crn, nov22(17, 0), ref(1)), in(crn, nov22(19, 30), ref(2)))
		case 13:
			p.Schedule.Absences = []Absence{{ID: "hospital-1", From: nov22(14, 0), To: lon(2026, 11, 24, 12, 0), ApprovedBy: "manager", Reason: "hospital admission"}}
			moves = append(moves, out(crn, nov22(14, 0), ref(1)))
		case 40:
		default:
			moves = append(moves, in(crn, nov22(18, 0).Add(time.Duration(i)*7*time.Minute), ref(1)))
		}
		people = append(people, p)
	}
	return people, moves
}

func TestEngineAPNight(t *testing.T) {
	people, moves := apNight()
	steps := merge(moves, every(nov22(12, 0), nov22(11, 55), 5*time.Minute))
	ds := run(t, Config{}, people, nov22(12, 0), steps)

	want := []string{
		"curfew.absent/X100012/licence-1/2026-11-22 @2026-11-22T19:00Z",
		"curfew.returned-late/X100012/licence-1/2026-11-22 @2026-11-22T19:30Z",
		"curfew.absent/X100005/ap-standard/2026-11-22 @2026-11-22T23:00Z",
		"curfew.absent/X100006/ap-standard/2026-11-22 @2026-11-22T23:00Z",
		"curfew.absent/X100007/ap-standard/2026-11-22 @2026-11-22T23:00Z",
		"curfew.absent/X100011/ap-standard/2026-11-22 @2026-11-22T23:00Z",
		"curfew.absent/X100040/ap-standard/2026-11-22 @2026-11-22T23:00Z",
		"curfew.roll/all/ap-standard/2026-11-22 @2026-11-22T23:00Z",
		"curfew.returned-late/X100005/ap-standard/2026-11-22 @2026-11-22T23:20Z",
		"curfew.returned-late/X100006/ap-standard/2026-11-22 @2026-11-22T23:45Z",
		"curfew.returned-late/X100007/ap-standard/2026-11-22 @2026-11-23T00:30Z",
		"curfew.breached/X100010/ap-standard/2026-11-22/mv-X100010-2 @2026-11-23T02:00Z",
	}
	if got := briefs(ds); !slices.Equal(got, want) {
		t.Fatalf("decisions:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	late := map[string]int{"X100005": 20, "X100006": 45, "X100007": 90, "X100012": 30}
	for _, d := range ds {
		if d.Type == TypeReturnedLate && d.Detail["minutesLate"] != late[d.CRN] {
			t.Errorf("%s: minutesLate %v, want %d", d.Key, d.Detail["minutesLate"], late[d.CRN])
		}
		if d.Type == TypeAbsent {
			want := "out"
			if d.CRN == "X100040" {
				want = "unknown"
			}
			if d.Detail["presence"] != want {
				t.Errorf("%s: presence %v, want %s", d.Key, d.Detail["presence"], want)
			}
		}
	}

	roll := mustFind(t, ds, "curfew.roll/all/ap-standard/2026-11-22")
	var wantIn []string
	for i := 1; i <= 40; i++ {
		switch i {
		case 5, 6, 7, 11, 13, 40:
		default:
			wantIn = append(wantIn, fmt.Sprintf("X1000%02d", i))
		}
	}
	for list, want := range map[string][]string{
		"in":                wantIn,
		"out":               {"X100005", "X100006", "X100007", "X100011", "X100013"},
		"unknown":           {"X100040"},
		"onApprovedAbsence": {"X100013"},
	} {
		if got := roll.Detail[list]; !reflect.DeepEqual(got, want) {
			t.Errorf("roll %s = %v, want %v", list, got, want)
		}
	}
}

// journalEntry is one durable record of the simulated agent: a movement or a decision.
type journalEntry struct {
	step     int // index of the step that produced it
	movement *Movement
	decision *Decision
}

func (j journalEntry) at() time.Time {
	if j.movement != nil {
		return j.movement.At
	}
	return j.decision.At
}

// agentSim drives an engine as the agent does: a door event is taken at its time
// (Advance(m.At), journaled), then journaled, then given to Move, whose decisions are
// journaled.
type agentSim struct {
	e       *Engine
	journal []journalEntry
}

func (a *agentSim) decisions(i int, ds []Decision) {
	for _, d := range ds {
		a.journal = append(a.journal, journalEntry{step: i, decision: &d})
	}
}

func (a *agentSim) do(i int, s step, skipMovement bool) {
	if s.dir == "" {
		a.decisions(i, a.e.Advance(s.at))
		return
	}
	if skipMovement {
		return
	}
	a.decisions(i, a.e.Advance(s.at))
	m := s.movement()
	a.journal = append(a.journal, journalEntry{step: i, movement: &m})
	a.decisions(i, a.e.Move(m))
}

// canonical renders decisions for comparison, sorted by At then Key.
func canonical(t *testing.T, ds []Decision) []string {
	t.Helper()
	out := make([]string, len(ds))
	for i, d := range ds {
		detail, err := json.Marshal(d.Detail)
		if err != nil {
			t.Fatal(err)
		}
		wk := ""
		if d.Window != nil {
			wk = d.Window.Key() + " " + d.Window.Start.UTC().Format(time.RFC3339)
		}
		out[i] = fmt.Sprintf("%s %s %s %s %s %s %s", d.At.UTC().Format(time.RFC3339Nano), d.Key, d.Type, d.CRN, d.NOMS, wk, detail)
	}
	slices.Sort(out)
	return out
}

func journalDecisions(j []journalEntry) []Decision {
	var ds []Decision
	for _, e := range j {
		if e.decision != nil {
			ds = append(ds, *e.decision)
		}
	}
	return ds
}

// TestEngineRestart runs scenarios uncut, then cuts them at every point of the journal
// (between a movement and its decisions, in the middle of a batch, mid-window), rebuilds
// a fresh engine from the journal so far as a restarted agent does, continues, and checks
// that the journal ends up with exactly the decisions of the uncut run: none repeated,
// none missed.
func TestEngineRestart(t *testing.T) {
	people, moves := apNight()
	// A second night: X100011 comes back at 10:00 and goes out again at 22:00 and comes
	// in at 23:05; X100020 leaves twice in a row (inconsistent) during the window.
	moves = append(moves,
		in("X100011", lon(2026, 11, 23, 10, 0), "n2-1"),
		out("X100011", lon(2026, 11, 23, 22, 0), "n2-2"),
		in("X100011", lon(2026, 11, 23, 23, 5), "n2-3"),
		out("X100020", lon(2026, 11, 24, 1, 0), "n2-4"),
		out("X100020", lon(2026, 11, 24, 1, 30), "n2-5"),
	)
	start, end := nov22(12, 0), lon(2026, 11, 24, 8, 0)
	for _, grace := range []time.Duration{0, 10 * time.Minute} {
		t.Run(fmt.Sprintf("grace=%s", grace), func(t *testing.T) {
			steps := merge(moves, every(start, end, 30*time.Minute))
			cfg := Config{Grace: grace}

			whole := &agentSim{e: NewEngine(cfg)}
			whole.e.SetPeople(people, start)
			for i, s := range steps {
				whole.do(i, s, false)
			}
			want := canonical(t, journalDecisions(whole.journal))
			if len(want) < 15 {
				t.Fatalf("only %d decisions in the uncut run", len(want))
			}
			checkUnique(t, journalDecisions(whole.journal))

			for k := 0; k <= len(whole.journal); k++ {
				for _, downtime := range []bool{false, true} {
					got := restartAt(t, cfg, people, start, steps, whole.journal[:k], downtime)
					if !slices.Equal(got, want) {
						t.Fatalf("cut after journal entry %d (downtime %v):\n%s", k, downtime, diff(got, want))
					}
				}
			}
		})
	}
}

// restartAt rebuilds an agent from journal (a prefix of an uncut run's), continues the
// scenario and returns every decision journaled, canonically. With downtime, the agent
// stays down until the next movement (skipping the Advance calls in between).
func restartAt(t *testing.T, cfg Config, people []Person, start time.Time, steps []step, journal []journalEntry, downtime bool) []string {
	t.Helper()
	// The step interrupted: the one after the last journaled entry's, or that one if it
	// may have more to journal. Replaying it whole is safe: Done and Seen absorb repeats.
	next := 0
	epoch := start
	movementDone := false
	if n := len(journal); n > 0 {
		next = journal[n-1].step
		epoch = journal[n-1].at()
		for _, e := range journal {
			if e.step == next && e.movement != nil {
				movementDone = true
			}
		}
	}
	now := steps[next].at
	if downtime {
		for i := next; i < len(steps); i++ {
			if steps[i].dir != "" && (i > next || !movementDone) {
				now = steps[i].at
				break
			}
		}
	}

	a := &agentSim{e: NewEngine(cfg), journal: slices.Clone(journal)}
	a.e.SetPeople(people, now)
	a.e.SetEpoch(epoch)
	for _, e := range journal {
		if e.movement != nil {
			a.e.Seen(*e.movement)
		}
	}
	for _, e := range journal {
		if e.decision != nil {
			a.e.Done(e.decision.Key)
		}
	}
	a.decisions(next, a.e.Advance(now))
	for i := next; i < len(steps); i++ {
		// Door events are redelivered until journaled; Advance calls while down are lost.
		if steps[i].dir == "" && steps[i].at.Before(now) {
			continue
		}
		a.do(i, steps[i], i == next && movementDone)
	}
	ds := journalDecisions(a.journal)
	checkUnique(t, ds)
	return canonical(t, ds)
}

func diff(got, want []string) string {
	var b strings.Builder
	for _, s := range got {
		if !slices.Contains(want, s) {
			fmt.Fprintf(&b, "+ %s\n", s)
		}
	}
	for _, s := range want {
		if !slices.Contains(got, s) {
			fmt.Fprintf(&b, "- %s\n", s)
		}
	}
	if b.Len() == 0 {
		fmt.Fprintf(&b, "same set, %d vs %d entries (repeats)\n", len(got), len(want))
	}
	return b.String()
}

func TestEngineInconsistent(t *testing.T) {
	const x = "X123456"
	e := NewEngine(Config{})
	e.SetPeople([]Person{resident(x)}, nov22(12, 0))
	var ds []Decision
	ds = append(ds, e.Move(Movement{CRN: x, At: nov22(18, 0), Direction: DirectionEntry, Ref: "m1"})...)
	ds = append(ds, e.Move(Movement{CRN: x, At: nov22(19, 0), Direction: DirectionEntry, Ref: "m2"})...)
	if p := e.Presence()[x]; p.Presence != PresenceIn || !p.Inconsistent || p.LastMovement.Ref != "m2" || !p.Since.Equal(nov22(19, 0)) {
		t.Errorf("after two entries: %+v", p)
	}
	ds = append(ds, e.Move(Movement{CRN: x, At: nov22(20, 0), Direction: DirectionExit, Ref: "m3"})...)
	if p := e.Presence()[x]; p.Presence != PresenceOut || p.Inconsistent {
		t.Errorf("after an exit: %+v", p)
	}
	// Two exits in a row, the second during the window: flagged and still a breach; and
	// the person is out at 23:00, as the movements say.
	ds = append(ds, e.Move(Movement{CRN: x, At: nov22(23, 30), Direction: DirectionExit, Ref: "m4"})...)
	// A repeated report of the same movement is ignored.
	ds = append(ds, e.Move(Movement{CRN: x, At: nov22(23, 30), Direction: DirectionExit, Ref: "m4"})...)
	ds = append(ds, e.Advance(nov22(11, 0))...)
	want := []string{
		"presence.inconsistent/X123456/m2 @2026-11-22T19:00Z",
		"curfew.absent/X123456/ap-standard/2026-11-22 @2026-11-22T23:00Z",
		"curfew.roll/all/ap-standard/2026-11-22 @2026-11-22T23:00Z",
		"curfew.breached/X123456/ap-standard/2026-11-22/m4 @2026-11-22T23:30Z",
		"presence.inconsistent/X123456/m4 @2026-11-22T23:30Z",
	}
	if got := briefs(ds); !slices.Equal(got, want) {
		t.Fatalf("decisions:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	d := ds[0]
	if d.Window != nil || d.CRN != x || d.Detail["reason"] != "entry while already in" || d.Detail["presence"] != "in" {
		t.Errorf("inconsistent = %+v", d)
	}
	if prev := d.Detail["previous"].(map[string]any); prev["ref"] != "m1" {
		t.Errorf("previous = %v", prev)
	}
	if d := ds[4]; d.Detail["reason"] != "exit while already out" || d.Detail["presence"] != "out" {
		t.Errorf("inconsistent = %+v", d)
	}
	if p := e.Presence()[x]; p.Presence != PresenceOut || !p.Inconsistent || p.LastMovement.Ref != "m4" {
		t.Errorf("presence = %+v", p)
	}
}

func TestEngineEpoch(t *testing.T) {
	const x = "X123456"
	// A brand-new agent started mid-window reports nothing about that window.
	e := NewEngine(Config{})
	e.SetPeople([]Person{resident(x)}, nov22(3, 0))
	if ds := e.Advance(nov22(11, 0)); len(ds) != 0 {
		t.Errorf("new agent reported the past: %q", briefs(ds))
	}
	if ds := e.Move(Movement{CRN: x, At: nov22(4, 0), Direction: DirectionEntry, Ref: "m1"}); len(ds) != 0 {
		t.Errorf("entry after an unreported window: %q", briefs(ds))
	}
	// The next night it does.
	if got := briefs(e.Advance(lon(2026, 11, 23, 23, 0))); !slices.Equal(got, []string{"curfew.roll/all/ap-standard/2026-11-23 @2026-11-23T23:00Z"}) {
		t.Errorf("next night: %q", got)
	}

	// A restarted agent that last journaled at 22:00 catches up, with the times the
	// decisions fell due.
	e = NewEngine(Config{})
	e.SetPeople([]Person{resident(x)}, nov22(3, 0))
	e.SetEpoch(nov22(22, 0))
	e.Seen(Movement{CRN: x, At: nov22(21, 0), Direction: DirectionExit, Ref: "m0"})
	want := []string{
		"curfew.absent/X123456/ap-standard/2026-11-22 @2026-11-22T23:00Z",
		"curfew.roll/all/ap-standard/2026-11-22 @2026-11-22T23:00Z",
	}
	if got := briefs(e.Advance(nov22(3, 0))); !slices.Equal(got, want) {
		t.Errorf("catch-up: %q, want %q", got, want)
	}
	if ds := e.Advance(nov22(3, 0)); len(ds) != 0 {
		t.Errorf("repeated: %q", briefs(ds))
	}
	// Done keys are never returned.
	e = NewEngine(Config{})
	e.SetEpoch(nov22(12, 0))
	e.SetPeople([]Person{resident(x)}, nov22(3, 0))
	e.Done("curfew.roll/all/ap-standard/2026-11-22")
	if got := briefs(e.Advance(nov22(3, 0))); !slices.Equal(got, want[:1]) {
		t.Errorf("with the roll done: %q", got)
	}
}

func TestEngineRoster(t *testing.T) {
	const a, b, c = "X000001", "X000002", "X000003"
	e := NewEngine(Config{})
	e.SetPeople([]Person{resident(a), resident(b)}, nov22(12, 0))
	e.Move(Movement{CRN: a, At: nov22(13, 0), Direction: DirectionEntry, Ref: "m1"})
	// b departs at 20:00 and c arrives: c's presence is unknown, a's is kept.
	e.SetPeople([]Person{resident(a), resident(c)}, nov22(20, 0))
	p := e.Presence()
	if len(p) != 2 || p[a].Presence != PresenceIn || p[c].Presence != PresenceUnknown {
		t.Errorf("presence = %+v", p)
	}
	ds := e.Advance(nov22(11, 0))
	want := []string{
		"curfew.absent/X000003/ap-standard/2026-11-22 @2026-11-22T23:00Z",
		"curfew.roll/all/ap-standard/2026-11-22 @2026-11-22T23:00Z",
	}
	if got := briefs(ds); !slices.Equal(got, want) {
		t.Fatalf("decisions %q, want %q", got, want)
	}
	if got := ds[1].Detail["in"]; !reflect.DeepEqual(got, []string{a}) {
		t.Errorf("roll in = %v", got)
	}

	// A change of roster before Advance has caught up loses nothing: the window at 23:00
	// is judged by the roster of 23:00.
	e = NewEngine(Config{})
	e.SetPeople([]Person{resident(a), resident(b)}, nov22(12, 0))
	e.SetPeople([]Person{resident(a)}, nov22(1, 0)) // b departs at 01:00
	// An arrival mid-window is judged from their arrival.
	e.SetPeople([]Person{resident(a), {CRN: c, Schedule: Schedule{Rules: []Rule{APStandard()}}, Since: nov22(2, 0)}}, nov22(1, 0))
	got := briefs(e.Advance(lon(2026, 11, 23, 23, 0)))
	want = []string{
		"curfew.absent/X000001/ap-standard/2026-11-22 @2026-11-22T23:00Z",
		"curfew.absent/X000002/ap-standard/2026-11-22 @2026-11-22T23:00Z",
		"curfew.roll/all/ap-standard/2026-11-22 @2026-11-22T23:00Z",
		"curfew.absent/X000001/ap-standard/2026-11-23 @2026-11-23T23:00Z",
		"curfew.absent/X000003/ap-standard/2026-11-23 @2026-11-23T23:00Z",
		"curfew.roll/all/ap-standard/2026-11-23 @2026-11-23T23:00Z",
	}
	if !slices.Equal(got, want) {
		t.Errorf("decisions:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestEngineLateMovement(t *testing.T) {
	const x = "X123456"
	e := NewEngine(Config{})
	e.SetPeople([]Person{resident(x)}, nov22(12, 0))
	e.Move(Movement{CRN: x, At: nov22(20, 0), Direction: DirectionEntry, Ref: "m1"})
	if ds := e.Advance(nov22(23, 5)); !slices.Equal(briefs(ds), []string{"curfew.roll/all/ap-standard/2026-11-22 @2026-11-22T23:00Z"}) {
		t.Fatalf("got %q", briefs(ds))
	}
	// An exit at 22:50 reported late: the person was out at 23:00 after all.
	ds := e.Move(Movement{CRN: x, At: nov22(22, 50), Direction: DirectionExit, Ref: "m2"})
	if got := briefs(ds); !slices.Equal(got, []string{"curfew.absent/X123456/ap-standard/2026-11-22 @2026-11-22T23:00Z"}) {
		t.Errorf("late exit: %q", got)
	}
	ds = e.Move(Movement{CRN: x, At: nov22(23, 10), Direction: DirectionEntry, Ref: "m3"})
	if got := briefs(ds); !slices.Equal(got, []string{"curfew.returned-late/X123456/ap-standard/2026-11-22 @2026-11-22T23:10Z"}) {
		t.Errorf("return: %q", got)
	}
}

func TestEngineNext(t *testing.T) {
	const x = "X123456"
	e := NewEngine(Config{Grace: 10 * time.Minute})
	if got := e.Next(nov22(12, 0)); !got.IsZero() {
		t.Errorf("Next before SetPeople = %v", got)
	}
	e.SetPeople([]Person{resident(x, licence1())}, nov22(12, 0))
	tests := []struct {
		now, want time.Time
	}{
		{nov22(12, 0), nov22(19, 10)},
		{nov22(19, 10), nov22(23, 0)}, // due at 19:10 and not yet returned: see below
		{nov22(23, 0), nov22(23, 10)},
	}
	if got := e.Next(tests[0].now); !got.Equal(tests[0].want) {
		t.Errorf("Next(%v) = %v, want %v", tests[0].now, got, tests[0].want)
	}
	// Something due and not returned: Next says when it fell due.
	if got := e.Next(nov22(20, 0)); !got.Equal(nov22(19, 10)) {
		t.Errorf("Next with a decision pending = %v", got)
	}
	e.Advance(nov22(19, 10))
	for _, tt := range tests[1:] {
		e.Advance(tt.now)
		if got := e.Next(tt.now); !got.Equal(tt.want) {
			t.Errorf("Next(%v) = %v, want %v", tt.now, got, tt.want)
		}
	}
	// On the spring-forward night the roll is at 23:00 GMT.
	e = NewEngine(Config{})
	e.SetPeople(nil, lon(2026, 3, 28, 12, 0))
	if got, want := e.Next(lon(2026, 3, 28, 12, 0)), utc(2026, 3, 28, 23, 0); !got.Equal(want) {
		t.Errorf("Next = %v, want %v", got, want)
	}
}

func TestEngineMovementWithoutRef(t *testing.T) {
	const x = "X123456"
	e := NewEngine(Config{})
	e.SetPeople([]Person{resident(x)}, nov22(12, 0))
	e.Move(Movement{CRN: x, At: nov22(20, 0), Direction: DirectionEntry})
	at := nov22(1, 0).Add(1500 * time.Millisecond)
	ds := e.Move(Movement{CRN: x, At: at, Direction: DirectionExit})
	ds = append(ds, e.Move(Movement{CRN: x, At: at, Direction: DirectionExit})...) // repeat
	var keys []string
	for _, d := range ds {
		keys = append(keys, d.Key)
	}
	want := []string{"curfew.roll/all/ap-standard/2026-11-22", "curfew.breached/X123456/ap-standard/2026-11-22/at-20261123T010001.500000000Z"}
	if !slices.Equal(keys, want) {
		t.Errorf("keys %q, want %q", keys, want)
	}
}

// TestEngineLongRun runs 60 nights, across the October clock change, checking that
// decisions keep coming, one per window, and that the engine's memory stays bounded.
func TestEngineLongRun(t *testing.T) {
	const x, y = "X000001", "X000002"
	e := NewEngine(Config{Grace: 5 * time.Minute})
	start := lon(2026, 9, 20, 12, 0)
	e.SetPeople([]Person{resident(x), resident(y, licence1())}, start)
	counts := make(map[string]int)
	seen := make(map[string]bool)
	e.Move(Movement{CRN: y, At: lon(2026, 9, 20, 18, 0), Direction: DirectionEntry, Ref: "y-in"})
	for day := 0; day < 60; day++ {
		// x goes out at 18:00 and comes back at 23:30 every night; y is in but leaves
		// at 03:00 and comes back at 03:10.
		ref := func(s string) string { return fmt.Sprintf("%s-%d", s, day) }
		steps := merge([]step{
			out(x, lon(2026, 9, 20+day, 18, 0), ref("x-out")),
			in(x, lon(2026, 9, 20+day, 23, 30), ref("x-in")),
			out(y, lon(2026, 9, 21+day, 3, 0), ref("y-out")),
			in(y, lon(2026, 9, 21+day, 3, 10), ref("y-in")),
		}, every(lon(2026, 9, 20+day, 13, 0), lon(2026, 9, 21+day, 12, 0), time.Hour))
		for _, st := range steps {
			var ds []Decision
			if st.dir != "" {
				ds = e.Move(st.movement())
			} else {
				ds = e.Advance(st.at)
			}
			for _, d := range ds {
				if seen[d.Key] {
					t.Fatalf("repeated %s", d.Key)
				}
				seen[d.Key] = true
				counts[d.Type+" "+d.CRN]++
			}
		}
	}
	// x: absent and returned-late each night (the window is judged at 23:05); y: a
	// breach each night (under the licence window, which started first), no absent.
	want := map[string]int{
		TypeAbsent + " " + x:       60,
		TypeReturnedLate + " " + x: 60,
		TypeBreached + " " + y:     60,
		TypeRoll + " ":             60,
	}
	if !reflect.DeepEqual(counts, want) {
		t.Errorf("counts = %v, want %v", counts, want)
	}
	t.Logf("kept: %d done keys, %d+%d movements", len(e.done), len(e.hist[x]), len(e.hist[y]))
	if n := len(e.done); n > 40 {
		t.Errorf("%d done keys kept after 60 nights", n)
	}
	for crn, h := range e.hist {
		if len(h) > 20 {
			t.Errorf("%s: %d movements kept", crn, len(h))
		}
	}
	for crn, ss := range e.segs {
		for _, s := range ss {
			if len(s.windows) > 20 {
				t.Errorf("%s: %d dates of windows cached", crn, len(s.windows))
			}
		}
	}
}
