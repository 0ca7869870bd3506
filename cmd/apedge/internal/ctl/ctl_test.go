package ctl

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/apedge/apedge/cmd/apedge/internal/clitest"
	"github.com/creack/pty"
)

// fakeConsole stands in for the agent's console API (the contract's shapes) for the
// endpoints the ctl tests use; the end-to-end test against the real agent is elsewhere.
type fakeConsole struct {
	*httptest.Server
	mu       sync.Mutex
	auth     []string          // the Authorization header of every request
	bodies   map[string][]byte // the last body by "METHOD path"
	queries  map[string]string // the last query by "METHOD path"
	exportN  int               // lines the export sends
	exportOf int               // ...and what its X-Apedge-Events header says
}

const (
	ctlTestToken = "tok-5ecret"
	ctlTestPass  = "correct horse battery"
)

// The fake console's documents have the shapes of the console's OpenAPI document
// (contractChecker checks every response it sends).
var ctlResidentsJSON = `[
 {"crn":"X123456","noms":"A1234BC","name":"Sam Jones","room":"4","arrived":"2026-06-30T10:00:00Z","expectedDeparture":"2026-12-31",
  "cards":1,"presence":"in","presenceSince":"2026-07-01T13:05:00Z","inconsistent":false,
  "window":{"key":"ap-standard/2026-07-01#1","start":"2026-07-01T22:00:00Z","end":"2026-07-02T05:00:00Z","startLocal":"2026-07-01 23:00","endLocal":"2026-07-02 06:00","source":"ap-rule"},"absent":false},
 {"crn":"X654321","arrived":"2026-06-01T09:00:00Z",
  "cards":2,"presence":"out","presenceSince":"2026-11-22T23:00:00Z","inconsistent":true,
  "window":{"key":"ap-standard/2026-11-22#1","start":"2026-11-22T23:00:00Z","end":"2026-11-23T06:00:00Z","startLocal":"2026-11-22 23:00","endLocal":"2026-11-23 06:00","source":"ap-rule"},"absent":true}
]`

var ctlAlarmsJSON = map[string]string{
	"open": `[{"seq":41,"id":"S1-41","type":"door.forced","occurredAt":"2026-07-01T13:05:00Z","occurredAtLocal":"2026-07-01 14:05","crn":"","noms":"","subject":"front","summary":"front door forced","data":{"door":"front"},
	 "acknowledged":null,"priority":1,"priorityName":"urgent","group":"door.forced|front","sentence":"The front door was forced open"}]`,
	"all": `[{"seq":40,"id":"S1-40","type":"reader.tamper","occurredAt":"2026-11-22T23:00:00Z","occurredAtLocal":"2026-11-22 23:00","crn":"","noms":"","subject":"r-front-in","summary":"reader tamper","data":null,
	  "acknowledged":{"by":"ann","at":"2026-11-22T23:30:00Z","note":"cover refitted","seq":42},"priority":2,"priorityName":"high","group":"reader.tamper|r-front-in","sentence":"The tamper switch went off"},
	 {"seq":41,"id":"S1-41","type":"door.forced","occurredAt":"2026-07-01T13:05:00Z","occurredAtLocal":"2026-07-01 14:05","crn":"","noms":"","subject":"front","summary":"front door forced","data":{"door":"front"},
	 "acknowledged":null,"priority":1,"priorityName":"urgent","group":"door.forced|front","sentence":"The front door was forced open"}]`,
}

// ctlDeliveryJSON is the delivery to central, connected.
const ctlDeliveryJSON = `{"connected":true,"journaled":120,"delivered":118,"acked":117,"backlog":3}`

// ctlRollJSON is a curfew roll event: who was in, out and unknown is in its data.
const ctlRollJSON = `{"seq":90,"id":"S1-90","type":"curfew.roll","occurredAt":"2026-11-22T23:00:00Z","occurredAtLocal":"2026-11-22 23:00:00","crn":"","noms":"","subject":"",
 "data":{"in":["X123456","X222222"],"out":["X654321"],"unknown":[],"onApprovedAbsence":[]}}`

