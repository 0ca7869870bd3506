package config

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	_ "time/tzdata" // Europe/London for absences, whatever the host has
)

// Kinds of people on the roster.
const (
	KindResident   = "resident"
	KindStaff      = "staff"
	KindContractor = "contractor"
)

// Resident is one person on the roster: a resident (with CRN, and NOMS number if they
// came from prison), or a member of staff or a contractor, who hold credentials too but
// are never subject to curfew.
type Resident struct {
	// Kind is resident (the default), staff or contractor.
	Kind string `yaml:"kind,omitempty"`
	// CRN is a resident's case reference number; ID names staff and contractors.
	CRN  string `yaml:"crn,omitempty"`
	ID   string `yaml:"id,omitempty"`
	NOMS string `yaml:"noms,omitempty"`
	Name string `yaml:"name,omitempty"`
	Room string `yaml:"room,omitempty"`
	// Arrived, ExpectedDeparture and Departed are dates (2026-11-22). From the day of
	// departure the person's credentials open nothing and nothing is attributed to them.
	Arrived           string `yaml:"arrived,omitempty"`
	ExpectedDeparture string `yaml:"expectedDeparture,omitempty"`
	Departed          string `yaml:"departed,omitempty"`
	// Cards are the person's credentials, as facility:number (e.g. "12:10001").
	Cards []string `yaml:"cards,omitempty"`
	// Curfews are a resident's licence conditions, on top of the AP rule
	// (23:00-06:00 every night, which applies to every resident).
	Curfews []Curfew `yaml:"curfews,omitempty"`
	// Absences are approved absences: they suspend curfew windows for their span.
	Absences []Absence `yaml:"absences,omitempty"`
}

// Curfew is a licence condition: a window from Start to End local time (End not after
// Start: it ends the next day), on the weekdays it starts (all if empty), for windows
// starting From to Until (dates, inclusive; open if empty).
type Curfew struct {
	ID          string   `yaml:"id"`
	Description string   `yaml:"description,omitempty"`
	Start       string   `yaml:"start"`
	End         string   `yaml:"end"`
	Weekdays    []string `yaml:"weekdays,omitempty"` // mon, tue, ...
	From        string   `yaml:"from,omitempty"`
	Until       string   `yaml:"until,omitempty"`
}

// Absence is an approved absence: From and To are RFC 3339 instants or local times in
// Europe/London ("2026-11-22 14:00"); ApprovedBy names who approved it.
type Absence struct {
	ID         string `yaml:"id" json:"id"`
	From       string `yaml:"from" json:"from"`
	To         string `yaml:"to" json:"to"`
	ApprovedBy string `yaml:"approvedBy" json:"approvedBy"`
	Reason     string `yaml:"reason,omitempty" json:"reason,omitempty"`
}

// Holder is how events and logs name the person: the CRN of a resident, the id of
// staff and contractors.
func (r *Resident) Holder() string {
	if r.Kind == KindStaff || r.Kind == KindContractor {
		return r.ID
	}
	return r.CRN
}

// IsResident says whether r is a resident (subject to curfew).
func (r *Resident) IsResident() bool { return r.Kind == "" || r.Kind == KindResident }

// PresentOn says whether r is at the AP on date day (2006-01-02): arrived (or no
// arrival recorded) and not yet departed.
func (r *Resident) PresentOn(day string) bool {
	return (r.Arrived == "" || r.Arrived <= day) && (r.Departed == "" || day < r.Departed)
}

var (
	clockTime = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)
	weekdays  = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}
)

// Weekday parses a weekday as the roster writes it (mon, tue, ...).
func Weekday(s string) (time.Weekday, bool) {
	i := slices.Index(weekdays, strings.ToLower(s))
	return time.Weekday(i), i >= 0
}

// ParseLocalTime parses an instant as the roster writes it: RFC 3339, or a local
// time in loc ("2006-01-02 15:04").
func ParseLocalTime(s string, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	t, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a time: write 2026-11-22 14:00 (UK local) or RFC 3339", s)
	}
	return t, nil
}

func validDate(s string) bool {
	_, err := time.Parse(time.DateOnly, s)
	return err == nil
}

// The forms of a person's identifiers, as staff are told them.
const (
	crnForm  = "a CRN is a letter and six digits, e.g. X123456"
	nomsForm = "a NOMS number is a letter, four digits and two letters, e.g. A1234BC"
	cardForm = "write a card as facility:number, e.g. 12:10001"
	dateForm = "write a date as 2026-11-22"
)

