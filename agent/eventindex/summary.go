package eventindex

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apedge/apedge/agent/journal"
	"github.com/apedge/apedge/formats/envelope"
	"github.com/apedge/apedge/formats/event"
)

// LocalLayout formats Summary.OccurredAtLocal, in Europe/London.
const LocalLayout = "2006-01-02 15:04:05"

// atLayout is how occurredAt is stored: UTC, fixed width, so that text order is time
// order (years are kept to 1..9999).
const atLayout = "2006-01-02T15:04:05.000000000Z"

// The alarms raised at the site's trust boundaries: something on the site bus or the
// uplink that claimed to be what it was not. They are part of AlarmTypes.
const (
	// AckRefusedType: the forwarder refused a message on central's ack topic (a forged
	// or foreign ack, e.g. one claiming a seq beyond the journal). Info: cause, topic,
	// site, seq (claimed), last (the journal's), acked, refused (how many this stands for).
	AckRefusedType = "delivery.ack-refused"
	// DeviceRefusedType: the agent refused a device message (not from a configured
	// device of its class, a time far from the agent's, a card read naming no
	// configured reader). Info names the device and the reason.
	DeviceRefusedType = "device.refused"
	// CommandUnorderedType: a device reported the result of a command the agent never
	// ordered. Info names the device and the command.
	CommandUnorderedType = "command.unordered"
)

// describe returns the summary line of an entry of type typ whose event carries no
// description of its own: for the trust-boundary alarms, what happened and to which
// device or seq; "" for other types.
func describe(typ, subject string, info []byte) string {
	var f map[string]json.RawMessage
	if len(info) > 0 && info[0] == '{' {
		_ = json.Unmarshal(info, &f) // a bad info leaves f empty: the line still says what
	}
	val := func(keys ...string) string {
		for _, k := range keys {
			raw := bytes.TrimSpace(f[k])
			var v string
			switch {
			case len(raw) == 0:
			case raw[0] == '"':
				if json.Unmarshal(raw, &v) == nil && v != "" {
					return v
				}
			case raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9':
				return string(raw) // a number as written: a seq of 2^64-1 stays exact
			}
		}
		return ""
	}
	device := subject
	if device == "" {
		device = "an unnamed device"
	}
	switch typ {
	case AckRefusedType:
		line := "ack on central's topic refused"
		if c := val("cause"); c != "" {
			line += " (" + c + ")"
		}
		if seq := val("seq"); seq != "" {
			line += ": it claims seq " + seq
			if last := val("last"); last != "" {
				line += ", the journal's last is " + last
			}
		}
		if site := val("site"); site != "" {
			line += ", for site " + site
		}
		return line
	case DeviceRefusedType:
		line := "message refused from " + device
		if why := val("reason", "cause", "error"); why != "" {
			line += ": " + why
		}
		return line
	case CommandUnorderedType:
		line := "result of a command the agent never ordered, from " + device
		if cmd := val("command", "commandId", "id"); cmd != "" {
			line += ": " + cmd
		}
		return line
	}
	return ""
}

// Summary is one indexed journal entry, as Search returns it and subscribers receive it.
// An entry that could not be decoded or parsed has Type "" and only Seq (and ID, if it
// could be read) set.
type Summary struct {
	// Seq is the entry's seq in the journal.
	Seq uint64 `json:"seq"`
	// ID is the event id, "{site}-{seq}".
	ID string `json:"id"`
	// Type is the event type without event.TypePrefix, e.g. "door.forced".
	Type string `json:"type"`
	// OccurredAt is when the event happened, in UTC.
	OccurredAt time.Time `json:"occurredAt"`
	// OccurredAtLocal is OccurredAt in Europe/London, formatted with LocalLayout.
	OccurredAtLocal string `json:"occurredAtLocal"`
	// CRN and NOMS are the person's identifiers, if the event is about a person.
	CRN  string `json:"crn"`
	NOMS string `json:"noms"`
	// Subject is the door, reader or device the event is about, from its info ("door",
	// then "reader", then "device" or "device.id"); empty if none.
	Subject string `json:"subject"`
	// Description is the event's one-line human summary (data.description), if any.
	Description string `json:"summary,omitempty"`
	// Data is the event's info object (data.additionalInformation); nil if it has none.
	Data json.RawMessage `json:"data"`
}

