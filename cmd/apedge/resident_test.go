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
		out  string // on stdout, or the one-line error on stderr
	}{
		{"arrival", []string{"arrive", "-crn", "X200001", "-card", "12:50001", "-name", "New One", "-room", "7", "-by", "staff-7"}, 0, "recorded arrive of X200001 by staff-7 as register change 1"},
		{"absence", []string{"absence", "-crn", "X200001", "-id", "hosp-1", "-from", "2026-11-23 09:00", "-to", "2026-11-24 12:00", "-approved-by", "manager", "-by", "staff-7"}, 0, "as register change 2"},
		{"departure", []string{"depart", "-crn", "X200001", "-by", "staff-8"}, 0, "as register change 3"},
		{"departure of nobody", []string{"depart", "-crn", "Y999999", "-by", "staff-8"}, 1, "not on the roster: departure of Y999999"},
		{"card already held", []string{"arrive", "-crn", "X200002", "-card", "12:40001", "-by", "staff-7"}, 1, "card 12:40001 also belongs to X123456"},
		{"bad CRN", []string{"arrive", "-crn", "200002", "-card", "12:1", "-by", "staff-7"}, 1, "is not a CRN"},
		{"absence backwards", []string{"absence", "-crn", "X123456", "-id", "a", "-from", "2026-11-24 09:00", "-to", "2026-11-23 12:00", "-approved-by", "m", "-by", "s"}, 1, "not after from"},
		{"nobody recording", []string{"depart", "-crn", "X123456"}, 2, "-by is required"},
		{"no card", []string{"arrive", "-crn", "X200003", "-by", "s"}, 2, "-card is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := apedge(t, append([]string{"resident", tc.args[0], "-config", s.agent}, tc.args[1:]...)...)
			got := r.Stdout
			if tc.code != 0 {
				got = r.Stderr
			}
			if r.Code != tc.code || !strings.Contains(got, tc.out) {
				t.Errorf("want exit %d and %q\n%v", tc.code, tc.out, r)
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
