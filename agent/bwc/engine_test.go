package bwc_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/agent/bwc"
)

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg  bwc.Config
		want error
	}{
		{bwc.Config{}, nil},
		{bwc.Config{MinBatteryPct: 100, Shift: 8 * time.Hour, TakeWithin: time.Minute}, nil},
		{bwc.Config{MinBatteryPct: -1}, bwc.ErrInvalid},
		{bwc.Config{MinBatteryPct: 101}, bwc.ErrInvalid},
		{bwc.Config{Shift: time.Minute}, bwc.ErrInvalid},
		{bwc.Config{Shift: 8 * 24 * time.Hour}, bwc.ErrInvalid},
		{bwc.Config{TakeWithin: time.Second}, bwc.ErrInvalid},
		{bwc.Config{Shift: time.Hour, TakeWithin: time.Hour}, bwc.ErrInvalid},
	} {
		e, err := bwc.New(tc.cfg)
		wantErr(t, err, tc.want)
		if err == nil && tc.cfg == (bwc.Config{}) && e.Config() != (bwc.Config{MinBatteryPct: 80, Shift: 12 * time.Hour, TakeWithin: 2 * time.Minute}) {
			t.Errorf("defaults %+v, want 80%%, 12h, 2m", e.Config())
		}
	}
}

// site returns an engine whose office dock holds CAM-1 to CAM-4 in slots 0 to 3,
// at battery 100, offloaded, reported at minute 0.
func site(t testing.TB) *bwc.Engine {
	t.Helper()
	e := newEngine(t)
	for i := range 4 {
		read(t, e, docked(office, i, "CAM-"+string(rune('1'+i)), 100, at(0)))
	}
	return e
}

// away has serial go out with staff and come back to its slot of the office dock
// at minute back, its offload then reported as offload.
func away(t testing.TB, e *bwc.Engine, serial string, slot int, staff string, back int, offload string) {
	t.Helper()
	issue(t, e, serial, staff, at(back-60))
	read(t, e, empty(office, slot, at(back-59)))
	r := docked(office, slot, serial, 100, at(back))
	r.Offload = offload
	read(t, e, r)
}

