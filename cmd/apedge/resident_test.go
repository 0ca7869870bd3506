package main

import (
	"strings"
	"testing"
)

func TestResident(t *testing.T) {
	s := newSite(t)
	for _, tc := range []struct {
		name string
		args []string
		code int
		out  []string // on stdout, or the one-line error on stderr
	}{
		{"arrival", []string{"arrive", "-crn", "x200001", "-card", "12:50001", "-name", "New One", "-room", "7", "-by", "staff-7"}, 0,
			[]string{"recorded arrive of X200001 by staff-7 as register change 1"}},
		{"second arrival", []string{"arrive", "-crn", "X200001", "-card", "12:50009", "-room", "9", "-by", "staff-8"}, 1,
			[]string{"apedge resident: X200001 (New One) is already in residence since ", ", room 7: use update to change their details, or record their departure first"}},
		{"update", []string{"update", "-crn", "x200001", "-room", "8", "-noms", "a2000bc", "-card", "12:50001, 12:050002", "-by", "staff-8"}, 0,
			[]string{"recorded update of X200001 by staff-8 as register change 2", "\n  NOMS number: (none) -> A2000BC\n  room: 7 -> 8\n  cards: 12:50001 -> 12:50001, 12:50002\n"}},
		{"update that changes nothing", []string{"update", "-crn", "X200001", "-room", "8", "-by", "staff-8"}, 1,
			[]string{"apedge resident: nothing to change: the details given for X200001 (New One) are those on record"}},
		{"update with nothing to change", []string{"update", "-crn", "X200001", "-by", "staff-8"}, 2, []string{"say what to change: -noms, -name, -room"}},
		{"update to a card without its facility", []string{"update", "-crn", "X200001", "-card", "1234", "-by", "staff-8"}, 1,
			[]string{`apedge resident: "1234" is not a card: write a card as facility:number, e.g. 12:10001`}},
		{"update to a bad NOMS number", []string{"update", "-crn", "X200001", "-noms", "1234ABC", "-by", "staff-8"}, 1,
			[]string{"is not a NOMS number: a NOMS number is a letter, four digits and two letters, e.g. A1234BC"}},
		{"update of nobody", []string{"update", "-crn", "Y999999", "-room", "1", "-by", "staff-8"}, 1, []string{"Y999999 is not on the roster: check the CRN"}},
		{"arrival with a card without its facility", []string{"arrive", "-crn", "X200002", "-card", "1234", "-by", "staff-7"}, 1,
			[]string{`"1234" is not a card: write a card as facility:number`}},
		{"absence", []string{"absence", "-crn", "X200001", "-id", "hosp-1", "-from", "2026-11-23 09:00", "-to", "2026-11-24 12:00", "-approved-by", "manager", "-by", "staff-7"}, 0,
			[]string{"as register change 3"}},
		{"departure", []string{"depart", "-crn", "X200001", "-by", "staff-8"}, 0, []string{"as register change 4"}},
		{"departure twice", []string{"depart", "-crn", "X200001", "-by", "staff-8"}, 1, []string{"X200001 (New One) left on ", ": their departure is already recorded"}},
		{"update after leaving", []string{"update", "-crn", "X200001", "-room", "1", "-by", "staff-8"}, 1, []string{"record a new arrival if they are back"}},
		{"departure of nobody", []string{"depart", "-crn", "Y999999", "-by", "staff-8"}, 1, []string{"Y999999 is not on the roster: check the CRN"}},
		{"card already held", []string{"arrive", "-crn", "X200002", "-card", "12:40001", "-by", "staff-7"}, 1,
			[]string{"card 12:40001 belongs to X123456: give each card to one person"}},
		{"bad CRN", []string{"arrive", "-crn", "200002", "-card", "12:1", "-by", "staff-7"}, 1,
			[]string{`"200002" is not a CRN: a CRN is a letter and six digits, e.g. X123456`}},
		{"absence backwards", []string{"absence", "-crn", "X123456", "-id", "a", "-from", "2026-11-24 09:00", "-to", "2026-11-23 12:00", "-approved-by", "m", "-by", "s"}, 1,
			[]string{"the absence ends (2026-11-23 12:00) before it starts (2026-11-24 09:00)"}},
		{"nobody recording", []string{"depart", "-crn", "X123456"}, 2, []string{"-by is required"}},
		{"no card", []string{"arrive", "-crn", "X200003", "-by", "s"}, 2, []string{"-card is required"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := apedge(t, append([]string{"resident", tc.args[0], "-config", s.agent}, tc.args[1:]...)...)
			got := r.Stdout
			if tc.code != 0 {
				got = r.Stderr
			}
			for _, want := range tc.out {
				if r.Code != tc.code || !strings.Contains(got, want) {
					t.Errorf("want exit %d and %q\n%v", tc.code, want, r)
				}
			}
			for _, internal := range []string{"register:", "roster[", "problem(s)"} {
				if strings.Contains(r.Stderr, internal) {
					t.Errorf("the error shows internals (%s): %s", internal, r.Stderr)
				}
			}
		})
	}
}

// TestResidentThenCurfewWindows: an absence recorded with apedge resident shows in
// apedge curfew windows.
func TestResidentThenCurfewWindows(t *testing.T) {
	s := newSite(t)
	r := apedge(t, "resident", "absence", "-config", s.agent, "-crn", "X123456", "-id", "leave-1",
		"-from", "2026-11-22 22:00", "-to", "2026-11-23 08:00", "-approved-by", "manager", "-by", "staff-7")
	if r.Code != 0 {
		t.Fatalf("absence not recorded\n%v", r)
	}
	r = apedge(t, "curfew", "windows", "-config", s.agent, "-crn", "X123456", "-from", "2026-11-22", "-to", "2026-11-22")
	if r.Code != 0 || !strings.Contains(r.Stdout, "0 windows for X123456") || !strings.Contains(r.Stdout, "approved absence leave-1") {
		t.Errorf("the night covered by the absence still shows a window\n%v", r)
	}
}
