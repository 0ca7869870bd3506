package doorio

import (
	"context"
	"slices"
	"testing"
	"time"
)

// testDebounce is far longer than Bounce's chatter, so that only a stall of the
// whole machine for that long could let chatter through.
const testDebounce = 100 * time.Millisecond

func TestInputs(t *testing.T) {
	contact := func(d *Door) *Input { return d.Contact }
	exit := func(d *Door) *Input { return d.Exit }
	type step struct {
		name string
		do   func(*SimDoor)
		want []bool // every state reported so far, the initial one first
	}
	tests := []struct {
		name       string
		activeLow  bool
		input      func(*Door) *Input
		initial    bool
		steps      []step
		checkDelay bool
	}{
		{
			name: "contact/clean", activeLow: true, input: contact, initial: true,
			steps: []step{
				{"open", (*SimDoor).Open, []bool{true, false}},
				{"shut", (*SimDoor).Shut, []bool{true, false, true}},
			},
			checkDelay: true,
		},
		{
			name: "contact/chatter opening gives one change", activeLow: true, input: contact, initial: true,
			steps: []step{
				{"bounce 7", func(s *SimDoor) { s.Bounce(7) }, []bool{true, false}},
				{"shut", (*SimDoor).Shut, []bool{true, false, true}},
			},
			checkDelay: true,
		},
		{
			name: "contact/chatter without change gives none", activeLow: true, input: contact, initial: true,
			steps: []step{
				{"bounce 8", func(s *SimDoor) { s.Bounce(8) }, []bool{true}},
				{"open", (*SimDoor).Open, []bool{true, false}},
			},
		},
		{
			name: "contact/active high", activeLow: false, input: contact, initial: false,
			steps: []step{
				{"open", (*SimDoor).Open, []bool{false, true}},
				{"bounce 3", func(s *SimDoor) { s.Bounce(3) }, []bool{false, true, false}},
				{"open", (*SimDoor).Open, []bool{false, true, false, true}},
			},
		},
		{
			name: "exit/press and release", activeLow: true, input: exit, initial: false,
			steps: []step{
				{"press", (*SimDoor).PressExit, []bool{false, true}},
				{"release", (*SimDoor).ReleaseExit, []bool{false, true, false}},
				{"press again", (*SimDoor).PressExit, []bool{false, true, false, true}},
			},
			checkDelay: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sim, pins := newSim(t)
			d, err := OpenDoor(DoorConfig{
				Pins:             pins,
				Debounce:         testDebounce,
				ContactActiveLow: tc.activeLow,
				ExitActiveLow:    tc.activeLow,
			})
			if err != nil {
				t.Fatal(err)
			}
			in := tc.input(d)
			if in.Active() != tc.initial {
				t.Fatalf("Active() before Run = %t, want %t", in.Active(), tc.initial)
			}
			rec := runInput(t, in)
			if got := rec.states(); !slices.Equal(got, []bool{tc.initial}) {
				t.Fatalf("initial report %v, want [%t]", got, tc.initial)
			}
			prev := 1
			for _, st := range tc.steps {
				t0 := time.Now()
				st.do(sim)
				if len(st.want) > prev {
					waitFor(t, st.name+" to be reported", func() bool {
						c := rec.get()
						return len(c) >= len(st.want) && !c[len(c)-1].at.Before(t0)
					})
					if got := in.Active(); got != st.want[len(st.want)-1] {
						t.Errorf("after %s: Active() = %t, want %t", st.name, got, st.want[len(st.want)-1])
					}
				}
				prev = len(st.want)
			}
			last := tc.steps[len(tc.steps)-1]
			if got := rec.states(); !slices.Equal(got, last.want) {
				t.Fatalf("reported %v, want %v", got, last.want)
			}
			if tc.checkDelay {
				for i, c := range rec.get()[1:] {
					if lag := c.seen.Sub(c.at); lag < testDebounce {
						t.Errorf("change %d reported %v after it began to be stable, want at least the debounce %v", i+1, lag, testDebounce)
					}
				}
			}
		})
	}
}

func TestInputRunTwice(t *testing.T) {
	t.Parallel()
	_, pins := newSim(t)
	d, err := OpenDoor(DoorConfig{Pins: Pins{Exit: pins.Exit}, ExitActiveLow: true})
	if err != nil {
		t.Fatal(err)
	}
	runInput(t, d.Exit)
	if err := d.Exit.Run(context.Background(), func(bool, time.Time) {}); err == nil {
		t.Fatal("second concurrent Run succeeded")
	}
}

func TestNewInputErrors(t *testing.T) {
	if _, err := NewInput(nil, true, 0, nil); err == nil {
		t.Error("nil pin accepted")
	}
	_, pins := newSim(t)
	d, err := OpenDoor(DoorConfig{Pins: Pins{Exit: pins.Exit}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewInput(d.Exit.pin, true, -time.Second, nil); err == nil {
		t.Error("negative debounce accepted")
	}
}
