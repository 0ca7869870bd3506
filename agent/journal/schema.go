package journal

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"github.com/apedge/apedge/formats/envelope"
	"github.com/apedge/apedge/formats/event"
)

// migrations is the journal's schema, forward-only: append new versions, never edit
// old ones.
//
// entries holds one row per event: seq is the rowid; origin, when set, is unique (NULLs
// are distinct in SQLite); payload is the exact signed payload, sig the raw 64-byte
// Ed25519 signature over its DSSE PAE and key the signing key's row in keys, from which
// the envelope handed out is rebuilt byte for byte (see encodeEnvelope); hash is the SHA-256 of the payload (what the next
// event's prevhash names), so that chaining and the Merkle log need not hash payloads.
// keys names the site keys the entries were signed with, by key id; delivery is the
// one-row delivery cursor.
var migrations = []string{
	`CREATE TABLE keys (
	id    INTEGER PRIMARY KEY,
	keyid TEXT NOT NULL UNIQUE
);
CREATE TABLE entries (
	seq     INTEGER PRIMARY KEY CHECK (seq >= 1),
	origin  TEXT UNIQUE,
	payload BLOB NOT NULL,
	sig     BLOB NOT NULL,
	key     INTEGER NOT NULL REFERENCES keys (id),
	hash    BLOB NOT NULL
);
CREATE TABLE delivery (
	id        INTEGER PRIMARY KEY CHECK (id = 1),
	delivered INTEGER NOT NULL CHECK (delivered >= 0)
);
INSERT INTO delivery (id, delivered) VALUES (1, 0);`,
	// The Merkle log (merkle.go): tlog's stored hashes by index, and the tree's size.
	`CREATE TABLE tlog (
	idx  INTEGER PRIMARY KEY CHECK (idx >= 0),
	hash BLOB NOT NULL CHECK (length(hash) = 32)
);
CREATE TABLE tlog_size (
	id   INTEGER PRIMARY KEY CHECK (id = 1),
	size INTEGER NOT NULL CHECK (size >= 0)
);
INSERT INTO tlog_size (id, size) VALUES (1, 0);`,
}

// maxInsertRows is the most rows one INSERT statement carries. A run of rows is
// inserted with statements of power-of-two sizes up to it, all prepared at Open, so
// that per-statement overhead is paid once per up to maxInsertRows rows.
const (
	maxInsertRows = 1 << (insertSizes - 1)
	insertSizes   = 7 // 1, 2, 4, ... 64 rows
)

func insertSQL(rows int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO entries (seq, origin, payload, sig, key, hash) VALUES ")
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?,?,?)")
	}
	return b.String()
}

func lookupSQL(n int) string {
	return "SELECT origin, seq, payload, sig, key, hash FROM entries WHERE origin IN (?" + strings.Repeat(",?", n-1) + ")"
}

// lookupStmt returns the origin lookup for n origins, preparing it on first use. Only
// the sequencer calls it.
func (j *Journal) lookupStmt(n int) (*sql.Stmt, error) {
	if s := j.lookups[n-1]; s != nil {
		return s, nil
	}
	s, err := j.rdb.Prepare(lookupSQL(n))
	if err != nil {
		return nil, err
	}
	j.lookups[n-1] = s
	return s, nil
}

// prepare prepares the statements the journal uses on every call.
func (j *Journal) prepare(ctx context.Context) error {
	var err error
	prep := func(db *sql.DB, q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var s *sql.Stmt
		s, err = db.PrepareContext(ctx, q)
		return s
	}
	for k := range j.inserts {
		j.inserts[k] = prep(j.wdb, insertSQL(1<<k))
	}
	j.read = prep(j.rdb, `SELECT seq, payload, sig, key FROM entries WHERE seq >= ? ORDER BY seq LIMIT ?`)
	if err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	return nil
}

