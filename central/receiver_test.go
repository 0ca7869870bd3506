package central

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apedge/apedge/formats/envelope"
	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/uplink"
	"github.com/apedge/apedge/formats/verify"
	"github.com/apedge/apedge/internal/clock/clocktest"
)

// exportLines exports site from the store at path.
func exportLines(t *testing.T, path, site string) [][]byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := Export(context.Background(), path, site, &buf)
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	lines := bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n"))
	if n == 0 {
		lines = nil
	}
	if len(lines) != n {
		t.Fatalf("Export said %d, wrote %d lines", n, len(lines))
	}
	return lines
}

// checkStored checks that site's store holds exactly want, in order, and that the
// export verifies.
func checkStored(t *testing.T, path, site string, want [][]byte) {
	t.Helper()
	got := exportLines(t, path, site)
	if len(got) != len(want) {
		t.Fatalf("%s: stored %d events, want %d", site, len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("%s: stored event %d differs from the envelope sent", site, i+1)
		}
	}
	if len(want) == 0 {
		return
	}
	var buf bytes.Buffer
	Export(context.Background(), path, site, &buf)
	res, err := verify.Export(&buf, testKey(t, site).Public())
	if err != nil || res.Count != len(want) {
		t.Fatalf("%s: verify export: %+v, %v", site, res, err)
	}
	n, err := StoredCount(context.Background(), path, site)
	if err != nil || n != int64(len(want)) {
		t.Fatalf("%s: StoredCount %d, %v; want %d", site, n, err, len(want))
	}
}

func rejected(s Stats) uint64 {
	var n uint64
	for _, c := range s.Rejected {
		n += c
	}
	return n
}

func TestIngestInOrder(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func() string) {
		h := start(t, Options{Path: newStore()})
		abc := makeChain(t, testKey(t, "ABC"), 300)
		xyz := makeChain(t, testKey(t, "XYZ"), 5)
		h.send("ABC", abc[:256]...)
		h.send("XYZ", xyz...)
		h.send("ABC", abc[256:]...)
		h.waitHead("ABC", 300)
		h.waitHead("XYZ", 5)
		s := h.r.Stats()
		if s.Stored != 305 || s.Duplicates != 0 || s.Held != 0 || rejected(s) != 0 || s.Batches != 3 {
			t.Fatalf("stats %+v", s)
		}
		checkStored(t, h.o.Path, "ABC", abc)
		checkStored(t, h.o.Path, "XYZ", xyz)
		if n, err := StoredCount(context.Background(), h.o.Path, ""); err != nil || n != 305 {
			t.Fatalf("StoredCount all = %d, %v", n, err)
		}
		if a, _ := h.r.Alarms(context.Background(), ""); len(a) != 0 {
			t.Fatalf("alarms: %+v", a)
		}
	})
}

func TestDuplicates(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func() string) {
		h := start(t, Options{Path: newStore()})
		abc := makeChain(t, testKey(t, "ABC"), 10)
		h.send("ABC", abc[:6]...)
		h.waitHead("ABC", 6)
		_, acks := h.lastAck("ABC")

		// A resend of what is stored, overlapping new events, and a duplicate-only batch.
		tests := []struct {
			name     string
			batch    [][]byte
			wantHead uint64
			wantDups uint64
		}{
			{"overlap", abc[3:8], 8, 3},
			{"duplicate-only", abc[:8], 8, 3 + 8},
			{"same envelope twice in a batch", [][]byte{abc[8], abc[8], abc[9]}, 10, 3 + 8 + 1},
		}
		for _, tt := range tests {
			h.send("ABC", tt.batch...)
			acks++
			h.waitAcks("ABC", acks) // a duplicate-only batch is acked too
			if last, _ := h.lastAck("ABC"); last != tt.wantHead {
				t.Fatalf("%s: ack %d, want %d", tt.name, last, tt.wantHead)
			}
			if s := h.r.Stats(); s.Duplicates != tt.wantDups || rejected(s) != 0 {
				t.Fatalf("%s: stats %+v", tt.name, s)
			}
		}
		checkStored(t, h.o.Path, "ABC", abc)
		if a, _ := h.r.Alarms(context.Background(), "ABC"); len(a) != 0 {
			t.Fatalf("duplicates alarmed: %+v", a)
		}
	})
}

