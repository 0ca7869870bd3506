package door_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/devices/door"
)

// step is one thing that happens in a scenario, at an offset from the start.
type step struct {
	at   time.Duration
	in   door.Input // nil: only time passes (Tick)
	want string     // the event kinds reported, space-separated
	// locked is the lock's state after the step.
	locked bool
}

var t0 = time.Date(2026, 11, 22, 23, 30, 0, 0, time.UTC)

func TestScenarios(t *testing.T) {
	grant := door.Grant{Reader: "front-in", Direction: "entry", Credential: "12:3456"}
	open, closed := door.Contact{Open: true}, door.Contact{Open: false}
	cfg := door.Config{UnlockFor: 5 * time.Second, HeldOpenAfter: 30 * time.Second, HasContact: true}
	relock := cfg
	relock.RelockOnClose = true
	tests := []struct {
		name  string
		cfg   door.Config
		steps []step
	}{
		{"authorised entry", cfg, []step{
			{0, grant, "unlocked", false},
			{time.Second, open, "opened", false},
			{3 * time.Second, closed, "closed", false},
			{5 * time.Second, nil, "locked", true},
		}},
		{"authorised entry, relock on close", relock, []step{
			{0, grant, "unlocked", false},
			{time.Second, open, "opened", false},
			{3 * time.Second, closed, "closed locked", true},
			{10 * time.Second, nil, "", true},
		}},
		{"grant not used", cfg, []step{
			{0, grant, "unlocked", false},
			{4 * time.Second, nil, "", false},
			{5 * time.Second, nil, "locked", true},
		}},
		{"forced", cfg, []step{
			{0, open, "forced", true},
			{2 * time.Second, closed, "closed", true},
		}},
		{"forced and held", cfg, []step{
			{0, open, "forced", true},
			{31 * time.Second, nil, "held-open", true},
			{40 * time.Second, closed, "closed held-open-ended", true},
		}},
		{"held open after entry", cfg, []step{
			{0, grant, "unlocked", false},
			{time.Second, open, "opened", false},
			{6 * time.Second, nil, "locked", true},
			{30 * time.Second, nil, "", true},
			{31 * time.Second, nil, "held-open", true},
			{32 * time.Second, nil, "", true},
			{50 * time.Second, closed, "closed held-open-ended", true},
		}},
		{"held-open and relock in one tick come in time order", cfg, []step{
			{0, grant, "unlocked", false},
			{0, open, "opened", false},
			{time.Minute, nil, "locked held-open", true},
		}},
		{"exit button", cfg, []step{
			{0, door.ExitRequest{}, "unlocked", false},
			{time.Second, open, "opened", false},
			{2 * time.Second, closed, "closed", false},
			{5 * time.Second, nil, "locked", true},
		}},
		{"tailgating: two passages on one unlock", cfg, []step{
			{0, grant, "unlocked", false},
			{time.Second, open, "opened", false},
			{2 * time.Second, closed, "closed", false},
			{3 * time.Second, open, "tailgate", false},
			{4 * time.Second, closed, "closed", false},
			{5 * time.Second, nil, "locked", true},
		}},
		{"second grant is not a tailgate", cfg, []step{
			{0, grant, "unlocked", false},
			{time.Second, open, "opened", false},
			{2 * time.Second, closed, "closed", false},
			{2500 * time.Millisecond, door.Grant{Reader: "front-in", Direction: "entry", Credential: "12:7"}, "unlocked", false},
			{3 * time.Second, open, "opened", false},
			{4 * time.Second, closed, "closed", false},
		}},
		{"unlocked while open counts the open door as the passage", cfg, []step{
			{0, door.ExitRequest{}, "unlocked", false},
			{time.Second, open, "opened", false},
			{2 * time.Second, grant, "unlocked", false},
			{3 * time.Second, closed, "closed", false},
			{4 * time.Second, open, "tailgate", false},
		}},
		{"opening after relock is forced", cfg, []step{
			{0, grant, "unlocked", false},
			{5 * time.Second, nil, "locked", true},
			{6 * time.Second, open, "forced", true},
		}},
		{"staff unlock for 20s", cfg, []step{
			{0, door.Unlock{For: 20 * time.Second, By: "staff-7"}, "unlocked", false},
			{10 * time.Second, nil, "", false},
			{20 * time.Second, nil, "locked", true},
		}},
		{"repeated contact report is ignored", cfg, []step{
			{0, closed, "", true},
			{time.Second, open, "forced", true},
			{2 * time.Second, open, "", true},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := door.New(tc.cfg)
			if !m.Locked() {
				t.Fatal("new door is unlocked")
			}
			for i, s := range tc.steps {
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
		})
	}
}

func TestEventDetail(t *testing.T) {
	m := door.New(door.Config{HasContact: true})
	grant := door.Grant{Reader: "front-in", Direction: "entry", Credential: "12:3456"}
	evs := m.Handle(t0, grant)
	if u := evs[0]; u.Reason != door.ByCredential || u.Reader != "front-in" || u.Credential != "12:3456" || !u.Until.Equal(t0.Add(5*time.Second)) {
		t.Errorf("unlocked = %+v", u)
	}
	evs = m.Handle(t0.Add(time.Second), door.Contact{Open: true})
	if o := evs[0]; !o.Authorised || o.Passages != 1 || o.Credential != "12:3456" || o.Direction != "entry" || !o.UnlockedAt.Equal(t0) {
		t.Errorf("opened = %+v, want authorised first passage of 12:3456", o)
	}
	if st := m.State(); st.Locked || !st.Open || !st.Known || st.Forced {
		t.Errorf("state = %+v", st)
	}
	evs = m.Handle(t0.Add(3*time.Second), door.Contact{Open: false})
	if c := evs[0]; c.OpenFor != 2*time.Second {
		t.Errorf("closed = %+v, want open for 2s", c)
	}
	evs = m.Handle(t0.Add(4*time.Second), door.Contact{Open: true})
	if tg := evs[0]; tg.Kind != door.EventTailgate || tg.Passages != 2 || tg.Credential != "12:3456" {
		t.Errorf("tailgate = %+v, want the second passage on 12:3456", tg)
	}
	evs = m.Handle(t0.Add(time.Hour), door.ExitRequest{})
	if kinds := kindsOf(evs); !slices.Equal(kinds, []string{"locked", "held-open", "unlocked"}) {
		t.Errorf("after an hour: %v", kinds)
	}
	if st := m.State(); !st.HeldOpen || st.Forced {
		t.Errorf("state = %+v, want held open, not forced", st)
	}
}

func TestNext(t *testing.T) {
	m := door.New(door.Config{HasContact: true})
	if !m.Next().IsZero() {
		t.Errorf("idle door: Next = %v, want zero", m.Next())
	}
	m.Handle(t0, door.ExitRequest{})
	if got := m.Next(); !got.Equal(t0.Add(5 * time.Second)) {
		t.Errorf("Next = %v, want the relock", got)
	}
	m.Handle(t0.Add(time.Second), door.Contact{Open: true})
	m.Tick(t0.Add(5 * time.Second))
	if got := m.Next(); !got.Equal(t0.Add(31 * time.Second)) {
		t.Errorf("Next = %v, want held-open at 31s", got)
	}
	m.Tick(t0.Add(31 * time.Second))
	if !m.Next().IsZero() {
		t.Errorf("Next = %v after held-open reported, want zero", m.Next())
	}
}

func kindsOf(evs []door.Event) []string {
	var k []string
	for _, e := range evs {
		k = append(k, e.Kind)
	}
	return k
}
