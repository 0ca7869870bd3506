package console

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/apedge/apedge/agent/eventindex"
	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/internal/config"
	"github.com/apedge/apedge/internal/httpjson"
)

// Alarm priorities: 1 is the most urgent. The console lists alarms by priority, then
// newest first, and sounds an alert for priority 1.
const (
	PriorityUrgent = 1
	PriorityHigh   = 2
	PriorityNormal = 3
	PriorityLow    = 4
)

// priorityNames name the priorities as the console shows them.
var priorityNames = map[int]string{PriorityUrgent: "urgent", PriorityHigh: "high", PriorityNormal: "normal", PriorityLow: "low"}

// defaultPriorities are the alarm types' priorities unless console.alarms says
// otherwise: a forced door, a curfew breach, an absence at curfew and a reader gone
// offline first; a camera that shows nothing (offline, refusing its password,
// stalled, frozen) and a substance reading bound to no test with the faults; tailgating, presence inconsistencies and a
// camera whose picture is degraded after them.
var defaultPriorities = map[string]int{
	"door.forced":                   PriorityUrgent,
	"curfew.breached":               PriorityUrgent,
	"curfew.absent":                 PriorityUrgent,
	"reader.offline":                PriorityUrgent,
	"door.held-open":                PriorityHigh,
	"door.tampered":                 PriorityHigh,
	"door.alarm":                    PriorityHigh,
	"reader.secure-channel-failed":  PriorityHigh,
	"delivery.ack-refused":          PriorityHigh,
	"device.refused":                PriorityHigh,
	"command.unordered":             PriorityHigh,
	"bridge.messages-lost":          PriorityHigh,
	"agent.disk-low":                PriorityHigh,
	"agent.clock-unsynced":          PriorityHigh,
	"camera.offline":                PriorityHigh,
	"camera.auth-failed":            PriorityHigh,
	"camera.stalled":                PriorityHigh,
	"camera.frozen":                 PriorityHigh,
	"substance.reading-unbound":     PriorityHigh,
	"biometric.deletion-overdue":    PriorityHigh,
	"biometric.orphan-slot":         PriorityNormal,
	"biometric.verification-failed": PriorityHigh,
	"bwc.removed-unissued":          PriorityHigh,
	"bwc.offload-failed":            PriorityHigh,
	"bwc.overdue":                   PriorityNormal,
	"door.tailgate":                 PriorityNormal,
	"presence.inconsistent":         PriorityNormal,
	"camera.degraded":               PriorityNormal,
}

// alarmPolicy is the priority and instructions of alarm type typ.
func (s *Server) alarmPolicy(typ string) (int, string) {
	p := s.o.Alarms[typ]
	prio := p.Priority
	if prio == 0 {
		prio = cmp.Or(defaultPriorities[typ], PriorityNormal)
	}
	return prio, p.Instructions
}

// alarmView is an alarm as the console shows it: the indexed alarm with its priority,
// the group its repeats share, what the operator is to do, and who and where in words.
type alarmView struct {
	eventindex.Alarm
	// Priority is 1 (urgent) to 4 (low); PriorityName names it.
	Priority     int    `json:"priority"`
	PriorityName string `json:"priorityName"`
	// Group is the same for repeats of one cause at one door or person: the type and
	// the door, reader or device, or the person.
	Group string `json:"group"`
	// Instructions are console.alarms' text for the type, if any.
	Instructions string `json:"instructions,omitempty"`
	// Person is the resident the alarm is about, if any, by name and room.
	Person *personView `json:"person,omitempty"`
	// Sentence is the alarm in words (agent.Describer).
	Sentence string `json:"sentence"`
}

// alarmViews are as, by priority then newest first.
func (s *Server) alarmViews(as []eventindex.Alarm) []alarmView {
	out := make([]alarmView, 0, len(as))
	d := s.describer()
	for _, a := range as {
		prio, text := s.alarmPolicy(a.Type)
		sentence := d.Sentence(factOf(a.Summary))
		a.Summary, _ = shown(a.Summary)
		v := alarmView{Alarm: a, Priority: prio, PriorityName: priorityNames[prio], Instructions: text, Sentence: sentence}
		switch {
		case a.CRN != "":
			v.Group = a.Type + "|person:" + a.CRN
			p := personOf(d, a.CRN, "", "")
			v.Person = &p
		case a.Subject != "":
			v.Group = a.Type + "|" + a.Subject
		default:
			v.Group = a.Type
		}
		out = append(out, v)
	}
	slices.SortStableFunc(out, func(a, b alarmView) int {
		return cmp.Or(cmp.Compare(a.Priority, b.Priority), cmp.Compare(b.Seq, a.Seq))
	})
	return out
}

