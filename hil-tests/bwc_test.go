package hiltests

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/agent/bwc"
	"github.com/apedge/apedge/devices/bwcdock"
	"github.com/apedge/apedge/formats/sitebus"
)

// TestBWCShiftReachesCentral runs a shift of a body-worn camera through a real
// Mosquitto (TLS, client certificates) with the dock on the bus as its adapter puts
// it there, with its own certificate: camera BWC-0002 is issued to Ann on the
// console, and the dock is sent the signed "issue" indication for its slot; Ann
// takes it from the dock; twelve hours and two minutes later on the agent's clock
// it is overdue; docked again it is returned, but its footage fails to offload, so
// it is not issued again; staff re-seat it in another slot to retry, which takes
// it from its dock with no issue recorded (an alarm), and the offload there
// succeeds. Central stores the seven bwc events signed, in order, with what each
// says; no dock message was refused; and central holds exactly the journal.
func TestBWCShiftReachesCentral(t *testing.T) {
	t.Parallel()
	s := newBWCSite(t, "BWC1")
	ctx := t.Context()
	reg, d := s.agent.BWC(), s.dock

	is, err := reg.Issue(ctx, "BWC-0002", annStaff, consoleBy)
	if err != nil {
		t.Fatalf("issue BWC-0002: %v", err)
	}
	if is.Camera != "BWC-0002" || is.Dock != dockID || is.Slot != 2 || is.Staff != annStaff || is.By != consoleBy || is.Via != bwc.ViaConsole ||
		is.Battery != 100 || is.Issue != 1 {
		t.Errorf("issue %+v; want BWC-0002 from slot 2 at 100%% to %s by %s, its first", is, annStaff, consoleBy)
	}
	if cmd := d.waitCmd(1); cmd.Action != sitebus.ActionIndicate || *cmd.Slot != 2 || cmd.Pattern != sitebus.PatternIssue || cmd.By != consoleBy {
		t.Errorf("the dock's first command %+v; want the issue indication on slot 2 by %s", cmd, consoleBy)
	}
	waitFor(t, 30*time.Second, "slot 2's LED showing the issue", func() (bool, string) {
		l := d.sim.LED(2)
		return l.Pattern == bwcdock.PatternIssue, fmt.Sprintf("%+v", l)
	})

	if _, err := d.sim.Undock(2); err != nil {
		t.Fatal(err)
	}
	s.waitJournaled(bwc.TypeTaken, 1)
	s.waitCamera("BWC-0002", "out with Ann", func(c bwc.Camera) bool {
		return c.Location == bwc.LocationOut && c.Issue != nil && c.Issue.Staff == annStaff && !c.Issue.TakenAt.IsZero()
	})

	// A shift is 12 hours: out 11, it is not overdue; out 12 hours and 2 minutes, it
	// is, by the register's check every minute on the agent's clock.
	s.clock.Add(11 * time.Hour)
	if o, err := reg.Overdue(ctx); err != nil || len(o) != 0 {
		t.Errorf("overdue after 11 hours: %+v (%v), want none", o, err)
	}
	s.clock.Add(time.Hour + 2*time.Minute)
	s.waitJournaled(bwc.TypeOverdue, 1)
	if o, err := reg.Overdue(ctx); err != nil || len(o) != 1 || o[0].Serial != "BWC-0002" {
		t.Errorf("overdue %+v (%v), want BWC-0002", o, err)
	}

	// Back in slot 2, its offload fails half way.
	if err := d.sim.FailNextOffload("BWC-0002"); err != nil {
		t.Fatal(err)
	}
	if err := d.sim.Dock(2, "BWC-0002"); err != nil {
		t.Fatal(err)
	}
	s.waitJournaled(bwc.TypeReturned, 1)
	s.clock.Add(10 * time.Minute)
	d.sim.Advance()
	s.waitJournaled(bwc.TypeOffloadFailed, 1)
	c := s.waitCamera("BWC-0002", "in slot 2, its footage still to offload", func(c bwc.Camera) bool {
		return dockedAt(2)(c) && c.Issue == nil && c.NeedsOffload && c.Offload == bwcdock.OffloadFailed
	})
	if c.Eligible {
		t.Errorf("a camera whose offload failed is eligible: %+v", c)
	}
	_, err = reg.Issue(ctx, "BWC-0002", annStaff, consoleBy)
	var ref *bwc.Refusal
	if !errors.Is(err, bwc.ErrRefused) || !errors.As(err, &ref) || ref.Slot != 2 || !strings.Contains(err.Error(), "failed to offload") {
		t.Errorf("issue after the failed offload: %v; want refused, its footage failed to offload", err)
	}
	if cmd := d.waitCmd(2); *cmd.Slot != 2 || cmd.Pattern != sitebus.PatternRefused || cmd.Reason == "" {
		t.Errorf("the dock's second command %+v; want the refused indication on slot 2, with the reason", cmd)
	}

	// Re-seated in slot 4 to retry: it left slot 2 with no issue, and its footage
	// offloads there, the half not yet offloaded. An hour on, it is charged.
	if _, err := d.sim.Undock(2); err != nil {
		t.Fatal(err)
	}
	if err := d.sim.Dock(4, "BWC-0002"); err != nil {
		t.Fatal(err)
	}
	s.waitJournaled(bwc.TypeRemoved, 1)
	s.clock.Add(7 * time.Minute)
	d.sim.Advance()
	s.waitJournaled(bwc.TypeOffloaded, 1)
	s.clock.Add(time.Hour)
	d.sim.Advance()
	s.waitCamera("BWC-0002", "in slot 4, offloaded, charged and eligible", func(c bwc.Camera) bool {
		return dockedAt(4)(c) && !c.NeedsOffload && c.Battery == 100 && c.Eligible
	})

	got := s.waitStoredBWC(bwc.TypeIssued, bwc.TypeTaken, bwc.TypeOverdue, bwc.TypeReturned, bwc.TypeOffloadFailed, bwc.TypeRemoved,
		bwc.TypeOffloaded)
	shift := (12 * time.Hour).Seconds()
	for i, want := range []struct {
		what string
		ok   func(map[string]any) bool
	}{
		{"BWC-0002 from dock-1 slot 2 at 100% to s-ann by keyworker-1 on the console, its first issue", func(x map[string]any) bool {
			return x["dock"] == dockID && x["slot"] == 2.0 && x["staff"] == annStaff && x["by"] == consoleBy && x["via"] == bwc.ViaConsole &&
				x["battery"] == 100.0 && x["issue"] == 1.0
		}},
		{"taken from slot 2 by s-ann, issue 1", func(x map[string]any) bool {
			return x["slot"] == 2.0 && x["staff"] == annStaff && x["issue"] == 1.0
		}},
		{"out longer than the 12-hour shift, with s-ann", func(x map[string]any) bool {
			out, _ := x["outSeconds"].(float64)
			return x["staff"] == annStaff && x["shiftSeconds"] == shift && out > shift
		}},
		{"returned to slot 2, taken, after more than the shift", func(x map[string]any) bool {
			out, _ := x["outSeconds"].(float64)
			return x["slot"] == 2.0 && x["taken"] == true && x["staff"] == annStaff && out > shift
		}},
		{"its offload in slot 2 failed, with the dock's detail", func(x map[string]any) bool {
			return x["slot"] == 2.0 && x["detail"] == bwcdock.FailDetail
		}},
		{"taken from slot 2 with no issue", func(x map[string]any) bool { return x["dock"] == dockID && x["slot"] == 2.0 }},
		{"offloaded in slot 4: the half of two hours of footage left", func(x map[string]any) bool {
			b, _ := x["bytes"].(float64)
			return x["slot"] == 4.0 && b >= 60*bwcdock.BytesPerMinute && b < 61*bwcdock.BytesPerMinute
		}},
	} {
		if e := got[i]; e.Info["camera"] != "BWC-0002" || !want.ok(e.Info) {
			t.Errorf("seq %d %s: %v; want %s", e.Seq, e.Type, e.Info, want.what)
		}
	}
	if st := s.agent.Stats(); st.BadMessages != 0 || st.Refused != 0 {
		t.Errorf("the agent refused dock messages: %+v", st)
	}
	s.checkDelivered(t)
}

