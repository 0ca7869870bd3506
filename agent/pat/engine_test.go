package pat_test

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/agent/pat"
	fpat "github.com/apedge/apedge/formats/pat"
)

// TestRegister: what an item may be registered with; prohibited categories are
// registered as prohibited.
func TestRegister(t *testing.T) {
	good := pat.Registration{AssetID: "K-0001", OwnerCRN: crn, Description: "kettle, white", Category: "Kitchen", Class: fpat.ClassI, By: staff, At: t0}
	with := func(f func(*pat.Registration)) pat.Registration {
		r := good
		f(&r)
		return r
	}
	tests := []struct {
		name       string
		reg        pat.Registration
		wantStatus string
		wantCat    string
		want       error
	}{
		{"a resident's", good, pat.StatusAwaitingTest, "kitchen", nil},
		{"the AP's", with(func(r *pat.Registration) { r.OwnerCRN = "" }), pat.StatusAwaitingTest, "kitchen", nil},
		{"no category", with(func(r *pat.Registration) { r.Category = "" }), pat.StatusAwaitingTest, "", nil},
		{"an e-scooter", with(func(r *pat.Registration) { r.Category = "e-scooter" }), pat.StatusProhibited, "e-scooter", nil},
		{"an E Bike", with(func(r *pat.Registration) { r.Category = " E Bike " }), pat.StatusProhibited, "e-bike", nil},
		{"an e-bike battery", with(func(r *pat.Registration) { r.Category = "e_bike_battery" }), pat.StatusProhibited, "e-bike-battery", nil},
		{"a hoverboard", with(func(r *pat.Registration) { r.Category = "hoverboard" }), pat.StatusProhibited, "hoverboard", nil},
		{"a configured prohibited category", with(func(r *pat.Registration) { r.Category = "fan heater" }), pat.StatusProhibited, "fan-heater", nil},
		{"a bicycle light is not an e-bike", with(func(r *pat.Registration) { r.Category = "bike-light" }), pat.StatusAwaitingTest, "bike-light", nil},

		{"asset id taken", with(func(r *pat.Registration) { r.AssetID = "K-0000" }), "", "", pat.ErrDuplicate},
		{"asset id with a space", with(func(r *pat.Registration) { r.AssetID = "K 1" }), "", "", pat.ErrInvalid},
		{"no asset id", with(func(r *pat.Registration) { r.AssetID = "" }), "", "", pat.ErrInvalid},
		{"owner not a CRN", with(func(r *pat.Registration) { r.OwnerCRN = "room 4" }), "", "", pat.ErrInvalid},
		{"no description", with(func(r *pat.Registration) { r.Description = " " }), "", "", pat.ErrInvalid},
		{"no class", with(func(r *pat.Registration) { r.Class = "" }), "", "", pat.ErrInvalid},
		{"class IV", with(func(r *pat.Registration) { r.Class = "IV" }), "", "", pat.ErrInvalid},
		{"by no one", with(func(r *pat.Registration) { r.By = "" }), "", "", pat.ErrInvalid},
		{"no time", with(func(r *pat.Registration) { r.At = time.Time{} }), "", "", pat.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t)
			reg(t, e, "K-0000", "", "kitchen", fpat.ClassI, t0.Add(-time.Hour))
			it, d, err := e.Register(tc.reg)
			wantErr(t, err, tc.want)
			if tc.want != nil {
				if len(e.All()) != 1 {
					t.Errorf("a refused registration left %d items", len(e.All()))
				}
				return
			}
			if it.Status != tc.wantStatus || it.Category != tc.wantCat || it.AssetID != tc.reg.AssetID || it.OwnerCRN != tc.reg.OwnerCRN || it.Class != tc.reg.Class {
				t.Errorf("item %+v, want status %s, category %q", it, tc.wantStatus, tc.wantCat)
			}
			m := info(t, d)
			if d.Type != pat.TypeRegistered || d.AssetID != tc.reg.AssetID || d.CRN != tc.reg.OwnerCRN || d.Key != "item.registered/"+tc.reg.AssetID ||
				m["status"] != tc.wantStatus || m["prohibited"] != (tc.wantStatus == pat.StatusProhibited) || m["description"] != tc.reg.Description {
				t.Errorf("draft %+v info %v", d, m)
			}
		})
	}
}

