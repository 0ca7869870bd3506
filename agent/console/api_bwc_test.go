package console_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/apedge/apedge/agent/staff"
	"github.com/apedge/apedge/devices/bwcdock"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/formats/sitekey"
	"github.com/apedge/apedge/internal/broker/brokertest"
)

// dockYAML is withDock's addition to the agent's configuration.
const dockYAML = `bwcDocks:
  - {id: dock-1, slots: 4, name: office dock}
bwc: {minBatteryPct: 80, shift: 12h}
`

// withDock gives the agent the body-worn camera dock dock-1 (four slots, "office
// dock"); the test plays it with newDock.
func withDock() siteOption {
	return func(o *siteSetup) { o.bwcAgent += dockYAML }
}

// consoleDock is a simulated dock (devices/bwcdock) joined to the harness's broker
// as its adapter would be (as agent/bwcs_test.go does): publishing as
// device:bwc-dock:ID with its own boot and seq, in the order the dock says things,
// and taking the agent's signed LED commands, verified with the site's key.
type consoleDock struct {
	s   *consoleSite
	id  string
	sim *bwcdock.Sim
	out chan dockMessage

	mu   sync.Mutex
	cmds []sitebus.Command
}

// dockMessage is one message of the dock, queued to go out.
type dockMessage struct {
	kind     string
	retained bool
	v        any
}

