package bridge

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var ledgerT0 = time.Date(2026, 6, 10, 11, 0, 0, 0, time.UTC)

// openLedger opens a ledger kept in dir at now, as the bridge does on its first
// command after starting, and fails the test if the kept one is lost.
func openLedger(t *testing.T, dir string, now time.Time) *ledger {
	t.Helper()
	l := new(ledger)
	if lost := l.open(dir, now); lost != nil {
		t.Fatalf("open: %v", lost)
	}
	return l
}

// TestLedgerKeptAcrossRestart: a command id accepted is refused as replayed by the
// ledger of the next run from the same state directory, in a file only the bridge
// can read; once its deadline has passed the next run forgets it, and the file is
// rewritten without it.
func TestLedgerKeptAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	l := openLedger(t, dir, ledgerT0)
	for _, id := range []string{"c1", "c2"} {
		if why, err := l.first(id, ledgerT0.Add(10*time.Second), ledgerT0); why != "" {
			t.Fatalf("%s refused: %s: %v", id, why, err)
		}
	}
	if why, err := l.first("c3", ledgerT0.Add(time.Minute), ledgerT0); why != "" {
		t.Fatalf("c3 refused: %s: %v", why, err)
	}
	path := filepath.Join(dir, ledgerFile)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("ledger file mode %v, want 0600", fi.Mode().Perm())
	}
	if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("temporary file left behind: %v", err)
	}

	// Restarted within the deadlines: every id is remembered.
	now := ledgerT0.Add(5 * time.Second)
	l2 := openLedger(t, dir, now)
	for _, id := range []string{"c1", "c2", "c3"} {
		if why, _ := l2.first(id, ledgerT0.Add(10*time.Second), now); why != causeReplayed {
			t.Errorf("%s after a restart: %q, want refused as replayed", id, why)
		}
	}

	// Restarted after c1's and c2's deadlines: they are gone, c3 is not.
	now = ledgerT0.Add(11 * time.Second)
	l3 := openLedger(t, dir, now)
	if _, ok := l3.seen["c1"]; ok || len(l3.seen) != 1 {
		t.Errorf("after the deadlines of c1 and c2 the ledger holds %v, want only c3", l3.seen)
	}
	if why, _ := l3.first("c3", ledgerT0.Add(time.Minute), now); why != causeReplayed {
		t.Errorf("c3 after a restart: %q, want refused as replayed", why)
	}
	if why, err := l3.first("c4", now.Add(10*time.Second), now); why != "" {
		t.Fatalf("c4 refused: %s: %v", why, err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	kept, err := decodeLedger(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(kept) != 2 || !kept["c3"].Equal(ledgerT0.Add(time.Minute)) || !kept["c4"].Equal(now.Add(10*time.Second)) {
		t.Errorf("file after c4: %v, want c3 and c4 with their deadlines", kept)
	}
}

// TestLedgerWritesOnlyOnAccept: a refused command (replayed, or too many in flight)
// does not rewrite the file.
func TestLedgerWritesOnlyOnAccept(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ledgerFile)
	l := openLedger(t, dir, ledgerT0)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("ledger file written before any command: %v", err)
	}
	if why, err := l.first("c1", ledgerT0.Add(time.Minute), ledgerT0); why != "" {
		t.Fatalf("c1 refused: %s: %v", why, err)
	}
	// Something else in the file's place shows whether it is written again.
	if err := os.WriteFile(path, []byte("marker"), 0o600); err != nil {
		t.Fatal(err)
	}
	if why, _ := l.first("c1", ledgerT0.Add(time.Minute), ledgerT0); why != causeReplayed {
		t.Fatalf("c1 again: %q, want replayed", why)
	}
	if b, _ := os.ReadFile(path); string(b) != "marker" {
		t.Errorf("a replay rewrote the ledger: %q", b)
	}
}

// TestLedgerLost: a kept ledger that cannot be read or is corrupt does not stop the
// bridge: commands due no later than maxAhead after it was opened (which any command
// accepted before might be) are refused, later ones are taken, and the file is
// written anew.
func TestLedgerLost(t *testing.T) {
	tests := []struct {
		name string
		make func(t *testing.T, path string)
	}{
		{"not json", func(t *testing.T, path string) { write(t, path, []byte("{\"version\":1,\"comm")) }},
		{"wrong version", func(t *testing.T, path string) { write(t, path, []byte(`{"version":2,"commands":[]}`)) }},
		{"too big", func(t *testing.T, path string) {
			write(t, path, []byte(`{"version":1,"commands":[]}`+strings.Repeat(" ", maxLedgerBytes)))
		}},
		{"unreadable", func(t *testing.T, path string) { // a directory: opens, but reading fails
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, ledgerFile)
			tc.make(t, path)
			l := new(ledger)
			if lost := l.open(dir, ledgerT0); lost == nil {
				t.Fatal("open of a bad ledger: no error")
			}
			if lost := l.open(dir, ledgerT0); lost != nil {
				t.Errorf("second open: %v, want nil (the loss is reported once)", lost)
			}
			for _, at := range []time.Duration{0, time.Minute, maxAhead - 10*time.Second} {
				now := ledgerT0.Add(at)
				id := fmt.Sprint("early-", at)
				if why, err := l.first(id, now.Add(10*time.Second), now); why != causeLedgerLost {
					t.Errorf("command due at %v, %v after open: %q (%v), want %s", now.Add(10*time.Second), at, why, err, causeLedgerLost)
				}
			}
			now := ledgerT0.Add(maxAhead - 9*time.Second) // due 1s after anything accepted before could be
			if tc.name == "unreadable" {
				os.Remove(path) // the directory; a file can be written there now
			}
			if why, err := l.first("late", now.Add(10*time.Second), now); why != "" {
				t.Fatalf("command due after the window: refused, %s: %v", why, err)
			}
			l2 := openLedger(t, dir, now)
			if why, _ := l2.first("late", now.Add(10*time.Second), now); why != causeReplayed {
				t.Errorf("late after a restart: %q, want replayed (the file written anew)", why)
			}
		})
	}
}