func TestValidEnvelopesBesideRefusedOnesAreStored(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func() string) {
		h := start(t, Options{Path: newStore()})
		abc := makeChain(t, testKey(t, "ABC"), 6)
		rogue := makeChain(t, testKey(t, "ROGUE"), 5)
		bad := tamperSig(t, abc[4])
		h.send("ABC", abc[0], rogue[1], abc[1], abc[2], bad, abc[3], abc[4], []byte(`{"x":1}`), abc[5])
		h.waitHead("ABC", 6)
		s := h.r.Stats()
		want := map[Reason]uint64{ReasonUnknownKey: 1, ReasonBadSignature: 1, ReasonMalformed: 1}
		for reason, n := range s.Rejected {
			if n != want[reason] {
				t.Errorf("rejected %s = %d, want %d", reason, n, want[reason])
			}
		}
		if s.Stored != 6 {
			t.Errorf("stored %d, want 6", s.Stored)
		}
		checkStored(t, h.o.Path, "ABC", abc)
		alarms, err := h.r.Alarms(context.Background(), "ABC")
		if err != nil || len(alarms) != 3 {
			t.Fatalf("alarms %d, %v", len(alarms), err)
		}
		if a := alarms[1]; a.Reason != ReasonBadSignature || a.Seq != 5 || !bytes.Equal(a.Evidence, bad) {
			t.Errorf("bad-signature alarm: %+v", a)
		}
	})
}

// tamperSig returns env with one bit of its signature flipped.
func tamperSig(t testing.TB, env []byte) []byte {
	t.Helper()
	d, err := envelope.Decode(env)
	if err != nil {
		t.Fatal(err)
	}
	d.Signatures[0].Sig[10] ^= 1
	return envelope.Encode(d)
}

func TestRestartKeepsHeadsAndDedupe(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func() string) {
		path := newStore()
		c := newChain(t, testKey(t, "ABC"))
		first := c.take(5)
		h := start(t, Options{Path: path})
		h.send("ABC", first...)
		h.waitHead("ABC", 5)
		h.close()

		h = start(t, Options{Path: path})
		if got := h.r.Heads(); len(got) != 1 || got["ABC"] != 5 {
			t.Fatalf("heads after restart: %v", got)
		}
		// Dedupe survives: a resend is duplicates, a different payload is a conflict, and
		// the chain continues from the stored hash.
		fork := newChain(t, testKey(t, "ABC"))
		fork.tag = "fork"
		forked := fork.take(3)
		more := c.take(2)
		h.send("ABC", append(append(append([][]byte{}, first...), forked[2]), more...)...)
		h.waitHead("ABC", 7)
		s := h.r.Stats()
		if s.Duplicates != 5 || s.Rejected[ReasonConflict] != 1 || s.Stored != 2 {
			t.Fatalf("stats after restart: %+v", s)
		}
		checkStored(t, path, "ABC", append(first, more...))
	})
}

func TestGapHeldThenFilled(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func() string) {
		h := start(t, Options{Path: newStore()})
		abc := makeChain(t, testKey(t, "ABC"), 12)
		h.send("ABC", abc[0:2]...) // 1-2
		h.waitHead("ABC", 2)
		h.send("ABC", abc[6:9]...) // 7-9: gap 3..6
		h.send("ABC", abc[4])      // 5: inside the gap
		h.waitStats("held", func(s Stats) bool { return s.HeldNow == 4 && s.Held == 4 })
		if s := h.r.Stats(); s.Gaps != 1 || s.Held != 4 {
			t.Fatalf("stats with a gap: %+v", s)
		}
		if got := h.r.Heads()["ABC"]; got != 2 {
			t.Fatalf("head moved past a gap: %d", got)
		}
		h.send("ABC", abc[2]) // 3: fills part; 4 and 6 still missing
		h.waitHead("ABC", 3)
		h.send("ABC", abc[3]) // 4: releases 5; 6 missing: a new gap before 7
		h.waitHead("ABC", 5)
		if s := h.r.Stats(); s.Gaps != 2 || s.HeldNow != 3 {
			t.Fatalf("stats after partial fill: %+v", s)
		}
		h.send("ABC", abc[5], abc[9], abc[10], abc[11]) // 6, then 10-12 in order
		h.waitHead("ABC", 12)
		if s := h.r.Stats(); s.HeldNow != 0 || s.Stored != 12 || rejected(s) != 0 {
			t.Fatalf("final stats %+v", s)
		}
		checkStored(t, h.o.Path, "ABC", abc)
	})
}

