package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/apedge/apedge/agent"
	"github.com/apedge/apedge/agent/biometric"
	"github.com/apedge/apedge/agent/eventindex"
	"github.com/apedge/apedge/agent/register"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/internal/broker/brokertest"
	"github.com/apedge/apedge/internal/clock/clocktest"
	"github.com/apedge/apedge/internal/config"
)

// bioBridgeYAML adds to the site's bridge fingerprint terminals fp-front (at the
// front door) and fp-desk (the office's enrolment desk), with Enhanced Security on.
const bioBridgeYAML = `fingerprintTerminals:
  - {id: fp-front, port: /dev/ttyUSB3, door: front, name: front door}
  - {id: fp-desk, port: /dev/ttyUSB4, name: "office: enrolment desk"}
enhancedSecurity: {on: true}
`

// newBioSite is newSite with the fingerprint terminals of bioBridgeYAML, and fake
// terminals (answering for the bridge) on its bus.
func newBioSite(t *testing.T) (*apSite, *fakeTerminals) {
	t.Helper()
	s := newSite(t)
	path := filepath.Join(s.dir, "site-bridge.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(b, bioBridgeYAML...), 0o644); err != nil {
		t.Fatal(err)
	}
	if s.cfg, err = config.LoadAgent(filepath.Join(s.dir, "agent.yaml")); err != nil {
		t.Fatal(err)
	}
	if p := s.cfg.Devices.Biometrics["fp-front"]; p.Door != "front" {
		t.Fatalf("terminals %+v", s.cfg.Devices.Biometrics)
	}
	s.clock = clocktest.New(noon)
	return s, s.fakeTerminals()
}

// fakeTerminals stands in for the bridge's fingerprint terminals: it answers every
// signed command to one with done, keeps what it got, and publishes what a
// terminal says, as the bridge would.
type fakeTerminals struct {
	s   *apSite
	pub *sitebus.Publisher

	mu   sync.Mutex
	cmds map[string][]sitebus.Command // by terminal
}

func (s *apSite) fakeTerminals() *fakeTerminals {
	s.t.Helper()
	f := &fakeTerminals{s: s, pub: sitebus.NewPublisher(s.bus, site, "boot-a", s.clock), cmds: map[string][]sitebus.Command{}}
	tok := s.bus.Subscribe(sitebus.DeviceFilter(site, sitebus.KindCmd), 1, func(_ mqtt.Client, m mqtt.Message) {
		tp, err := sitebus.ParseTopic(m.Topic())
		if err != nil || tp.Class != sitebus.ClassBiometric {
			return
		}
		cmd, _, err := sitebus.VerifyCommand(m.Payload(), s.key.Public(), site, tp.Class, tp.ID)
		if err != nil {
			s.t.Errorf("command to %s: %v", tp.ID, err)
			return
		}
		f.mu.Lock()
		f.cmds[tp.ID] = append(f.cmds[tp.ID], *cmd)
		f.mu.Unlock()
		go f.pub.Publish(context.Background(), tp.Class, tp.ID, sitebus.KindCmdResult, sitebus.ResultDone,
			sitebus.Result{ID: cmd.ID, Status: sitebus.ResultDone})
	})
	if !tok.WaitTimeout(timeout) || tok.Error() != nil {
		s.t.Fatalf("subscribe to commands: %v", tok.Error())
	}
	return f
}

// status publishes terminal id's retained status.
func (f *fakeTerminals) status(id string, st sitebus.BiometricStatus) {
	f.s.t.Helper()
	if st.Used == nil {
		st.Used = []int{}
	}
	if _, err := f.pub.Publish(f.s.t.Context(), sitebus.ClassBiometric, id, sitebus.KindState, sitebus.BiometricStatusKind, st); err != nil {
		f.s.t.Fatal(err)
	}
}

// event publishes terminal id's event of kind.
func (f *fakeTerminals) event(id, kind string, data any) {
	f.s.t.Helper()
	if _, err := f.pub.Publish(f.s.t.Context(), sitebus.ClassBiometric, id, sitebus.KindEvent, kind, data); err != nil {
		f.s.t.Fatal(err)
	}
}

// got returns the commands terminal id got of action.
func (f *fakeTerminals) got(id, action string) []sitebus.Command {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []sitebus.Command
	for _, c := range f.cmds[id] {
		if c.Action == action {
			out = append(out, c)
		}
	}
	return out
}

// waitCmd waits for the nth command of action to terminal id and returns it.
func (f *fakeTerminals) waitCmd(id, action string, n int) sitebus.Command {
	f.s.t.Helper()
	var got []sitebus.Command
	f.s.waitFor(fmt.Sprintf("%s command %d to %s", action, n, id), func() (bool, string) {
		got = f.got(id, action)
		return len(got) >= n, fmt.Sprintf("%+v", got)
	})
	return got[n-1]
}

