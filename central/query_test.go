package central

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/formats/envelope"
	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/internal/sqlitedb"
)

// qEvent is what a query test knows of an event it made.
type qEvent struct {
	site      string
	seq       uint64
	typ       string
	at        time.Time
	crn, noms string
}

var qBase = time.Date(2026, 3, 29, 0, 0, 0, 0, time.UTC) // the night the clocks go forward

// queryChain makes n events of site whose types, people and times vary with seq, and
// what the test expects of each.
func queryChain(t *testing.T, site string, n int, offset time.Duration) ([][]byte, []qEvent) {
	t.Helper()
	types := []string{"movement.entered", "movement.exited", "door.forced", "curfew.breached"}
	people := []*event.PersonReference{
		{Identifiers: []event.Identifier{{Type: "CRN", Value: "X100001"}, {Type: "NOMS", Value: "A1001AA"}}},
		{Identifiers: []event.Identifier{{Type: "CRN", Value: "X100002"}}},
		nil,
	}
	var want []qEvent
	c := newChain(t, testKey(t, site))
	c.draft = func(seq uint64) *event.Draft {
		typ := types[seq%uint64(len(types))]
		person := people[seq%uint64(len(people))]
		if typ == "door.forced" {
			person = nil
		}
		// Times interleave across sites, some equal, to test the order's tie-breaks.
		at := qBase.Add(offset + time.Duration(seq/2)*time.Minute)
		w := qEvent{site: site, seq: seq, typ: event.TypePrefix + typ, at: at}
		if person != nil {
			for _, id := range person.Identifiers {
				if id.Type == "CRN" {
					w.crn = id.Value
				} else {
					w.noms = id.Value
				}
			}
		}
		want = append(want, w)
		return &event.Draft{Type: typ, OccurredAt: at, Person: person, Info: json.RawMessage(`{"door":"front"}`)}
	}
	return c.take(n), want
}

func sortQ(es []qEvent) {
	slices.SortFunc(es, func(a, b qEvent) int {
		return cmp.Or(a.at.Compare(b.at), strings.Compare(a.site, b.site), cmp.Compare(a.seq, b.seq))
	})
}

func keysOf(es []StoredEvent) []string {
	out := []string{}
	for _, e := range es {
		out = append(out, fmt.Sprintf("%s-%d", e.Site, e.Seq))
	}
	return out
}

func keysOfQ(es []qEvent) []string {
	out := []string{}
	for _, e := range es {
		out = append(out, fmt.Sprintf("%s-%d", e.site, e.seq))
	}
	return out
}

