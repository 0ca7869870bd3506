package console

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/apedge/apedge/agent"
	"github.com/apedge/apedge/agent/curfew"
	"github.com/apedge/apedge/agent/eventindex"
	"github.com/apedge/apedge/agent/staff"
	"github.com/apedge/apedge/formats/proof"
	"github.com/apedge/apedge/internal/config"
	"github.com/apedge/apedge/internal/httpjson"
)

// historyMax is the most events a resident's history holds; a longer period is cut
// at its end, saying so.
const historyMax = 5000

// defaultHistory is the period of a history asked for without from.
const defaultHistory = 7 * 24 * time.Hour

// Kinds of history entries.
const (
	kindMovement    = "movement"
	kindCurfew      = "curfew"
	kindAbsence     = "absence"
	kindAlarm       = "alarm"
	kindStaffAction = "staff-action"
	kindOther       = "other"
)

// historyView is GET /api/v1/residents/{crn}/history.
type historyView struct {
	personView
	NOMS string `json:"noms"`
	// OnRoster says the roster (as the agent holds it now) has them.
	OnRoster  bool      `json:"onRoster"`
	From      time.Time `json:"from"`
	To        time.Time `json:"to"`
	FromLocal string    `json:"fromLocal"`
	ToLocal   string    `json:"toLocal"`
	// Counts are the entries by kind.
	Counts map[string]int `json:"counts"`
	// Truncated says the period held more than historyMax events: those after the
	// last one listed are left out.
	Truncated bool           `json:"truncated"`
	Events    []historyEntry `json:"events"`
}

// historyEntry is one event of a resident's history.
type historyEntry struct {
	eventindex.Summary
	// Kind is movement, curfew, absence, alarm, staff-action or other.
	Kind string `json:"kind"`
	// Sentence is the event in words (see agent.Describer.Sentence).
	Sentence string `json:"sentence"`
	// Alarm says the event is an alarm; Acknowledged is its acknowledgement, if any.
	Alarm        bool            `json:"alarm"`
	Acknowledged *eventindex.Ack `json:"acknowledged"`
	// Restricted says its info was cut down (shown): a substance event.
	Restricted bool `json:"-"`
}

// kindOf sorts an event type into a history kind.
func kindOf(typ string, alarm bool) string {
	switch {
	case strings.HasPrefix(typ, "movement."):
		return kindMovement
	case typ == curfew.TypeAbsent:
		return kindAbsence
	case typ == curfew.TypeBreached, typ == curfew.TypeReturnedLate, typ == curfew.TypeInconsistent:
		return kindCurfew
	case alarm:
		return kindAlarm
	case strings.HasPrefix(typ, "resident."), strings.HasPrefix(typ, "staff."), typ == "alarm.acknowledged", typ == "door.unlock-ordered":
		return kindStaffAction
	}
	return kindOther
}

// period reads from and to of r (a date, meaning its midnight, UK local time, or RFC
// 3339): by default the week to now.
func (s *Server) period(r *http.Request) (time.Time, time.Time, error) {
	var from, to time.Time
	v := r.URL.Query()
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"from", &from}, {"to", &to}} {
		x := v.Get(f.name)
		if x == "" {
			continue
		}
		t, err := time.ParseInLocation(time.DateOnly, x, curfew.London()) // a date: its midnight
		if err != nil {
			if t, err = config.ParseLocalTime(x, curfew.London()); err != nil {
				return from, to, fmt.Errorf("%s: %w", f.name, err)
			}
		}
		if y := t.UTC().Year(); y < 1 || y > 9999 {
			return from, to, fmt.Errorf("%s: year %d is out of range", f.name, y)
		}
		*f.dst = t
	}
	if to.IsZero() {
		to = s.clock.Now().Add(time.Second) // to is exclusive: what happened this second too
	}
	if from.IsZero() {
		from = to.Add(-defaultHistory)
	}
	if !from.Before(to) {
		return from, to, errors.New("from: must be before to")
	}
	return from, to, nil
}

