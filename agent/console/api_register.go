package console

import (
	"errors"
	"net/http"

	"github.com/apedge/apedge/agent/register"
	"github.com/apedge/apedge/internal/config"
	"github.com/apedge/apedge/internal/httpjson"
)

// The register's handlers: an arrival, departure, approved absence or update of a
// resident, recorded in the roster register in the signed-in user's name and applied
// and journaled by the agent (resident.arrived, resident.departed,
// resident.absence-approved, resident.updated). Values are checked and normalised by
// the register (package register, with package config's validators), the one place
// that does it for the console, `apedge resident` and the roster file alike.

// changeView is a recorded change: POST and PATCH answer it with 202.
type changeView struct {
	Change int64  `json:"change"`
	Action string `json:"action"`
	CRN    string `json:"crn"`
	// Changes is what an update changes, field by field (updates only).
	Changes []register.FieldChange `json:"changes,omitempty"`
}

// refusalView is a change refused: the message for staff, the field at fault (as the
// request names it) and, when the refusal is about the resident on record (already
// in residence, left, nothing to change), their details as recorded, so the page can
// offer an update instead.
type refusalView struct {
	Error    string      `json:"error"`
	Field    string      `json:"field,omitempty"`
	Resident *recordView `json:"resident,omitempty"`
}

// recordView is a resident's details as the roster holds them.
type recordView struct {
	CRN               string   `json:"crn"`
	NOMS              string   `json:"noms"`
	Name              string   `json:"name"`
	Room              string   `json:"room"`
	Arrived           string   `json:"arrived"`
	ExpectedDeparture string   `json:"expectedDeparture"`
	Departed          string   `json:"departed"`
	Cards             []string `json:"cards"`
}

// record records a register change made by the signed-in user and answers with it,
// or with why it was refused: 400 a value that is not valid, 404 a resident not on
// the roster, 409 a change the resident's record refuses (a second arrival of a
// resident in residence, a change of one who has left, an update that changes
// nothing).
func (s *Server) record(w http.ResponseWriter, r *http.Request, c register.Change) {
	c.By, c.At = who(r).user.Name, s.clock.Now()
	if crn, err := config.ParseCRN(c.CRN); err == nil {
		c.CRN = crn // as the register records it (which refuses it if it is not a CRN)
	}
	n, err := s.o.Site.RecordChange(r.Context(), c)
	var ref *register.Refusal
	if errors.As(err, &ref) {
		v := refusalView{Error: ref.Msg, Field: ref.Field}
		if p := ref.Resident; p != nil {
			v.Resident = &recordView{CRN: p.CRN, NOMS: p.NOMS, Name: p.Name, Room: p.Room, Arrived: p.Arrived,
				ExpectedDeparture: p.ExpectedDeparture, Departed: p.Departed, Cards: append([]string{}, p.Cards...)}
		}
		status := http.StatusBadRequest
		switch {
		case errors.Is(err, register.ErrNotOnRoster):
			status = http.StatusNotFound
		case errors.Is(err, register.ErrInResidence), errors.Is(err, register.ErrDeparted), errors.Is(err, register.ErrNoChange):
			status = http.StatusConflict
		}
		httpjson.Write(w, status, v)
		return
	}
	if err != nil {
		s.log.Error("register", "action", c.Action, "crn", c.CRN, "err", err)
		httpjson.Error(w, http.StatusInternalServerError, register.Message(err))
		return
	}
	v := changeView{Change: n, Action: c.Action, CRN: c.CRN}
	if c.Update != nil {
		v.Changes = c.Update.Changes
	}
	httpjson.Write(w, http.StatusAccepted, v)
}

func (s *Server) arrival(w http.ResponseWriter, r *http.Request) {
	var in struct {
		CRN               string   `json:"crn"`
		NOMS              string   `json:"noms"`
		Name              string   `json:"name"`
		Room              string   `json:"room"`
		Cards             []string `json:"cards"`
		ExpectedDeparture string   `json:"expectedDeparture"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	s.record(w, r, register.Change{Action: register.Arrive, CRN: in.CRN, Person: &config.Resident{CRN: in.CRN, NOMS: in.NOMS,
		Name: in.Name, Room: in.Room, Cards: in.Cards, ExpectedDeparture: in.ExpectedDeparture}})
}

func (s *Server) departure(w http.ResponseWriter, r *http.Request) {
	var in struct{}
	if !readJSON(w, r, &in) {
		return
	}
	s.record(w, r, register.Change{Action: register.Depart, CRN: r.PathValue("crn")})
}

func (s *Server) absence(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ID         string `json:"id"`
		From       string `json:"from"`
		To         string `json:"to"`
		ApprovedBy string `json:"approvedBy"`
		Reason     string `json:"reason"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	s.record(w, r, register.Change{Action: register.Absence, CRN: r.PathValue("crn"),
		Absence: &config.Absence{ID: in.ID, From: in.From, To: in.To, ApprovedBy: in.ApprovedBy, Reason: in.Reason}})
}

// update is PATCH /api/v1/residents/{crn}: the fields given are set (an empty string
// clears one), those not given (or null) are kept.
func (s *Server) update(w http.ResponseWriter, r *http.Request) {
	var in struct {
		NOMS              *string   `json:"noms"`
		Name              *string   `json:"name"`
		Room              *string   `json:"room"`
		ExpectedDeparture *string   `json:"expectedDeparture"`
		Cards             *[]string `json:"cards"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	s.record(w, r, register.Change{Action: register.Update, CRN: r.PathValue("crn"), Update: &register.Details{
		NOMS: in.NOMS, Name: in.Name, Room: in.Room, ExpectedDeparture: in.ExpectedDeparture, Cards: in.Cards}})
}