// TestIssueRules: what an issue of CAM-1 (slot 0 of the office dock) to Ann on the
// console refuses, why, and the slot the refusal's LED is on.
func TestIssueRules(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, e *bwc.Engine)
		want  error
		why   string // in the refusal's reasons
		slot  int    // the refusal's slot
	}{
		{"battery exactly at the minimum", func(t *testing.T, e *bwc.Engine) { read(t, e, docked(office, 0, "CAM-1", 80, at(70))) }, nil, "", 0},
		{"battery one under the minimum", func(t *testing.T, e *bwc.Engine) { read(t, e, docked(office, 0, "CAM-1", 79, at(70))) },
			bwc.ErrRefused, "battery is at 79%, under the minimum of 80%", 0},
		{"footage not offloaded since its return", func(t *testing.T, e *bwc.Engine) { away(t, e, "CAM-1", 0, bo, 70, bwc.OffloadIdle) },
			bwc.ErrRefused, "not yet offloaded (since 2026-11-22T08:10:00Z)", 0},
		{"offload running", func(t *testing.T, e *bwc.Engine) { away(t, e, "CAM-1", 0, bo, 70, bwc.OffloadRunning) },
			bwc.ErrRefused, "being offloaded", 0},
		{"offload failed", func(t *testing.T, e *bwc.Engine) { away(t, e, "CAM-1", 0, bo, 70, bwc.OffloadFailed) },
			bwc.ErrRefused, "failed to offload", 0},
		{"offloaded after its return", func(t *testing.T, e *bwc.Engine) { away(t, e, "CAM-1", 0, bo, 70, bwc.OffloadDone) }, nil, "", 0},
		{"a fault", func(t *testing.T, e *bwc.Engine) {
			r := docked(office, 0, "CAM-1", 100, at(70))
			r.Faults = []string{"storage-full", "lens-obstructed"}
			read(t, e, r)
		}, bwc.ErrRefused, "fault: lens-obstructed, storage-full", 0},
		{"already issued", func(t *testing.T, e *bwc.Engine) { issue(t, e, "CAM-1", bo, at(70)) }, bwc.ErrRefused, "issued to bo-staff since 2026-11-22T08:10:00Z", 0},
		{"out with someone", func(t *testing.T, e *bwc.Engine) {
			issue(t, e, "CAM-1", bo, at(70))
			read(t, e, empty(office, 0, at(71)))
		}, bwc.ErrRefused, "not in a dock", -1},
		{"not docked: removed", func(t *testing.T, e *bwc.Engine) { read(t, e, empty(office, 0, at(70))) }, bwc.ErrRefused, "not in a dock", -1},
		{"its dock offline", func(t *testing.T, e *bwc.Engine) {
			if err := e.DockState(office, false, at(70)); err != nil {
				t.Fatal(err)
			}
		}, bwc.ErrRefused, "state is unknown: its dock dock-office has been offline since 2026-11-22T08:10:00Z", 0},
		{"the wearer has a camera", func(t *testing.T, e *bwc.Engine) { issue(t, e, "CAM-2", ann, at(70)) },
			bwc.ErrRefused, "ann-staff has camera CAM-2 issued since 2026-11-22T08:10:00Z: return it first", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := site(t)
			tc.setup(t, e)
			before := e.Clone()
			i, d, err := e.Issue(bwc.Request{Camera: "CAM-1", Staff: ann, By: cy, Via: bwc.ViaConsole, At: at(90)})
			wantErr(t, err, tc.want)
			if tc.want != nil {
				r := refusal(t, err)
				if !slices.ContainsFunc(r.Reasons, func(s string) bool { return strings.Contains(s, tc.why) }) {
					t.Errorf("reasons %q, want one saying %q", r.Reasons, tc.why)
				}
				if r.Camera != "CAM-1" || r.Slot != tc.slot || (tc.slot >= 0) != (r.Dock == office) || r.Staff != ann {
					t.Errorf("refusal %+v, want CAM-1 for %s on slot %d", r, ann, tc.slot)
				}
				if !strings.Contains(err.Error(), tc.why) {
					t.Errorf("error %q does not say %q", err, tc.why)
				}
				if !bwc.SameState(before, e) || !reflect.DeepEqual(before.Cameras(), e.Cameras()) {
					t.Error("a refusal changed the state")
				}
				if c := camera(t, e, "CAM-1"); !strings.Contains(tc.why, "return it first") && (c.Eligible || !reflect.DeepEqual(c.WhyNot, r.Reasons)) {
					t.Errorf("the view of CAM-1 %+v does not say the refusal's reasons %q", c, r.Reasons)
				}
				return
			}
			m := info(t, d)
			if d.Type != bwc.TypeIssued || d.Camera != "CAM-1" || d.Staff != ann || m["staff"] != ann || m["by"] != cy || m["via"] != "console" ||
				m["dock"] != office || m["slot"] != 0.0 || m["battery"] != float64(camera(t, before, "CAM-1").Battery) || i.Slot != 0 || i.Dock != office {
				t.Errorf("issue %+v, draft %s %s", i, d.Type, d.Info)
			}
			if c := camera(t, e, "CAM-1"); c.Issue == nil || c.Issue.Staff != ann || !c.Issue.At.Equal(at(90)) || c.Eligible || c.Location != bwc.LocationDocked {
				t.Errorf("after the issue: %+v", c)
			}
		})
	}
}

// TestIssueRequests: malformed requests, and a camera the register does not know.
func TestIssueRequests(t *testing.T) {
	e := site(t)
	for _, tc := range []struct {
		name string
		r    bwc.Request
		want error
	}{
		{"no such camera", bwc.Request{Camera: "CAM-9", Staff: ann, By: ann, Via: bwc.ViaConsole, At: at(1)}, bwc.ErrNoCamera},
		{"no camera named", bwc.Request{Staff: ann, By: ann, Via: bwc.ViaConsole, At: at(1)}, bwc.ErrInvalid},
		{"no wearer", bwc.Request{Camera: "CAM-1", By: ann, Via: bwc.ViaConsole, At: at(1)}, bwc.ErrInvalid},
		{"a wearer with a space", bwc.Request{Camera: "CAM-1", Staff: "Ann Staff", By: ann, Via: bwc.ViaConsole, At: at(1)}, bwc.ErrInvalid},
		{"no issuer", bwc.Request{Camera: "CAM-1", Staff: ann, Via: bwc.ViaConsole, At: at(1)}, bwc.ErrInvalid},
		{"no time", bwc.Request{Camera: "CAM-1", Staff: ann, By: ann, Via: bwc.ViaConsole}, bwc.ErrInvalid},
		{"no way", bwc.Request{Camera: "CAM-1", Staff: ann, By: ann, Via: "post", At: at(1)}, bwc.ErrInvalid},
		{"a badge naming a camera", bwc.Request{Camera: "CAM-1", Dock: office, Staff: ann, Via: bwc.ViaBadge, At: at(1)}, bwc.ErrInvalid},
		{"a badge for someone else", bwc.Request{Dock: office, Staff: ann, By: bo, Via: bwc.ViaBadge, At: at(1)}, bwc.ErrInvalid},
		{"a badge at no dock", bwc.Request{Dock: "dock/1", Staff: ann, Via: bwc.ViaBadge, At: at(1)}, bwc.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := e.Clone()
			_, _, err := x.Issue(tc.r)
			wantErr(t, err, tc.want)
			if !bwc.SameState(e, x) {
				t.Error("a refused request changed the state")
			}
		})
	}
}

