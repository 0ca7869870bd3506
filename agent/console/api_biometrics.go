package console

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/apedge/apedge/agent"
	"github.com/apedge/apedge/agent/biometric"
	"github.com/apedge/apedge/internal/httpjson"
)

// Biometrics on the console, for staff with the biometrics permission: the
// enrolment desk (choose a resident, record their consent, pick a finger and a
// terminal, and follow the terminal's prompts live: the stream's state carries the
// overview, each enrolment's step among it), the alternative offered, deletions
// still waiting for their terminal's proof and how long they have waited, and
// orphan slots. No template or image exists anywhere here: a terminal keeps its
// templates, and tells the agent only slots, steps and reasons.

// recentEnrolments is how many ended enrolments the overview lists, newest first.
const recentEnrolments = 20

// enrolledFinger is one finger of a resident's enrolled on a terminal, as the
// overview lists it.
type enrolledFinger struct {
	Enrolment string `json:"enrolment"`
	Finger    string `json:"finger"`
	Terminal  string `json:"terminal"`
	Slot      int    `json:"slot"`
	// State is enrolled or deleting (its deletion not yet proven by the terminal).
	State string `json:"state"`
}

// bioResidentView is a resident in residence as the enrolment desk lists them.
type bioResidentView struct {
	CRN    string     `json:"crn"`
	Person personView `json:"person"`
	// Consent is given, declined or none (not asked yet); ConsentBy and ConsentAt
	// say who took the last word and when.
	Consent   string    `json:"consent"`
	ConsentBy string    `json:"consentBy,omitempty"`
	ConsentAt time.Time `json:"consentAt,omitzero"`
	// Alternative is the alternative in force (card and a member of staff's
	// confirmation at the door), if any.
	Alternative *biometric.Alternative `json:"alternative,omitempty"`
	Attempts    int                    `json:"attempts"`
	Fingers     []enrolledFinger       `json:"fingers"`
	// Enrolling is the enrolment of theirs under way, if any.
	Enrolling string `json:"enrolling,omitempty"`
	// PendingDeletions counts their deletions not yet proven.
	PendingDeletions int `json:"pendingDeletions"`
}

// biometricsView is what GET /api/v1/biometrics answers.
type biometricsView struct {
	EnhancedSecurity bool                    `json:"enhancedSecurity"`
	Fingers          []string                `json:"fingers"`
	MaxAttempts      int                     `json:"maxAttempts"`
	DeletionOverdueH float64                 `json:"deletionOverdueHours"`
	Terminals        []agent.TerminalView    `json:"terminals"`
	Residents        []bioResidentView       `json:"residents"`
	Recent           []agent.Enrolment       `json:"recent"`
	Pending          []agent.PendingDeletion `json:"pending"`
	Orphans          []agent.OrphanView      `json:"orphans"`
}

// consentWord is c's word for the overview: given, declined, or none.
func consentWord(c *biometric.Consent) string {
	switch {
	case c == nil:
		return "none"
	case c.Given:
		return "given"
	}
	return "declined"
}

func (s *Server) biometricsNow(r *http.Request) (biometricsView, error) {
	ctx := r.Context()
	bio := s.o.Site.Biometrics()
	terms, err := bio.Terminals(ctx)
	if err != nil {
		return biometricsView{}, err
	}
	pending, err := bio.Pending(ctx)
	if err != nil {
		return biometricsView{}, err
	}
	orphans, err := bio.Orphans(ctx)
	if err != nil {
		return biometricsView{}, err
	}
	all, err := bio.Enrolments(ctx, "")
	if err != nil {
		return biometricsView{}, err
	}
	cfg := bio.Config()
	v := biometricsView{EnhancedSecurity: bio.EnhancedSecurity(), Fingers: biometric.Fingers(), MaxAttempts: cfg.MaxAttempts,
		DeletionOverdueH: cfg.DeletionOverdue.Hours(), Terminals: terms, Residents: []bioResidentView{}, Recent: []agent.Enrolment{},
		Pending: pending, Orphans: orphans}
	for i := len(all) - 1; i >= 0 && len(v.Recent) < recentEnrolments; i-- {
		if all[i].State != biometric.StateEnrolling {
			v.Recent = append(v.Recent, all[i])
		}
	}
	d := s.describer()
	for _, res := range s.o.Site.Residents() {
		rb, err := bio.Resident(ctx, res.CRN)
		if err != nil {
			return biometricsView{}, err
		}
		rv := bioResidentView{CRN: res.CRN, Person: personOf(d, res.CRN, res.Name, res.Room), Consent: consentWord(rb.Consent),
			Alternative: rb.Alternative, Attempts: rb.Attempts, Fingers: []enrolledFinger{}, PendingDeletions: len(rb.Pending)}
		if rb.Consent != nil {
			rv.ConsentBy, rv.ConsentAt = rb.Consent.By, rb.Consent.At
		}
		for _, en := range rb.Enrolments {
			switch en.State {
			case biometric.StateEnrolled, biometric.StateDeleting:
				rv.Fingers = append(rv.Fingers, enrolledFinger{Enrolment: en.ID, Finger: en.Finger, Terminal: en.Terminal, Slot: en.Slot, State: en.State})
			case biometric.StateEnrolling:
				rv.Enrolling = en.ID
			}
		}
		v.Residents = append(v.Residents, rv)
	}
	slices.SortFunc(v.Residents, func(a, b bioResidentView) int { return strings.Compare(a.Person.Label, b.Person.Label) })
	return v, nil
}

