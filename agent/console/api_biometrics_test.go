package console_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/apedge/apedge/devices/fingerprint"
)

// bioOverview is what the tests read of GET /api/v1/biometrics.
type bioOverview struct {
	EnhancedSecurity bool
	Fingers          []string
	MaxAttempts      int
	Terminals        []struct {
		ID, Door, Name string
		Reported       bool
		Status         *struct {
			Online   bool
			Capacity int
			Used     []int
		}
		Enrolling        *bioEnrolment
		PendingDeletions int
	}
	Residents []struct {
		CRN     string
		Person  struct{ Label string }
		Consent string
		Fingers []struct {
			Finger, Terminal, State string
			Slot                    int
		}
		Enrolling   string
		Alternative *struct{ Why string }
	}
	Recent  []bioEnrolment
	Pending []struct {
		Terminal       string
		Slots          []int
		TerminalOnline bool
	}
}

// bioEnrolment is what the tests read of an enrolment.
type bioEnrolment struct {
	ID, CRN, Terminal, Finger, By, State, Reason string
	Slot, Attempt                                int
	Step                                         *struct{ Step string }
}

// overview returns GET /api/v1/biometrics, failing the test on any other answer
// than 200.
func (c *client) bioOverview() bioOverview {
	c.s.t.Helper()
	var v bioOverview
	if code := c.do("GET", "/api/v1/biometrics", nil, &v); code != http.StatusOK {
		c.s.t.Fatalf("GET /api/v1/biometrics: %d", code)
	}
	return v
}

// terminalsOnline waits until every terminal of the overview reports online.
func (c *client) terminalsOnline() {
	c.s.t.Helper()
	c.s.waitFor("both terminals online", func() (bool, string) {
		v := c.bioOverview()
		n := 0
		for _, tm := range v.Terminals {
			if tm.Status != nil && tm.Status.Online {
				n++
			}
		}
		return n == 2, fmt.Sprintf("%+v", v.Terminals)
	})
}

// playEnrolment plays the resident at terminal sim for enrolment id: their finger
// finger placed, lifted and placed again as the console's live step says, until
// the enrolment ends; it returns the enrolment as it ended and the steps seen.
func (c *client) playEnrolment(sim *fingerprint.Sim, id, finger string) (bioEnrolment, []string) {
	c.s.t.Helper()
	var en bioEnrolment
	var steps []string
	c.s.waitFor("enrolment "+id+" to end", func() (bool, string) {
		if code := c.do("GET", "/api/v1/biometrics/enrolments/"+id, nil, &en); code != http.StatusOK {
			return false, fmt.Sprint(code)
		}
		if en.Step != nil && (len(steps) == 0 || steps[len(steps)-1] != en.Step.Step) {
			steps = append(steps, en.Step.Step)
			switch en.Step.Step {
			case "place-finger", "place-again":
				sim.PlaceFinger(finger)
			case "lift-finger":
				sim.LiftFinger()
			}
		}
		return en.State != "enrolling", fmt.Sprintf("%+v steps %v", en, steps)
	})
	return en, steps
}

