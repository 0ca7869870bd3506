package agent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apedge/apedge/agent"
	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/internal/clock/clocktest"
)

// onEachNight runs test as a parallel subtest on each of clocktest.Nights, with london
// giving a local time of that night: day 22 is the evening and day 23 the morning after
// (the days of the night of 22-23 November 2026 the tests were first written for).
func onEachNight(t *testing.T, test func(t *testing.T, n clocktest.Night, london func(day, hour, minute int) time.Time)) {
	for _, n := range clocktest.Nights() {
		t.Run(n.Name, func(t *testing.T) {
			t.Parallel()
			test(t, n, func(day, hour, minute int) time.Time { return n.At(day-22, hour, minute) })
		})
	}
}

// eventT is a journaled event reduced to what the curfew tests look at.
type eventT struct {
	typ, crn, key string
	at            time.Time
	info          map[string]any
}

// TestCurfewNight runs a night through the agent on the real site bus with a clock the
// test moves: one resident is in before 23:00, one is not and comes back at 23:40, the
// first leaves at 02:00. The roll, absence, late return and breach are journaled once
// each, with their windows and evidence; a restart in the middle of the window repeats
// none of them; the next night is decided as it comes.
func TestCurfewNight(t *testing.T) {
	onEachNight(t, func(t *testing.T, n clocktest.Night, london func(day, hour, minute int) time.Time) {
		s := newSite(t)
		s.clock = clocktest.New(london(22, 22, 0))
		s.startCentral()
		a, stop, _ := s.startAgent()
		subscribed(t, a)
		pub := sitebus.NewPublisher(s.bus, site, "boot-c", s.clock)
		read := func(at time.Time, reader, direction, card string) {
			t.Helper()
			s.clock.Set(at)
			if _, err := pub.PublishAt(t.Context(), at, sitebus.ClassReader, reader, sitebus.KindEvent, "card-read", cardRead("front", direction, card)); err != nil {
				t.Fatal(err)
			}
		}
		got := func() []eventT {
			var out []eventT
			for _, ev := range s.events(a) {
				typ := strings.TrimPrefix(ev.Type, "approved-premises.")
				e := eventT{typ: typ}
				if p := ev.Data.PersonReference; p != nil {
					e.crn = p.Identifiers[0].Value
				}
				e.at, _ = time.Parse(time.RFC3339Nano, ev.Data.OccurredAt)
				json.Unmarshal(ev.Data.AdditionalInformation, &e.info)
				if k, ok := e.info["decisionKey"].(string); ok {
					e.key = k
				}
				out = append(out, e)
			}
			return out
		}
		waitDecisions := func(want ...string) []eventT {
			t.Helper()
			var evs []eventT
			s.waitFor(fmt.Sprint("decisions ", want), func() (bool, string) {
				evs = got()
				var have []string
				for _, e := range evs {
					if e.key != "" {
						have = append(have, e.typ+" "+e.crn)
					}
				}
				return slices.Equal(have, want), fmt.Sprint(have)
			})
			return evs
		}

		read(london(22, 22, 30), "front-in", "entry", "10001") // X100001 in
		journaled(t, a, 2, 0, 0)
		s.clock.Set(london(22, 23, 0))
		evs := waitDecisions("curfew.absent X100002", "curfew.roll ")
		roll := evs[len(evs)-1]
		if !roll.at.Equal(london(22, 23, 0)) || fmt.Sprint(roll.info["in"]) != "[X100001]" || fmt.Sprint(roll.info["unknown"]) != "[X100002]" {
			t.Errorf("roll at %v: %v", roll.at, roll.info)
		}
		absent := evs[len(evs)-2]
		w, _ := absent.info["window"].(map[string]any)
		if absent.key != "curfew.absent/X100002/ap-standard/"+n.Date(0) || w["source"] != "ap-rule" || w["startLocal"] == nil {
			t.Errorf("absent %s: %v", absent.key, absent.info)
		}

		read(london(22, 23, 40), "front-in", "entry", "10002") // X100002 back, 40 minutes late
		evs = waitDecisions("curfew.absent X100002", "curfew.roll ", "curfew.returned-late X100002")
		if late := evs[len(evs)-1]; fmt.Sprint(late.info["minutesLate"]) != "40" {
			t.Errorf("returned-late %v", late.info)
		}
		read(london(23, 2, 0), "front-out", "exit", "10011") // X100001 out at 02:00
		waitDecisions("curfew.absent X100002", "curfew.roll ", "curfew.returned-late X100002", "curfew.breached X100001")

		// A restart in the middle of the window repeats nothing.
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		before := len(got())
		s.clock.Set(london(23, 3, 0))
		a, _, _ = s.startAgent()
		subscribed(t, a)
		journaled(t, a, 1, 0, 0) // agent.started only
		if n := len(got()); n != before+1 {
			t.Errorf("after a restart mid-window the journal grew by %d, want only agent.started", n-before)
		}

		// The next night: X100001 is still out at 23:00.
		s.clock.Set(london(23, 23, 0))
		waitDecisions("curfew.absent X100002", "curfew.roll ", "curfew.returned-late X100002", "curfew.breached X100001",
			"curfew.absent X100001", "curfew.roll ")
	})
}

