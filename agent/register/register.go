// Package register is the roster register: the staff actions that change who is at an
// AP (an arrival, a departure, an approved absence), recorded in a SQLite file beside
// the agent's journal by `apedge resident` and applied by the agent in order. Each
// change is numbered, says who recorded it and when, and is journaled by the agent as
// a signed event (its origin is the change's number, so it is journaled once).
package register

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/apedge/apedge/internal/config"
	"github.com/apedge/apedge/internal/sqlitedb"
)

// Actions a change records.
const (
	Arrive  = "arrive"
	Depart  = "depart"
	Absence = "absence"
	Update  = "update"
)

// Why a change is refused (the Kind of a Refusal).
var (
	// ErrInvalid: a value the change gives is not valid (Refusal.Field names it).
	ErrInvalid = errors.New("register: not valid")
	// ErrNotOnRoster: a departure, absence or update of someone not on the roster.
	ErrNotOnRoster = errors.New("register: not on the roster")
	// ErrInResidence: an arrival of a resident already in residence (their details
	// are changed by an update, not by a second arrival).
	ErrInResidence = errors.New("register: already in residence")
	// ErrDeparted: a departure, absence or update of a resident who has left.
	ErrDeparted = errors.New("register: has left")
	// ErrNoChange: an update that changes nothing.
	ErrNoChange = errors.New("register: nothing to change")
)

// Refusal is a change refused. Msg says why and what to do, in the words of the
// member of staff who made the change: the console and `apedge resident` show it as
// it is. Kind is one of the Err values above (errors.Is matches it).
type Refusal struct {
	Kind error
	// Field is the field at fault, as the console's API names it (crn, noms, name,
	// room, cards, expectedDeparture, id, from, to, approvedBy, by), or empty.
	Field string
	Msg   string
	// Resident is the resident on record the change is refused for, when there is
	// one (ErrInResidence, ErrDeparted, ErrNoChange).
	Resident *config.Resident
}

// Error is Msg, prefixed with the package's name.
func (r *Refusal) Error() string { return "register: " + r.Msg }

// Unwrap returns Kind.
func (r *Refusal) Unwrap() error { return r.Kind }

