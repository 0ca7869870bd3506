package agent

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/apedge/apedge/agent/curfew"
	"github.com/apedge/apedge/internal/config"
)

// UKDateLayout is how staff read a date: "2 Dec 2026".
const UKDateLayout = "2 Jan 2006"

// Describer puts journal events into words for staff: who (a resident's name and room
// beside their CRN, a member of staff by name), where (a door or reader by what the
// site calls it), what happened and when, in Europe/London time with dates as the UK
// writes them. It is a snapshot of the roster and the site's devices: make a new one
// when they change. Its methods are safe for concurrent use.
type Describer struct {
	people    map[string]config.Resident // residents by CRN and NOMS, staff and contractors by ID
	readers   map[string]config.ReaderPlace
	terminals map[string]config.BiometricPlace // fingerprint terminals (describe_biometric.go)
	loc       *time.Location
}

// NewDescriber returns a Describer naming the people of roster and the readers of
// readers (their doors and directions, as the bridge's configuration gives them).
func NewDescriber(roster []config.Resident, readers map[string]config.ReaderPlace) *Describer {
	d := &Describer{people: map[string]config.Resident{}, readers: map[string]config.ReaderPlace{}, loc: curfew.London()}
	for _, r := range roster {
		if r.IsResident() {
			if r.NOMS != "" {
				d.people[r.NOMS] = r
			}
			d.people[r.CRN] = r // a CRN wins over a NOMS number that happens to equal it
		} else if r.ID != "" {
			d.people[r.ID] = r
		}
	}
	for id, p := range readers {
		d.readers[id] = p
	}
	return d
}

// Describer returns a Describer of the roster as the agent holds it now and the
// readers and fingerprint terminals of the site's bridge configuration.
func (a *Agent) Describer() *Describer {
	return NewDescriber(a.rosterNow(), a.cfg.Devices.Readers).WithTerminals(a.cfg.Devices.Biometrics)
}

// Resident returns the roster entry of the resident whose CRN or NOMS number is id, or
// of the member of staff or contractor whose ID it is, and whether there is one.
func (d *Describer) Resident(id string) (config.Resident, bool) {
	r, ok := d.people[id]
	return r, ok
}

// Person names a resident by CRN (or NOMS): "Brian Baker (room 5)", with the CRN when
// the roster has no name for them, or the CRN alone for someone not on the roster.
func (d *Describer) Person(crn string) string {
	r, ok := d.people[crn]
	if !ok || !r.IsResident() {
		return crn
	}
	name := r.Name
	if name == "" {
		name = r.CRN
	}
	if r.Room != "" {
		return name + " (room " + r.Room + ")"
	}
	return name
}

// Staff names a member of staff or contractor by roster ID: their name, and what they
// are when they are a contractor; the ID itself when the roster does not know it.
func (d *Describer) Staff(id string) string {
	r, ok := d.people[id]
	if !ok || r.IsResident() {
		return id
	}
	name := r.Name
	if name == "" {
		name = r.ID
	}
	if r.Kind == config.KindContractor {
		return name + " (contractor)"
	}
	return name
}

// Door names a door by its id: "the garden door" for "garden", "door 2" for "door-2",
// "the door b2" for an id that is only a code.
func (d *Describer) Door(id string) string {
	if id == "" {
		return "a door"
	}
	words := strings.Join(strings.FieldsFunc(id, func(r rune) bool { return r == '-' || r == '_' || r == '.' }), " ")
	switch lw := strings.ToLower(words); {
	case strings.HasPrefix(lw, "door "):
		return words
	case strings.Contains(lw, "door"):
		return "the " + words
	case strings.ContainsFunc(words, unicode.IsDigit):
		return "the door " + id
	}
	return "the " + words + " door"
}

