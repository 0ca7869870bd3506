// Package eventindex keeps a searchable index of the agent's journal, and the alarm
// view built on it, in a SQLite file of its own for the agent's HTTP console.
//
// The index is derived data: every row comes from a journal entry, and the whole file
// can be deleted and rebuilt at any time. Run catches up from the last indexed seq to
// the journal's end and then follows new entries; it batches entries into
// transactions, so catching up on a large journal is quick, and records how far it got,
// so that a restart resumes there. If the journal no longer holds the entry the index
// last indexed (the index is ahead of it, or the entry differs: the journal was
// replaced), the index is emptied and rebuilt from seq 1.
//
// Every entry gets a row, including one that cannot be decoded or parsed: that row has
// type "" and is counted (Unparsed), and indexing carries on.
//
// An alarm is an entry whose type is one of AlarmTypes. An alarm is acknowledged by a
// journaled event of type AckType whose info names it ({"alarm": seq, "by": name,
// "note": text}); the index links the first acknowledgement of each alarm to it when it
// indexes the acknowledgement.
package eventindex

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apedge/apedge/agent/journal"
	"github.com/apedge/apedge/internal/sqlitedb"
)

// AckType is the type of the event that acknowledges an alarm. Its info is
// {"alarm": <seq of the alarm>, "by": "<who>", "note": "<why>"}.
const AckType = "alarm.acknowledged"

// AlarmTypes are the event types that are alarms: what the console lists for staff to
// acknowledge. Open snapshots it; an index opened with a different list re-marks its
// rows.
var AlarmTypes = []string{
	"door.forced",
	"door.held-open",
	"door.tailgate",
	"door.tampered",
	"door.alarm",
	"reader.offline",
	"reader.secure-channel-failed",
	"curfew.breached",
	"curfew.absent",
	"presence.inconsistent",
	"agent.clock-unsynced",
	"agent.disk-low",
	AckRefusedType,
	DeviceRefusedType,
	CommandUnorderedType,
	"bridge.messages-lost",
	"camera.offline",
	"camera.auth-failed",
	"camera.stalled",
	"camera.frozen",
	"camera.degraded",
	"substance.reading-unbound",
	"biometric.deletion-overdue",
	"biometric.orphan-slot",
	"biometric.verification-failed",
	"bwc.overdue",
	"bwc.offload-failed",
	"bwc.removed-unissued",
}

// ErrNotFound is returned by Alarm when seq is not an indexed alarm.
var ErrNotFound = errors.New("eventindex: not found")

// SubscriberBuffer is the number of summaries a subscriber may fall behind by before it
// is closed.
const SubscriberBuffer = 1024

// Batch sizes: how many entries, and envelope bytes, Run reads from the journal and
// commits in one transaction.
const (
	batchEntries = 1024
	batchBytes   = 2 << 20
)

// Index is an open event index. Its methods are safe for concurrent use; Run must be
// running for it to stay current.
type Index struct {
	db     *sql.DB
	j      *journal.Journal
	log    *slog.Logger
	loc    *time.Location
	path   string
	alarms map[string]bool // snapshot of AlarmTypes

	indexed  atomic.Uint64 // last seq indexed
	unparsed atomic.Uint64 // rows with type "": entries that could not be parsed
	lagged   atomic.Uint64 // subscribers closed for falling behind
	running  atomic.Bool   // Run is running

	subMu  sync.Mutex
	subs   map[*subscriber]struct{}
	closed bool
}

// Path is where the index of an agent whose journal is database lives: index.db beside
// it.
func Path(database string) string { return filepath.Join(filepath.Dir(database), "index.db") }

// Open opens, creating if needed with mode 0600, the index at path for journal j. log
// nil means slog.Default(). The index is not brought up to date until Run runs.
func Open(ctx context.Context, path string, j *journal.Journal, log *slog.Logger) (_ *Index, err error) {
	if j == nil {
		return nil, errors.New("eventindex: open: no journal")
	}
	if log == nil {
		log = slog.Default()
	}
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		return nil, fmt.Errorf("eventindex: open: %w", err)
	}
	// SQLite creates its -wal and -shm files with the mode of the database file, so
	// creating that as 0600 (and tightening any left by an older version) keeps all
	// three private.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("eventindex: open: %w", err)
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(p, 0o600); err != nil && (p == path || !errors.Is(err, fs.ErrNotExist)) {
			return nil, fmt.Errorf("eventindex: open: %w", err)
		}
	}
	db, err := sqlitedb.Open(ctx, path, migrations)
	if err != nil {
		return nil, fmt.Errorf("eventindex: open: %w", err)
	}
	defer func() {
		if err != nil {
			db.Close()
		}
	}()
	x := &Index{
		db:     db,
		j:      j,
		log:    log,
		loc:    loc,
		path:   path,
		alarms: make(map[string]bool, len(AlarmTypes)),
		subs:   make(map[*subscriber]struct{}),
	}
	for _, t := range AlarmTypes {
		x.alarms[t] = true
	}
	var indexed, unparsed int64
	var types string
	if err := db.QueryRowContext(ctx, `SELECT indexed, unparsed, alarmtypes FROM state WHERE id = 1`).Scan(&indexed, &unparsed, &types); err != nil {
		return nil, fmt.Errorf("eventindex: open %s: %w", path, err)
	}
	if want := alarmTypesKey(x.alarms); types != want {
		if err := x.remarkAlarms(ctx, want); err != nil {
			return nil, fmt.Errorf("eventindex: open %s: %w", path, err)
		}
	}
	x.indexed.Store(uint64(indexed))
	x.unparsed.Store(uint64(unparsed))
	log.Info("event index opened", "path", path, "indexed", indexed, "journal", j.Last())
	return x, nil
}

