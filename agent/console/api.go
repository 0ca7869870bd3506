package console

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/apedge/apedge/agent"
	"github.com/apedge/apedge/agent/curfew"
	"github.com/apedge/apedge/agent/eventindex"
	"github.com/apedge/apedge/internal/config"
	"github.com/apedge/apedge/internal/httpjson"
)

// maxBody bounds every request body.
const maxBody = 64 << 10

// readJSON decodes the request body into v, refusing unknown fields; on failure it has
// written a 400 naming what is wrong.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		httpjson.Error(w, http.StatusBadRequest, "request body: "+err.Error())
		return false
	}
	return true
}

// statusView is GET /api/v1/status.
type statusView struct {
	Site       string              `json:"site"`
	Version    string              `json:"version"`
	StartedAt  time.Time           `json:"startedAt"`
	Now        time.Time           `json:"now"`
	NowLocal   string              `json:"nowLocal"`
	Clock      map[string]bool     `json:"clock"`
	Bus        map[string]bool     `json:"bus"`
	Bridge     agent.BridgeView    `json:"bridge"`
	Central    deliveryView        `json:"central"`
	Residents  map[string]int      `json:"residents"`
	OpenAlarms int                 `json:"openAlarms"`
	Doors      map[string]int      `json:"doors"`
	Counters   map[string]uint64   `json:"counters"`
	Roll       *eventindex.Summary `json:"roll"`
}

type deliveryView struct {
	Connected bool   `json:"connected"`
	Journaled uint64 `json:"journaled"`
	Delivered uint64 `json:"delivered"`
	Acked     uint64 `json:"acked"`
	Backlog   uint64 `json:"backlog"`
}

func (s *Server) deliveryNow() deliveryView {
	st := s.o.Site.Status()
	d := deliveryView{Connected: st.CentralUp, Journaled: st.Journaled, Acked: st.Acked, Delivered: s.o.Site.Journal().Delivered()}
	if d.Journaled > d.Acked {
		d.Backlog = d.Journaled - d.Acked
	}
	return d
}

