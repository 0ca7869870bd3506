package door_test

import (
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/devices/door"
)

func TestHoldScenarios(t *testing.T) {
	entry := door.Grant{Reader: "front-in", Direction: "entry", Credential: "12:3456"}
	exitCard := door.Grant{Reader: "front-out", Direction: "exit", Credential: "12:3456"}
	open, closed := door.Contact{Open: true}, door.Contact{Open: false}
	cfg := door.Config{UnlockFor: 5 * time.Second, HeldOpenAfter: 30 * time.Second, HasContact: true}
	relock := cfg
	relock.RelockOnClose = true
	unlocked := door.Hold{Mode: door.HoldUnlocked, Until: t0.Add(time.Hour), By: "mgr", Reason: "deliveries"}
	locked := door.Hold{Mode: door.HoldLocked, Until: t0.Add(time.Hour), By: "mgr", Reason: "search"}
	lockdown := door.Hold{Mode: door.HoldLockdown, Until: t0.Add(time.Hour), By: "mgr", Reason: "police"}
	tests := []struct {
		name  string
		cfg   door.Config
		steps []step
	}{
		{"held unlocked: openings are authorised, never forced or tailgates", cfg, []step{
			{0, unlocked, "held unlocked", false},
			{time.Minute, open, "opened", false},
			{time.Minute + time.Second, closed, "closed", false},
			{2 * time.Minute, open, "opened", false},
			{2*time.Minute + time.Second, closed, "closed", false},
			{30 * time.Minute, nil, "", false},
		}},
		{"held unlocked ends by itself and relocks", cfg, []step{
			{0, unlocked, "held unlocked", false},
			{59 * time.Minute, nil, "", false},
			{time.Hour, nil, "hold-ended locked", true},
			{time.Hour + time.Second, open, "forced", true},
		}},
		{"a grant while held unlocked does not shorten the hold", cfg, []step{
			{0, unlocked, "held unlocked", false},
			{time.Minute, entry, "unlocked", false},
			{time.Minute + time.Second, open, "opened", false},
			{time.Minute + 2*time.Second, closed, "closed", false},
			{10 * time.Minute, nil, "", false},
			{time.Hour, nil, "hold-ended locked", true},
		}},
		{"held unlocked with relock on close stays unlocked", relock, []step{
			{0, unlocked, "held unlocked", false},
			{time.Second, open, "opened", false},
			{2 * time.Second, closed, "closed", false},
			{time.Minute, nil, "", false},
		}},
		{"held unlocked released early", cfg, []step{
			{0, unlocked, "held unlocked", false},
			{10 * time.Minute, door.Release{By: "mgr"}, "hold-ended locked", true},
			{time.Hour, nil, "", true},
		}},
		{"held locked: entry refused", cfg, []step{
			{0, locked, "held", true},
			{time.Second, entry, "", true},
			{2 * time.Second, open, "forced", true},
		}},
		{"held locked: exit button still lets people out", cfg, []step{
			{0, locked, "held", true},
			{time.Second, door.ExitRequest{}, "unlocked", false},
			{2 * time.Second, open, "opened", false},
			{3 * time.Second, closed, "closed", false},
			{6 * time.Second, nil, "locked", true},
		}},
		{"lockdown: exit reader still lets people out", cfg, []step{
			{0, lockdown, "held", true},
			{time.Second, entry, "", true},
			{2 * time.Second, exitCard, "unlocked", false},
			{3 * time.Second, open, "opened", false},
			{7 * time.Second, nil, "locked", true},
		}},
		{"lockdown: exit button still lets people out", cfg, []step{
			{0, lockdown, "held", true},
			{time.Second, door.ExitRequest{}, "unlocked", false},
			{2 * time.Second, open, "opened", false},
		}},
		{"lockdown cuts short an entry unlock", cfg, []step{
			{0, entry, "unlocked", false},
			{time.Second, lockdown, "held locked", true},
		}},
		{"lockdown lets an exit already under way finish", cfg, []step{
			{0, door.ExitRequest{}, "unlocked", false},
			{time.Second, lockdown, "held", false},
			{2 * time.Second, open, "opened", false},
			{5 * time.Second, nil, "locked", true},
		}},
		{"lockdown replaces a hold unlocked", cfg, []step{
			{0, unlocked, "held unlocked", false},
			{time.Minute, lockdown, "held locked", true},
			{2 * time.Minute, entry, "", true},
		}},
		{"a site release ends only a lockdown", cfg, []step{
			{0, locked, "held", true},
			{time.Minute, door.Release{Mode: door.HoldLockdown, By: "mgr"}, "", true},
			{2 * time.Minute, entry, "", true},
			{3 * time.Minute, door.Release{By: "mgr"}, "hold-ended", true},
			{4 * time.Minute, entry, "unlocked", false},
		}},
		{"lockdown released: entry works again", cfg, []step{
			{0, lockdown, "held", true},
			{time.Minute, door.Release{Mode: door.HoldLockdown, By: "mgr"}, "hold-ended", true},
			{2 * time.Minute, entry, "unlocked", false},
		}},
		{"held locked ends by itself", cfg, []step{
			{0, locked, "held", true},
			{time.Hour, nil, "hold-ended", true},
			{time.Hour + time.Second, entry, "unlocked", false},
		}},
		{"a hold already past its time is ignored", cfg, []step{
			{2 * time.Hour, locked, "", true},
			{2*time.Hour + time.Second, entry, "unlocked", false},
		}},
		{"staff unlock still works while held locked", cfg, []step{
			{0, locked, "held", true},
			{time.Second, door.Unlock{For: 10 * time.Second, By: "staff-7"}, "unlocked", false},
			{11 * time.Second, nil, "locked", true},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			run(t, door.New(tc.cfg), tc.steps)
		})
	}
}

