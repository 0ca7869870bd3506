package central

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/apedge/apedge/formats/envelope"
	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/sitekey"
	"github.com/apedge/apedge/internal/sqlitedb"
)

// The store is SQLite (one file, one machine) or PostgreSQL (any number of receivers).
// Both hold the same tables, written by the same code: the SQL is written once with ?
// placeholders and rebound to $n for PostgreSQL, and only the schema (BLOB or BYTEA,
// how an id is generated) and row locking differ, in dialect.
//
// Invariants the writer keeps, whichever receiver writes:
//   - a site's stored events are exactly seqs 1..heads.seq, and heads.hash is the
//     payload hash of the last;
//   - held holds verified envelopes of seqs beyond heads.seq+1, heads.held counts them,
//     and heads.gap_since is set while any are held (when the open gap was detected);
//   - whoever changes a site's events, held envelopes or head first locks its heads row
//     (SELECT ... FOR UPDATE; SQLite's write transactions are exclusive anyway) and reads
//     it again, so the head a receiver extends is always the committed one.

// dialect is what differs between the store's databases.
type dialect struct {
	name string
	// forUpdate locks the rows a SELECT reads until the transaction ends; skipLocked
	// does so too but skips rows other transactions hold ("": not supported, and not
	// needed: a write transaction excludes every other).
	forUpdate, skipLocked string
	// migrations are the schema's versioned, forward-only changes; append only.
	migrations []string
	// rebind turns a query's ? placeholders into the dialect's.
	rebind func(string) string
	// prepare: the writer prepares its statements in each transaction; otherwise the
	// driver prepares and caches them itself (pgx, per connection).
	prepare bool
}

var sqliteDialect = &dialect{
	name:       "sqlite",
	forUpdate:  "", // BEGIN IMMEDIATE (sqlitedb) already excludes every other writer
	migrations: sqliteMigrations(),
	rebind:     func(q string) string { return q },
	prepare:    true,
}

var postgresDialect = &dialect{
	name:       "postgres",
	forUpdate:  " FOR UPDATE",
	skipLocked: " FOR UPDATE SKIP LOCKED",
	migrations: postgresMigrations(),
	rebind:     rebindDollar,
}

