package console_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/apedge/apedge/agent/console"
	"github.com/apedge/apedge/agent/eventindex"
	"github.com/apedge/apedge/formats/sitekey"
	"github.com/apedge/apedge/formats/verify"
	"github.com/apedge/apedge/internal/testlog"
)

// endpoints is every API route with a request that exercises it, and the roles that
// may use it ("" = any signed-in role). Requests are refused by role before their
// body is looked at, so bodies here need not be valid for the refusal checks.
var endpoints = []struct {
	method, path string
	body         any
	roles        []string
}{
	{"GET", "/api/v1/session", nil, nil},
	{"GET", "/api/v1/status", nil, nil},
	{"GET", "/api/v1/devices", nil, nil},
	{"GET", "/api/v1/doors", nil, nil},
	{"GET", "/api/v1/cameras", nil, nil},
	{"GET", "/api/v1/cameras/front-cam/thumbnail", nil, nil},
	{"POST", "/api/v1/doors/front/unlock", map[string]any{"reason": "test"}, []string{"security", "manager", "admin"}},
	{"GET", "/api/v1/residents", nil, nil},
	{"POST", "/api/v1/residents", map[string]any{"crn": "X200001", "cards": []string{"12:20001"}}, []string{"staff", "keyworker", "manager", "admin"}},
	{"POST", "/api/v1/residents/X100002/departure", map[string]any{}, []string{"staff", "keyworker", "manager", "admin"}},
	{"POST", "/api/v1/residents/X100001/absences", map[string]any{"id": "a1", "from": "2026-06-12 10:00", "to": "2026-06-13 10:00", "approvedBy": "Mgr"}, []string{"staff", "keyworker", "manager", "admin"}},
	{"PATCH", "/api/v1/residents/X100001", map[string]any{"room": "3"}, []string{"staff", "keyworker", "manager", "admin"}},
	{"GET", "/api/v1/curfew/roll", nil, nil},
	{"GET", "/api/v1/curfew/events", nil, nil},
	{"GET", "/api/v1/alarms", nil, nil},
	{"POST", "/api/v1/alarms/1/ack", map[string]any{"note": "n"}, []string{"security", "manager", "admin"}},
	{"GET", "/api/v1/journal", nil, nil},
	{"GET", "/api/v1/journal/export", nil, []string{"manager", "admin"}},
	{"GET", "/api/v1/delivery", nil, nil},
	{"GET", "/api/v1/audit", nil, nil},
	{"GET", "/api/v1/users", nil, []string{"admin"}},
	{"POST", "/api/v1/users", map[string]any{"name": "x", "role": "staff", "password": "p"}, []string{"admin"}},
	{"PATCH", "/api/v1/users/staff-1", map[string]any{}, []string{"admin"}},
	{"GET", "/api/v1/stream", nil, nil},
	{"DELETE", "/api/v1/tokens/current", nil, nil},
	{"DELETE", "/api/v1/session", nil, nil},
}

// TestAccessByRole checks every endpoint: refused without sign-in (401), refused to
// each role that may not use it (403), and not refused to those that may.
func TestAccessByRole(t *testing.T) {
	t.Parallel()
	s := newConsoleSite(t)
	anon := s.anonymous()
	for _, e := range endpoints {
		if code, _ := anon.raw(e.method, e.path, e.body, nil); code != http.StatusUnauthorized {
			t.Errorf("%s %s without sign-in: %d, want 401", e.method, e.path, code)
		}
	}
	for _, role := range []string{"staff", "keyworker", "security", "manager", "admin"} {
		c := s.bearer(role + "-1")
		for _, e := range endpoints {
			if e.path == "/api/v1/stream" || e.method == "DELETE" {
				continue // long-lived, or ends the client's own sign-in: below
			}
			code, body := c.raw(e.method, e.path, e.body, nil)
			allowed := e.roles == nil || slices.Contains(e.roles, role)
			switch {
			case allowed && (code == http.StatusForbidden || code == http.StatusUnauthorized):
				t.Errorf("%s %s as %s: %d %s, want it allowed", e.method, e.path, role, code, body)
			case !allowed && code != http.StatusForbidden:
				t.Errorf("%s %s as %s: %d %s, want 403", e.method, e.path, role, code, body)
			case !allowed && !strings.Contains(string(body), "role "+role+" may not"):
				t.Errorf("%s %s as %s: refusal %s does not say why", e.method, e.path, role, body)
			}
		}
	}
}