// online publishes both terminals online with the used slots given for fp-front,
// and waits for the agent to have them.
func (f *fakeTerminals) online(a *agent.Agent, frontUsed ...int) {
	f.s.t.Helper()
	f.status("fp-front", sitebus.BiometricStatus{Online: true, Capacity: 1000, Templates: len(frontUsed), Used: frontUsed})
	f.status("fp-desk", sitebus.BiometricStatus{Online: true, Capacity: 1000})
	f.s.waitFor("both terminals online", func() (bool, string) {
		ts, _ := a.Biometrics().Terminals(f.s.t.Context())
		n := 0
		for _, v := range ts {
			if v.Status != nil && v.Status.Online {
				n++
			}
		}
		return n == 2, fmt.Sprintf("%+v", ts)
	})
}

// offline publishes terminal id offline and waits for the agent to have it.
func (f *fakeTerminals) offline(a *agent.Agent, id string) {
	f.s.t.Helper()
	f.status(id, sitebus.BiometricStatus{Online: false, LastError: "no answer from the module"})
	f.s.waitFor(id+" offline", func() (bool, string) {
		ts, _ := a.Biometrics().Terminals(f.s.t.Context())
		i := slices.IndexFunc(ts, func(v agent.TerminalView) bool { return v.ID == id })
		return ts[i].Status != nil && !ts[i].Status.Online, fmt.Sprintf("%+v", ts[i])
	})
}

// lists returns a channel of the credential lists the agent publishes.
func (s *apSite) lists() <-chan mqtt.Message {
	return brokertest.Subscribe(s.t, brokertest.Client(s.t, s.broker.URL(), "bridge-lists"), sitebus.CredentialsTopic(site))
}

// waitList waits for a credential list on lists of which ok holds.
func (s *apSite) waitList(lists <-chan mqtt.Message, what string, ok func(l *sitebus.CredentialList) bool) *sitebus.CredentialList {
	s.t.Helper()
	var got *sitebus.CredentialList
	s.waitFor(what, func() (bool, string) {
		for {
			select {
			case m := <-lists:
				l, err := sitebus.VerifyCredentialList(m.Payload(), s.key.Public())
				if err != nil {
					s.t.Fatal(err)
				}
				if ok(l) {
					got = l
					return true, ""
				}
			default:
				return false, fmt.Sprintf("last %+v", got)
			}
		}
	})
	return got
}

// allowed returns card's entry in l.
func allowed(l *sitebus.CredentialList, card string) (sitebus.Allowed, bool) {
	i := slices.IndexFunc(l.Credentials, func(c sitebus.Allowed) bool { return c.ID == card })
	if i < 0 {
		return sitebus.Allowed{}, false
	}
	return l.Credentials[i], true
}

// enrolled consents and enrols X100001's finger on terminal, whose next free slot
// is slot, and has the terminal report it enrolled.
func (f *fakeTerminals) enrolled(a *agent.Agent, terminal, finger string, slot int) agent.Enrolment {
	f.s.t.Helper()
	ctx := f.s.t.Context()
	en, err := a.Biometrics().Enrol(ctx, "X100001", finger, terminal, "Kim Keyworker")
	if err != nil {
		f.s.t.Fatal(err)
	}
	if en.Slot != slot {
		f.s.t.Fatalf("enrolment %+v, want slot %d", en, slot)
	}
	f.event(terminal, sitebus.BiometricEnrolled, sitebus.Enrolled{Enrolment: en.ID, Slot: en.Slot})
	f.s.waitFor(en.ID+" enrolled", func() (bool, string) {
		got, _, _ := a.Biometrics().Enrolment(ctx, en.ID)
		return got.State == biometric.StateEnrolled, fmt.Sprintf("%+v", got)
	})
	return en
}