// ctlJournalJSON is a page of the journal.
const ctlJournalJSON = `{"events":[{"seq":3,"id":"e3","type":"door.opened","occurredAt":"2026-07-01T13:05:00Z","occurredAtLocal":"2026-07-01 14:05","crn":"","noms":"","subject":"front","data":{"door":"front"},"sentence":"The front door opened"}],"next":4}`

func newFakeConsole(t *testing.T) *fakeConsole {
	f := &fakeConsole{bodies: map[string][]byte{}, queries: map[string]string{}, exportN: 250, exportOf: 250}
	mux := http.NewServeMux()
	fail := func(w http.ResponseWriter, code int, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(map[string]string{"error": msg})
	}
	reply := func(w http.ResponseWriter, code int, body string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		io.WriteString(w, body)
	}
	// bearer wraps a handler that needs a valid token.
	bearer := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer "+ctlTestToken {
				fail(w, http.StatusUnauthorized, "not signed in")
				return
			}
			h(w, r)
		}
	}
	mux.HandleFunc("POST /api/v1/tokens", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Name, Password, Label string }
		if err := json.Unmarshal(f.body(r), &in); err != nil || in.Name != "ann" || in.Password != ctlTestPass {
			fail(w, http.StatusUnauthorized, "wrong name or password")
			return
		}
		reply(w, http.StatusCreated, `{"token":"`+ctlTestToken+`","user":{"name":"ann","role":"manager","permissions":["read","register","doors","lockdown","alarms","export","substance-test","substance-results"],"disabled":false}}`)
	})
	mux.HandleFunc("DELETE /api/v1/tokens/current", bearer(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	mux.HandleFunc("GET /api/v1/residents", bearer(func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, ctlResidentsJSON)
	}))
	mux.HandleFunc("GET /api/v1/alarms", bearer(func(w http.ResponseWriter, r *http.Request) {
		f.body(r)
		state := r.URL.Query().Get("state")
		if state == "" {
			state = "open"
		}
		reply(w, http.StatusOK, ctlAlarmsJSON[state])
	}))
	mux.HandleFunc("POST /api/v1/residents", bearer(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ CRN string }
		json.Unmarshal(f.body(r), &in)
		reply(w, http.StatusAccepted, `{"change":7,"action":"arrive","crn":"`+in.CRN+`"}`)
	}))
	mux.HandleFunc("POST /api/v1/doors/{id}/unlock", bearer(func(w http.ResponseWriter, r *http.Request) {
		f.body(r)
		switch r.PathValue("id") {
		case "front":
			fail(w, http.StatusForbidden, "role staff may not unlock doors")
		case "garden":
			reply(w, http.StatusOK, `{"door":"garden","result":"failed","detail":"door is open"}`)
		case "cellar":
			reply(w, http.StatusBadGateway, `{"door":"cellar","result":"no-answer","detail":"no answer from the bridge within 10s"}`)
		case "proxy":
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, "<html><body>nginx: bad gateway</body></html>")
		case "plain":
			http.Error(w, "door service restarting", http.StatusServiceUnavailable)
		default:
			reply(w, http.StatusOK, `{"door":"`+r.PathValue("id")+`","result":"done","detail":"for 5s"}`)
		}
	}))
	mux.HandleFunc("GET /api/v1/journal", bearer(func(w http.ResponseWriter, r *http.Request) {
		f.body(r)
		reply(w, http.StatusOK, ctlJournalJSON)
	}))
	mux.HandleFunc("GET /api/v1/delivery", bearer(func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, ctlDeliveryJSON)
	}))
	mux.HandleFunc("GET /api/v1/curfew/roll", bearer(func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, ctlRollJSON)
	}))
	mux.HandleFunc("GET /api/v1/journal/export", bearer(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.Header().Set("X-Apedge-Events", fmt.Sprint(f.exportOf))
		for i := 1; i <= f.exportN; i++ {
			fmt.Fprintf(w, "{\"seq\":%d,\"sig\":\"x\"}\n", i)
		}
	}))
	// Every response is checked against the console's OpenAPI document, but for the
	// doors that stand in for a proxy's page and a plain-text error.
	offContract := func(r *http.Request) bool {
		return r.URL.Path == "/api/v1/doors/proxy/unlock" || r.URL.Path == "/api/v1/doors/plain/unlock"
	}
	checked := contractChecker(t, mux, offContract)
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.auth = append(f.auth, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
		f.mu.Unlock()
		checked.ServeHTTP(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

// body records and returns a request's body, query and Authorization header.
func (f *fakeConsole) body(r *http.Request) []byte {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	key := r.Method + " " + r.URL.Path
	f.bodies[key] = b
	f.queries[key] = r.URL.RawQuery
	return b
}

func (f *fakeConsole) last(key string) (body []byte, query string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bodies[key], f.queries[key]
}

func (f *fakeConsole) authHeaders() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.auth...)
}