// TestCSRF: a browser session's state changes need the session's CSRF token; a bearer
// token's do not.
func TestCSRF(t *testing.T) {
	t.Parallel()
	s := newConsoleSite(t)
	b := s.browser("staff-1")
	arrival := map[string]any{"crn": "X300001", "cards": []string{"12:30001"}, "name": "Csrf Test"}
	for _, tc := range []struct {
		name string
		csrf string
		want int
	}{
		{"no token", "", http.StatusForbidden},
		{"wrong token", "not-the-token", http.StatusForbidden},
		{"another session's token", s.browser("staff-1").csrf, http.StatusForbidden},
		{"right token", b.csrf, http.StatusAccepted},
	} {
		c := *b
		c.csrf = tc.csrf
		code, body := c.raw("POST", "/api/v1/residents", arrival, nil)
		if code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, code, body, tc.want)
		}
	}
	// Reads need no token.
	nb := *b
	nb.csrf = ""
	if code := nb.do("GET", "/api/v1/status", nil, nil); code != http.StatusOK {
		t.Errorf("GET with the cookie and no CSRF token: %d", code)
	}
	// The cookie is HttpOnly and SameSite=Strict.
	resp, err := s.srv.Client().Post(s.srv.URL+"/api/v1/session", "application/json",
		strings.NewReader(`{"name":"staff-1","password":"`+password+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ck := resp.Cookies()
	if len(ck) != 1 || !ck[0].HttpOnly || ck[0].SameSite != http.SameSiteStrictMode || ck[0].Name != console.SessionCookie {
		t.Errorf("session cookie %+v: want one HttpOnly SameSite=Strict cookie", ck)
	}
	// Signing out ends the session.
	if code := b.do("DELETE", "/api/v1/session", nil, nil); code != http.StatusNoContent {
		t.Errorf("sign out: %d", code)
	}
	if code := b.do("GET", "/api/v1/status", nil, nil); code != http.StatusUnauthorized {
		t.Errorf("after sign out: %d, want 401", code)
	}
	// A bearer token needs no CSRF token.
	if code := s.bearer("staff-1").do("POST", "/api/v1/residents", map[string]any{"crn": "X300002", "cards": []string{"12:30002"}}, nil); code != http.StatusAccepted {
		t.Errorf("arrival by token: %d", code)
	}
}

// metricsToken is the test console's /metrics bearer token.
const metricsToken = "metrics-token-0123456789abcdef"

// anonymousFrom is a client that has not signed in and connects from the loopback
// address local (any of 127.0.0.0/8), so that the console sees another address.
func (s *consoleSite) anonymousFrom(local string) *client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: timeout}
	return &client{s: s, hc: &http.Client{Timeout: timeout, Transport: &http.Transport{DialContext: d.DialContext}}}
}

// failedSignIns returns the staff.sign-in-failed events journaled so far.
func (s *consoleSite) failedSignIns() []eventindex.Summary {
	s.t.Helper()
	ss, _, err := s.index.Search(s.t.Context(), eventindex.Query{Types: []string{"staff.sign-in-failed"}, Limit: eventindex.MaxLimit})
	if err != nil {
		s.t.Fatal(err)
	}
	return ss
}

