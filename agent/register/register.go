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
	"time"

	"github.com/apedge/apedge/internal/config"
	"github.com/apedge/apedge/internal/sqlitedb"
)

// Actions a change records.
const (
	Arrive  = "arrive"
	Depart  = "depart"
	Absence = "absence"
)

// ErrNotOnRoster is the error of a departure or absence of someone not on the roster,
// followed by the change that names them.
var ErrNotOnRoster = errors.New("register: not on the roster")

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
	// By is the member of staff who recorded it; At is when.
	By string
	At time.Time
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

// Record checks and appends a change and returns its number.
func (r *Register) Record(ctx context.Context, c Change) (int64, error) {
	if err := c.check(); err != nil {
		return 0, err
	}
	body, err := json.Marshal(struct {
		Person  *config.Resident `json:",omitempty"`
		Absence *config.Absence  `json:",omitempty"`
	}{c.Person, c.Absence})
	if err != nil {
		return 0, fmt.Errorf("register: %w", err)
	}
	res, err := r.db.ExecContext(ctx, `INSERT INTO changes (action, crn, body, by, at) VALUES (?, ?, ?, ?, ?)`,
		c.Action, c.CRN, body, c.By, c.At.UTC().Format(time.RFC3339Nano))
	if err != nil {
		return 0, fmt.Errorf("register: record %s %s: %w", c.Action, c.CRN, err)
	}
	return res.LastInsertId()
}

func (c *Change) check() error {
	switch {
	case c.By == "":
		return errors.New("register: a change needs the member of staff who records it")
	case c.At.IsZero():
		return errors.New("register: a change needs its time")
	case c.CRN == "":
		return errors.New("register: a change needs the resident's CRN")
	}
	switch c.Action {
	case Arrive:
		if c.Person == nil || c.Person.CRN != c.CRN {
			return fmt.Errorf("register: arrival of %s without the resident", c.CRN)
		}
	case Depart:
	case Absence:
		if c.Absence == nil {
			return fmt.Errorf("register: absence of %s without its times", c.CRN)
		}
	default:
		return fmt.Errorf("register: unknown action %q", c.Action)
	}
	return nil
}

// RecordChecked records c after checking that it applies to base with every change
// recorded before it (a departure of someone on the roster, an arrival giving a valid
// roster): what the agent would refuse is refused here, naming why.
func (r *Register) RecordChecked(ctx context.Context, base []config.Resident, c Change, loc *time.Location) (int64, error) {
	if err := c.check(); err != nil {
		return 0, err
	}
	roster, err := r.Roster(ctx, base, loc)
	if err != nil {
		return 0, err
	}
	next, err := Apply(roster, c, loc)
	if err != nil {
		return 0, err
	}
	if err := config.CheckRoster(next); err != nil {
		return 0, fmt.Errorf("register: %s of %s: %w", c.Action, c.CRN, err)
	}
	return r.Record(ctx, c)
}

// Since returns the changes numbered after n, in order.
func (r *Register) Since(ctx context.Context, n int64) ([]Change, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT n, action, crn, body, by, at FROM changes WHERE n > ? ORDER BY n`, n)
	if err != nil {
		return nil, fmt.Errorf("register: read: %w", err)
	}
	defer rows.Close()
	var out []Change
	for rows.Next() {
		var c Change
		var body, at string
		if err := rows.Scan(&c.N, &c.Action, &c.CRN, &body, &c.By, &at); err != nil {
			return nil, fmt.Errorf("register: read: %w", err)
		}
		var b struct {
			Person  *config.Resident
			Absence *config.Absence
		}
		if err := json.Unmarshal([]byte(body), &b); err != nil {
			return nil, fmt.Errorf("register: change %d: %w", c.N, err)
		}
		c.Person, c.Absence = b.Person, b.Absence
		if c.At, err = time.Parse(time.RFC3339Nano, at); err != nil {
			return nil, fmt.Errorf("register: change %d: %w", c.N, err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Apply returns roster with the changes applied in order: an arrival adds the resident
// (or replaces one who had left), a departure sets their departure date, an absence
// is added to theirs. A change that cannot apply (the departure of someone not on the
// roster) is returned as an error naming it; the roster is left as it was before it.
func Apply(roster []config.Resident, c Change, loc *time.Location) ([]config.Resident, error) {
	out := append([]config.Resident(nil), roster...)
	i := -1
	for j := range out {
		if out[j].IsResident() && out[j].CRN == c.CRN {
			i = j
		}
	}
	day := c.At.In(loc).Format(time.DateOnly)
	switch c.Action {
	case Arrive:
		p := *c.Person
		if p.Arrived == "" {
			p.Arrived = day
		}
		if i >= 0 {
			out[i] = p
		} else {
			out = append(out, p)
		}
	case Depart:
		if i < 0 {
			return roster, fmt.Errorf("%w: departure of %s (change %d)", ErrNotOnRoster, c.CRN, c.N)
		}
		out[i].Departed = day
	case Absence:
		if i < 0 {
			return roster, fmt.Errorf("%w: absence of %s (change %d)", ErrNotOnRoster, c.CRN, c.N)
		}
		out[i].Absences = append(append([]config.Absence(nil), out[i].Absences...), *c.Absence)
	}
	return out, nil
}

// Roster returns base with every recorded change applied in order, leaving out those
// that cannot apply (as the agent does, which logs them).
func (r *Register) Roster(ctx context.Context, base []config.Resident, loc *time.Location) ([]config.Resident, error) {
	changes, err := r.Since(ctx, 0)
	if err != nil {
		return nil, err
	}
	roster := base
	for _, c := range changes {
		if next, err := Apply(roster, c, loc); err == nil {
			roster = next
		}
	}
	return roster, nil
}