// TestBadgeChoosesBest: a card at the dock's reader gets the eligible camera with
// the highest battery, the lowest slot of those alike; with none eligible, the
// refusal says why for each, on the reader (slot -1).
func TestBadgeChoosesBest(t *testing.T) {
	e := newEngine(t)
	faulty := docked(office, 0, "CAM-1", 100, at(0))
	faulty.Faults = []string{"lens-obstructed"}
	read(t, e, faulty)
	read(t, e, docked(office, 1, "CAM-2", 90, at(0)))
	read(t, e, docked(office, 2, "CAM-3", 90, at(0)))
	read(t, e, docked(office, 4, "CAM-5", 60, at(0)))
	read(t, e, docked(hall, 0, "CAM-6", 100, at(0)))
	read(t, e, docked(office, 3, "CAM-4", 100, at(0)))
	read(t, e, empty(office, 3, at(1)))                // removed, unissued
	read(t, e, docked(office, 3, "CAM-4", 100, at(2))) // back, not offloaded
	badge := func(staff string) (bwc.Issue, bwc.Draft, error) {
		return e.Issue(bwc.Request{Dock: office, Staff: staff, Via: bwc.ViaBadge, At: at(10)})
	}
	for _, want := range []struct {
		staff, camera string
		slot          int
	}{{ann, "CAM-2", 1}, {bo, "CAM-3", 2}} {
		i, d, err := badge(want.staff)
		if err != nil {
			t.Fatal(err)
		}
		if m := info(t, d); i.Camera != want.camera || i.Slot != want.slot || m["via"] != "badge" || m["by"] != want.staff || m["battery"] != 90.0 {
			t.Errorf("%s got %+v (%s), want %s in slot %d", want.staff, i, d.Info, want.camera, want.slot)
		}
	}
	_, _, err := badge(cy)
	r := refusal(t, err)
	want := []string{
		"CAM-1 in slot 0: it reports a fault: lens-obstructed",
		"CAM-2 in slot 1: issued to ann-staff since 2026-11-22T07:10:00Z",
		"CAM-3 in slot 2: issued to bo-staff since 2026-11-22T07:10:00Z",
		"CAM-4 in slot 3: its footage is not yet offloaded (since 2026-11-22T07:01:00Z)",
		"CAM-5 in slot 4: its battery is at 60%, under the minimum of 80%",
	}
	if r.Camera != "" || r.Dock != office || r.Slot != -1 || !slices.Equal(r.Reasons, want) {
		t.Errorf("refusal %+v, want on the office reader with reasons\n%q", r, want)
	}
	if err := e.DockState(hall, false, at(11)); err != nil {
		t.Fatal(err)
	}
	_, _, err = e.Issue(bwc.Request{Dock: hall, Staff: cy, Via: bwc.ViaBadge, At: at(12)})
	if r := refusal(t, err); r.Dock != hall || r.Slot != -1 || !strings.Contains(r.Reasons[0], "offline") {
		t.Errorf("a badge at an offline dock: %+v", r)
	}
	_, _, err = e.Issue(bwc.Request{Dock: "dock-cellar", Staff: cy, Via: bwc.ViaBadge, At: at(12)})
	if r := refusal(t, err); len(r.Reasons) != 1 || !strings.Contains(r.Reasons[0], "has not reported") {
		t.Errorf("a badge at a dock never heard of: %+v", r)
	}
}