// TestBiometricEnrolment: with consent recorded, an enrolment is journaled, sent to
// the terminal with the slot the agent allocated, followed step by step live, and
// once the terminal reports it enrolled the credential list gives the bridge the
// resident's slot on that terminal for each of their cards; a new agent on the same
// journal has it too. What the agent refuses is refused.
func TestBiometricEnrolment(t *testing.T) {
	t.Parallel()
	s, f := newBioSite(t)
	lists := s.lists()
	a, stop, _ := s.startAgent()
	subscribed(t, a)
	f.online(a, 0, 1)
	ctx := t.Context()
	bio := a.Biometrics()
	if _, err := bio.Enrol(ctx, "X100001", "right-index", "fp-front", "Kim Keyworker"); !errors.Is(err, biometric.ErrConsent) {
		t.Errorf("enrolment before consent: %v, want ErrConsent", err)
	}
	c, err := bio.Consent(ctx, "X100001", true, "Kim Keyworker")
	if err != nil || !c.Given || c.By != "Kim Keyworker" || !c.At.Equal(noon) {
		t.Fatalf("consent %+v, %v", c, err)
	}
	en, err := bio.Enrol(ctx, "X100001", "right-index", "fp-front", "Kim Keyworker")
	if err != nil {
		t.Fatal(err)
	}
	if en.ID != "E-1" || en.Slot != 2 || en.State != biometric.StateEnrolling || en.Attempt != 1 {
		t.Fatalf("enrolment %+v, want E-1 in slot 2 (the terminal uses 0 and 1), enrolling, attempt 1", en)
	}
	if cmd := f.waitCmd("fp-front", sitebus.ActionEnrol, 1); cmd.Enrolment != "E-1" || cmd.Slot == nil || *cmd.Slot != 2 || cmd.By != "Kim Keyworker" {
		t.Errorf("enrol command %+v", cmd)
	}
	for _, tc := range []struct {
		name                  string
		crn, finger, terminal string
		want                  error
	}{
		{"the terminal enrolling", "X100001", "left-index", "fp-front", biometric.ErrBusy},
		{"not a resident", "X999999", "left-index", "fp-desk", agent.ErrBiometric},
		{"departed", "X100003", "left-index", "fp-desk", agent.ErrBiometric},
		{"no such finger", "X100001", "left-toe", "fp-desk", biometric.ErrFinger},
		{"no such terminal", "X100001", "left-index", "fp-9", agent.ErrBiometric},
	} {
		if _, err := bio.Enrol(ctx, tc.crn, tc.finger, tc.terminal, "Kim Keyworker"); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// The terminal guides the captures: each step is shown live, not journaled.
	for _, step := range []string{sitebus.StepPlaceFinger, sitebus.StepLiftFinger, sitebus.StepPlaceAgain} {
		changed := a.Changed()
		f.event("fp-front", sitebus.BiometricEnrolStep, sitebus.EnrolStep{Enrolment: "E-1", Step: step})
		s.waitFor("step "+step, func() (bool, string) {
			ts, _ := bio.Terminals(ctx)
			i := slices.IndexFunc(ts, func(v agent.TerminalView) bool { return v.ID == "fp-front" })
			return ts[i].Enrolling != nil && ts[i].Enrolling.Step != nil && ts[i].Enrolling.Step.Step == step, fmt.Sprintf("%+v", ts[i].Enrolling)
		})
		select {
		case <-changed:
		default:
			t.Errorf("step %s: no change announced", step)
		}
	}
	f.event("fp-front", sitebus.BiometricEnrolled, sitebus.Enrolled{Enrolment: "E-1", Slot: 2})
	l := s.waitList(lists, "X100001's cards with their finger", func(l *sitebus.CredentialList) bool {
		x, _ := allowed(l, "12:10001")
		return slices.Equal(x.Fingers["fp-front"], []int{2})
	})
	if y, _ := allowed(l, "12:10011"); !slices.Equal(y.Fingers["fp-front"], []int{2}) || len(y.Fingers) != 1 || y.Alternative {
		t.Errorf("X100001's other card %+v, want fp-front slot 2", y)
	}
	if z, _ := allowed(l, "12:10002"); z.Fingers != nil || z.Alternative {
		t.Errorf("X100002's card %+v, want no fingers", z)
	}
	got, _, _ := bio.Enrolment(ctx, "E-1")
	if got.State != biometric.StateEnrolled || got.Step != nil {
		t.Errorf("E-1 after it was enrolled: %+v", got)
	}
	if _, err := bio.Enrol(ctx, "X100001", "right-index", "fp-front", "Kim Keyworker"); !errors.Is(err, biometric.ErrDuplicate) {
		t.Errorf("the same finger again: %v, want ErrDuplicate", err)
	}
	f.offline(a, "fp-desk")
	if _, err := bio.Enrol(ctx, "X100001", "left-index", "fp-desk", "Kim Keyworker"); !errors.Is(err, agent.ErrTerminalOffline) {
		t.Errorf("enrolment on a terminal offline: %v, want ErrTerminalOffline", err)
	}
	evs := s.journaledInfo(a, biometric.TypeEnrolled)
	if len(evs) != 1 || evs[0]["crn"] != "X100001" || evs[0]["terminal"] != "fp-front" || evs[0]["slot"] != 2.0 ||
		evs[0]["finger"] != "right-index" || evs[0]["by"] != "Kim Keyworker" {
		t.Errorf("biometric.enrolled %v", evs)
	}
	for _, ev := range s.events(a) {
		if ev.Type == "approved-premises."+biometric.TypeEnrolled {
			if ids := ev.Data.PersonReference.Identifiers; len(ids) != 2 || ids[0].Value != "X100001" || ids[1].Value != "A1001AA" {
				t.Errorf("biometric.enrolled is about %+v", ids)
			}
		}
	}
	if n := len(s.journaledInfo(a, biometric.TypeStarted)); n != 1 {
		t.Errorf("%d enrolments started journaled, want 1 (the refused ones are not)", n)
	}

	if err := stop(); err != nil {
		t.Fatal(err)
	}
	a.Close()
	b, _, _ := s.startAgent()
	ens, err := b.Biometrics().Enrolments(ctx, "X100001")
	if err != nil || len(ens) != 1 || ens[0].State != biometric.StateEnrolled || ens[0].Slot != 2 || b.Biometrics().ReplayRefused() != 0 {
		t.Errorf("after a restart: %+v, %v, %d refused", ens, err, b.Biometrics().ReplayRefused())
	}
	s.waitList(lists, "the list of a new agent with the finger", func(l *sitebus.CredentialList) bool {
		x, _ := allowed(l, "12:10001")
		return slices.Equal(x.Fingers["fp-front"], []int{2})
	})
}

// TestBiometricDeclinedConsent: a resident who declines is offered the
// alternative, journaled, and their cards carry it to the bridge.
func TestBiometricDeclinedConsent(t *testing.T) {
	t.Parallel()
	s, f := newBioSite(t)
	lists := s.lists()
	a, _, _ := s.startAgent()
	subscribed(t, a)
	f.online(a)
	ctx := t.Context()
	if _, err := a.Biometrics().Consent(ctx, "X100002", false, "Sam Staff"); err != nil {
		t.Fatal(err)
	}
	s.waitList(lists, "X100002's card with the alternative", func(l *sitebus.CredentialList) bool {
		x, _ := allowed(l, "12:10002")
		return x.Alternative
	})
	if c := s.journaledInfo(a, biometric.TypeConsent); len(c) != 1 || c[0]["given"] != false || c[0]["by"] != "Sam Staff" || c[0]["crn"] != "X100002" {
		t.Errorf("consent %v", c)
	}
	if alt := s.journaledInfo(a, biometric.TypeAlternative); len(alt) != 1 || alt[0]["why"] != biometric.WhyDeclined || alt[0]["by"] != "Sam Staff" {
		t.Errorf("alternative %v", alt)
	}
	if _, err := a.Biometrics().Enrol(ctx, "X100002", "right-index", "fp-desk", "Sam Staff"); !errors.Is(err, biometric.ErrConsent) {
		t.Errorf("enrolment after a refusal: %v, want ErrConsent", err)
	}
	r, err := a.Biometrics().Resident(ctx, "X100002")
	if err != nil || r.Consent == nil || r.Consent.Given || r.Alternative == nil || r.Alternative.Why != biometric.WhyDeclined {
		t.Errorf("resident %+v, %v", r, err)
	}
	if _, err := a.Biometrics().Consent(ctx, "X999999", true, "Sam Staff"); !errors.Is(err, agent.ErrBiometric) {
		t.Errorf("consent of no resident: %v", err)
	}
}

// TestBiometricFailedEnrolments: three failed attempts, each journaled with its
// reason and attempt, offer the alternative; a cancellation does not count.
func TestBiometricFailedEnrolments(t *testing.T) {
	t.Parallel()
	s, f := newBioSite(t)
	lists := s.lists()
	a, _, _ := s.startAgent()
	subscribed(t, a)
	f.online(a)
	ctx := t.Context()
	bio := a.Biometrics()
	if _, err := bio.Consent(ctx, "X100002", true, "Sam Staff"); err != nil {
		t.Fatal(err)
	}
	cancelled, err := bio.Enrol(ctx, "X100002", "right-index", "fp-desk", "Sam Staff")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := bio.Cancel(ctx, cancelled.ID, "Sam Staff"); err != nil || got.State != biometric.StateFailed || got.Reason != biometric.ReasonCancelled {
		t.Fatalf("cancel: %+v, %v", got, err)
	}
	if cmd := f.waitCmd("fp-desk", sitebus.ActionCancelEnrol, 1); cmd.Enrolment != cancelled.ID {
		t.Errorf("cancel command %+v", cmd)
	}
	// The terminal's own report of the cancellation is dropped: the enrolment ended.
	f.event("fp-desk", sitebus.BiometricEnrolFailed, sitebus.EnrolFailed{Enrolment: cancelled.ID, Reason: "cancelled"})
	// A status naming an enrolment the agent never started refuses a new one; one
	// naming the enrolment just cancelled is older than its end, and does not.
	deskEnrolling := func(id string) {
		f.status("fp-desk", sitebus.BiometricStatus{Online: true, Capacity: 1000, Enrolling: id})
		s.waitFor("fp-desk reporting "+id+" under way", func() (bool, string) {
			ts, _ := a.Biometrics().Terminals(ctx)
			i := slices.IndexFunc(ts, func(v agent.TerminalView) bool { return v.ID == "fp-desk" })
			return ts[i].Status != nil && ts[i].Status.Enrolling == id, fmt.Sprintf("%+v", ts[i].Status)
		})
	}
	deskEnrolling("E-99")
	if _, err := bio.Enrol(ctx, "X100002", "right-index", "fp-desk", "Sam Staff"); !errors.Is(err, biometric.ErrBusy) || !strings.Contains(err.Error(), "did not start") {
		t.Errorf("enrolment on a terminal busy with an enrolment the agent did not start: %v, want ErrBusy", err)
	}
	deskEnrolling(cancelled.ID)
	for i, reason := range []string{"fingers-do-not-match", "image-too-messy", "timeout"} {
		en, err := bio.Enrol(ctx, "X100002", "right-index", "fp-desk", "Sam Staff")
		if err != nil {
			t.Fatal(err)
		}
		if en.Attempt != i+1 {
			t.Errorf("attempt %d, want %d", en.Attempt, i+1)
		}
		f.event("fp-desk", sitebus.BiometricEnrolFailed, sitebus.EnrolFailed{Enrolment: en.ID, Slot: en.Slot, Reason: reason, Detail: "the captures did not do"})
		s.waitFor(en.ID+" failed", func() (bool, string) {
			got, _, _ := bio.Enrolment(ctx, en.ID)
			return got.State == biometric.StateFailed, fmt.Sprintf("%+v", got)
		})
	}
	s.waitList(lists, "X100002's card with the alternative", func(l *sitebus.CredentialList) bool {
		x, _ := allowed(l, "12:10002")
		return x.Alternative
	})
	fails := s.journaledInfo(a, biometric.TypeEnrolFailed)
	if len(fails) != 4 || fails[0]["reason"] != "cancelled" || fails[0]["counted"] != false || fails[3]["reason"] != "timeout" ||
		fails[3]["attempt"] != 3.0 || fails[3]["by"] != "Sam Staff" || fails[3]["terminal"] != "fp-desk" {
		t.Errorf("enrol-failed %v", fails)
	}
	alt := s.journaledInfo(a, biometric.TypeAlternative)
	if len(alt) != 1 || alt[0]["why"] != biometric.WhyFailedEnrolment || alt[0]["attempts"] != 3.0 || alt[0]["crn"] != "X100002" {
		t.Errorf("alternative %v", alt)
	}
}

// TestBiometricDeparture: a departure recorded in the register asks both terminals
// holding the resident's templates to delete them. The one online deletes them at
// once, proven by its index table; the one offline gets the deletion when it comes
// back, whose first answer still shows a slot used (journaled, not counted: the
// deletion stays pending and is sent again), then a proven one. Pending lists what
// waits, with how long.
func TestBiometricDeparture(t *testing.T) {
	t.Parallel()
	s, f := newBioSite(t)
	lists := s.lists()
	a, _, _ := s.startAgent()
	subscribed(t, a)
	f.online(a)
	ctx := t.Context()
	bio := a.Biometrics()
	if _, err := bio.Consent(ctx, "X100001", true, "Kim Keyworker"); err != nil {
		t.Fatal(err)
	}
	f.enrolled(a, "fp-front", "right-index", 0)
	f.enrolled(a, "fp-desk", "right-index", 0)
	f.enrolled(a, "fp-desk", "left-index", 1)
	s.waitList(lists, "X100001's fingers on both terminals", func(l *sitebus.CredentialList) bool {
		x, _ := allowed(l, "12:10001")
		return len(x.Fingers) == 2 && slices.Equal(x.Fingers["fp-desk"], []int{0, 1})
	})
	f.offline(a, "fp-desk")

	reg, err := register.Open(context.Background(), register.Path(s.cfg.Database))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if _, err := reg.Record(ctx, register.Change{Action: register.Depart, CRN: "X100001", By: "staff-8", At: s.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	cmd := f.waitCmd("fp-front", sitebus.ActionDeleteTemplates, 1)
	if !slices.Equal(cmd.Slots, []int{0}) {
		t.Errorf("fp-front told to delete %v, want [0]", cmd.Slots)
	}
	requested := s.journaledInfo(a, biometric.TypeDeletionRequested)
	if len(requested) != 2 || requested[0]["why"] != biometric.WhyDeparted || requested[0]["terminal"] != "fp-desk" ||
		fmt.Sprint(requested[0]["slots"]) != "[0 1]" || requested[1]["terminal"] != "fp-front" {
		t.Fatalf("deletion-requested %v", requested)
	}
	if got := f.got("fp-desk", sitebus.ActionDeleteTemplates); len(got) != 0 {
		t.Errorf("fp-desk, offline, was sent %+v", got)
	}
	f.event("fp-front", sitebus.BiometricDeleted, sitebus.TemplatesDeleted{Command: cmd.ID, Slots: []int{0}, Used: []int{}, Capacity: 1000,
		ReadAt: s.clock.Now(), Confirmed: true})
	s.waitTypes(a, biometric.TypeDeleted)
	s.clock.Add(90 * time.Minute)
	var pending []agent.PendingDeletion
	s.waitFor("fp-desk's deletion pending alone", func() (bool, string) {
		pending, _ = bio.Pending(ctx)
		return len(pending) == 1 && pending[0].Terminal == "fp-desk", fmt.Sprintf("%+v", pending)
	})
	if p := pending[0]; p.Waited != 90*time.Minute || p.WaitedSeconds != 5400 || p.Overdue || p.TerminalOnline || p.CRN != "X100001" {
		t.Errorf("pending %+v, want waited 90m, not overdue, terminal offline", p)
	}

	// fp-desk comes back: it gets its deletion; its first answer still reads slot 1
	// as used.
	f.status("fp-desk", sitebus.BiometricStatus{Online: true, Capacity: 1000, Templates: 2, Used: []int{0, 1}})
	cmd = f.waitCmd("fp-desk", sitebus.ActionDeleteTemplates, 1)
	if !slices.Equal(cmd.Slots, []int{0, 1}) {
		t.Errorf("fp-desk told to delete %v, want [0 1]", cmd.Slots)
	}
	f.event("fp-desk", sitebus.BiometricDeleted, sitebus.TemplatesDeleted{Command: cmd.ID, Slots: []int{0, 1}, Used: []int{1}, Capacity: 1000,
		ReadAt: s.clock.Now(), Confirmed: false})
	s.waitFor("the unconfirmed answer journaled", func() (bool, string) {
		d := s.journaledInfo(a, biometric.TypeDeleted)
		return len(d) == 2, fmt.Sprint(d)
	})
	if d := s.journaledInfo(a, biometric.TypeDeleted); d[1]["confirmed"] != false || d[1]["terminal"] != "fp-desk" || d[1]["attempt"] != 1.0 {
		t.Errorf("unconfirmed answer %v", d[1])
	}
	if p, _ := bio.Pending(ctx); len(p) != 1 || p[0].Attempts != 1 {
		t.Fatalf("after an unconfirmed answer, pending %+v: it must not count", p)
	}
	s.clock.Add(2 * time.Minute) // sent again
	cmd = f.waitCmd("fp-desk", sitebus.ActionDeleteTemplates, 2)
	f.event("fp-desk", sitebus.BiometricDeleted, sitebus.TemplatesDeleted{Command: cmd.ID, Slots: []int{0, 1}, Used: []int{}, Capacity: 1000,
		ReadAt: s.clock.Now(), Confirmed: true})
	s.waitFor("no deletion pending", func() (bool, string) {
		p, _ := bio.Pending(ctx)
		return len(p) == 0, fmt.Sprintf("%+v", p)
	})
	d := s.journaledInfo(a, biometric.TypeDeleted)
	if len(d) != 3 || d[2]["confirmed"] != true || d[2]["attempt"] != 2.0 || fmt.Sprint(d[2]["used"]) != "[]" || d[2]["readAt"] == nil {
		t.Errorf("biometric.deleted %v", d)
	}
	ens, _ := bio.Enrolments(ctx, "X100001")
	for _, en := range ens {
		if en.State != biometric.StateDeleted {
			t.Errorf("enrolment %s is %s, want deleted", en.ID, en.State)
		}
	}
	if n := len(s.journaledInfo(a, biometric.TypeDeletionOverdue)); n != 0 {
		t.Errorf("%d overdue alarms", n)
	}
}

// TestBiometricDeletionOverdue: a staff deletion on a terminal that stays offline
// is raised overdue once after a day.
func TestBiometricDeletionOverdue(t *testing.T) {
	t.Parallel()
	s, f := newBioSite(t)
	a, _, _ := s.startAgent()
	subscribed(t, a)
	f.online(a)
	ctx := t.Context()
	bio := a.Biometrics()
	if _, err := bio.Consent(ctx, "X100001", true, "Kim Keyworker"); err != nil {
		t.Fatal(err)
	}
	f.enrolled(a, "fp-desk", "right-index", 0)
	f.offline(a, "fp-desk")
	ds, err := bio.Delete(ctx, "X100001", "Kim Keyworker")
	if err != nil || len(ds) != 1 || ds[0].Terminal != "fp-desk" || ds[0].Why != biometric.WhyStaff {
		t.Fatalf("delete: %+v, %v", ds, err)
	}
	if _, err := bio.Delete(ctx, "X100002", "Kim Keyworker"); !errors.Is(err, biometric.ErrNothing) {
		t.Errorf("deleting nothing: %v", err)
	}
	s.clock.Add(23 * time.Hour)
	s.clock.Add(2 * time.Hour)
	s.waitTypes(a, biometric.TypeDeletionOverdue)
	s.clock.Add(24 * time.Hour)
	s.clock.Add(time.Hour)
	s.waitFor("a check after the second day", func() (bool, string) {
		p, _ := bio.Pending(ctx)
		return len(p) == 1 && p[0].Overdue && p[0].Waited >= 50*time.Hour, fmt.Sprintf("%+v", p)
	})
	s.fence()
	if o := s.journaledInfo(a, biometric.TypeDeletionOverdue); len(o) != 1 || o[0]["terminal"] != "fp-desk" || o[0]["deletion"] != "D-1" {
		t.Errorf("overdue %v, want one", o)
	}
	if got := f.got("fp-desk", sitebus.ActionDeleteTemplates); len(got) != 0 {
		t.Errorf("fp-desk, offline, was sent %+v", got)
	}
}

// TestBiometricOrphanSlot: a used slot that no enrolment holds, in a terminal's
// status or index table, is raised once.
func TestBiometricOrphanSlot(t *testing.T) {
	t.Parallel()
	s, f := newBioSite(t)
	a, _, _ := s.startAgent()
	subscribed(t, a)
	f.online(a, 5)
	s.waitTypes(a, biometric.TypeOrphanSlot)
	f.status("fp-front", sitebus.BiometricStatus{Online: true, Capacity: 1000, Templates: 1, Used: []int{5}}) // again
	f.event("fp-front", sitebus.BiometricIndex, sitebus.IndexTable{Command: "c-1", Used: []int{5, 6}, Capacity: 1000, ReadAt: s.clock.Now()})
	s.waitFor("two orphans", func() (bool, string) {
		o := s.journaledInfo(a, biometric.TypeOrphanSlot)
		return len(o) == 2, fmt.Sprint(o)
	})
	o := s.journaledInfo(a, biometric.TypeOrphanSlot)
	if o[0]["terminal"] != "fp-front" || o[0]["slot"] != 5.0 || o[1]["slot"] != 6.0 {
		t.Errorf("orphans %v", o)
	}
	views, err := a.Biometrics().Orphans(t.Context())
	if err != nil || len(views) != 2 || !views[0].StillUsed || views[1].StillUsed {
		t.Errorf("orphans %+v, %v: want 5 still used by the status, 6 not", views, err)
	}
	if !slices.Contains(eventindex.AlarmTypes, biometric.TypeOrphanSlot) || !slices.Contains(eventindex.AlarmTypes, biometric.TypeDeletionOverdue) ||
		!slices.Contains(eventindex.AlarmTypes, biometric.TypeVerificationFailed) {
		t.Error("the biometric alarms are not alarms")
	}
}

// TestBiometricSecondFactor: a movement on a read whose finger matched records the
// second factor; three reads refused for failed fingers in ten minutes raise
// biometric.verification-failed once.
func TestBiometricSecondFactor(t *testing.T) {
	t.Parallel()
	s, _ := newBioSite(t)
	a, _, _ := s.startAgent()
	subscribed(t, a)
	pub := sitebus.NewPublisher(s.bus, site, "boot-r", s.clock)
	slot := 2
	read := cardRead("front", "entry", "10001")
	read.SecondFactor = &sitebus.SecondFactor{Terminal: "fp-front", Result: sitebus.FactorMatched, Slot: &slot, Score: 87}
	if _, err := pub.Publish(t.Context(), sitebus.ClassReader, "front-in", sitebus.KindEvent, "card-read", read); err != nil {
		t.Fatal(err)
	}
	s.waitTypes(a, "movement.entered")
	mv := s.journaledInfo(a, "movement.entered")
	if sf, _ := mv[0]["secondFactor"].(map[string]any); sf["terminal"] != "fp-front" || sf["checked"] != true || sf["result"] != "matched" ||
		sf["slot"] != 2.0 || sf["score"] != 87.0 {
		t.Errorf("movement's second factor %v", mv[0]["secondFactor"])
	}
	// At a door with a position switch the movement is the opening after the read:
	// it records the read's second factor too.
	read = cardRead("garden", "entry", "10002")
	read.DoorContact = true
	read.SecondFactor = &sitebus.SecondFactor{Terminal: "fp-garden", Result: sitebus.FactorMatched, Slot: &slot, Score: 91}
	readMsg, err := pub.Publish(t.Context(), sitebus.ClassReader, "garden-in", sitebus.KindEvent, "card-read", read)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pub.Publish(t.Context(), sitebus.ClassDoor, "garden", sitebus.KindEvent, sitebus.DoorOpened, sitebus.DoorEvent{
		Reason: sitebus.UnlockByCredential, Reader: "garden-in", Direction: "entry", Credential: "12:10002", UnlockedAt: readMsg.Time, Authorised: true,
	}); err != nil {
		t.Fatal(err)
	}
	s.waitFor("two movements", func() (bool, string) {
		mv = s.journaledInfo(a, "movement.entered")
		return len(mv) == 2, fmt.Sprint(mv)
	})
	if sf, _ := mv[1]["secondFactor"].(map[string]any); mv[1]["basis"] != "read-then-door-opened" || sf["terminal"] != "fp-garden" || sf["score"] != 91.0 {
		t.Errorf("the opening's movement %v", mv[1])
	}
	for i, result := range []string{sitebus.FactorNotMatched, sitebus.FactorOtherPerson, sitebus.FactorNoFinger, sitebus.FactorNotMatched} {
		s.clock.Add(time.Minute)
		r := cardRead("front", "entry", "10001")
		r.Granted, r.Reason = false, "second-factor"
		r.SecondFactor = &sitebus.SecondFactor{Terminal: "fp-front", Result: result}
		if result == sitebus.FactorOtherPerson {
			other := 9
			r.SecondFactor.Slot, r.SecondFactor.Score = &other, 60
		}
		if _, err := pub.Publish(t.Context(), sitebus.ClassReader, "front-in", sitebus.KindEvent, "card-read", r); err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			s.waitTypes(a, biometric.TypeVerificationFailed)
		}
	}
	// A read after the fourth: once its movement is journaled, the fourth is handled.
	if _, err := pub.Publish(t.Context(), sitebus.ClassReader, "r1", sitebus.KindEvent, "card-read", cardRead("d12", "entry", "10002")); err != nil {
		t.Fatal(err)
	}
	s.waitFor("the read after", func() (bool, string) {
		mv = s.journaledInfo(a, "movement.entered")
		return len(mv) == 3, fmt.Sprint(len(mv))
	})
	v := s.journaledInfo(a, biometric.TypeVerificationFailed)
	if len(v) != 1 || v[0]["crn"] != "X100001" || v[0]["door"] != "front" || v[0]["count"] != 3.0 || fmt.Sprint(v[0]["for"]) != "[person door]" {
		t.Fatalf("verification-failed %v, want one, for X100001 at the front door", v)
	}
	for _, ev := range s.events(a) {
		if ev.Type == "approved-premises."+biometric.TypeVerificationFailed {
			if p := ev.Data.PersonReference; p == nil || p.Identifiers[0].Value != "X100001" {
				t.Errorf("the alarm is about %+v", p)
			}
		}
	}
}

// TestBiometricSentences puts the events the biometrics engine makes into words:
// the resident by name and room, the finger, the terminal by where it is, the slot.
func TestBiometricSentences(t *testing.T) {
	d := agent.NewDescriber([]config.Resident{{CRN: "X123456", Name: "Brian Baker", Room: "5"}}, nil).
		WithTerminals(map[string]config.BiometricPlace{"fp-front": {Door: "front", Name: "front door"}, "fp-desk": {Name: "office: enrolment desk"}})
	e, err := biometric.New(biometric.Config{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 2, 14, 30, 0, 0, time.UTC) // 14:30 GMT
	one := func(ds []biometric.Draft, err error) biometric.Draft {
		t.Helper()
		if err != nil || len(ds) == 0 {
			t.Fatal(ds, err)
		}
		return ds[len(ds)-1]
	}
	consented := one(e.RecordConsent(biometric.Consent{CRN: "X123456", Given: true, By: "Ann", At: at}))
	en, started, err := e.StartEnrolment(biometric.Request{CRN: "X123456", Finger: "right-index", Terminal: "fp-front", By: "Ann", At: at},
		[]int{0, 1, 2}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	enrolled, err := e.Enrolled("fp-front", sitebus.Enrolled{Enrolment: en.ID, Slot: en.Slot}, at.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	en2, _, err := e.StartEnrolment(biometric.Request{CRN: "X123456", Finger: "left-thumb", Terminal: "fp-desk", By: "Ann", At: at}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	failed := one(e.EnrolFailed("fp-desk", sitebus.EnrolFailed{Enrolment: en2.ID, Reason: "fingers-do-not-match", Detail: "the two captures do not match"}, at))
	requested := one(e.RequestDeletion("X123456", biometric.WhyDeparted, "agent", at.Add(time.Hour)))
	proof, err := e.TemplatesDeleted("fp-front", sitebus.TemplatesDeleted{Command: "c", Slots: []int{3}, Used: []int{0, 1, 2}, Capacity: 1000,
		ReadAt: at.Add(61 * time.Minute), Confirmed: true}, at.Add(61*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	orphan := one(e.UsedSlots("fp-desk", []int{7}, at.Add(2*time.Hour), at.Add(2*time.Hour)))
	declined := one(e.RecordConsent(biometric.Consent{CRN: "X123456", Given: false, By: "Ann", At: at.Add(3 * time.Hour)}))
	v := biometric.NewVerifier(0, 0)
	var alarm biometric.Verification
	for i, r := range []string{sitebus.FactorNotMatched, sitebus.FactorOtherPerson, sitebus.FactorNoFinger} {
		alarm, _ = v.Add(biometric.FactorFailure{Read: fmt.Sprint(i), CRN: "X123456", Door: "front", Reader: "front-in", Terminal: "fp-front",
			Result: r, At: at.Add(time.Duration(i) * time.Minute)})
	}
	info, _ := json.Marshal(alarm)
	verification := biometric.Draft{Type: biometric.TypeVerificationFailed, At: alarm.At, CRN: "X123456", Info: info}
	for _, tt := range []struct {
		name string
		d    biometric.Draft
		want string
	}{
		{"consent", consented, "Ann recorded the consent of Brian Baker (room 5) to the enrolment of their fingerprints at 14:30 on 2 Dec 2026"},
		{"started", started, "Ann started enrolling Brian Baker (room 5)'s right index finger on the front door's terminal fp-front, slot 3 (attempt 1) at 14:30 on 2 Dec 2026"},
		{"enrolled", enrolled, "Ann enrolled Brian Baker (room 5)'s right index finger on the front door's terminal fp-front, slot 3, at 14:31 on 2 Dec 2026"},
		{"failed", failed, "The enrolment of Brian Baker (room 5)'s left thumb on the terminal fp-desk (office: enrolment desk) failed at 14:30 on 2 Dec 2026: the two captures do not match (attempt 1)"},
		{"deletion", requested, "On the departure of Brian Baker (room 5), the deletion of their fingerprint templates on the front door's terminal fp-front (slot 3) was asked for at 15:30 on 2 Dec 2026"},
		{"deleted", proof, "The front door's terminal fp-front deleted Brian Baker (room 5)'s fingerprint templates (slot 3) at 15:31 on 2 Dec 2026: its index table, read back at 15:31, shows them free"},
		{"declined", declined, "Brian Baker (room 5) declined enrolment and was offered the alternative (card and a member of staff's confirmation at the door) by Ann at 17:30 on 2 Dec 2026"},
		{"verification", verification, "Brian Baker (room 5)'s finger failed 3 times in 10 minutes with their card, the last at the front door on the front door's terminal fp-front at 14:32 on 2 Dec 2026 (not matched, someone else's finger, no finger)"},
		{"orphan", orphan, "The terminal fp-desk (office: enrolment desk) holds a fingerprint template in slot 7 that no enrolment holds, seen at 16:30 on 2 Dec 2026"},
	} {
		got := d.Sentence(agent.Fact{Type: tt.d.Type, At: tt.d.At, CRN: tt.d.CRN, Info: tt.d.Info})
		if got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
	}
}