func TestHeldEnvelopesAreCheckedWhenReleased(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func() string) {
		h := start(t, Options{Path: newStore()})
		c := newChain(t, testKey(t, "ABC"))
		abc := c.take(4)
		fork := newChain(t, testKey(t, "ABC"))
		fork.tag = "fork"
		forked := fork.take(4)
		h.send("ABC", abc[0])
		h.waitHead("ABC", 1)
		// Seq 3 of a fork is held, then conflicts with a different seq 3; when 2 arrives,
		// the held seq 3 does not follow it and is refused; the right 3 and 4 then follow.
		h.send("ABC", forked[2], abc[2], forked[2])
		h.waitStats("held fork", func(s Stats) bool { return s.HeldNow == 1 && s.Duplicates == 1 })
		if s := h.r.Stats(); s.Rejected[ReasonConflict] != 1 {
			t.Fatalf("conflict with a held envelope not refused: %+v", s)
		}
		h.send("ABC", abc[1])
		h.waitHead("ABC", 2)
		h.waitStats("chain-break", func(s Stats) bool { return s.Rejected[ReasonChainBreak] == 1 && s.HeldNow == 0 })
		h.send("ABC", abc[2], abc[3])
		h.waitHead("ABC", 4)
		checkStored(t, h.o.Path, "ABC", abc)
		alarms, _ := h.r.Alarms(context.Background(), "ABC")
		var reasons []string
		for _, a := range alarms {
			reasons = append(reasons, string(a.Reason))
		}
		if got := strings.Join(reasons, ","); got != "conflict,chain-break" {
			t.Fatalf("alarms %s", got)
		}
		if !bytes.Equal(alarms[1].Evidence, forked[2]) || alarms[1].Seq != 3 {
			t.Fatalf("chain-break evidence wrong: %+v", alarms[1])
		}
	})
}

func TestGapAlarmAfterDelay(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func() string) {
		clock := clocktest.New(time.Date(2025, 10, 26, 0, 30, 0, 0, time.UTC))
		h := start(t, Options{Path: newStore(), Clock: clock, GapAlarmAfter: 30 * time.Second})
		abc := makeChain(t, testKey(t, "ABC"), 4)
		h.send("ABC", abc[0])
		h.waitHead("ABC", 1)
		h.send("ABC", abc[2], abc[3])
		h.waitStats("gap detected", func(s Stats) bool { return s.Gaps == 1 && s.HeldNow == 2 })

		gapAlarms := func() []Alarm {
			t.Helper()
			all, err := h.r.Alarms(context.Background(), "ABC")
			if err != nil {
				t.Fatal(err)
			}
			var out []Alarm
			for _, a := range all {
				if a.Reason == ReasonGap {
					out = append(out, a)
				}
			}
			return out
		}
		// A writer round (a duplicate) to show that a gap is not alarmed early.
		round := func() {
			_, n := h.lastAck("ABC")
			h.send("ABC", abc[0])
			h.waitAcks("ABC", n+1)
		}
		clock.Add(29 * time.Second)
		round()
		if a := gapAlarms(); len(a) != 0 {
			t.Fatalf("gap alarmed after 29s: %+v", a)
		}
		clock.Add(2 * time.Second)
		eventually(t, "gap alarm", func() bool { return len(gapAlarms()) == 1 })
		a := gapAlarms()[0]
		if a.Seq != 2 || !bytes.Equal(a.Evidence, abc[2]) || !strings.Contains(a.Detail, "seq 2..2 missing") || !a.Time.Equal(clock.Now()) {
			t.Fatalf("gap alarm %+v", a)
		}
		clock.Add(time.Hour)
		round()
		round()
		if n := len(gapAlarms()); n != 1 || h.r.Stats().GapAlarms != 1 {
			t.Fatalf("gap alarmed %d times", n)
		}
		h.send("ABC", abc[1])
		h.waitHead("ABC", 4)
		checkStored(t, h.o.Path, "ABC", abc)
	})
}