// Close closes every subscriber and the database. Call it after Run has returned.
func (x *Index) Close() error {
	x.subMu.Lock()
	if !x.closed {
		x.closed = true
		for s := range x.subs {
			close(s.ch)
			delete(x.subs, s)
		}
	}
	x.subMu.Unlock()
	if err := x.db.Close(); err != nil {
		return fmt.Errorf("eventindex: close: %w", err)
	}
	return nil
}

// Indexed returns the last seq indexed, 0 if none.
func (x *Index) Indexed() uint64 { return x.indexed.Load() }

// Unparsed returns how many indexed entries could not be decoded or parsed: the rows
// with type "".
func (x *Index) Unparsed() uint64 { return x.unparsed.Load() }

// Lagged returns how many subscribers have been closed for falling behind.
func (x *Index) Lagged() uint64 { return x.lagged.Load() }

// Run brings the index up to date with the journal and then follows it, indexing each
// new entry as the journal makes it durable, until ctx ends (it then returns nil) or
// the journal or the index fails (it returns the error; journal.ErrClosed once the
// journal is closed). Summaries are sent to subscribers once the catch-up at the start
// is done. Only one Run may run at a time.
func (x *Index) Run(ctx context.Context) error {
	if !x.running.CompareAndSwap(false, true) {
		return errors.New("eventindex: run: already running")
	}
	defer x.running.Store(false)
	err := x.run(ctx)
	if err != nil && ctx.Err() != nil {
		return nil
	}
	return err
}

func (x *Index) run(ctx context.Context) error {
	// Run writes on a connection of its own, tuned for bulk indexing: statement
	// journals in memory and synchronous=NORMAL (the page cache stays SQLite's 2 MB
	// default: the agent lives in 60 MB), since the index can
	// always be rebuilt and its progress commits in the same transaction as its rows
	// (a power cut may lose the last transactions, never make the rows and the
	// progress disagree).
	conn, err := x.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("eventindex: run: %w", err)
	}
	defer func() {
		// Hand the connection back to the pool as the others are.
		bg := context.Background()
		_, err1 := conn.ExecContext(bg, "PRAGMA synchronous = FULL")
		_, err2 := conn.ExecContext(bg, "PRAGMA cache_size = -2000")
		_, err3 := conn.ExecContext(bg, "PRAGMA temp_store = DEFAULT")
		if err1 != nil || err2 != nil || err3 != nil {
			conn.Raw(func(any) error { return driver.ErrBadConn }) // discard it
		}
		conn.Close()
	}()
	for _, p := range []string{"PRAGMA synchronous = NORMAL", "PRAGMA cache_size = -2000", "PRAGMA temp_store = MEMORY"} {
		if _, err := conn.ExecContext(ctx, p); err != nil {
			return fmt.Errorf("eventindex: run: %s: %w", p, err)
		}
	}
	if err := x.checkHead(ctx, conn); err != nil {
		return err
	}
	start := time.Now()
	from := x.indexed.Load()
	if err := x.drain(ctx, conn, false); err != nil {
		return err
	}
	if n := x.indexed.Load() - from; n > 0 {
		x.log.Info("event index caught up", "entries", n, "indexed", x.indexed.Load(), "took", time.Since(start).Round(time.Millisecond))
	}
	for {
		if _, err := x.j.Wait(ctx, x.indexed.Load()); err != nil {
			return fmt.Errorf("eventindex: run: %w", err)
		}
		if err := x.drain(ctx, conn, true); err != nil {
			return err
		}
	}
}