// step is one thing done to item A-1 in TestStatusTransitions.
type step struct {
	do         string // register, pass, fail, flagged, authorise, withdraw, expire
	day        int    // days after day0 it is done (tests are dated that day)
	wantStatus string
	want       error
}

// TestStatusTransitions: every way an item's status moves, and what is refused
// where it stands. A-1 is a Class I item of category portable: 12 months, so a
// pass on day d is good to d + 12 months, and expires from the day after.
func TestStatusTransitions(t *testing.T) {
	year := 365 // 2026-11-22 + 12 months = 2027-11-22, 365 days on
	tests := []struct {
		name  string
		steps []step
	}{
		{"registered, awaiting test", []step{{"register", 0, pat.StatusAwaitingTest, nil}}},
		{"pass, then authorised", []step{{"register", 0, pat.StatusAwaitingTest, nil}, {"pass", 0, pat.StatusAwaitingAuthorisation, nil}, {"authorise", 0, pat.StatusAuthorised, nil}}},
		{"fail", []step{{"register", 0, pat.StatusAwaitingTest, nil}, {"fail", 0, pat.StatusFailed, nil}}},
		{"flagged pass is not accepted", []step{{"register", 0, pat.StatusAwaitingTest, nil}, {"flagged", 0, pat.StatusFailed, nil}, {"authorise", 0, pat.StatusFailed, pat.ErrState}}},
		{"fail withdraws the authorisation", []step{{"register", 0, "", nil}, {"pass", 0, "", nil}, {"authorise", 0, pat.StatusAuthorised, nil},
			{"fail", 100, pat.StatusFailed, nil}, {"pass", 101, pat.StatusAwaitingAuthorisation, nil}, {"authorise", 101, pat.StatusAuthorised, nil}}},
		{"flagged withdraws the authorisation", []step{{"register", 0, "", nil}, {"pass", 0, "", nil}, {"authorise", 0, pat.StatusAuthorised, nil},
			{"flagged", 30, pat.StatusFailed, nil}}},
		{"a pass keeps it authorised", []step{{"register", 0, "", nil}, {"pass", 0, "", nil}, {"authorise", 0, "", nil}, {"pass", 300, pat.StatusAuthorised, nil}}},
		{"expiry suspends, a pass restores", []step{{"register", 0, "", nil}, {"pass", 0, "", nil}, {"authorise", 0, "", nil},
			{"expire", year + 1, pat.StatusExpired, nil}, {"authorise", year + 2, pat.StatusExpired, pat.ErrOutOfDate}, {"pass", year + 3, pat.StatusAuthorised, nil}}},
		{"expiry awaiting authorisation", []step{{"register", 0, "", nil}, {"pass", 0, "", nil}, {"expire", year + 1, pat.StatusExpired, nil},
			{"pass", year + 2, pat.StatusAwaitingAuthorisation, nil}}},
		{"no expiry on the due date", []step{{"register", 0, "", nil}, {"pass", 0, "", nil}, {"authorise", 0, "", nil}, {"expire", year, pat.StatusAuthorised, nil}}},
		{"withdrawn, then a pass, then authorised", []step{{"register", 0, "", nil}, {"pass", 0, "", nil}, {"authorise", 0, "", nil},
			{"withdraw", 5, pat.StatusWithdrawn, nil}, {"withdraw", 6, pat.StatusWithdrawn, pat.ErrState}, {"expire", year + 1, pat.StatusWithdrawn, nil},
			{"pass", year + 2, pat.StatusWithdrawn, nil}, {"authorise", year + 2, pat.StatusAuthorised, nil}}},
		{"withdrawn on a pass in date is authorised again", []step{{"register", 0, "", nil}, {"pass", 0, "", nil}, {"withdraw", 1, pat.StatusWithdrawn, nil},
			{"authorise", 2, pat.StatusAuthorised, nil}}},
		{"withdrawn, failed, not authorised", []step{{"register", 0, "", nil}, {"withdraw", 1, pat.StatusWithdrawn, nil}, {"fail", 2, pat.StatusWithdrawn, nil},
			{"authorise", 2, pat.StatusWithdrawn, pat.ErrState}}},
		{"failed, withdrawn", []step{{"register", 0, "", nil}, {"fail", 0, "", nil}, {"withdraw", 1, pat.StatusWithdrawn, nil}}},
		{"expired, withdrawn", []step{{"register", 0, "", nil}, {"pass", 0, "", nil}, {"expire", year + 1, "", nil}, {"withdraw", year + 1, pat.StatusWithdrawn, nil}}},
		{"not tested, not authorised", []step{{"register", 0, "", nil}, {"authorise", 0, pat.StatusAwaitingTest, pat.ErrState}}},
		{"authorised twice", []step{{"register", 0, "", nil}, {"pass", 0, "", nil}, {"authorise", 0, "", nil}, {"authorise", 1, pat.StatusAuthorised, pat.ErrState}}},
		{"a pass not in date, not expired yet", []step{{"register", 0, "", nil}, {"pass", 0, "", nil}, {"authorise", year + 1, pat.StatusAwaitingAuthorisation, pat.ErrOutOfDate}}},
		{"a pass out of date when recorded", []step{{"register", 0, "", nil}, {"pass-recorded-late", 0, pat.StatusExpired, nil}}},
		{"an older test changes nothing", []step{{"register", 0, "", nil}, {"pass", 10, pat.StatusAwaitingAuthorisation, nil}, {"fail-older", 10, pat.StatusAwaitingAuthorisation, nil}}},
		{"prohibited", []step{{"register-prohibited", 0, pat.StatusProhibited, nil}, {"pass", 0, pat.StatusProhibited, nil},
			{"authorise", 0, pat.StatusProhibited, pat.ErrProhibited}, {"withdraw", 0, pat.StatusProhibited, pat.ErrProhibited}, {"expire", year + 1, pat.StatusProhibited, nil}}},
		{"prohibited by the configuration since", []step{{"register-heater", 0, pat.StatusAwaitingTest, nil}, {"pass", 0, pat.StatusAwaitingAuthorisation, nil},
			{"authorise-now-prohibited", 0, pat.StatusAwaitingAuthorisation, pat.ErrProhibited}}},
		{"no such item", []step{{"authorise", 0, "", pat.ErrNoItem}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t)
			var drafts []pat.Draft
			for i, s := range tc.steps {
				at := day0.AddDate(0, 0, s.day).Add(10 * time.Hour)
				on := day0.AddDate(0, 0, s.day)
				var ds []pat.Draft
				var err error
				one := func(d pat.Draft, e error) {
					err = e
					if e == nil {
						ds = []pat.Draft{d}
					}
				}
				ee := e
				switch s.do {
				case "register", "register-prohibited", "register-heater":
					cat := map[string]string{"register": "portable", "register-prohibited": "e-scooter", "register-heater": "heater"}[s.do]
					_, d, e2 := e.Register(pat.Registration{AssetID: "A-1", OwnerCRN: crn, Description: "item", Category: cat, Class: fpat.ClassI, By: staff, At: at})
					one(d, e2)
				case "pass":
					one(e.Test(rec("A-1", fpat.ClassI, fpat.ResultPass, on), nil, staff, at))
				case "pass-recorded-late":
					one(e.Test(rec("A-1", fpat.ClassI, fpat.ResultPass, on), nil, staff, at.AddDate(1, 0, 1)))
				case "fail":
					one(e.Test(rec("A-1", fpat.ClassI, fpat.ResultFail, on), nil, staff, at))
				case "fail-older":
					one(e.Test(rec("A-1", fpat.ClassI, fpat.ResultFail, on.AddDate(0, 0, -5)), nil, staff, at))
				case "flagged":
					one(e.Test(rec("A-1", fpat.ClassI, fpat.ResultPass, on), []pat.Flag{{Check: "earth", Detail: "0.45 Ω, over 0.1 Ω plus the lead"}}, staff, at))
				case "authorise":
					one(e.Authorise("A-1", manager, at))
				case "authorise-now-prohibited":
					ee = must(t).E(pat.New(pat.Config{Prohibited: []string{"heater"}}))
					for _, d := range drafts {
						if err := ee.Apply(d); err != nil {
							t.Fatal(err)
						}
					}
					one(ee.Authorise("A-1", manager, at))
				case "withdraw":
					one(e.Withdraw("A-1", "cable damaged", staff, at))
				case "expire":
					ds, err = e.Expire(at)
				default:
					t.Fatalf("step %q", s.do)
				}
				if s.want != nil {
					wantErr(t, err, s.want)
				} else if err != nil {
					t.Fatalf("step %d (%s): %v", i, s.do, err)
				}
				drafts = append(drafts, ds...)
				if s.wantStatus != "" {
					if it := get(t, ee, "A-1"); it.Status != s.wantStatus {
						t.Fatalf("step %d (%s): status %s, want %s", i, s.do, it.Status, s.wantStatus)
					}
				}
			}
			// Every status was reached through drafts that replay to the same.
			sameState(t, e, replay(t, e.Config(), drafts))
		})
	}
}