// Reader names a reader by its id, with its door and side: "the front door's entry
// reader (front-in)"; just its id for a reader the configuration does not place.
func (d *Describer) Reader(id string) string {
	p, ok := d.readers[id]
	if !ok || p.Door == "" {
		return "reader " + id
	}
	side := p.Direction
	if side == "" {
		side = "door"
	}
	return d.Door(p.Door) + "'s " + side + " reader (" + id + ")"
}

// Clock is t's local time of day, "02:04".
func (d *Describer) Clock(t time.Time) string { return t.In(d.loc).Format("15:04") }

// Date is t's local date as the UK writes it, "2 Dec 2026".
func (d *Describer) Date(t time.Time) string { return t.In(d.loc).Format(UKDateLayout) }

// When is t in words: "02:04 on 2 Dec 2026".
func (d *Describer) When(t time.Time) string { return d.Clock(t) + " on " + d.Date(t) }

// Fact is what Sentence needs of one journal event.
type Fact struct {
	// Type is the event type without its prefix, e.g. "movement.exited".
	Type string
	// At is when it happened.
	At time.Time
	// CRN is the resident it is about, if any (a CRN or NOMS number).
	CRN string
	// Info is the event's additional information.
	Info json.RawMessage
	// Description is the event's own one-line description, the words used for a type
	// Sentence has none of its own for.
	Description string
	// Door names the door when the info does not: for a curfew decision, the door of
	// the movement it rests on, if the caller knows it.
	Door string
	// NoResults says the sentence is for someone who may not see substance results:
	// a substance event's sentence then says which test and whose, not what it found.
	NoResults bool
}

// info is the union of the fields of event infos that sentences use.
type info struct {
	Door, Reader, Basis, Direction string
	Attributed                     *bool
	Holder                         *struct{ Kind, ID string }
	Credential                     *struct{ ID string }
	Window                         *struct{ StartLocal, EndLocal, Source, Description string }
	LastSeen                       *struct{ AtLocal, Direction string }
	Presence, Reason, Note, By     string
	RecordedBy, Result, AlarmType  string
	MinutesLate                    *int
	In, Out, Unknown               []string
	Alarm                          json.Number
	Name, Room                     string
	Absence                        *struct{ From, To, ApprovedBy string }
	People                         *int
	Mode                           string
	Until                          time.Time
	RanOut                         bool
	Doors                          []struct{ Door, Result string }
	Changes                        []struct{ Field, Old, New string }
	Camera, Previous, Since        string
	Repeats                        int
	Figures                        *CameraFigures
}