// rebindDollar rewrites ? placeholders as $1, $2...; the store's queries hold no ? in
// literals.
func rebindDollar(q string) string {
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// sqliteMigrations are the SQLite schema. The first is the original store; the second
// adds the held table, the gap and held state of each head, and the columns and indexes
// that queries across sites use (filled for older events by backfill).
func sqliteMigrations() []string {
	return []string{
		`CREATE TABLE events (
	site         TEXT    NOT NULL,
	seq          INTEGER NOT NULL CHECK (seq >= 1),
	id           TEXT    NOT NULL,
	source       TEXT    NOT NULL,
	payload_hash BLOB    NOT NULL CHECK (length(payload_hash) = 32),
	envelope     BLOB    NOT NULL, -- exactly as received
	received_at  TEXT    NOT NULL, -- RFC 3339, UTC
	PRIMARY KEY (site, seq),
	UNIQUE (source, id)
);
CREATE TABLE heads (
	site       TEXT    PRIMARY KEY,
	seq        INTEGER NOT NULL, -- highest contiguous stored seq
	hash       BLOB    NOT NULL, -- its payload hash
	updated_at TEXT    NOT NULL
);
CREATE TABLE alarms (
	id       INTEGER PRIMARY KEY,
	at       TEXT    NOT NULL,
	site     TEXT    NOT NULL, -- '' if the topic named no site
	seq      INTEGER,          -- NULL if not known
	reason   TEXT    NOT NULL,
	detail   TEXT    NOT NULL,
	evidence BLOB              -- the offending bytes as received
);
CREATE INDEX alarms_by_site ON alarms (site, id);`,
		`ALTER TABLE events ADD COLUMN type        TEXT; -- CloudEvents type
ALTER TABLE events ADD COLUMN occurred_at TEXT; -- data.occurredAt, UTC, fixed width (timeKey)
ALTER TABLE events ADD COLUMN crn         TEXT; -- data.personReference CRN, if any
ALTER TABLE events ADD COLUMN noms        TEXT; -- data.personReference NOMS number, if any
ALTER TABLE heads ADD COLUMN held        INTEGER NOT NULL DEFAULT 0; -- rows in held
ALTER TABLE heads ADD COLUMN gap_since   TEXT;    -- open gap detected at (timeKey)
ALTER TABLE heads ADD COLUMN gap_alarmed INTEGER NOT NULL DEFAULT 0;
CREATE TABLE held (
	site         TEXT    NOT NULL,
	seq          INTEGER NOT NULL,
	id           TEXT    NOT NULL,
	source       TEXT    NOT NULL,
	payload_hash BLOB    NOT NULL,
	prev_hash    BLOB    NOT NULL,
	envelope     BLOB    NOT NULL,
	received_at  TEXT    NOT NULL, -- timeKey
	type         TEXT    NOT NULL,
	occurred_at  TEXT    NOT NULL,
	crn          TEXT,
	noms         TEXT,
	PRIMARY KEY (site, seq)
);
` + eventIndexes,
		// The sites' Merkle logs (merkle.go): tlog's stored hashes, and the verified
		// signed checkpoints.
		`CREATE TABLE tlog (
	site TEXT    NOT NULL,
	idx  INTEGER NOT NULL CHECK (idx >= 0),
	hash BLOB    NOT NULL CHECK (length(hash) = 32),
	PRIMARY KEY (site, idx)
);
CREATE TABLE checkpoints (
	site        TEXT    NOT NULL,
	size        INTEGER NOT NULL CHECK (size >= 1),
	seq         INTEGER NOT NULL, -- the log.checkpoint event carrying it
	root        BLOB    NOT NULL CHECK (length(root) = 32),
	note        TEXT    NOT NULL, -- the signed note, as the site signed it
	key_id      TEXT    NOT NULL,
	verified_at TEXT    NOT NULL,
	PRIMARY KEY (site, size)
);`,
	}
}

// eventIndexes serve queries across sites (query.go); shared by both dialects.
const eventIndexes = `CREATE INDEX events_by_time ON events (occurred_at);
CREATE INDEX events_by_site ON events (site, occurred_at);
CREATE INDEX events_by_type ON events (type, occurred_at);
CREATE INDEX events_by_crn ON events (crn, occurred_at) WHERE crn IS NOT NULL;
CREATE INDEX events_by_noms ON events (noms, occurred_at) WHERE noms IS NOT NULL;`

// postgresMigrations are the PostgreSQL schema, the same tables as SQLite's.
func postgresMigrations() []string {
	return []string{
		`CREATE TABLE events (
	site         TEXT   NOT NULL,
	seq          BIGINT NOT NULL CHECK (seq >= 1),
	id           TEXT   NOT NULL,
	source       TEXT   NOT NULL,
	payload_hash BYTEA  NOT NULL CHECK (octet_length(payload_hash) = 32),
	envelope     BYTEA  NOT NULL, -- exactly as received
	received_at  TEXT   NOT NULL, -- RFC 3339, UTC (timeKey)
	type         TEXT,
	occurred_at  TEXT,
	crn          TEXT,
	noms         TEXT,
	PRIMARY KEY (site, seq),
	UNIQUE (source, id)
);
CREATE TABLE heads (
	site        TEXT    PRIMARY KEY,
	seq         BIGINT  NOT NULL,
	hash        BYTEA   NOT NULL,
	updated_at  TEXT    NOT NULL,
	held        BIGINT  NOT NULL DEFAULT 0,
	gap_since   TEXT,
	gap_alarmed INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE held (
	site         TEXT   NOT NULL,
	seq          BIGINT NOT NULL,
	id           TEXT   NOT NULL,
	source       TEXT   NOT NULL,
	payload_hash BYTEA  NOT NULL,
	prev_hash    BYTEA  NOT NULL,
	envelope     BYTEA  NOT NULL,
	received_at  TEXT   NOT NULL,
	type         TEXT   NOT NULL,
	occurred_at  TEXT   NOT NULL,
	crn          TEXT,
	noms         TEXT,
	PRIMARY KEY (site, seq)
);
CREATE TABLE alarms (
	id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at       TEXT   NOT NULL,
	site     TEXT   NOT NULL,
	seq      BIGINT,
	reason   TEXT   NOT NULL,
	detail   TEXT   NOT NULL,
	evidence BYTEA
);
CREATE INDEX alarms_by_site ON alarms (site, id);
` + eventIndexes,
		`CREATE TABLE tlog (
	site TEXT   NOT NULL,
	idx  BIGINT NOT NULL CHECK (idx >= 0),
	hash BYTEA  NOT NULL CHECK (octet_length(hash) = 32),
	PRIMARY KEY (site, idx)
);
CREATE TABLE checkpoints (
	site        TEXT   NOT NULL,
	size        BIGINT NOT NULL CHECK (size >= 1),
	seq         BIGINT NOT NULL,
	root        BYTEA  NOT NULL CHECK (octet_length(root) = 32),
	note        TEXT   NOT NULL,
	key_id      TEXT   NOT NULL,
	verified_at TEXT   NOT NULL,
	PRIMARY KEY (site, size)
);`,
	}
}

// The store's statements, written with ? placeholders (see dialect.rebind).
const (
	// sqlInsertEvents and sqlInsertHelds take VALUES rows (valuesSQL).
	sqlInsertEvents = `INSERT INTO events (site, seq, id, source, payload_hash, envelope, received_at, type, occurred_at, crn, noms) VALUES `
	sqlInsertHelds  = `INSERT INTO held (site, seq, id, source, payload_hash, prev_hash, envelope, received_at, type, occurred_at, crn, noms) VALUES `
	// sqlMoveHeld stores a run of held envelopes as events.
	sqlMoveHeld = `INSERT INTO events (site, seq, id, source, payload_hash, envelope, received_at, type, occurred_at, crn, noms)
SELECT site, seq, id, source, payload_hash, envelope, received_at, type, occurred_at, crn, noms
FROM held WHERE site = ? AND seq >= ? AND seq <= ?`
	sqlLockHead   = `SELECT seq, hash, held, gap_since, gap_alarmed FROM heads WHERE site = ?`
	sqlCreateHead = `INSERT INTO heads (site, seq, hash, updated_at) VALUES (?, 0, ?, ?) ON CONFLICT (site) DO NOTHING`
	sqlUpdateHead = `UPDATE heads SET seq = ?, hash = ?, held = ?, gap_since = ?, gap_alarmed = ?, updated_at = ? WHERE site = ?`
	sqlLookupHeld = `SELECT payload_hash FROM held WHERE site = ? AND seq = ?`
	sqlNextHeld   = `SELECT seq, id, source, payload_hash, prev_hash, envelope, received_at, type, occurred_at, crn, noms
FROM held WHERE site = ? AND seq > ? ORDER BY seq LIMIT ?`
	sqlDeleteHeldTo = `DELETE FROM held WHERE site = ? AND seq <= ?`
	sqlDeleteHeld   = `DELETE FROM held WHERE site = ? AND seq = ?`
	sqlLowestHeld   = `SELECT seq, envelope FROM held WHERE site = ? ORDER BY seq LIMIT 1`
	sqlDueGaps      = `SELECT site FROM heads WHERE held > 0 AND gap_alarmed = 0 AND gap_since <= ? ORDER BY site`
	sqlInsertAlarm  = `INSERT INTO alarms (at, site, seq, reason, detail, evidence) VALUES (?, ?, ?, ?, ?, ?)`
	sqlReadHeads    = `SELECT site, seq, hash, held FROM heads`
)

// store is an open database and its dialect.
type store struct {
	db   *sql.DB
	d    *dialect
	name string // for logs: the file, or the server and database (never a password)
}

// q returns query in the store's dialect.
func (s *store) q(query string) string { return s.d.rebind(query) }

// IsPostgres reports whether a store address (Options.Path, config's database) is a
// PostgreSQL URL rather than an SQLite file.
func IsPostgres(addr string) bool {
	return strings.HasPrefix(addr, "postgres://") || strings.HasPrefix(addr, "postgresql://")
}

// openStore opens the store at addr, creating or migrating its schema.
func openStore(ctx context.Context, addr string) (*store, error) {
	if !IsPostgres(addr) {
		db, err := sqlitedb.Open(ctx, addr, sqliteDialect.migrations)
		if err != nil {
			return nil, err
		}
		s := &store{db: db, d: sqliteDialect, name: addr}
		if err := s.backfill(ctx); err != nil {
			db.Close()
			return nil, err
		}
		if err := s.backfillTrees(ctx); err != nil {
			db.Close()
			return nil, err
		}
		return s, nil
	}
	s, err := openPostgres(addr, false)
	if err != nil {
		return nil, err
	}
	if err := s.migratePostgres(ctx); err != nil {
		s.db.Close()
		return nil, err
	}
	return s, nil
}

// openReadOnly opens an existing store for reading, e.g. to export from a store a
// receiver is writing.
func openReadOnly(ctx context.Context, addr string) (*store, error) {
	if !IsPostgres(addr) {
		db, err := sqlitedb.OpenReadOnly(ctx, addr)
		if err != nil {
			return nil, err
		}
		return &store{db: db, d: sqliteDialect, name: addr}, nil
	}
	s, err := openPostgres(addr, true)
	if err != nil {
		return nil, err
	}
	if err := s.db.PingContext(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	return s, nil
}

// openPostgres opens a pool of connections to the PostgreSQL database at dsn through
// pgx's database/sql driver, read-only if readOnly. The password comes from the URL's
// passfile (or the environment pgx reads); configuration refuses one written in the URL.
func openPostgres(dsn string, readOnly bool) (*store, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if readOnly {
		cfg.RuntimeParams["default_transaction_read_only"] = "on"
	}
	// A receiver cut off mid-transaction (a partition, not a crash, which closes its
	// connection) must not hold its sites' heads locked for long: the server ends its
	// transaction, nothing in it having been acknowledged, and the sites resend.
	cfg.RuntimeParams["idle_in_transaction_session_timeout"] = "60s"
	name := "postgres://" + cfg.Host + ":" + strconv.Itoa(int(cfg.Port)) + "/" + cfg.Database
	db := stdlib.OpenDB(*cfg)
	// One writer, the HTTP queries and the announcements: a few connections suffice,
	// and several receivers share the server's max_connections.
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(4)
	db.SetConnMaxIdleTime(5 * time.Minute)
	return &store{db: db, d: postgresDialect, name: name}, nil
}

// pgMigrationLock is the advisory lock key that serialises receivers migrating one
// PostgreSQL database at the same time.
const pgMigrationLock = 0x617065646765 // "apedge"

// migratePostgres applies, in one transaction under an advisory lock, every migration
// past the version recorded in schema_version. Like sqlitedb's, migrations are
// forward-only: a newer schema is refused.
func (s *store) migratePostgres(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: migrate: %w", s.name, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(pgMigrationLock)); err != nil {
		return fmt.Errorf("%s: migrate: lock: %w", s.name, err)
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("%s: migrate: %w", s.name, err)
	}
	var v int
	switch err := tx.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v); {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (0)`); err != nil {
			return fmt.Errorf("%s: migrate: %w", s.name, err)
		}
	case err != nil:
		return fmt.Errorf("%s: migrate: read schema version: %w", s.name, err)
	}
	ms := s.d.migrations
	if v > len(ms) {
		return fmt.Errorf("%s: schema version %d is newer than this program knows (%d): upgrade apedge", s.name, v, len(ms))
	}
	for i := v; i < len(ms); i++ {
		if _, err := tx.ExecContext(ctx, ms[i]); err != nil {
			return fmt.Errorf("%s: migration %d: %w", s.name, i+1, err)
		}
	}
	if v < len(ms) {
		if _, err := tx.ExecContext(ctx, `UPDATE schema_version SET version = $1`, len(ms)); err != nil {
			return fmt.Errorf("%s: migrate: %w", s.name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: migrate: %w", s.name, err)
	}
	return nil
}

// backfill fills the query columns of events stored before they existed (SQLite stores
// from before migration 2), reading each event from its envelope.
func (s *store) backfill(ctx context.Context) error {
	for {
		rows, err := s.db.QueryContext(ctx, s.q(`SELECT site, seq, envelope FROM events WHERE type IS NULL LIMIT 1000`))
		if err != nil {
			return fmt.Errorf("backfill: %w", err)
		}
		type fill struct {
			site string
			seq  int64
			f    fields
		}
		var todo []fill
		for rows.Next() {
			var (
				x   fill
				env []byte
			)
			if err := rows.Scan(&x.site, &x.seq, &env); err != nil {
				rows.Close()
				return fmt.Errorf("backfill: %w", err)
			}
			d, err := envelope.Decode(env)
			if err != nil {
				rows.Close()
				return fmt.Errorf("backfill: %s seq %d: %w", x.site, x.seq, err)
			}
			ev, err := event.Parse(d.Payload)
			if err != nil {
				rows.Close()
				return fmt.Errorf("backfill: %s seq %d: %w", x.site, x.seq, err)
			}
			x.f = fieldsOf(ev)
			todo = append(todo, x)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("backfill: %w", err)
		}
		if len(todo) == 0 {
			return nil
		}
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("backfill: %w", err)
		}
		for _, x := range todo {
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE events SET type = ?, occurred_at = ?, crn = ?, noms = ? WHERE site = ? AND seq = ?`),
				x.f.typ, x.f.occurred, nullable(x.f.crn), nullable(x.f.noms), x.site, x.seq); err != nil {
				tx.Rollback()
				return fmt.Errorf("backfill: %w", err)
			}
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("backfill: %w", err)
		}
	}
}