// TestExpireAtTheBoundary: a pass good to a date is in date all that day and
// expires when the next begins; Expire is idempotent and leaves the others.
func TestExpireAtTheBoundary(t *testing.T) {
	e := newEngine(t)
	reg(t, e, "A-1", crn, "portable", fpat.ClassI, t0)   // 12 months
	reg(t, e, "A-2", "", "hand-held", fpat.ClassI, t0)   // 6 months
	reg(t, e, "A-3", crn2, "portable", fpat.ClassII, t0) // 24 months
	reg(t, e, "A-4", "", "portable", fpat.ClassI, t0)    // failed: nothing to expire
	for _, a := range []string{"A-1", "A-2", "A-3"} {
		r := rec(a, get(t, e, a).Class, fpat.ResultPass, day0)
		must(t).D(e.Test(r, nil, staff, t0))
	}
	must(t).D(e.Test(rec("A-4", fpat.ClassI, fpat.ResultFail, day0), nil, staff, t0))
	must(t).D(e.Authorise("A-1", manager, t0))
	for a, want := range map[string]string{"A-1": "2027-11-22", "A-2": "2027-05-22", "A-3": "2028-11-22"} {
		if got := get(t, e, a).RetestDue; got != want {
			t.Errorf("%s retest due %s, want %s", a, got, want)
		}
	}
	tests := []struct {
		at   time.Time
		want []string
	}{
		{time.Date(2027, 5, 22, 23, 59, 59, 0, time.UTC), nil},
		{time.Date(2027, 5, 23, 0, 0, 0, 0, time.UTC), []string{"A-2"}},
		{time.Date(2027, 5, 24, 0, 0, 0, 0, time.UTC), nil}, // idempotent
		{time.Date(2027, 11, 22, 23, 59, 59, 999, time.UTC), nil},
		{time.Date(2027, 11, 23, 0, 0, 0, 0, time.FixedZone("BST", 3600)), nil}, // 22 November 23:00 UTC
		{time.Date(2027, 11, 23, 0, 0, 0, 0, time.UTC), []string{"A-1"}},
		{time.Date(2028, 11, 23, 6, 0, 0, 0, time.UTC), []string{"A-3"}},
		{time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), nil},
	}
	for _, tc := range tests {
		ds := must(t).DS(e.Expire(tc.at))
		var got []string
		for _, d := range ds {
			got = append(got, d.AssetID)
			m := info(t, d)
			if d.Type != pat.TypeExpired || m["retestDue"] != get(t, e, d.AssetID).RetestDue || m["at"] != tc.at.UTC().Format(time.RFC3339Nano) {
				t.Errorf("draft %+v info %v", d, m)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("Expire(%s) expired %v, want %v", tc.at, got, tc.want)
		}
	}
	if a1 := get(t, e, "A-1"); a1.Status != pat.StatusExpired || a1.Authorisation == nil || a1.Authorisation.By != manager {
		t.Errorf("A-1 after expiry %+v: want expired, its authorisation suspended", a1)
	}
	if a4 := get(t, e, "A-4"); a4.Status != pat.StatusFailed {
		t.Errorf("A-4 %+v", a4)
	}
}