// run applies steps to m, checking the events and lock after each.
func run(t *testing.T, m *door.Machine, steps []step) {
	t.Helper()
	for i, s := range steps {
		now := t0.Add(s.at)
		var evs []door.Event
		if s.in == nil {
			evs = m.Tick(now)
		} else {
			evs = m.Handle(now, s.in)
		}
		var kinds []string
		for _, e := range evs {
			kinds = append(kinds, e.Kind)
			if e.At.After(now) {
				t.Errorf("step %d: %s at %v, after now %v", i, e.Kind, e.At, now)
			}
		}
		if got := strings.Join(kinds, " "); got != s.want {
			t.Errorf("step %d (%T at %v): events %q, want %q", i, s.in, s.at, got, s.want)
		}
		if m.Locked() != s.locked {
			t.Errorf("step %d: locked %v, want %v", i, m.Locked(), s.locked)
		}
	}
}

func TestHoldDetail(t *testing.T) {
	m := door.New(door.Config{HasContact: true})
	until := t0.Add(time.Hour)
	evs := m.Handle(t0, door.Hold{Mode: door.HoldUnlocked, Until: until, By: "mgr", Reason: "deliveries"})
	if h := evs[0]; h.Kind != door.EventHeld || h.Hold != door.HoldUnlocked || h.By != "mgr" || h.HoldReason != "deliveries" || !h.Until.Equal(until) {
		t.Errorf("held = %+v", h)
	}
	st := m.State()
	if st.Locked || st.Hold != door.HoldUnlocked || !st.HoldUntil.Equal(until) || st.HoldBy != "mgr" || st.HoldReason != "deliveries" || !st.UnlockedUntil.Equal(until) {
		t.Errorf("state = %+v, want held unlocked by mgr until %v", st, until)
	}
	if got := m.Next(); !got.Equal(until) {
		t.Errorf("Next = %v, want the hold's end %v", got, until)
	}
	evs = m.Handle(t0.Add(time.Minute), door.Contact{Open: true})
	if o := evs[0]; o.Kind != door.EventOpened || o.Reason != door.ByHold || !o.Authorised || o.By != "mgr" {
		t.Errorf("opened = %+v, want an authorised opening of the hold", o)
	}
	m.Handle(t0.Add(2*time.Minute), door.Contact{Open: false})
	evs = m.Handle(t0.Add(3*time.Minute), door.Release{By: "ann"})
	if e := evs[0]; e.Kind != door.EventHoldEnded || e.By != "ann" || e.Hold != door.HoldUnlocked || e.HoldReason != "deliveries" {
		t.Errorf("hold-ended = %+v, want released by ann", e)
	}
	if st := m.State(); !st.Locked || st.Hold != "" || !st.HoldUntil.IsZero() {
		t.Errorf("state after release = %+v, want locked with no hold", st)
	}

	m.Handle(t0.Add(4*time.Minute), door.Hold{Mode: door.HoldLockdown, Until: until, By: "mgr"})
	for _, tc := range []struct {
		at        time.Time
		direction string
		want      string
	}{
		{t0.Add(5 * time.Minute), "entry", door.RefusedLockdown},
		{t0.Add(5 * time.Minute), "", door.RefusedLockdown},
		{t0.Add(5 * time.Minute), "exit", ""},
		{until, "entry", ""}, // past its time, even before a Tick
	} {
		if got := m.Refuses(tc.at, tc.direction); got != tc.want {
			t.Errorf("Refuses(%v, %q) = %q, want %q", tc.at, tc.direction, got, tc.want)
		}
	}
	m.Handle(t0.Add(6*time.Minute), door.Hold{Mode: door.HoldLocked, Until: until})
	if got := m.Refuses(t0.Add(6*time.Minute), "entry"); got != door.RefusedHeldLocked {
		t.Errorf("held locked: Refuses = %q, want %q", got, door.RefusedHeldLocked)
	}
}
