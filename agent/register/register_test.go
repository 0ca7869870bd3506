package register_test

import (
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apedge/apedge/agent/curfew"
	"github.com/apedge/apedge/agent/register"
	"github.com/apedge/apedge/internal/config"
)

var at = time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)

func open(t *testing.T, path string) *register.Register {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "register.db")
	}
	r, err := register.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func ptr[T any](v T) *T { return &v }

func TestRecordAndSince(t *testing.T) {
	r := open(t, "")
	changes := []register.Change{
		{Action: register.Arrive, CRN: "X100001", By: "s", At: at, Person: &config.Resident{CRN: "X100001", Cards: []string{"12:1"}}},
		{Action: register.Absence, CRN: "X100001", By: "s", At: at.Add(time.Hour), Absence: &config.Absence{ID: "a", From: "2026-11-23 09:00", To: "2026-11-23 12:00", ApprovedBy: "m"}},
		{Action: register.Update, CRN: "X100001", By: "s", At: at.Add(90 * time.Minute), Update: &register.Details{Room: ptr("7"), Cards: &[]string{}}},
		{Action: register.Depart, CRN: "X100001", By: "s2", At: at.Add(2 * time.Hour)},
	}
	for i, c := range changes {
		n, err := r.Record(t.Context(), c)
		if err != nil || n != int64(i+1) {
			t.Fatalf("Record %d = %d, %v", i, n, err)
		}
	}
	got, err := r.Since(t.Context(), 1)
	if err != nil || len(got) != 3 || got[0].N != 2 || got[0].Absence.ID != "a" || got[2].By != "s2" || !got[2].At.Equal(at.Add(2*time.Hour)) {
		t.Fatalf("Since(1) = %+v, %v", got, err)
	}
	if u := got[1].Update; u == nil || *u.Room != "7" || u.Cards == nil || len(*u.Cards) != 0 || u.Name != nil {
		t.Errorf("the update read back as %+v: want room 7, no cards and the name kept", u)
	}
	for _, bad := range []struct {
		c     register.Change
		field string
		want  string
	}{
		{register.Change{Action: register.Depart, CRN: "X100001", At: at}, "by", "say who is recording"},
		{register.Change{Action: register.Depart, CRN: "X100001", By: "s"}, "", "its time"},
		{register.Change{Action: register.Depart, By: "s", At: at}, "crn", "give the resident's CRN: a CRN is a letter and six digits"},
		{register.Change{Action: register.Depart, CRN: "X1", By: "s", At: at}, "crn", `"X1" is not a CRN`},
		{register.Change{Action: register.Arrive, CRN: "X100001", By: "s", At: at}, "", "needs the resident's details"},
		{register.Change{Action: register.Arrive, CRN: "X100001", By: "s", At: at, Person: &config.Resident{CRN: "X100002", Cards: []string{"12:1"}}}, "crn", "gives the details of"},
		{register.Change{Action: register.Arrive, CRN: "X100001", By: "s", At: at, Person: &config.Resident{CRN: "X100001"}}, "cards", "at least one card"},
		{register.Change{Action: register.Arrive, CRN: "X100001", By: "s", At: at, Person: &config.Resident{CRN: "X100001", Cards: []string{"1234"}}}, "cards", `"1234" is not a card: write a card as facility:number, e.g. 12:10001`},
		{register.Change{Action: register.Arrive, CRN: "X100001", By: "s", At: at, Person: &config.Resident{CRN: "X100001", Cards: []string{"12:1", "12:01"}}}, "cards", "card 12:1 is given twice"},
		{register.Change{Action: register.Arrive, CRN: "X100001", By: "s", At: at, Person: &config.Resident{CRN: "X100001", NOMS: "1234ABC", Cards: []string{"12:1"}}}, "noms", "is not a NOMS number: a NOMS number is a letter, four digits and two letters"},
		{register.Change{Action: register.Arrive, CRN: "X100001", By: "s", At: at, Person: &config.Resident{CRN: "X100001", ExpectedDeparture: "1/9/2027", Cards: []string{"12:1"}}}, "expectedDeparture", `"1/9/2027" is not a date`},
		{register.Change{Action: register.Absence, CRN: "X100001", By: "s", At: at}, "", "needs its id, times"},
		{register.Change{Action: register.Absence, CRN: "X100001", By: "s", At: at, Absence: &config.Absence{ID: "a", From: "tomorrow", To: "2026-11-23 12:00", ApprovedBy: "m"}}, "from", `"tomorrow" is not a time`},
		{register.Change{Action: register.Absence, CRN: "X100001", By: "s", At: at, Absence: &config.Absence{ID: "a", From: "2026-11-24 09:00", To: "2026-11-23 12:00", ApprovedBy: "m"}}, "to", "before it starts"},
		{register.Change{Action: register.Absence, CRN: "X100001", By: "s", At: at, Absence: &config.Absence{ID: "a", From: "2026-11-23 09:00", To: "2026-11-23 12:00"}}, "approvedBy", "who approved"},
		{register.Change{Action: register.Update, CRN: "X100001", By: "s", At: at, Update: &register.Details{}}, "", "say what to change"},
		{register.Change{Action: register.Update, CRN: "X100001", By: "s", At: at, Update: &register.Details{Cards: &[]string{"12"}}}, "cards", `"12" is not a card`},
		{register.Change{Action: register.Update, CRN: "X100001", By: "s", At: at, Update: &register.Details{NOMS: ptr("A12")}}, "noms", "is not a NOMS number"},
		{register.Change{Action: "promote", CRN: "X100001", By: "s", At: at}, "", "unknown action"},
	} {
		_, err := r.Record(t.Context(), bad.c)
		var ref *register.Refusal
		if !errors.As(err, &ref) || !errors.Is(err, register.ErrInvalid) || ref.Field != bad.field || !strings.Contains(ref.Msg, bad.want) {
			t.Errorf("Record(%+v) = %v (%+v), want a refusal of field %q saying %q", bad.c, err, ref, bad.field, bad.want)
		}
	}
}