// TestSignInFailuresAndBackoff: failed sign-ins are refused; five from one address for
// one name make that pair wait (429 with Retry-After), even with the right password,
// while the same name from another address signs in; an unknown name gets the same
// answers as a wrong password. Failures are counted in the metrics and journaled at
// most once a minute per name, with the count since the last such event. (This
// replaces TestSignInFailuresAndLockout, which checked the old hard account lock: 423
// after five failures, and one event per failure.)
func TestSignInFailuresAndBackoff(t *testing.T) {
	t.Parallel()
	s := newConsoleSite(t)
	anon := s.anonymous()
	for i := range 5 {
		if code := anon.do("POST", "/api/v1/session", map[string]string{"name": "staff-1", "password": "wrong password " + fmt.Sprint(i)}, nil); code != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d, want 401", i, code)
		}
	}
	req := func(c *client, path, name, pw string) (int, http.Header, []byte) {
		t.Helper()
		b, _ := json.Marshal(map[string]string{"name": name, "password": pw})
		r, _ := http.NewRequestWithContext(t.Context(), "POST", s.srv.URL+path, bytes.NewReader(b))
		resp, err := c.hc.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, body
	}
	code, hdr, body := req(anon, "/api/v1/session", "staff-1", password)
	var backoff struct {
		Error      string
		RetryAfter int
	}
	json.Unmarshal(body, &backoff)
	if code != http.StatusTooManyRequests || hdr.Get("Retry-After") == "" || backoff.RetryAfter <= 0 || backoff.RetryAfter > 30 ||
		!strings.Contains(backoff.Error, "too many failed sign-ins") {
		t.Fatalf("right password while backed off: %d %v %s, want 429 with Retry-After up to 30s", code, hdr, body)
	}
	// The same name from another address is not held back.
	if code := s.anonymousFrom("127.0.0.2").do("POST", "/api/v1/session", map[string]string{"name": "staff-1", "password": password}, nil); code != http.StatusOK {
		t.Errorf("staff-1 from another address: %d, want 200", code)
	}

	// An unknown name answers as a known name with a wrong password does, backoff
	// included, on both sign-in routes.
	for path, known := range map[string]string{"/api/v1/session": "security-1", "/api/v1/tokens": "manager-1"} {
		for i := range 7 {
			kc, kh, kb := req(anon, path, known, "wrong password")
			uc, uh, ub := req(anon, path, "nobody-"+strings.TrimPrefix(path, "/api/v1/"), "wrong password")
			var k, u struct{ Error string }
			json.Unmarshal(kb, &k)
			json.Unmarshal(ub, &u)
			if kc != uc || k.Error != u.Error || (kh.Get("Retry-After") == "") != (uh.Get("Retry-After") == "") {
				t.Errorf("%s attempt %d: known name %d %s, unknown name %d %s", path, i+1, kc, kb, uc, ub)
			}
			if want := map[bool]int{false: http.StatusUnauthorized, true: http.StatusTooManyRequests}[i >= 5]; kc != want {
				t.Errorf("%s attempt %d: %d, want %d", path, i+1, kc, want)
			}
		}
	}

	// Journaled at most once a minute per name: the first failure of each name only.
	s.bearer("admin-1") // a later event, so the index has seen every failure
	s.waitEvent("staff.signed-in")
	s.waitFor("the sign-ins journaled", func() (bool, string) {
		n := 0
		for _, typ := range s.journalTypes() {
			if typ == "staff.signed-in" {
				n++
			}
		}
		return n == 2, fmt.Sprint(n)
	})
	names := map[string]int{}
	for _, e := range s.failedSignIns() {
		var info struct{ Name string }
		json.Unmarshal(e.Data, &info)
		names[info.Name]++
		if bytes.Contains(e.Data, []byte(password)) {
			t.Errorf("a password is in the audit log: %s", e.Data)
		}
	}
	if want := map[string]int{"staff-1": 1, "security-1": 1, "manager-1": 1, "nobody-session": 1, "nobody-tokens": 1}; !maps.Equal(names, want) {
		t.Errorf("failed sign-ins journaled per name %v, want %v", names, want)
	}

	// The next failure for staff-1, a minute on, is journaled with every failure since
	// the last event: 4 more wrong passwords, the backed-off attempt and this one.
	s.clock.Set(s.clock.Now().Add(2 * time.Minute))
	if code := anon.do("POST", "/api/v1/session", map[string]string{"name": "staff-1", "password": "wrong again"}, nil); code != http.StatusUnauthorized {
		t.Fatalf("wrong password after the wait: %d, want 401", code)
	}
	s.waitFor("staff-1's failures journaled again", func() (bool, string) {
		for _, e := range s.failedSignIns() {
			var info struct {
				Name, Reason, Via string
				Failures          int
			}
			json.Unmarshal(e.Data, &info)
			if info.Name == "staff-1" && info.Failures > 1 {
				if info.Failures != 6 || info.Reason != "wrong name or password" || info.Via != "browser" {
					t.Errorf("staff-1's second event: %s, want 6 failures", e.Data)
				}
				return true, ""
			}
		}
		return false, fmt.Sprint(len(s.failedSignIns()))
	})
	_, m := (&client{s: s, hc: s.srv.Client(), token: metricsToken}).raw("GET", "/metrics", nil, nil)
	for _, want := range []string{
		`apedge_console_sign_in_failures_total{reason="wrong name or password"} 26`,
		`apedge_console_sign_in_failures_total{reason="too many failures from this address"} 9`,
	} {
		if !bytes.Contains(m, []byte(want)) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// The wait ends.
	s.clock.Set(s.clock.Now().Add(16 * time.Minute))
	s.browser("staff-1")
}

// TestSignInOrigin: a sign-in from another site's page (login CSRF) is refused; one
// from the console's own pages, or with neither Origin nor Referer (the CLI), is not.
func TestSignInOrigin(t *testing.T) {
	t.Parallel()
	s := newConsoleSite(t)
	anon := s.anonymous()
	own := s.srv.URL
	for _, tc := range []struct {
		name          string
		path          string
		origin, refer string
		want          int
	}{
		{"browser, own origin", "/api/v1/session", own, "", http.StatusOK},
		{"browser, own page as referer", "/api/v1/session", "", own + "/", http.StatusOK},
		{"neither header", "/api/v1/session", "", "", http.StatusOK},
		{"CLI, neither header", "/api/v1/tokens", "", "", http.StatusCreated},
		{"another site", "/api/v1/session", "http://evil.example", "", http.StatusForbidden},
		{"another site, own referer", "/api/v1/session", "http://evil.example", own + "/", http.StatusForbidden},
		{"another site's page as referer", "/api/v1/session", "", "http://evil.example/login", http.StatusForbidden},
		{"null origin", "/api/v1/session", "null", "", http.StatusForbidden},
		{"same host, other scheme", "/api/v1/session", strings.Replace(own, "http://", "https://", 1), "", http.StatusForbidden},
		{"same host, other port", "/api/v1/session", "http://127.0.0.1:1", "", http.StatusForbidden},
		{"token from another site", "/api/v1/tokens", "http://evil.example", "", http.StatusForbidden},
	} {
		h := http.Header{}
		if tc.origin != "" {
			h.Set("Origin", tc.origin)
		}
		if tc.refer != "" {
			h.Set("Referer", tc.refer)
		}
		code, body := anon.raw("POST", tc.path, map[string]string{"name": "staff-1", "password": password}, h)
		if code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, code, body, tc.want)
		}
	}
}

