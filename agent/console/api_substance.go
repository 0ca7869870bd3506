package console

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/apedge/apedge/agent"
	"github.com/apedge/apedge/agent/staff"
	"github.com/apedge/apedge/agent/substance"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/internal/httpjson"
)

// Substance testing on the console. Results are special category health data, so
// they are shown in one place only: GET /api/v1/substance/tests/{id}, which needs
// the substance-results permission and journals every view
// (staff.substance-result-viewed: who, which resident, which test). Everywhere else
// (the test lists staff work from, the journal, the stream, alarms, histories) a
// substance event says which test and whose, never what it found. The lists are for
// those who test (substance-test): they show where each test is (awaiting its
// sample, awaiting a laboratory, closed) and, at once, whether a reading was
// invalid and why, so the staff member at the device can test again.

// testView is a test as the lists show it: no outcome, no figures.
type testView struct {
	ID            string                   `json:"id"`
	CRN           string                   `json:"crn"`
	Person        personView               `json:"person"`
	Reason        string                   `json:"reason"`
	SampleType    string                   `json:"sampleType"`
	Device        string                   `json:"device,omitempty"`
	Authorisation *substance.Authorisation `json:"authorisation,omitempty"`
	Staff         string                   `json:"staff"`
	Witness       string                   `json:"witness"`
	StartedAt     time.Time                `json:"startedAt"`
	State         string                   `json:"state"`
	// Sampled says a reading, cup result or refusal is recorded.
	Sampled bool `json:"sampled"`
	// Valid is the reading's validity once there is one; InvalidReasons why not.
	Valid          *bool                `json:"valid,omitempty"`
	InvalidReasons []string             `json:"invalidReasons,omitempty"`
	Seal           string               `json:"seal,omitempty"`
	Custody        []substance.Handover `json:"custody"`
	DispatchedAt   *time.Time           `json:"dispatchedAt,omitempty"`
	ClosedAt       *time.Time           `json:"closedAt,omitempty"`
}

// unboundView is a reading bound to no test, as the lists show it.
type unboundView struct {
	Device     string    `json:"device"`
	Serial     string    `json:"serial"`
	TestNumber uint32    `json:"testNumber"`
	MeasuredAt time.Time `json:"measuredAt"`
	Why        string    `json:"why"`
	At         time.Time `json:"at"`
}

// testerView is a configured substance tester and its last status.
type testerView struct {
	ID     string                         `json:"id"`
	Kind   string                         `json:"kind"`
	Status *sitebus.SubstanceTesterStatus `json:"status"`
	// Busy is the test awaiting its sample at the tester, if any.
	Busy string `json:"busy,omitempty"`
}

// The overview's recent tests: those closed in the last recentFor, at most maxRecent.
const (
	recentFor = 12 * time.Hour
	maxRecent = 20
)

// substanceView is what GET /api/v1/substance answers.
type substanceView struct {
	Testers []testerView `json:"testers"`
	Open    []testView   `json:"open"`
	// Recent are the tests closed in the last recentFor, newest first: a reading that
	// was invalid closes its test, and the staff member at the device must still see
	// it, and why, at once.
	Recent      []testView    `json:"recent"`
	AwaitingLab []testView    `json:"awaitingLab"`
	Unbound     []unboundView `json:"unbound"`
	// Authorisations are those of recent tests still in force, newest first, for
	// the form to offer.
	Authorisations []substance.Authorisation `json:"authorisations"`
	BreathLimitUg  float64                   `json:"breathLimitUgPer100ml"`
	BindWindowMin  float64                   `json:"bindWindowMinutes"`
	CanSeeResults  bool                      `json:"canSeeResults"`
}

func (s *Server) testViewOf(d *agent.Describer, t substance.Test) testView {
	v := testView{ID: t.ID, CRN: t.CRN, Reason: t.Reason, SampleType: t.SampleType, Device: t.Device, Authorisation: t.Authorisation,
		Staff: t.Staff, Witness: t.Witness, StartedAt: t.StartedAt, State: t.State, Seal: t.Seal, Custody: t.Custody,
		Sampled: t.Screen != nil || t.Refusal != nil}
	if r, ok := d.Resident(t.CRN); ok {
		v.Person = personOf(d, t.CRN, r.Name, r.Room)
	} else {
		v.Person = personOf(d, t.CRN, "", "")
	}
	if t.Screen != nil {
		valid := t.Screen.Valid
		v.Valid, v.InvalidReasons = &valid, t.Screen.InvalidReasons
	}
	if v.Custody == nil {
		v.Custody = []substance.Handover{}
	}
	if at := t.DispatchedAt(); !at.IsZero() {
		v.DispatchedAt = &at
	}
	if !t.ClosedAt.IsZero() {
		at := t.ClosedAt
		v.ClosedAt = &at
	}
	return v
}