// TestQueryAcrossSites stores two sites' events and checks every kind of selection
// against the events it made, page by page.
func TestQueryAcrossSites(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func() string) {
		h := start(t, Options{Path: newStore()})
		abc, wantABC := queryChain(t, "ABC", 40, 0)
		xyz, wantXYZ := queryChain(t, "XYZ", 25, 30*time.Second)
		h.send("ABC", abc...)
		h.send("XYZ", xyz...)
		h.waitHead("ABC", 40)
		h.waitHead("XYZ", 25)
		all := append(append([]qEvent{}, wantABC...), wantXYZ...)
		sortQ(all)
		filter := func(keep func(qEvent) bool) []qEvent {
			var out []qEvent
			for _, e := range all {
				if keep(e) {
					out = append(out, e)
				}
			}
			return out
		}
		from, to := qBase.Add(5*time.Minute), qBase.Add(12*time.Minute)
		tests := []struct {
			name string
			q    Query
			want []qEvent
		}{
			{"everything", Query{Limit: MaxQueryLimit}, all},
			{"site", Query{Site: "XYZ"}, filter(func(e qEvent) bool { return e.site == "XYZ" })},
			{"crn", Query{CRN: "X100001"}, filter(func(e qEvent) bool { return e.crn == "X100001" })},
			{"noms", Query{NOMS: "A1001AA"}, filter(func(e qEvent) bool { return e.noms == "A1001AA" })},
			{"crn of nobody", Query{CRN: "X999999"}, nil},
			{"type", Query{Type: "door.forced"}, filter(func(e qEvent) bool { return e.typ == "approved-premises.door.forced" })},
			{"type with prefix", Query{Type: "approved-premises.curfew.breached"}, filter(func(e qEvent) bool { return e.typ == "approved-premises.curfew.breached" })},
			{"type family", Query{Type: "movement.*"}, filter(func(e qEvent) bool { return strings.HasPrefix(e.typ, "approved-premises.movement.") })},
			{"time range", Query{From: from, To: to}, filter(func(e qEvent) bool { return !e.at.Before(from) && e.at.Before(to) })},
			{"all together", Query{Site: "ABC", CRN: "X100002", Type: "movement.*", From: from},
				filter(func(e qEvent) bool {
					return e.site == "ABC" && e.crn == "X100002" && strings.HasPrefix(e.typ, "approved-premises.movement.") && !e.at.Before(from)
				})},
		}
		for _, tt := range tests {
			page, err := h.r.Query(context.Background(), tt.q)
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			if got, want := keysOf(page.Events), keysOfQ(tt.want); !slices.Equal(got, want) {
				t.Errorf("%s: got %v\nwant %v", tt.name, got, want)
			}
			// Paged 4 at a time, the same events in the same order.
			pq, paged := tt.q, []StoredEvent{}
			pq.Limit = 4
			for range 100 {
				p, err := h.r.Query(context.Background(), pq)
				if err != nil {
					t.Fatalf("%s paged: %v", tt.name, err)
				}
				paged = append(paged, p.Events...)
				if p.Next == "" {
					break
				}
				pq.After = p.Next
			}
			if got, want := keysOf(paged), keysOfQ(tt.want); !slices.Equal(got, want) {
				t.Errorf("%s paged: got %v\nwant %v", tt.name, got, want)
			}
		}
		// What a query returns is the stored envelope and its event, as signed.
		page, err := h.r.Query(context.Background(), Query{Site: "ABC", Limit: 1})
		if err != nil || len(page.Events) != 1 {
			t.Fatalf("one event: %+v, %v", page, err)
		}
		e := page.Events[0]
		d, _ := envelope.Decode(abc[0])
		if !bytes.Equal(e.Envelope, abc[0]) || !bytes.Equal(e.Event, d.Payload) || e.ID != "ABC-1" || e.CRN != "X100002" ||
			e.Type != "approved-premises.movement.exited" || !e.OccurredAt.Equal(qBase) || e.ReceivedAt.IsZero() {
			t.Fatalf("stored event %+v", e)
		}
		// The same from the store opened for reading only.
		ro, err := QueryStore(context.Background(), h.o.Path, Query{Site: "ABC", Limit: 1})
		if err != nil || len(ro.Events) != 1 || ro.Events[0].ID != "ABC-1" {
			t.Fatalf("QueryStore: %+v, %v", ro, err)
		}
	})
}

