package eventindex

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/formats/envelope"
	"github.com/apedge/apedge/formats/event"
)

func london(tb testing.TB) *time.Location {
	tb.Helper()
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		tb.Fatal(err)
	}
	return loc
}

// signed returns the envelope of d built as seq (chained to nothing in particular).
func signed(tb testing.TB, seq uint64, d *event.Draft) []byte {
	tb.Helper()
	b, err := event.NewBuilder(testSite)
	if err != nil {
		tb.Fatal(err)
	}
	payload, err := b.Build(seq, event.GenesisHash, d)
	if err != nil {
		tb.Fatal(err)
	}
	return envelope.Sign(testKey(tb, 7), payload)
}

// signedPayload returns an envelope around any payload bytes.
func signedPayload(tb testing.TB, payload string) []byte {
	tb.Helper()
	return envelope.Sign(testKey(tb, 7), []byte(payload))
}

// goodPayload is a payload Parse accepts, as seq 4, with occurredAt at.
func goodPayload(at, info string) string {
	return fmt.Sprintf(`{"specversion":"1.0","id":"AP-LDN-01-4","source":"urn:apedge:site:AP-LDN-01","type":"approved-premises.door.forced",`+
		`"time":%q,"datacontenttype":"application/json","seq":4,"prevhash":"%s",`+
		`"data":{"eventType":"approved-premises.door.forced","version":1,"occurredAt":%q,"occurredAtLocal":"","additionalInformation":%s}}`,
		at, strings.Repeat("0", 64), at, info)
}

func TestSummarize(t *testing.T) {
	loc := london(t)
	tests := []struct {
		name    string
		seq     uint64
		raw     []byte
		want    Summary // compared field by field, Data as text
		wantErr string
	}{
		{
			name: "movement, across the clock change",
			seq:  12,
			raw: signed(t, 12, &event.Draft{Type: "movement.entered", OccurredAt: time.Date(2025, 3, 30, 1, 0, 5, 0, time.UTC),
				Person: person("NOMS", "A1234BC", "CRN", "X123456", "CRN", "X999999"), Info: info("door", "front", "reader", "r1")}),
			want: Summary{Seq: 12, ID: "AP-LDN-01-12", Type: "movement.entered", OccurredAt: time.Date(2025, 3, 30, 1, 0, 5, 0, time.UTC),
				OccurredAtLocal: "2025-03-30 02:00:05", CRN: "X123456", NOMS: "A1234BC", Subject: "front", Data: json.RawMessage(`{"door":"front","reader":"r1"}`)},
		},
		{
			name: "reader by its device object",
			seq:  1,
			raw: signed(t, 1, &event.Draft{Type: "reader.offline", OccurredAt: time.Date(2025, 7, 1, 12, 0, 0, 0, time.FixedZone("X", 3600)),
				Info: json.RawMessage(`{"device":{"class":"reader","id":"r7"},"door":7}`)}),
			want: Summary{Seq: 1, ID: "AP-LDN-01-1", Type: "reader.offline", OccurredAt: time.Date(2025, 7, 1, 11, 0, 0, 0, time.UTC),
				OccurredAtLocal: "2025-07-01 12:00:00", Subject: "r7", Data: json.RawMessage(`{"device":{"class":"reader","id":"r7"},"door":7}`)},
		},
		{
			name: "no info",
			seq:  2,
			raw:  signed(t, 2, &event.Draft{Type: "agent.started", OccurredAt: time.Date(2025, 12, 25, 9, 0, 0, 0, time.UTC)}),
			want: Summary{Seq: 2, ID: "AP-LDN-01-2", Type: "agent.started", OccurredAt: time.Date(2025, 12, 25, 9, 0, 0, 0, time.UTC),
				OccurredAtLocal: "2025-12-25 09:00:00"},
		},
		{
			name: "info not an object",
			seq:  4,
			raw:  signedPayload(t, goodPayload("2025-01-01T00:00:00Z", `[1,2]`)),
			want: Summary{Seq: 4, ID: "AP-LDN-01-4", Type: "door.forced", OccurredAt: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
				OccurredAtLocal: "2025-01-01 00:00:00", Data: json.RawMessage(`[1,2]`)},
		},
		{name: "empty", seq: 1, raw: nil, wantErr: "malformed"},
		{name: "not JSON", seq: 1, raw: []byte("\x00\xffgarbage"), wantErr: "malformed"},
		{name: "not an envelope", seq: 1, raw: []byte(`{"hello":"world"}`), wantErr: "payloadType"},
		{name: "payload not base64", seq: 1, raw: []byte(`{"payloadType":"` + envelope.PayloadType + `","payload":"!!","signatures":[{"keyid":"k","sig":""}]}`), wantErr: "malformed"},
		{name: "payload not JSON", seq: 1, raw: signedPayload(t, "not json"), wantErr: "invalid character"},
		{name: "payload not an event", seq: 4, raw: signedPayload(t, `{"id":"AP-LDN-01-4","seq":4}`), want: Summary{Seq: 4, ID: "AP-LDN-01-4"}, wantErr: "specversion"},
		{name: "another seq's event", seq: 5, raw: signedPayload(t, goodPayload("2025-01-01T00:00:00Z", `{}`)), want: Summary{Seq: 5, ID: "AP-LDN-01-4"}, wantErr: "holds event seq 4"},
		{name: "year 0 in UTC", seq: 4, raw: signedPayload(t, goodPayload("0001-01-01T00:30:00+01:00", `{}`)), want: Summary{Seq: 4, ID: "AP-LDN-01-4"}, wantErr: "year 0"},
		{name: "year 10000 in UTC", seq: 4, raw: signedPayload(t, goodPayload("9999-12-31T23:30:00-01:00", `{}`)), want: Summary{Seq: 4, ID: "AP-LDN-01-4"}, wantErr: "year 10000"},
		{name: "oversized", seq: 1, raw: []byte(`{"payload":"` + strings.Repeat("A", envelope.MaxSize) + `"}`), wantErr: "exceeds"},
		{name: "base64 of nothing", seq: 1, raw: signedPayload(t, ""), wantErr: "unexpected end"},
		{name: "payload base64 but hostile", seq: 1, raw: []byte(`{"payloadType":"` + envelope.PayloadType + `","payload":"` +
			base64.StdEncoding.EncodeToString([]byte(`{"data":{"personReference":{"identifiers":[{"type":"X"}]}}}`)) + `","signatures":[{"keyid":"k","sig":""}]}`), wantErr: "specversion"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := summarize(tc.seq, tc.raw, loc)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error %v, want one containing %q", err, tc.wantErr)
				}
				if tc.want.Seq == 0 {
					tc.want.Seq = tc.seq
				}
			} else if err != nil {
				t.Fatalf("error %v", err)
			}
			if got.Seq != tc.want.Seq || got.ID != tc.want.ID || got.Type != tc.want.Type || !got.OccurredAt.Equal(tc.want.OccurredAt) ||
				got.OccurredAtLocal != tc.want.OccurredAtLocal || got.CRN != tc.want.CRN || got.NOMS != tc.want.NOMS ||
				got.Subject != tc.want.Subject || string(got.Data) != string(tc.want.Data) {
				t.Errorf("got  %+v\nwant %+v\n(data %s, want %s)", got, tc.want, got.Data, tc.want.Data)
			}
			if err == nil && got.OccurredAt.Location() != time.UTC {
				t.Errorf("occurredAt in %v, want UTC", got.OccurredAt.Location())
			}
		})
	}
}