// ctl runs `apedge ctl args...` in-process with stdin as standard input, as main does.
func ctl(t *testing.T, stdin string, args ...string) clitest.Result {
	t.Helper()
	var stdout, stderr clitest.LockedBuffer
	code := Main(t.Context(), args, Env{Stdin: strings.NewReader(stdin), Stdout: &stdout, Stderr: &stderr})
	return clitest.Result{Args: append([]string{"ctl"}, args...), Code: code, Stdout: stdout.String(), Stderr: stderr.String()}
}

// signedIn returns the flags for the fake console with a token file holding its token.
func signedIn(t *testing.T, f *fakeConsole) []string {
	t.Helper()
	tok := clitest.WriteFile(t, t.TempDir(), "token", ctlTestToken+"\n", 0o600)
	return []string{"-url", f.URL, "-token-file", tok}
}

func TestCtlLogin(t *testing.T) {
	f := newFakeConsole(t)
	dir := filepath.Join(t.TempDir(), "config", "apedge") // made by login
	tokFile := filepath.Join(dir, "token")
	t.Setenv("APEDGE_URL", f.URL) // the defaults come from the environment
	t.Setenv("APEDGE_TOKEN_FILE", tokFile)

	r := ctl(t, "wrong password\n", "login", "-user", "ann")
	clitest.WantOneLine(t, r, 1, "apedge ctl: 401: wrong name or password")
	if _, err := os.Stat(tokFile); err == nil {
		t.Errorf("a failed login left a token file")
	}

	r = ctl(t, ctlTestPass+"\n", "login", "-user", "ann")
	if r.Code != 0 || !strings.Contains(r.Stdout, "signed in to "+f.URL+" as ann (manager); token saved in "+tokFile) {
		t.Fatalf("login failed\n%v", r)
	}
	if strings.Contains(r.Stdout+r.Stderr, ctlTestToken) {
		t.Errorf("login printed the token\n%v", r)
	}
	body, _ := f.last("POST /api/v1/tokens")
	var in map[string]string
	if err := json.Unmarshal(body, &in); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	if want := map[string]string{"name": "ann", "password": ctlTestPass, "label": "ctl@" + host}; !reflect.DeepEqual(in, want) {
		t.Errorf("login sent %v, want %v", in, want)
	}
	b, err := os.ReadFile(tokFile)
	if err != nil || string(b) != ctlTestToken+"\n"+f.URL+"\n" {
		t.Fatalf("token file %q, %v; want the token, then the console it is for", b, err)
	}
	for path, want := range map[string]os.FileMode{tokFile: 0o600, dir: 0o700} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v (%v), want %v", path, fi.Mode().Perm(), err, want)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".token-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}

	// Logging in again replaces the token, still 0600; a plain line with no newline is read too.
	os.Chmod(tokFile, 0o644)
	if r := ctl(t, ctlTestPass, "login", "-user", "ann"); r.Code != 0 {
		t.Fatalf("second login failed\n%v", r)
	}
	if fi, _ := os.Stat(tokFile); fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v after a second login", fi.Mode().Perm())
	}

	// Logout revokes the token it used and removes the file.
	r = ctl(t, "", "logout")
	if r.Code != 0 || !strings.Contains(r.Stdout, "token revoked") {
		t.Fatalf("logout failed\n%v", r)
	}
	if _, err := os.Stat(tokFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("token file still there after logout: %v", err)
	}
	if got := f.authHeaders(); got[len(got)-1] != "DELETE /api/v1/tokens/current Bearer "+ctlTestToken {
		t.Errorf("logout sent %v", got)
	}

	for _, tc := range []struct {
		name, stdin string
		args        []string
		code        int
		want        string
	}{
		{"no password", "", []string{"login", "-user", "ann"}, 1, "apedge ctl: no password on standard input"},
		{"no user", ctlTestPass + "\n", []string{"login"}, 2, "apedge ctl login: -user is required"},
		{"after logout", "", []string{"residents"}, 1, "apedge ctl: not signed in (no token in " + tokFile + "): run apedge ctl login"},
		{"bad url", "", []string{"residents", "-url", "127.0.0.1:8080"}, 1, `apedge ctl: -url "127.0.0.1:8080": want http://HOST:PORT`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clitest.WantOneLine(t, ctl(t, tc.stdin, tc.args...), tc.code, tc.want)
		})
	}
}

