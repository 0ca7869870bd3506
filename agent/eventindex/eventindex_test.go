package eventindex

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/apedge/apedge/formats/event"
)

func TestPath(t *testing.T) {
	if got, want := Path("/var/lib/apedge/journal.db"), "/var/lib/apedge/index.db"; got != want {
		t.Errorf("Path = %q, want %q", got, want)
	}
}

func TestSearch(t *testing.T) {
	_, x := setup(t)
	ctx := context.Background()
	tests := []struct {
		name string
		q    Query
		want []uint64
	}{
		{"all", Query{}, []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{"all newest first", Query{Desc: true}, []uint64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}},
		{"type", Query{Types: []string{"curfew.roll"}}, []uint64{6, 9}},
		{"types", Query{Types: []string{"door.forced", "reader.offline"}}, []uint64{3, 5}},
		{"prefix", Query{Types: []string{"door.*"}}, []uint64{3, 8}},
		{"prefix and type", Query{Types: []string{"movement.*", "curfew.absent"}}, []uint64{2, 4, 7, 10}},
		{"prefix is whole words", Query{Types: []string{"doo.*"}}, []uint64{}},
		{"no such type", Query{Types: []string{"door"}}, []uint64{}},
		{"crn", Query{CRN: "X123456"}, []uint64{2, 4}},
		{"noms", Query{CRN: "B7654CD"}, []uint64{7, 10}},
		{"crn and type", Query{CRN: "Y654321", Types: []string{"movement.*"}}, []uint64{10}},
		{"from", Query{From: t0.Add(7 * time.Minute)}, []uint64{8, 9, 10}},
		{"to is exclusive", Query{To: t0.Add(2 * time.Minute)}, []uint64{1, 2}},
		{"range", Query{From: t0.Add(2 * time.Minute), To: t0.Add(5 * time.Minute)}, []uint64{3, 4, 5}},
		{"range in another zone", Query{From: t0.Add(2 * time.Minute).In(time.FixedZone("X", 5*3600)), To: t0.Add(4 * time.Minute)}, []uint64{3, 4}},
		{"range past year 9999", Query{From: t0.Add(9 * time.Minute), To: time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC)}, []uint64{10}},
		{"empty range", Query{From: t0.Add(5 * time.Minute), To: t0.Add(5 * time.Minute)}, []uint64{}},
		{"after", Query{After: 7}, []uint64{8, 9, 10}},
		{"after, newest first", Query{After: 4, Desc: true}, []uint64{3, 2, 1}},
		{"everything", Query{Types: []string{"movement.entered"}, CRN: "A1234BC", From: t0, To: t0.Add(time.Hour)}, []uint64{2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ss, next, err := x.Search(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := seqs(ss); !slices.Equal(got, tc.want) {
				t.Errorf("seqs %v, want %v", got, tc.want)
			}
			if next != 0 {
				t.Errorf("next = %d, want 0", next)
			}
		})
	}
}