// TestBiometricEnrolment enrols a resident's finger through the console against
// the simulated enrolment desk, through the real bridge: consent first (its
// absence refused), the live prompts in order, the slot the agent allocated
// holding the finger on the terminal, the overview showing it, and the journaled
// events carrying no template; then a deletion, proven by the terminal's index
// table read back.
func TestBiometricEnrolment(t *testing.T) {
	t.Parallel()
	s := newConsoleSite(t, withFingerprints())
	kw := s.browser("keyworker-1")
	kw.terminalsOnline()
	v := kw.bioOverview()
	if v.EnhancedSecurity || v.MaxAttempts != 3 || !slices.Contains(v.Fingers, "right-index") || len(v.Fingers) != 10 {
		t.Errorf("overview: enhanced %v, maxAttempts %d, fingers %v; want off, 3 and the ten fingers", v.EnhancedSecurity, v.MaxAttempts, v.Fingers)
	}
	if len(v.Terminals) != 2 || v.Terminals[0].ID != "desk-1" || v.Terminals[0].Door != "" || v.Terminals[1].ID != "front-fp" || v.Terminals[1].Door != "front" {
		t.Errorf("terminals %+v; want desk-1 (no door) and front-fp (front)", v.Terminals)
	}
	if len(v.Residents) != 2 || v.Residents[0].CRN != "X100001" || v.Residents[0].Consent != "none" || v.Residents[0].Person.Label != "Resident One" {
		t.Errorf("residents %+v; want Resident One (X100001, consent none) first", v.Residents)
	}

	enrol := map[string]string{"crn": "X100001", "finger": "right-index", "terminal": "desk-1"}
	if code := kw.do("POST", "/api/v1/biometrics/enrolments", enrol, nil); code != http.StatusUnprocessableEntity {
		t.Errorf("enrolment before consent: %d, want 422", code)
	}
	var rb struct {
		Consent *struct {
			Given bool
			By    string
		}
	}
	if code := kw.do("POST", "/api/v1/biometrics/residents/X100001/consent", map[string]bool{"given": true}, &rb); code != http.StatusOK ||
		rb.Consent == nil || !rb.Consent.Given || rb.Consent.By != "keyworker-1" {
		t.Fatalf("consent: %d %+v; want 200, given by keyworker-1", code, rb.Consent)
	}
	var en bioEnrolment
	if code := kw.do("POST", "/api/v1/biometrics/enrolments", enrol, &en); code != http.StatusCreated || en.State != "enrolling" || en.By != "keyworker-1" {
		t.Fatalf("enrol: %d %+v; want 201, enrolling, by keyworker-1", code, en)
	}
	desk := s.bridge.Sim().Fingerprint("desk-1")
	done, steps := kw.playEnrolment(desk, en.ID, "X100001/right-index")
	if done.State != "enrolled" {
		t.Fatalf("enrolment ended %+v; want enrolled", done)
	}
	if want := []string{"place-finger", "lift-finger", "place-again"}; len(steps) < 3 || !slices.Equal(steps[:3], want) {
		t.Errorf("live steps %v; want %v first", steps, want)
	}
	if got := desk.Slots()[en.Slot]; got != "X100001/right-index" {
		t.Errorf("the terminal's slot %d holds %q; want the resident's finger", en.Slot, got)
	}
	ev := s.waitEvent("biometric.enrolled")
	if ev.CRN != "X100001" || strings.Contains(strings.ToLower(string(ev.Data)), "template\"") {
		t.Errorf("biometric.enrolled %+v %s", ev, ev.Data)
	}
	v = kw.bioOverview()
	if f := v.Residents[0].Fingers; len(f) != 1 || f[0].Terminal != "desk-1" || f[0].Slot != en.Slot || f[0].Finger != "right-index" || f[0].State != "enrolled" {
		t.Errorf("resident's fingers %+v; want right-index on desk-1 slot %d", f, en.Slot)
	}
	if len(v.Recent) == 0 || v.Recent[0].ID != en.ID || v.Recent[0].State != "enrolled" {
		t.Errorf("recent %+v; want %s enrolled first", v.Recent, en.ID)
	}
	if code := kw.do("POST", "/api/v1/biometrics/enrolments", enrol, nil); code != http.StatusConflict {
		t.Errorf("the same finger on the same terminal again: %d, want 409", code)
	}

	var del struct {
		Deletions []struct {
			ID, Terminal string
			Slots        []int
		}
	}
	if code := kw.do("POST", "/api/v1/biometrics/residents/X100001/deletion", struct{}{}, &del); code != http.StatusAccepted ||
		len(del.Deletions) != 1 || del.Deletions[0].Terminal != "desk-1" || !slices.Equal(del.Deletions[0].Slots, []int{en.Slot}) {
		t.Fatalf("deletion: %d %+v; want 202 for desk-1 slot %d", code, del, en.Slot)
	}
	s.waitFor("the deletion proven", func() (bool, string) {
		var all struct {
			Deletions []struct {
				Proof *struct {
					Confirmed bool
					Used      []int
				}
			}
		}
		kw.do("GET", "/api/v1/biometrics/deletions", nil, &all)
		return len(all.Deletions) == 1 && all.Deletions[0].Proof != nil && all.Deletions[0].Proof.Confirmed &&
			!slices.Contains(all.Deletions[0].Proof.Used, en.Slot), fmt.Sprintf("%+v", all)
	})
	if _, held := desk.Slots()[en.Slot]; held {
		t.Errorf("slot %d still used on the terminal after the proven deletion: %v", en.Slot, desk.Slots())
	}
	if v := kw.bioOverview(); len(v.Pending) != 0 || len(v.Residents[0].Fingers) != 0 {
		t.Errorf("after the deletion: pending %+v, fingers %+v; want none", v.Pending, v.Residents[0].Fingers)
	}
}