// newDock joins simulated dock id with slots slots, cameras of them holding cameras
// BWC-0001 and on (full), to the site bus, and announces it.
func (s *consoleSite) newDock(id string, slots, cameras int) *consoleDock {
	s.t.Helper()
	pubKey, err := sitekey.LoadPublic(s.pub, site)
	if err != nil {
		s.t.Fatal(err)
	}
	c := brokertest.Client(s.t, s.brk.URL(), "apedge-dock-"+id)
	pub := sitebus.NewPublisher(c, site, "dock-boot-1", s.clock)
	d := &consoleDock{s: s, id: id, out: make(chan dockMessage, 1024)}
	if d.sim, err = bwcdock.NewSim(bwcdock.Config{Slots: slots, Cameras: cameras}, s.clock, d); err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	s.t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for {
			select {
			case m := <-d.out:
				kind := sitebus.KindEvent
				if m.retained {
					kind = sitebus.KindState
				}
				if _, err := pub.Publish(ctx, sitebus.ClassBWCDock, id, kind, m.kind, m.v); err != nil && ctx.Err() == nil {
					s.t.Errorf("dock %s: %v", id, err)
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	tok := c.Subscribe(sitebus.DeviceTopic(site, sitebus.ClassBWCDock, id, sitebus.KindCmd), 1, func(_ mqtt.Client, m mqtt.Message) {
		cmd, err := sitebus.VerifyDockCommand(m.Payload(), pubKey, site, id)
		if err != nil {
			s.t.Errorf("command to %s: %v", id, err)
			return
		}
		d.mu.Lock()
		d.cmds = append(d.cmds, *cmd)
		d.mu.Unlock()
		r := sitebus.Result{ID: cmd.ID, Status: sitebus.ResultDone}
		if err := d.sim.Indicate(*cmd.Slot, cmd.Pattern, cmd.Reason); err != nil {
			r = sitebus.Result{ID: cmd.ID, Status: sitebus.ResultFailed, Error: err.Error()}
		}
		go pub.Publish(ctx, sitebus.ClassBWCDock, id, sitebus.KindCmdResult, r.Status, r)
	})
	if !tok.WaitTimeout(timeout) || tok.Error() != nil {
		s.t.Fatalf("subscribe to %s's commands: %v", id, tok.Error())
	}
	d.sim.Announce()
	return d
}

// Publish queues a message of the dock (bwcdock.Publisher): it never blocks.
func (d *consoleDock) Publish(kind string, retained bool, v any) {
	select {
	case d.out <- dockMessage{kind, retained, v}:
	default:
		d.s.t.Errorf("dock %s: queue full", d.id)
	}
}

// waitLED waits until slot's LED shows pattern and returns it.
func (d *consoleDock) waitLED(slot int, pattern string) bwcdock.LED {
	d.s.t.Helper()
	var l bwcdock.LED
	d.s.waitFor(fmt.Sprintf("%s slot %d's LED %s", d.id, slot, pattern), func() (bool, string) {
		l = d.sim.LED(slot)
		return l.Pattern == pattern, fmt.Sprintf("%+v", l)
	})
	return l
}

// bwcCamera is what the tests read of a camera.
type bwcCamera struct {
	Serial, Location, Dock, Offload, StaffName, SinceLocal string
	Slot, Battery                                          int
	Faults, WhyNot                                         []string
	NeedsOffload, Eligible, Overdue                        bool
	OffloadProgressPct                                     *int
	Issue                                                  *struct {
		Camera, Dock, Staff, By, Via string
		Slot, Battery, Issue         int
		At, TakenAt                  time.Time
	}
}

// bwcOverview is what the tests read of GET /api/v1/bwc.
type bwcOverview struct {
	MinBatteryPct int
	ShiftHours    float64
	Docks         []struct {
		ID, Name         string
		Slots            int
		Online, Reported bool
		Status           *struct {
			Online bool
			Slots  []struct {
				Slot       int
				Occupied   bool
				Camera     string
				BatteryPct *int
			}
		}
	}
	Cameras []bwcCamera
	Issued  []struct {
		Camera, Staff, StaffName, By, SinceLocal string
		Taken, Overdue                           bool
	}
	Overdue []struct{ Camera string }
	Staff   []struct{ ID, Name string }
}

// bwcRefusal is a refused issue's answer.
type bwcRefusal struct {
	Error, Camera, Dock, Staff string
	Slot                       int
	Reasons                    []string
}

// bwc returns GET /api/v1/bwc, failing the test on any answer but 200.
func (c *client) bwc() bwcOverview {
	c.s.t.Helper()
	var v bwcOverview
	if code := c.do("GET", "/api/v1/bwc", nil, &v); code != http.StatusOK {
		c.s.t.Fatalf("GET /api/v1/bwc: %d", code)
	}
	return v
}

// camera returns serial of v, and whether it is there.
func (v bwcOverview) camera(serial string) (bwcCamera, bool) {
	i := slices.IndexFunc(v.Cameras, func(c bwcCamera) bool { return c.Serial == serial })
	if i < 0 {
		return bwcCamera{}, false
	}
	return v.Cameras[i], true
}

// waitCamera waits until the console shows camera serial as ok says, and returns it.
func (c *client) waitCamera(serial, what string, ok func(bwcCamera) bool) bwcCamera {
	c.s.t.Helper()
	var cam bwcCamera
	c.s.waitFor(serial+" "+what, func() (bool, string) {
		var found bool
		cam, found = c.bwc().camera(serial)
		return found && ok(cam), fmt.Sprintf("%+v", cam)
	})
	return cam
}

// TestBWCConsoleOverviewAndIssue works the register through the API with a
// simulated dock on the bus: the overview's docks, slots, cameras and staff; the
// refusals (each reason in the register's words, 409; a member of staff not on the
// roster, 400; a camera no dock has, 404; no sign-in, 401); an issue in the
// signed-in account's name, journaled, its slot's LED told "issue"; then the
// camera taken, returned, its footage offloading and offloaded, each as the
// overview shows it.
func TestBWCConsoleOverviewAndIssue(t *testing.T) {
	t.Parallel()
	s := newConsoleSite(t, withDock())
	d := s.newDock("dock-1", 4, 3)
	st := s.bearer("staff-1") // the least of roles: read and bwc
	st.waitCamera("BWC-0003", "eligible in slot 3", func(c bwcCamera) bool { return c.Eligible && c.Slot == 3 && c.Location == "docked" })

	v := st.bwc()
	if len(v.Docks) != 1 || v.Docks[0].ID != "dock-1" || v.Docks[0].Name != "office dock" || v.Docks[0].Slots != 4 || !v.Docks[0].Online ||
		!v.Docks[0].Reported || v.Docks[0].Status == nil || len(v.Docks[0].Status.Slots) != 4 || v.Docks[0].Status.Slots[3].Occupied {
		t.Errorf("docks %+v, want dock-1 online, 4 slots, the 4th empty", v.Docks)
	}
	if len(v.Cameras) != 3 || len(v.Issued) != 0 || len(v.Overdue) != 0 || v.MinBatteryPct != 80 || v.ShiftHours != 12 {
		t.Errorf("overview %+v, want 3 cameras, none issued, minimum 80%%, shift 12 h", v)
	}
	if len(v.Staff) != 1 || v.Staff[0].ID != "s-ann" || v.Staff[0].Name != "Ann" {
		t.Errorf("staff %+v, want s-ann (Ann)", v.Staff)
	}
	if c, _ := v.camera("BWC-0001"); c.Battery != 100 || c.Dock != "dock-1" || c.Slot != 1 || len(c.WhyNot) != 0 {
		t.Errorf("BWC-0001 %+v, want docked at dock-1 slot 1, full, eligible", c)
	}

	if err := d.sim.Drain("BWC-0001", 50); err != nil {
		t.Fatal(err)
	}
	st.waitCamera("BWC-0001", "at 50%", func(c bwcCamera) bool { return c.Battery == 50 && !c.Eligible })

	for _, tc := range []struct {
		name   string
		c      *client
		body   map[string]string
		code   int
		reason string // in the refusal's reasons (409) or error
	}{
		{"low battery", st, map[string]string{"camera": "BWC-0001", "staff": "s-ann"}, http.StatusConflict,
			"its battery is at 50%, under the minimum of 80%"},
		{"not on the roster", st, map[string]string{"camera": "BWC-0002", "staff": "s-bob"}, http.StatusBadRequest,
			"s-bob is not a member of staff on the roster: one of [s-ann]"},
		{"an account on no roster, naming no one", st, map[string]string{"camera": "BWC-0002"}, http.StatusBadRequest,
			"account staff-1 is not on the roster"},
		{"no camera named", st, map[string]string{"staff": "s-ann"}, http.StatusBadRequest, "camera: name the camera"},
		{"a camera no dock has", st, map[string]string{"camera": "BWC-0099", "staff": "s-ann"}, http.StatusNotFound, "BWC-0099"},
		{"not signed in", s.anonymous(), map[string]string{"camera": "BWC-0002", "staff": "s-ann"}, http.StatusUnauthorized, "sign in"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ref bwcRefusal
			if code := tc.c.do("POST", "/api/v1/bwc/issue", tc.body, &ref); code != tc.code {
				t.Fatalf("%d %+v, want %d", code, ref, tc.code)
			}
			said := ref.Error
			if tc.code == http.StatusConflict {
				said = strings.Join(ref.Reasons, "; ")
				if ref.Camera != "BWC-0001" || ref.Dock != "dock-1" || ref.Slot != 1 || ref.Staff != "s-ann" || len(ref.Reasons) != 1 {
					t.Errorf("refusal %+v, want BWC-0001 at dock-1 slot 1 to s-ann, one reason", ref)
				}
			}
			if !strings.Contains(said, tc.reason) {
				t.Errorf("said %q, want %q", said, tc.reason)
			}
		})
	}
	if l := d.waitLED(1, sitebus.PatternRefused); !strings.Contains(l.Reason, "under the minimum of 80%") {
		t.Errorf("slot 1's LED %+v, want refused for the battery", l)
	}
	if slices.Contains(s.journalTypes(), "bwc.issued") {
		t.Fatal("a refused issue was journaled")
	}

	var got bwcCamera
	if code := st.do("POST", "/api/v1/bwc/issue", map[string]string{"camera": "BWC-0002", "staff": "s-ann"}, &got); code != http.StatusCreated {
		t.Fatalf("issue BWC-0002: %d %+v", code, got)
	}
	if got.Issue == nil {
		t.Fatalf("issued %+v, with no issue", got)
	}
	since := s.bwcClock(got.Issue.At)
	if got.Serial != "BWC-0002" || got.Issue.Staff != "s-ann" || got.Issue.By != "staff-1" || got.Issue.Via != "console" ||
		got.Issue.Slot != 2 || got.Issue.Issue != 1 || got.StaffName != "Ann" || got.SinceLocal != since || got.Eligible {
		t.Errorf("issued %+v, want BWC-0002 to s-ann (Ann) by staff-1 since %s, not eligible", got, since)
	}
	d.waitLED(2, sitebus.PatternIssue)
	s.waitEvent("bwc.issued")
	var ref bwcRefusal
	if code := st.do("POST", "/api/v1/bwc/issue", map[string]string{"camera": "BWC-0003", "staff": "s-ann"}, &ref); code != http.StatusConflict ||
		len(ref.Reasons) != 1 || !strings.Contains(ref.Reasons[0], "s-ann has camera BWC-0002 issued since") {
		t.Errorf("a second camera to s-ann: %d %+v, want 409: she has BWC-0002", code, ref)
	}
	v = st.bwc()
	if len(v.Issued) != 1 || v.Issued[0].Camera != "BWC-0002" || v.Issued[0].StaffName != "Ann" || v.Issued[0].By != "staff-1" ||
		v.Issued[0].Taken || v.Issued[0].SinceLocal != since {
		t.Errorf("issued %+v, want BWC-0002 to Ann, not yet taken", v.Issued)
	}

	if _, err := d.sim.Undock(2); err != nil {
		t.Fatal(err)
	}
	st.waitCamera("BWC-0002", "taken", func(c bwcCamera) bool { return c.Location == "out" && c.Issue != nil && !c.Issue.TakenAt.IsZero() })
	if v := st.bwc(); len(v.Issued) != 1 || !v.Issued[0].Taken {
		t.Errorf("issued %+v, want BWC-0002 taken", v.Issued)
	}

	s.clock.Add(time.Hour) // out an hour: 10 minutes of footage
	if err := d.sim.Dock(2, "BWC-0002"); err != nil {
		t.Fatal(err)
	}
	c := st.waitCamera("BWC-0002", "returned", func(c bwcCamera) bool { return c.Issue == nil && c.Location == "docked" && c.NeedsOffload })
	if c.Eligible || c.StaffName != "" {
		t.Errorf("returned %+v, want its footage to offload before it is issued", c)
	}
	s.clock.Add(30 * time.Second) // half of its footage
	d.sim.Advance()
	c = st.waitCamera("BWC-0002", "offloading", func(c bwcCamera) bool {
		return c.Offload == "running" && c.OffloadProgressPct != nil && *c.OffloadProgressPct >= 50
	})
	if !slices.ContainsFunc(c.WhyNot, func(w string) bool { return w == "its footage is being offloaded" }) {
		t.Errorf("offloading %+v, want why not: being offloaded", c)
	}
	s.clock.Add(time.Minute)
	d.sim.Advance()
	st.waitCamera("BWC-0002", "offloaded, eligible", func(c bwcCamera) bool {
		return c.Offload == "done" && !c.NeedsOffload && c.Eligible && c.OffloadProgressPct != nil && *c.OffloadProgressPct == 100
	})
	s.waitEvent("bwc.offloaded")
	if v := st.bwc(); len(v.Issued) != 0 {
		t.Errorf("issued after the return %+v", v.Issued)
	}

	// An account named as a roster's member of staff issues to themself by default.
	if _, err := s.staff.Add(t.Context(), "s-ann", staff.RoleStaff, password); err != nil {
		t.Fatal(err)
	}
	if code := s.bearer("s-ann").do("POST", "/api/v1/bwc/issue", map[string]string{"camera": "BWC-0003"}, &got); code != http.StatusCreated ||
		got.Issue == nil || got.Issue.Staff != "s-ann" || got.Issue.By != "s-ann" || got.Issue.Slot != 3 {
		t.Errorf("account s-ann's issue naming no one: %d %+v, want BWC-0003 to s-ann by s-ann", code, got)
	}
}

// bwcClock is t as the console's tiles say a time: HH:MM in Europe/London.
func (s *consoleSite) bwcClock(t time.Time) string { return s.agent.Describer().Clock(t) }