func TestParseAck(t *testing.T) {
	tests := []struct {
		info string
		want ack
		ok   bool
	}{
		{`{"alarm":12,"by":"J. Smith","note":"checked"}`, ack{12, "J. Smith", "checked"}, true},
		{`{"alarm":"12","by":"J. Smith"}`, ack{12, "J. Smith", ""}, true},
		{`{"alarm":0}`, ack{}, false},
		{`{"alarm":-1}`, ack{}, false},
		{`{"alarm":1.5}`, ack{}, false},
		{`{"alarm":"x"}`, ack{}, false},
		{`{"by":"J. Smith"}`, ack{}, false},
		{`{"alarm":3,"by":7}`, ack{}, false},
		{`[]`, ack{}, false},
		{``, ack{}, false},
	}
	for _, tc := range tests {
		got, err := parseAck([]byte(tc.info))
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseAck(%s) = %+v, %v; want %+v, ok %v", tc.info, got, err, tc.want, tc.ok)
		}
	}
}

func FuzzSummarize(f *testing.F) {
	loc := london(f)
	f.Add(uint64(1), signed(f, 1, &event.Draft{Type: "movement.entered", OccurredAt: t0, Person: person("CRN", "X123456"), Info: info("door", "front")}))
	f.Add(uint64(3), signed(f, 3, &event.Draft{Type: AckType, OccurredAt: t0, Info: info("alarm", 2, "by", "me")}))
	f.Add(uint64(4), signedPayload(f, goodPayload("2025-01-01T00:00:00Z", `{"device":{"id":"r1"}}`)))
	f.Add(uint64(4), signedPayload(f, goodPayload("0001-01-01T00:00:00+01:00", `null`)))
	f.Add(uint64(1), signedPayload(f, `{"id":"x","seq":1}`))
	f.Add(uint64(1), []byte(`{"payloadType":"`+envelope.PayloadType+`","payload":"e30=","signatures":[{"keyid":"k","sig":""}]}`))
	f.Add(uint64(0), []byte("{"))
	f.Add(uint64(0), []byte(nil))
	f.Fuzz(func(t *testing.T, seq uint64, raw []byte) {
		s, err := summarize(seq, raw, loc)
		if s.Seq != seq {
			t.Fatalf("Seq %d, want %d", s.Seq, seq)
		}
		if err != nil {
			return
		}
		if s.Type == "" || event.ValidType(s.Type) != nil {
			t.Fatalf("parsed with type %q", s.Type)
		}
		if y := s.OccurredAt.Year(); y < 1 || y > 9999 || s.OccurredAt.Location() != time.UTC {
			t.Fatalf("occurredAt %v", s.OccurredAt)
		}
		if len(s.OccurredAt.Format(atLayout)) != len(atLayout) {
			t.Fatalf("occurredAt %v does not store at fixed width", s.OccurredAt)
		}
		if s.Data != nil && !json.Valid(s.Data) {
			t.Fatalf("data %q is not JSON", s.Data)
		}
		if _, err := json.Marshal(s); err != nil {
			t.Fatalf("Summary does not marshal: %v", err)
		}
	})
}

// BenchmarkCatchUp measures indexing a 100k-entry journal from scratch: Open, Run
// until everything is indexed, Close.
func BenchmarkCatchUp(b *testing.B) {
	const n = 100_000
	dir := b.TempDir()
	j := openJournal(b, filepath.Join(dir, "journal.db"), 7)
	appendMany(b, j, n)
	i := 0
	for b.Loop() {
		i++
		x, err := Open(context.Background(), filepath.Join(dir, fmt.Sprintf("index-%d.db", i)), j, quiet())
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- x.Run(ctx) }()
		waitIndexed(b, x, n)
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		if err := x.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}