// TestRetestDue: the interval per category and class, a tester's shorter one, and
// months clamped to the month's end.
func TestRetestDue(t *testing.T) {
	tests := []struct {
		name     string
		category string
		class    fpat.Class
		tested   time.Time
		months   int // the record's RetestMonths
		want     string
	}{
		{"portable Class I", "portable", fpat.ClassI, day0, 0, "2027-11-22"},
		{"portable Class II", "portable", fpat.ClassII, day0, 0, "2028-11-22"},
		{"hand-held Class I", "hand-held", fpat.ClassI, day0, 0, "2027-05-22"},
		{"IT Class I", "IT", fpat.ClassI, day0, 0, "2028-11-22"},
		{"Class III", "", fpat.ClassIII, day0, 0, "2028-11-22"},
		{"a category not in the table", "kitchen", fpat.ClassI, day0, 0, "2027-11-22"},
		{"a configured category", "shaver", fpat.ClassII, day0, 0, "2027-05-22"},
		{"the tester's shorter interval", "portable", fpat.ClassI, day0, 3, "2027-02-22"},
		{"the tester's longer interval is not taken", "portable", fpat.ClassI, day0, 48, "2027-11-22"},
		{"31 January + 1 month", "portable", fpat.ClassI, time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC), 1, "2027-02-28"},
		{"31 January 2028 + 1 month", "portable", fpat.ClassI, time.Date(2028, 1, 31, 0, 0, 0, 0, time.UTC), 1, "2028-02-29"},
		{"29 February + 12 months", "portable", fpat.ClassI, time.Date(2028, 2, 29, 0, 0, 0, 0, time.UTC), 0, "2029-02-28"},
		{"a test time, not midnight", "portable", fpat.ClassI, day0.Add(15 * time.Hour), 0, "2027-11-22"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := must(t).E(pat.New(pat.Config{RetestMonths: map[string]map[fpat.Class]int{"shaver": {fpat.ClassII: 6}}}))
			reg(t, e, "A-1", "", tc.category, tc.class, tc.tested)
			r := rec("A-1", tc.class, fpat.ResultPass, tc.tested)
			r.RetestMonths = tc.months
			d := must(t).D(e.Test(r, nil, staff, tc.tested.Add(time.Hour)))
			if it := get(t, e, "A-1"); it.RetestDue != tc.want || info(t, d)["retestDue"] != tc.want {
				t.Errorf("retest due %s (info %v), want %s", it.RetestDue, info(t, d)["retestDue"], tc.want)
			}
		})
	}
}

