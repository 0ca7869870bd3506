package ctl

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/apedge/apedge/cmd/apedge/internal/clitest"
)

// ctlFireRollJSON is a fire roll as the console sends it (checked against the OpenAPI
// document by contractChecker).
const ctlFireRollJSON = `{"seq":77,"takenAt":"2026-12-02T02:04:00Z","takenAtLocal":"2 Dec 2026 02:04 GMT","takenBy":"ann",
 "counts":{"residents":1,"staff":1,"unknown":1,"total":2},
 "people":[
  {"kind":"resident","id":"X123456","name":"Brian Baker","room":"5","label":"Brian Baker (room 5)",
   "lastMovement":{"seq":70,"at":"2026-12-02T01:59:00Z","atLocal":"2 Dec 2026 01:59 GMT","direction":"entry","door":"front","doorName":"the front door","ageSeconds":300,"age":"5 min ago"},
   "certainty":"high","seen":"seen 5 min ago coming in by the front door (at 01:59 on 2 Dec 2026)"},
  {"kind":"staff","id":"s-ann","name":"Ann Smith with a name far too long for the column","room":"","label":"Ann Smith",
   "lastMovement":{"seq":60,"at":"2026-12-01T21:00:00Z","atLocal":"1 Dec 2026 21:00 GMT","direction":"entry","door":"garden","doorName":"the garden door","ageSeconds":18240,"age":"5 h 4 min ago"},
   "certainty":"medium","seen":"seen 5 h 4 min ago coming in by the garden door (at 21:00 on 1 Dec 2026)"}],
 "unknown":[{"kind":"resident","id":"X654321","name":"","room":"","label":"X654321","lastMovement":null,"certainty":"low","seen":"never seen at a door: may be in"}],
 "staffBasis":"the agent tracks no presence for staff and contractors"}`

// ctlHistoryJSON is a resident's history as the console sends it.
const ctlHistoryJSON = `{"crn":"X123456","name":"Brian Baker","room":"5","label":"Brian Baker (room 5)","noms":"A1234BC","onRoster":true,
 "from":"2026-11-25T00:00:00Z","to":"2026-12-02T02:10:00Z","fromLocal":"25 Nov 2026 00:00 GMT","toLocal":"2 Dec 2026 02:10 GMT",
 "counts":{"movement":1,"curfew":1},"truncated":false,
 "events":[
  {"seq":70,"id":"MAN1-70","type":"movement.exited","occurredAt":"2026-12-02T02:04:00Z","occurredAtLocal":"2026-12-02 02:04:00","crn":"X123456","noms":"A1234BC","subject":"garden","data":{"door":"garden"},
   "kind":"movement","sentence":"Brian Baker (room 5) left by the garden door at 02:04 on 2 Dec 2026, during curfew 23:00–06:00","alarm":false,"acknowledged":null},
  {"seq":71,"id":"MAN1-71","type":"curfew.breached","occurredAt":"2026-12-02T02:04:00Z","occurredAtLocal":"2026-12-02 02:04:00","crn":"X123456","noms":"A1234BC","subject":"","data":{},
   "kind":"curfew","sentence":"Brian Baker (room 5) left by the garden door at 02:04 on 2 Dec 2026, during curfew 23:00–06:00","alarm":true,"acknowledged":null}]}`

// ctlBundle stands for a proof set: ctl saves it as it comes.
const ctlBundle = `{"format":"apedge-proof-set/v1","site":"MAN1","title":"t","subject":"X123456","from":"2026-11-25T00:00:00Z","to":"2026-12-02T02:10:00Z","createdAt":"2026-12-02T02:10:00Z","createdBy":"ann","treeSize":80,"events":[]}
`

// rollConsole is a test console for fire-roll and resident.
type rollConsole struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string // "METHOD path?query body" of each request
}

func newRollConsole(t *testing.T) *rollConsole {
	c := &rollConsole{}
	mux := http.NewServeMux()
	reply := func(body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			c.mu.Lock()
			c.seen = append(c.seen, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery+" "+string(b))
			c.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, body)
		}
	}
	mux.Handle("POST /api/v1/roll/fire", reply(ctlFireRollJSON))
	mux.Handle("GET /api/v1/residents/X123456/history", reply(ctlHistoryJSON))
	mux.Handle("GET /api/v1/residents/X123456/bundle", reply(ctlBundle))
	c.Server = httptest.NewServer(contractChecker(t, mux, nil))
	t.Cleanup(c.Close)
	return c
}

func (c *rollConsole) requests() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.seen...)
}