// TestBiometricRefusals checks the answers the enrolment desk gives what it
// refuses, the cancel of an enrolment under way, a refusal of consent (the
// alternative offered), and who may use it.
func TestBiometricRefusals(t *testing.T) {
	t.Parallel()
	s := newConsoleSite(t, withFingerprints())
	kw := s.bearer("keyworker-1")
	kw.terminalsOnline()
	if code := kw.do("POST", "/api/v1/biometrics/residents/X100002/consent", map[string]bool{"given": true}, nil); code != http.StatusOK {
		t.Fatalf("consent: %d", code)
	}
	tests := []struct {
		name string
		body any
		want int
	}{
		{"unknown finger", map[string]string{"crn": "X100002", "finger": "left-toe", "terminal": "desk-1"}, http.StatusBadRequest},
		{"unknown terminal", map[string]string{"crn": "X100002", "finger": "left-index", "terminal": "desk-9"}, http.StatusBadRequest},
		{"not a resident", map[string]string{"crn": "X999999", "finger": "left-index", "terminal": "desk-1"}, http.StatusBadRequest},
		{"unknown field", map[string]string{"crn": "X100002", "finger": "left-index", "terminal": "desk-1", "template": "AA"}, http.StatusBadRequest},
	}
	for _, tt := range tests {
		var e struct{ Error string }
		if code := kw.do("POST", "/api/v1/biometrics/enrolments", tt.body, &e); code != tt.want || e.Error == "" {
			t.Errorf("%s: %d %q; want %d with a reason", tt.name, code, e.Error, tt.want)
		}
	}
	if code := kw.do("POST", "/api/v1/biometrics/residents/X100002/consent", struct{}{}, nil); code != http.StatusBadRequest {
		t.Errorf("consent without its answer: %d, want 400", code)
	}
	if code := kw.do("POST", "/api/v1/biometrics/enrolments/E-404/cancel", struct{}{}, nil); code != http.StatusNotFound {
		t.Errorf("cancel of no enrolment: %d, want 404", code)
	}
	if code := kw.do("POST", "/api/v1/biometrics/residents/X100002/deletion", struct{}{}, nil); code != http.StatusConflict {
		t.Errorf("deletion with nothing enrolled: %d, want 409", code)
	}

	var en bioEnrolment
	if code := kw.do("POST", "/api/v1/biometrics/enrolments", map[string]string{"crn": "X100002", "finger": "left-index", "terminal": "front-fp"}, &en); code != http.StatusCreated {
		t.Fatalf("enrol: %d", code)
	}
	if code := kw.do("POST", "/api/v1/biometrics/enrolments", map[string]string{"crn": "X100002", "finger": "left-thumb", "terminal": "front-fp"}, nil); code != http.StatusConflict {
		t.Errorf("a second enrolment on a busy terminal: %d, want 409", code)
	}
	var cancelled bioEnrolment
	if code := kw.do("POST", "/api/v1/biometrics/enrolments/"+en.ID+"/cancel", struct{}{}, &cancelled); code != http.StatusOK ||
		cancelled.State != "failed" || cancelled.Reason != "cancelled" {
		t.Errorf("cancel: %d %+v; want 200, failed, cancelled", code, cancelled)
	}
	if code := kw.do("POST", "/api/v1/biometrics/enrolments/"+en.ID+"/cancel", struct{}{}, nil); code != http.StatusConflict {
		t.Errorf("cancel of an ended enrolment: %d, want 409", code)
	}

	if code := kw.do("POST", "/api/v1/biometrics/residents/X100001/consent", map[string]bool{"given": false}, nil); code != http.StatusOK {
		t.Fatalf("refusal: %d", code)
	}
	v := kw.bioOverview()
	if r := v.Residents[0]; r.CRN != "X100001" || r.Consent != "declined" || r.Alternative == nil || r.Alternative.Why != "declined" {
		t.Errorf("after the refusal: %+v; want X100001 declined, the alternative offered (declined)", r)
	}
	s.waitEvent("biometric.alternative-offered")

	for _, tt := range []struct {
		user string
		want int
	}{{"security-1", http.StatusForbidden}, {"staff-1", http.StatusOK}, {"manager-1", http.StatusOK}} {
		if code := s.bearer(tt.user).do("GET", "/api/v1/biometrics", nil, nil); code != tt.want {
			t.Errorf("%s: GET /api/v1/biometrics %d, want %d", tt.user, code, tt.want)
		}
	}
}