// TestTest: what a test record must be, and where it goes.
func TestTest(t *testing.T) {
	with := func(f func(*fpat.Record)) fpat.Record {
		r := rec("A-1", fpat.ClassI, fpat.ResultPass, day0)
		f(&r)
		return r
	}
	tests := []struct {
		name  string
		rec   fpat.Record
		flags []pat.Flag
		want  error
		out   string
	}{
		{"a pass", with(func(*fpat.Record) {}), nil, nil, pat.OutcomePass},
		{"a fail", with(func(r *fpat.Record) { r.Result = fpat.ResultFail }), nil, nil, pat.OutcomeFail},
		{"a fail with flags", with(func(r *fpat.Record) { r.Result = fpat.ResultFail }), []pat.Flag{{Check: "insulation", Detail: "0.4 MΩ"}}, nil, pat.OutcomeFail},
		{"a flagged pass", with(func(*fpat.Record) {}), []pat.Flag{{Check: "insulation", Detail: "0.4 MΩ, under 1 MΩ"}}, nil, pat.OutcomeFlagged},
		{"the record's owner, the item's", with(func(r *fpat.Record) { r.OwnerCRN = crn }), nil, nil, pat.OutcomePass},
		{"tested as Class II", with(func(r *fpat.Record) { r.Class, r.EarthOhm = fpat.ClassII, nil }), nil, nil, pat.OutcomePass},

		{"another owner", with(func(r *fpat.Record) { r.OwnerCRN = crn2 }), nil, pat.ErrInvalid, ""},
		{"no such item", with(func(r *fpat.Record) { r.AssetID = "A-9" }), nil, pat.ErrNoItem, ""},
		{"tested tomorrow", with(func(r *fpat.Record) { r.TestedAt = day0.AddDate(0, 0, 1) }), nil, pat.ErrInvalid, ""},
		{"no test date", with(func(r *fpat.Record) { r.TestedAt = time.Time{} }), nil, pat.ErrInvalid, ""},
		{"no result", with(func(r *fpat.Record) { r.Result = fpat.ResultNotDone }), nil, pat.ErrInvalid, ""},
		{"a result that is none", with(func(r *fpat.Record) { r.Result = "ok" }), nil, pat.ErrInvalid, ""},
		{"a visual that is none", with(func(r *fpat.Record) { r.Visual = "fine" }), nil, pat.ErrInvalid, ""},
		{"no tester", with(func(r *fpat.Record) { r.Tester = "" }), nil, pat.ErrInvalid, ""},
		{"no class", with(func(r *fpat.Record) { r.Class = "" }), nil, pat.ErrInvalid, ""},
		{"NaN earth", with(func(r *fpat.Record) { r.EarthOhm = ptr(math.NaN()) }), nil, pat.ErrInvalid, ""},
		{"negative insulation", with(func(r *fpat.Record) { r.InsulationMOhm = ptr(-1) }), nil, pat.ErrInvalid, ""},
		{"infinite leakage", with(func(r *fpat.Record) { r.LeakageMA = ptr(math.Inf(1)) }), nil, pat.ErrInvalid, ""},
		{"retest in 200 months", with(func(r *fpat.Record) { r.RetestMonths = 200 }), nil, pat.ErrInvalid, ""},
		{"a duplicate", with(func(r *fpat.Record) { r.TestedAt = day0.AddDate(0, 0, -1) }), nil, pat.ErrDuplicate, ""},
		{"a flag of no check", with(func(*fpat.Record) {}), []pat.Flag{{Detail: "x"}}, pat.ErrInvalid, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t)
			reg(t, e, "A-1", crn, "portable", fpat.ClassI, t0.AddDate(0, 0, -2))
			must(t).D(e.Test(rec("A-1", fpat.ClassI, fpat.ResultFail, day0.AddDate(0, 0, -1)), nil, staff, t0.AddDate(0, 0, -1)))
			before := e.Clone()
			d, err := e.Test(tc.rec, tc.flags, staff, t0)
			wantErr(t, err, tc.want)
			if tc.want != nil {
				if !pat.SameState(before, e) {
					t.Error("a refused test changed the register")
				}
				return
			}
			it := get(t, e, "A-1")
			last, _ := it.Latest()
			m := info(t, d)
			if len(it.Tests) != 2 || last.Outcome != tc.out || it.Class != tc.rec.Class || m["outcome"] != tc.out || m["latest"] != true ||
				d.Type != pat.TypeTested || d.CRN != crn || d.Key != "pat.tested/A-1/2026-11-22T00:00:00Z" {
				t.Errorf("item %+v draft %+v info %v", it, d, m)
			}
			if (tc.out == pat.OutcomePass) != (it.RetestDue != "") {
				t.Errorf("outcome %s, retest due %q", tc.out, it.RetestDue)
			}
		})
	}
}