// TestReturn: docking an issued camera ends its issue; it is not issued again until
// its dock reports the offload done.
func TestReturn(t *testing.T) {
	e := site(t)
	issue(t, e, "CAM-1", ann, at(0))
	ds := read(t, e, empty(office, 0, at(1)))
	if got := types(ds); !slices.Equal(got, []string{bwc.TypeTaken}) {
		t.Fatalf("the undock of an issued camera made %v", got)
	}
	if c := camera(t, e, "CAM-1"); c.Location != bwc.LocationOut || c.Issue == nil || !c.Issue.TakenAt.Equal(at(1)) || c.Dock != "" || c.Slot != -1 {
		t.Errorf("out: %+v", c)
	}
	if got := e.Issued(); len(got) != 1 || got[0].Serial != "CAM-1" {
		t.Errorf("issued %+v", got)
	}
	// Back into another dock, ten hours later.
	ds = read(t, e, docked(hall, 2, "CAM-1", 35, at(600)))
	if got := types(ds); !slices.Equal(got, []string{bwc.TypeReturned}) {
		t.Fatalf("the return made %v", got)
	}
	if m := info(t, ds[0]); m["outSeconds"] != 36000.0 || m["taken"] != true || m["staff"] != ann || m["dock"] != hall || m["slot"] != 2.0 || m["issue"] != 1.0 || ds[0].Staff != ann {
		t.Errorf("returned %s", ds[0].Info)
	}
	if len(e.Issued()) != 0 {
		t.Errorf("still issued: %+v", e.Issued())
	}
	steps := []struct {
		offload string
		battery int
		drafts  []string
		why     string
	}{
		{bwc.OffloadIdle, 35, []string{}, "its footage is not yet offloaded (since 2026-11-22T17:00:00Z)"},
		{bwc.OffloadRunning, 60, []string{}, "its footage is being offloaded"},
		{bwc.OffloadDone, 79, []string{bwc.TypeOffloaded}, "its battery is at 79%, under the minimum of 80%"},
		{bwc.OffloadDone, 80, []string{}, ""},
	}
	for i, s := range steps {
		r := docked(hall, 2, "CAM-1", s.battery, at(601+i))
		r.Offload, r.OffloadBytes = s.offload, 123456789
		ds := read(t, e, r)
		if got := types(ds); !slices.Equal(got, s.drafts) {
			t.Errorf("step %d (%s): drafts %v, want %v", i, s.offload, got, s.drafts)
		}
		c := camera(t, e, "CAM-1")
		if s.why == "" {
			if !c.Eligible || c.NeedsOffload {
				t.Errorf("step %d: %+v, want eligible", i, c)
			}
			continue
		}
		if c.Eligible || !slices.Contains(c.WhyNot, s.why) {
			t.Errorf("step %d: why not %q, want %q", i, c.WhyNot, s.why)
		}
		if len(ds) == 1 {
			if m := info(t, ds[0]); m["bytes"] != 123456789.0 || m["dock"] != hall {
				t.Errorf("offloaded %s", ds[0].Info)
			}
		}
	}
	issue(t, e, "CAM-1", bo, at(700)) // offloaded and charged: issued again
}

// TestOverdue: out longer than the shift, and no longer, raises bwc.overdue once
// per issue.
func TestOverdue(t *testing.T) {
	for _, shift := range []time.Duration{0, 8 * time.Hour} {
		e, err := bwc.New(bwc.Config{Shift: shift})
		if err != nil {
			t.Fatal(err)
		}
		shift = e.Config().Shift
		read(t, e, docked(office, 0, "CAM-1", 100, at(0)))
		issue(t, e, "CAM-1", ann, at(0))
		read(t, e, empty(office, 0, at(1)))
		if ds := check(t, e, t0.Add(shift)); len(ds) != 0 || len(e.Overdue(t0.Add(shift))) != 0 {
			t.Errorf("shift %s: at exactly the shift: %v", shift, types(ds))
		}
		now := t0.Add(shift + time.Second)
		ds := check(t, e, now)
		if got := types(ds); !slices.Equal(got, []string{bwc.TypeOverdue}) {
			t.Fatalf("shift %s: a second over: %v", shift, got)
		}
		if m := info(t, ds[0]); m["outSeconds"] != (shift+time.Second).Seconds() || m["shiftSeconds"] != shift.Seconds() || m["staff"] != ann {
			t.Errorf("overdue %s", ds[0].Info)
		}
		if o := e.Overdue(now); len(o) != 1 || o[0].Serial != "CAM-1" || !o[0].Issue.OverdueRaised {
			t.Errorf("overdue view %+v", o)
		}
		if ds := check(t, e, now.Add(time.Hour)); len(ds) != 0 {
			t.Errorf("raised twice: %v", types(ds))
		}
		read(t, e, docked(office, 0, "CAM-1", 20, now.Add(2*time.Hour)))
		if o := e.Overdue(now.Add(3 * time.Hour)); len(o) != 0 {
			t.Errorf("overdue after the return: %+v", o)
		}
	}
}