func TestPublishOnlyAfterCommit(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func() string) {
		path := newStore()
		// Create the store, then watch it through a separate read-only connection.
		r, err := Open(context.Background(), Options{Path: path, Trust: testTrust(t)})
		if err != nil {
			t.Fatal(err)
		}
		r.Close()
		ro, err := openReadOnly(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		defer ro.db.Close()
		var (
			mu     sync.Mutex
			errs   []error
			nAcked int
		)
		publish := func(site string, seq uint64) {
			var stored sql.NullInt64
			err := ro.db.QueryRow(ro.q(`SELECT MAX(seq) FROM events WHERE site = ?`), site).Scan(&stored)
			mu.Lock()
			defer mu.Unlock()
			nAcked++
			if err == nil && uint64(stored.Int64) < seq {
				err = errors.New("acked seq not visible in the store")
			}
			if err != nil {
				errs = append(errs, err)
			}
		}
		h := start(t, Options{Path: path, Publish: publish})
		abc := makeChain(t, testKey(t, "ABC"), 1000)
		for i := 0; i < len(abc); i += 50 {
			h.send("ABC", abc[i:i+50]...)
		}
		h.waitHead("ABC", 1000)
		mu.Lock()
		defer mu.Unlock()
		if len(errs) > 0 || nAcked == 0 {
			t.Fatalf("%d acks, errors: %v", nAcked, errs)
		}
	})
}

func TestExportWhileRunningAndErrors(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func() string) {
		h := start(t, Options{Path: newStore()})
		abc := makeChain(t, testKey(t, "ABC"), 3)
		h.send("ABC", abc...)
		h.waitHead("ABC", 3)
		checkStored(t, h.o.Path, "ABC", abc)
		if lines := exportLines(t, h.o.Path, "NOPE"); len(lines) != 0 {
			t.Fatalf("export of an unknown site: %d lines", len(lines))
		}
		ctx := context.Background()
		if _, err := Export(ctx, h.o.Path, "bad/site", &bytes.Buffer{}); err == nil {
			t.Error("Export accepted a bad site code")
		}
		if _, err := Export(ctx, filepath.Join(t.TempDir(), "missing.db"), "ABC", &bytes.Buffer{}); err == nil {
			t.Error("Export of a missing store succeeded")
		}
		if _, err := StoredCount(ctx, filepath.Join(t.TempDir(), "missing.db"), ""); err == nil {
			t.Error("StoredCount of a missing store succeeded")
		}
	})
}

func TestOpenOptions(t *testing.T) {
	dir := t.TempDir()
	abc := testKey(t, "ABC").Public()
	noSite := *abc
	noSite.Site = ""
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"no path", Options{Trust: testTrust(t)}, "Path"},
		{"no trust", Options{Path: filepath.Join(dir, "a.db")}, "Trust"},
		{"key under wrong id", Options{Path: filepath.Join(dir, "b.db"), Trust: envelope.TrustStore{"x": abc}}, "under id"},
		{"key without site", Options{Path: filepath.Join(dir, "c.db"), Trust: envelope.TrustStore{abc.ID: &noSite}}, "site"},
		{"not a database", Options{Path: dir, Trust: testTrust(t)}, "central:"},
		{"no postgres server", Options{Path: "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=5", Trust: testTrust(t)}, "central: "},
		{"bad postgres url", Options{Path: "postgres://a b@/x?sslmode=nonsense", Trust: testTrust(t)}, "central: postgres: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Open(context.Background(), tt.o)
			if err == nil {
				r.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestRunAfterCloseAndHandleAfterClose(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func() string) {
		r, err := Open(context.Background(), Options{Path: newStore(), Trust: testTrust(t), Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if err := r.Run(context.Background()); !errors.Is(err, ErrClosed) {
			t.Fatalf("Run after Close: %v", err)
		}
		r.Handle(uplink.EventsTopic("ABC"), []byte("{}")) // must not block
		if err := r.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})
}

func TestRunStopsWithContext(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func() string) {
		r, err := Open(context.Background(), Options{Path: newStore(), Trust: testTrust(t), Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		ctx, cancel := context.WithCancel(context.Background())
		ran := make(chan error, 1)
		go func() { ran <- r.Run(ctx) }()
		abc := makeChain(t, testKey(t, "ABC"), 2)
		r.Handle(uplink.EventsTopic("ABC"), uplink.EncodeBatch(abc))
		eventually(t, "stored", func() bool { return r.Heads()["ABC"] == 2 })
		cancel()
		if err := <-ran; err != nil {
			t.Fatalf("Run: %v", err)
		}
	})
}

// Seq and hash of what is stored must match what Follows expects after a restart.
func TestHeadHashPersisted(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func() string) {
		path := newStore()
		h := start(t, Options{Path: path})
		abc := makeChain(t, testKey(t, "ABC"), 2)
		h.send("ABC", abc...)
		h.waitHead("ABC", 2)
		h.close()
		r, err := Open(context.Background(), Options{Path: path, Trust: testTrust(t)})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		d, _ := envelope.Decode(abc[1])
		heads, err := r.st.readHeads(context.Background())
		if st := heads["ABC"]; err != nil || st.seq != 2 || st.hash != event.Hash(d.Payload) {
			t.Fatalf("head after reopen: %d %x, %v", st.seq, st.hash, err)
		}
	})
}

