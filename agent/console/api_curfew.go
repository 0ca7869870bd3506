package console

import (
	"cmp"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/apedge/apedge/agent"
	"github.com/apedge/apedge/agent/curfew"
	"github.com/apedge/apedge/agent/eventindex"
	"github.com/apedge/apedge/internal/config"
	"github.com/apedge/apedge/internal/httpjson"
)

// rosterSite is what a Site may also give for the views that name people and doors
// and read residents' schedules: the running agent does.
type rosterSite interface {
	Roster() []config.Resident
	Describer() *agent.Describer
}

// roster returns the roster as the site holds it, or nil when the site does not say.
func (s *Server) roster() []config.Resident {
	if rs, ok := s.o.Site.(rosterSite); ok {
		return rs.Roster()
	}
	return nil
}

// describer returns the site's Describer, or one that knows no names.
func (s *Server) describer() *agent.Describer {
	if rs, ok := s.o.Site.(rosterSite); ok {
		return rs.Describer()
	}
	return agent.NewDescriber(nil, nil)
}

// localLayout is how the curfew views show a local instant: "2 Dec 2026 02:04 GMT".
const localLayout = "2 Jan 2006 15:04 MST"

// local formats t in Europe/London with localLayout ("" for the zero time).
func local(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(curfew.London()).Format(localLayout)
}

// tonightView is GET /api/v1/curfew/tonight.
type tonightView struct {
	Now      time.Time `json:"now"`
	NowLocal string    `json:"nowLocal"`
	// Night is the date tonight's AP curfew starts on ("2026-12-01": before noon, the
	// night before), NightLocal as the UK writes it.
	Night      string `json:"night"`
	NightLocal string `json:"nightLocal"`
	// Counts are the residents by presence now: in, out, unknown.
	Counts map[string]int `json:"counts"`
	// In, Out and Unknown are the CRNs by presence now.
	In      []string `json:"in"`
	Out     []string `json:"out"`
	Unknown []string `json:"unknown"`
	// NextRoll is the start of the next AP curfew, when the roll is taken.
	NextRoll timeView `json:"nextRoll"`
	// LastRoll is the latest roll taken, or null.
	LastRoll *rollBrief `json:"lastRoll"`
	// NextCurfew is whose curfew starts next and when (null when nobody's does).
	NextCurfew *nextCurfewView `json:"nextCurfew"`
	// Absences are tonight's curfew absences (curfew.absent), open or since returned.
	Absences []absenceView `json:"absences"`
	// Residents are the residents now, sorted by name then CRN.
	Residents []tonightResident `json:"residents"`
}

// timeView is an instant, in UTC and in words.
type timeView struct {
	At      time.Time `json:"at"`
	AtLocal string    `json:"atLocal"`
}

// rollBrief is a roll taken.
type rollBrief struct {
	Seq     uint64    `json:"seq"`
	At      time.Time `json:"at"`
	AtLocal string    `json:"atLocal"`
	In      int       `json:"in"`
	Out     int       `json:"out"`
	Unknown int       `json:"unknown"`
}

// nextCurfewView is the next start of a curfew window and whose it is.
type nextCurfewView struct {
	At        time.Time    `json:"at"`
	AtLocal   string       `json:"atLocal"`
	Residents []personView `json:"residents"`
}

// personView names a resident.
type personView struct {
	CRN   string `json:"crn"`
	Name  string `json:"name"`
	Room  string `json:"room"`
	Label string `json:"label"` // "Brian Baker (room 5)"
}

