package central

import (
	"errors"
	"net/http"
	"net/url"
	"testing"
)

// badQueries are query strings central's HTTP API must refuse (a corpus for the fuzz
// target too).
var badQueries = []string{
	"site=MAN 1", "sight=MAN1", "site=MAN1&site=LDS2", "crn=X1%27%3B--", "noms=" + string(make([]byte, 40)),
	"type=DOOR.*", "type=door%20open", "from=yesterday", "from=2026-03-30T00:00:00Z&to=2026-03-29T00:00:00Z",
	"limit=0", "limit=-5", "limit=many", "after=not-a-cursor", "after=YWJj",
}

func parseQueryString(raw string) (Query, error) {
	q, err := queryFromURL(&http.Request{URL: &url.URL{RawQuery: raw}})
	if err != nil {
		return q, err
	}
	if err := q.check(); err != nil {
		return q, err
	}
	if q.After != "" {
		_, err = parseCursor(q.After)
	}
	return q, err
}

// TestBadQueries: each of badQueries is refused as a bad query.
func TestBadQueries(t *testing.T) {
	for _, raw := range badQueries {
		if _, err := parseQueryString(raw); !errors.Is(err, ErrBadQuery) {
			t.Errorf("%q: %v, want ErrBadQuery", raw, err)
		}
	}
}

// FuzzQuery: any query string is either refused as a bad query or gives a query whose
// page size is within bounds; nothing panics.
func FuzzQuery(f *testing.F) {
	f.Add("site=MAN1&crn=X100001&type=curfew.*&from=2026-03-28T23:00:00Z&to=2026-03-29T06:00:00Z&limit=50")
	f.Add("noms=A1001AA&after=" + cursor{"2026-03-29T00:00:00.000000000Z", "MAN1", 7}.String())
	for _, raw := range badQueries {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := parseQueryString(raw)
		if err != nil {
			if !errors.Is(err, ErrBadQuery) {
				t.Fatalf("%q: error %v is not ErrBadQuery", raw, err)
			}
			return
		}
		if q.Limit < 1 || q.Limit > MaxQueryLimit {
			t.Fatalf("%q: accepted with limit %d", raw, q.Limit)
		}
	})
}