func (s *Server) biometricsOverview(w http.ResponseWriter, r *http.Request) {
	v, err := s.biometricsNow(r)
	if err != nil {
		httpjson.Error(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	httpjson.Write(w, http.StatusOK, v)
}

// biometricStatus maps a refusal to its HTTP status: 400 a value that is not
// valid (a finger, a resident not in residence, a terminal the site does not
// have), 404 no such enrolment, 409 not now (the terminal offline or busy, the
// finger enrolled already, a full library, an enrolment ended, nothing to
// delete), 422 no consent recorded, 504 the bridge did not answer.
func biometricStatus(err error) int {
	switch {
	case errors.Is(err, biometric.ErrNoEnrolment), errors.Is(err, biometric.ErrNoDeletion):
		return http.StatusNotFound
	case errors.Is(err, agent.ErrTerminalOffline), errors.Is(err, biometric.ErrBusy), errors.Is(err, biometric.ErrDuplicate),
		errors.Is(err, biometric.ErrFull), errors.Is(err, biometric.ErrState), errors.Is(err, biometric.ErrNothing):
		return http.StatusConflict
	case errors.Is(err, biometric.ErrConsent):
		return http.StatusUnprocessableEntity
	case errors.Is(err, agent.ErrNoAnswer):
		return http.StatusGatewayTimeout
	case errors.Is(err, agent.ErrBiometric), errors.Is(err, biometric.ErrInvalid), errors.Is(err, biometric.ErrFinger):
		return http.StatusBadRequest
	}
	return http.StatusServiceUnavailable // the journal, or the agent still starting
}

func (s *Server) residentBiometrics(w http.ResponseWriter, r *http.Request) {
	rb, err := s.o.Site.Biometrics().Resident(r.Context(), r.PathValue("crn"))
	if err != nil {
		httpjson.Error(w, biometricStatus(err), err.Error())
		return
	}
	httpjson.Write(w, http.StatusOK, rb)
}

// consentRequest is POST /api/v1/biometrics/residents/{crn}/consent's body.
type consentRequest struct {
	// Given is the resident's answer: true consents, false declines (and offers the
	// alternative). It must be said: a missing answer is refused.
	Given *bool `json:"given"`
}

func (s *Server) recordConsent(w http.ResponseWriter, r *http.Request) {
	var in consentRequest
	if !readJSON(w, r, &in) {
		return
	}
	if in.Given == nil {
		httpjson.Error(w, http.StatusBadRequest, "given: say whether the resident consents (true) or declines (false)")
		return
	}
	ctx, bio, crn := r.Context(), s.o.Site.Biometrics(), r.PathValue("crn")
	if _, err := bio.Consent(ctx, crn, *in.Given, who(r).user.Name); err != nil {
		httpjson.Error(w, biometricStatus(err), err.Error())
		return
	}
	rb, err := bio.Resident(ctx, crn)
	if err != nil {
		httpjson.Error(w, biometricStatus(err), err.Error())
		return
	}
	httpjson.Write(w, http.StatusOK, rb)
}

// enrolRequest is POST /api/v1/biometrics/enrolments's body.
type enrolRequest struct {
	CRN      string `json:"crn"`
	Finger   string `json:"finger"`
	Terminal string `json:"terminal"`
}

func (s *Server) startEnrolment(w http.ResponseWriter, r *http.Request) {
	var in enrolRequest
	if !readJSON(w, r, &in) {
		return
	}
	en, err := s.o.Site.Biometrics().Enrol(r.Context(), in.CRN, in.Finger, in.Terminal, who(r).user.Name)
	if err != nil {
		httpjson.Error(w, biometricStatus(err), err.Error())
		return
	}
	httpjson.Write(w, http.StatusCreated, en)
}

func (s *Server) enrolment(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	en, ok, err := s.o.Site.Biometrics().Enrolment(r.Context(), id)
	switch {
	case err != nil:
		httpjson.Error(w, biometricStatus(err), err.Error())
	case !ok:
		httpjson.Error(w, http.StatusNotFound, "no enrolment "+id)
	default:
		httpjson.Write(w, http.StatusOK, en)
	}
}

func (s *Server) cancelEnrolment(w http.ResponseWriter, r *http.Request) {
	if !readJSON(w, r, &struct{}{}) {
		return
	}
	en, err := s.o.Site.Biometrics().Cancel(r.Context(), r.PathValue("id"), who(r).user.Name)
	if err != nil {
		httpjson.Error(w, biometricStatus(err), err.Error())
		return
	}
	httpjson.Write(w, http.StatusOK, en)
}

// deletionView is POST .../deletion's answer: the deletions requested, each
// pending until its terminal's index table proves it.
type deletionView struct {
	Deletions []biometric.Deletion `json:"deletions"`
}

func (s *Server) deleteTemplates(w http.ResponseWriter, r *http.Request) {
	if !readJSON(w, r, &struct{}{}) {
		return
	}
	ds, err := s.o.Site.Biometrics().Delete(r.Context(), r.PathValue("crn"), who(r).user.Name)
	if err != nil {
		httpjson.Error(w, biometricStatus(err), err.Error())
		return
	}
	if ds == nil {
		ds = []biometric.Deletion{}
	}
	httpjson.Write(w, http.StatusAccepted, deletionView{Deletions: ds})
}

func (s *Server) deletions(w http.ResponseWriter, r *http.Request) {
	ds, err := s.o.Site.Biometrics().Deletions(r.Context())
	if err != nil {
		httpjson.Error(w, biometricStatus(err), err.Error())
		return
	}
	if ds == nil {
		ds = []biometric.Deletion{}
	}
	httpjson.Write(w, http.StatusOK, deletionView{Deletions: ds})
}