func invalid(field, format string, args ...any) *Refusal {
	return &Refusal{Kind: ErrInvalid, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Message returns what staff are told of err: a Refusal's Msg, or that the register
// could not be read or written.
func Message(err error) string {
	var r *Refusal
	if errors.As(err, &r) {
		return r.Msg
	}
	return "the change could not be recorded (the roster register failed: tell the site's administrator): " + err.Error()
}

// Change is one recorded staff action.
type Change struct {
	// N numbers changes from 1, in the order they were recorded.
	N      int64
	Action string
	CRN    string
	// Person is the arriving resident (Arrive).
	Person *config.Resident `json:",omitempty"`
	// Absence is the approved absence (Absence).
	Absence *config.Absence `json:",omitempty"`
	// Update is the resident's new details (Update).
	Update *Details `json:",omitempty"`
	// By is the member of staff who recorded it; At is when.
	By string
	At time.Time
}

// Details are the details of a resident an update sets: each field given (not nil)
// is set, the others are kept. An empty NOMS or expected departure clears it; empty
// Cards take every card away (a lost card, until a new one is issued).
type Details struct {
	NOMS              *string   `json:",omitempty"`
	Name              *string   `json:",omitempty"`
	Room              *string   `json:",omitempty"`
	ExpectedDeparture *string   `json:",omitempty"`
	Cards             *[]string `json:",omitempty"`
	// Changes is what the update changes, field by field: RecordChecked sets it from
	// the roster as it stands when the update is recorded.
	Changes []FieldChange `json:",omitempty"`
}

// FieldChange is one field an update changes, with its value before and after.
// Cards are written as a list, "12:10001, 12:10002"; a value not set is "".
type FieldChange struct {
	// Field is noms, name, room, expectedDeparture or cards, as the console's API
	// names them.
	Field string `json:"field"`
	Old   string `json:"old"`
	New   string `json:"new"`
}

// Diff returns what d changes in r, in the order noms, name, room,
// expectedDeparture, cards: nothing for a field not given or given as it is (cards
// in another order are the same cards).
func (d *Details) Diff(r *config.Resident) []FieldChange {
	var out []FieldChange
	for _, f := range []struct {
		name string
		to   *string
		from string
	}{{"noms", d.NOMS, r.NOMS}, {"name", d.Name, r.Name}, {"room", d.Room, r.Room}, {"expectedDeparture", d.ExpectedDeparture, r.ExpectedDeparture}} {
		if f.to != nil && *f.to != f.from {
			out = append(out, FieldChange{Field: f.name, Old: f.from, New: *f.to})
		}
	}
	if d.Cards != nil {
		oldS, newS := slices.Sorted(slices.Values(r.Cards)), slices.Sorted(slices.Values(*d.Cards))
		if !slices.Equal(oldS, newS) {
			out = append(out, FieldChange{Field: "cards", Old: strings.Join(r.Cards, ", "), New: strings.Join(*d.Cards, ", ")})
		}
	}
	return out
}

// apply sets d's fields in r.
func (d *Details) apply(r *config.Resident) {
	for _, f := range []struct {
		to  *string
		dst *string
	}{{d.NOMS, &r.NOMS}, {d.Name, &r.Name}, {d.Room, &r.Room}, {d.ExpectedDeparture, &r.ExpectedDeparture}} {
		if f.to != nil {
			*f.dst = *f.to
		}
	}
	if d.Cards != nil {
		r.Cards = slices.Clone(*d.Cards)
	}
}

var schema = []string{`
CREATE TABLE changes (
	n      INTEGER PRIMARY KEY AUTOINCREMENT,
	action TEXT NOT NULL,
	crn    TEXT NOT NULL,
	body   TEXT NOT NULL,
	by     TEXT NOT NULL,
	at     TEXT NOT NULL
);`}

// Register is an open register file.
type Register struct{ db *sql.DB }

// Path is where the register of an agent whose journal is database lives.
func Path(database string) string { return filepath.Join(filepath.Dir(database), "register.db") }

// Open opens (creating if needed) the register at path.
func Open(ctx context.Context, path string) (*Register, error) {
	db, err := sqlitedb.Open(ctx, path, schema)
	if err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	return &Register{db: db}, nil
}

// Close closes the register.
func (r *Register) Close() error { return r.db.Close() }

// body is what a change's row holds beyond its columns.
type body struct {
	Person  *config.Resident `json:",omitempty"`
	Absence *config.Absence  `json:",omitempty"`
	Update  *Details         `json:",omitempty"`
}

// querier is a database or a transaction.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Record checks and appends a change and returns its number. It writes the values
// of the structs c points to as they are recorded (see check).
func (r *Register) Record(ctx context.Context, c Change) (int64, error) {
	if err := c.check(); err != nil {
		return 0, err
	}
	return record(ctx, r.db, c)
}

func record(ctx context.Context, q querier, c Change) (int64, error) {
	b, err := json.Marshal(body{c.Person, c.Absence, c.Update})
	if err != nil {
		return 0, fmt.Errorf("register: %w", err)
	}
	res, err := q.ExecContext(ctx, `INSERT INTO changes (action, crn, body, by, at) VALUES (?, ?, ?, ?, ?)`,
		c.Action, c.CRN, b, c.By, c.At.UTC().Format(time.RFC3339Nano))
	if err != nil {
		return 0, fmt.Errorf("register: record %s %s: %w", c.Action, c.CRN, err)
	}
	return res.LastInsertId()
}

// check checks c's values, writing them the one way they are recorded: the CRN and
// NOMS number trimmed and in upper case, cards as config.ParseCard writes them,
// names, rooms and dates trimmed. It writes into the structs c points to.
func (c *Change) check() error {
	c.By = strings.TrimSpace(c.By)
	switch {
	case c.By == "":
		return invalid("by", "say who is recording the change (the member of staff)")
	case c.At.IsZero():
		return invalid("", "a change needs its time")
	}
	if strings.TrimSpace(c.CRN) == "" {
		return invalid("crn", "give the resident's CRN: a CRN is a letter and six digits, e.g. X123456")
	}
	crn, err := config.ParseCRN(c.CRN)
	if err != nil {
		return invalid("crn", "%s", err)
	}
	c.CRN = crn
	switch c.Action {
	case Arrive:
		return c.checkArrival()
	case Depart:
	case Absence:
		return c.checkAbsence()
	case Update:
		return c.checkUpdate()
	default:
		return invalid("", "unknown action %q: arrive, depart, absence or update", c.Action)
	}
	return nil
}

func (c *Change) checkArrival() error {
	p := c.Person
	if p == nil {
		return invalid("", "an arrival needs the resident's details")
	}
	if crn, err := config.ParseCRN(p.CRN); err != nil || crn != c.CRN {
		return invalid("crn", "the arrival is of %s but gives the details of %q", c.CRN, p.CRN)
	}
	if !p.IsResident() {
		return invalid("", "an arrival is of a resident; staff and contractors are on the roster file")
	}
	p.CRN = c.CRN
	var err error
	if p.NOMS, err = config.ParseNOMS(p.NOMS); err != nil {
		return invalid("noms", "%s", err)
	}
	p.Name, p.Room = strings.TrimSpace(p.Name), strings.TrimSpace(p.Room)
	for _, d := range []struct {
		field string
		v     *string
	}{{"arrived", &p.Arrived}, {"expectedDeparture", &p.ExpectedDeparture}, {"departed", &p.Departed}} {
		if *d.v, err = config.ParseDate(*d.v); err != nil {
			return invalid(d.field, "%s", err)
		}
	}
	if len(p.Cards) == 0 {
		return invalid("cards", "an arriving resident needs at least one card: write it as facility:number, e.g. 12:10001")
	}
	if p.Cards, err = cards(p.Cards); err != nil {
		return err
	}
	return nil
}

func (c *Change) checkAbsence() error {
	a := c.Absence
	if a == nil {
		return invalid("", "an absence needs its id, times and who approved it")
	}
	a.ID, a.ApprovedBy, a.Reason = strings.TrimSpace(a.ID), strings.TrimSpace(a.ApprovedBy), strings.TrimSpace(a.Reason)
	switch {
	case a.ID == "":
		return invalid("id", "give the absence an id, e.g. hosp-1")
	case a.ApprovedBy == "":
		return invalid("approvedBy", "say who approved the absence")
	}
	london, _ := time.LoadLocation("Europe/London") // time/tzdata is linked in by package config
	from, err := config.ParseLocalTime(strings.TrimSpace(a.From), london)
	if err != nil {
		return invalid("from", "start of the absence: %s", err)
	}
	to, err := config.ParseLocalTime(strings.TrimSpace(a.To), london)
	if err != nil {
		return invalid("to", "end of the absence: %s", err)
	}
	if !to.After(from) {
		return invalid("to", "the absence ends (%s) before it starts (%s): give an end after the start", a.To, a.From)
	}
	a.From, a.To = strings.TrimSpace(a.From), strings.TrimSpace(a.To)
	return nil
}

func (c *Change) checkUpdate() error {
	d := c.Update
	if d == nil || d.NOMS == nil && d.Name == nil && d.Room == nil && d.ExpectedDeparture == nil && d.Cards == nil {
		return invalid("", "say what to change: NOMS number, name, room, expected departure or cards")
	}
	var err error
	for _, f := range []struct {
		field string
		v     *string
		parse func(string) (string, error)
	}{{"noms", d.NOMS, config.ParseNOMS}, {"name", d.Name, trim}, {"room", d.Room, trim}, {"expectedDeparture", d.ExpectedDeparture, config.ParseDate}} {
		if f.v == nil {
			continue
		}
		if *f.v, err = f.parse(*f.v); err != nil {
			return invalid(f.field, "%s", err)
		}
	}
	if d.Cards != nil {
		cs, err := cards(*d.Cards)
		if err != nil {
			return err
		}
		*d.Cards = cs
	}
	return nil
}

func trim(s string) (string, error) { return strings.TrimSpace(s), nil }

// cards returns cs as config.ParseCard writes them, refusing one that is not a card
// or is given twice.
func cards(cs []string) ([]string, error) {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		n, err := config.ParseCard(c)
		if err != nil {
			return nil, invalid("cards", "%s", err)
		}
		if slices.Contains(out, n) {
			return nil, invalid("cards", "card %s is given twice: give it once", n)
		}
		out = append(out, n)
	}
	return out, nil
}

// RecordChecked records c after checking that it applies to base with every change
// recorded before it: what the agent would refuse is refused here, as a *Refusal
// saying why in staff's words. The check and the record are one transaction, so two
// changes recorded at once (by the console and `apedge resident`) are checked one
// after the other. For an update, it sets c.Update.Changes to what it changes. It
// writes the values of the structs c points to as they are recorded (see check).
func (r *Register) RecordChecked(ctx context.Context, base []config.Resident, c Change, loc *time.Location) (int64, error) {
	if err := c.check(); err != nil {
		return 0, err
	}
	tx, err := r.db.BeginTx(ctx, nil) // BEGIN IMMEDIATE: one writer at a time
	if err != nil {
		return 0, fmt.Errorf("register: %w", err)
	}
	defer tx.Rollback()
	changes, err := since(ctx, tx, 0)
	if err != nil {
		return 0, err
	}
	roster := replay(base, changes, loc)
	if c.Action == Update {
		c.Update.Changes = Diff(roster, c)
	}
	next, err := Apply(roster, c, loc)
	if err != nil {
		return 0, err
	}
	if err := cardsHeld(next, c); err != nil {
		return 0, err
	}
	if err := config.CheckRoster(next); err != nil {
		return 0, refusalOf(c, err)
	}
	n, err := record(ctx, tx, c)
	if err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("register: record %s %s: %w", c.Action, c.CRN, err)
	}
	return n, nil
}

