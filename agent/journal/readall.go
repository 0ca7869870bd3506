package journal

import (
	"context"
	"fmt"

	"github.com/apedge/apedge/sqlitedb"
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
	rows, err := db.QueryContext(ctx, `SELECT seq, envelope FROM entries ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("journal: read %s: %w", path, err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		if err := rows.Scan(&e.Seq, &e.Envelope); err != nil {
			return nil, fmt.Errorf("journal: read %s: %w", path, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("journal: read %s: %w", path, err)
	}
	return out, nil
}