// windowTonight is one curfew window (or the piece an approved absence left).
type windowTonight struct {
	Key   string    `json:"key"`
	Rule  string    `json:"rule"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// StartLocal and EndLocal are "2006-01-02 15:04" in Europe/London; Times is
	// "23:00–06:00".
	StartLocal string `json:"startLocal"`
	EndLocal   string `json:"endLocal"`
	Times      string `json:"times"`
	// Source is ap-rule or licence; SourceText says it in words, with the approved
	// absence that shortened or split it, if any.
	Source      string   `json:"source"`
	SourceText  string   `json:"sourceText"`
	Description string   `json:"description"`
	SuspendedBy []string `json:"suspendedBy"`
	InForce     bool     `json:"inForce"`
}

// absenceTonight is an approved absence that touches tonight.
type absenceTonight struct {
	ID         string    `json:"id"`
	From       time.Time `json:"from"`
	To         time.Time `json:"to"`
	FromLocal  string    `json:"fromLocal"`
	ToLocal    string    `json:"toLocal"`
	ApprovedBy string    `json:"approvedBy"`
	Reason     string    `json:"reason"`
}

// tonightResident is one resident tonight.
type tonightResident struct {
	personView
	Presence           string    `json:"presence"`
	PresenceSince      time.Time `json:"presenceSince,omitzero"`
	PresenceSinceLocal string    `json:"presenceSinceLocal"`
	Inconsistent       bool      `json:"inconsistent"`
	// InCurfew says a window is in force now; Absent that the resident was not in at
	// its start and has not come back.
	InCurfew bool `json:"inCurfew"`
	Absent   bool `json:"absent"`
	// Windows are the resident's windows tonight, in order of start; Next the next to
	// start after now (null if none tonight); ApprovedAbsences those touching tonight.
	Windows          []windowTonight  `json:"windows"`
	Next             *windowTonight   `json:"next"`
	ApprovedAbsences []absenceTonight `json:"approvedAbsences"`
	// Sentence says where they are and what curfew applies, in words.
	Sentence string `json:"sentence"`
}

// absenceView is a curfew absence tonight and how late the resident is (or was).
type absenceView struct {
	personView
	Seq    uint64        `json:"seq"`
	Window windowTonight `json:"window"`
	// Open says the resident has not come back; MinutesLate is how late they are now
	// (open) or were when they came back; Late says it in words.
	Open        bool      `json:"open"`
	MinutesLate int       `json:"minutesLate"`
	Late        string    `json:"late"`
	ReturnedAt  time.Time `json:"returnedAt,omitzero"`
	Sentence    string    `json:"sentence"`
}

// nightOf returns the date the night of t starts on: t's date from noon, the day
// before until then.
func nightOf(t time.Time) curfew.Date {
	lt := t.In(curfew.London())
	d := curfew.DateOf(t, curfew.London())
	if lt.Hour() < 12 {
		d = d.AddDays(-1)
	}
	return d
}

func (s *Server) curfewTonight(w http.ResponseWriter, r *http.Request) {
	v, err := s.tonightNow(r.Context())
	if err != nil {
		httpjson.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	httpjson.Write(w, http.StatusOK, v)
}

// tonightNow builds the curfew-tonight view.
func (s *Server) tonightNow(ctx context.Context) (tonightView, error) {
	now := s.clock.Now()
	loc := curfew.London()
	night := nightOf(now)
	lo := curfew.Boundary(night, curfew.TimeOfDay{Hour: 12}, loc)
	hi := curfew.Boundary(night.AddDays(1), curfew.TimeOfDay{Hour: 12}, loc)
	d := s.describer()
	v := tonightView{Now: now.UTC(), NowLocal: local(now), Night: night.String(),
		NightLocal: lo.In(loc).Format(agent.UKDateLayout), Counts: map[string]int{"in": 0, "out": 0, "unknown": 0},
		In: []string{}, Out: []string{}, Unknown: []string{}, Absences: []absenceView{}, Residents: []tonightResident{}}
	ap := curfew.Schedule{Rules: []curfew.Rule{curfew.APStandard()}, Loc: loc}
	if w, ok := ap.Next(now); ok {
		v.NextRoll = timeView{At: w.Start.UTC(), AtLocal: local(w.Start)}
	}
	if roll, ok, err := s.o.Index.Latest(ctx, curfew.TypeRoll); err != nil {
		return v, err
	} else if ok {
		lists := rollLists(roll)
		v.LastRoll = &rollBrief{Seq: roll.Seq, At: roll.OccurredAt, AtLocal: local(roll.OccurredAt),
			In: len(lists.In), Out: len(lists.Out), Unknown: len(lists.Unknown)}
	}
	residents, err := s.residentsNow(ctx)
	if err != nil {
		return v, err
	}
	roster := map[string]config.Resident{}
	for _, p := range s.roster() {
		if p.IsResident() {
			roster[p.CRN] = p
		}
	}
	var next time.Time
	for _, rv := range residents {
		p := personOf(d, rv.CRN, rv.Name, rv.Room)
		t := tonightResident{personView: p, Presence: rv.Presence, PresenceSince: rv.PresenceSince,
			PresenceSinceLocal: local(rv.PresenceSince), Inconsistent: rv.Inconsistent, InCurfew: rv.Window != nil,
			Absent: rv.Absent, Windows: []windowTonight{}, ApprovedAbsences: []absenceTonight{}}
		sched := ap
		if c, ok := roster[rv.CRN]; ok {
			if sc, err := agent.Schedule(&c); err == nil {
				sched = sc
			}
		}
		t.Windows = windowsTonight(sched, night, now)
		for i := range t.Windows {
			if w := t.Windows[i]; w.Start.After(now) || w.Start.Equal(now) {
				t.Next = &t.Windows[i]
				break
			}
		}
		for _, a := range sched.Absences {
			if a.From.Before(hi) && a.To.After(lo) {
				t.ApprovedAbsences = append(t.ApprovedAbsences, absenceTonight{ID: a.ID, From: a.From.UTC(), To: a.To.UTC(),
					FromLocal: local(a.From), ToLocal: local(a.To), ApprovedBy: a.ApprovedBy, Reason: a.Reason})
			}
		}
		if nw, ok := sched.Next(now); ok && nw.Start.Before(now.Add(48*time.Hour)) {
			switch {
			case next.IsZero() || nw.Start.Before(next):
				next = nw.Start
				v.NextCurfew = &nextCurfewView{At: nw.Start.UTC(), AtLocal: local(nw.Start), Residents: []personView{p}}
			case nw.Start.Equal(next):
				v.NextCurfew.Residents = append(v.NextCurfew.Residents, p)
			}
		}
		t.Sentence = tonightSentence(d, t)
		switch rv.Presence {
		case "in":
			v.In = append(v.In, rv.CRN)
		case "out":
			v.Out = append(v.Out, rv.CRN)
		default:
			v.Unknown = append(v.Unknown, rv.CRN)
		}
		v.Counts[presenceKey(rv.Presence)]++
		v.Residents = append(v.Residents, t)
	}
	if v.Absences, err = s.absencesTonight(ctx, d, lo, now); err != nil {
		return v, err
	}
	return v, nil
}

// presenceKey is presence as a count's key: in, out or unknown.
func presenceKey(p string) string {
	if p == "in" || p == "out" {
		return p
	}
	return "unknown"
}

// personOf names the resident crn, with the name and room the caller knows if the
// Describer has none.
func personOf(d *agent.Describer, crn, name, room string) personView {
	p := personView{CRN: crn, Name: name, Room: room, Label: d.Person(crn)}
	if r, ok := d.Resident(crn); ok && r.IsResident() {
		p.Name, p.Room = cmp.Or(r.Name, name), cmp.Or(r.Room, room)
	}
	if p.Label == crn && p.Name != "" {
		p.Label = p.Name
		if p.Room != "" {
			p.Label += " (room " + p.Room + ")"
		}
	}
	return p
}

// windowsTonight returns the windows of sched starting on night, and any in force at
// now, in order of start.
func windowsTonight(sched curfew.Schedule, night curfew.Date, now time.Time) []windowTonight {
	ws := sched.Windows(night, night)
	for _, w := range sched.At(now) {
		if !slices.ContainsFunc(ws, func(x curfew.Window) bool { return x.Key() == w.Key() }) {
			ws = append(ws, w)
		}
	}
	slices.SortFunc(ws, func(a, b curfew.Window) int { return a.Start.Compare(b.Start) })
	out := make([]windowTonight, 0, len(ws))
	for _, w := range ws {
		out = append(out, windowOf(w, now))
	}
	return out
}

// windowOf shows window w as at now.
func windowOf(w curfew.Window, now time.Time) windowTonight {
	v := windowTonight{Key: w.Key(), Rule: w.Rule.ID, Start: w.Start.UTC(), End: w.End.UTC(),
		StartLocal: w.StartLocal().Format("2006-01-02 15:04"), EndLocal: w.EndLocal().Format("2006-01-02 15:04"),
		Times:  w.StartLocal().Format("15:04") + "–" + w.EndLocal().Format("15:04"),
		Source: w.Rule.Source, Description: w.Rule.Description, SuspendedBy: slices.Clone(w.SuspendedBy), InForce: w.Contains(now)}
	if v.SuspendedBy == nil {
		v.SuspendedBy = []string{}
	}
	v.SourceText = sourceText(w.Rule.Source, w.Rule.ID)
	if w.Suspended() {
		v.SourceText += ", cut short by approved absence " + w.SuspendedBy[0]
		for _, id := range w.SuspendedBy[1:] {
			v.SourceText += " and " + id
		}
	}
	return v
}

// sourceText says where a rule comes from.
func sourceText(source, rule string) string {
	switch source {
	case curfew.SourceAPRule:
		return "AP rule"
	case curfew.SourceLicence:
		return "licence condition (" + rule + ")"
	}
	return source
}

// tonightSentence says where a resident is and what curfew applies tonight.
func tonightSentence(d *agent.Describer, t tonightResident) string {
	s := t.Label
	switch t.Presence {
	case "in":
		s += " is in"
	case "out":
		s += " is out"
	default:
		s += " has not been seen at a door"
	}
	if !t.PresenceSince.IsZero() {
		s += " since " + d.When(t.PresenceSince)
	}
	if t.Absent {
		s += ", ABSENT from curfew"
	}
	if len(t.Windows) == 0 {
		return s + "; no curfew tonight (approved absence)"
	}
	s += "; curfew tonight"
	for i, w := range t.Windows {
		if i > 0 {
			s += " and"
		}
		s += " " + w.Times + " (" + w.SourceText + ")"
	}
	return s
}

// absencesTonight returns the curfew absences journaled since from (the night's noon),
// each with how late the resident is now, or was when they came back.
func (s *Server) absencesTonight(ctx context.Context, d *agent.Describer, from, now time.Time) ([]absenceView, error) {
	ss, _, err := s.o.Index.Search(ctx, eventindex.Query{Types: []string{curfew.TypeAbsent, curfew.TypeReturnedLate},
		From: from, Limit: eventindex.MaxLimit})
	if err != nil {
		return nil, err
	}
	returned := map[string]eventindex.Summary{}
	for _, e := range ss {
		if e.Type == curfew.TypeReturnedLate {
			returned[e.CRN+"|"+windowKey(e.Data)] = e
		}
	}
	out := []absenceView{}
	for _, e := range ss {
		if e.Type != curfew.TypeAbsent {
			continue
		}
		wd := windowData(e.Data)
		av := absenceView{personView: personOf(d, e.CRN, "", ""), Seq: e.Seq, Open: true,
			Window: windowTonight{Key: wd.Key, Rule: wd.RuleID, Start: wd.Start, End: wd.End,
				StartLocal: wd.Start.In(curfew.London()).Format("2006-01-02 15:04"), EndLocal: wd.End.In(curfew.London()).Format("2006-01-02 15:04"),
				Times:  wd.Start.In(curfew.London()).Format("15:04") + "–" + wd.End.In(curfew.London()).Format("15:04"),
				Source: wd.Source, SourceText: sourceText(wd.Source, wd.RuleID), Description: wd.Description,
				SuspendedBy: wd.SuspendedBy, InForce: !now.Before(wd.Start) && now.Before(wd.End)}}
		if av.Window.SuspendedBy == nil {
			av.Window.SuspendedBy = []string{}
		}
		late := now.Sub(wd.Start)
		if ret, ok := returned[e.CRN+"|"+wd.Key]; ok {
			av.Open, av.ReturnedAt, late = false, ret.OccurredAt, ret.OccurredAt.Sub(wd.Start)
		}
		av.MinutesLate = max(0, int(late/time.Minute))
		av.Late = agent.Late(late)
		if av.Open {
			av.Sentence = av.Label + " is out, " + av.Late + " for " + av.Window.Times + " (" + av.Window.SourceText + ")"
		} else {
			av.Sentence = av.Label + " came back at " + d.When(av.ReturnedAt) + ", " + av.Late + " for " + av.Window.Times + " (" + av.Window.SourceText + ")"
		}
		out = append(out, av)
	}
	return out, nil
}

// rollData is the lists of a curfew.roll event.
type rollData struct {
	In      []string `json:"in"`
	Out     []string `json:"out"`
	Unknown []string `json:"unknown"`
}

// rollLists reads the lists of the roll e.
func rollLists(e eventindex.Summary) rollData {
	var r rollData
	_ = json.Unmarshal(e.Data, &r) // a roll of another shape counts nobody
	return r
}

// windowDetail is the window a curfew event's data names.
type windowDetail struct {
	Key         string    `json:"key"`
	RuleID      string    `json:"ruleId"`
	Source      string    `json:"source"`
	Description string    `json:"description"`
	Start       time.Time `json:"start"`
	End         time.Time `json:"end"`
	SuspendedBy []string  `json:"suspendedBy"`
}

// windowData reads the window of a curfew event's data.
func windowData(data json.RawMessage) windowDetail {
	var d struct {
		Window windowDetail `json:"window"`
	}
	_ = json.Unmarshal(data, &d)
	return d.Window
}