// TestOffloadFailure: an offload failed raises bwc.offload-failed once until the
// camera's next offload, return or removal; the camera is not issued meanwhile.
func TestOffloadFailure(t *testing.T) {
	e := site(t)
	away(t, e, "CAM-1", 0, ann, 70, bwc.OffloadRunning)
	failed := docked(office, 0, "CAM-1", 100, at(71))
	failed.Offload, failed.OffloadDetail = bwc.OffloadFailed, "content destination unreachable"
	ds := read(t, e, failed)
	if got := types(ds); !slices.Equal(got, []string{bwc.TypeOffloadFailed}) {
		t.Fatalf("a failure made %v", got)
	}
	if m := info(t, ds[0]); m["detail"] != "content destination unreachable" || m["camera"] != "CAM-1" || m["slot"] != 0.0 {
		t.Errorf("offload-failed %s", ds[0].Info)
	}
	failed.At = at(72)
	if ds := read(t, e, failed); len(ds) != 0 {
		t.Errorf("raised twice: %v", types(ds))
	}
	if c := camera(t, e, "CAM-1"); c.Eligible || !slices.Contains(c.WhyNot, "its footage failed to offload (content destination unreachable)") {
		t.Errorf("after the failure %+v", c)
	}
	retry := docked(office, 0, "CAM-1", 100, at(73))
	retry.Offload = bwc.OffloadRunning
	if ds := read(t, e, retry); len(ds) != 0 {
		t.Errorf("a retry made %v", types(ds))
	}
	retry.Offload, retry.At = bwc.OffloadDone, at(74)
	if got := types(read(t, e, retry)); !slices.Equal(got, []string{bwc.TypeOffloaded}) {
		t.Errorf("the retry done made %v", got)
	}
	// A camera never returned whose dock fails its offload has footage too.
	bad := docked(office, 1, "CAM-2", 100, at(75))
	bad.Offload = bwc.OffloadFailed
	if got := types(read(t, e, bad)); !slices.Equal(got, []string{bwc.TypeOffloadFailed}) {
		t.Errorf("CAM-2's failure made %v", got)
	}
	bad.Offload, bad.At = bwc.OffloadIdle, at(76)
	read(t, e, bad)
	if c := camera(t, e, "CAM-2"); c.Eligible || !c.NeedsOffload || !c.NeedsOffloadSince.Equal(at(75)) {
		t.Errorf("CAM-2 after its failure %+v", c)
	}
}

// TestRemovedUnissued: a camera leaving a dock with no issue recorded raises
// bwc.removed-unissued once per removal; back, it must be offloaded.
func TestRemovedUnissued(t *testing.T) {
	e := site(t)
	ds := read(t, e, empty(office, 0, at(5)))
	if got := types(ds); !slices.Equal(got, []string{bwc.TypeRemoved}) {
		t.Fatalf("a removal made %v", got)
	}
	if m := info(t, ds[0]); m["camera"] != "CAM-1" || m["dock"] != office || m["slot"] != 0.0 || ds[0].Key != "bwc.removed-unissued/CAM-1/1" {
		t.Errorf("removed %s %s", ds[0].Key, ds[0].Info)
	}
	if ds := read(t, e, empty(office, 0, at(6))); len(ds) != 0 {
		t.Errorf("the slot still empty: %v", types(ds))
	}
	if ds := read(t, e, docked(office, 0, "CAM-1", 100, at(30))); len(ds) != 0 {
		t.Errorf("back: %v", types(ds))
	}
	if c := camera(t, e, "CAM-1"); c.Eligible || !c.NeedsOffload {
		t.Errorf("back from a removal: %+v", c)
	}
	done := docked(office, 0, "CAM-1", 100, at(31))
	done.Offload = bwc.OffloadDone
	if got := types(read(t, e, done)); !slices.Equal(got, []string{bwc.TypeOffloaded}) {
		t.Errorf("its offload made %v", got)
	}
	ds = read(t, e, empty(office, 0, at(40)))
	if got := types(ds); !slices.Equal(got, []string{bwc.TypeRemoved}) || ds[0].Key != "bwc.removed-unissued/CAM-1/3" {
		t.Errorf("a second removal made %v %v", got, ds)
	}
	// Moved to another slot, seen there before its own slot reports empty: a
	// removal from slot 1, once.
	ds = read(t, e, docked(office, 5, "CAM-2", 100, at(50)))
	if got := types(ds); !slices.Equal(got, []string{bwc.TypeRemoved}) || info(t, ds[0])["slot"] != 1.0 {
		t.Errorf("moved: %v", ds)
	}
	if ds := read(t, e, empty(office, 1, at(51))); len(ds) != 0 {
		t.Errorf("its old slot empty: %v", types(ds))
	}
	// Another camera takes a slot's place: the first left.
	ds = read(t, e, docked(office, 2, "CAM-7", 100, at(52)))
	if got := types(ds); !slices.Equal(got, []string{bwc.TypeRemoved}) || ds[0].Camera != "CAM-3" {
		t.Errorf("replaced: %v", ds)
	}
}