// TestMetricsNeedToken: /metrics answers only with the configured bearer token, and
// not at all when none is configured.
func TestMetricsNeedToken(t *testing.T) {
	t.Parallel()
	s := newConsoleSite(t)
	noToken, err := console.New(console.Options{Site: s.agent, Index: s.index, Staff: s.staff, Logger: testlog.New(t), Clock: s.clock})
	if err != nil {
		t.Fatal(err)
	}
	off := httptest.NewServer(noToken.Handler())
	t.Cleanup(off.Close)
	for _, tc := range []struct {
		name, url, auth string
		want            int
	}{
		{"no token", s.srv.URL, "", http.StatusUnauthorized},
		{"wrong token", s.srv.URL, "Bearer not-the-token", http.StatusUnauthorized},
		{"token as Basic", s.srv.URL, "Basic " + metricsToken, http.StatusUnauthorized},
		{"a staff token", s.srv.URL, "Bearer " + s.bearer("admin-1").token, http.StatusUnauthorized},
		{"right token", s.srv.URL, "Bearer " + metricsToken, http.StatusOK},
		{"none configured, no token", off.URL, "", http.StatusUnauthorized},
		{"none configured, a token", off.URL, "Bearer " + metricsToken, http.StatusUnauthorized},
		{"none configured, empty token", off.URL, "Bearer ", http.StatusUnauthorized},
	} {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", tc.url+"/metrics", nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want || (tc.want == http.StatusOK) != bytes.Contains(b, []byte("apedge_journal_last_seq")) {
			t.Errorf("%s: %d %.80s, want %d", tc.name, resp.StatusCode, b, tc.want)
		}
	}
}

// TestBadQueryRefused: a query string that does not parse (a bad escape, or more
// parameters than Go parses) is refused with 400 rather than answered unfiltered.
func TestBadQueryRefused(t *testing.T) {
	t.Parallel()
	s := newConsoleSite(t)
	c := s.bearer("manager-1")
	c2 := &client{s: s, hc: s.srv.Client(), token: metricsToken}
	many := strings.Repeat("crn=X100001&", 10001)
	for _, tc := range []struct {
		name string
		c    *client
		path string
		want int
	}{
		{"journal, good", c, "/api/v1/journal?crn=X100001&limit=5", http.StatusOK},
		{"journal, bad escape", c, "/api/v1/journal?crn=%zz", http.StatusBadRequest},
		{"journal, bad escape beside a good filter", c, "/api/v1/journal?type=staff.*&crn=%zz", http.StatusBadRequest},
		{"journal, too many parameters", c, "/api/v1/journal?" + many, http.StatusBadRequest},
		{"audit, bad escape", c, "/api/v1/audit?from=%", http.StatusBadRequest},
		{"alarms, bad escape", c, "/api/v1/alarms?state=%zz", http.StatusBadRequest},
		{"export, bad escape", c, "/api/v1/journal/export?x=%zz", http.StatusBadRequest},
		{"metrics, bad escape", c2, "/metrics?x=%zz", http.StatusBadRequest},
		{"metrics, good", c2, "/metrics", http.StatusOK},
	} {
		if code, body := tc.c.raw("GET", tc.path, nil, nil); code != tc.want {
			t.Errorf("%s: %d %.200s, want %d", tc.name, code, body, tc.want)
		}
	}
}

