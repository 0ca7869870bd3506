package console

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/apedge/apedge/agent"
	"github.com/apedge/apedge/agent/curfew"
	"github.com/apedge/apedge/agent/eventindex"
	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/internal/config"
	"github.com/apedge/apedge/internal/httpjson"
)

// FireRollType is the event journaled when staff take a fire roll: who took it and
// everyone the site believed was in the building.
const FireRollType = "fire-roll.taken"

// staffLookback is how far back a fire roll looks for staff and contractors' last
// movements: the agent tracks no presence for them, so one who came in by a door and
// has not been seen leaving within it is taken to be in.
const staffLookback = 24 * time.Hour

// fireRollView is POST /api/v1/roll/fire.
type fireRollView struct {
	// Seq is the fire-roll.taken event that records this roll.
	Seq          uint64    `json:"seq"`
	TakenAt      time.Time `json:"takenAt"`
	TakenAtLocal string    `json:"takenAtLocal"`
	TakenBy      string    `json:"takenBy"`
	// Counts: residents and staff (staff and contractors) believed in, and residents
	// whose presence is unknown (listed in Unknown, not in People).
	Counts map[string]int `json:"counts"`
	// People are everyone believed in the building: residents by name, then staff.
	People []rollPerson `json:"people"`
	// Unknown are residents never seen at a door: they may be in.
	Unknown []rollPerson `json:"unknown"`
	// StaffBasis says how staff presence is known.
	StaffBasis string `json:"staffBasis"`
}

// rollPerson is one person on a fire roll.
type rollPerson struct {
	// Kind is resident, staff or contractor; ID is a resident's CRN or the staff ID.
	Kind  string `json:"kind"`
	ID    string `json:"id"`
	Name  string `json:"name"`
	Room  string `json:"room"`
	Label string `json:"label"`
	// LastMovement is the movement the belief rests on (null when none is known).
	LastMovement *movementSeen `json:"lastMovement"`
	// Certainty is high (seen within the hour), medium (within 12 hours), or low
	// (longer ago, never seen, or the last movement contradicted the one before).
	Certainty string `json:"certainty"`
	// Seen says it in words: "came in by the front door 5 min ago (at 02:04)".
	Seen string `json:"seen"`
}

// movementSeen is a person's last movement as a fire roll shows it.
type movementSeen struct {
	Seq        uint64    `json:"seq"`
	At         time.Time `json:"at"`
	AtLocal    string    `json:"atLocal"`
	Direction  string    `json:"direction"`
	Door       string    `json:"door"`
	DoorName   string    `json:"doorName"`
	AgeSeconds int64     `json:"ageSeconds"`
	Age        string    `json:"age"`
}

// movementInfo is what a fire roll reads of a movement event.
type movementInfo struct {
	Door   string `json:"door"`
	Holder *struct {
		Kind string `json:"kind"`
		ID   string `json:"id"`
	} `json:"holder"`
}

// lastMovements returns the last movement since from of each resident (by CRN, key
// "crn:" + CRN) and of each member of staff or contractor ("staff:" + ID), newest
// first, stopping once every key in want is found.
func (s *Server) lastMovements(ctx context.Context, from time.Time, want map[string]bool) (map[string]eventindex.Summary, error) {
	out := map[string]eventindex.Summary{}
	q := eventindex.Query{Types: []string{"movement.entered", "movement.exited"}, From: from, Desc: true, Limit: eventindex.MaxLimit}
	for page := 0; page < 50; page++ {
		ss, next, err := s.o.Index.Search(ctx, q)
		if err != nil {
			return nil, err
		}
		for _, e := range ss {
			key := ""
			if e.CRN != "" {
				key = "crn:" + e.CRN
			} else {
				var mi movementInfo
				if json.Unmarshal(e.Data, &mi) == nil && mi.Holder != nil && mi.Holder.ID != "" {
					key = "staff:" + mi.Holder.ID
				}
			}
			if _, seen := out[key]; key != "" && !seen {
				out[key] = e
			}
		}
		done := true
		for k := range want {
			if _, ok := out[k]; !ok {
				done = false
			}
		}
		if next == 0 || (done && len(want) > 0) {
			break
		}
		q.After = next
	}
	return out, nil
}

// age says how long ago d was, "5 min ago".
func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h %d min ago", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%d days ago", int(d/(24*time.Hour)))
}

// certainty grades how sure a belief resting on a movement age ago is.
func certainty(age time.Duration, inconsistent bool) string {
	switch {
	case inconsistent || age >= 12*time.Hour:
		return "low"
	case age < time.Hour:
		return "high"
	}
	return "medium"
}

// seenOf describes the movement e as of now.
func seenOf(d *agent.Describer, e eventindex.Summary, now time.Time) *movementSeen {
	var mi movementInfo
	_ = json.Unmarshal(e.Data, &mi)
	dir := "entry"
	if e.Type == "movement.exited" {
		dir = "exit"
	}
	a := max(0, now.Sub(e.OccurredAt))
	return &movementSeen{Seq: e.Seq, At: e.OccurredAt, AtLocal: local(e.OccurredAt), Direction: dir, Door: mi.Door,
		DoorName: d.Door(mi.Door), AgeSeconds: int64(a / time.Second), Age: age(a)}
}