func (s *Server) substanceNow(r *http.Request) (substanceView, error) {
	ctx := r.Context()
	subs := s.o.Site.Substances()
	open, err := subs.Tests(ctx, false)
	if err != nil {
		return substanceView{}, err
	}
	lab, err := subs.AwaitingLab(ctx)
	if err != nil {
		return substanceView{}, err
	}
	unbound, err := subs.Unbound(ctx)
	if err != nil {
		return substanceView{}, err
	}
	all, err := subs.Tests(ctx, true)
	if err != nil {
		return substanceView{}, err
	}
	d := s.describer()
	cfg := subs.Config()
	v := substanceView{Testers: []testerView{}, Open: []testView{}, Recent: []testView{}, AwaitingLab: []testView{}, Unbound: []unboundView{},
		Authorisations: []substance.Authorisation{}, BreathLimitUg: cfg.BreathLimitUg, BindWindowMin: cfg.BindWindow.Minutes(),
		CanSeeResults: s.policy.Allows(who(r).user.Role, staff.PermSubstanceResults)}
	busy := map[string]string{}
	for _, t := range open {
		v.Open = append(v.Open, s.testViewOf(d, t))
		if t.State == substance.StateAwaitingSample && t.Device != "" {
			busy[t.Device] = t.ID
		}
	}
	for _, t := range lab {
		v.AwaitingLab = append(v.AwaitingLab, s.testViewOf(d, t))
	}
	for _, u := range unbound {
		v.Unbound = append(v.Unbound, unboundView{Device: u.Device, Serial: u.Reading.Serial, TestNumber: u.Reading.TestNumber,
			MeasuredAt: u.Reading.MeasuredAt, Why: u.Why, At: u.At})
	}
	status := map[string]sitebus.SubstanceTesterStatus{}
	for _, st := range s.o.Site.Devices().SubstanceTesters {
		status[st.ID] = st.SubstanceTesterStatus
	}
	for id, kind := range subs.Testers() {
		tv := testerView{ID: id, Kind: kind, Busy: busy[id]}
		if st, ok := status[id]; ok {
			tv.Status = &st
		}
		v.Testers = append(v.Testers, tv)
	}
	slices.SortFunc(v.Testers, func(a, b testerView) int { return strings.Compare(a.ID, b.ID) })
	now := s.clock.Now()
	for i := len(all) - 1; i >= 0 && len(v.Recent) < maxRecent; i-- {
		if t := all[i]; t.State == substance.StateClosed && now.Sub(t.ClosedAt) <= recentFor {
			v.Recent = append(v.Recent, s.testViewOf(d, t))
		}
	}
	seen := map[string]bool{}
	for i := len(all) - 1; i >= 0 && len(v.Authorisations) < 5; i-- {
		if a := all[i].Authorisation; a != nil && !seen[a.Ref] && a.Covers(now) {
			seen[a.Ref] = true
			v.Authorisations = append(v.Authorisations, *a)
		}
	}
	return v, nil
}