func (s *Server) alarms(w http.ResponseWriter, r *http.Request) {
	state := r.URL.Query().Get("state")
	if state != "" && state != "open" && state != "all" {
		httpjson.Error(w, http.StatusBadRequest, "state: open or all")
		return
	}
	as, err := s.o.Index.Alarms(r.Context(), state != "all", eventindex.MaxLimit)
	if err != nil {
		httpjson.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	httpjson.Write(w, http.StatusOK, s.alarmViews(as))
}

// errAcked is returned by ackOne for an alarm already acknowledged.
var errAcked = errors.New("already acknowledged")

// ackOne journals the acknowledgement of alarm seq by by with note, and returns the
// alarm as it is then. An alarm that is not one is eventindex.ErrNotFound; one already
// acknowledged is errAcked, with the alarm.
func (s *Server) ackOne(ctx context.Context, seq uint64, by, note string) (alarmView, error) {
	al, err := s.o.Index.Alarm(ctx, seq)
	switch {
	case err != nil:
		return alarmView{}, err
	case al.Acknowledged != nil:
		return s.alarmViews([]eventindex.Alarm{al})[0], fmt.Errorf("alarm %d was acknowledged by %s: %w", seq, al.Acknowledged.By, errAcked)
	}
	info, _ := json.Marshal(map[string]any{"alarm": seq, "alarmId": al.ID, "alarmType": al.Type, "note": clip(note, 2000), "by": by})
	// One acknowledgement per alarm: its origin is the alarm's seq.
	rec, err := s.o.Site.Journal().Append(context.WithoutCancel(ctx), &event.Draft{Type: eventindex.AckType, OccurredAt: s.clock.Now(),
		Description: "an alarm was acknowledged by staff", Info: info, Origin: "ack:" + strconv.FormatUint(seq, 10)})
	if err != nil {
		return alarmView{}, err
	}
	if err := s.waitIndexed(ctx, rec.Seq); err != nil {
		return alarmView{}, err
	}
	if al, err = s.o.Index.Alarm(ctx, seq); err != nil {
		return alarmView{}, err
	}
	v := s.alarmViews([]eventindex.Alarm{al})[0]
	if rec.Duplicate {
		return v, fmt.Errorf("alarm %d was already acknowledged: %w", seq, errAcked)
	}
	return v, nil
}

// noteOf reads an acknowledgement's note from r's body into in and checks it.
func noteOf(w http.ResponseWriter, r *http.Request, in any, note func() string) bool {
	if !readJSON(w, r, in) {
		return false
	}
	if strings.TrimSpace(note()) == "" {
		httpjson.Error(w, http.StatusBadRequest, "note: say what was found or done")
		return false
	}
	return true
}

func (s *Server) ackAlarm(w http.ResponseWriter, r *http.Request) {
	seq, err := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, "alarm: not a seq number")
		return
	}
	var in struct {
		Note string `json:"note"`
	}
	if !noteOf(w, r, &in, func() string { return in.Note }) {
		return
	}
	v, err := s.ackOne(r.Context(), seq, who(r).user.Name, in.Note)
	switch {
	case errors.Is(err, eventindex.ErrNotFound):
		httpjson.Error(w, http.StatusNotFound, fmt.Sprintf("no alarm %d", seq))
	case errors.Is(err, errAcked):
		httpjson.Write(w, http.StatusConflict, map[string]any{"error": err.Error(), "alarm": v})
	case err != nil:
		httpjson.Error(w, http.StatusInternalServerError, err.Error())
	default:
		httpjson.Write(w, http.StatusOK, v)
	}
}

// maxGroupAck bounds the alarms one request acknowledges.
const maxGroupAck = 500

// ackAlarms acknowledges several alarms (a group of repeats) with one note: each is
// journaled as its own alarm.acknowledged. It answers each alarm's outcome.
func (s *Server) ackAlarms(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Seqs []uint64 `json:"seqs"`
		Note string   `json:"note"`
	}
	if !noteOf(w, r, &in, func() string { return in.Note }) {
		return
	}
	if len(in.Seqs) == 0 || len(in.Seqs) > maxGroupAck {
		httpjson.Error(w, http.StatusBadRequest, fmt.Sprintf("seqs: name 1 to %d alarms", maxGroupAck))
		return
	}
	type outcome struct {
		Seq    uint64     `json:"seq"`
		Result string     `json:"result"` // acknowledged, already-acknowledged or not-an-alarm
		Alarm  *alarmView `json:"alarm,omitempty"`
	}
	out := struct {
		Acknowledged int       `json:"acknowledged"`
		Results      []outcome `json:"results"`
	}{Results: []outcome{}}
	by := who(r).user.Name
	for _, seq := range slices.Compact(slices.Sorted(slices.Values(in.Seqs))) {
		v, err := s.ackOne(r.Context(), seq, by, in.Note)
		switch {
		case errors.Is(err, eventindex.ErrNotFound):
			out.Results = append(out.Results, outcome{Seq: seq, Result: "not-an-alarm"})
		case errors.Is(err, errAcked):
			out.Results = append(out.Results, outcome{Seq: seq, Result: "already-acknowledged", Alarm: &v})
		case err != nil:
			httpjson.Error(w, http.StatusInternalServerError, err.Error())
			return
		default:
			out.Acknowledged++
			out.Results = append(out.Results, outcome{Seq: seq, Result: "acknowledged", Alarm: &v})
		}
	}
	httpjson.Write(w, http.StatusOK, out)
}

// checkAlarmPolicies says which of console.alarms' types are no alarm type.
func checkAlarmPolicies(p map[string]config.AlarmPolicy) error {
	var unknown []string
	for typ := range p {
		if !slices.Contains(eventindex.AlarmTypes, typ) {
			unknown = append(unknown, typ)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return fmt.Errorf("console: console.alarms names %s, which %s no alarm type (alarm types: %s)",
			strings.Join(unknown, ", "), map[bool]string{true: "is", false: "are"}[len(unknown) == 1], strings.Join(eventindex.AlarmTypes, ", "))
	}
	return nil
}