// ParseCRN returns s as a CRN: trimmed and in upper case, a letter and six digits
// (X123456). Its error, like those of ParseNOMS, ParseCard and ParseDate, is a sentence
// for the member of staff who typed s, saying how to write it; the console and
// `apedge resident` show it as it is, so it has no package prefix.
func ParseCRN(s string) (string, error) {
	n := strings.ToUpper(strings.TrimSpace(s))
	if !validCRN(n) {
		return n, fmt.Errorf("%q is not a CRN: %s", s, crnForm)
	}
	return n, nil
}

// ParseNOMS returns s as a NOMS number (prison number): trimmed and in upper case, a
// letter, four digits and two letters (A1234BC). An empty s is no NOMS number, and
// stays empty.
func ParseNOMS(s string) (string, error) {
	n := strings.ToUpper(strings.TrimSpace(s))
	if n != "" && !validNOMS(n) {
		return n, fmt.Errorf("%q is not a NOMS number: %s", s, nomsForm)
	}
	return n, nil
}

// The largest facility code and card number a card on the roster may have. The
// project's card formats (package wiegand) carry a facility of up to 16 bits
// (34-bit cards; 8 on 26-bit ones) and a 16-bit number, but a credential's number is
// 32 bits (wiegand.Card.Number) and rosters in use hold numbers above 65535, so the
// number is bounded by that.
const (
	maxFacility   = 1<<16 - 1
	maxCardNumber = 1<<32 - 1
)

// ParseCard returns s as a credential id, written as the bridge reports a 26- or
// 34-bit Wiegand card (sitebus.Credential.ID): facility:number, both decimal,
// facility 0-65535, without leading zeros. Spaces around it and leading zeros are
// dropped ("012:0042" is 12:42), so that the card on the roster is the card the
// readers report.
func ParseCard(s string) (string, error) {
	fc, cn, ok := strings.Cut(strings.TrimSpace(s), ":")
	f, err1 := strconv.ParseUint(fc, 10, 64)
	n, err2 := strconv.ParseUint(cn, 10, 64)
	if !ok || err1 != nil || err2 != nil || !decimal(fc) || !decimal(cn) || f > maxFacility || n > maxCardNumber {
		return s, fmt.Errorf("%q is not a card: %s", s, cardForm)
	}
	return strconv.FormatUint(f, 10) + ":" + strconv.FormatUint(n, 10), nil
}

// decimal says whether s is digits only (ParseUint also takes a sign and underscores
// in some forms; cards have none).
func decimal(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// ParseDate returns s as a date as the roster writes it (2026-11-22), trimmed. An
// empty s is no date, and stays empty.
func ParseDate(s string) (string, error) {
	n := strings.TrimSpace(s)
	if n != "" && !validDate(n) {
		return n, fmt.Errorf("%q is not a date: %s", s, dateForm)
	}
	return n, nil
}

// normalize writes r's identifiers the one way they are compared: CRN and NOMS
// number trimmed and in upper case, cards as ParseCard writes them. Values that do
// not parse are left for checkRoster to report.
func normalize(r *Resident) {
	r.CRN, _ = ParseCRN(r.CRN)
	r.NOMS, _ = ParseNOMS(r.NOMS)
	var cards []string
	for i, c := range r.Cards {
		if n, err := ParseCard(c); err == nil && n != c {
			if cards == nil {
				cards = slices.Clone(r.Cards)
			}
			cards[i] = n
		}
	}
	if cards != nil {
		r.Cards = cards
	}
}

// loadRosterFile reads a roster file: a YAML list of people. Its problems name their
// fields as roster[i].field, as the agent's own roster list would.
func loadRosterFile(path string, into *[]Resident) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return decodeYAML(path, b, into, "roster")
}