// fields are what queries across sites select events by, read from the event when it
// is stored.
type fields struct {
	typ       string // CloudEvents type, with its prefix
	occurred  string // data.occurredAt as a timeKey
	crn, noms string // from data.personReference ("" if none)
}

func fieldsOf(ev *event.Event) fields {
	f := fields{typ: ev.Type}
	if t, err := time.Parse(time.RFC3339Nano, ev.Data.OccurredAt); err == nil {
		f.occurred = timeKey(t)
	}
	if p := ev.Data.PersonReference; p != nil {
		for _, id := range p.Identifiers {
			switch {
			case id.Type == "CRN" && f.crn == "":
				f.crn = id.Value
			case id.Type == "NOMS" && f.noms == "":
				f.noms = id.Value
			}
		}
	}
	return f
}

// timeKeyLayout writes instants in UTC with a fixed number of digits, so that stored
// times compare as text in the order of the instants.
const timeKeyLayout = "2006-01-02T15:04:05.000000000Z"

func timeKey(t time.Time) string { return t.UTC().Format(timeKeyLayout) }

func parseTimeKey(s string) (time.Time, error) { return time.Parse(timeKeyLayout, s) }

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// storedHead is a site's head as committed.
type storedHead struct {
	seq  uint64
	hash [32]byte
	held int64
}