// recoverHead reads the chain head (last seq and its payload hash) and the delivery
// cursor, checking that the seqs are exactly 1..last and that the last row is
// consistent with itself and with site.
func recoverHead(ctx context.Context, db *sql.DB, site string) (last uint64, hash [32]byte, delivered uint64, err error) {
	var n, max int64
	if err := db.QueryRowContext(ctx, `SELECT count(*), coalesce(max(seq), 0) FROM entries`).Scan(&n, &max); err != nil {
		return 0, hash, 0, fmt.Errorf("read chain head: %w", err)
	}
	// seq is a unique integer >= 1, so count == max means exactly 1..max.
	if n != max {
		return 0, hash, 0, fmt.Errorf("seqs are not contiguous: %d entries but highest seq %d; the database is damaged, refusing to extend it", n, max)
	}
	var d int64
	if err := db.QueryRowContext(ctx, `SELECT delivered FROM delivery WHERE id = 1`).Scan(&d); err != nil {
		return 0, hash, 0, fmt.Errorf("read delivery cursor: %w", err)
	}
	if d > max {
		return 0, hash, 0, fmt.Errorf("delivery cursor %d is past the last seq %d; the database is damaged", d, max)
	}
	if max == 0 {
		return 0, event.GenesisHash, 0, nil
	}
	var payload, sig, h []byte
	if err := db.QueryRowContext(ctx, `SELECT payload, sig, hash FROM entries WHERE seq = ?`, max).Scan(&payload, &sig, &h); err != nil {
		return 0, hash, 0, fmt.Errorf("read seq %d: %w", max, err)
	}
	if len(h) != len(hash) {
		return 0, hash, 0, fmt.Errorf("seq %d: stored hash is %d bytes, want %d", max, len(h), len(hash))
	}
	if len(sig) != ed25519.SignatureSize {
		return 0, hash, 0, fmt.Errorf("seq %d: stored signature is %d bytes, want %d", max, len(sig), ed25519.SignatureSize)
	}
	copy(hash[:], h)
	if got := event.Hash(payload); !bytes.Equal(got[:], h) {
		return 0, hash, 0, fmt.Errorf("seq %d: stored hash does not match its payload", max)
	}
	ev, err := event.Parse(payload)
	if err != nil {
		return 0, hash, 0, fmt.Errorf("seq %d: %w", max, err)
	}
	switch {
	case ev.Seq != uint64(max):
		return 0, hash, 0, fmt.Errorf("row seq %d holds event seq %d", max, ev.Seq)
	case ev.Site() != site:
		return 0, hash, 0, fmt.Errorf("journal belongs to site %q, not %q", ev.Site(), site)
	}
	return uint64(max), hash, uint64(d), nil
}

// loadOrigins returns a filter of every origin in the journal.
func loadOrigins(ctx context.Context, db *sql.DB) (*originFilter, error) {
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(origin) FROM entries`).Scan(&n); err != nil {
		return nil, fmt.Errorf("count origins: %w", err)
	}
	f := newOriginFilter(n)
	if n == 0 {
		return f, nil
	}
	rows, err := db.QueryContext(ctx, `SELECT origin FROM entries WHERE origin IS NOT NULL`)
	if err != nil {
		return nil, fmt.Errorf("read origins: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var o sql.RawBytes
		if err := rows.Scan(&o); err != nil {
			return nil, fmt.Errorf("read origins: %w", err)
		}
		f.Add(string(o))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read origins: %w", err)
	}
	return f, nil
}

// encodeEnvelope returns the DSSE envelope of payload with the signature sig by the key
// keyID: byte for byte what envelope.Sign returned when the event was signed.
func encodeEnvelope(keyID string, payload, sig []byte) []byte {
	return envelope.Encode(&envelope.Envelope{
		PayloadType: envelope.PayloadType,
		Payload:     payload,
		Signatures:  []envelope.Signature{{KeyID: keyID, Sig: sig}},
	})
}

// keyIDs maps the rows of keys to their key ids.
type keyIDs map[int64]string

// loadKeys reads the keys table.
func loadKeys(ctx context.Context, db *sql.DB) (keyIDs, error) {
	rows, err := db.QueryContext(ctx, `SELECT id, keyid FROM keys`)
	if err != nil {
		return nil, fmt.Errorf("read keys: %w", err)
	}
	defer rows.Close()
	keys := keyIDs{}
	for rows.Next() {
		var id int64
		var keyID string
		if err := rows.Scan(&id, &keyID); err != nil {
			return nil, fmt.Errorf("read keys: %w", err)
		}
		keys[id] = keyID
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read keys: %w", err)
	}
	return keys, nil
}

// registerKey adds keyID to keys if it is not there and returns its row.
func registerKey(ctx context.Context, db *sql.DB, keyID string) (int64, error) {
	if _, err := db.ExecContext(ctx, `INSERT OR IGNORE INTO keys (keyid) VALUES (?)`, keyID); err != nil {
		return 0, fmt.Errorf("register key %s: %w", keyID, err)
	}
	var id int64
	if err := db.QueryRowContext(ctx, `SELECT id FROM keys WHERE keyid = ?`, keyID).Scan(&id); err != nil {
		return 0, fmt.Errorf("register key %s: %w", keyID, err)
	}
	return id, nil
}

// envelope rebuilds the envelope of a row whose signing key is row key.
func (k keyIDs) envelope(seq uint64, payload, sig []byte, key int64) ([]byte, error) {
	keyID, ok := k[key]
	if !ok {
		return nil, fmt.Errorf("seq %d names key %d, which is not in the database: database damaged", seq, key)
	}
	return encodeEnvelope(keyID, payload, sig), nil
}

// appendPAE appends the DSSE pre-authentication encoding of payload, with apedge's
// payloadType, to buf: the bytes dsse.PAE returns, without its allocation.
func appendPAE(buf, payload []byte) []byte {
	buf = append(buf, "DSSEv1 "...)
	buf = strconv.AppendInt(buf, int64(len(envelope.PayloadType)), 10)
	buf = append(buf, ' ')
	buf = append(buf, envelope.PayloadType...)
	buf = append(buf, ' ')
	buf = strconv.AppendInt(buf, int64(len(payload)), 10)
	buf = append(buf, ' ')
	return append(buf, payload...)
}