// Sentence says in words what the event f records, e.g. "Brian Baker (room 5) left by
// the garden door at 02:04 on 2 Dec 2026, during curfew 23:00–06:00".
func (d *Describer) Sentence(f Fact) string {
	var in info
	if len(f.Info) > 0 && f.Info[0] == '{' {
		dec := json.NewDecoder(strings.NewReader(string(f.Info)))
		dec.UseNumber()
		_ = dec.Decode(&in) // an info of another shape leaves fields empty: the sentence still says what
	}
	door := in.Door
	if door == "" {
		door = f.Door
	}
	when := d.When(f.At)
	who := d.who(f.CRN, in)
	during := ""
	if w := in.Window; w != nil {
		during = ", during " + d.window(w.StartLocal, w.EndLocal, w.Source)
	}
	by := func(door string) string {
		if door == "" {
			return ""
		}
		return " by " + d.Door(door)
	}
	if s, ok := d.cameraSentence(f, in); ok {
		return s
	}
	if s, ok := d.substanceSentence(f); ok {
		return s
	}
	if s, ok := d.biometricSentence(f); ok {
		return s
	}
	if s, ok := d.patSentence(f); ok {
		return s
	}
	if s, ok := d.bwcSentence(f); ok {
		return s
	}
	switch f.Type {
	case "movement.entered":
		return upper(who) + " came in" + by(door) + " at " + when + d.basis(in) + during
	case "movement.exited":
		if in.Basis == basisExitButton {
			return "Someone left" + by(door) + " with the exit button, no card shown, at " + when
		}
		return upper(who) + " left" + by(door) + " at " + when + d.basis(in) + during
	case curfew.TypeBreached:
		return upper(who) + " left" + by(door) + " at " + when + during
	case curfew.TypeAbsent:
		s := upper(who) + " was not in at " + when
		if w := in.Window; w != nil {
			s += ", when " + d.window(w.StartLocal, w.EndLocal, w.Source) + " began"
		}
		if ls := in.LastSeen; ls != nil {
			if t, err := time.Parse(time.RFC3339, ls.AtLocal); err == nil {
				verb := "going out"
				if ls.Direction == curfew.DirectionEntry {
					verb = "coming in"
				}
				s += "; last seen " + verb + " at " + d.When(t)
			}
		} else if in.Presence == string(curfew.PresenceUnknown) {
			s += "; no movement of theirs has been seen"
		}
		return s
	case curfew.TypeReturnedLate:
		s := upper(who) + " came back" + by(door) + " at " + when
		if in.MinutesLate != nil {
			s += ", " + late(*in.MinutesLate)
		}
		if w := in.Window; w != nil {
			s += " for " + d.window(w.StartLocal, w.EndLocal, w.Source)
		}
		return s
	case curfew.TypeRoll:
		return fmt.Sprintf("Curfew roll at %s: %d in, %d out, %d unknown", when, len(in.In), len(in.Out), len(in.Unknown))
	case curfew.TypeInconsistent:
		reason := in.Reason
		if reason == "" {
			reason = "a movement that does not follow from the last one"
		}
		return upper(who) + ": " + reason + " at " + when + " (kept as evidence)"
	case "door.forced":
		return upper(d.Door(door)) + " was forced open at " + when + ": opened while locked, with no exit request"
	case "door.held-open":
		return upper(d.Door(door)) + " was held open past its limit at " + when
	case "door.tailgate":
		return "Someone went through " + d.Door(door) + " without a card at " + when + " (tailgating: it opened again on one unlock)"
	case "door.tampered":
		return "The tamper switch of " + d.Reader(in.Reader) + " went off at " + when
	case "door.alarm":
		return "Someone left" + by(door) + " with the exit button and no card at " + when + ", during the AP curfew"
	case "reader.offline":
		return upper(d.Reader(in.Reader)) + " stopped answering at " + when
	case "reader.online":
		return upper(d.Reader(in.Reader)) + " was answering again at " + when
	case "reader.secure-channel-failed":
		return "The secure channel to " + d.Reader(in.Reader) + " could not be opened at " + when
	case "door.unlock-ordered":
		s := dash(in.By, "Staff") + " unlocked " + d.Door(door) + " from the console at " + when
		if in.Reason != "" {
			s += " (" + quote(in.Reason) + ")"
		}
		if in.Result != "" && in.Result != "done" {
			s += "; the door answered " + in.Result
		}
		return s
	case "alarm.acknowledged":
		s := dash(in.By, "Staff") + " acknowledged alarm " + in.Alarm.String()
		if in.AlarmType != "" {
			s += " (" + in.AlarmType + ")"
		}
		s += " at " + when
		if in.Note != "" {
			s += ": " + quote(in.Note)
		}
		return s
	case "resident.arrived":
		s := dash(in.RecordedBy, "Staff") + " recorded the arrival of " + who + " at " + when
		return s
	case "resident.updated":
		var ch []string
		for _, c := range in.Changes {
			ch = append(ch, fmt.Sprintf("%s %s → %s", c.Field, dash(c.Old, "none"), dash(c.New, "none")))
		}
		s := dash(in.RecordedBy, "Staff") + " changed the details of " + who + " at " + when
		if len(ch) > 0 {
			s += ": " + strings.Join(ch, "; ")
		}
		return s
	case "resident.departed":
		return dash(in.RecordedBy, "Staff") + " recorded the departure of " + who + " at " + when + ": every card of theirs revoked"
	case "resident.absence-approved":
		s := dash(in.RecordedBy, "Staff") + " recorded an approved absence for " + who + " at " + when
		if a := in.Absence; a != nil {
			s += fmt.Sprintf(": from %s to %s, approved by %s", d.localOrAsIs(a.From), d.localOrAsIs(a.To), dash(a.ApprovedBy, "someone"))
		}
		return s
	case "door.held":
		s := dash(in.By, "Staff") + " held " + d.Door(door) + " " + map[string]string{"unlocked": "unlocked", "locked": "locked (entry refused; exit still open)"}[in.Mode]
		if !in.Until.IsZero() {
			s += " until " + d.When(in.Until)
		}
		s += ", from " + when
		if in.Reason != "" {
			s += " (" + quote(in.Reason) + ")"
		}
		if in.Result != "" && in.Result != "done" {
			s += "; the door answered " + in.Result
		}
		return s
	case "door.hold-ended":
		if in.RanOut {
			return "The hold on " + d.Door(door) + " ran out at " + when + ": the door is back to normal"
		}
		return dash(in.By, "Staff") + " ended the hold on " + d.Door(door) + " at " + when
	case "site.lockdown", "site.lockdown-released":
		verb := "locked the site down (entry refused at every door; exit still open)"
		if f.Type == "site.lockdown-released" {
			verb = "released the lockdown"
		}
		s := dash(in.By, "A manager") + " " + verb + " at " + when
		if in.Reason != "" {
			s += " (" + quote(in.Reason) + ")"
		}
		var failed []string
		for _, r := range in.Doors {
			if r.Result != "done" {
				failed = append(failed, d.Door(r.Door)+" answered "+dash(r.Result, "nothing"))
			}
		}
		if len(failed) > 0 {
			s += "; " + strings.Join(failed, ", ")
		}
		return s
	case "fire-roll.taken":
		s := dash(in.By, "Staff") + " took a fire roll at " + when
		if in.People != nil {
			s += fmt.Sprintf(": %d believed in the building", *in.People)
		}
		return s
	}
	what := f.Description
	if what == "" {
		what = strings.ReplaceAll(f.Type, ".", " ")
	}
	s := upper(what)
	if f.CRN != "" {
		s += ": " + who
	} else if door != "" {
		s += ": " + d.Door(door)
	}
	if in.By != "" {
		s += ", by " + in.By
	}
	return s + ", at " + when
}