// checkRoster normalises each person's identifiers in place (see normalize), then
// checks the roster.
func checkRoster(c *checker, roster []Resident) {
	london, _ := time.LoadLocation("Europe/London")
	cards := map[string]string{}
	people := map[string]bool{}
	for i := range roster {
		r := &roster[i]
		normalize(r)
		f := fmt.Sprintf("roster[%d]", i)
		switch r.Kind {
		case "", KindResident:
			if !validCRN(r.CRN) {
				c.add(f+".crn", fmt.Sprintf("%q is not a CRN", r.CRN), crnForm)
			}
			if r.NOMS != "" && !validNOMS(r.NOMS) {
				c.add(f+".noms", fmt.Sprintf("%q is not a NOMS number", r.NOMS), nomsForm)
			}
		case KindStaff, KindContractor:
			if !validDeviceID(r.ID) {
				c.add(f+".id", fmt.Sprintf("%q is not an id", r.ID), "name staff and contractors with letters, digits, '-' and '_'")
			}
			if r.CRN != "" || r.NOMS != "" || len(r.Curfews) > 0 || len(r.Absences) > 0 {
				c.add(f+".kind", r.Kind+" with a CRN, NOMS number, curfews or absences", "only residents have those; staff and contractors are never subject to curfew")
			}
		default:
			c.add(f+".kind", fmt.Sprintf("%q", r.Kind), "use resident, staff or contractor")
		}
		if h := r.Holder(); h != "" {
			if people[h] {
				c.add(f, h+" listed twice", "list each person once")
			}
			people[h] = true
		}
		for _, d := range []struct{ name, v string }{{"arrived", r.Arrived}, {"expectedDeparture", r.ExpectedDeparture}, {"departed", r.Departed}} {
			if d.v != "" && !validDate(d.v) {
				c.add(f+"."+d.name, fmt.Sprintf("%q", d.v), dateForm)
			}
		}
		if r.Arrived != "" && r.Departed != "" && r.Departed < r.Arrived {
			c.add(f+".departed", "before arrived", "a departure follows the arrival")
		}
		for _, card := range r.Cards {
			if _, err := ParseCard(card); err != nil {
				c.add(f+".cards", fmt.Sprintf("%q is not a card", card), cardForm)
				continue
			}
			if other, dup := cards[card]; dup {
				c.add(f+".cards", "card "+card+" also belongs to "+other, "give each card to one person")
			}
			cards[card] = r.Holder()
		}
		ids := map[string]bool{}
		for j, cu := range r.Curfews {
			cf := fmt.Sprintf("%s.curfews[%d]", f, j)
			if cu.ID == "" || ids[cu.ID] {
				c.add(cf+".id", fmt.Sprintf("%q missing or repeated", cu.ID), "give each condition its own id, e.g. licence-7")
			}
			ids[cu.ID] = true
			for _, t := range []struct{ name, v string }{{"start", cu.Start}, {"end", cu.End}} {
				if !clockTime.MatchString(t.v) {
					c.add(cf+"."+t.name, fmt.Sprintf("%q", t.v), "write a local time as 19:00")
				}
			}
			if cu.Start == cu.End && cu.Start != "" {
				c.add(cf+".end", "same as start", "a window needs a length; 19:00 to 07:00 crosses midnight")
			}
			for _, w := range cu.Weekdays {
				if _, ok := Weekday(w); !ok {
					c.add(cf+".weekdays", fmt.Sprintf("%q", w), "use mon, tue, wed, thu, fri, sat, sun")
				}
			}
			for _, d := range []struct{ name, v string }{{"from", cu.From}, {"until", cu.Until}} {
				if d.v != "" && !validDate(d.v) {
					c.add(cf+"."+d.name, fmt.Sprintf("%q", d.v), "write a date as 2026-11-22")
				}
			}
			if cu.From != "" && cu.Until != "" && cu.Until < cu.From {
				c.add(cf+".until", "before from", "the condition ends after it starts")
			}
		}
		for j, ab := range r.Absences {
			af := fmt.Sprintf("%s.absences[%d]", f, j)
			if ab.ID == "" || ids[ab.ID] {
				c.add(af+".id", fmt.Sprintf("%q missing or repeated", ab.ID), "give each absence its own id")
			}
			ids[ab.ID] = true
			from, err1 := ParseLocalTime(ab.From, london)
			to, err2 := ParseLocalTime(ab.To, london)
			if err1 != nil {
				c.add(af+".from", err1.Error(), "e.g. 2026-11-22 14:00")
			}
			if err2 != nil {
				c.add(af+".to", err2.Error(), "e.g. 2026-11-23 10:00")
			}
			if err1 == nil && err2 == nil && !to.After(from) {
				c.add(af+".to", "not after from", "an absence ends after it starts")
			}
			if ab.ApprovedBy == "" {
				c.add(af+".approvedBy", "missing", "record who approved the absence")
			}
		}
	}
}