// TestLedgerUnwritable: a command whose id cannot be kept on disk is refused, and
// refused as replayed if it comes again.
func TestLedgerUnwritable(t *testing.T) {
	dir := t.TempDir()
	l := openLedger(t, dir, ledgerT0)
	// A directory where the temporary file goes: creating it fails, even for root.
	if err := os.Mkdir(filepath.Join(dir, ledgerFile+".tmp"), 0o700); err != nil {
		t.Fatal(err)
	}
	if why, err := l.first("c1", ledgerT0.Add(time.Minute), ledgerT0); why != causeLedgerUnwritable || err == nil {
		t.Fatalf("c1 with the ledger unwritable: %q, %v; want %s", why, err, causeLedgerUnwritable)
	}
	if why, _ := l.first("c1", ledgerT0.Add(time.Minute), ledgerT0); why != causeReplayed {
		t.Errorf("c1 again: %q, want replayed", why)
	}
}

// TestLedgerFileBounded: the file of a full ledger of the longest ids, each escaped
// as much as JSON escapes anything, fits maxLedgerBytes and reads back the same.
func TestLedgerFileBounded(t *testing.T) {
	seen := map[string]time.Time{}
	for i := range maxRemembered {
		id := fmt.Sprintf("%04d", i) + strings.Repeat("<", maxCommandID-4) // "<" is written \u003c
		seen[id] = ledgerT0.Add(time.Duration(i)*time.Nanosecond + time.Nanosecond)
	}
	b, err := encodeLedger(seen)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > maxLedgerBytes {
		t.Fatalf("full ledger is %d bytes, more than maxLedgerBytes %d", len(b), maxLedgerBytes)
	}
	got, err := decodeLedger(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(seen) {
		t.Fatalf("read back %d ids, want %d", len(got), len(seen))
	}
	for id, d := range seen {
		if !got[id].Equal(d) {
			t.Fatalf("%s read back with deadline %v, want %v", id, got[id], d)
		}
	}
	// One more than maxRemembered is refused.
	seen["one more"] = ledgerT0
	if b, err = encodeLedger(seen); err != nil {
		t.Fatal(err)
	}
	if _, err := decodeLedger(b); err == nil {
		t.Error("a ledger of more than maxRemembered ids decoded")
	}
}

// TestLedgerBadCorpus: every file of testdata/bad/ledger-* is refused.
func TestLedgerBadCorpus(t *testing.T) {
	files := badLedgers(t)
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := decodeLedger(b); err == nil {
			t.Errorf("%s: decoded, want refused", p)
		}
	}
}

func badLedgers(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "bad", "ledger-*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no files in testdata/bad/ledger-*")
	}
	return files
}

// FuzzLedger: decodeLedger never panics, and what it accepts is within the ledger's
// bounds and is written back as a file that reads the same.
func FuzzLedger(f *testing.F) {
	good, err := encodeLedger(map[string]time.Time{"c1": ledgerT0, "c2": ledgerT0.Add(time.Minute)})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"version":1,"commands":[]}`))
	f.Add([]byte(`{"version":1,"commands":[{"id":"x","deadline":"2026-06-10T12:00:00.5+01:00"}]}`))
	for _, p := range badLedgers(f) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		seen, err := decodeLedger(b)
		if err != nil {
			return
		}
		if len(seen) > maxRemembered {
			t.Fatalf("decoded %d ids, more than %d", len(seen), maxRemembered)
		}
		for id, d := range seen {
			if id == "" || len(id) > maxCommandID || d.IsZero() {
				t.Fatalf("decoded id %q deadline %v", id, d)
			}
		}
		again, err := encodeLedger(seen)
		if err != nil {
			t.Fatalf("decoded ledger not encodable: %v", err)
		}
		back, err := decodeLedger(again)
		if err != nil {
			t.Fatalf("re-encoded ledger refused: %v", err)
		}
		if len(back) != len(seen) {
			t.Fatalf("re-read %d ids, want %d", len(back), len(seen))
		}
		for id, d := range seen {
			if !back[id].Equal(d) {
				t.Fatalf("%q re-read as %v, want %v", id, back[id], d)
			}
		}
	})
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