// checkHead makes sure the last entry indexed is still the journal's entry at that seq,
// and empties the index if not.
func (x *Index) checkHead(ctx context.Context, conn *sql.Conn) error {
	last := x.indexed.Load()
	if last == 0 {
		return nil
	}
	var tail []byte
	if err := conn.QueryRowContext(ctx, `SELECT tail FROM state WHERE id = 1`).Scan(&tail); err != nil {
		return fmt.Errorf("eventindex: read state: %w", err)
	}
	var why string
	if jl := x.j.Last(); last > jl {
		why = fmt.Sprintf("index is ahead of the journal (%d > %d)", last, jl)
	} else {
		es, err := x.j.Read(ctx, last, 1, 0)
		if err != nil {
			return fmt.Errorf("eventindex: %w", err)
		}
		if len(es) != 1 || es[0].Seq != last {
			why = fmt.Sprintf("journal has no entry %d", last)
		} else if h := sha256.Sum256(es[0].Envelope); string(h[:]) != string(tail) {
			why = fmt.Sprintf("journal entry %d differs from the one indexed", last)
		}
	}
	if why == "" {
		return nil
	}
	x.log.Warn("event index does not match the journal: rebuilding it", "path", x.path, "reason", why)
	return x.reset(ctx, conn)
}

// reset empties the index.
func (x *Index) reset(ctx context.Context, conn *sql.Conn) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("eventindex: reset: %w", err)
	}
	defer tx.Rollback()
	for _, q := range []string{
		`DELETE FROM acks`,
		`DELETE FROM entries`,
		`UPDATE state SET indexed = 0, tail = x'', unparsed = 0 WHERE id = 1`,
	} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("eventindex: reset: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("eventindex: reset: %w", err)
	}
	x.indexed.Store(0)
	x.unparsed.Store(0)
	return nil
}

// batch is a run of consecutive journal entries, summarized.
type batch struct {
	es   []journal.Entry
	ss   []Summary
	errs []error // per entry: why it could not be summarized
	err  error   // reading the journal failed
}

// drain indexes every journal entry past the last indexed, sending the summaries to
// subscribers if publish is set. While one batch commits, a goroutine reads and
// summarizes the next.
func (x *Index) drain(ctx context.Context, conn *sql.Conn, publish bool) error {
	rctx, cancel := context.WithCancel(ctx)
	ch := make(chan batch, 1)
	defer func() {
		cancel()
		for range ch {
		}
	}()
	go func() {
		defer close(ch)
		next := x.indexed.Load() + 1
		for {
			es, err := x.j.Read(rctx, next, batchEntries, batchBytes)
			var b batch
			switch {
			case err != nil:
				b.err = err
			case len(es) == 0:
				return
			default:
				b.es = es
				b.ss, b.errs = x.summarizeAll(es)
				next = es[len(es)-1].Seq + 1
			}
			select {
			case ch <- b:
			case <-rctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	for b := range ch {
		if b.err != nil {
			return fmt.Errorf("eventindex: %w", b.err)
		}
		if err := x.commit(ctx, conn, &b); err != nil {
			return err
		}
		if publish {
			x.publish(b.ss)
		}
	}
	return nil
}

// commit writes a batch in one transaction.
func (x *Index) commit(ctx context.Context, conn *sql.Conn, b *batch) error {
	last := x.indexed.Load()
	if b.es[0].Seq != last+1 {
		return fmt.Errorf("eventindex: journal gave seq %d after %d", b.es[0].Seq, last)
	}
	bad := uint64(0)
	for i, err := range b.errs {
		if err != nil {
			bad++
			x.log.Warn("journal entry not parsed: indexed with no type", "seq", b.es[i].Seq, "err", err)
		}
	}
	end := b.ss[len(b.ss)-1].Seq
	tail := sha256.Sum256(b.es[len(b.es)-1].Envelope)
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("eventindex: index: %w", err)
	}
	defer tx.Rollback()
	if err := x.insert(ctx, tx, b.ss); err != nil {
		return fmt.Errorf("eventindex: index %d..%d: %w", b.ss[0].Seq, end, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE state SET indexed = ?, tail = ?, unparsed = unparsed + ? WHERE id = 1`,
		int64(end), tail[:], int64(bad)); err != nil {
		return fmt.Errorf("eventindex: index: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("eventindex: index: %w", err)
	}
	x.indexed.Store(end)
	x.unparsed.Add(bad)
	return nil
}

// alarmTypesKey is the form of an alarm type set stored in state, to notice a change.
func alarmTypesKey(types map[string]bool) string {
	return strings.Join(slices.Sorted(maps.Keys(types)), ",")
}

// remarkAlarms marks every row for the current alarm types and records them.
func (x *Index) remarkAlarms(ctx context.Context, key string) error {
	tx, err := x.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("mark alarms: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE entries SET alarm = NULL WHERE alarm IS NOT NULL`); err != nil {
		return fmt.Errorf("mark alarms: %w", err)
	}
	for t := range x.alarms {
		if _, err := tx.ExecContext(ctx, `UPDATE entries SET alarm = CASE WHEN seq IN (SELECT alarm FROM acks) THEN 0 ELSE 1 END WHERE type = ?`, t); err != nil {
			return fmt.Errorf("mark alarms: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE state SET alarmtypes = ? WHERE id = 1`, key); err != nil {
		return fmt.Errorf("mark alarms: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("mark alarms: %w", err)
	}
	return nil
}