// readHeads reads every site's committed head.
func (s *store) readHeads(ctx context.Context) (map[string]storedHead, error) {
	rows, err := s.db.QueryContext(ctx, s.q(sqlReadHeads))
	if err != nil {
		return nil, fmt.Errorf("read heads: %w", err)
	}
	defer rows.Close()
	out := map[string]storedHead{}
	for rows.Next() {
		var (
			site      string
			seq, held int64
			hash      []byte
		)
		if err := rows.Scan(&site, &seq, &hash, &held); err != nil {
			return nil, fmt.Errorf("read heads: %w", err)
		}
		if seq < 0 || len(hash) != 32 {
			return nil, fmt.Errorf("read heads: site %s: bad head (seq %d, %d-byte hash)", site, seq, len(hash))
		}
		h := storedHead{seq: uint64(seq), held: held}
		copy(h.hash[:], hash)
		out[site] = h
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read heads: %w", err)
	}
	return out, nil
}

func (s *store) queryAlarms(ctx context.Context, site string) ([]Alarm, error) {
	q := `SELECT id, at, site, seq, reason, detail, evidence FROM alarms`
	var args []any
	if site != "" {
		q += ` WHERE site = ?`
		args = append(args, site)
	}
	rows, err := s.db.QueryContext(ctx, s.q(q+` ORDER BY id`), args...)
	if err != nil {
		return nil, fmt.Errorf("central: alarms: %w", err)
	}
	defer rows.Close()
	var out []Alarm
	for rows.Next() {
		var (
			a      Alarm
			at     string
			seq    sql.NullInt64
			reason string
		)
		if err := rows.Scan(&a.ID, &at, &a.Site, &seq, &reason, &a.Detail, &a.Evidence); err != nil {
			return nil, fmt.Errorf("central: alarms: %w", err)
		}
		if a.Time, err = time.Parse(time.RFC3339Nano, at); err != nil {
			return nil, fmt.Errorf("central: alarm %d: time: %w", a.ID, err)
		}
		a.Seq, a.Reason = uint64(seq.Int64), Reason(reason)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("central: alarms: %w", err)
	}
	return out, nil
}

