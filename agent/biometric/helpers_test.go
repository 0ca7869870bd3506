package biometric_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/apedge/apedge/agent/biometric"
	"github.com/apedge/apedge/formats/sitebus"
)

// t0 is when the tests' first consent is taken: a fixed time, so that no test
// depends on the day it runs.
var t0 = time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)

const (
	front = "fp-front" // the front door's terminal
	desk  = "fp-desk"  // the office's enrolment desk
	staff = "Ann Staff"
)

// at is t0 plus min minutes.
func at(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }

func newEngine(t testing.TB) *biometric.Engine {
	t.Helper()
	e, err := biometric.New(biometric.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// consent records crn's consent (or refusal) at when, failing the test on error.
func consent(t testing.TB, e *biometric.Engine, crn string, given bool, when time.Time) []biometric.Draft {
	t.Helper()
	ds, err := e.RecordConsent(biometric.Consent{CRN: crn, Given: given, By: staff, At: when})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// enrol starts the enrolment of crn's finger on terminal, whose library has used,
// failing the test on error.
func enrol(t testing.TB, e *biometric.Engine, crn, finger, terminal string, used []int, when time.Time) (biometric.Enrolment, biometric.Draft) {
	t.Helper()
	en, d, err := e.StartEnrolment(biometric.Request{CRN: crn, Finger: finger, Terminal: terminal, By: staff, At: when}, used, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return en, d
}

// stored has the terminal report en enrolled.
func stored(t testing.TB, e *biometric.Engine, en biometric.Enrolment, when time.Time) biometric.Draft {
	t.Helper()
	d, err := e.Enrolled(en.Terminal, sitebus.Enrolled{Enrolment: en.ID, Slot: en.Slot}, when)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// failed has the terminal report en failed for reason.
func failed(t testing.TB, e *biometric.Engine, en biometric.Enrolment, reason string, when time.Time) []biometric.Draft {
	t.Helper()
	ds, err := e.EnrolFailed(en.Terminal, sitebus.EnrolFailed{Enrolment: en.ID, Slot: en.Slot, Reason: reason, Detail: "as the terminal said"}, when)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// deleted has terminal answer a deletion of slots with its index table used.
func deleted(terminal string, slots, used []int, readAt time.Time) sitebus.TemplatesDeleted {
	free := true
	for _, s := range slots {
		for _, u := range used {
			free = free && s != u
		}
	}
	return sitebus.TemplatesDeleted{Command: "c1", Slots: slots, Used: used, Capacity: 1000, ReadAt: readAt, Confirmed: free}
}

// types returns the types of ds.
func types(ds []biometric.Draft) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Type)
	}
	return out
}

// info decodes d's Info as a generic JSON object.
func info(t testing.TB, d biometric.Draft) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(d.Info, &m); err != nil {
		t.Fatalf("%s info %s: %v", d.Type, d.Info, err)
	}
	return m
}

// wantErr checks err is want (nil: no error).
func wantErr(t testing.TB, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("error %v, want none", err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("error %v, want %v", err, want)
	}
}

// replay applies drafts, as the journal would give them back (type and info, the
// info re-encoded), to a new engine of cfg.
func replay(t testing.TB, cfg biometric.Config, drafts []biometric.Draft) *biometric.Engine {
	t.Helper()
	e, err := biometric.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range drafts {
		if err := e.Apply(journaled(t, d)); err != nil {
			t.Fatalf("replaying draft %d (%s %s): %v", i, d.Type, d.Info, err)
		}
	}
	return e
}

// journaled is d as read back from a journal: its info decoded and encoded again
// (keys sorted, times as stored), and nothing but its type, time and info.
func journaled(t testing.TB, d biometric.Draft) biometric.Draft {
	t.Helper()
	var v any
	if err := json.Unmarshal(d.Info, &v); err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return biometric.Draft{Type: d.Type, At: d.At.UTC(), Info: b}
}

// sameState fails the test unless a and b answer every query alike.
func sameState(t testing.TB, a, b *biometric.Engine) {
	t.Helper()
	if x, y := a.Enrolments(""), b.Enrolments(""); !reflect.DeepEqual(x, y) {
		t.Errorf("enrolments differ:\n%+v\n%+v", x, y)
	}
	if x, y := a.Deletions(), b.Deletions(); !reflect.DeepEqual(x, y) {
		t.Errorf("deletions differ:\n%+v\n%+v", x, y)
	}
	if x, y := a.Orphans(), b.Orphans(); !reflect.DeepEqual(x, y) {
		t.Errorf("orphans differ:\n%+v\n%+v", x, y)
	}
}
