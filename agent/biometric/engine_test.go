package biometric_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/agent/biometric"
	"github.com/apedge/apedge/formats/sitebus"
)

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg  biometric.Config
		want error
	}{
		{biometric.Config{}, nil},
		{biometric.Config{MaxAttempts: 5, DeletionOverdue: time.Hour}, nil},
		{biometric.Config{MaxAttempts: -1}, biometric.ErrInvalid},
		{biometric.Config{MaxAttempts: 101}, biometric.ErrInvalid},
		{biometric.Config{DeletionOverdue: time.Second}, biometric.ErrInvalid},
	} {
		e, err := biometric.New(tc.cfg)
		wantErr(t, err, tc.want)
		if err == nil && tc.cfg.MaxAttempts == 0 && (e.Config().MaxAttempts != 3 || e.Config().DeletionOverdue != 24*time.Hour) {
			t.Errorf("defaults %+v, want 3 attempts and 24h", e.Config())
		}
	}
}

// TestConsent: a consent is recorded as given; a refusal offers the alternative.
func TestConsent(t *testing.T) {
	e := newEngine(t)
	ds := consent(t, e, "X123456", false, at(0))
	if got := types(ds); !slices.Equal(got, []string{biometric.TypeConsent, biometric.TypeAlternative}) {
		t.Fatalf("a refusal made %v", got)
	}
	if m := info(t, ds[1]); m["why"] != biometric.WhyDeclined || m["crn"] != "X123456" || m["by"] != staff {
		t.Errorf("alternative %v", m)
	}
	if a, ok := e.AlternativeOf("X123456"); !ok || a.Why != biometric.WhyDeclined {
		t.Errorf("alternative %+v %v", a, ok)
	}
	ds = consent(t, e, "X123456", true, at(1))
	if c, ok := e.ConsentOf("X123456"); len(ds) != 1 || !ok || !c.Given || c.By != staff || ds[0].Key != "biometric.consent-recorded/X123456/2" {
		t.Errorf("consent %+v %v after %v", c, ok, ds)
	}
	for _, c := range []biometric.Consent{
		{CRN: "X12", Given: true, By: staff, At: at(2)},
		{CRN: "X123456", Given: true, At: at(2)},
		{CRN: "X123456", Given: true, By: staff},
		{CRN: "X123456", Given: true, By: staff, Terminal: "no such/terminal", At: at(2)},
	} {
		_, err := e.RecordConsent(c)
		wantErr(t, err, biometric.ErrInvalid)
	}
}

// TestStartEnrolment: what starting an enrolment refuses, and the slot it
// allocates.
func TestStartEnrolment(t *testing.T) {
	e := newEngine(t)
	consent(t, e, "X123456", true, at(0))
	consent(t, e, "Y654321", false, at(0))
	first, _ := enrol(t, e, "X123456", "right-index", front, []int{0, 1, 3}, at(1))
	if first.Slot != 2 || first.ID != "E-1" || first.Attempt != 1 || first.State != biometric.StateEnrolling {
		t.Fatalf("first enrolment %+v, want E-1 in slot 2, the lowest the terminal does not use", first)
	}
	stored(t, e, first, at(2))
	req := func(crn, finger, terminal string) biometric.Request {
		return biometric.Request{CRN: crn, Finger: finger, Terminal: terminal, By: staff, At: at(3)}
	}
	for _, tc := range []struct {
		name     string
		r        biometric.Request
		used     []int
		capacity int
		want     error
	}{
		{"no consent recorded", req("Z111111", "right-index", front), nil, 0, biometric.ErrConsent},
		{"consent refused", req("Y654321", "right-index", front), nil, 0, biometric.ErrConsent},
		{"no such finger", req("X123456", "right-toe", front), nil, 0, biometric.ErrFinger},
		{"a finger enrolled there", req("X123456", "right-index", front), nil, 0, biometric.ErrDuplicate},
		{"a full library", req("X123456", "left-index", front), []int{0, 1}, 3, biometric.ErrFull},
		{"no CRN", req("", "left-index", front), nil, 0, biometric.ErrInvalid},
		{"no terminal", req("X123456", "left-index", "fp/1"), nil, 0, biometric.ErrInvalid},
		{"no member of staff", biometric.Request{CRN: "X123456", Finger: "left-index", Terminal: front, At: at(3)}, nil, 0, biometric.ErrInvalid},
		{"no time", biometric.Request{CRN: "X123456", Finger: "left-index", Terminal: front, By: staff}, nil, 0, biometric.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := e.Clone()
			_, _, err := x.StartEnrolment(tc.r, tc.used, tc.capacity)
			wantErr(t, err, tc.want)
			if !biometric.SameState(e, x) {
				t.Error("a refusal changed the state")
			}
		})
	}
	// The same finger on another terminal is another enrolment; the records' slots
	// count as well as the terminal's.
	other, _ := enrol(t, e, "X123456", "right-index", desk, nil, at(4))
	if other.Slot != 0 {
		t.Errorf("on the desk: slot %d, want 0", other.Slot)
	}
	_, _, err := e.StartEnrolment(req("X123456", "left-index", desk), nil, 0)
	wantErr(t, err, biometric.ErrBusy)
	next, _ := enrol(t, e, "X123456", "left-index", front, nil, at(5))
	if next.Slot != 0 {
		t.Errorf("slot %d, want 0: the terminal reported none used, and the records hold 2", next.Slot)
	}
	failed(t, e, next, "timeout", at(6))
	again, _ := enrol(t, e, "X123456", "left-index", front, []int{2}, at(7))
	if again.Slot != 0 || again.Attempt != 2 {
		t.Errorf("after a failure: slot %d attempt %d, want slot 0 again, attempt 2", again.Slot, again.Attempt)
	}
}