// cameraSentence says what a camera.* event records: "Camera front-cam (front door,
// outside) is offline: connection refused, since 02:03 on 2 Dec 2026". It is false for
// any other type.
func (d *Describer) cameraSentence(f Fact, in info) (string, bool) {
	reason := ""
	if in.Reason != "" {
		reason = ": " + in.Reason
	}
	var what string
	switch f.Type {
	case TypeCameraOnline:
		what = "is back online"
		if in.Previous == "" || in.Previous == "unknown" {
			what = "is online"
		}
		what += figures(in.Figures, false)
	case TypeCameraOffline:
		what = "is offline" + reason
	case TypeCameraAuthFailed:
		what = "refuses the configured user and password" + reason
	case TypeCameraStalled:
		what = "is stalled" + reason
		if reason == "" {
			what += ": the session is up but no picture comes"
		}
	case TypeCameraDegraded:
		what = "is degraded" + reason + figures(in.Figures, true)
	case TypeCameraFrozen:
		what = "is frozen" + reason
		if reason == "" {
			what += ": its picture is the same as before, black or covered"
		}
	default:
		return "", false
	}
	cam := "A camera"
	if in.Camera != "" {
		cam = "Camera " + in.Camera
	}
	if in.Name != "" {
		cam += " (" + in.Name + ")"
	}
	since := f.At
	if t, err := time.Parse(time.RFC3339Nano, in.Since); err == nil {
		since = t
	}
	s := cam + " " + what + ", since " + d.When(since)
	switch {
	case in.Repeats == 1:
		s += "; flapping: 1 repeat in the last hour"
	case in.Repeats > 1:
		s += fmt.Sprintf("; flapping: %d repeats in the last hour", in.Repeats)
	}
	return s, true
}

