package register_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/agent/curfew"
	"github.com/apedge/apedge/agent/register"
	"github.com/apedge/apedge/internal/config"
)

var at = time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)

func TestRecordAndSince(t *testing.T) {
	r, err := register.Open(t.Context(), filepath.Join(t.TempDir(), "register.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	changes := []register.Change{
		{Action: register.Arrive, CRN: "X1", By: "s", At: at, Person: &config.Resident{CRN: "X1", Cards: []string{"12:1"}}},
		{Action: register.Absence, CRN: "X1", By: "s", At: at.Add(time.Hour), Absence: &config.Absence{ID: "a", From: "2026-11-23 09:00", To: "2026-11-23 12:00", ApprovedBy: "m"}},
		{Action: register.Depart, CRN: "X1", By: "s2", At: at.Add(2 * time.Hour)},
	}
	for i, c := range changes {
		n, err := r.Record(t.Context(), c)
		if err != nil || n != int64(i+1) {
			t.Fatalf("Record %d = %d, %v", i, n, err)
		}
	}
	got, err := r.Since(t.Context(), 1)
	if err != nil || len(got) != 2 || got[0].N != 2 || got[0].Absence.ID != "a" || got[1].By != "s2" || !got[1].At.Equal(at.Add(2*time.Hour)) {
		t.Fatalf("Since(1) = %+v, %v", got, err)
	}
	for _, bad := range []struct {
		c    register.Change
		want string
	}{
		{register.Change{Action: register.Depart, CRN: "X1", At: at}, "member of staff"},
		{register.Change{Action: register.Depart, CRN: "X1", By: "s"}, "its time"},
		{register.Change{Action: register.Depart, By: "s", At: at}, "CRN"},
		{register.Change{Action: register.Arrive, CRN: "X1", By: "s", At: at}, "without the resident"},
		{register.Change{Action: register.Arrive, CRN: "X1", By: "s", At: at, Person: &config.Resident{CRN: "X2"}}, "without the resident"},
		{register.Change{Action: register.Absence, CRN: "X1", By: "s", At: at}, "without its times"},
		{register.Change{Action: "promote", CRN: "X1", By: "s", At: at}, "unknown action"},
	} {
		if _, err := r.Record(t.Context(), bad.c); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("Record(%+v) = %v, want an error about %s", bad.c, err, bad.want)
		}
	}
}

func TestApply(t *testing.T) {
	loc := curfew.London()
	roster := []config.Resident{{CRN: "X1", Cards: []string{"12:1"}}, {Kind: config.KindStaff, ID: "X2"}}
	out, err := register.Apply(roster, register.Change{Action: register.Depart, CRN: "X1", At: at}, loc)
	if err != nil || out[0].Departed != "2026-11-22" || roster[0].Departed != "" {
		t.Fatalf("depart: %+v, %v (and the roster given must not change: %+v)", out, err, roster)
	}
	out, err = register.Apply(out, register.Change{Action: register.Arrive, CRN: "X1", At: at.Add(48 * time.Hour),
		Person: &config.Resident{CRN: "X1", Cards: []string{"12:7"}}}, loc)
	if err != nil || len(out) != 2 || out[0].Arrived != "2026-11-24" || out[0].Departed != "" || out[0].Cards[0] != "12:7" {
		t.Fatalf("arrive again: %+v, %v", out, err)
	}
	out, err = register.Apply(out, register.Change{Action: register.Arrive, CRN: "X3", At: at, Person: &config.Resident{CRN: "X3"}}, loc)
	if err != nil || len(out) != 3 {
		t.Fatalf("arrive: %+v, %v", out, err)
	}
	out, err = register.Apply(out, register.Change{Action: register.Absence, CRN: "X3", At: at, Absence: &config.Absence{ID: "a"}}, loc)
	if err != nil || len(out[2].Absences) != 1 {
		t.Fatalf("absence: %+v, %v", out, err)
	}
	// Staff are not residents: no departure or absence of a resident X2.
	for _, c := range []register.Change{{Action: register.Depart, CRN: "X2", At: at}, {Action: register.Absence, CRN: "X9", At: at, Absence: &config.Absence{}}} {
		if kept, err := register.Apply(out, c, loc); err == nil || len(kept) != len(out) {
			t.Errorf("Apply(%+v) = %v, want an error and the roster unchanged", c, err)
		}
	}
	// Midnight in London, not UTC, decides the date.
	late := time.Date(2026, 7, 1, 23, 30, 0, 0, time.UTC) // 00:30 BST on 2 July
	out, _ = register.Apply(roster, register.Change{Action: register.Depart, CRN: "X1", At: late}, loc)
	if out[0].Departed != "2026-07-02" {
		t.Errorf("departure at 00:30 BST dated %s, want 2026-07-02", out[0].Departed)
	}
}