// seenText says what a person was last seen doing: "seen 5 min ago coming in by the
// front door (at 02:04)".
func seenText(m *movementSeen, d *agent.Describer) string {
	if m == nil {
		return "no movement seen"
	}
	verb := "coming in"
	if m.Direction == "exit" {
		verb = "going out"
	}
	s := "seen " + m.Age + " " + verb
	if m.Door != "" {
		s += " by " + m.DoorName
	}
	return s + " (at " + d.When(m.At) + ")"
}

func (s *Server) fireRoll(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Note string `json:"note"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	v, err := s.fireRollNow(r.Context(), who(r).user.Name)
	if err != nil {
		httpjson.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	ids := func(ps []rollPerson) []string {
		out := make([]string, 0, len(ps))
		for _, p := range ps {
			out = append(out, p.Kind+":"+p.ID)
		}
		return out
	}
	info, _ := json.Marshal(map[string]any{"by": v.TakenBy, "people": len(v.People), "in": ids(v.People), "unknown": ids(v.Unknown),
		"counts": v.Counts, "note": clip(in.Note, 500)})
	rec, err := s.o.Site.Journal().Append(context.WithoutCancel(r.Context()), &event.Draft{Type: FireRollType, OccurredAt: v.TakenAt,
		Description: "a fire roll was taken: everyone the site believed was in the building", Info: info})
	if err != nil {
		httpjson.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	v.Seq = rec.Seq
	httpjson.Write(w, http.StatusOK, v)
}

// fireRollNow lists everyone the site believes is in the building now.
func (s *Server) fireRollNow(ctx context.Context, by string) (fireRollView, error) {
	now := s.clock.Now()
	d := s.describer()
	v := fireRollView{TakenAt: now.UTC(), TakenAtLocal: local(now), TakenBy: by, People: []rollPerson{}, Unknown: []rollPerson{},
		Counts:     map[string]int{"residents": 0, "staff": 0, "unknown": 0, "total": 0},
		StaffBasis: "the agent tracks no presence for staff and contractors: each is taken to be in when their last card movement at a door in the last 24 hours was coming in"}
	residents, err := s.residentsNow(ctx)
	if err != nil {
		return v, err
	}
	want := map[string]bool{}
	for _, rv := range residents {
		if rv.Presence == "in" {
			want["crn:"+rv.CRN] = true
		}
	}
	var staff []config.Resident
	for _, p := range s.roster() {
		if !p.IsResident() && p.ID != "" && p.PresentOn(now.In(curfew.London()).Format(time.DateOnly)) {
			staff = append(staff, p)
		}
	}
	last, err := s.lastMovements(ctx, now.Add(-staffLookback), want)
	if err != nil {
		return v, err
	}
	for _, rv := range residents {
		p := rollPerson{Kind: config.KindResident, ID: rv.CRN}
		pv := personOf(d, rv.CRN, rv.Name, rv.Room)
		p.Name, p.Room, p.Label = pv.Name, pv.Room, pv.Label
		if e, ok := last["crn:"+rv.CRN]; ok {
			p.LastMovement = seenOf(d, e, now)
		}
		switch rv.Presence {
		case "in":
			ago := now.Sub(rv.PresenceSince)
			if p.LastMovement == nil && !rv.PresenceSince.IsZero() {
				// Seen coming in before the look-back: the time alone is known.
				a := max(0, ago)
				p.LastMovement = &movementSeen{At: rv.PresenceSince.UTC(), AtLocal: local(rv.PresenceSince), Direction: "entry",
					AgeSeconds: int64(a / time.Second), Age: age(a)}
			}
			p.Certainty = certainty(ago, rv.Inconsistent)
			p.Seen = seenText(p.LastMovement, d)
			v.People = append(v.People, p)
			v.Counts["residents"]++
		case "out":
		default:
			p.Certainty, p.Seen = "low", "never seen at a door: may be in"
			v.Unknown = append(v.Unknown, p)
			v.Counts["unknown"]++
		}
	}
	var staffIn []rollPerson
	for _, st := range staff {
		e, ok := last["staff:"+st.ID]
		if !ok || e.Type != "movement.entered" {
			continue
		}
		p := rollPerson{Kind: cmp.Or(st.Kind, config.KindStaff), ID: st.ID, Name: st.Name, Label: d.Staff(st.ID),
			LastMovement: seenOf(d, e, now)}
		p.Certainty = certainty(now.Sub(e.OccurredAt), false)
		p.Seen = seenText(p.LastMovement, d)
		staffIn = append(staffIn, p)
	}
	slices.SortFunc(staffIn, func(a, b rollPerson) int { return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID)) })
	v.People = append(v.People, staffIn...)
	v.Counts["staff"] = len(staffIn)
	v.Counts["total"] = len(v.People)
	return v, nil
}