// TestStaffActions records an arrival, an approved absence and a departure through the
// API, as staff do: each is applied by the agent and journaled as a signed event naming
// who recorded it; on departure the resident's credentials are revoked.
func TestStaffActions(t *testing.T) {
	t.Parallel()
	s := newConsoleSite(t)
	c := s.browser("staff-1")
	var res struct{ Change int }
	code := c.do("POST", "/api/v1/residents", map[string]any{"crn": "X400001", "noms": "A4001AA", "name": "New Arrival",
		"room": "12", "cards": []string{"12:40001"}, "expectedDeparture": "2026-09-01"}, &res)
	if code != http.StatusAccepted || res.Change == 0 {
		t.Fatalf("arrival: %d %+v", code, res)
	}
	s.waitFor("the arrival on the roster", func() (bool, string) {
		var rs []struct{ CRN, Name, Room, Presence string }
		c.do("GET", "/api/v1/residents", nil, &rs)
		for _, r := range rs {
			if r.CRN == "X400001" {
				return r.Name == "New Arrival" && r.Room == "12" && r.Presence == "unknown", fmt.Sprint(r)
			}
		}
		return false, fmt.Sprint(rs)
	})
	arrived := s.waitEvent("resident.arrived")
	var info map[string]any
	json.Unmarshal(arrived.Data, &info)
	if arrived.CRN != "X400001" || info["recordedBy"] != "staff-1" {
		t.Errorf("resident.arrived: crn %s, %s", arrived.CRN, arrived.Data)
	}

	code = c.do("POST", "/api/v1/residents/X400001/absences", map[string]any{"id": "hosp-1", "from": "2026-06-12 10:00",
		"to": "2026-06-14 10:00", "approvedBy": "AP manager", "reason": "hospital"}, &res)
	if code != http.StatusAccepted {
		t.Fatalf("absence: %d", code)
	}
	absence := s.waitEvent("resident.absence-approved")
	if absence.CRN != "X400001" || !bytes.Contains(absence.Data, []byte(`"approvedBy":"AP manager"`)) {
		t.Errorf("resident.absence-approved: %s %s", absence.CRN, absence.Data)
	}

	code = c.do("POST", "/api/v1/residents/X400001/departure", map[string]any{}, &res)
	if code != http.StatusAccepted {
		t.Fatalf("departure: %d", code)
	}
	s.waitEvent("resident.departed")
	s.waitFor("the departed resident off the residents list and their card revoked", func() (bool, string) {
		var rs []struct{ CRN string }
		c.do("GET", "/api/v1/residents", nil, &rs)
		for _, r := range rs {
			if r.CRN == "X400001" {
				return false, "still listed"
			}
		}
		for _, r := range s.agent.Roster() {
			if r.CRN == "X400001" {
				return r.Departed == "2026-06-10", "departed " + r.Departed
			}
		}
		return false, "not on the roster"
	})

	// Refused, naming why.
	for _, tc := range []struct {
		path string
		body any
		want int
		says string
	}{
		{"/api/v1/residents/X999999/departure", map[string]any{}, http.StatusNotFound, "not on the roster"},
		{"/api/v1/residents", map[string]any{"crn": "X400002"}, http.StatusBadRequest, "cards"},
		{"/api/v1/residents", map[string]any{"crn": "X400002", "cards": []string{"12:10001"}}, http.StatusBadRequest, "12:10001"},
		{"/api/v1/residents", map[string]any{"crn": "X400002", "cards": []string{"12:40002"}, "colour": "red"}, http.StatusBadRequest, "colour"},
		{"/api/v1/residents/X100001/absences", map[string]any{"id": "a", "from": "tomorrow", "to": "2026-06-14 10:00", "approvedBy": "M"}, http.StatusBadRequest, "tomorrow"},
		{"/api/v1/residents/X100001/absences", map[string]any{"id": "a", "from": "2026-06-12 10:00", "to": "2026-06-14 10:00"}, http.StatusBadRequest, "approvedBy"},
	} {
		code, body := c.raw("POST", tc.path, tc.body, nil)
		if code != tc.want || !strings.Contains(string(body), tc.says) {
			t.Errorf("POST %s %v: %d %s, want %d saying %q", tc.path, tc.body, code, body, tc.want, tc.says)
		}
	}
}

// TestDoorsAndAlarms drives the real bridge's simulated door: an unlock ordered through
// the API releases the lock and is audited; a forced door is an alarm that is
// acknowledged with a note, once.
func TestDoorsAndAlarms(t *testing.T) {
	t.Parallel()
	s := newConsoleSite(t)
	sec := s.bearer("security-1")
	front := s.bridge.Sim().Door("front")
	s.waitFor("the door reported", func() (bool, string) {
		var ds []struct{ ID, State string }
		sec.do("GET", "/api/v1/doors", nil, &ds)
		return len(ds) == 1 && ds[0].ID == "front" && ds[0].State == "locked", fmt.Sprint(ds)
	})
	var un struct{ Result, Detail string }
	if code := sec.do("POST", "/api/v1/doors/front/unlock", map[string]any{"reason": "delivery", "seconds": 2}, &un); code != http.StatusOK || un.Result != "done" {
		t.Fatalf("unlock: %d %+v", code, un)
	}
	s.waitFor("the lock released", func() (bool, string) { return !front.LockEnergised(), "" })
	ordered := s.waitEvent("door.unlock-ordered")
	if !bytes.Contains(ordered.Data, []byte(`"by":"security-1"`)) || !bytes.Contains(ordered.Data, []byte(`"reason":"delivery"`)) {
		t.Errorf("door.unlock-ordered: %s", ordered.Data)
	}
	for _, tc := range []struct {
		path string
		body any
		want int
	}{
		{"/api/v1/doors/cellar/unlock", map[string]any{"reason": "x"}, http.StatusNotFound},
		{"/api/v1/doors/front/unlock", map[string]any{}, http.StatusBadRequest},
		{"/api/v1/doors/front/unlock", map[string]any{"reason": "x", "seconds": 3600}, http.StatusBadRequest},
	} {
		if code, body := sec.raw("POST", tc.path, tc.body, nil); code != tc.want {
			t.Errorf("POST %s %v: %d %s, want %d", tc.path, tc.body, code, body, tc.want)
		}
	}

	s.waitFor("the door relocked", func() (bool, string) { return front.LockEnergised(), "" })
	front.Open()
	forced := s.waitEvent("door.forced")
	s.waitFor("the forced door on the doors list", func() (bool, string) {
		var ds []struct{ ID, State, Alarm string }
		sec.do("GET", "/api/v1/doors", nil, &ds)
		return len(ds) == 1 && ds[0].State == "forced" && ds[0].Alarm == "forced", fmt.Sprint(ds)
	})
	front.Shut()
	var open []eventindex.Alarm
	sec.do("GET", "/api/v1/alarms", nil, &open)
	if len(open) == 0 || open[0].Seq != forced.Seq || open[0].Acknowledged != nil || open[0].Subject != "front" {
		t.Fatalf("open alarms %+v, want the forced door first", open)
	}
	path := fmt.Sprintf("/api/v1/alarms/%d/ack", forced.Seq)
	if code, _ := sec.raw("POST", path, map[string]any{"note": " "}, nil); code != http.StatusBadRequest {
		t.Errorf("ack without a note: %d, want 400", code)
	}
	var acked eventindex.Alarm
	if code := sec.do("POST", path, map[string]any{"note": "checked: contractor, badge seen"}, &acked); code != http.StatusOK {
		t.Fatalf("ack: %d", code)
	}
	if acked.Acknowledged == nil || acked.Acknowledged.By != "security-1" || acked.Acknowledged.Note != "checked: contractor, badge seen" {
		t.Errorf("acknowledged alarm %+v", acked)
	}
	if code, _ := s.bearer("manager-1").raw("POST", path, map[string]any{"note": "again"}, nil); code != http.StatusConflict {
		t.Errorf("second ack: %d, want 409", code)
	}
	if code, _ := sec.raw("POST", fmt.Sprintf("/api/v1/alarms/%d/ack", ordered.Seq), map[string]any{"note": "x"}, nil); code != http.StatusNotFound {
		t.Errorf("ack of an event that is no alarm: %d, want 404", code)
	}
	var after []eventindex.Alarm
	sec.do("GET", "/api/v1/alarms", nil, &after)
	for _, a := range after {
		if a.Seq == forced.Seq {
			t.Errorf("acknowledged alarm still open: %+v", a)
		}
	}
	var all []eventindex.Alarm
	sec.do("GET", "/api/v1/alarms?state=all", nil, &all)
	if !slices.ContainsFunc(all, func(a eventindex.Alarm) bool { return a.Seq == forced.Seq && a.Acknowledged != nil }) {
		t.Errorf("state=all lacks the acknowledged alarm: %+v", all)
	}
	ack := s.waitEvent("alarm.acknowledged")
	if !bytes.Contains(ack.Data, []byte(fmt.Sprintf(`"alarm":%d`, forced.Seq))) {
		t.Errorf("alarm.acknowledged: %s", ack.Data)
	}
	// The audit log lists the staff actions.
	var audit struct{ Events []eventindex.Summary }
	sec.do("GET", "/api/v1/audit", nil, &audit)
	var types []string
	for _, e := range audit.Events {
		types = append(types, e.Type)
	}
	for _, want := range []string{"staff.signed-in", "door.unlock-ordered", "alarm.acknowledged"} {
		if !slices.Contains(types, want) {
			t.Errorf("audit log %v lacks %s", types, want)
		}
	}
}