func TestCtlBearer(t *testing.T) {
	f := newFakeConsole(t)
	flags := signedIn(t, f)
	// Global flags before the command's name as well as after it.
	for _, args := range [][]string{append([]string{"residents"}, flags...), append(append([]string{}, flags...), "residents")} {
		if r := ctl(t, "", args...); r.Code != 0 {
			t.Fatalf("residents failed\n%v", r)
		}
	}
	for _, h := range f.authHeaders() {
		if h != "GET /api/v1/residents Bearer "+ctlTestToken {
			t.Errorf("request %q, want the bearer token", h)
		}
	}
	// A token the agent does not know: 401 says to sign in again.
	bad := clitest.WriteFile(t, t.TempDir(), "token", "stale\n", 0o600)
	clitest.WantOneLine(t, ctl(t, "", "residents", "-url", f.URL, "-token-file", bad), 1, "apedge ctl: 401: not signed in; run apedge ctl login")
}

func TestCtlOutput(t *testing.T) {
	f := newFakeConsole(t)
	flags := signedIn(t, f)
	for _, tc := range []struct {
		name    string
		args    []string
		query   string   // the query the agent got
		lines   []string // the table's lines (each split on runs of two or more spaces) that must appear
		jsonDoc string   // with -json: the document printed, as the agent sent it
	}{
		{
			name: "residents",
			args: []string{"residents"},
			lines: []string{
				"CRN|NOMS|NAME|ROOM|PRESENCE|SINCE|CURFEW|ARRIVED|EXPECTED DEPARTURE",
				// BST in July: 13:05Z is 14:05 in London.
				"X123456|A1234BC|Sam Jones|4|in|2026-07-01 14:05|NOW 2026-07-01 23:00 to 2026-07-02 06:00 (ap-rule)|2026-06-30 11:00|2026-12-31",
				// GMT in November.
				"X654321|-|-|-|out (inconsistent)|2026-11-22 23:00|NOW, ABSENT 2026-11-22 23:00 to 2026-11-23 06:00 (ap-rule)|2026-06-01 10:00|-",
				"2 residents: 1 in, 1 out, 0 unknown",
			},
			jsonDoc: ctlResidentsJSON,
		},
		{
			name:    "open alarms",
			args:    []string{"alarms"},
			query:   "state=open",
			lines:   []string{"SEQ|TIME|PRIORITY|TYPE|WHAT HAPPENED|ACKNOWLEDGED", "41|2026-07-01 14:05|urgent|door.forced|The front door was forced open|-"},
			jsonDoc: ctlAlarmsJSON["open"],
		},
		{
			name:  "all alarms",
			args:  []string{"alarms", "-all"},
			query: "state=all",
			lines: []string{
				"40|2026-11-22 23:00|high|reader.tamper|The tamper switch went off|by ann at 2026-11-22 23:30: cover refitted",
				"41|2026-07-01 14:05|urgent|door.forced|The front door was forced open|-",
			},
			jsonDoc: ctlAlarmsJSON["all"],
		},
		{
			name:    "delivery",
			args:    []string{"delivery"},
			lines:   []string{"central|connected", "journaled|120", "delivered|118", "acked|117", "backlog|3"},
			jsonDoc: ctlDeliveryJSON,
		},
		{
			name:    "curfew-roll",
			args:    []string{"curfew-roll"},
			lines:   []string{"curfew roll at 2026-11-22 23:00 (event 90): 2 in, 1 out, 0 unknown", "OUT|X654321", "in|X123456", "in|X222222"},
			jsonDoc: ctlRollJSON,
		},
		{
			name:    "journal",
			args:    []string{"journal", "-type", "door.*", "-from", "2026-07-01 14:00", "-limit", "1"},
			query:   "from=2026-07-01T13%3A00%3A00Z&limit=1&type=door.%2A",
			lines:   []string{"3|2026-07-01 14:05|door.opened|-|front|{\"door\":\"front\"}", "more: run apedge ctl journal again with -after 4"},
			jsonDoc: ctlJournalJSON,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ctl(t, "", append(tc.args, flags...)...)
			if r.Code != 0 || r.Stderr != "" {
				t.Fatalf("failed\n%v", r)
			}
			var got []string
			for _, l := range clitest.Lines(r.Stdout) {
				got = append(got, strings.Join(splitColumns(l), "|"))
			}
			for _, want := range tc.lines {
				if !contains(got, want) {
					t.Errorf("no line %q in\n%s", want, strings.Join(got, "\n"))
				}
			}
			path := "GET /api/v1/" + tc.args[0]
			if _, q := f.last(path); tc.query != "" && q != tc.query {
				t.Errorf("query %q, want %q", q, tc.query)
			}

			r = ctl(t, "", append(append([]string{"-json"}, tc.args...), flags...)...)
			if r.Code != 0 || r.Stderr != "" || len(clitest.Lines(r.Stdout)) != 1 {
				t.Fatalf("-json: want one line\n%v", r)
			}
			var doc, want any
			if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
				t.Fatal(err)
			}
			json.Unmarshal([]byte(tc.jsonDoc), &want)
			if !reflect.DeepEqual(doc, want) {
				t.Errorf("-json printed %s, want the agent's document %s", r.Stdout, tc.jsonDoc)
			}
		})
	}
}