// TestRecordNormalises: CRN, NOMS number and cards are recorded the one way the roster
// compares them, however staff type them.
func TestRecordNormalises(t *testing.T) {
	r := open(t, "")
	p := &config.Resident{CRN: "x100001", NOMS: " a1234bc", Name: " Resident One ", Room: " 5", Cards: []string{"012:0042", " 12:43 "}}
	if _, err := r.Record(t.Context(), register.Change{Action: register.Arrive, CRN: " x100001 ", By: " s ", At: at, Person: p}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Record(t.Context(), register.Change{Action: register.Update, CRN: "x100001", By: "s", At: at,
		Update: &register.Details{NOMS: ptr("b1234cd "), Cards: &[]string{"7:007"}}}); err != nil {
		t.Fatal(err)
	}
	got, err := r.Since(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	a, u := got[0], got[1]
	if a.CRN != "X100001" || a.By != "s" || a.Person.CRN != "X100001" || a.Person.NOMS != "A1234BC" || a.Person.Name != "Resident One" ||
		a.Person.Room != "5" || strings.Join(a.Person.Cards, ",") != "12:42,12:43" {
		t.Errorf("arrival recorded as %+v %+v", a, a.Person)
	}
	if u.CRN != "X100001" || *u.Update.NOMS != "B1234CD" || (*u.Update.Cards)[0] != "7:7" {
		t.Errorf("update recorded as %+v %+v", u, u.Update)
	}
}

func TestApply(t *testing.T) {
	loc := curfew.London()
	base := []config.Resident{
		{CRN: "X100001", NOMS: "A1001AA", Name: "Resident One", Room: "5", Arrived: "2026-11-01", ExpectedDeparture: "2027-01-10", Cards: []string{"12:1"}},
		{Kind: config.KindStaff, ID: "X100002"},
		{CRN: "X100003", Departed: "2026-11-20", Cards: []string{"12:3"}},
		{CRN: "X100004", Cards: []string{"12:4"}},
	}
	arrive := func(crn string, cards ...string) register.Change {
		return register.Change{Action: register.Arrive, CRN: crn, At: at, Person: &config.Resident{CRN: crn, Name: "New", Cards: cards}}
	}
	update := func(crn string, d register.Details) register.Change {
		return register.Change{Action: register.Update, CRN: crn, At: at, Update: &d}
	}
	for _, tc := range []struct {
		name string
		c    register.Change
		kind error  // nil: applied
		says string // the refusal's message
		// check checks the roster after an applied change.
		check func([]config.Resident) bool
	}{
		{"second arrival of a resident in residence", arrive("X100001", "12:9"), register.ErrInResidence,
			"X100001 (Resident One) is already in residence since 1 Nov 2026, room 5: use update to change their details, or record their departure first", nil},
		{"second arrival, nothing known of the first", arrive("X100004", "12:9"), register.ErrInResidence,
			"X100004 is already in residence: use update", nil},
		{"arrival again after leaving", arrive("X100003", "12:8"), nil, "",
			func(r []config.Resident) bool {
				return len(r) == 4 && r[2].Arrived == "2026-11-22" && r[2].Departed == "" && r[2].Cards[0] == "12:8"
			}},
		{"arrival", arrive("X100005", "12:5"), nil, "",
			func(r []config.Resident) bool {
				return len(r) == 5 && r[4].CRN == "X100005" && r[4].Arrived == "2026-11-22"
			}},
		{"departure", register.Change{Action: register.Depart, CRN: "X100001", At: at}, nil, "",
			func(r []config.Resident) bool { return r[0].Departed == "2026-11-22" }},
		{"departure of someone who has left", register.Change{Action: register.Depart, CRN: "X100003", At: at}, register.ErrDeparted,
			"X100003 left on 20 Nov 2026: their departure is already recorded", nil},
		{"departure of staff (not a resident)", register.Change{Action: register.Depart, CRN: "X100002", At: at}, register.ErrNotOnRoster,
			"X100002 is not on the roster: check the CRN", nil},
		{"absence", register.Change{Action: register.Absence, CRN: "X100001", At: at, Absence: &config.Absence{ID: "a"}}, nil, "",
			func(r []config.Resident) bool { return len(r[0].Absences) == 1 }},
		{"absence of nobody", register.Change{Action: register.Absence, CRN: "X999999", At: at, Absence: &config.Absence{}}, register.ErrNotOnRoster, "X999999 is not on the roster", nil},
		{"absence of someone who has left", register.Change{Action: register.Absence, CRN: "X100003", At: at, Absence: &config.Absence{ID: "a"}}, register.ErrDeparted,
			"X100003 left on 20 Nov 2026: record a new arrival if they are back", nil},
		{"update", update("X100001", register.Details{Room: ptr("7"), NOMS: ptr(""), Cards: &[]string{"12:1", "12:2"}}), nil, "",
			func(r []config.Resident) bool {
				p := r[0]
				return p.Room == "7" && p.NOMS == "" && len(p.Cards) == 2 && p.Name == "Resident One" && p.ExpectedDeparture == "2027-01-10" && p.Arrived == "2026-11-01"
			}},
		{"update that changes nothing", update("X100001", register.Details{Room: ptr("5"), Cards: &[]string{"12:1"}}), register.ErrNoChange,
			"nothing to change: the details given for X100001 (Resident One) are those on record", nil},
		{"update of nobody", update("X999999", register.Details{Room: ptr("5")}), register.ErrNotOnRoster, "X999999 is not on the roster", nil},
		{"update of someone who has left", update("X100003", register.Details{Room: ptr("5")}), register.ErrDeparted, "X100003 left on 20 Nov 2026", nil},
		{"incomplete change", register.Change{Action: register.Update, CRN: "X100001", At: at}, register.ErrInvalid, "incomplete", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := register.Apply(base, tc.c, loc)
			if tc.kind == nil {
				if err != nil || !tc.check(out) {
					t.Errorf("Apply = %+v, %v", out, err)
				}
			} else {
				var ref *register.Refusal
				if !errors.Is(err, tc.kind) || !errors.As(err, &ref) || !strings.Contains(ref.Msg, tc.says) || len(out) != len(base) {
					t.Errorf("Apply = %v, want %v saying %q and the roster unchanged", err, tc.kind, tc.says)
				}
			}
			if base[0].Room != "5" || base[0].Departed != "" || len(base[0].Absences) != 0 || len(base[0].Cards) != 1 {
				t.Errorf("Apply changed the roster it was given: %+v", base[0])
			}
		})
	}
	// Midnight in London, not UTC, decides the date.
	late := time.Date(2026, 7, 1, 23, 30, 0, 0, time.UTC) // 00:30 BST on 2 July
	out, _ := register.Apply(base, register.Change{Action: register.Depart, CRN: "X100001", At: late}, loc)
	if out[0].Departed != "2026-07-02" {
		t.Errorf("departure at 00:30 BST dated %s, want 2026-07-02", out[0].Departed)
	}
}

// TestRecordChecked: a change the roster would refuse is refused when recorded, in
// staff's words (never the roster's field names); an update says what it changes.
func TestRecordChecked(t *testing.T) {
	loc := curfew.London()
	r := open(t, "")
	base := []config.Resident{{CRN: "X100001", Name: "Resident One", Room: "5", Cards: []string{"12:1"}}, {Kind: config.KindStaff, ID: "s-ann", Cards: []string{"12:90001"}}}
	rec := func(c register.Change) (int64, error) {
		c.By, c.At = "staff-7", at
		return r.RecordChecked(t.Context(), base, c, loc)
	}
	if _, err := rec(register.Change{Action: register.Arrive, CRN: "X100002", Person: &config.Resident{CRN: "X100002", Room: "6", Cards: []string{"12:2"}}}); err != nil {
		t.Fatal(err)
	}
	up := register.Change{Action: register.Update, CRN: "x100002", Update: &register.Details{Room: ptr("7"), Name: ptr("Resident Two"), Cards: &[]string{"12:2", "12:3"}}}
	n, err := rec(up)
	if err != nil || n != 2 {
		t.Fatalf("update: %d, %v", n, err)
	}
	want := []register.FieldChange{{Field: "name", Old: "", New: "Resident Two"}, {Field: "room", Old: "6", New: "7"}, {Field: "cards", Old: "12:2", New: "12:2, 12:3"}}
	if got := up.Update.Changes; len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("update changes %+v, want %+v", got, want)
	}
	roster, err := r.Roster(t.Context(), base, loc)
	if err != nil || len(roster) != 3 || roster[2].Room != "7" || roster[2].Name != "Resident Two" || len(roster[2].Cards) != 2 {
		t.Fatalf("roster after the update: %+v, %v", roster, err)
	}
	for _, tc := range []struct {
		name string
		c    register.Change
		kind error
		says string
	}{
		{"second arrival", register.Change{Action: register.Arrive, CRN: "X100002", Person: &config.Resident{CRN: "X100002", Cards: []string{"12:9"}}},
			register.ErrInResidence, "X100002 (Resident Two) is already in residence since 22 Nov 2026, room 7: use update"},
		{"a card someone holds", register.Change{Action: register.Arrive, CRN: "X100003", Person: &config.Resident{CRN: "X100003", Cards: []string{"12:90001"}}},
			register.ErrInvalid, "card 12:90001 belongs to s-ann: give each card to one person"},
		{"an update to a card someone holds", register.Change{Action: register.Update, CRN: "X100001", Update: &register.Details{Cards: &[]string{"12:03"}}},
			register.ErrInvalid, "card 12:3 belongs to X100002 (Resident Two)"},
		{"update that changes nothing", register.Change{Action: register.Update, CRN: "X100002", Update: &register.Details{Room: ptr("7")}},
			register.ErrNoChange, "nothing to change"},
		{"departure of nobody", register.Change{Action: register.Depart, CRN: "Y999999"}, register.ErrNotOnRoster, "Y999999 is not on the roster"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := rec(tc.c)
			var ref *register.Refusal
			if !errors.Is(err, tc.kind) || !errors.As(err, &ref) || !strings.Contains(ref.Msg, tc.says) || strings.Contains(ref.Msg, "roster[") {
				t.Errorf("RecordChecked = %v, want %v saying %q", err, tc.kind, tc.says)
			}
			if register.Message(err) != ref.Msg {
				t.Errorf("Message = %q, want the refusal's %q", register.Message(err), ref.Msg)
			}
		})
	}
	if got, _ := r.Since(t.Context(), 2); len(got) != 0 {
		t.Errorf("refused changes recorded: %+v", got)
	}
}

// TestRecordCheckedAtOnce: two arrivals of the same resident recorded at the same time
// through two handles on the register (the console and `apedge resident`): one is
// recorded, the other refused; never both.
func TestRecordCheckedAtOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "register.db")
	regs := []*register.Register{open(t, path), open(t, path)}
	for round := range 5 {
		crn := "X20000" + string(rune('0'+round))
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, r := range regs {
			wg.Go(func() {
				errs[i] = func() error {
					_, err := r.RecordChecked(t.Context(), nil, register.Change{Action: register.Arrive, CRN: crn, By: "s", At: at,
						Person: &config.Resident{CRN: crn, Cards: []string{"1:" + string(rune('0'+round)) + string(rune('0'+i))}}}, curfew.London())
					return err
				}()
			})
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, register.ErrInResidence):
				t.Errorf("round %d: %v", round, err)
			}
		}
		if ok != 1 {
			t.Errorf("round %d: %d arrivals of %s recorded (%v), want 1", round, ok, crn, errs)
		}
	}
}