func (s *Server) statusNow(ctx context.Context) (statusView, error) {
	st := s.o.Site.Status()
	now := s.clock.Now()
	v := statusView{Site: st.Site, Version: st.Version, StartedAt: st.StartedAt, Now: now.UTC(),
		NowLocal: now.In(curfew.London()).Format("2006-01-02 15:04:05"),
		Clock:    map[string]bool{"synced": st.ClockSynced}, Bus: map[string]bool{"connected": st.BusUp},
		Bridge: s.o.Site.Devices().Bridge, Central: s.deliveryNow(),
		Residents: map[string]int{"in": 0, "out": 0, "unknown": 0}, Doors: map[string]int{}}
	for _, r := range s.o.Site.Residents() {
		v.Residents[r.Presence]++
	}
	for _, d := range doorsOf(s.o.Site.Devices()) {
		v.Doors[d.State]++
	}
	as, err := s.o.Index.Alarms(ctx, true, eventindex.MaxLimit)
	if err != nil {
		return v, err
	}
	v.OpenAlarms = len(as)
	c := s.o.Site.Stats()
	v.Counters = map[string]uint64{"busMessages": c.BusMessages, "badMessages": c.BadMessages, "duplicates": c.Duplicates,
		"seqGaps": c.SeqGaps, "journaled": c.Journaled, "unknownCards": c.UnknownCards}
	if roll, ok, err := s.o.Index.Latest(ctx, curfew.TypeRoll); err == nil && ok {
		v.Roll = &roll
	}
	return v, nil
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	v, err := s.statusNow(r.Context())
	if err != nil {
		httpjson.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	httpjson.Write(w, http.StatusOK, v)
}

// doorView is a door as the console shows it: its state in one word, and its alarm.
type doorView struct {
	agent.DoorView
	// State is one of locked, unlocked, open, forced, held-open.
	State string `json:"state"`
	// Alarm is forced or held-open while the door is in that state, else empty.
	Alarm string `json:"alarm"`
}

func doorsOf(d agent.Devices) []doorView {
	out := make([]doorView, 0, len(d.Doors))
	for _, v := range d.Doors {
		dv := doorView{DoorView: v}
		switch {
		case v.Forced:
			dv.State, dv.Alarm = "forced", "forced"
		case v.HeldOpen:
			dv.State, dv.Alarm = "held-open", "held-open"
		case v.Open:
			dv.State = "open"
		case v.Locked:
			dv.State = "locked"
		default:
			dv.State = "unlocked"
		}
		out = append(out, dv)
	}
	return out
}

func (s *Server) devices(w http.ResponseWriter, _ *http.Request) {
	d := s.o.Site.Devices()
	httpjson.Write(w, http.StatusOK, map[string]any{"bridge": d.Bridge, "readers": d.Readers, "doors": doorsOf(d),
		"cameras": d.Cameras, "docks": []any{}})
}

func (s *Server) doors(w http.ResponseWriter, _ *http.Request) {
	httpjson.Write(w, http.StatusOK, doorsOf(s.o.Site.Devices()))
}

func (s *Server) unlock(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var in struct {
		Reason  string `json:"reason"`
		Seconds int    `json:"seconds"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	known := false
	for _, d := range s.o.Site.Devices().Doors {
		known = known || d.ID == id
	}
	switch {
	case !known:
		httpjson.Error(w, http.StatusNotFound, fmt.Sprintf("no door %q has reported to the agent", id))
		return
	case strings.TrimSpace(in.Reason) == "":
		httpjson.Error(w, http.StatusBadRequest, "reason: say why the door is unlocked")
		return
	case in.Seconds < 0 || in.Seconds > 60:
		httpjson.Error(w, http.StatusBadRequest, "seconds: 0 (the door's own unlock time) to 60")
		return
	}
	res, err := s.o.Site.UnlockDoor(r.Context(), id, who(r).user.Name, clip(in.Reason, 500), time.Duration(in.Seconds)*time.Second)
	out := map[string]any{"door": id, "result": res.Status, "detail": res.Error}
	if err != nil {
		if res.Status == "" {
			out["result"] = "no-answer"
		}
		out["detail"] = err.Error()
		httpjson.Write(w, http.StatusBadGateway, out)
		return
	}
	httpjson.Write(w, http.StatusOK, out)
}

// residentView is a resident with whether they are absent from the curfew window in
// force (a curfew.absent not yet followed by their late return).
type residentView struct {
	agent.ResidentView
	Absent bool `json:"absent"`
}

func (s *Server) residentsNow(ctx context.Context) ([]residentView, error) {
	evs, err := s.curfewEventsNow(ctx)
	if err != nil {
		return nil, err
	}
	open := map[string]bool{}
	for _, e := range evs {
		if e.Open {
			open[e.CRN+"|"+windowKey(e.Data)] = true
		}
	}
	rs := s.o.Site.Residents()
	out := make([]residentView, 0, len(rs))
	for _, r := range rs {
		v := residentView{ResidentView: r}
		if r.Window != nil {
			v.Absent = open[r.CRN+"|"+r.Window.Key]
		}
		out = append(out, v)
	}
	return out, nil
}

func (s *Server) residents(w http.ResponseWriter, r *http.Request) {
	rs, err := s.residentsNow(r.Context())
	if err != nil {
		httpjson.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	httpjson.Write(w, http.StatusOK, rs)
}

func (s *Server) roll(w http.ResponseWriter, r *http.Request) {
	roll, ok, err := s.o.Index.Latest(r.Context(), curfew.TypeRoll)
	switch {
	case err != nil:
		httpjson.Error(w, http.StatusInternalServerError, err.Error())
	case !ok:
		httpjson.Error(w, http.StatusNotFound, "no curfew roll yet: the first is taken at 23:00")
	default:
		httpjson.Write(w, http.StatusOK, roll)
	}
}

// curfewEventView is a curfew event and whether it is still open (an absence not yet
// followed by the resident's late return).
type curfewEventView struct {
	eventindex.Summary
	Open bool `json:"open"`
}

func (s *Server) curfewEvents(w http.ResponseWriter, r *http.Request) {
	out, err := s.curfewEventsNow(r.Context())
	if err != nil {
		httpjson.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	httpjson.Write(w, http.StatusOK, out)
}

// curfewEventsNow returns the curfew events since the last roll (or of the last day,
// if that is longer ago), marking absences not yet followed by a late return as open.
func (s *Server) curfewEventsNow(ctx context.Context) ([]curfewEventView, error) {
	from := s.clock.Now().Add(-24 * time.Hour)
	if roll, ok, err := s.o.Index.Latest(ctx, curfew.TypeRoll); err == nil && ok && roll.OccurredAt.Before(from) {
		from = roll.OccurredAt
	}
	ss, _, err := s.o.Index.Search(ctx, eventindex.Query{Types: []string{curfew.TypeAbsent, curfew.TypeBreached, curfew.TypeReturnedLate},
		From: from, Limit: eventindex.MaxLimit})
	if err != nil {
		return nil, err
	}
	returned := map[string]bool{} // CRN + window key
	for _, e := range ss {
		if e.Type == curfew.TypeReturnedLate {
			returned[e.CRN+"|"+windowKey(e.Data)] = true
		}
	}
	out := make([]curfewEventView, 0, len(ss))
	for _, e := range ss {
		out = append(out, curfewEventView{Summary: e, Open: e.Type == curfew.TypeAbsent && !returned[e.CRN+"|"+windowKey(e.Data)]})
	}
	return out, nil
}

// windowKey is the key of the window a curfew event's data names.
func windowKey(data json.RawMessage) string {
	var d struct {
		Window struct {
			Key string `json:"key"`
		} `json:"window"`
	}
	_ = json.Unmarshal(data, &d)
	return d.Window.Key
}

// waitIndexed waits until the index holds seq, for at most five seconds.
func (s *Server) waitIndexed(ctx context.Context, seq uint64) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for s.o.Index.Indexed() < seq {
		select {
		case <-ctx.Done():
			return fmt.Errorf("console: event %d not yet indexed: %w", seq, ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// query reads the journal search parameters of r.
func query(r *http.Request) (eventindex.Query, error) {
	v := r.URL.Query()
	q := eventindex.Query{CRN: v.Get("crn")}
	if t := v.Get("type"); t != "" {
		q.Types = strings.Split(t, ",")
	}
	var err error
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"from", &q.From}, {"to", &q.To}} {
		if x := v.Get(f.name); x != "" {
			if *f.dst, err = config.ParseLocalTime(x, curfew.London()); err != nil {
				return q, fmt.Errorf("%s: %w", f.name, err)
			}
			if y := f.dst.UTC().Year(); y < 1 || y > 9999 {
				return q, fmt.Errorf("%s: year %d is out of range", f.name, y)
			}
		}
	}
	if x := v.Get("after"); x != "" {
		if q.After, err = strconv.ParseUint(x, 10, 64); err != nil {
			return q, fmt.Errorf("after: not a seq number")
		}
	}
	if x := v.Get("limit"); x != "" {
		if q.Limit, err = strconv.Atoi(x); err != nil || q.Limit < 1 {
			return q, fmt.Errorf("limit: a number from 1 to %d", eventindex.MaxLimit)
		}
	}
	q.Desc = v.Get("order") == "desc"
	return q, nil
}

func (s *Server) search(w http.ResponseWriter, r *http.Request, q eventindex.Query) {
	ss, next, err := s.o.Index.Search(r.Context(), q)
	if err != nil {
		httpjson.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"events": s.describe(ss), "next": next})
}

// describedView is a journal event with what it records in words.
type describedView struct {
	eventindex.Summary
	// Sentence is the event in words, names and places from the roster and the doors
	// (agent.Describer): "Resident One (room 5) came in by the front door at 22:59 on
	// 10 Jun 2026".
	Sentence string `json:"sentence"`
}

// describe gives each of ss its sentence.
func (s *Server) describe(ss []eventindex.Summary) []describedView {
	d := s.describer()
	out := make([]describedView, 0, len(ss))
	for _, e := range ss {
		se, _ := shown(e)
		out = append(out, describedView{Summary: se, Sentence: d.Sentence(factOf(e))})
	}
	return out
}

func (s *Server) journalSearch(w http.ResponseWriter, r *http.Request) {
	q, err := query(r)
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	s.search(w, r, q)
}

// AuditTypes are the journal's audit entries: staff actions and sign-ins.
var AuditTypes = []string{"staff.*", "resident.*", "door.unlock-ordered", "door.held", "door.hold-ended",
	"site.lockdown", "site.lockdown-released", "alarm.acknowledged", "fire-roll.taken"}

func (s *Server) auditLog(w http.ResponseWriter, r *http.Request) {
	q, err := query(r)
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	q.Types = AuditTypes
	s.search(w, r, q)
}

func (s *Server) delivery(w http.ResponseWriter, _ *http.Request) {
	httpjson.Write(w, http.StatusOK, s.deliveryNow())
}

// export streams the whole journal as JSON lines of signed envelopes, as stored: what
// `apedge verify` checks.
func (s *Server) export(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	j := s.o.Site.Journal()
	last := j.Last()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Content-Disposition", `attachment; filename="journal.jsonl"`)
	w.Header().Set("X-Apedge-Events", strconv.FormatUint(last, 10))
	bw := bufio.NewWriterSize(w, 64<<10)
	for next := uint64(1); next <= last; {
		es, err := j.Read(ctx, next, 1024, 4<<20)
		if err != nil {
			s.log.Error("export", "at", next, "err", err)
			return // the client sees a short file: fewer lines than X-Apedge-Events
		}
		if len(es) == 0 {
			break
		}
		for _, e := range es {
			if e.Seq > last {
				break
			}
			bw.Write(e.Envelope)
			bw.WriteByte('\n')
			next = e.Seq + 1
		}
	}
	bw.Flush()
	who := who(r)
	s.audit(r, "staff.journal-exported", who.user.Name, "a member of staff exported the journal", map[string]any{"events": last})
}