// splitColumns splits a tabwriter line on its runs of two or more spaces.
func splitColumns(l string) []string {
	var cols []string
	for _, c := range strings.Split(strings.TrimSpace(l), "  ") {
		if c = strings.TrimSpace(c); c != "" {
			cols = append(cols, c)
		}
	}
	return cols
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func TestCtlActions(t *testing.T) {
	f := newFakeConsole(t)
	flags := signedIn(t, f)
	for _, tc := range []struct {
		name string
		args []string
		code int
		out  string // on stdout, or the one line on stderr
		sent string // the JSON body the agent got, if any
	}{
		{"arrival", []string{"arrive", "-crn", "X200001", "-card", "12:50001, 12:50002", "-name", "New One", "-room", "7"}, 0,
			"arrival of X200001 recorded as change 7",
			`{"crn":"X200001","name":"New One","room":"7","cards":["12:50001","12:50002"]}`},
		{"arrival of one card", []string{"arrive", "-crn", "X200002", "-card", "12:50003", "-expected-departure", "2027-01-31"}, 0,
			"arrival of X200002 recorded as change 7",
			`{"crn":"X200002","cards":["12:50003"],"expectedDeparture":"2027-01-31"}`},
		{"unlock", []string{"unlock", "-door", "back", "-reason", "fire drill", "-seconds", "5"}, 0, "door back unlocked: for 5s",
			`{"reason":"fire drill","seconds":5}`},
		{"unlock forbidden", []string{"unlock", "-door", "front", "-reason", "delivery"}, 1, "apedge ctl: 403: role staff may not unlock doors",
			`{"reason":"delivery"}`},
		{"unlock refused", []string{"unlock", "-door", "garden", "-reason", "x"}, 1, "apedge ctl: door garden not unlocked: failed: door is open", ""},
		{"unlock unanswered", []string{"unlock", "-door", "cellar", "-reason", "x"}, 1, "apedge ctl: door cellar not unlocked: no-answer: no answer from the bridge within 10s", ""},
		{"not JSON", []string{"unlock", "-door", "proxy", "-reason", "x"}, 1, "apedge ctl: 502: Bad Gateway", ""},
		{"plain text", []string{"unlock", "-door", "plain", "-reason", "x"}, 1, "apedge ctl: 503: door service restarting", ""},
		{"no card", []string{"arrive", "-crn", "X200003"}, 2, "apedge ctl arrive: -card is required", ""},
		{"no reason", []string{"unlock", "-door", "front"}, 2, "apedge ctl unlock: -reason is required", ""},
		{"bad seq", []string{"ack", "-alarm", "x1", "-note", "n"}, 2, `apedge ctl ack: -alarm "x1" is not an alarm's seq`, ""},
		{"stray argument", []string{"status", "now"}, 2, `apedge ctl status: unexpected argument "now"`, ""},
		{"unknown command", []string{"frobnicate"}, 2, `apedge ctl: unknown command "frobnicate"`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ctl(t, "", append(tc.args, flags...)...)
			if tc.code == 0 {
				if r.Code != 0 || !strings.Contains(r.Stdout, tc.out) {
					t.Errorf("want %q\n%v", tc.out, r)
				}
			} else {
				clitest.WantOneLine(t, r, tc.code, tc.out)
			}
			if tc.sent == "" {
				return
			}
			key := "POST /api/v1/residents"
			if tc.args[0] == "unlock" {
				key = "POST /api/v1/doors/" + tc.args[2] + "/unlock"
			}
			body, _ := f.last(key)
			var got, want any
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("%s: %q: %v", key, body, err)
			}
			json.Unmarshal([]byte(tc.sent), &want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("sent %s, want %s", body, tc.sent)
			}
		})
	}
}

