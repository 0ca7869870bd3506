package central

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"time"

	"github.com/apedge/apedge/sitekey"
	"github.com/apedge/apedge/sqlitedb"
)

// migrations are the store's versioned, forward-only schema changes; append only.
//
// Invariant kept by the writer: a site's stored events are exactly seqs 1..heads.seq,
// and heads.hash is the payload hash of the last.
func migrations() []string {
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
	}
}

const (
	sqlInsertEvent = `INSERT INTO events (site, seq, id, source, payload_hash, envelope, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)`
	sqlLookupEvent = `SELECT payload_hash FROM events WHERE source = ? AND id = ?`
	sqlUpsertHead  = `INSERT INTO heads (site, seq, hash, updated_at) VALUES (?, ?, ?, ?)
ON CONFLICT (site) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, updated_at = excluded.updated_at`
	sqlInsertAlarm = `INSERT INTO alarms (at, site, seq, reason, detail, evidence) VALUES (?, ?, ?, ?, ?, ?)`
)

// loadHeads reads every site's head.
func loadHeads(ctx context.Context, db *sql.DB) (map[string]*siteState, error) {
	rows, err := db.QueryContext(ctx, `SELECT site, seq, hash FROM heads`)
	if err != nil {
		return nil, fmt.Errorf("read heads: %w", err)
	}
	defer rows.Close()
	sites := map[string]*siteState{}
	for rows.Next() {
		var (
			site string
			seq  int64
			hash []byte
		)
		if err := rows.Scan(&site, &seq, &hash); err != nil {
			return nil, fmt.Errorf("read heads: %w", err)
		}
		if seq < 0 || len(hash) != 32 {
			return nil, fmt.Errorf("read heads: site %s: bad head (seq %d, %d-byte hash)", site, seq, len(hash))
		}
		st := &siteState{site: site, head: uint64(seq)}
		copy(st.hash[:], hash)
		sites[site] = st
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read heads: %w", err)
	}
	return sites, nil
}

func queryAlarms(ctx context.Context, db *sql.DB, site string) ([]Alarm, error) {
	q := `SELECT id, at, site, seq, reason, detail, evidence FROM alarms`
	var args []any
	if site != "" {
		q += ` WHERE site = ?`
		args = append(args, site)
	}
	rows, err := db.QueryContext(ctx, q+` ORDER BY id`, args...)
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
// order, and returns how many it wrote. It opens the store at dbPath read-only, so it
// works while a Receiver is writing it; it exports the events committed when it starts.
// The output is what package verify checks.
func Export(ctx context.Context, dbPath, site string, w io.Writer) (int, error) {
	if !sitekey.ValidSiteCode(site) {
		return 0, fmt.Errorf("central: export: site code %q is not valid", site)
	}
	db, err := sqlitedb.OpenReadOnly(ctx, dbPath)
	if err != nil {
		return 0, fmt.Errorf("central: export: %w", err)
	}
	defer db.Close()
	// One read transaction: a consistent snapshot even while the writer commits.
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return 0, fmt.Errorf("central: export %s: %w", site, err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT seq, envelope FROM events WHERE site = ? ORDER BY seq`, site)
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

// StoredCount returns how many events the store at dbPath holds for site, or for all
// sites if site is "". It opens the store read-only and reads the heads, which the
// receiver keeps equal to each site's stored count (seqs 1..head).
func StoredCount(ctx context.Context, dbPath, site string) (int64, error) {
	db, err := sqlitedb.OpenReadOnly(ctx, dbPath)
	if err != nil {
		return 0, fmt.Errorf("central: stored count: %w", err)
	}
	defer db.Close()
	q, args := `SELECT COALESCE(SUM(seq), 0) FROM heads`, []any(nil)
	if site != "" {
		q += ` WHERE site = ?`
		args = append(args, site)
	}
	var n int64
	if err := db.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("central: stored count: %w", err)
	}
	return n, nil
}