func TestQueryHTTP(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func() string) {
		h := start(t, Options{Path: newStore()})
		abc, want := queryChain(t, "ABC", 30, 0)
		h.send("ABC", abc...)
		h.waitHead("ABC", 30)
		srv := httptest.NewServer(QueryHandler(h.r, testLogger(t)))
		defer srv.Close()
		get := func(query string) (int, []byte) {
			t.Helper()
			resp, err := http.Get(srv.URL + "/v1/events?" + query)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var b bytes.Buffer
			b.ReadFrom(resp.Body)
			return resp.StatusCode, b.Bytes()
		}
		var crn []qEvent
		for _, e := range want {
			if e.crn == "X100001" {
				crn = append(crn, e)
			}
		}
		sortQ(crn)
		if len(crn) < 4 {
			t.Fatalf("only %d events of X100001", len(crn))
		}
		code, body := get(url.Values{"crn": {"X100001"}, "limit": {"2"}, "from": {qBase.Format(time.RFC3339)}}.Encode())
		var page Page
		if err := json.Unmarshal(body, &page); code != 200 || err != nil {
			t.Fatalf("GET: %d %s (%v)", code, body, err)
		}
		if got := keysOf(page.Events); !slices.Equal(got, keysOfQ(crn[:2])) || page.Next == "" {
			t.Fatalf("page 1: %v, next %q", got, page.Next)
		}
		var raw struct {
			Events []map[string]json.RawMessage `json:"events"`
		}
		json.Unmarshal(body, &raw)
		for _, k := range []string{"site", "seq", "id", "type", "occurredAt", "receivedAt", "crn", "noms", "event", "envelope"} {
			if _, ok := raw.Events[0][k]; !ok {
				t.Errorf("event has no %q: %s", k, body)
			}
		}
		code, body = get(url.Values{"crn": {"X100001"}, "limit": {"2"}, "after": {page.Next}}.Encode())
		if err := json.Unmarshal(body, &page); code != 200 || err != nil || !slices.Equal(keysOf(page.Events), keysOfQ(crn[2:4])) {
			t.Fatalf("page 2: %d %s", code, body)
		}

		bad := []struct{ query, want string }{
			{"site=A/B", "site"},
			{"crn=X1'--", "crn"},
			{"type=door.FORCED", "type"},
			{"type=approved-premises.", "type"},
			{"from=yesterday", "from"},
			{"from=2026-03-29T02:00:00Z&to=2026-03-29T01:00:00Z", "not before"},
			{"limit=0", "limit"},
			{"limit=1001", "limit"},
			{"after=nonsense", "after"},
			{"who=me", "unknown parameter"},
			{"site=ABC&site=XYZ", "2 times"},
			{"crn=%zz", "query string"},
			{"site=ABC&crn=X1%2", "query string"},
			{"site=ABC&type=%G0", "query string"},
			{strings.Repeat("site=ABC&", 10000) + "crn=X100001", "query string"},
		}
		for _, b := range bad {
			code, body := get(b.query)
			var e struct{ Error string }
			if json.Unmarshal(body, &e); code != http.StatusBadRequest || !strings.Contains(e.Error, b.want) {
				t.Errorf("%s: %d %s, want 400 naming %q", b.query, code, body, b.want)
			}
		}
		resp, err := http.Post(srv.URL+"/v1/events", "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST: %d, want 405", resp.StatusCode)
		}
		resp, err = http.Get(srv.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("healthz: %d", resp.StatusCode)
		}
	})
}

// TestSQLiteStoreFromBeforeQueries opens a store written by the receiver before
// migration 2 (no query columns, heads without held state), fills the query columns of
// its events, and goes on from its heads.
func TestSQLiteStoreFromBeforeQueries(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "central.db")
	db, err := sqlitedb.Open(ctx, path, sqliteMigrations()[:1])
	if err != nil {
		t.Fatal(err)
	}
	abc, want := queryChain(t, "ABC", 30, 0)
	var hash [32]byte
	for i, env := range abc[:20] {
		d, _ := envelope.Decode(env)
		hash = event.Hash(d.Payload)
		if _, err := db.Exec(`INSERT INTO events (site, seq, id, source, payload_hash, envelope, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			"ABC", i+1, fmt.Sprintf("ABC-%d", i+1), event.Source("ABC"), hash[:], env, time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(`INSERT INTO heads (site, seq, hash, updated_at) VALUES ('ABC', 20, ?, '2026-03-29T00:00:00Z')`, hash[:]); err != nil {
		t.Fatal(err)
	}
	db.Close()

	h := start(t, Options{Path: path})
	if got := h.r.Heads()["ABC"]; got != 20 {
		t.Fatalf("head %d after migrating", got)
	}
	h.send("ABC", abc[15:]...)
	h.waitHead("ABC", 30)
	checkStored(t, path, "ABC", abc)
	page, err := h.r.Query(ctx, Query{NOMS: "A1001AA"})
	if err != nil {
		t.Fatal(err)
	}
	var wantNOMS []qEvent
	for _, e := range want {
		if e.noms == "A1001AA" {
			wantNOMS = append(wantNOMS, e)
		}
	}
	sortQ(wantNOMS)
	if got := keysOf(page.Events); !slices.Equal(got, keysOfQ(wantNOMS)) || len(got) < 5 {
		t.Fatalf("NOMS query over migrated and new events: %v, want %v", got, keysOfQ(wantNOMS))
	}
}