// TestJournalSearchAndExport searches the journal and exports it; the export verifies
// with the site's public key.
func TestJournalSearchAndExport(t *testing.T) {
	t.Parallel()
	s := newConsoleSite(t)
	m := s.bearer("manager-1")
	m.do("POST", "/api/v1/residents/X100001/absences", map[string]any{"id": "a1", "from": "2026-06-12 10:00", "to": "2026-06-13 10:00", "approvedBy": "M"}, nil)
	s.waitEvent("resident.absence-approved")
	for _, tc := range []struct {
		query string
		check func(eventindex.Summary) bool
	}{
		{"type=resident.absence-approved", func(e eventindex.Summary) bool { return e.Type == "resident.absence-approved" }},
		{"type=staff.*", func(e eventindex.Summary) bool { return strings.HasPrefix(e.Type, "staff.") }},
		{"crn=A1001AA", func(e eventindex.Summary) bool { return e.CRN == "X100001" }},
		{"from=2026-06-10T10:00:00Z&to=2026-06-10T12:00:00Z&limit=2", func(e eventindex.Summary) bool { return true }},
	} {
		var out struct{ Events []eventindex.Summary }
		if code := m.do("GET", "/api/v1/journal?"+tc.query, nil, &out); code != http.StatusOK || len(out.Events) == 0 {
			t.Errorf("journal?%s: %d, %d events", tc.query, code, len(out.Events))
		}
		for _, e := range out.Events {
			if !tc.check(e) {
				t.Errorf("journal?%s returned %+v", tc.query, e)
			}
		}
	}
	if code, body := m.raw("GET", "/api/v1/journal?from=yesterday", nil, nil); code != http.StatusBadRequest || !strings.Contains(string(body), "from") {
		t.Errorf("bad from: %d %s", code, body)
	}

	code, body := m.raw("GET", "/api/v1/journal/export", nil, nil)
	if code != http.StatusOK {
		t.Fatalf("export: %d", code)
	}
	pub, err := sitekey.LoadPublic(s.pub, "")
	if err != nil {
		t.Fatal(err)
	}
	res, err := verify.Export(bytes.NewReader(body), pub)
	if err != nil {
		t.Fatalf("the export does not verify: %v", err)
	}
	if res.FirstSeq != 1 || res.Count == 0 {
		t.Errorf("export verified as %+v", res)
	}
	var del struct{ Journaled, Acked, Backlog uint64 }
	m.do("GET", "/api/v1/delivery", nil, &del)
	if del.Journaled < uint64(res.Count) || del.Backlog != del.Journaled-del.Acked {
		t.Errorf("delivery %+v after exporting %d", del, res.Count)
	}
}

