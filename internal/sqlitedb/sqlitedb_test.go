package sqlitedb_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apedge/apedge/internal/sqlitedb"
)

func TestMigrations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	v1 := []string{`CREATE TABLE a (n INTEGER)`}
	v2 := append(v1, `ALTER TABLE a ADD COLUMN s TEXT`)
	db, err := sqlitedb.Open(t.Context(), path, v1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO a (n) VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	// Forward: the second migration runs once, on the data there.
	for range 2 {
		db, err = sqlitedb.Open(t.Context(), path, v2)
		if err != nil {
			t.Fatal(err)
		}
		var v, n int
		db.QueryRow(`PRAGMA user_version`).Scan(&v)
		db.QueryRow(`SELECT count(*) FROM a WHERE s IS NULL`).Scan(&n)
		if v != 2 || n != 1 {
			t.Errorf("after migrating: version %d, %d rows; want 2 and 1", v, n)
		}
		var mode string
		db.QueryRow(`PRAGMA journal_mode`).Scan(&mode)
		if mode != "wal" {
			t.Errorf("journal_mode %s, want wal", mode)
		}
		db.Close()
	}

	// Never backward: an older program refuses a newer database.
	if _, err := sqlitedb.Open(t.Context(), path, v1); err == nil || !strings.Contains(err.Error(), "newer than this program knows") {
		t.Errorf("opening a newer database with fewer migrations: %v", err)
	}
	// A failing migration changes nothing.
	bad := append(v2, `CREATE TABLE a (n INTEGER)`)
	if _, err := sqlitedb.Open(t.Context(), path, bad); err == nil || !strings.Contains(err.Error(), "migration 3") {
		t.Errorf("a failing migration: %v", err)
	}
	ro, err := sqlitedb.OpenReadOnly(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	var v int
	ro.QueryRow(`PRAGMA user_version`).Scan(&v)
	if v != 2 {
		t.Errorf("version after a failed migration %d, want 2", v)
	}
	if _, err := ro.Exec(`INSERT INTO a (n) VALUES (2)`); err == nil {
		t.Error("wrote through a read-only handle")
	}
	if _, err := sqlitedb.OpenReadOnly(t.Context(), filepath.Join(t.TempDir(), "none.db")); err == nil {
		t.Error("opened a missing database read-only")
	}
}

// TestFileMode: a database, new or existing (even world-readable, with its journal
// files), ends up readable and writable by its owner only, journal files included.
func TestFileMode(t *testing.T) {
	for _, tc := range []struct {
		name     string
		existing os.FileMode // 0: no file before
	}{
		{"new", 0},
		{"existing 0644", 0o644},
		{"existing 0666", 0o666},
		{"existing 0600", 0o600},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "x.db")
			if tc.existing != 0 {
				db, err := sqlitedb.Open(t.Context(), path, []string{`CREATE TABLE a (n INTEGER)`})
				if err != nil {
					t.Fatal(err)
				}
				db.Close()
				for _, p := range []string{path, path + "-wal", path + "-shm"} {
					if err := os.Chmod(p, tc.existing); err != nil && !errors.Is(err, fs.ErrNotExist) {
						t.Fatal(err)
					}
				}
			}
			db, err := sqlitedb.Open(t.Context(), path, []string{`CREATE TABLE a (n INTEGER)`})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec(`INSERT INTO a (n) VALUES (1)`); err != nil {
				t.Fatal(err)
			}
			seen := 0
			for _, p := range []string{path, path + "-wal", path + "-shm"} {
				fi, err := os.Stat(p)
				if p != path && errors.Is(err, fs.ErrNotExist) {
					continue
				}
				seen++
				if err != nil || fi.Mode().Perm() != 0o600 {
					t.Errorf("%s: %v, %v, want mode 0600", filepath.Base(p), fi.Mode().Perm(), err)
				}
			}
			if seen < 2 {
				t.Errorf("only %d of the database's files exist: is it in WAL mode?", seen)
			}
		})
	}
}
