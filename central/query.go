package central

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/apedge/apedge/formats/envelope"
	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/sitekey"
	"github.com/apedge/apedge/internal/config"
	"github.com/apedge/apedge/internal/httpjson"
)

// Query selects stored events across sites; zero fields select everything. Events
// come in order of data.occurredAt, then site, then seq.
type Query struct {
	// Site is a site code.
	Site string
	// CRN and NOMS select the events whose data.personReference names that person.
	CRN, NOMS string
	// Type is a type with or without its prefix ("movement.entered",
	// "approved-premises.movement.entered"), or a family of types ending in ".*"
	// ("door.*").
	Type string
	// From (inclusive) and To (exclusive) bound data.occurredAt.
	From, To time.Time
	// After is the Next of the previous page.
	After string
	// Limit is the most events in a page (default DefaultQueryLimit, at most
	// MaxQueryLimit).
	Limit int
}

// Page sizes of a Query.
const (
	DefaultQueryLimit = 100
	MaxQueryLimit     = 1000
)

// StoredEvent is one stored event as a query returns it.
type StoredEvent struct {
	// Site, Seq and ID place the event in its site's chain.
	Site string `json:"site"`
	Seq  uint64 `json:"seq"`
	ID   string `json:"id"`
	// Type is the CloudEvents type, with its prefix.
	Type string `json:"type"`
	// OccurredAt is data.occurredAt; ReceivedAt when central received the envelope.
	OccurredAt time.Time `json:"occurredAt"`
	ReceivedAt time.Time `json:"receivedAt"`
	// CRN and NOMS are the person data.personReference names, if any.
	CRN  string `json:"crn,omitempty"`
	NOMS string `json:"noms,omitempty"`
	// Event is the signed CloudEvents event: the payload of Envelope, decoded.
	Event json.RawMessage `json:"event"`
	// Envelope is the DSSE envelope exactly as received, to check its signature.
	Envelope json.RawMessage `json:"envelope"`
}

// Page is one page of a query's events.
type Page struct {
	// Events are in order of OccurredAt, then Site, then Seq.
	Events []StoredEvent `json:"events"`
	// Next, if set, is the Query.After of the next page (more events may follow).
	Next string `json:"next,omitempty"`
}

// ErrBadQuery marks a query whose fields are not valid.
var ErrBadQuery = errors.New("central: bad query")

func badQuery(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadQuery, fmt.Sprintf(format, args...))
}

// check validates q and fills its defaults.
func (q *Query) check() error {
	if q.Site != "" && !sitekey.ValidSiteCode(q.Site) {
		return badQuery("site %q is not a site code", q.Site)
	}
	for name, v := range map[string]string{"crn": q.CRN, "noms": q.NOMS} {
		if len(v) > 32 || strings.IndexFunc(v, func(r rune) bool {
			return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
		}) >= 0 {
			return badQuery("%s %q: want letters and digits", name, v)
		}
	}
	if q.Type != "" {
		short := strings.TrimSuffix(strings.TrimPrefix(q.Type, event.TypePrefix), ".*")
		if err := event.ValidType(short); err != nil {
			return badQuery("type %q: want e.g. movement.entered or door.*", q.Type)
		}
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return badQuery("from %s is not before to %s", q.From.Format(time.RFC3339), q.To.Format(time.RFC3339))
	}
	switch {
	case q.Limit == 0:
		q.Limit = DefaultQueryLimit
	case q.Limit < 0 || q.Limit > MaxQueryLimit:
		return badQuery("limit %d: want 1..%d", q.Limit, MaxQueryLimit)
	}
	return nil
}

// cursor is a position in a query's order.
type cursor struct {
	occurred, site string
	seq            int64
}

func (c cursor) String() string {
	return base64.RawURLEncoding.EncodeToString([]byte(c.occurred + "~" + c.site + "~" + strconv.FormatInt(c.seq, 10)))
}