// TestUsers: an admin adds and changes accounts; a disabled account's token stops
// working at once.
func TestUsers(t *testing.T) {
	t.Parallel()
	s := newConsoleSite(t)
	admin := s.bearer("admin-1")
	if code, body := admin.raw("POST", "/api/v1/users", map[string]any{"name": "nina", "role": "security", "password": "short"}, nil); code != http.StatusBadRequest {
		t.Errorf("weak password: %d %s", code, body)
	}
	if code := admin.do("POST", "/api/v1/users", map[string]any{"name": "nina", "role": "security", "password": password}, nil); code != http.StatusCreated {
		t.Fatalf("add: %d", code)
	}
	if code := admin.do("POST", "/api/v1/users", map[string]any{"name": "nina", "role": "staff", "password": password}, nil); code != http.StatusConflict {
		t.Errorf("add again: %d, want 409", code)
	}
	nina := s.bearer("nina")
	var u struct{ Role string }
	if code := admin.do("PATCH", "/api/v1/users/nina", map[string]any{"role": "manager"}, &u); code != http.StatusOK || u.Role != "manager" {
		t.Errorf("role change: %d %+v", code, u)
	}
	if code := nina.do("GET", "/api/v1/journal/export", nil, nil); code != http.StatusOK {
		t.Errorf("export after promotion to manager: %d", code)
	}
	admin.do("PATCH", "/api/v1/users/nina", map[string]any{"disabled": true}, nil)
	if code := nina.do("GET", "/api/v1/status", nil, nil); code != http.StatusUnauthorized {
		t.Errorf("disabled account's token: %d, want 401", code)
	}
	var list []struct {
		Name     string
		Disabled bool
	}
	admin.do("GET", "/api/v1/users", nil, &list)
	if !slices.ContainsFunc(list, func(x struct {
		Name     string
		Disabled bool
	}) bool {
		return x.Name == "nina" && x.Disabled
	}) {
		t.Errorf("users %+v", list)
	}
	s.waitEvent("staff.account-changed")
	s.waitEvent("staff.account-added")
	// Revoking the token in use.
	if code := admin.do("DELETE", "/api/v1/tokens/current", nil, nil); code != http.StatusNoContent {
		t.Errorf("revoke: %d", code)
	}
	if code := admin.do("GET", "/api/v1/status", nil, nil); code != http.StatusUnauthorized {
		t.Errorf("revoked token: %d, want 401", code)
	}
}

// TestStreamAlarm: the stream sends the state at once, then a new alarm as a journal
// event and in the next state.
func TestStreamAlarm(t *testing.T) {
	t.Parallel()
	s := newConsoleSite(t)
	c := s.browser("security-1")
	s.waitFor("the door reported", func() (bool, string) {
		var ds []struct{ State string }
		c.do("GET", "/api/v1/doors", nil, &ds)
		return len(ds) == 1 && ds[0].State == "locked", fmt.Sprint(ds)
	})
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.srv.URL+"/api/v1/stream", nil)
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("stream content type %q", ct)
	}
	events := make(chan [2]string, 100)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		var name string
		for sc.Scan() {
			line := sc.Text()
			if n, ok := strings.CutPrefix(line, "event: "); ok {
				name = n
			} else if d, ok := strings.CutPrefix(line, "data: "); ok {
				events <- [2]string{name, d}
			}
		}
		close(events)
	}()
	next := func(what string, match func(name, data string) bool) {
		t.Helper()
		for {
			select {
			case e, ok := <-events:
				if !ok {
					t.Fatalf("stream ended waiting for %s", what)
				}
				if match(e[0], e[1]) {
					return
				}
			case <-ctx.Done():
				t.Fatalf("no %s on the stream", what)
			}
		}
	}
	next("first state", func(n, _ string) bool { return n == "state" })
	s.bridge.Sim().Door("front").Open()
	next("the forced door's journal event", func(n, d string) bool { return n == "journal" && strings.Contains(d, `"type":"door.forced"`) })
	next("a state with the forced door's alarm", func(n, d string) bool {
		var st struct{ Alarms []eventindex.Alarm }
		json.Unmarshal([]byte(d), &st)
		return n == "state" && slices.ContainsFunc(st.Alarms, func(a eventindex.Alarm) bool { return a.Type == "door.forced" })
	})
}