// TestDue: the items due within 14 days (or the window asked), and those expired,
// soonest first; never failed, withdrawn, untested or prohibited ones.
func TestDue(t *testing.T) {
	e := newEngine(t)
	now := time.Date(2027, 11, 8, 9, 0, 0, 0, time.UTC) // 14 days before 22 November
	pass := func(asset string, class fpat.Class, category string, tested time.Time) {
		reg(t, e, asset, crn, category, class, tested)
		must(t).D(e.Test(rec(asset, class, fpat.ResultPass, tested), nil, staff, tested.Add(time.Hour)))
	}
	pass("D-14", fpat.ClassI, "portable", day0)                                         // due 2027-11-22: 14 days on
	pass("D-15", fpat.ClassI, "portable", day0.AddDate(0, 0, 1))                        // due 2027-11-23: 15 days
	pass("D-01", fpat.ClassI, "portable", time.Date(2026, 11, 9, 0, 0, 0, 0, time.UTC)) // due 2027-11-09: tomorrow
	pass("D-EX", fpat.ClassI, "portable", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)) // due 2027-11-01
	pass("D-00", fpat.ClassI, "portable", time.Date(2026, 11, 8, 0, 0, 0, 0, time.UTC)) // due today
	pass("D-WD", fpat.ClassI, "portable", time.Date(2026, 11, 8, 0, 0, 0, 0, time.UTC)) // withdrawn
	pass("D-C2", fpat.ClassII, "portable", day0)                                        // due 2028
	reg(t, e, "D-NT", "", "portable", fpat.ClassI, t0)                                  // untested
	reg(t, e, "D-PR", crn, "e-scooter", fpat.ClassII, t0)                               // prohibited
	must(t).D(e.Authorise("D-14", manager, t0.Add(2*time.Hour)))
	must(t).D(e.Withdraw("D-WD", "broken", staff, t0.Add(2*time.Hour)))
	must(t).DS(e.Expire(time.Date(2027, 11, 2, 0, 0, 0, 0, time.UTC))) // D-EX expired
	reg(t, e, "D-FL", crn, "portable", fpat.ClassI, t0)
	must(t).D(e.Test(rec("D-FL", fpat.ClassI, fpat.ResultFail, day0), nil, staff, t0)) // failed
	ids := func(items []pat.Item) []string {
		var out []string
		for _, it := range items {
			out = append(out, it.AssetID)
		}
		return out
	}
	for _, tc := range []struct {
		within time.Duration
		want   []string
	}{
		{0, []string{"D-EX", "D-00", "D-01", "D-14"}},
		{14 * 24 * time.Hour, []string{"D-EX", "D-00", "D-01", "D-14"}},
		{15 * 24 * time.Hour, []string{"D-EX", "D-00", "D-01", "D-14", "D-15"}},
		{24 * time.Hour, []string{"D-EX", "D-00", "D-01"}},
	} {
		if got := ids(e.Due(now, tc.within)); !slices.Equal(got, tc.want) {
			t.Errorf("Due(%v) = %v, want %v", tc.within, got, tc.want)
		}
	}
}