func TestCtlExport(t *testing.T) {
	f := newFakeConsole(t)
	flags := signedIn(t, f)
	dir := t.TempDir()
	out := filepath.Join(dir, "site.jsonl")
	r := ctl(t, "", append([]string{"export", "-o", out}, flags...)...)
	if r.Code != 0 || r.Stderr != "exported 250 events to "+out+"\n" ||
		r.Stdout != "check it with: apedge verify -pubkey site.pub "+out+"\n" {
		t.Fatalf("export\n%v", r)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	got := clitest.Lines(string(b))
	if len(got) != 250 || got[0] != `{"seq":1,"sig":"x"}` || got[249] != `{"seq":250,"sig":"x"}` {
		t.Errorf("export file has %d lines, from %q", len(got), got[0])
	}
	if fi, _ := os.Stat(out); fi.Mode().Perm() != 0o600 {
		t.Errorf("export file mode %v", fi.Mode().Perm())
	}
	if _, err := os.Stat(out + ".partial"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("partial file left: %v", err)
	}

	// A download cut short leaves nothing that could pass for an export.
	f.exportOf = 300
	short := filepath.Join(dir, "short.jsonl")
	clitest.WantOneLine(t, ctl(t, "", append([]string{"export", "-o", short}, flags...)...), 1,
		"apedge ctl: export to "+short+": the agent sent 250 of 300 events")
	for _, p := range []string{short, short + ".partial"} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left after a short export: %v", p, err)
		}
	}
}

