package bwc_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/apedge/apedge/agent/bwc"
)

// t0 is when the tests' shift starts: a fixed time, so that no test depends on the
// day it runs.
var t0 = time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)

const (
	office = "dock-office" // the office's dock, with a card reader
	hall   = "dock-hall"
	ann    = "ann-staff"
	bo     = "bo-staff"
	cy     = "cy-staff"
)

// at is t0 plus min minutes.
func at(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }

func newEngine(t testing.TB) *bwc.Engine {
	t.Helper()
	e, err := bwc.New(bwc.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// docked is a reading of a healthy camera in dock's slot, offload done, at battery.
func docked(dock string, slot int, serial string, battery int, when time.Time) bwc.SlotReading {
	return bwc.SlotReading{Dock: dock, Slot: slot, Occupied: true, Serial: serial, BatteryPct: battery, Charging: battery < 100,
		Firmware: "1.2.3", Offload: bwc.OffloadIdle, At: when}
}

// empty is a reading of an empty slot.
func empty(dock string, slot int, when time.Time) bwc.SlotReading {
	return bwc.SlotReading{Dock: dock, Slot: slot, At: when}
}

// read gives e the reading, failing the test on error.
func read(t testing.TB, e *bwc.Engine, r bwc.SlotReading) []bwc.Draft {
	t.Helper()
	ds, err := e.Reading(r)
	if err != nil {
		t.Fatalf("reading %+v: %v", r, err)
	}
	return ds
}

// issue issues serial to staff on the console, by staff, failing the test on error.
func issue(t testing.TB, e *bwc.Engine, serial, staff string, when time.Time) (bwc.Issue, bwc.Draft) {
	t.Helper()
	i, d, err := e.Issue(bwc.Request{Camera: serial, Staff: staff, By: staff, Via: bwc.ViaConsole, At: when})
	if err != nil {
		t.Fatalf("issuing %s to %s: %v", serial, staff, err)
	}
	return i, d
}

// check runs e.Check at now, failing the test on error.
func check(t testing.TB, e *bwc.Engine, now time.Time) []bwc.Draft {
	t.Helper()
	ds, err := e.Check(now)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// camera returns e's view of serial, failing the test if it has none.
func camera(t testing.TB, e *bwc.Engine, serial string) bwc.Camera {
	t.Helper()
	c, ok := e.Camera(serial)
	if !ok {
		t.Fatalf("no camera %s", serial)
	}
	return c
}

// types returns the types of ds.
func types(ds []bwc.Draft) []string {
	out := []string{}
	for _, d := range ds {
		out = append(out, d.Type)
	}
	return out
}

// info decodes d's Info as a generic JSON object.
func info(t testing.TB, d bwc.Draft) map[string]any {
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

// refusal returns err as a *bwc.Refusal, failing the test if it is none.
func refusal(t testing.TB, err error) *bwc.Refusal {
	t.Helper()
	var r *bwc.Refusal
	if !errors.As(err, &r) || !errors.Is(err, bwc.ErrRefused) {
		t.Fatalf("error %v, want a refusal", err)
	}
	return r
}

// replay applies drafts, as the journal would give them back (type and info, the
// info re-encoded), to a new engine of cfg.
func replay(t testing.TB, cfg bwc.Config, drafts []bwc.Draft) *bwc.Engine {
	t.Helper()
	e, err := bwc.New(cfg)
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
// (keys sorted), and nothing but its type, time and info.
func journaled(t testing.TB, d bwc.Draft) bwc.Draft {
	t.Helper()
	var v any
	if err := json.Unmarshal(d.Info, &v); err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return bwc.Draft{Type: d.Type, At: d.At.UTC(), Info: b}
}

// sameViews fails the test unless a and b show the same cameras.
func sameViews(t testing.TB, a, b *bwc.Engine) {
	t.Helper()
	if x, y := a.Cameras(), b.Cameras(); !reflect.DeepEqual(x, y) {
		t.Errorf("cameras differ:\n%+v\n%+v", x, y)
	}
}
