package event_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/formats/event"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const testSite = "MAN1"

func newBuilder(t testing.TB) *event.Builder {
	t.Helper()
	b, err := event.NewBuilder(testSite)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mustHash returns the 32 bytes named by a 64-digit hex string.
func mustHash(t testing.TB, s string) [32]byte {
	t.Helper()
	var h [32]byte
	if n, err := hex.Decode(h[:], []byte(s)); err != nil || n != 32 {
		t.Fatalf("bad test hash %q: %v", s, err)
	}
	return h
}

// typicalPerson returns a person named by CRN and NOMS number.
func typicalPerson() *event.PersonReference {
	return &event.PersonReference{Identifiers: []event.Identifier{
		{Type: "CRN", Value: "X123456"},
		{Type: "NOMS", Value: "A1234BC"},
	}}
}

// validPayload is a well-formed event, the one every entry of testdata/bad is a
// mutation of.
func validPayload(t testing.TB) []byte {
	t.Helper()
	p, err := newBuilder(t).Build(7, mustHash(t, strings.Repeat("ab", 32)), &event.Draft{
		Type:        "movement.entered",
		OccurredAt:  time.Date(2026, 1, 15, 21, 4, 5, 250_000_000, time.UTC),
		Description: "X123456 entered by the front door",
		Person:      typicalPerson(),
		Info:        json.RawMessage(`{"door":"front","reader":"front-in","credential":{"kind":"card"}}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNewBuilder(t *testing.T) {
	tests := []struct {
		site string
		ok   bool
	}{
		{"MAN1", true},
		{"AP-MAN-02", true},
		{"", false},
		{"-MAN", false},
		{"MAN 1", false},
		{"MAN/1", false},
	}
	for _, tc := range tests {
		t.Run(tc.site, func(t *testing.T) {
			b, err := event.NewBuilder(tc.site)
			if (err == nil) != tc.ok {
				t.Fatalf("NewBuilder(%q) err = %v, want ok %v", tc.site, err, tc.ok)
			}
			if err != nil {
				return
			}
			if b.Site != tc.site || b.Loc == nil || b.Loc.String() != "Europe/London" {
				t.Fatalf("NewBuilder(%q) = %+v, want site %q in Europe/London", tc.site, b, tc.site)
			}
		})
	}
}

func TestBuildParseRoundTrip(t *testing.T) {
	prev := mustHash(t, "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		seq      uint64
		prev     [32]byte
		draft    event.Draft
		wantTime string
	}{
		{
			name:     "genesis minimal",
			seq:      1,
			prev:     event.GenesisHash,
			draft:    event.Draft{Type: "agent.started", OccurredAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
			wantTime: "2026-01-01T00:00:00Z",
		},
		{
			name: "person and info",
			seq:  2,
			prev: prev,
			draft: event.Draft{
				Type:        "movement.entered",
				OccurredAt:  time.Date(2026, 6, 1, 12, 30, 0, 123_456_789, time.UTC),
				Description: "entered",
				Person:      typicalPerson(),
				Info:        json.RawMessage(`{"door":"front","credential":{"kind":"card","number":"0042"}}`),
			},
			wantTime: "2026-06-01T12:30:00.123456789Z",
		},
		{
			name:     "non-UTC instant stored as UTC",
			seq:      3,
			prev:     prev,
			draft:    event.Draft{Type: "movement.exited", OccurredAt: time.Date(2026, 7, 1, 9, 0, 0, 0, paris)},
			wantTime: "2026-07-01T07:00:00Z",
		},
		{
			name: "HTML and non-ASCII kept literally",
			seq:  4,
			prev: prev,
			draft: event.Draft{
				Type:        "note.added",
				OccurredAt:  time.Date(2026, 2, 2, 2, 2, 2, 0, time.UTC),
				Description: "<b>Zoë</b> & co",
				Info:        json.RawMessage(`{"text":"a<b>&c"}`),
			},
			wantTime: "2026-02-02T02:02:02Z",
		},
		{
			name: "info whitespace compacted",
			seq:  5,
			prev: prev,
			draft: event.Draft{
				Type:       "door.forced",
				OccurredAt: time.Date(2026, 2, 2, 2, 2, 2, 0, time.UTC),
				Info:       json.RawMessage("{ \"door\" :\n \"back\" }"),
			},
			wantTime: "2026-02-02T02:02:02Z",
		},
		{
			name:     "largest seq",
			seq:      event.MaxSeq,
			prev:     prev,
			draft:    event.Draft{Type: "agent.started", OccurredAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
			wantTime: "2026-01-01T00:00:00Z",
		},
		{
			name:     "origin not in payload",
			seq:      6,
			prev:     prev,
			draft:    event.Draft{Type: "agent.started", OccurredAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Origin: "bus/boot-1/reader/r1/9"},
			wantTime: "2026-01-01T00:00:00Z",
		},
	}
	b := newBuilder(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := b.Build(tc.seq, tc.prev, &tc.draft)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			if bytes.HasSuffix(p, []byte("\n")) {
				t.Error("payload ends in a newline")
			}
			var c bytes.Buffer
			if err := json.Compact(&c, p); err != nil || !bytes.Equal(c.Bytes(), p) {
				t.Errorf("payload is not compact JSON: %s", p)
			}
			if tc.draft.Origin != "" && bytes.Contains(p, []byte(tc.draft.Origin)) {
				t.Errorf("payload carries the origin %q: %s", tc.draft.Origin, p)
			}
			if strings.ContainsAny(tc.draft.Description, "<>&") && !bytes.Contains(p, []byte(tc.draft.Description)) {
				t.Errorf("description %q not written literally: %s", tc.draft.Description, p)
			}

			e, err := event.Parse(p)
			if err != nil {
				t.Fatalf("Parse(Build()): %v\n%s", err, p)
			}
			typ := event.TypePrefix + tc.draft.Type
			wantID := testSite + "-" + jsonNumber(tc.seq)
			checks := []struct {
				field     string
				got, want any
			}{
				{"specversion", e.SpecVersion, "1.0"},
				{"id", e.ID, wantID},
				{"id via ID", e.ID, event.ID(testSite, tc.seq)},
				{"source", e.Source, "urn:apedge:site:" + testSite},
				{"Site()", e.Site(), testSite},
				{"type", e.Type, typ},
				{"time", e.Time, tc.wantTime},
				{"datacontenttype", e.DataContentType, "application/json"},
				{"seq", e.Seq, tc.seq},
				{"prevhash", e.PrevHash, hex.EncodeToString(tc.prev[:])},
				{"Prev()", e.Prev(), tc.prev},
				{"data.eventType", e.Data.EventType, typ},
				{"data.version", e.Data.Version, 1},
				{"data.description", e.Data.Description, tc.draft.Description},
				{"data.occurredAt", e.Data.OccurredAt, tc.wantTime},
				{"data.personReference", e.Data.PersonReference, tc.draft.Person},
			}
			for _, ck := range checks {
				if !reflect.DeepEqual(ck.got, ck.want) {
					t.Errorf("%s = %#v, want %#v", ck.field, ck.got, ck.want)
				}
			}
			if tc.draft.Info == nil {
				if e.Data.AdditionalInformation != nil {
					t.Errorf("additionalInformation = %s, want absent", e.Data.AdditionalInformation)
				}
				if bytes.Contains(p, []byte("additionalInformation")) {
					t.Errorf("payload has additionalInformation: %s", p)
				}
			} else {
				var want bytes.Buffer
				if err := json.Compact(&want, tc.draft.Info); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(e.Data.AdditionalInformation, want.Bytes()) {
					t.Errorf("additionalInformation = %s, want %s", e.Data.AdditionalInformation, want.Bytes())
				}
			}
			if err := e.Follows(tc.seq-1, tc.prev); err != nil {
				t.Errorf("Follows its own predecessor: %v", err)
			}
		})
	}
}

func jsonNumber(n uint64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestBuildGolden pins the exact bytes of a short chain, the bytes a site signs.
func TestBuildGolden(t *testing.T) {
	b := newBuilder(t)
	drafts := []*event.Draft{
		{Type: "agent.started", OccurredAt: time.Date(2026, 3, 29, 0, 59, 59, 0, time.UTC), Info: json.RawMessage(`{"version":"0.1.0"}`)},
		{Type: "movement.exited", OccurredAt: time.Date(2026, 3, 29, 1, 0, 0, 500_000_000, time.UTC),
			Description: "left by the front door", Person: typicalPerson(),
			Info: json.RawMessage(`{"door":"front","reader":"front-out","credential":{"kind":"card"}}`)},
		{Type: "movement.entered", OccurredAt: time.Date(2026, 10, 25, 1, 30, 0, 0, time.UTC), Person: typicalPerson()},
	}
	var got bytes.Buffer
	prev := event.GenesisHash
	for i, d := range drafts {
		p, err := b.Build(uint64(i+1), prev, d)
		if err != nil {
			t.Fatal(err)
		}
		prev = event.Hash(p)
		got.Write(p)
		got.WriteByte('\n')
	}
	golden := filepath.Join("testdata", "chain.golden")
	if *update {
		if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("built payloads differ from %s (run go test -update if the format changed on purpose):\n got %s\nwant %s", golden, got.Bytes(), want)
	}

	// The golden chain must itself verify, link by link.
	prevSeq, prevHash := uint64(0), event.GenesisHash
	for i, line := range bytes.Split(bytes.TrimSuffix(want, []byte("\n")), []byte("\n")) {
		e, err := event.Parse(line)
		if err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if err := e.Follows(prevSeq, prevHash); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		prevSeq, prevHash = e.Seq, event.Hash(line)
	}
}

func TestOccurredAtLocal(t *testing.T) {
	tests := []struct {
		name string
		at   time.Time
		want string
	}{
		{"winter", time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC), "2026-01-15T12:00:00+00:00"},
		{"summer", time.Date(2026, 7, 15, 12, 0, 0, 0, time.UTC), "2026-07-15T13:00:00+01:00"},
		{"summer fraction", time.Date(2026, 7, 15, 12, 0, 0, 120_000_000, time.UTC), "2026-07-15T13:00:00.12+01:00"},
		{"summer late evening crosses date", time.Date(2026, 7, 15, 23, 30, 0, 0, time.UTC), "2026-07-16T00:30:00+01:00"},
		{"last second of GMT in spring", time.Date(2026, 3, 29, 0, 59, 59, 0, time.UTC), "2026-03-29T00:59:59+00:00"},
		{"last nanosecond of GMT in spring", time.Date(2026, 3, 29, 0, 59, 59, 999_999_999, time.UTC), "2026-03-29T00:59:59.999999999+00:00"},
		{"first instant of BST", time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC), "2026-03-29T02:00:00+01:00"},
		{"first second of BST", time.Date(2026, 3, 29, 1, 0, 1, 0, time.UTC), "2026-03-29T02:00:01+01:00"},
		{"last second of BST in autumn", time.Date(2026, 10, 25, 0, 59, 59, 0, time.UTC), "2026-10-25T01:59:59+01:00"},
		{"first instant of GMT in autumn", time.Date(2026, 10, 25, 1, 0, 0, 0, time.UTC), "2026-10-25T01:00:00+00:00"},
		{"repeated hour, second time", time.Date(2026, 10, 25, 1, 30, 0, 0, time.UTC), "2026-10-25T01:30:00+00:00"},
		{"repeated hour, first time", time.Date(2026, 10, 25, 0, 30, 0, 0, time.UTC), "2026-10-25T01:30:00+01:00"},
		{"given in another zone", time.Date(2026, 7, 15, 8, 0, 0, 0, time.FixedZone("EDT", -4*3600)), "2026-07-15T13:00:00+01:00"},
	}
	b := newBuilder(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := b.Build(1, event.GenesisHash, &event.Draft{Type: "movement.entered", OccurredAt: tc.at})
			if err != nil {
				t.Fatal(err)
			}
			e, err := event.Parse(p)
			if err != nil {
				t.Fatal(err)
			}
			if e.Data.OccurredAtLocal != tc.want {
				t.Errorf("occurredAtLocal = %q, want %q", e.Data.OccurredAtLocal, tc.want)
			}
			// The local time names the same instant as occurredAt.
			local, err := time.Parse(time.RFC3339Nano, e.Data.OccurredAtLocal)
			if err != nil {
				t.Fatalf("occurredAtLocal does not parse as RFC 3339: %v", err)
			}
			if !local.Equal(tc.at) {
				t.Errorf("occurredAtLocal %s is instant %s, want %s", e.Data.OccurredAtLocal, local.UTC(), tc.at.UTC())
			}
			if want := tc.at.UTC().Format(time.RFC3339Nano); e.Time != want || e.Data.OccurredAt != want {
				t.Errorf("time, occurredAt = %q, %q, want %q", e.Time, e.Data.OccurredAt, want)
			}
		})
	}
}

func TestBuildErrors(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		seq   uint64
		draft event.Draft
	}{
		{"seq 0", 0, event.Draft{Type: "agent.started", OccurredAt: at}},
		{"seq above MaxSeq", event.MaxSeq + 1, event.Draft{Type: "agent.started", OccurredAt: at}},
		{"seq max uint64", 1<<64 - 1, event.Draft{Type: "agent.started", OccurredAt: at}},
		{"empty type", 1, event.Draft{OccurredAt: at}},
		{"type with prefix", 1, event.Draft{Type: event.TypePrefix + "agent.started", OccurredAt: at}},
		{"type uppercase", 1, event.Draft{Type: "Agent.Started", OccurredAt: at}},
		{"type with space", 1, event.Draft{Type: "agent started", OccurredAt: at}},
		{"type with slash", 1, event.Draft{Type: "agent/started", OccurredAt: at}},
		{"type too long", 1, event.Draft{Type: strings.Repeat("a", 65), OccurredAt: at}},
		{"zero time", 1, event.Draft{Type: "agent.started"}},
		{"info array", 1, event.Draft{Type: "agent.started", OccurredAt: at, Info: json.RawMessage(`[1,2]`)}},
		{"info string", 1, event.Draft{Type: "agent.started", OccurredAt: at, Info: json.RawMessage(`"x"`)}},
		{"info null", 1, event.Draft{Type: "agent.started", OccurredAt: at, Info: json.RawMessage(`null`)}},
		{"info truncated object", 1, event.Draft{Type: "agent.started", OccurredAt: at, Info: json.RawMessage(`{"a":`)}},
		{"info two objects", 1, event.Draft{Type: "agent.started", OccurredAt: at, Info: json.RawMessage(`{}{}`)}},
		{"info leading space", 1, event.Draft{Type: "agent.started", OccurredAt: at, Info: json.RawMessage(` {}`)}},
		// A payload Parse refuses would be signed, journaled and then refused by
		// central, stopping the site's chain at that seq for good.
		{"person identifier type not CRN or NOMS", 1, event.Draft{Type: "agent.started", OccurredAt: at,
			Person: &event.PersonReference{Identifiers: []event.Identifier{{Type: "PNC", Value: "2001/1234567A"}}}}},
		{"occurredAt after year 9999", 1, event.Draft{Type: "agent.started", OccurredAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{"occurredAt year 9999 in a zone west of UTC", 1, event.Draft{Type: "agent.started",
			OccurredAt: time.Date(9999, 12, 31, 23, 30, 0, 0, time.FixedZone("", -3600))}},
		{"occurredAt before year 0", 1, event.Draft{Type: "agent.started", OccurredAt: time.Date(-1, 6, 1, 0, 0, 0, 0, time.UTC)}},
	}
	b := newBuilder(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := b.Build(tc.seq, event.GenesisHash, &tc.draft)
			if err == nil {
				t.Fatalf("Build succeeded: %s", p)
			}
			if p != nil {
				t.Errorf("Build returned a payload with its error: %s", p)
			}
			if !strings.HasPrefix(err.Error(), "event: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

// TestBuildBuilderSite checks that a Builder made without NewBuilder cannot produce an
// event Parse would refuse.
func TestBuildBuilderSite(t *testing.T) {
	b := &event.Builder{Site: "not a site", Loc: time.UTC}
	if p, err := b.Build(1, event.GenesisHash, &event.Draft{Type: "agent.started", OccurredAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}); err == nil {
		t.Fatalf("Build with an invalid site succeeded: %s", p)
	}
}

func TestValidType(t *testing.T) {
	tests := []struct {
		typ string
		ok  bool
	}{
		{"movement.entered", true},
		{"a", true},
		{"door-forced.v2", true},
		{strings.Repeat("a", 64), true},
		{"", false},
		{strings.Repeat("a", 65), false},
		{"approved-premises.movement.entered", false},
		{"Movement", false},
		{"movement_entered", false},
		{"movement entered", false},
		{"mövement", false},
	}
	for _, tc := range tests {
		t.Run(tc.typ, func(t *testing.T) {
			if err := event.ValidType(tc.typ); (err == nil) != tc.ok {
				t.Errorf("ValidType(%q) = %v, want ok %v", tc.typ, err, tc.ok)
			}
		})
	}
}

func TestHashAndID(t *testing.T) {
	p := validPayload(t)
	if got, want := event.Hash(p), sha256.Sum256(p); got != want {
		t.Errorf("Hash = %x, want SHA-256 %x", got, want)
	}
	if event.GenesisHash != [32]byte{} {
		t.Errorf("GenesisHash = %x, want zeros", event.GenesisHash)
	}
	for _, tc := range []struct {
		site string
		seq  uint64
		want string
	}{
		{"MAN1", 1, "MAN1-1"},
		{"AP-MAN-02", 2147483647, "AP-MAN-02-2147483647"},
	} {
		if got := event.ID(tc.site, tc.seq); got != tc.want {
			t.Errorf("ID(%q, %d) = %q, want %q", tc.site, tc.seq, got, tc.want)
		}
	}
	if got := event.Source("MAN1"); got != "urn:apedge:site:MAN1" {
		t.Errorf("Source = %q", got)
	}
}

// parseRejects lists payloads Parse must refuse, each made from validPayload by
// replacing exactly one occurrence of old with new (or, with whole set, replacing
// everything). Each is kept as testdata/bad/{name}.json.
var parseRejects = []struct {
	name     string
	old, new string
	whole    string
	wantErr  string
}{
	{name: "specversion", old: `"specversion":"1.0"`, new: `"specversion":"0.3"`, wantErr: "specversion"},
	{name: "specversion-missing", old: `"specversion":"1.0",`, new: ``, wantErr: "specversion"},
	{name: "specversion-number", old: `"specversion":"1.0"`, new: `"specversion":1.0`, wantErr: "specversion"},
	{name: "source-prefix", old: `"source":"urn:apedge:site:MAN1"`, new: `"source":"urn:other:site:MAN1"`, wantErr: "source"},
	{name: "source-site", old: `"source":"urn:apedge:site:MAN1"`, new: `"source":"urn:apedge:site:MAN 1"`, wantErr: "source"},
	{name: "source-empty-site", old: `"source":"urn:apedge:site:MAN1"`, new: `"source":"urn:apedge:site:"`, wantErr: "source"},
	{name: "id-mismatch-seq", old: `"id":"MAN1-7"`, new: `"id":"MAN1-8"`, wantErr: "id"},
	{name: "id-mismatch-site", old: `"id":"MAN1-7"`, new: `"id":"LDS2-7"`, wantErr: "id"},
	{name: "id-leading-zero", old: `"id":"MAN1-7"`, new: `"id":"MAN1-07"`, wantErr: "id"},
	{name: "seq-zero", old: `"seq":7`, new: `"seq":0`, wantErr: "seq"},
	{name: "seq-above-max", old: `"seq":7`, new: `"seq":2147483648`, wantErr: "seq"},
	{name: "seq-negative", old: `"seq":7`, new: `"seq":-7`, wantErr: "seq"},
	{name: "seq-string", old: `"seq":7`, new: `"seq":"7"`, wantErr: "seq"},
	{name: "seq-fraction", old: `"seq":7`, new: `"seq":7.5`, wantErr: "seq"},
	{name: "type-prefix", old: `"type":"approved-premises.movement.entered"`, new: `"type":"movement.entered"`, wantErr: "type"},
	{name: "type-prefix-only", old: `"type":"approved-premises.movement.entered"`, new: `"type":"approved-premises."`, wantErr: "type"},
	{name: "type-uppercase", old: `"type":"approved-premises.movement.entered"`, new: `"type":"approved-premises.Movement.Entered"`, wantErr: "type"},
	{name: "eventtype-mismatch", old: `"eventType":"approved-premises.movement.entered"`, new: `"eventType":"approved-premises.movement.exited"`, wantErr: "eventType"},
	{name: "eventtype-missing", old: `"eventType":"approved-premises.movement.entered",`, new: ``, wantErr: "eventType"},
	{name: "datacontenttype", old: `"datacontenttype":"application/json"`, new: `"datacontenttype":"text/plain"`, wantErr: "datacontenttype"},
	{name: "datacontenttype-missing", old: `"datacontenttype":"application/json",`, new: ``, wantErr: "datacontenttype"},
	{name: "prevhash-short", old: `"prevhash":"abab`, new: `"prevhash":"ab`, wantErr: "prevhash"},
	{name: "prevhash-long", old: `"prevhash":"abab`, new: `"prevhash":"ababab`, wantErr: "prevhash"},
	{name: "prevhash-uppercase", old: `"prevhash":"abab`, new: `"prevhash":"ABab`, wantErr: "prevhash"},
	{name: "prevhash-nonhex", old: `"prevhash":"abab`, new: `"prevhash":"zzab`, wantErr: "prevhash"},
	{name: "prevhash-missing", old: `"prevhash":"` + strings.Repeat("ab", 32) + `",`, new: ``, wantErr: "prevhash"},
	{name: "time-bad", old: `"time":"2026-01-15T21:04:05.25Z"`, new: `"time":"2026-01-15 21:04:05"`, wantErr: "time"},
	{name: "time-no-zone", old: `"time":"2026-01-15T21:04:05.25Z"`, new: `"time":"2026-01-15T21:04:05.25"`, wantErr: "time"},
	{name: "time-missing", old: `"time":"2026-01-15T21:04:05.25Z",`, new: ``, wantErr: "time"},
	{name: "occurredat-bad", old: `"occurredAt":"2026-01-15T21:04:05.25Z"`, new: `"occurredAt":"yesterday"`, wantErr: "occurredAt"},
	{name: "person-type", old: `"type":"NOMS"`, new: `"type":"PNC"`, wantErr: "personReference"},
	{name: "person-type-lowercase", old: `"type":"CRN"`, new: `"type":"crn"`, wantErr: "personReference"},
	{name: "data-not-object", whole: `{"specversion":"1.0","id":"MAN1-7","source":"urn:apedge:site:MAN1","type":"approved-premises.movement.entered","time":"2026-01-15T21:04:05.25Z","datacontenttype":"application/json","seq":7,"prevhash":"` + strings.Repeat("ab", 32) + `","data":"approved-premises.movement.entered"}`, wantErr: "event"},
	{name: "not-json", whole: `this is not JSON`, wantErr: "event"},
	{name: "truncated", whole: `{"specversion":"1.0","id":"MAN1-7"`, wantErr: "event"},
	{name: "json-array", whole: `[{"specversion":"1.0"}]`, wantErr: "event"},
	{name: "json-null", whole: `null`, wantErr: "specversion"},
	{name: "empty", whole: ``, wantErr: "event"},
	{name: "empty-object", whole: `{}`, wantErr: "specversion"},
	{name: "trailing-garbage", whole: `{"specversion":"1.0"} {}`, wantErr: "event"},
}

func TestParseRejects(t *testing.T) {
	valid := validPayload(t)
	if _, err := event.Parse(valid); err != nil {
		t.Fatalf("the valid payload does not parse: %v", err)
	}
	for _, tc := range parseRejects {
		t.Run(tc.name, func(t *testing.T) {
			var p []byte
			if tc.old != "" {
				if n := bytes.Count(valid, []byte(tc.old)); n != 1 {
					t.Fatalf("%q occurs %d times in the valid payload, want once:\n%s", tc.old, n, valid)
				}
				p = bytes.Replace(valid, []byte(tc.old), []byte(tc.new), 1)
			} else {
				p = []byte(tc.whole)
			}
			e, err := event.Parse(p)
			if err == nil {
				t.Fatalf("Parse accepted %s as %+v", p, e)
			}
			if e != nil {
				t.Errorf("Parse returned an event with its error")
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %q, want it to mention %q", err, tc.wantErr)
			}
			golden := filepath.Join("testdata", "bad", tc.name+".json")
			if *update {
				if err := os.WriteFile(golden, p, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if !bytes.Equal(p, want) {
				t.Errorf("%s differs from the rejection it records (run go test -update):\n got %s\nwant %s", golden, p, want)
			}
		})
	}
}

// TestBadCorpus checks that Parse refuses every file in testdata/bad, including any
// added by hand or found by fuzzing.
func TestBadCorpus(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "bad", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < len(parseRejects) {
		t.Fatalf("testdata/bad has %d files, want at least %d", len(files), len(parseRejects))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if e, err := event.Parse(b); err == nil {
				t.Fatalf("Parse accepted %s as %+v", b, e)
			}
		})
	}
}

func TestFollows(t *testing.T) {
	b := newBuilder(t)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	build := func(seq uint64, prev [32]byte) ([]byte, *event.Event) {
		t.Helper()
		p, err := b.Build(seq, prev, &event.Draft{Type: "agent.started", OccurredAt: at})
		if err != nil {
			t.Fatal(err)
		}
		e, err := event.Parse(p)
		if err != nil {
			t.Fatal(err)
		}
		return p, e
	}
	p1, e1 := build(1, event.GenesisHash)
	h1 := event.Hash(p1)
	_, e2 := build(2, h1)
	_, e3 := build(3, h1) // claims to follow event 1, but at seq 3
	_, e2bad := build(2, event.Hash([]byte("something else")))

	tests := []struct {
		name     string
		e        *event.Event
		prevSeq  uint64
		prevHash [32]byte
		ok       bool
	}{
		{"genesis", e1, 0, event.GenesisHash, true},
		{"genesis with wrong hash", e1, 0, h1, false},
		{"first event after an event", e1, 1, h1, false},
		{"ok", e2, 1, h1, true},
		{"wrong prevhash", e2bad, 1, h1, false},
		{"prevhash of genesis", e2, 1, event.GenesisHash, false},
		{"gap", e3, 1, h1, false},
		{"repeat", e2, 2, h1, false},
		{"behind", e2, 3, h1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.e.Follows(tc.prevSeq, tc.prevHash)
			if tc.ok {
				if err != nil {
					t.Fatalf("Follows(%d, %x) = %v, want nil", tc.prevSeq, tc.prevHash[:4], err)
				}
				return
			}
			if !errors.Is(err, event.ErrChain) {
				t.Fatalf("Follows(%d, %x) = %v, want ErrChain", tc.prevSeq, tc.prevHash[:4], err)
			}
		})
	}
}

// FuzzParse feeds arbitrary bytes to Parse: it must not panic, and anything it accepts
// must be self-consistent.
func FuzzParse(f *testing.F) {
	f.Add(validPayload(f))
	golden, err := os.ReadFile(filepath.Join("testdata", "chain.golden"))
	if err != nil {
		f.Fatal(err)
	}
	for _, line := range bytes.Split(bytes.TrimSuffix(golden, []byte("\n")), []byte("\n")) {
		f.Add(line)
	}
	bad, err := filepath.Glob(filepath.Join("testdata", "bad", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range bad {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		e, err := event.Parse(payload)
		if err != nil {
			if e != nil {
				t.Fatal("Parse returned an event with its error")
			}
			return
		}
		if e.ID != event.ID(e.Site(), e.Seq) {
			t.Fatalf("accepted id %q, want %q", e.ID, event.ID(e.Site(), e.Seq))
		}
		if e.Source != event.Source(e.Site()) {
			t.Fatalf("accepted source %q does not round-trip through Site() %q", e.Source, e.Site())
		}
		if e.Seq < 1 || e.Seq > event.MaxSeq {
			t.Fatalf("accepted seq %d", e.Seq)
		}
		if !strings.HasPrefix(e.Type, event.TypePrefix) || e.Data.EventType != e.Type {
			t.Fatalf("accepted type %q, eventType %q", e.Type, e.Data.EventType)
		}
		if err := event.ValidType(strings.TrimPrefix(e.Type, event.TypePrefix)); err != nil {
			t.Fatalf("accepted type: %v", err)
		}
		prev := e.Prev()
		if hex.EncodeToString(prev[:]) != e.PrevHash {
			t.Fatalf("prevhash %q reads back as %x", e.PrevHash, prev)
		}
		if err := e.Follows(e.Seq-1, prev); err != nil {
			t.Fatalf("accepted event does not follow its own claimed predecessor: %v", err)
		}
	})
}