// TestCtlTerminal reads the password from a terminal and shows export progress on one.
func TestCtlTerminal(t *testing.T) {
	f := newFakeConsole(t)
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer ptmx.Close()
	defer tty.Close()
	var seen clitest.LockedBuffer
	done := make(chan struct{})
	go func() { io.Copy(&seen, ptmx); close(done) }()

	tokFile := filepath.Join(t.TempDir(), "token")
	go func() {
		// Type the password once the prompt is up and the terminal's echo is off.
		deadline := time.NewTimer(10 * time.Second)
		defer deadline.Stop()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for !strings.Contains(seen.String(), "password for ann") || echoOn(tty) {
			select {
			case <-deadline.C:
				return // the login below fails, showing what the terminal saw
			case <-tick.C:
			}
		}
		io.WriteString(ptmx, ctlTestPass+"\r")
	}()
	var stdout clitest.LockedBuffer
	env := Env{Stdin: tty, Stdout: &stdout, Stderr: tty}
	if code := Main(t.Context(), []string{"login", "-user", "ann", "-url", f.URL, "-token-file", tokFile}, env); code != 0 {
		t.Fatalf("login on a terminal: exit %d\n%s", code, seen.String())
	}
	if !strings.Contains(stdout.String(), "signed in") {
		t.Errorf("login printed %q", stdout.String())
	}

	out := filepath.Join(t.TempDir(), "site.jsonl")
	stdout = clitest.LockedBuffer{}
	if code := Main(t.Context(), []string{"export", "-o", out, "-url", f.URL, "-token-file", tokFile}, env); code != 0 {
		t.Fatalf("export on a terminal: exit %d\n%s", code, seen.String())
	}
	tty.Close()
	<-done
	if s := seen.String(); strings.Contains(s, ctlTestPass) || !strings.Contains(s, "250/250") || strings.Contains(s, "exported 250 events") {
		t.Errorf("want no echo of the password and a progress bar instead of the final line; the terminal showed %q", s)
	}
}

// echoOn reports whether the terminal f echoes what is typed.
func echoOn(f *os.File) bool {
	st, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err != nil || st.Lflag&unix.ECHO != 0
}

// TestCtlUnreachable: when the console cannot be reached, the error says what to check.
func TestCtlUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close() // nothing listens there now
	f := newFakeConsole(t)
	tlsSrv := httptest.NewUnstartedServer(http.NotFoundHandler())
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	tok := clitest.WriteFile(t, t.TempDir(), "token", ctlTestToken+"\n", 0o600)
	plainAsTLS := strings.Replace(f.URL, "http://", "https://", 1)
	for _, tc := range []struct{ name, url, want string }{
		{"nothing listening", closed, "apedge ctl: cannot reach the console at " + closed + ": is the agent running? ("},
		{"untrusted certificate", tlsSrv.URL, "apedge ctl: the console at " + tlsSrv.URL + " has a certificate this machine does not trust: give its CA with -ca FILE"},
		{"https to http", plainAsTLS, "apedge ctl: the console at " + plainAsTLS + " does not speak TLS: try http:// in -url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clitest.WantOneLine(t, ctl(t, "", "status", "-url", tc.url, "-token-file", tok), 1, tc.want)
		})
	}
}

// TestCtlRemembersConsole: after login -url URL, the other commands talk to that
// console with no -url; and the token is never sent to another console.
func TestCtlRemembersConsole(t *testing.T) {
	f := newFakeConsole(t)
	tokFile := filepath.Join(t.TempDir(), "token")
	t.Setenv("APEDGE_URL", "")
	t.Setenv("APEDGE_TOKEN_FILE", tokFile)
	if r := ctl(t, ctlTestPass+"\n", "-url", f.URL, "login", "-user", "ann"); r.Code != 0 {
		t.Fatalf("login\n%v", r)
	}
	if r := ctl(t, "", "alarms"); r.Code != 0 {
		t.Errorf("alarms with no -url after login -url %s\n%v", f.URL, r)
	}
	other := "http://127.0.0.1:1"
	r := ctl(t, "", "-url", other, "alarms")
	clitest.WantOneLine(t, r, 1, "apedge ctl: the token in "+tokFile+" is for "+f.URL+", not "+other)
}