func parseCursor(s string) (cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	parts := strings.Split(string(b), "~")
	if err != nil || len(parts) != 3 {
		return cursor{}, badQuery("after %q is not a page cursor", s)
	}
	seq, err := strconv.ParseInt(parts[2], 10, 64)
	if _, terr := parseTimeKey(parts[0]); terr != nil || err != nil || !sitekey.ValidSiteCode(parts[1]) {
		return cursor{}, badQuery("after %q is not a page cursor", s)
	}
	return cursor{parts[0], parts[1], seq}, nil
}

// Query returns a page of the stored events q selects, across sites. It reads only
// what is committed.
func (r *Receiver) Query(ctx context.Context, q Query) (*Page, error) {
	return r.st.queryEvents(ctx, q)
}

// QueryStore is Receiver.Query on the store at dbPath (as in Options.Path), opened for
// reading only.
func QueryStore(ctx context.Context, dbPath string, q Query) (*Page, error) {
	s, err := openReadOnly(ctx, dbPath)
	if err != nil {
		return nil, fmt.Errorf("central: query: %w", err)
	}
	defer s.db.Close()
	return s.queryEvents(ctx, q)
}

func (s *store) queryEvents(ctx context.Context, q Query) (*Page, error) {
	if err := q.check(); err != nil {
		return nil, err
	}
	var (
		where []string
		args  []any
	)
	add := func(cond string, a ...any) {
		where = append(where, cond)
		args = append(args, a...)
	}
	if q.Site != "" {
		add("site = ?", q.Site)
	}
	if q.CRN != "" {
		add("crn = ?", q.CRN)
	}
	if q.NOMS != "" {
		add("noms = ?", q.NOMS)
	}
	if q.Type != "" {
		t := q.Type
		if !strings.HasPrefix(t, event.TypePrefix) {
			t = event.TypePrefix + t
		}
		if family, ok := strings.CutSuffix(t, "*"); ok {
			// substr, not LIKE: the same, case-sensitive match in both databases.
			add(fmt.Sprintf("substr(type, 1, %d) = ?", len(family)), family)
		} else {
			add("type = ?", t)
		}
	}
	if !q.From.IsZero() {
		add("occurred_at >= ?", timeKey(q.From))
	}
	if !q.To.IsZero() {
		add("occurred_at < ?", timeKey(q.To))
	}
	if q.After != "" {
		c, err := parseCursor(q.After)
		if err != nil {
			return nil, err
		}
		add("(occurred_at > ? OR (occurred_at = ? AND (site > ? OR (site = ? AND seq > ?))))",
			c.occurred, c.occurred, c.site, c.site, c.seq)
	}
	query := `SELECT site, seq, id, type, occurred_at, received_at, crn, noms, envelope FROM events`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += fmt.Sprintf(` ORDER BY occurred_at, site, seq LIMIT %d`, q.Limit)
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("central: query: %w", err)
	}
	defer rows.Close()
	page := &Page{Events: []StoredEvent{}}
	var last cursor
	for rows.Next() {
		var (
			e                       StoredEvent
			seq                     int64
			typ, occurred, received sql.NullString
			crn, noms               sql.NullString
			env                     []byte
		)
		if err := rows.Scan(&e.Site, &seq, &e.ID, &typ, &occurred, &received, &crn, &noms, &env); err != nil {
			return nil, fmt.Errorf("central: query: %w", err)
		}
		e.Seq, e.Type, e.CRN, e.NOMS = uint64(seq), typ.String, crn.String, noms.String
		if e.OccurredAt, err = parseTimeKey(occurred.String); err != nil {
			return nil, fmt.Errorf("central: query: %s seq %d: occurred_at: %w", e.Site, seq, err)
		}
		if e.ReceivedAt, err = time.Parse(time.RFC3339Nano, received.String); err != nil {
			return nil, fmt.Errorf("central: query: %s seq %d: received_at: %w", e.Site, seq, err)
		}
		d, err := envelope.Decode(env)
		if err != nil {
			return nil, fmt.Errorf("central: query: %s seq %d: %w", e.Site, seq, err)
		}
		e.Event, e.Envelope = d.Payload, env
		page.Events = append(page.Events, e)
		last = cursor{occurred.String, e.Site, seq}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("central: query: %w", err)
	}
	if len(page.Events) == q.Limit {
		page.Next = last.String()
	}
	return page, nil
}

