package eventindex

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Search limits.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Query selects entries for Search. Its conditions are ANDed; a zero field does not
// restrict.
type Query struct {
	// Types are event types: an entry matches one that equals its type, or, for one
	// ending in ".*" such as "door.*", one whose prefix (up to and including the dot)
	// begins its type.
	Types []string
	// CRN matches an entry whose CRN or NOMS number is this.
	CRN string
	// From and To bound occurredAt, half-open: From <= occurredAt < To.
	From, To time.Time
	// After is where the previous page ended (the next value Search returned): only
	// entries past it in the order asked for are returned.
	After uint64
	// Limit is the most entries returned: DefaultLimit if zero or less, at most
	// MaxLimit.
	Limit int
	// Desc returns the newest (highest seq) first; otherwise the oldest first.
	Desc bool
}

// Search returns the entries q selects in seq order (descending if q.Desc), and next:
// the After of the following page, or 0 if there is none.
func (x *Index) Search(ctx context.Context, q Query) ([]Summary, uint64, error) {
	limit := clampLimit(q.Limit)
	var where []string
	var args []any
	if len(q.Types) > 0 {
		var or []string
		for _, t := range q.Types {
			if p, ok := strings.CutSuffix(t, "*"); ok && strings.HasSuffix(p, ".") {
				// "door." <= type < "door/": '/' follows '.'.
				or = append(or, "(type >= ? AND type < ?)")
				args = append(args, p, p[:len(p)-1]+"/")
			} else {
				or = append(or, "type = ?")
				args = append(args, t)
			}
		}
		where = append(where, "("+strings.Join(or, " OR ")+")")
	}
	if q.CRN != "" {
		where = append(where, "(crn = ? OR noms = ?)")
		args = append(args, q.CRN, q.CRN)
	}
	if !q.From.IsZero() {
		where = append(where, "at >= ?")
		args = append(args, atBound(q.From))
	}
	if !q.To.IsZero() {
		where = append(where, "at < ?")
		args = append(args, atBound(q.To))
	}
	order := "ASC"
	if q.Desc {
		order = "DESC"
		if q.After > 0 {
			where = append(where, "seq < ?")
			args = append(args, int64(q.After))
		}
	} else if q.After > 0 {
		where = append(where, "seq > ?")
		args = append(args, int64(q.After))
	}
	query := "SELECT " + summaryColumns + " FROM entries"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY seq " + order + " LIMIT " + strconv.Itoa(limit+1)
	rows, err := x.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("eventindex: search: %w", err)
	}
	defer rows.Close()
	var out []Summary
	for rows.Next() {
		var r summaryRow
		if err := rows.Scan(r.dest()...); err != nil {
			return nil, 0, fmt.Errorf("eventindex: search: %w", err)
		}
		s, err := r.summary(x.loc)
		if err != nil {
			return nil, 0, fmt.Errorf("eventindex: search: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("eventindex: search: %w", err)
	}
	var next uint64
	if len(out) > limit {
		out = out[:limit]
		next = out[limit-1].Seq
	}
	return out, next, nil
}

// Latest returns the last indexed entry of type typ (exact, or a ".*" prefix as in
// Query.Types), and false if there is none.
func (x *Index) Latest(ctx context.Context, typ string) (Summary, bool, error) {
	ss, _, err := x.Search(ctx, Query{Types: []string{typ}, Desc: true, Limit: 1})
	if err != nil || len(ss) == 0 {
		return Summary{}, false, err
	}
	return ss[0], true, nil
}

// Ack is the acknowledgement of an alarm.
type Ack struct {
	// By is who acknowledged it and Note what they said.
	By   string `json:"by"`
	Note string `json:"note"`
	// At is the acknowledgement event's occurredAt, in UTC.
	At time.Time `json:"at"`
	// Seq is the acknowledgement event's seq.
	Seq uint64 `json:"seq"`
}

// Alarm is an alarm entry and its acknowledgement, nil while it is open.
type Alarm struct {
	Summary
	Acknowledged *Ack `json:"acknowledged"`
}

// Alarms returns the newest alarms first: only the open (unacknowledged) ones if open
// is set, else all. limit is as Query.Limit.
func (x *Index) Alarms(ctx context.Context, open bool, limit int) ([]Alarm, error) {
	cond := "e.alarm IS NOT NULL"
	if open {
		cond = "e.alarm = 1"
	}
	return x.alarmQuery(ctx, cond+" ORDER BY e.seq DESC LIMIT ?", clampLimit(limit))
}

// Alarm returns the alarm with seq, or ErrNotFound if that is not an indexed alarm.
func (x *Index) Alarm(ctx context.Context, seq uint64) (Alarm, error) {
	as, err := x.alarmQuery(ctx, "e.seq = ? AND e.alarm IS NOT NULL", int64(seq))
	if err != nil {
		return Alarm{}, err
	}
	if len(as) == 0 {
		return Alarm{}, fmt.Errorf("eventindex: alarm %d: %w", seq, ErrNotFound)
	}
	return as[0], nil
}

func (x *Index) alarmQuery(ctx context.Context, cond string, args ...any) ([]Alarm, error) {
	rows, err := x.db.QueryContext(ctx, "SELECT "+prefixed("e.", summaryColumns)+
		", a.seq, a.by, a.at, a.note FROM entries e LEFT JOIN acks a ON a.alarm = e.seq WHERE "+cond, args...)
	if err != nil {
		return nil, fmt.Errorf("eventindex: alarms: %w", err)
	}
	defer rows.Close()
	var out []Alarm
	for rows.Next() {
		var r summaryRow
		var ackSeq sql.NullInt64
		var by, at, note sql.NullString
		if err := rows.Scan(append(r.dest(), &ackSeq, &by, &at, &note)...); err != nil {
			return nil, fmt.Errorf("eventindex: alarms: %w", err)
		}
		a := Alarm{}
		if a.Summary, err = r.summary(x.loc); err != nil {
			return nil, fmt.Errorf("eventindex: alarms: %w", err)
		}
		if ackSeq.Valid {
			t, err := time.Parse(atLayout, at.String)
			if err != nil {
				return nil, fmt.Errorf("eventindex: alarm %d: acknowledged at: %w", a.Seq, err)
			}
			a.Acknowledged = &Ack{By: by.String, Note: note.String, At: t, Seq: uint64(ackSeq.Int64)}
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("eventindex: alarms: %w", err)
	}
	return out, nil
}

func clampLimit(n int) int {
	switch {
	case n <= 0:
		return DefaultLimit
	case n > MaxLimit:
		return MaxLimit
	}
	return n
}

// atBound returns t as a bound on the at column. Stored times are in years 1..9999,
// so a time outside them becomes a bound below or above every stored one.
func atBound(t time.Time) string {
	t = t.UTC()
	switch y := t.Year(); {
	case y < 1:
		return "0"
	case y > 9999:
		return "A" // after every digit
	}
	return t.Format(atLayout)
}

// summaryColumns are the columns a summaryRow scans.
const summaryColumns = "seq, id, type, at, crn, noms, subject, data, summary"

func prefixed(p, cols string) string {
	return p + strings.ReplaceAll(cols, ", ", ", "+p)
}

// summaryRow is an entries row as scanned.
type summaryRow struct {
	seq                       int64
	id, typ                   string
	at, crn, noms, subj, data sql.NullString
	desc                      sql.NullString
}

func (r *summaryRow) dest() []any {
	return []any{&r.seq, &r.id, &r.typ, &r.at, &r.crn, &r.noms, &r.subj, &r.data, &r.desc}
}

func (r *summaryRow) summary(loc *time.Location) (Summary, error) {
	s := Summary{Seq: uint64(r.seq), ID: r.id, Type: r.typ, CRN: r.crn.String, NOMS: r.noms.String, Subject: r.subj.String, Description: r.desc.String}
	if r.at.Valid {
		t, err := time.Parse(atLayout, r.at.String)
		if err != nil {
			return Summary{}, fmt.Errorf("seq %d: occurredAt %q: %w", r.seq, r.at.String, err)
		}
		s.OccurredAt = t
		s.OccurredAtLocal = t.In(loc).Format(LocalLayout)
	}
	if r.data.Valid {
		s.Data = json.RawMessage(r.data.String)
	}
	return s, nil
}