func TestCtlFireRoll(t *testing.T) {
	c := newRollConsole(t)
	tok := clitest.WriteFile(t, t.TempDir(), "token", ctlTestToken+"\n", 0o600)
	r := ctl(t, "", "roll", "-url", c.URL, "-token-file", tok, "-note", "drill")
	if r.Code != 0 {
		t.Fatalf("fire-roll: %d %s", r.Code, r.Stderr)
	}
	for _, want := range []string{
		"FIRE ROLL taken 2 Dec 2026 02:04 GMT by ann (journal event 77)",
		"2 believed in: 1 residents, 1 staff; 1 residents never seen (may be in)",
		"[ ]   1 Brian Baker              5          X123456  high",
		"        seen 5 min ago coming in by the front door (at 01:59 on 2 Dec 2026)",
		"[ ]   2 Ann Smith with a name f… staff      s-ann    medium",
		"NEVER SEEN AT A DOOR (may be in):",
		"[ ]   1 X654321                  -          X654321  low",
	} {
		if !strings.Contains(r.Stdout, want+"\n") {
			t.Errorf("fire-roll output lacks %q:\n%s", want, r.Stdout)
		}
	}
	lines := strings.Split(strings.TrimSuffix(r.Stdout, "\n"), "\n")
	for _, l := range lines {
		if n := utf8.RuneCountInString(l); n > a4Width {
			t.Errorf("line of %d characters is wider than an A4 page (%d): %q", n, a4Width, l)
		}
	}
	if len(lines) > 60 {
		t.Errorf("%d lines for three people", len(lines))
	}
	if req := c.requests(); len(req) != 1 || req[0] != `POST /api/v1/roll/fire? {"note":"drill"}` {
		t.Errorf("requests %q", req)
	}
	// -json prints the console's document.
	r = ctl(t, "", "roll", "-url", c.URL, "-token-file", tok, "-json")
	if r.Code != 0 || !strings.HasPrefix(r.Stdout, `{"seq":77,`) {
		t.Errorf("fire-roll -json: %d %q", r.Code, r.Stdout)
	}
}

func TestCtlResident(t *testing.T) {
	c := newRollConsole(t)
	tok := clitest.WriteFile(t, t.TempDir(), "token", ctlTestToken+"\n", 0o600)
	flags := []string{"-url", c.URL, "-token-file", tok}
	r := ctl(t, "", append([]string{"resident", "X123456", "-from", "2026-11-25"}, flags...)...)
	if r.Code != 0 {
		t.Fatalf("resident: %d %s", r.Code, r.Stderr)
	}
	for _, want := range []string{
		"Brian Baker (room 5), X123456, NOMS A1234BC",
		"from 25 Nov 2026 00:00 GMT to 2 Dec 2026 02:10 GMT: 2 events",
		"71   2026-12-02 02:04:00  curfew (alarm)  Brian Baker (room 5) left by the garden door at 02:04 on 2 Dec 2026, during curfew 23:00–06:00",
	} {
		if !strings.Contains(r.Stdout, want+"\n") {
			t.Errorf("resident output lacks %q:\n%s", want, r.Stdout)
		}
	}
	if req := c.requests(); len(req) != 1 || req[0] != "GET /api/v1/residents/X123456/history?from=2026-11-25T00%3A00%3A00Z " {
		t.Errorf("requests %q", req)
	}

	// -bundle saves the bundle as it came, refusing to overwrite a file.
	out := filepath.Join(t.TempDir(), "x.bundle.json")
	r = ctl(t, "", append([]string{"resident", "-bundle", out, "X123456"}, flags...)...)
	if b, err := os.ReadFile(out); r.Code != 0 || err != nil || string(b) != ctlBundle {
		t.Errorf("resident -bundle: %d %s; file %q %v", r.Code, r.Stderr, b, err)
	}
	r = ctl(t, "", append([]string{"resident", "-bundle", out, "X123456"}, flags...)...)
	clitest.WantOneLine(t, r, 1, "apedge ctl: ", "x.bundle.json", "exists")

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"resident"}, "name the resident's CRN"},
		{[]string{"resident", "X1", "X2"}, "unexpected argument"},
		{[]string{"resident", "X1", "-from", "yesterday"}, "-from"},
	} {
		r := ctl(t, "", append(tc.args, flags...)...)
		if r.Code != 2 || !strings.Contains(r.Stderr, tc.want) {
			t.Errorf("%v: %d %q, want usage error with %q", tc.args, r.Code, r.Stderr, tc.want)
		}
	}
}
