package console

import (
	"net/http"
	"net/url"
	"testing"
	"time"
)

// badJournalQueries are journal search parameters the console refuses.
var badJournalQueries = []string{
	"from=yesterday", "to=2026-13-40", "after=-1", "after=seven", "limit=0", "limit=-3", "limit=lots", "from=2026-11-22%2025:00", "from=0000-01-01%2000:00",
}

// TestBadJournalQueries: each of badJournalQueries is refused.
func TestBadJournalQueries(t *testing.T) {
	for _, raw := range badJournalQueries {
		if _, err := query(&http.Request{URL: &url.URL{RawQuery: raw}}); err == nil {
			t.Errorf("%q accepted", raw)
		}
	}
}

// FuzzJournalQuery: any query string is refused or gives a search within bounds;
// nothing panics.
func FuzzJournalQuery(f *testing.F) {
	f.Add("type=door.*,curfew.absent&crn=X100001&from=2026-11-22%2023:00&to=2026-11-23T06:00:00Z&after=10&limit=50&order=desc")
	for _, raw := range badJournalQueries {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := query(&http.Request{URL: &url.URL{RawQuery: raw}})
		if err != nil {
			return
		}
		if q.Limit < 0 {
			t.Fatalf("%q: limit %d", raw, q.Limit)
		}
		for _, tm := range []time.Time{q.From, q.To} {
			if y := tm.UTC().Year(); !tm.IsZero() && (y < 1 || y > 9999) {
				t.Fatalf("%q: accepted time %v", raw, tm)
			}
		}
	})
}