// TestAttempts: failures count towards the alternative, offered once after
// MaxAttempts; a cancellation does not count; a success ends the alternative.
func TestAttempts(t *testing.T) {
	e, err := biometric.New(biometric.Config{MaxAttempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	consent(t, e, "X123456", true, at(0))
	try := func(reason string, min int) []string {
		t.Helper()
		en, _ := enrol(t, e, "X123456", "right-index", front, nil, at(min))
		if reason == biometric.ReasonCancelled {
			d, err := e.Abandon(en.ID, reason, "", "Bo Staff", at(min+1))
			if err != nil {
				t.Fatal(err)
			}
			if m := info(t, d); m["counted"] != false || m["endedBy"] != "Bo Staff" || m["by"] != staff {
				t.Errorf("cancellation %v", m)
			}
			return types([]biometric.Draft{d})
		}
		return types(failed(t, e, en, reason, at(min+1)))
	}
	if got := try("timeout", 0); !slices.Equal(got, []string{biometric.TypeEnrolFailed}) {
		t.Errorf("first failure %v", got)
	}
	try(biometric.ReasonCancelled, 2) // not counted
	if n := e.Attempts("X123456"); n != 1 {
		t.Errorf("%d attempts counted, want 1", n)
	}
	if got := try("fingers-do-not-match", 4); !slices.Equal(got, []string{biometric.TypeEnrolFailed, biometric.TypeAlternative}) {
		t.Errorf("second failure %v, want the alternative offered", got)
	}
	if a, ok := e.AlternativeOf("X123456"); !ok || a.Attempts != 2 || a.Why != biometric.WhyFailedEnrolment {
		t.Errorf("alternative %+v %v", a, ok)
	}
	try("timeout", 6)
	if got := try("timeout", 8); !slices.Equal(got, []string{biometric.TypeEnrolFailed}) {
		t.Errorf("failures with the alternative in force made %v: offered once", got)
	}
	en, _ := enrol(t, e, "X123456", "right-index", front, nil, at(10))
	if en.Attempt != 3 {
		t.Errorf("attempt %d, want 3 (two since the offer)", en.Attempt)
	}
	stored(t, e, en, at(11))
	if _, ok := e.AlternativeOf("X123456"); ok || e.Attempts("X123456") != 0 {
		t.Error("an enrolment that succeeded leaves the alternative in force, or attempts counted")
	}
	if f := e.Fingers("X123456"); !slices.Equal(f[front], []int{en.Slot}) || len(f) != 1 {
		t.Errorf("fingers %v", f)
	}
}

// TestTerminalReports: the terminal's reports fit only their own enrolment.
func TestTerminalReports(t *testing.T) {
	e := newEngine(t)
	consent(t, e, "X123456", true, at(0))
	en, _ := enrol(t, e, "X123456", "right-index", front, nil, at(1))
	for _, tc := range []struct {
		name     string
		terminal string
		ev       sitebus.Enrolled
		want     error
	}{
		{"another terminal's", desk, sitebus.Enrolled{Enrolment: en.ID, Slot: en.Slot}, biometric.ErrNoEnrolment},
		{"no such enrolment", front, sitebus.Enrolled{Enrolment: "E-9", Slot: en.Slot}, biometric.ErrNoEnrolment},
		{"another slot", front, sitebus.Enrolled{Enrolment: en.ID, Slot: 5}, biometric.ErrEvent},
	} {
		_, err := e.Enrolled(tc.terminal, tc.ev, at(2))
		wantErr(t, err, tc.want)
	}
	d := stored(t, e, en, at(2))
	if m := info(t, d); m["enrolment"] != "E-1" || m["finger"] != "right-index" || m["slot"] != 0.0 || m["terminal"] != front || m["by"] != staff {
		t.Errorf("enrolled %v", m)
	}
	_, err := e.Enrolled(front, sitebus.Enrolled{Enrolment: en.ID, Slot: en.Slot}, at(3))
	wantErr(t, err, biometric.ErrDuplicate)
	_, err = e.EnrolFailed(front, sitebus.EnrolFailed{Enrolment: en.ID, Reason: "cancelled"}, at(3))
	wantErr(t, err, biometric.ErrState)
	_, err = e.Abandon(en.ID, biometric.ReasonCancelled, "", staff, at(3))
	wantErr(t, err, biometric.ErrState)
	en2, _ := enrol(t, e, "X123456", "left-index", front, nil, at(4))
	_, err = e.Abandon(en2.ID, "timeout", "", staff, at(5))
	wantErr(t, err, biometric.ErrInvalid) // the terminal's reason, not the agent's
	// The terminal's words are made fit for the record.
	ds, err := e.EnrolFailed(front, sitebus.EnrolFailed{Enrolment: en2.ID, Reason: "image-too-messy", Detail: "clean the\nsensor\x00 " + strings.Repeat("é", 200)}, at(5))
	if err != nil {
		t.Fatal(err)
	}
	if m := info(t, ds[0]); !strings.HasPrefix(m["detail"].(string), "clean the sensor  é") || len(m["detail"].(string)) > 256 {
		t.Errorf("detail %q", m["detail"])
	}
}

// TestDeletion: a deletion per terminal, counted only once the index table read
// back shows its slots free; an enrolment under way is abandoned; overdue once.
func TestDeletion(t *testing.T) {
	e := newEngine(t)
	consent(t, e, "X123456", true, at(0))
	for i, f := range []string{"right-index", "left-index"} {
		en, _ := enrol(t, e, "X123456", f, front, nil, at(1+i))
		stored(t, e, en, at(1+i))
	}
	en, _ := enrol(t, e, "X123456", "right-index", desk, nil, at(3))
	stored(t, e, en, at(3))
	under, _ := enrol(t, e, "X123456", "left-thumb", desk, nil, at(4))
	_, err := e.RequestDeletion("Y654321", biometric.WhyStaff, staff, at(5))
	wantErr(t, err, biometric.ErrNothing)
	_, err = e.RequestDeletion("X123456", "bored", staff, at(5))
	wantErr(t, err, biometric.ErrInvalid)
	ds, err := e.RequestDeletion("X123456", biometric.WhyDeparted, staff, at(5))
	if err != nil {
		t.Fatal(err)
	}
	if got := types(ds); !slices.Equal(got, []string{biometric.TypeEnrolFailed, biometric.TypeDeletionRequested, biometric.TypeDeletionRequested}) {
		t.Fatalf("deletion made %v", got)
	}
	if m := info(t, ds[0]); m["enrolment"] != under.ID || m["reason"] != biometric.ReasonDeletion || m["counted"] != false {
		t.Errorf("the enrolment under way ended %v", m)
	}
	if m := info(t, ds[2]); m["terminal"] != front || fmt.Sprint(m["slots"]) != "[0 1]" || m["why"] != biometric.WhyDeparted || m["deletion"] != "D-2" {
		t.Errorf("the front door's deletion %v", m)
	}
	if f := e.Fingers("X123456"); f != nil {
		t.Errorf("fingers %v while their deletion is pending: none open a door", f)
	}
	if _, err := e.RequestDeletion("X123456", biometric.WhyDeparted, staff, at(6)); err == nil {
		t.Error("a second deletion of the same templates")
	}
	_, err = e.TemplatesDeleted(front, deleted(front, []int{5}, nil, at(7)), at(7))
	wantErr(t, err, biometric.ErrNoDeletion)
	d, err := e.TemplatesDeleted(front, deleted(front, []int{0, 1}, []int{1, 4}, at(7)), at(7))
	if err != nil {
		t.Fatal(err)
	}
	if m := info(t, d); m["confirmed"] != false || m["attempt"] != 1.0 || d.Key != "biometric.deleted/D-2/1" {
		t.Errorf("an unconfirmed answer %v (%s)", m, d.Key)
	}
	if p := e.Pending(front); len(p) != 1 || p[0].Attempts != 1 {
		t.Fatalf("pending after an unconfirmed answer: %+v", p)
	}
	d, err = e.TemplatesDeleted(front, deleted(front, []int{0, 1}, []int{4}, at(8)), at(8))
	if err != nil {
		t.Fatal(err)
	}
	if m := info(t, d); m["confirmed"] != true || fmt.Sprint(m["used"]) != "[4]" || m["attempt"] != 2.0 {
		t.Errorf("the confirmation %v", m)
	}
	if p := e.Pending(""); len(p) != 1 || p[0].Terminal != desk {
		t.Errorf("pending %+v, want the desk's only", p)
	}
	for _, en := range e.Enrolments("X123456") {
		want := map[string]string{front: biometric.StateDeleted, desk: biometric.StateDeleting}[en.Terminal]
		if en.State != want && en.State != biometric.StateFailed {
			t.Errorf("enrolment %s on %s is %s, want %s", en.ID, en.Terminal, en.State, want)
		}
	}
	if ds, _ := e.Overdue(at(5).Add(24 * time.Hour)); len(ds) != 0 {
		t.Errorf("overdue at exactly a day: %v", types(ds))
	}
	ds, _ = e.Overdue(at(6).Add(24 * time.Hour))
	if len(ds) != 1 || ds[0].Terminal != desk || info(t, ds[0])["waitedSeconds"] != float64(24*3600+60) {
		t.Fatalf("overdue %v", ds)
	}
	if ds, _ := e.Overdue(at(6).Add(48 * time.Hour)); len(ds) != 0 {
		t.Errorf("raised overdue again: %v", types(ds))
	}
	if p := e.Pending(""); len(p) != 1 || p[0].Waited(at(65)) != time.Hour {
		t.Errorf("waited %v, want 1h", p[0].Waited(at(65)))
	}
}

// TestOrphans: a used slot no enrolment holds is raised once; one held by an
// enrolment under way, enrolled or awaiting its deletion is not; a stale reading
// is not checked.
func TestOrphans(t *testing.T) {
	e := newEngine(t)
	consent(t, e, "X123456", true, at(0))
	enrolled, _ := enrol(t, e, "X123456", "right-index", front, nil, at(1)) // slot 0
	stored(t, e, enrolled, at(1))
	deleting, _ := enrol(t, e, "X123456", "left-index", front, nil, at(2)) // slot 1
	stored(t, e, deleting, at(2))
	if _, err := e.RequestDeletion("X123456", biometric.WhyStaff, staff, at(3)); err != nil {
		t.Fatal(err)
	}
	consent(t, e, "Y654321", true, at(3))
	under, _ := enrol(t, e, "Y654321", "right-index", front, []int{0, 1}, at(4)) // slot 2
	ds, err := e.UsedSlots(front, []int{9, 0, 1, 2, 5, 9}, at(5), at(5))
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 2 || info(t, ds[0])["slot"] != 5.0 || info(t, ds[1])["slot"] != 9.0 || ds[1].Key != "biometric.orphan-slot/fp-front/9" {
		t.Fatalf("orphans %v", ds)
	}
	if ds, _ := e.UsedSlots(front, []int{5, 9}, at(6), at(6)); len(ds) != 0 {
		t.Errorf("raised again: %v", ds)
	}
	if next, _ := e.Enrolling(front); next.ID != under.ID {
		t.Fatal(next)
	}
	failed(t, e, under, "timeout", at(7))
	// The deletion's read back at 8 minutes; a status read before it is stale.
	if _, err := e.TemplatesDeleted(front, deleted(front, []int{0, 1}, []int{5, 9}, at(8)), at(8)); err != nil {
		t.Fatal(err)
	}
	if ds, _ := e.UsedSlots(front, []int{0, 1, 2}, at(7), at(9)); len(ds) != 0 {
		t.Errorf("a stale reading raised %v", ds)
	}
	ds, _ = e.UsedSlots(front, []int{2}, at(9), at(9))
	if len(ds) != 1 || info(t, ds[0])["slot"] != 2.0 {
		t.Errorf("a slot whose enrolment failed yet is used: %v", ds)
	}
	if o := e.Orphans(); len(o) != 3 {
		t.Errorf("orphans %+v", o)
	}
	next, _ := enrol(t, e, "Y654321", "right-index", front, nil, at(10))
	if next.Slot != 0 {
		t.Errorf("next slot %d, want 0: freed by the deletion, no orphan", next.Slot)
	}
}

// TestVerifier: three failures within ten minutes, of one person or at one door,
// raise once per window; repeats are counted once; other results do not count.
func TestVerifier(t *testing.T) {
	if !biometric.FailedFactor(sitebus.FactorOtherPerson) || biometric.FailedFactor(sitebus.FactorUnavailable) ||
		biometric.FailedFactor(sitebus.FactorMatched) || biometric.FailedFactor(sitebus.FactorAlternative) {
		t.Error("FailedFactor")
	}
	fail := func(read, crn, door string, min int) biometric.FactorFailure {
		return biometric.FactorFailure{Read: read, CRN: crn, Door: door, Reader: door + "-in", Terminal: "fp-" + door,
			Result: sitebus.FactorNotMatched, At: at(min)}
	}
	type step struct {
		f    biometric.FactorFailure
		want []string // the scopes raised, nil for none
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"one person at two doors", []step{{fail("r1", "X123456", "front", 0), nil}, {fail("r2", "X123456", "garden", 3), nil},
			{fail("r3", "X123456", "front", 9), []string{"person"}}}},
		{"one door, three people", []step{{fail("r1", "X123456", "front", 0), nil}, {fail("r2", "Y654321", "front", 1), nil},
			{fail("r3", "", "front", 2), []string{"door"}}}},
		{"both", []step{{fail("r1", "X123456", "front", 0), nil}, {fail("r2", "X123456", "front", 1), nil},
			{fail("r3", "X123456", "front", 2), []string{"person", "door"}}}},
		{"outside the window", []step{{fail("r1", "X123456", "front", 0), nil}, {fail("r2", "X123456", "garden", 5), nil},
			{fail("r3", "X123456", "d12", 10), nil}, {fail("r4", "X123456", "d34", 11), []string{"person"}}}},
		{"a repeat is counted once", []step{{fail("r1", "X123456", "front", 0), nil}, {fail("r1", "X123456", "front", 0), nil},
			{fail("r2", "X123456", "garden", 1), nil}, {fail("r3", "X123456", "d12", 2), []string{"person"}}}},
		{"once per window", []step{{fail("r1", "X123456", "front", 0), nil}, {fail("r2", "X123456", "garden", 1), nil},
			{fail("r3", "X123456", "d12", 2), []string{"person"}}, {fail("r4", "X123456", "d34", 3), nil},
			{fail("r5", "X123456", "d34", 11), nil}, {fail("r6", "X123456", "d12", 12), []string{"person"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := biometric.NewVerifier(0, 0)
			for i, s := range tc.steps {
				got, raised := v.Add(s.f)
				if raised != (s.want != nil) || !slices.Equal(got.For, s.want) {
					t.Fatalf("step %d: raised %v for %v, want %v", i, raised, got.For, s.want)
				}
				if raised && (got.Count < 3 || got.Count != len(got.Failures) || got.WindowSeconds != 600 || !got.At.Equal(s.f.At) ||
					got.Failures[len(got.Failures)-1].Read != s.f.Read) {
					t.Errorf("step %d: alarm %+v", i, got)
				}
			}
		})
	}
}