// cardsHeld refuses an arrival or update of c.CRN giving a card someone else on
// roster holds, naming them.
func cardsHeld(roster []config.Resident, c Change) error {
	if c.Action != Arrive && c.Action != Update {
		return nil
	}
	i := find(roster, c.CRN)
	if i < 0 {
		return nil
	}
	for _, card := range roster[i].Cards {
		for j := range roster {
			if j != i && slices.Contains(roster[j].Cards, card) {
				who := roster[j].Holder()
				if roster[j].Name != "" {
					who += " (" + roster[j].Name + ")"
				}
				return &Refusal{Kind: ErrInvalid, Field: "cards", Msg: fmt.Sprintf("card %s belongs to %s: give each card to one person", card, who)}
			}
		}
	}
	return nil
}

// refusalOf is the refusal of c for the roster problems err lists: each problem's
// what and fix, without the roster's field names (which staff never see).
func refusalOf(c Change, err error) error {
	var ce *config.Error
	if !errors.As(err, &ce) {
		return fmt.Errorf("register: %s of %s: %w", c.Action, c.CRN, err)
	}
	var msgs []string
	field := ""
	for _, p := range ce.Problems {
		m := p.What
		if p.Fix != "" {
			m += ": " + p.Fix
		}
		msgs = append(msgs, m)
		if i := strings.LastIndexByte(p.Field, '.'); i >= 0 && field == "" {
			field = p.Field[i+1:]
		}
	}
	return &Refusal{Kind: ErrInvalid, Field: field, Msg: strings.Join(msgs, "; ")}
}