// Export writes site's stored envelopes to w exactly as received, one per line, in seq
// order, and returns how many it wrote. dbPath is the store as in Options.Path (an
// SQLite file, opened read-only, or a PostgreSQL URL), so it works while receivers are
// writing it; it exports the events committed when it starts. The output is what
// package verify checks.
func Export(ctx context.Context, dbPath, site string, w io.Writer) (int, error) {
	if !sitekey.ValidSiteCode(site) {
		return 0, fmt.Errorf("central: export: site code %q is not valid", site)
	}
	s, err := openReadOnly(ctx, dbPath)
	if err != nil {
		return 0, fmt.Errorf("central: export: %w", err)
	}
	defer s.db.Close()
	// One read transaction: a consistent snapshot even while writers commit (WAL in
	// SQLite; REPEATABLE READ in PostgreSQL).
	opts := &sql.TxOptions{ReadOnly: true}
	if s.d == postgresDialect {
		opts.Isolation = sql.LevelRepeatableRead
	}
	tx, err := s.db.BeginTx(ctx, opts)
	if err != nil {
		return 0, fmt.Errorf("central: export %s: %w", site, err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, s.q(`SELECT seq, envelope FROM events WHERE site = ? ORDER BY seq`), site)
	if err != nil {
		return 0, fmt.Errorf("central: export %s: %w", site, err)
	}
	defer rows.Close()
	bw := bufio.NewWriterSize(w, 64<<10)
	n := 0
	for rows.Next() {
		var (
			seq int64
			env sql.RawBytes
		)
		if err := rows.Scan(&seq, &env); err != nil {
			return n, fmt.Errorf("central: export %s: %w", site, err)
		}
		if seq != int64(n)+1 {
			return n, fmt.Errorf("central: export %s: store is not contiguous: seq %d after %d", site, seq, n)
		}
		bw.Write(env)
		if err := bw.WriteByte('\n'); err != nil {
			return n, fmt.Errorf("central: export %s: %w", site, err)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("central: export %s: %w", site, err)
	}
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("central: export %s: %w", site, err)
	}
	return n, nil
}

// StoredCount returns how many events the store at dbPath (as in Options.Path) holds
// for site, or for all sites if site is "". It reads the heads, which the receivers
// keep equal to each site's stored count (seqs 1..head).
func StoredCount(ctx context.Context, dbPath, site string) (int64, error) {
	s, err := openReadOnly(ctx, dbPath)
	if err != nil {
		return 0, fmt.Errorf("central: stored count: %w", err)
	}
	defer s.db.Close()
	q, args := `SELECT CAST(COALESCE(SUM(seq), 0) AS BIGINT) FROM heads`, []any(nil)
	if site != "" {
		q += ` WHERE site = ?`
		args = append(args, site)
	}
	var n int64
	if err := s.db.QueryRowContext(ctx, s.q(q), args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("central: stored count: %w", err)
	}
	return n, nil
}