func (s *Server) substanceOverview(w http.ResponseWriter, r *http.Request) {
	v, err := s.substanceNow(r)
	if err != nil {
		httpjson.Error(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	httpjson.Write(w, http.StatusOK, v)
}

// substanceStatus maps a refusal to its HTTP status: 400 a value that is not
// valid (or a resident or device the site does not have), 404 no such test, 409 a
// test not in a state for it (a busy device, a duplicate), 422 no authorisation in
// force.
func substanceStatus(err error) int {
	switch {
	case errors.Is(err, substance.ErrNoTest):
		return http.StatusNotFound
	case errors.Is(err, substance.ErrDeviceBusy), errors.Is(err, substance.ErrState), errors.Is(err, substance.ErrDuplicate):
		return http.StatusConflict
	case errors.Is(err, substance.ErrAuthorisation):
		return http.StatusUnprocessableEntity
	case errors.Is(err, agent.ErrSubstance), errors.Is(err, substance.ErrInvalid), errors.Is(err, substance.ErrReason),
		errors.Is(err, substance.ErrSampleType), errors.Is(err, substance.ErrPeople):
		return http.StatusBadRequest
	}
	return http.StatusServiceUnavailable // the journal, or the agent still starting
}

// startRequest is POST /api/v1/substance/tests's body.
type startRequest struct {
	TestID        string                   `json:"testId"`
	CRN           string                   `json:"crn"`
	Reason        string                   `json:"reason"`
	SampleType    string                   `json:"sampleType"`
	Device        string                   `json:"device"`
	Witness       string                   `json:"witness"`
	Authorisation *substance.Authorisation `json:"authorisation"`
}

func (s *Server) startTest(w http.ResponseWriter, r *http.Request) {
	var in startRequest
	if !readJSON(w, r, &in) {
		return
	}
	if a := in.Authorisation; a != nil && a.Ref == "" && a.Manager == "" && a.From.IsZero() && a.To.IsZero() {
		in.Authorisation = nil // the form's empty authorisation
	}
	t, err := s.o.Site.Substances().Start(r.Context(), substance.Start{TestID: in.TestID, CRN: in.CRN, Reason: in.Reason,
		SampleType: in.SampleType, Device: in.Device, Witness: in.Witness, Authorisation: in.Authorisation,
		Staff: who(r).user.Name, At: s.clock.Now()})
	if err != nil {
		httpjson.Error(w, substanceStatus(err), err.Error())
		return
	}
	httpjson.Write(w, http.StatusCreated, s.testViewOf(s.describer(), t))
}

// testAction answers a change to test {id} made by do with the test after it.
func (s *Server) testAction(w http.ResponseWriter, r *http.Request, body any, do func(subs *agent.Substances, id, by string) (substance.Test, error)) {
	if body != nil && !readJSON(w, r, body) {
		return
	}
	t, err := do(s.o.Site.Substances(), r.PathValue("id"), who(r).user.Name)
	if err != nil {
		httpjson.Error(w, substanceStatus(err), err.Error())
		return
	}
	httpjson.Write(w, http.StatusOK, s.testViewOf(s.describer(), t))
}

func (s *Server) urineResult(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Lot    string            `json:"lot"`
		Expiry string            `json:"expiry"`
		Panels map[string]string `json:"panels"`
	}
	s.testAction(w, r, &in, func(subs *agent.Substances, id, by string) (substance.Test, error) {
		return subs.Urine(r.Context(), id, in.Lot, in.Expiry, in.Panels, by)
	})
}

func (s *Server) refusal(w http.ResponseWriter, r *http.Request) {
	var in struct{ Refusal, Witness string }
	s.testAction(w, r, &in, func(subs *agent.Substances, id, by string) (substance.Test, error) {
		return subs.Refused(r.Context(), id, in.Refusal, in.Witness, by)
	})
}

func (s *Server) sealSample(w http.ResponseWriter, r *http.Request) {
	var in struct{ Seal string }
	s.testAction(w, r, &in, func(subs *agent.Substances, id, by string) (substance.Test, error) {
		return subs.Seal(r.Context(), id, in.Seal, by)
	})
}

func (s *Server) custody(w http.ResponseWriter, r *http.Request) {
	var in struct{ Stage string }
	s.testAction(w, r, &in, func(subs *agent.Substances, id, by string) (substance.Test, error) {
		if in.Stage == substance.StageSealed {
			return substance.Test{}, fmt.Errorf("%w: a sample is sealed with its seal number: POST .../seal", substance.ErrInvalid)
		}
		return subs.Handover(r.Context(), id, in.Stage, by)
	})
}

func (s *Server) labResult(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Results map[string]substance.LabFinding `json:"results"`
	}
	s.testAction(w, r, &in, func(subs *agent.Substances, id, by string) (substance.Test, error) {
		return subs.LabResult(r.Context(), id, in.Results, by)
	})
}

func (s *Server) closeTest(w http.ResponseWriter, r *http.Request) {
	var in struct{ Note string }
	s.testAction(w, r, &in, func(subs *agent.Substances, id, by string) (substance.Test, error) {
		return subs.Close(r.Context(), id, in.Note, by)
	})
}

// resultView is a test with its results: what GET /api/v1/substance/tests/{id}
// answers, to staff who may see results, each view journaled.
type resultView struct {
	testView
	Outcome      string                  `json:"outcome"`
	Screen       *substance.Screen       `json:"screen,omitempty"`
	Refusal      *substance.Refusal      `json:"refusal,omitempty"`
	Confirmation *substance.Confirmation `json:"confirmation,omitempty"`
	Closure      *substance.Closure      `json:"closure,omitempty"`
}

func (s *Server) testResult(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	t, ok, err := s.o.Site.Substances().Test(r.Context(), id)
	switch {
	case err != nil:
		httpjson.Error(w, http.StatusServiceUnavailable, err.Error())
		return
	case !ok:
		httpjson.Error(w, http.StatusNotFound, fmt.Sprintf("no substance test %q", id))
		return
	}
	// The view is journaled before it is answered: a result nobody can show was
	// viewed is never shown.
	if !s.auditNow(r, "staff.substance-result-viewed", who(r).user.Name, "a member of staff viewed a resident's substance test result",
		map[string]any{"crn": t.CRN, "testId": t.ID}) {
		httpjson.Error(w, http.StatusServiceUnavailable, "the view could not be recorded in the audit log, so the result is not shown")
		return
	}
	httpjson.Write(w, http.StatusOK, resultView{testView: s.testViewOf(s.describer(), t), Outcome: t.Outcome, Screen: t.Screen,
		Refusal: t.Refusal, Confirmation: t.Confirmation, Closure: t.Closure})
}