// TestClockUnsynced: while the clock is not known to be right the agent says so once
// and decides nothing; once it is, the decisions it held are made, with their own times.
func TestClockUnsynced(t *testing.T) {
	onEachNight(t, func(t *testing.T, n clocktest.Night, london func(day, hour, minute int) time.Time) {
		s := newSite(t)
		s.clock = clocktest.New(london(22, 22, 0))
		var synced atomic.Bool
		a, err := agent.New(context.Background(), s.cfg, s.log, agent.WithClock(s.clock),
			agent.WithClockCheck(func(context.Context) (bool, string, error) {
				if synced.Load() {
					return true, "test: synchronised", nil
				}
				return false, "test: NTPSynchronized=no", nil
			}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close() })
		start(t, "agent", a.Run)
		subscribed(t, a)
		s.waitTypes(a, "agent.clock-unsynced")
		s.clock.Set(london(22, 23, 30)) // the window started; nothing may be decided
		s.clock.Set(london(22, 23, 31))
		for _, typ := range s.types(a) {
			if strings.HasPrefix(typ, "curfew.") {
				t.Fatalf("curfew decision %s with the clock unsynchronised", typ)
			}
		}
		synced.Store(true)
		s.clock.Set(london(22, 23, 33)) // the next clock check (every minute by default)
		s.waitTypes(a, "curfew.roll", "curfew.absent")
		said := 0
		for _, typ := range s.types(a) {
			if typ == "agent.clock-unsynced" {
				said++
			}
		}
		if said != 1 {
			t.Errorf("agent.clock-unsynced journaled %d times, want once", said)
		}
		for _, ev := range s.events(a) {
			if ev.Type == "approved-premises.curfew.roll" && !occurredAt(ev).Equal(london(22, 23, 0)) {
				t.Errorf("roll held while unsynchronised dated %s, want the window start", ev.Data.OccurredAt)
			}
		}
	})
}

// TestUnattributedExitAtNight: a door opened from inside by the exit button with no
// read is an unattributed exit, and during the AP curfew a door alarm as well.
func TestUnattributedExitAtNight(t *testing.T) {
	onEachNight(t, func(t *testing.T, n clocktest.Night, london func(day, hour, minute int) time.Time) {
		s := newSite(t)
		s.clock = clocktest.New(london(22, 21, 0))
		s.startCentral()
		a, _, _ := s.startAgent()
		subscribed(t, a)
		pub := sitebus.NewPublisher(s.bus, site, "boot-x", s.clock)
		exit := func(at time.Time) {
			t.Helper()
			s.clock.Set(at)
			ev := sitebus.DoorEvent{Reason: sitebus.UnlockByExitButton, Authorised: true, Passages: 1, UnlockedAt: at.Add(-2 * time.Second)}
			if _, err := pub.PublishAt(t.Context(), at, sitebus.ClassDoor, "garden", sitebus.KindEvent, sitebus.DoorOpened, ev); err != nil {
				t.Fatal(err)
			}
		}
		exit(london(22, 21, 0))  // evening: an unattributed exit only
		journaled(t, a, 2, 0, 0) // agent.started, the exit
		exit(london(23, 1, 30))  // at night: and an alarm
		s.waitTypes(a, "door.alarm")
		var exits, alarms int
		for _, ev := range s.events(a) {
			switch ev.Type {
			case "approved-premises.movement.exited":
				exits++
				var info struct {
					Basis, Door string
					Attributed  *bool
				}
				json.Unmarshal(ev.Data.AdditionalInformation, &info)
				if info.Basis != "exit-button" || info.Door != "garden" || info.Attributed == nil || *info.Attributed || ev.Data.PersonReference != nil {
					t.Errorf("exit %s", ev.Data.AdditionalInformation)
				}
			case "approved-premises.door.alarm":
				alarms++
				if !occurredAt(ev).Equal(london(23, 1, 30)) {
					t.Errorf("alarm at %s, want the exit's time", ev.Data.OccurredAt)
				}
			}
		}
		if exits != 2 || alarms != 1 {
			t.Errorf("%d exits and %d alarms, want 2 exits and 1 alarm (the night one)", exits, alarms)
		}
	})
}

// occurredAt is when ev says it happened.
func occurredAt(ev *event.Event) time.Time {
	at, _ := time.Parse(time.RFC3339Nano, ev.Data.OccurredAt)
	return at
}
