package journal

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/apedge/apedge/internal/sqlitedb"
)

// ReadAll returns every entry of the journal database at path, in seq order, opening it
// read-only: it works while an agent is appending, or after one was killed. It is for
// tests, audits and exports, not for the agent itself.
func ReadAll(ctx context.Context, path string) ([]Entry, error) {
	db, err := sqlitedb.OpenReadOnly(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	defer db.Close()
	keys, err := loadKeys(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("journal: read %s: %w", path, err)
	}
	rows, err := db.QueryContext(ctx, `SELECT seq, payload, sig, key FROM entries ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("journal: read %s: %w", path, err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var seq, key int64
		var payload, sig sql.RawBytes
		if err := rows.Scan(&seq, &payload, &sig, &key); err != nil {
			return nil, fmt.Errorf("journal: read %s: %w", path, err)
		}
		env, err := keys.envelope(uint64(seq), payload, sig, key)
		if err != nil {
			return nil, fmt.Errorf("journal: read %s: %w", path, err)
		}
		out = append(out, Entry{Seq: uint64(seq), Envelope: env})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("journal: read %s: %w", path, err)
	}
	return out, nil
}