// figures shows a camera's figures, " (H.264 1280x720, 25 fps)", with its bitrate and
// loss too when all is set; "" when there are none.
func figures(f *CameraFigures, all bool) string {
	if f == nil {
		return ""
	}
	var parts []string
	first := map[string]string{"h264": "H.264", "h265": "H.265"}[f.Codec]
	if first == "" {
		first = strings.ToUpper(f.Codec)
	}
	if f.Width > 0 && f.Height > 0 {
		first = strings.TrimSpace(fmt.Sprintf("%s %dx%d", first, f.Width, f.Height))
	}
	if first != "" {
		parts = append(parts, first)
	}
	if f.FPS > 0 {
		parts = append(parts, strconv.FormatFloat(math.Round(f.FPS*10)/10, 'f', -1, 64)+" fps")
	}
	if all && f.BitrateKbps > 0 {
		parts = append(parts, fmt.Sprintf("%.0f kbps", f.BitrateKbps))
	}
	if all && f.LossPct > 0 {
		parts = append(parts, strconv.FormatFloat(math.Round(f.LossPct*10)/10, 'f', -1, 64)+"% loss")
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// who names the person an event is about: the resident, the member of staff whose
// card it was, an unknown card, or someone.
func (d *Describer) who(crn string, in info) string {
	switch {
	case crn != "":
		return d.Person(crn)
	case in.Holder != nil:
		return d.Staff(in.Holder.ID)
	case in.Credential != nil && in.Credential.ID != "":
		return "an unknown card (" + in.Credential.ID + ")"
	}
	return "someone"
}

// basis says what a movement rests on when it is less than a door seen opening.
func (d *Describer) basis(in info) string {
	if in.Basis == basisRead {
		return " (card read; the door has no switch to confirm it opened)"
	}
	return ""
}

// window names a curfew window by its local times and where it comes from:
// "curfew 23:00–06:00" (the AP rule), "licence curfew 19:00–07:00".
func (d *Describer) window(startLocal, endLocal, source string) string {
	hm := func(s string) string {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			return d.Clock(t)
		}
		if t, err := time.ParseInLocation("2006-01-02 15:04", s, d.loc); err == nil {
			return d.Clock(t)
		}
		return s
	}
	name := "curfew"
	if source == curfew.SourceLicence {
		name = "licence curfew"
	}
	return name + " " + hm(startLocal) + "–" + hm(endLocal)
}

// localOrAsIs shows a roster time (RFC 3339 or UK local) as "14:00 on 2 Dec 2026".
func (d *Describer) localOrAsIs(s string) string {
	t, err := config.ParseLocalTime(s, d.loc)
	if err != nil {
		return s
	}
	return d.When(t)
}

// late says how late someone came back, "25 minutes late".
func late(minutes int) string {
	switch {
	case minutes < 1:
		return "less than a minute late"
	case minutes == 1:
		return "1 minute late"
	case minutes < 120:
		return fmt.Sprintf("%d minutes late", minutes)
	}
	return fmt.Sprintf("%dh%02d late", minutes/60, minutes%60)
}

// Late says how long after a window's start someone still out is, "1h05 late".
func Late(d time.Duration) string { return late(int(d / time.Minute)) }

// upper is s with its first letter in upper case.
func upper(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}

// dash is s, or or when s is empty.
func dash(s, or string) string {
	if s == "" {
		return or
	}
	return s
}

// quote is s in quotation marks, cut to 200 runes.
func quote(s string) string {
	if r := []rune(s); len(r) > 200 {
		s = string(r[:199]) + "…"
	}
	return "“" + s + "”"
}