// summarize turns the envelope of journal entry seq into its Summary. An envelope that
// does not decode, a payload that does not parse, or an event that is not seq's, is an
// error; the Summary returned with it still has Seq, and ID if the payload names one.
// It never panics.
func summarize(seq uint64, raw []byte, loc *time.Location) (Summary, error) {
	s := Summary{Seq: seq}
	env, err := envelope.Decode(raw)
	if err != nil {
		return s, fmt.Errorf("eventindex: seq %d: %w", seq, err)
	}
	ev, err := event.Parse(env.Payload)
	if err != nil {
		s.ID, _ = event.Claimed(env.Payload)
		return s, fmt.Errorf("eventindex: seq %d: %w", seq, err)
	}
	s.ID = ev.ID
	if ev.Seq != seq {
		return s, fmt.Errorf("eventindex: seq %d holds event seq %d", seq, ev.Seq)
	}
	at, err := time.Parse(time.RFC3339Nano, ev.Data.OccurredAt)
	if err != nil {
		return s, fmt.Errorf("eventindex: seq %d: occurredAt: %w", seq, err)
	}
	at = at.UTC()
	if y := at.Year(); y < 1 || y > 9999 {
		return s, fmt.Errorf("eventindex: seq %d: occurredAt year %d outside 1..9999", seq, y)
	}
	s.Type = strings.TrimPrefix(ev.Type, event.TypePrefix)
	s.Description = ev.Data.Description
	s.OccurredAt = at
	s.OccurredAtLocal = at.In(loc).Format(LocalLayout)
	if p := ev.Data.PersonReference; p != nil {
		for _, id := range p.Identifiers {
			switch {
			case id.Type == "CRN" && s.CRN == "":
				s.CRN = id.Value
			case id.Type == "NOMS" && s.NOMS == "":
				s.NOMS = id.Value
			}
		}
	}
	if info := bytes.TrimSpace(ev.Data.AdditionalInformation); len(info) > 0 && string(info) != "null" {
		s.Data = json.RawMessage(info)
		s.Subject = subject(info)
	}
	if s.Description == "" {
		s.Description = describe(s.Type, s.Subject, s.Data)
	}
	return s, nil
}

// subject returns the door, reader or device an event's info names, or "".
func subject(info []byte) string {
	if len(info) == 0 || info[0] != '{' {
		return ""
	}
	var f struct {
		Door, Reader, Device json.RawMessage
	}
	if json.Unmarshal(info, &f) != nil {
		return ""
	}
	for _, raw := range []json.RawMessage{f.Door, f.Reader, f.Device} {
		var v string
		if json.Unmarshal(raw, &v) == nil && v != "" {
			return v
		}
	}
	var dev struct{ ID json.RawMessage }
	if json.Unmarshal(f.Device, &dev) == nil {
		var v string
		if json.Unmarshal(dev.ID, &v) == nil {
			return v
		}
	}
	return ""
}

// ack is an acknowledgement's info.
type ack struct {
	alarm    uint64
	by, note string
}

// parseAck reads the info of an AckType event.
func parseAck(info []byte) (ack, error) {
	var f struct {
		Alarm    json.RawMessage
		By, Note string
	}
	if err := json.Unmarshal(info, &f); err != nil {
		return ack{}, err
	}
	// A seq as a number, or a string of digits.
	raw := f.Alarm
	var s string
	if json.Unmarshal(raw, &s) == nil {
		raw = json.RawMessage(s)
	}
	n, err := strconv.ParseUint(string(raw), 10, 64)
	if err != nil || n == 0 {
		return ack{}, errors.New(`no "alarm" seq`)
	}
	return ack{alarm: n, by: f.By, note: f.Note}, nil
}

// summarizeAll summarizes a batch, in parallel when it is big enough to be worth it.
func (x *Index) summarizeAll(es []journal.Entry) ([]Summary, []error) {
	ss := make([]Summary, len(es))
	errs := make([]error, len(es))
	one := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			ss[i], errs[i] = summarize(es[i].Seq, es[i].Envelope, x.loc)
		}
	}
	const perWorker = 256
	workers := min(runtime.GOMAXPROCS(0), (len(es)+perWorker-1)/perWorker)
	if workers <= 1 {
		one(0, len(es))
		return ss, errs
	}
	var wg sync.WaitGroup
	step := (len(es) + workers - 1) / workers
	for lo := 0; lo < len(es); lo += step {
		wg.Go(func() { one(lo, min(lo+step, len(es))) })
	}
	wg.Wait()
	return ss, errs
}