// TestBWCDockOfflineAndBack: the dock's cable is pulled (its TCP connection
// closed with no DISCONNECT): the broker publishes its last will, the offline
// status of that connection's boot, and the agent has the dock offline, the state
// of its cameras unknown, and issues none. While it is offline a camera is taken
// from it with no issue; plugged back, with a new boot, its status shows the empty
// slot, which the agent alarms as a camera removed with no issue; the dock is
// online again and Ann's staff card at its reader issues her the camera the agent
// chooses, its slot told so. Central stores both bwc events, signed, in order.
func TestBWCDockOfflineAndBack(t *testing.T) {
	t.Parallel()
	s := newBWCSite(t, "BWC2")
	ctx := t.Context()
	d := s.dock

	d.pullCable()
	waitFor(t, 30*time.Second, "the dock's will on the bus", func() (bool, string) {
		for _, m := range s.dockStatuses() {
			st, err := sitebus.DecodeDockStatus(m.Data)
			if err != nil {
				t.Fatalf("a status of the dock: %v", err)
			}
			if m.Boot == d.boot(1) && !st.Online {
				if m.Seq != 1 || len(st.Slots) != 0 {
					t.Errorf("the will: seq %d, %+v; want seq 1 of the boot's state, no slots", m.Seq, st)
				}
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d statuses", len(s.dockStatuses()))
	})
	s.waitDockOnline(false)
	c := s.waitCamera("BWC-0001", "unknown", func(c bwc.Camera) bool { return c.Location == bwc.LocationUnknown })
	if c.Eligible || c.Unknown == "" {
		t.Errorf("a camera of an offline dock: %+v; want not eligible, and why its state is unknown", c)
	}
	if _, err := s.agent.BWC().Issue(ctx, "BWC-0001", annStaff, consoleBy); !errors.Is(err, bwc.ErrRefused) {
		t.Errorf("issue from an offline dock: %v, want refused", err)
	}
	if n := s.journaledSubstance(bwc.TypeIssued); n != 0 {
		t.Errorf("%d issues journaled with the dock offline", n)
	}

	// Taken while the dock is off the bus: nothing is said until it is back.
	if _, err := d.sim.Undock(3); err != nil {
		t.Fatal(err)
	}
	d.plugBack()
	s.waitDockOnline(true)
	s.waitJournaled(bwc.TypeRemoved, 1)
	s.waitCamera("BWC-0001", "docked and eligible again", func(c bwc.Camera) bool { return dockedAt(1)(c) && c.Eligible })
	if last := s.dockStatuses(); len(last) == 0 || last[len(last)-1].Boot != d.boot(2) {
		t.Errorf("the dock's last status is not of its new boot %s", d.boot(2))
	}

	if err := d.sim.Badge(annCard); err != nil {
		t.Fatal(err)
	}
	s.waitJournaled(bwc.TypeIssued, 1)
	issued, err := s.agent.BWC().Issued(ctx)
	if err != nil || len(issued) != 1 || issued[0].Issue.Staff != annStaff || issued[0].Issue.Via != bwc.ViaBadge {
		t.Fatalf("issued %+v (%v); want one camera, to %s by her card", issued, err, annStaff)
	}
	cam := issued[0]
	if cmd := d.waitCmd(1); *cmd.Slot != cam.Slot || cmd.Pattern != sitebus.PatternIssue || cmd.By != annStaff {
		t.Errorf("the dock's command %+v; want the issue indication on %s's slot %d by %s", cmd, cam.Serial, cam.Slot, annStaff)
	}

	got := s.waitStoredBWC(bwc.TypeRemoved, bwc.TypeIssued)
	if x := got[0].Info; x["camera"] != "BWC-0003" || x["slot"] != 3.0 {
		t.Errorf("bwc.removed-unissued %v; want BWC-0003 from slot 3", x)
	}
	if x := got[1].Info; x["camera"] != cam.Serial || x["staff"] != annStaff || x["by"] != annStaff || x["via"] != bwc.ViaBadge {
		t.Errorf("bwc.issued %v; want %s to %s by her card", x, cam.Serial, annStaff)
	}
	if st := s.agent.Stats(); st.BadMessages != 0 || st.Refused != 0 {
		t.Errorf("the agent refused dock messages: %+v", st)
	}
	s.checkDelivered(t)
}