// QueryHandler serves the HTTP query API of r:
//
//	GET /v1/events?site=&crn=&noms=&type=&from=&to=&after=&limit=
//
// answers a Page as JSON (from and to are RFC 3339 times; type may end in ".*"; after
// is the previous page's next); a bad parameter is 400 with {"error": "..."}.
// GET /healthz answers "ok".
func QueryHandler(r *Receiver, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /v1/events", func(w http.ResponseWriter, req *http.Request) {
		q, err := queryFromURL(req)
		var page *Page
		if err == nil {
			page, err = r.Query(req.Context(), q)
		}
		switch {
		case errors.Is(err, ErrBadQuery):
			httpjson.Write(w, http.StatusBadRequest, map[string]string{"error": strings.TrimPrefix(err.Error(), ErrBadQuery.Error()+": ")})
		case err != nil:
			log.Error("query failed", "query", req.URL.RawQuery, "err", err)
			httpjson.Write(w, http.StatusInternalServerError, map[string]string{"error": "the store could not answer; see central's log"})
		default:
			httpjson.Write(w, http.StatusOK, page)
		}
	})
	return mux
}

// queryParams are the parameters GET /v1/events knows.
var queryParams = map[string]bool{"site": true, "crn": true, "noms": true, "type": true, "from": true, "to": true, "after": true, "limit": true}

func queryFromURL(req *http.Request) (Query, error) {
	// Not req.URL.Query(), which drops what it cannot parse: a bad escape or more
	// parameters than Go parses would be answered as if that filter were not there.
	v, err := url.ParseQuery(req.URL.RawQuery)
	if err != nil {
		return Query{}, badQuery("query string: %v", err)
	}
	for k, vals := range v {
		if !queryParams[k] {
			return Query{}, badQuery("unknown parameter %q", k)
		}
		if len(vals) > 1 {
			return Query{}, badQuery("parameter %q given %d times", k, len(vals))
		}
	}
	q := Query{Site: v.Get("site"), CRN: v.Get("crn"), NOMS: v.Get("noms"), Type: v.Get("type"), After: v.Get("after")}
	for name, t := range map[string]*time.Time{"from": &q.From, "to": &q.To} {
		if s := v.Get(name); s != "" {
			var err error
			if *t, err = time.Parse(time.RFC3339Nano, s); err != nil {
				return Query{}, badQuery("%s %q: want an RFC 3339 time such as 2026-03-29T23:00:00Z", name, s)
			}
		}
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return Query{}, badQuery("limit %q: want 1..%d", s, MaxQueryLimit)
		}
		q.Limit = n
	}
	return q, nil
}

// listenHTTP opens the query API's listener as cfg says, with TLS (and client
// certificates, if cfg names their CA) when configured.
func listenHTTP(cfg *config.CentralHTTP, r *Receiver, log *slog.Logger) (*http.Server, net.Listener, error) {
	srv := &http.Server{
		Handler:           QueryHandler(r, log),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if t := cfg.TLS; t != nil {
		cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, nil, fmt.Errorf("central: http.tls: %w", err)
		}
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
		if t.ClientCA != "" {
			pem, err := os.ReadFile(t.ClientCA)
			if err != nil {
				return nil, nil, fmt.Errorf("central: http.tls.clientCA: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, nil, fmt.Errorf("central: http.tls.clientCA %s: no PEM certificate in it", t.ClientCA)
			}
			srv.TLSConfig.ClientCAs = pool
			srv.TLSConfig.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	l, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, nil, fmt.Errorf("central: http.listen: %w", err)
	}
	return srv, l, nil
}