// TestHealthMetricsAndFiles checks the unauthenticated endpoints.
func TestHealthMetricsAndFiles(t *testing.T) {
	t.Parallel()
	s := newConsoleSite(t)
	anon := s.anonymous()
	if code, body := anon.raw("GET", "/healthz", nil, nil); code != http.StatusOK || string(body) != "ok\n" {
		t.Errorf("healthz: %d %q", code, body)
	}
	s.waitFor("ready", func() (bool, string) {
		code, body := anon.raw("GET", "/readyz", nil, nil)
		return code == http.StatusOK, string(body)
	})
	s.bearer("staff-1").do("GET", "/api/v1/status", nil, nil)
	scraper := &client{s: s, hc: s.srv.Client(), token: metricsToken}
	s.waitFor("reader figures", func() (bool, string) {
		_, body := scraper.raw("GET", "/metrics", nil, nil)
		return bytes.Contains(body, []byte(`apedge_reader_online{door="front",reader="front-in"} 1`)), ""
	})
	_, body := scraper.raw("GET", "/metrics", nil, nil)
	for _, want := range []string{
		`apedge_journal_last_seq `, `apedge_forwarder_backlog_events `, `apedge_bus_messages_total `,
		`apedge_door_state{door="front",state="locked"} 1`, `apedge_curfew_residents{presence="unknown"} 2`,
		`apedge_http_requests_total{code="200",route="GET /api/v1/status"} 1`, `apedge_alarms_open `, `apedge_clock_synced 1`, `apedge_curfew_absent_open 0`,
		`go_goroutines `,
	} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	for _, f := range []struct{ path, has string }{{"/", "<html"}, {"/app.js", "EventSource"}, {"/style.css", "{"}, {"/openapi.yaml", "openapi: 3"}} {
		code, body := anon.raw("GET", f.path, nil, nil)
		if code != http.StatusOK || !bytes.Contains(body, []byte(f.has)) {
			t.Errorf("GET %s: %d, lacks %q", f.path, code, f.has)
		}
	}
}

// TestOpenAPIDescribesEveryRoute checks that openapi.yaml and the server agree on the
// API's routes, both ways, and on the permission each needs.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string                    `yaml:"openapi"`
		Paths   map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for p, ops := range doc.Paths {
		for m := range ops {
			if m == "parameters" {
				continue
			}
			documented[strings.ToUpper(m)+" "+p] = true
		}
	}
	served := map[string]bool{}
	re := regexp.MustCompile(`^(GET|POST|PATCH|DELETE) (/api/v1/\S*|/healthz|/readyz|/metrics)$`)
	for _, r := range console.Routes() {
		if re.MatchString(r) {
			served[r] = true
		}
	}
	for r := range served {
		if !documented[r] {
			t.Errorf("%s is served but not in openapi.yaml", r)
		}
	}
	for r := range documented {
		if !served[r] {
			t.Errorf("%s is in openapi.yaml but not served", r)
		}
	}
	// Each operation's x-permission is the one its route checks.
	routePerms := console.RoutePermissions()
	for p, ops := range doc.Paths {
		for m, v := range ops {
			op, _ := v.(map[string]any)
			if m == "parameters" || op == nil {
				continue
			}
			perm, _ := op["x-permission"].(string)
			r := strings.ToUpper(m) + " " + p
			want, ok := routePerms[r]
			if !ok {
				continue
			}
			if w := string(want); w == "" && perm != "none" || w != "" && perm != w {
				t.Errorf("%s: x-permission %q in openapi.yaml, the route checks %q", r, perm, w)
			}
		}
	}
}

// TestCurfewThroughAPI moves the agent's clock past 23:00: the roll, the open absences
// and the residents' curfew state are all on the API.
func TestCurfewThroughAPI(t *testing.T) {
	t.Parallel()
	s := newConsoleSite(t)
	c := s.bearer("staff-1")
	if code := c.do("GET", "/api/v1/curfew/roll", nil, nil); code != http.StatusNotFound {
		t.Errorf("roll before any: %d, want 404", code)
	}
	eleven := time.Date(2026, 6, 10, 22, 0, 0, 0, time.UTC) // 23:00 BST
	s.clock.Set(eleven.Add(time.Minute))
	s.waitEvent("curfew.roll")
	var roll eventindex.Summary
	if code := c.do("GET", "/api/v1/curfew/roll", nil, &roll); code != http.StatusOK || roll.Type != "curfew.roll" || !roll.OccurredAt.Equal(eleven) {
		t.Errorf("roll: %d %+v", code, roll)
	}
	s.waitFor("both residents absent", func() (bool, string) {
		var evs []struct {
			Type, CRN string
			Open      bool
		}
		c.do("GET", "/api/v1/curfew/events", nil, &evs)
		n := 0
		for _, e := range evs {
			if e.Type == "curfew.absent" && e.Open {
				n++
			}
		}
		return n == 2, fmt.Sprint(evs)
	})
	var rs []struct {
		CRN    string
		Absent bool
		Window *struct{ Source, StartLocal string }
	}
	c.do("GET", "/api/v1/residents", nil, &rs)
	for _, r := range rs {
		if !r.Absent || r.Window == nil || r.Window.Source != "ap-rule" || r.Window.StartLocal != "2026-06-10 23:00" {
			t.Errorf("resident %s at 23:01: absent %v, window %+v", r.CRN, r.Absent, r.Window)
		}
	}
	var st struct {
		Roll *eventindex.Summary
	}
	c.do("GET", "/api/v1/status", nil, &st)
	if st.Roll == nil || st.Roll.Seq != roll.Seq {
		t.Errorf("status roll %+v, want seq %d", st.Roll, roll.Seq)
	}
}