// Clock checks: how the agent makes sure its clock is right before it decides curfews.
const (
	ClockCheckNone        = "none"        // trust the clock (tests, the demo)
	ClockCheckTimedatectl = "timedatectl" // systemd: NTPSynchronized=yes
	ClockCheckNTP         = "ntp"         // ask ClockServer; synchronised within MaxClockOffset
)

// Curfews configures curfew decisions.
type Curfews struct {
	// Grace is how long after a window starts a resident may still come in before
	// curfew.absent (default 0).
	Grace time.Duration `yaml:"grace,omitempty"`
	// ClockCheck is none, timedatectl or ntp (default timedatectl): while the clock is
	// not known to be right the agent says so (agent.clock-unsynced) and holds its
	// curfew decisions.
	ClockCheck string `yaml:"clockCheck,omitempty"`
	// ClockServer is the NTP server for ClockCheck ntp, e.g. ntp.example.org.
	ClockServer string `yaml:"clockServer,omitempty"`
	// MaxClockOffset is the largest offset from the NTP server still counted as
	// synchronised (default 1s).
	MaxClockOffset time.Duration `yaml:"maxClockOffset,omitempty"`
	// ClockEvery is how often the clock is checked (default 1m).
	ClockEvery time.Duration `yaml:"clockEvery,omitempty"`
}

func (cu *Curfews) check(c *checker) {
	if cu.ClockCheck == "" {
		cu.ClockCheck = ClockCheckTimedatectl
	}
	if cu.MaxClockOffset == 0 {
		cu.MaxClockOffset = time.Second
	}
	if cu.ClockEvery == 0 {
		cu.ClockEvery = time.Minute
	}
	if cu.Grace < 0 || cu.Grace > 6*time.Hour {
		c.add("curfew.grace", cu.Grace.String(), "use 0 to 6h; 0 is the AP rule")
	}
	switch cu.ClockCheck {
	case ClockCheckNone, ClockCheckTimedatectl:
	case ClockCheckNTP:
		if cu.ClockServer == "" {
			c.add("curfew.clockServer", "missing", "name the NTP server to check the clock against")
		}
	default:
		c.add("curfew.clockCheck", fmt.Sprintf("%q", cu.ClockCheck), "use timedatectl, ntp (with clockServer) or none")
	}
	if cu.MaxClockOffset < time.Millisecond || cu.MaxClockOffset > time.Minute {
		c.add("curfew.maxClockOffset", cu.MaxClockOffset.String(), "use 1ms to 1m; 1s is usual")
	}
	if cu.ClockEvery < 100*time.Millisecond || cu.ClockEvery > time.Hour {
		c.add("curfew.clockEvery", cu.ClockEvery.String(), "use 100ms to 1h")
	}
}

// LoadRoster reads the roster of an agent configuration file (its roster list, or the
// file its rosterFile names) and checks only that: for tools such as `apedge curfew
// windows` that need the roster and none of the agent's keys or links. It also
// returns the agent's database path, beside which the roster register lives.
func LoadRoster(path string) ([]Resident, string, error) {
	var a Agent
	if err := decode(path, &a); err != nil {
		return nil, "", err
	}
	a.Database = resolve(filepath.Dir(path), a.Database)
	var c checker
	if a.RosterFile != "" {
		a.RosterFile = resolve(filepath.Dir(path), a.RosterFile)
		if len(a.Roster) > 0 {
			c.add("rosterFile", "set together with roster", "keep the roster in one place: the file or the list")
		} else if err := loadRosterFile(a.RosterFile, &a.Roster); err != nil {
			c.add("rosterFile", err.Error(), "point it at a YAML file holding a list of people (see configs/roster.yaml)")
		}
	}
	checkRoster(&c, a.Roster)
	return a.Roster, a.Database, c.err(path)
}

// CheckRoster checks a roster as LoadAgent does, e.g. after a register change,
// leaving roster as it is (LoadAgent normalises the identifiers of the roster it
// loads; whoever changes it gives them as ParseCRN, ParseNOMS and ParseCard write
// them).
func CheckRoster(roster []Resident) error {
	var c checker
	checkRoster(&c, slices.Clone(roster))
	return c.err("roster")
}