// TestIssueTakenOrLapsed: the undock of a camera issued on the console is the issue
// taken, not an alarm; an issue not taken within TakeWithin lapses, and the camera
// lifted after that raises the alarm.
func TestIssueTakenOrLapsed(t *testing.T) {
	e := site(t)
	issue(t, e, "CAM-1", ann, at(10))
	if got := types(read(t, e, empty(office, 0, at(11)))); !slices.Equal(got, []string{bwc.TypeTaken}) {
		t.Errorf("taken: %v", got)
	}
	issue(t, e, "CAM-2", bo, at(10))
	if ds := check(t, e, at(12)); len(ds) != 0 {
		t.Errorf("at exactly TakeWithin: %v", types(ds))
	}
	ds := check(t, e, at(12).Add(time.Second))
	if got := types(ds); !slices.Equal(got, []string{bwc.TypeReturned}) {
		t.Fatalf("lapse: %v", got)
	}
	if m := info(t, ds[0]); m["taken"] != false || m["camera"] != "CAM-2" || m["dock"] != office || m["slot"] != 1.0 || m["outSeconds"] != 121.0 {
		t.Errorf("lapsed %s", ds[0].Info)
	}
	if c := camera(t, e, "CAM-2"); !c.Eligible || c.Issue != nil || c.NeedsOffload {
		t.Errorf("after the lapse (never out, nothing to offload) %+v", c)
	}
	if got := types(read(t, e, empty(office, 1, at(13)))); !slices.Equal(got, []string{bwc.TypeRemoved}) {
		t.Errorf("lifted after the lapse: %v", got)
	}
	if got := e.Issued(); len(got) != 1 || got[0].Serial != "CAM-1" {
		t.Errorf("issued %+v", got)
	}
}

// TestDockOffline: an offline dock's cameras are of unknown state; when it comes
// back, each slot's reading says what changed meanwhile.
func TestDockOffline(t *testing.T) {
	e := site(t)
	issue(t, e, "CAM-3", cy, at(1))
	if err := e.DockState(office, false, at(2)); err != nil {
		t.Fatal(err)
	}
	for _, c := range e.Cameras() {
		if c.Location != bwc.LocationUnknown || c.Dock != office || !strings.Contains(c.Unknown, "offline since 2026-11-22T07:02:00Z") || c.Eligible {
			t.Errorf("offline: %+v", c)
		}
	}
	if d := e.Docks(); len(d) != 1 || d[0].Online || !d[0].Since.Equal(at(2)) {
		t.Errorf("docks %+v", d)
	}
	if ds := check(t, e, at(30)); len(ds) != 0 {
		t.Errorf("an issue lapsed in an offline dock: %v", types(ds))
	}
	if err := e.DockState(office, true, at(40)); err != nil {
		t.Fatal(err)
	}
	var got []string
	got = append(got, types(read(t, e, docked(office, 0, "CAM-1", 100, at(41))))...) // still there
	got = append(got, types(read(t, e, empty(office, 1, at(41))))...)                // CAM-2 gone
	got = append(got, types(read(t, e, empty(office, 2, at(41))))...)                // CAM-3 taken
	if want := []string{bwc.TypeRemoved, bwc.TypeTaken}; !slices.Equal(got, want) {
		t.Errorf("back online: %v, want %v", got, want)
	}
	if c := camera(t, e, "CAM-1"); c.Location != bwc.LocationDocked || !c.Eligible {
		t.Errorf("CAM-1 back online %+v", c)
	}
	if c := camera(t, e, "CAM-4"); c.Location != bwc.LocationUnknown {
		t.Errorf("CAM-4, whose slot has not reported since: %+v", c)
	}
	for _, bad := range []struct {
		id string
		at time.Time
	}{{"dock 1", at(50)}, {office, time.Time{}}} {
		wantErr(t, e.DockState(bad.id, true, bad.at), bwc.ErrInvalid)
	}
}