// TestHandBack: a resident's items, whatever their status, and no one else's.
func TestHandBack(t *testing.T) {
	e := newEngine(t)
	reg(t, e, "R-2", crn, "kitchen", fpat.ClassI, t0)
	reg(t, e, "R-1", crn, "e-bike", fpat.ClassII, t0)
	reg(t, e, "R-3", crn2, "kitchen", fpat.ClassI, t0)
	reg(t, e, "AP-1", "", "kitchen", fpat.ClassI, t0)
	must(t).D(e.Withdraw("R-2", "resident misused it", staff, t0))
	var got []string
	for _, it := range e.HandBack(crn) {
		got = append(got, it.AssetID+":"+it.Status)
	}
	if want := []string{"R-1:prohibited", "R-2:withdrawn"}; !slices.Equal(got, want) {
		t.Errorf("HandBack(%s) = %v, want %v", crn, got, want)
	}
	if n := len(e.HandBack("")); n != 0 {
		t.Errorf("HandBack of no one: %d items", n)
	}
	if n := len(e.HandBack("Z999999")); n != 0 {
		t.Errorf("HandBack of a resident with none: %d items", n)
	}
}

// TestImport: all or nothing; unknown assets registered from their records; a
// file imported again imports nothing twice; every bad record named.
func TestImport(t *testing.T) {
	e := newEngine(t)
	reg(t, e, "K-1", crn, "kitchen", fpat.ClassI, t0.AddDate(0, 0, -1))
	at := t0.Add(time.Hour)
	newRec := func(asset, desc, cat, owner string, class fpat.Class, result fpat.Result) fpat.Record {
		r := rec(asset, class, result, day0)
		r.Description, r.Category, r.OwnerCRN = desc, cat, owner
		return r
	}
	good := []fpat.Record{
		rec("K-1", fpat.ClassI, fpat.ResultPass, day0),
		newRec("L-1", "lamp", "portable", crn2, fpat.ClassII, fpat.ResultPass),
		newRec("S-1", "e-scooter charger", "e-scooter-charger", crn2, fpat.ClassII, fpat.ResultPass),
		newRec("T-1", "toaster", "kitchen", "", fpat.ClassI, fpat.ResultPass),
	}
	flags := [][]pat.Flag{nil, nil, nil, {{Check: "earth", Detail: "0.3 Ω"}}}

	bad := slices.Clone(good)
	bad = append(bad,
		newRec("U-1", "", "kitchen", "", fpat.ClassI, fpat.ResultPass),         // 4: unknown, no description
		newRec("K-1", "kettle", "kitchen", crn2, fpat.ClassI, fpat.ResultPass), // 5: another owner (and a duplicate date)
		newRec("V-1", "radio", "portable", "", fpat.ClassI, ""),                // 6: no result
	)
	before := e.Clone()
	_, err := e.Import(bad, append(slices.Clone(flags), nil, nil, nil), "Jo Day", at)
	var ie *pat.ImportError
	if !errors.As(err, &ie) || ie.Records != 7 || len(ie.Problems) != 3 || ie.Problems[0].Index != 4 || ie.Problems[1].Index != 5 || ie.Problems[2].Index != 6 ||
		ie.Problems[1].AssetID != "K-1" || !errors.Is(err, pat.ErrNoItem) || !errors.Is(err, pat.ErrInvalid) {
		t.Fatalf("import of a bad file: %v (%+v)", err, ie)
	}
	for _, s := range []string{"nothing imported", "3 of 7", "record 5 (asset U-1)", "record 6 (asset K-1)", "record 7 (asset V-1)"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
	if !pat.SameState(before, e) {
		t.Fatal("a refused import changed the register")
	}

	for _, c := range []struct {
		name  string
		recs  []fpat.Record
		flags [][]pat.Flag
		by    string
	}{
		{"no records", nil, nil, "Jo Day"},
		{"flags not one per record", good, flags[:2], "Jo Day"},
		{"by no one", good, flags, ""},
	} {
		_, err := e.Import(c.recs, c.flags, c.by, at)
		wantErr(t, err, pat.ErrInvalid)
	}

	drafts := must(t).DS(e.Import(good, flags, "Jo Day", at))
	var types []string
	for _, d := range drafts {
		types = append(types, d.Type+" "+d.AssetID)
	}
	if want := []string{"pat.tested K-1", "item.registered L-1", "pat.tested L-1", "item.registered S-1", "pat.tested S-1", "item.registered T-1", "pat.tested T-1"}; !slices.Equal(types, want) {
		t.Errorf("drafts %v, want %v", types, want)
	}
	for asset, want := range map[string]string{"K-1": pat.StatusAwaitingAuthorisation, "L-1": pat.StatusAwaitingAuthorisation, "S-1": pat.StatusProhibited, "T-1": pat.StatusFailed} {
		if it := get(t, e, asset); it.Status != want {
			t.Errorf("%s %s, want %s", asset, it.Status, want)
		}
	}
	if l := get(t, e, "L-1"); l.OwnerCRN != crn2 || l.Description != "lamp" || l.Category != "portable" || l.Class != fpat.ClassII || l.RegisteredBy != "Jo Day" || l.RetestDue != "2028-11-22" {
		t.Errorf("L-1 registered from its record as %+v", l)
	}
	if m := info(t, drafts[1]); m["fromImport"] != true {
		t.Errorf("registration from an import: %v", m)
	}

	// The same file again: nothing new. With one more record: just it. With a
	// record of a test recorded already, but not as recorded: refused.
	if again := must(t).DS(e.Import(good, flags, "Jo Day", at.Add(time.Hour))); len(again) != 0 {
		t.Errorf("the same file again made %d drafts", len(again))
	}
	more := append(slices.Clone(good), rec("L-1", fpat.ClassII, fpat.ResultFail, day0.Add(time.Hour)))
	ds := must(t).DS(e.Import(more, append(slices.Clone(flags), nil), "Jo Day", at.Add(time.Hour)))
	if len(ds) != 1 || ds[0].AssetID != "L-1" || ds[0].Type != pat.TypeTested || get(t, e, "L-1").Status != pat.StatusFailed {
		t.Errorf("drafts %+v, want L-1's fail alone", ds)
	}
	drafts = append(drafts, ds...)
	_, err = e.Import(good, nil, "Jo Day", at.Add(2*time.Hour)) // T-1 without its flags
	if !errors.As(err, &ie) || len(ie.Problems) != 1 || ie.Problems[0].AssetID != "T-1" || !errors.Is(err, pat.ErrDuplicate) {
		t.Errorf("T-1's test recorded again, differently: %v", err)
	}
	sameState(t, e, replay(t, e.Config(), append(regDrafts(t, before), drafts...)))
}

// regDrafts returns the drafts that rebuild before: here, K-1's registration.
func regDrafts(t testing.TB, before *pat.Engine) []pat.Draft {
	t.Helper()
	x := must(t).E(pat.New(before.Config()))
	var out []pat.Draft
	for _, it := range before.All() {
		_, d, err := x.Register(pat.Registration{AssetID: it.AssetID, OwnerCRN: it.OwnerCRN, Description: it.Description, Category: it.Category, Class: it.Class, By: it.RegisteredBy, At: it.RegisteredAt})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}