// faults are, per dialect, a trigger that makes the store refuse the insert of seq 5,
// and its removal.
var faults = map[string][2]string{
	"sqlite": {`CREATE TRIGGER fault BEFORE INSERT ON events WHEN NEW.seq = 5
		BEGIN SELECT RAISE(ABORT, 'injected fault'); END`, `DROP TRIGGER fault`},
	"postgres": {`CREATE FUNCTION fault() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.seq = 5 THEN RAISE EXCEPTION 'injected fault'; END IF; RETURN NEW; END $$;
		CREATE TRIGGER fault BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION fault()`, `DROP TRIGGER fault ON events`},
}

// TestStoreFailureAcksNothing makes the store refuse one insert (a trigger) and
// checks that the whole transaction is rolled back, nothing is acknowledged, the
// refusals in it are still alarmed, and a resend after the fault stores everything.
func TestStoreFailureAcksNothing(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func() string) {
		var acks []ack
		r, err := Open(context.Background(), Options{
			Path:    newStore(),
			Trust:   testTrust(t),
			Logger:  quietLogger(),
			Publish: func(site string, seq uint64) { acks = append(acks, ack{site, seq}) },
		})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		abc := makeChain(t, testKey(t, "ABC"), 8)
		topic := uplink.EventsTopic("ABC")
		r.processSync(topic, uplink.EncodeBatch(abc[:2]))
		fault := faults[r.st.d.name]
		if _, err := r.st.db.Exec(fault[0]); err != nil {
			t.Fatal(err)
		}
		// 3 and 4 are stored and 7 is held, then the insert of 5 fails; a forged 6 is
		// refused and 8 is never reached.
		batch := uplink.EncodeBatch([][]byte{abc[2], abc[3], abc[6], abc[4], tamperSig(t, abc[5]), abc[7]})
		r.processSync(topic, batch)
		if len(acks) != 1 || r.Heads()["ABC"] != 2 || r.Stats().HeldNow != 0 || r.Stats().Stored != 2 {
			t.Fatalf("after a failed transaction: acks %v, heads %v, stats %+v", acks, r.Heads(), r.Stats())
		}
		alarms, err := r.Alarms(context.Background(), "ABC")
		if err != nil || len(alarms) != 1 || alarms[0].Reason != ReasonBadSignature {
			t.Fatalf("alarms after a failed transaction: %+v, %v", alarms, err)
		}
		if _, err := r.st.db.Exec(fault[1]); err != nil {
			t.Fatal(err)
		}
		r.processSync(topic, uplink.EncodeBatch(abc))
		if r.Heads()["ABC"] != 8 || acks[len(acks)-1] != (ack{"ABC", 8}) {
			t.Fatalf("after the resend: heads %v, acks %v", r.Heads(), acks)
		}
		checkStored(t, r.o.Path, "ABC", abc)
	})
}