func TestSummaryFields(t *testing.T) {
	_, x := setup(t)
	ss, _, err := x.Search(context.Background(), Query{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		seq                      uint64
		typ, crn, noms, subject  string
		local                    string
		dataHas                  string
		noData                   bool
		occurredAtMinutesAfterT0 int
	}{
		{seq: 1, typ: "agent.started", local: "2025-03-30 00:30:00", dataHas: "version"},
		{seq: 2, typ: "movement.entered", crn: "X123456", noms: "A1234BC", subject: "front", local: "2025-03-30 00:31:00", dataHas: "direction", occurredAtMinutesAfterT0: 1},
		{seq: 3, typ: "door.forced", subject: "back", local: "2025-03-30 00:32:00", dataHas: "device", occurredAtMinutesAfterT0: 2},
		{seq: 5, typ: "reader.offline", subject: "reader-02", local: "2025-03-30 00:34:00", dataHas: "reader", occurredAtMinutesAfterT0: 4},
		{seq: 7, typ: "curfew.absent", crn: "Y654321", noms: "B7654CD", local: "2025-03-30 00:36:00", dataHas: "decisionKey", occurredAtMinutesAfterT0: 6},
	}
	for _, tc := range tests {
		s := ss[tc.seq-1]
		if s.Seq != tc.seq || s.ID != event.ID(testSite, tc.seq) || s.Type != tc.typ || s.CRN != tc.crn || s.NOMS != tc.noms ||
			s.Subject != tc.subject || s.OccurredAtLocal != tc.local {
			t.Errorf("seq %d: got %+v", tc.seq, s)
		}
		if want := t0.Add(time.Duration(tc.occurredAtMinutesAfterT0) * time.Minute); !s.OccurredAt.Equal(want) || s.OccurredAt.Location() != time.UTC {
			t.Errorf("seq %d: occurredAt %v, want %v in UTC", tc.seq, s.OccurredAt, want)
		}
		var m map[string]any
		if err := json.Unmarshal(s.Data, &m); err != nil || m[tc.dataHas] == nil {
			t.Errorf("seq %d: data %s lacks %q (%v)", tc.seq, s.Data, tc.dataHas, err)
		}
	}
	b, err := json.Marshal(ss[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"seq", "id", "type", "occurredAt", "occurredAtLocal", "crn", "noms", "subject", "data"} {
		if _, ok := m[k]; !ok {
			t.Errorf("Summary JSON %s lacks %q", b, k)
		}
	}
	if len(m) != 9 {
		t.Errorf("Summary JSON %s has %d keys, want 9", b, len(m))
	}
}

func TestPaging(t *testing.T) {
	dir := t.TempDir()
	j := openJournal(t, filepath.Join(dir, "journal.db"), 7)
	for i := range 25 {
		typ := "movement.entered"
		if i%5 == 4 {
			typ = "door.forced"
		}
		appendAll(t, j, draft(typ, i, person("CRN", "X123456"), info("door", "front")))
	}
	x := openIndex(t, filepath.Join(dir, "index.db"), j)
	run(t, x)
	waitIndexed(t, x, 25)
	tests := []struct {
		name  string
		q     Query
		pages [][]uint64
	}{
		{"oldest first", Query{Limit: 10}, [][]uint64{
			{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, {11, 12, 13, 14, 15, 16, 17, 18, 19, 20}, {21, 22, 23, 24, 25}}},
		{"newest first", Query{Limit: 10, Desc: true}, [][]uint64{
			{25, 24, 23, 22, 21, 20, 19, 18, 17, 16}, {15, 14, 13, 12, 11, 10, 9, 8, 7, 6}, {5, 4, 3, 2, 1}}},
		{"exact pages", Query{Limit: 5, Types: []string{"movement.entered"}, CRN: "X123456"}, [][]uint64{
			{1, 2, 3, 4, 6}, {7, 8, 9, 11, 12}, {13, 14, 16, 17, 18}, {19, 21, 22, 23, 24}}},
		{"filtered, newest first", Query{Limit: 2, Types: []string{"door.*"}, Desc: true}, [][]uint64{{25, 20}, {15, 10}, {5}}},
		{"default limit", Query{}, [][]uint64{
			{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := tc.q
			for i, want := range tc.pages {
				ss, next, err := x.Search(context.Background(), q)
				if err != nil {
					t.Fatal(err)
				}
				if got := seqs(ss); !slices.Equal(got, want) {
					t.Fatalf("page %d: %v, want %v", i, got, want)
				}
				last := i == len(tc.pages)-1
				if wantNext := want[len(want)-1]; !last && next != wantNext {
					t.Fatalf("page %d: next %d, want %d", i, next, wantNext)
				}
				if last && next != 0 {
					t.Fatalf("last page: next %d, want 0", next)
				}
				q.After = next
			}
		})
	}
}

func TestLimits(t *testing.T) {
	for _, tc := range []struct{ in, want int }{{0, DefaultLimit}, {-3, DefaultLimit}, {1, 1}, {MaxLimit, MaxLimit}, {MaxLimit + 1, MaxLimit}} {
		if got := clampLimit(tc.in); got != tc.want {
			t.Errorf("clampLimit(%d) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestLatest(t *testing.T) {
	j, x := setup(t)
	ctx := context.Background()
	tests := []struct {
		typ     string
		want    uint64
		wantTyp string
	}{
		{"curfew.roll", 9, "curfew.roll"},
		{"agent.started", 1, "agent.started"},
		{"door.*", 8, "door.held-open"},
		{"alarm.acknowledged", 0, ""},
	}
	for _, tc := range tests {
		s, ok, err := x.Latest(ctx, tc.typ)
		if err != nil {
			t.Fatal(err)
		}
		if ok != (tc.want != 0) || s.Seq != tc.want || s.Type != tc.wantTyp {
			t.Errorf("Latest(%q) = %d %q %v, want %d %q", tc.typ, s.Seq, s.Type, ok, tc.want, tc.wantTyp)
		}
	}
	seq := appendAll(t, j, draft("curfew.roll", 30, nil, info("in", []string{})))
	waitIndexed(t, x, seq)
	if s, ok, err := x.Latest(ctx, "curfew.roll"); err != nil || !ok || s.Seq != seq {
		t.Errorf("after a new roll, Latest = %d %v %v, want %d", s.Seq, ok, err, seq)
	}
}

func TestAlarms(t *testing.T) {
	j, x := setup(t)
	ctx := context.Background()
	check := func(what string, open bool, want []uint64) {
		t.Helper()
		as, err := x.Alarms(ctx, open, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := alarmSeqs(as); !slices.Equal(got, want) {
			t.Errorf("%s: Alarms(open=%v) = %v, want %v", what, open, got, want)
		}
	}
	// Fixture alarms: 3 door.forced, 5 reader.offline, 7 curfew.absent, 8 door.held-open.
	check("before acks", true, []uint64{8, 7, 5, 3})
	check("before acks", false, []uint64{8, 7, 5, 3})

	ack := appendAll(t, j, ackDraft(3, "J. Smith", "door checked, secured", 20))
	appendAll(t, j, ackDraft(3, "Someone Else", "second ack is not kept", 21))
	appendAll(t, j, ackDraft(2, "J. Smith", "not an alarm", 22))
	last := appendAll(t, j, ackDraft(99, "J. Smith", "no such entry", 23),
		draft("door.tailgate", 24, nil, info("door", "front")))
	waitIndexed(t, x, last)
	check("after acks", true, []uint64{last, 8, 7, 5})
	check("after acks", false, []uint64{last, 8, 7, 5, 3})

	a, err := x.Alarm(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := &Ack{By: "J. Smith", Note: "door checked, secured", At: t0.Add(20 * time.Minute), Seq: ack}
	if a.Type != "door.forced" || a.Acknowledged == nil || *a.Acknowledged != *want {
		t.Errorf("Alarm(3) = %+v, ack %+v; want door.forced acked %+v", a.Summary, a.Acknowledged, want)
	}
	if a, err := x.Alarm(ctx, 5); err != nil || a.Acknowledged != nil || a.Type != "reader.offline" {
		t.Errorf("Alarm(5) = %+v, %v; want open reader.offline", a, err)
	}
	for _, seq := range []uint64{2, ack, 999} {
		if _, err := x.Alarm(ctx, seq); !errors.Is(err, ErrNotFound) {
			t.Errorf("Alarm(%d) error %v, want ErrNotFound", seq, err)
		}
	}
	if as, err := x.Alarms(ctx, false, 2); err != nil || !slices.Equal(alarmSeqs(as), []uint64{last, 8}) {
		t.Errorf("Alarms limit 2 = %v, %v", alarmSeqs(as), err)
	}
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m["seq"] == nil || m["acknowledged"] == nil {
		t.Errorf("Alarm JSON %s: want the summary's fields and acknowledged", b)
	}
}

func TestAckInSameBatch(t *testing.T) {
	// An alarm and its acknowledgement indexed in one transaction, amid enough other
	// entries that rows go in multi-row inserts.
	dir := t.TempDir()
	db := filepath.Join(dir, "journal.db")
	j := openJournal(t, db, 7)
	appendMany(t, j, 100)
	alarm := appendAll(t, j, draft("door.forced", 1, nil, info("door", "back")))
	appendMany(t, j, 100)
	ack := appendAll(t, j, ackDraft(alarm, "J. Smith", "ok", 2))
	appendMany(t, j, 100)
	x := openIndex(t, Path(db), j)
	run(t, x)
	waitIndexed(t, x, j.Last())
	a, err := x.Alarm(context.Background(), alarm)
	if err != nil {
		t.Fatal(err)
	}
	if a.Acknowledged == nil || a.Acknowledged.Seq != ack {
		t.Errorf("alarm %d acknowledged %+v, want by seq %d", alarm, a.Acknowledged, ack)
	}
	if n := rows(t, x); n != int(j.Last()) {
		t.Errorf("%d rows, want %d", n, j.Last())
	}
}

func TestAlarmTypesChange(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "journal.db")
	j := openJournal(t, db, 7)
	last := appendAll(t, j, fixture()...)
	last = appendAll(t, j, ackDraft(2, "J. Smith", "seen", 30))
	x := openIndex(t, Path(db), j)
	stop := run(t, x)
	waitIndexed(t, x, last)
	stop()
	x.Close()

	saved := AlarmTypes
	t.Cleanup(func() { AlarmTypes = saved })
	AlarmTypes = []string{"movement.entered", "door.forced"}
	x = openIndex(t, Path(db), j)
	as, err := x.Alarms(context.Background(), false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := alarmSeqs(as); !slices.Equal(got, []uint64{10, 3, 2}) {
		t.Errorf("alarms %v, want [10 3 2]", got)
	}
	if as[2].Acknowledged == nil || as[2].Acknowledged.Seq != last {
		t.Errorf("seq 2, acknowledged before it was an alarm, has ack %+v", as[2].Acknowledged)
	}
}

func TestRestartResumes(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "journal.db")
	j := openJournal(t, db, 7)
	appendMany(t, j, 300)
	x := openIndex(t, Path(db), j)
	stop := run(t, x)
	waitIndexed(t, x, 300)
	stop()
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	// Mark the rows indexed so far: re-indexing them would replace the mark (or fail
	// on the primary key).
	mark := func() {
		raw, err := sql.Open("sqlite", Path(db))
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		if _, err := raw.Exec(`UPDATE entries SET subject = 'indexed before' WHERE seq <= 300`); err != nil {
			t.Fatal(err)
		}
	}
	mark()
	appendMany(t, j, 200)

	x = openIndex(t, Path(db), j)
	if got := x.Indexed(); got != 300 {
		t.Fatalf("reopened index has Indexed() = %d, want 300", got)
	}
	run(t, x)
	waitIndexed(t, x, 500)
	if n := rows(t, x); n != 500 {
		t.Errorf("%d rows, want 500", n)
	}
	var marked int
	if err := x.db.QueryRow(`SELECT count(*) FROM entries WHERE subject = 'indexed before'`).Scan(&marked); err != nil {
		t.Fatal(err)
	}
	if marked != 300 {
		t.Errorf("%d of the first 300 rows kept, want all: they were indexed again", marked)
	}
	ss, _, err := x.Search(context.Background(), Query{After: 300, Limit: 1})
	if err != nil || len(ss) != 1 || ss[0].Subject != "front-entrance" {
		t.Errorf("seq 301 = %+v, %v", ss, err)
	}
}

func TestRebuildWhenJournalReplaced(t *testing.T) {
	tests := []struct {
		name    string
		seed    byte // the new journal's key
		entries int
	}{
		{"new journal is shorter", 7, 40},
		{"new journal as long, different entries", 9, 100},
		{"new journal longer, different entries", 9, 150},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			j := openJournal(t, filepath.Join(dir, "old.db"), 7)
			appendMany(t, j, 99)
			appendAll(t, j, draft("door.forced", 1, nil, nil))
			path := filepath.Join(dir, "index.db")
			x := openIndex(t, path, j)
			stop := run(t, x)
			waitIndexed(t, x, 100)
			stop()
			x.Close()

			j2 := openJournal(t, filepath.Join(dir, "new.db"), tc.seed)
			appendMany(t, j2, tc.entries)
			x = openIndex(t, path, j2)
			run(t, x)
			// The old journal's only alarm, its last entry, goes with the rebuild.
			waitFor(t, "the index to be rebuilt", func() bool {
				as, err := x.Alarms(context.Background(), false, 0)
				if err != nil {
					t.Fatal(err)
				}
				return len(as) == 0 && x.Indexed() == uint64(tc.entries) && rows(t, x) == tc.entries
			})
			es, err := j2.Read(context.Background(), 1, 1, 0)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := summarize(1, es[0].Envelope, x.loc)
			ss, _, err := x.Search(context.Background(), Query{Limit: 1})
			if err != nil || len(ss) != 1 || ss[0].CRN != want.CRN || !ss[0].OccurredAt.Equal(want.OccurredAt) {
				t.Errorf("seq 1 = %+v (%v), want %+v", ss, err, want)
			}
		})
	}
}

func TestSubscribe(t *testing.T) {
	j, x := setup(t)
	ch, cancel := x.Subscribe()
	defer cancel()
	var ds []*event.Draft
	for i := range 50 {
		ds = append(ds, draft("movement.exited", 100+i, person("CRN", "X123456"), info("door", "front")))
	}
	last := appendAll(t, j, ds...)
	timeout := time.After(10 * time.Second)
	for want := uint64(11); want <= last; want++ {
		select {
		case s, ok := <-ch:
			if !ok {
				t.Fatalf("channel closed at %d", want)
			}
			if s.Seq != want || s.Type != "movement.exited" || s.CRN != "X123456" || s.Subject != "front" {
				t.Fatalf("got %+v, want seq %d", s, want)
			}
		case <-timeout:
			t.Fatalf("timed out waiting for seq %d", want)
		}
	}
	cancel()
	cancel() // idempotent
	if _, ok := <-ch; ok {
		t.Error("channel open after cancel")
	}
}

func TestSlowSubscriberClosed(t *testing.T) {
	j, x := setup(t)
	slow, cancel := x.Subscribe()
	defer cancel()
	n := SubscriberBuffer + 200
	appendMany(t, j, n)
	// Indexing goes on past the subscriber nobody reads, which is closed after
	// SubscriberBuffer summaries, with no gap before that.
	waitIndexed(t, x, uint64(10+n))
	want := uint64(11)
	for s := range slow {
		if s.Seq != want {
			t.Fatalf("slow subscriber got seq %d, want %d", s.Seq, want)
		}
		want++
	}
	if got := want - 11; got != SubscriberBuffer {
		t.Errorf("slow subscriber got %d before being closed, want %d", got, SubscriberBuffer)
	}
	if x.Lagged() != 1 {
		t.Errorf("Lagged() = %d, want 1", x.Lagged())
	}
	if n := rows(t, x); n != 10+SubscriberBuffer+200 {
		t.Errorf("%d rows", n)
	}
}

func TestCloseClosesSubscribers(t *testing.T) {
	dir := t.TempDir()
	j := openJournal(t, filepath.Join(dir, "journal.db"), 7)
	x, err := Open(context.Background(), filepath.Join(dir, "index.db"), j, nil)
	if err != nil {
		t.Fatal(err)
	}
	ch, cancel := x.Subscribe()
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-ch; ok {
		t.Error("channel open after Close")
	}
	cancel()
	if ch2, _ := x.Subscribe(); ch2 != nil {
		if _, ok := <-ch2; ok {
			t.Error("Subscribe after Close gave an open channel")
		}
	}
}

func TestUnparsedEntry(t *testing.T) {
	// Write garbage over two entries' payloads in the journal's database, where Read
	// returns them as they are; the journal only checks its last entry on Open.
	dir := t.TempDir()
	db := filepath.Join(dir, "journal.db")
	j := openJournal(t, db, 7)
	appendAll(t, j, fixture()...)
	j.Close()
	raw, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`UPDATE entries SET payload = CAST('not json at all' AS BLOB) WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`UPDATE entries SET payload = CAST('{"id":"AP-LDN-01-5","seq":5}' AS BLOB) WHERE seq = 5`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	j = openJournal(t, db, 7)
	x := openIndex(t, Path(db), j)
	run(t, x)
	waitIndexed(t, x, 10)
	last := appendAll(t, j, draft("door.forced", 30, nil, info("door", "back")))
	waitIndexed(t, x, last)
	if x.Unparsed() != 2 {
		t.Errorf("Unparsed() = %d, want 2", x.Unparsed())
	}
	ss, _, err := x.Search(context.Background(), Query{Types: []string{""}})
	if err != nil {
		t.Fatal(err)
	}
	if got := seqs(ss); !slices.Equal(got, []uint64{3, 5}) {
		t.Fatalf("unparsed rows %v, want [3 5]", got)
	}
	if ss[1].ID != "AP-LDN-01-5" || !ss[0].OccurredAt.IsZero() || ss[0].Data != nil {
		t.Errorf("unparsed rows %+v", ss)
	}
	if ss, _, err := x.Search(context.Background(), Query{Types: []string{"door.*"}}); err != nil || !slices.Equal(seqs(ss), []uint64{8, last}) {
		t.Errorf("door.* = %v, %v", seqs(ss), err)
	}
	if ss, _, err := x.Search(context.Background(), Query{To: t0.Add(time.Hour)}); err != nil || len(ss) != 9 {
		t.Errorf("time range matched %v, want the 9 parsed entries", seqs(ss))
	}
}

func TestFileMode(t *testing.T) {
	_, x := setup(t)
	for _, p := range []string{x.path, x.path + "-wal"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s mode %o, want 600", filepath.Base(p), m)
		}
	}
}

func TestFileModeTightened(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "index.db")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	j := openJournal(t, filepath.Join(dir, "journal.db"), 7)
	openIndex(t, path, j)
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v (%v), want 0600", fi.Mode(), err)
	}
}

func TestRunOnce(t *testing.T) {
	_, x := setup(t)
	if err := x.Run(context.Background()); err == nil {
		t.Error("a second Run while one runs: no error")
	}
}

func TestRunEndsWhenJournalCloses(t *testing.T) {
	dir := t.TempDir()
	j := openJournal(t, filepath.Join(dir, "journal.db"), 7)
	x := openIndex(t, filepath.Join(dir, "index.db"), j)
	done := make(chan error, 1)
	go func() { done <- x.Run(context.Background()) }()
	appendAll(t, j, fixture()...)
	waitIndexed(t, x, 10)
	j.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Run returned nil when the journal closed")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return when the journal closed")
	}
}