func (s *Server) residentHistory(w http.ResponseWriter, r *http.Request) {
	from, to, err := s.period(r)
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	h, err := s.historyOf(r.Context(), strings.ToUpper(strings.TrimSpace(r.PathValue("crn"))), from, to)
	if err != nil {
		httpjson.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	httpjson.Write(w, http.StatusOK, h)
}

// historyOf returns what the journal holds about the resident crn from from to to:
// the events naming them (movements, curfew decisions, register changes), and the
// acknowledgements of their alarms.
func (s *Server) historyOf(ctx context.Context, crn string, from, to time.Time) (historyView, error) {
	d := s.describer()
	h := historyView{personView: personOf(d, crn, "", ""), From: from.UTC(), To: to.UTC(), FromLocal: local(from), ToLocal: local(to),
		Counts: map[string]int{}, Events: []historyEntry{}}
	if r, ok := d.Resident(crn); ok && r.IsResident() {
		h.OnRoster, h.NOMS = true, r.NOMS
		h.CRN = r.CRN
	}
	var ss []eventindex.Summary
	q := eventindex.Query{CRN: crn, From: from, To: to, Limit: eventindex.MaxLimit}
	for {
		page, next, err := s.o.Index.Search(ctx, q)
		if err != nil {
			return h, err
		}
		ss = append(ss, page...)
		if len(ss) >= historyMax {
			ss, h.Truncated = ss[:historyMax], true
			break
		}
		if next == 0 {
			break
		}
		q.After = next
	}
	// The doors of the movements, for the curfew decisions that rest on them.
	doors := map[string]string{}
	for _, e := range ss {
		if strings.HasPrefix(e.Type, "movement.") {
			doors[e.ID] = e.Subject
		}
	}
	alarmTypes := map[string]bool{}
	for _, t := range eventindex.AlarmTypes {
		alarmTypes[t] = true
	}
	var acks []eventindex.Summary
	for _, e := range ss {
		en := historyEntry{Summary: e, Alarm: alarmTypes[e.Type]}
		if en.Alarm {
			al, err := s.o.Index.Alarm(ctx, e.Seq)
			if err != nil && !errors.Is(err, eventindex.ErrNotFound) {
				return h, err
			}
			if en.Acknowledged = al.Acknowledged; en.Acknowledged != nil {
				ack, ok, err := s.entry(ctx, en.Acknowledged.Seq)
				if err != nil {
					return h, err
				}
				if ok && !ack.OccurredAt.Before(from) && ack.OccurredAt.Before(to) {
					acks = append(acks, ack)
				}
			}
		}
		en.Kind = kindOf(e.Type, en.Alarm)
		f := factOf(e)
		f.Door = doors[movementRef(e.Data)]
		en.Sentence = d.Sentence(f)
		en.Summary, en.Restricted = shown(e)
		h.Events = append(h.Events, en)
	}
	for _, a := range acks {
		h.Events = append(h.Events, historyEntry{Summary: a, Kind: kindStaffAction,
			Sentence: d.Sentence(agent.Fact{Type: a.Type, At: a.OccurredAt, Info: a.Data, Description: a.Description})})
	}
	slices.SortFunc(h.Events, func(a, b historyEntry) int {
		return cmp.Or(a.OccurredAt.Compare(b.OccurredAt), cmp.Compare(a.Seq, b.Seq))
	})
	h.Events = slices.CompactFunc(h.Events, func(a, b historyEntry) bool { return a.Seq == b.Seq })
	for _, e := range h.Events {
		h.Counts[e.Kind]++
	}
	return h, nil
}

// entry returns the indexed entry seq.
func (s *Server) entry(ctx context.Context, seq uint64) (eventindex.Summary, bool, error) {
	if seq == 0 {
		return eventindex.Summary{}, false, nil
	}
	ss, _, err := s.o.Index.Search(ctx, eventindex.Query{After: seq - 1, Limit: 1})
	if err != nil || len(ss) == 0 || ss[0].Seq != seq {
		return eventindex.Summary{}, false, err
	}
	return ss[0], true, nil
}

// movementRef is the id of the movement a curfew decision's data names.
func movementRef(data json.RawMessage) string {
	var d struct {
		Movement json.RawMessage `json:"movement"`
	}
	if json.Unmarshal(data, &d) != nil || len(d.Movement) == 0 || d.Movement[0] != '{' {
		return ""
	}
	var m struct {
		Ref string `json:"ref"`
	}
	_ = json.Unmarshal(d.Movement, &m)
	return m.Ref
}

// checkpointer is what a Site may also do for proof bundles: sign a checkpoint of the
// whole journal now. The running agent does.
type checkpointer interface {
	CheckpointNow(ctx context.Context) ([]byte, uint64, error)
}

func (s *Server) residentBundle(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	from, to, err := s.period(r)
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	cp, ok := s.o.Site.(checkpointer)
	if !ok {
		httpjson.Error(w, http.StatusNotImplemented, "this site cannot sign checkpoints")
		return
	}
	crn := strings.ToUpper(strings.TrimSpace(r.PathValue("crn")))
	h, err := s.historyOf(ctx, crn, from, to)
	if err != nil {
		httpjson.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	note, size, err := cp.CheckpointNow(ctx)
	if err != nil {
		httpjson.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	by := who(r).user.Name
	site := s.o.Site.Status().Site
	set := &proof.Set{Format: proof.SetFormat, Site: site, Subject: crn,
		Title: fmt.Sprintf("Events of %s, %s to %s, from the journal of site %s", h.Label, local(from), local(to), site),
		From:  from.UTC(), To: to.UTC(), CreatedAt: s.clock.Now().UTC(), CreatedBy: by, TreeSize: size, Events: []proof.SetEvent{}}
	j := s.o.Site.Journal()
	results := s.policy.Allows(who(r).user.Role, staff.PermSubstanceResults)
	for _, e := range h.Events {
		if e.Seq > size {
			continue // journaled after the checkpoint: the next bundle has it
		}
		if e.Restricted && !results {
			continue // its signed envelope carries a result this member of staff may not see
		}
		es, err := j.Read(ctx, e.Seq, 1, 4<<20)
		if err != nil || len(es) == 0 || es[0].Seq != e.Seq {
			httpjson.Error(w, http.StatusInternalServerError, fmt.Sprintf("console: bundle: read event %d: %v", e.Seq, err))
			return
		}
		p, err := j.ProveRecord(ctx, size, e.Seq)
		if err != nil {
			httpjson.Error(w, http.StatusInternalServerError, fmt.Sprintf("console: bundle: prove event %d: %v", e.Seq, err))
			return
		}
		b, err := proof.EncodeBundle(proof.NewBundle(site, e.Seq, es[0].Envelope, p, size, note))
		if err != nil {
			httpjson.Error(w, http.StatusInternalServerError, "console: bundle: "+err.Error())
			return
		}
		set.Events = append(set.Events, proof.SetEvent{Seq: e.Seq, Type: e.Type, OccurredAt: e.OccurredAt, Sentence: e.Sentence, Bundle: b})
	}
	out, err := proof.EncodeSet(set)
	if err != nil {
		httpjson.Error(w, http.StatusInternalServerError, "console: bundle: "+err.Error())
		return
	}
	s.audit(r, "staff.resident-bundle-exported", by, "a member of staff exported a resident's events as a signed bundle",
		map[string]any{"crn": crn, "from": from.UTC(), "to": to.UTC(), "events": len(set.Events), "treeSize": size})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%s.bundle.json"`, safeName(crn), from.In(curfew.London()).Format("20060102")))
	w.WriteHeader(http.StatusOK)
	w.Write(out)
}

// safeName is s with anything but letters and digits dropped, for a file name.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}