// insertRows is the most rows one INSERT carries.
const insertRows = 64

func insertSQL(rows int) string {
	return "INSERT INTO entries (seq, id, type, at, crn, noms, subject, data, alarm, summary) VALUES " +
		strings.TrimSuffix(strings.Repeat("(?,?,?,?,?,?,?,?,?,?),", rows), ",")
}

// insert writes the rows of ss, in seq order, in tx, and links acknowledgements.
func (x *Index) insert(ctx context.Context, tx *sql.Tx, ss []Summary) error {
	var stmts [2]*sql.Stmt // [0] one row, [1] insertRows rows
	defer func() {
		for _, s := range stmts {
			if s != nil {
				s.Close()
			}
		}
	}()
	stmt := func(k, rows int) (*sql.Stmt, error) {
		if stmts[k] == nil {
			s, err := tx.PrepareContext(ctx, insertSQL(rows))
			if err != nil {
				return nil, err
			}
			stmts[k] = s
		}
		return stmts[k], nil
	}
	args := make([]any, 0, 10*insertRows)
	for i := 0; i < len(ss); {
		n := 1
		if len(ss)-i >= insertRows && !hasAck(ss[i:i+insertRows]) {
			n = insertRows
		}
		s, err := stmt(min(n-1, 1), n)
		if err != nil {
			return err
		}
		args = args[:0]
		for _, r := range ss[i : i+n] {
			args = x.rowArgs(args, &r)
		}
		if _, err := s.ExecContext(ctx, args...); err != nil {
			return err
		}
		if n == 1 && ss[i].Type == AckType {
			if err := x.link(ctx, tx, &ss[i]); err != nil {
				return err
			}
		}
		i += n
	}
	return nil
}

func hasAck(ss []Summary) bool {
	for i := range ss {
		if ss[i].Type == AckType {
			return true
		}
	}
	return false
}

// rowArgs appends the column values of s.
func (x *Index) rowArgs(args []any, s *Summary) []any {
	var at any
	if !s.OccurredAt.IsZero() {
		at = s.OccurredAt.UTC().Format(atLayout)
	}
	var alarm any
	if s.Type != "" && x.alarms[s.Type] {
		alarm = 1
	}
	var data any
	if s.Data != nil {
		data = string(s.Data)
	}
	return append(args, int64(s.Seq), s.ID, s.Type, at, nullable(s.CRN), nullable(s.NOMS), nullable(s.Subject), data, alarm, nullable(s.Description))
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// link records the acknowledgement s of an earlier entry. The first acknowledgement of
// an entry is the one kept; one that names no earlier entry is logged and left
// unlinked.
func (x *Index) link(ctx context.Context, tx *sql.Tx, s *Summary) error {
	a, err := parseAck(s.Data)
	if err != nil {
		x.log.Warn("alarm acknowledgement not linked", "seq", s.Seq, "err", err)
		return nil
	}
	if a.alarm >= s.Seq {
		x.log.Warn("alarm acknowledgement not linked: it names a later entry", "seq", s.Seq, "alarm", a.alarm)
		return nil
	}
	var typ string
	var alarm sql.NullInt64
	err = tx.QueryRowContext(ctx, `SELECT type, alarm FROM entries WHERE seq = ?`, int64(a.alarm)).Scan(&typ, &alarm)
	if errors.Is(err, sql.ErrNoRows) {
		x.log.Warn("alarm acknowledgement not linked: no such entry", "seq", s.Seq, "alarm", a.alarm)
		return nil
	}
	if err != nil {
		return err
	}
	if !alarm.Valid {
		x.log.Warn("acknowledgement of an entry that is not an alarm", "seq", s.Seq, "entry", a.alarm, "type", typ)
	}
	if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO acks (alarm, seq, by, at, note) VALUES (?, ?, ?, ?, ?)`,
		int64(a.alarm), int64(s.Seq), a.by, s.OccurredAt.UTC().Format(atLayout), a.note); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE entries SET alarm = 0 WHERE seq = ? AND alarm = 1`, int64(a.alarm))
	return err
}