// TestStaleReading: a reading older than the last of its slot changes nothing.
func TestStaleReading(t *testing.T) {
	e := site(t)
	read(t, e, docked(office, 0, "CAM-1", 90, at(5)))
	before := e.Clone()
	if ds := read(t, e, empty(office, 0, at(4))); len(ds) != 0 || !reflect.DeepEqual(before.Cameras(), e.Cameras()) {
		t.Errorf("a stale reading made %v", types(ds))
	}
}

// TestReadingRefuses: malformed readings are ErrInvalid and change nothing.
func TestReadingRefuses(t *testing.T) {
	e := site(t)
	ok := docked(office, 0, "CAM-1", 50, at(5))
	for _, tc := range []struct {
		name string
		edit func(r *bwc.SlotReading)
	}{
		{"no dock", func(r *bwc.SlotReading) { r.Dock = "" }},
		{"a dock id with a slash", func(r *bwc.SlotReading) { r.Dock = "dock/1" }},
		{"a negative slot", func(r *bwc.SlotReading) { r.Slot = -1 }},
		{"a slot beyond MaxSlots", func(r *bwc.SlotReading) { r.Slot = bwc.MaxSlots + 1 }},
		{"a negative slot", func(r *bwc.SlotReading) { r.Slot = -1 }},
		{"no time", func(r *bwc.SlotReading) { r.At = time.Time{} }},
		{"occupied with no serial", func(r *bwc.SlotReading) { r.Serial = "" }},
		{"empty with a serial", func(r *bwc.SlotReading) { r.Occupied = false }},
		{"a serial with a space", func(r *bwc.SlotReading) { r.Serial = "CAM 1" }},
		{"battery over 100", func(r *bwc.SlotReading) { r.BatteryPct = 101 }},
		{"battery negative", func(r *bwc.SlotReading) { r.BatteryPct = -1 }},
		{"no offload state", func(r *bwc.SlotReading) { r.Offload = "" }},
		{"an unknown offload state", func(r *bwc.SlotReading) { r.Offload = "uploading" }},
		{"negative bytes", func(r *bwc.SlotReading) { r.OffloadBytes = -1 }},
		{"too many faults", func(r *bwc.SlotReading) { r.Faults = make([]string, bwc.MaxFaults+1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ok
			tc.edit(&r)
			x := e.Clone()
			_, err := x.Reading(r)
			wantErr(t, err, bwc.ErrInvalid)
			if !reflect.DeepEqual(e.Cameras(), x.Cameras()) {
				t.Error("a refused reading changed the state")
			}
		})
	}
	// Texts are cleaned, faults sorted without blanks or repeats.
	r := ok
	r.Firmware, r.Faults, r.OffloadDetail = "1.0\x00beta", []string{"b", " ", "a", "b"}, "line\nbreak"
	read(t, e, r)
	if c := camera(t, e, "CAM-1"); c.Firmware != "1.0 beta" || !slices.Equal(c.Faults, []string{"a", "b"}) || c.OffloadDetail != "line break" {
		t.Errorf("cleaned %+v", c)
	}
}

// TestLastSlot: the last slot a dock may have, as the bus numbers it
// (MaxSlots), takes a camera that can be issued from it.
func TestLastSlot(t *testing.T) {
	e := newEngine(t)
	read(t, e, docked(office, bwc.MaxSlots, "CAM-64", 100, at(0)))
	if i, _ := issue(t, e, "CAM-64", "ann-staff", at(1)); i.Slot != bwc.MaxSlots {
		t.Errorf("issued from slot %d, want %d", i.Slot, bwc.MaxSlots)
	}
}