// Since returns the changes numbered after n, in order.
func (r *Register) Since(ctx context.Context, n int64) ([]Change, error) { return since(ctx, r.db, n) }

func since(ctx context.Context, q querier, n int64) ([]Change, error) {
	rows, err := q.QueryContext(ctx, `SELECT n, action, crn, body, by, at FROM changes WHERE n > ? ORDER BY n`, n)
	if err != nil {
		return nil, fmt.Errorf("register: read: %w", err)
	}
	defer rows.Close()
	var out []Change
	for rows.Next() {
		var c Change
		var b, at string
		if err := rows.Scan(&c.N, &c.Action, &c.CRN, &b, &c.By, &at); err != nil {
			return nil, fmt.Errorf("register: read: %w", err)
		}
		var v body
		if err := json.Unmarshal([]byte(b), &v); err != nil {
			return nil, fmt.Errorf("register: change %d: %w", c.N, err)
		}
		c.Person, c.Absence, c.Update = v.Person, v.Absence, v.Update
		if c.At, err = time.Parse(time.RFC3339Nano, at); err != nil {
			return nil, fmt.Errorf("register: change %d: %w", c.N, err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// find returns the index in roster of the resident with crn (the last, if a roster
// held them twice), or -1.
func find(roster []config.Resident, crn string) int {
	i := -1
	for j := range roster {
		if roster[j].IsResident() && roster[j].CRN == crn {
			i = j
		}
	}
	return i
}

// hasLeft says whether r's departure is recorded for day or before.
func hasLeft(r *config.Resident, day string) bool { return r.Departed != "" && r.Departed <= day }

// Diff returns what the update c changes in roster (see Details.Diff): nothing if c
// is not an update or its resident is not on the roster.
func Diff(roster []config.Resident, c Change) []FieldChange {
	i := find(roster, c.CRN)
	if c.Action != Update || c.Update == nil || i < 0 {
		return nil
	}
	return c.Update.Diff(&roster[i])
}

// Apply returns roster with the change applied: an arrival adds the resident (or
// replaces one who has left), a departure sets their departure date, an absence is
// added to theirs, an update sets the details it gives. A change that cannot apply
// is refused with a *Refusal saying why, and the roster is left as it was: an
// arrival of a resident in residence (ErrInResidence: their details change by an
// update), a departure, absence or update of someone not on the roster
// (ErrNotOnRoster) or who has left (ErrDeparted), an update that changes nothing
// (ErrNoChange).
func Apply(roster []config.Resident, c Change, loc *time.Location) ([]config.Resident, error) {
	if c.Action == Arrive && c.Person == nil || c.Action == Absence && c.Absence == nil || c.Action == Update && c.Update == nil ||
		!slices.Contains([]string{Arrive, Depart, Absence, Update}, c.Action) {
		return roster, invalid("", "change %d (%s of %s) is incomplete", c.N, c.Action, c.CRN)
	}
	out := append([]config.Resident(nil), roster...)
	i := find(out, c.CRN)
	day := c.At.In(loc).Format(time.DateOnly)
	var r *config.Resident
	if i >= 0 {
		r = &out[i]
	}
	switch {
	case c.Action == Arrive && r != nil && !hasLeft(r, day):
		cur := *r
		return roster, &Refusal{Kind: ErrInResidence, Field: "crn", Resident: &cur,
			Msg: fmt.Sprintf("%s is already in residence%s: use update to change their details, or record their departure first", describe(r), sinceRoom(r))}
	case c.Action == Arrive:
	case r == nil:
		what := map[string]string{Depart: "a departure", Absence: "an absence", Update: "an update"}[c.Action]
		return roster, &Refusal{Kind: ErrNotOnRoster, Field: "crn",
			Msg: fmt.Sprintf("%s is not on the roster: check the CRN (%s is recorded for a resident in residence)", c.CRN, what)}
	case hasLeft(r, day):
		cur := *r
		what := map[string]string{Depart: "their departure is already recorded", Absence: "record a new arrival if they are back",
			Update: "record a new arrival if they are back"}[c.Action]
		return roster, &Refusal{Kind: ErrDeparted, Field: "crn", Resident: &cur,
			Msg: fmt.Sprintf("%s left on %s: %s", describe(r), ukDate(r.Departed), what)}
	}
	switch c.Action {
	case Arrive:
		p := *c.Person
		if p.Arrived == "" {
			p.Arrived = day
		}
		if r != nil {
			*r = p
		} else {
			out = append(out, p)
		}
	case Depart:
		r.Departed = day
	case Absence:
		r.Absences = append(slices.Clone(r.Absences), *c.Absence)
	case Update:
		if len(c.Update.Diff(r)) == 0 {
			cur := *r
			return roster, &Refusal{Kind: ErrNoChange, Resident: &cur,
				Msg: fmt.Sprintf("nothing to change: the details given for %s are those on record", describe(r))}
		}
		c.Update.apply(r)
	}
	return out, nil
}

// describe names a resident as staff know them: "X100001 (Resident One)".
func describe(r *config.Resident) string {
	if r.Name == "" {
		return r.CRN
	}
	return r.CRN + " (" + r.Name + ")"
}

// sinceRoom is " since 1 Dec 2026, room 5", with what is known of it.
func sinceRoom(r *config.Resident) string {
	s := ""
	if r.Arrived != "" {
		s = " since " + ukDate(r.Arrived)
	}
	if r.Room != "" {
		s += ", room " + r.Room
	}
	return s
}

// ukDate writes a roster date as the UK does: 2026-12-01 is "1 Dec 2026".
func ukDate(d string) string {
	t, err := time.Parse(time.DateOnly, d)
	if err != nil {
		return d
	}
	return t.Format("2 Jan 2006")
}

// replay returns base with changes applied in order, leaving out those that cannot
// apply (as the agent does, which logs them).
func replay(base []config.Resident, changes []Change, loc *time.Location) []config.Resident {
	roster := base
	for _, c := range changes {
		if next, err := Apply(roster, c, loc); err == nil {
			roster = next
		}
	}
	return roster
}

// Roster returns base with every recorded change applied in order, leaving out those
// that cannot apply (as the agent does, which logs them).
func (r *Register) Roster(ctx context.Context, base []config.Resident, loc *time.Location) ([]config.Resident, error) {
	changes, err := r.Since(ctx, 0)
	if err != nil {
		return nil, err
	}
	return replay(base, changes, loc), nil
}
