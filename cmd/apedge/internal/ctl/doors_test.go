package ctl

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/apedge/apedge/cmd/apedge/internal/clitest"
)

// The responses ctl door decodes (in ctlContract's terms; registered here, beside the
// command, so that TestCtlReadsOnlyTheContract checks them).
func init() {
	ctlContract["door"] = []decodes{
		{method: "POST", path: "/api/v1/doors/{id}/hold", status: 200, doc: holdDoc{}},
		{method: "POST", path: "/api/v1/doors/{id}/hold", status: 502, doc: holdDoc{}},
		{method: "POST", path: "/api/v1/site/lockdown", status: 200, doc: lockdownDoc{}},
		{method: "POST", path: "/api/v1/site/lockdown", status: 502, doc: lockdownDoc{}},
		{method: "POST", path: "/api/v1/site/release", status: 200, doc: lockdownDoc{}},
	}
}

// holdConsole is a console that answers holds and lockdowns, checked against the
// OpenAPI document, and keeps the bodies it was sent by path.
type holdConsole struct {
	*httptest.Server
	mu     sync.Mutex
	bodies map[string]map[string]any
}

func newHoldConsole(t *testing.T) *holdConsole {
	c := &holdConsole{bodies: map[string]map[string]any{}}
	reply := func(w http.ResponseWriter, code int, body string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		io.WriteString(w, body)
	}
	mux := http.NewServeMux()
	keep := func(r *http.Request) map[string]any {
		var in map[string]any
		b, _ := io.ReadAll(r.Body)
		json.Unmarshal(b, &in)
		c.mu.Lock()
		c.bodies[r.URL.Path] = in
		c.mu.Unlock()
		return in
	}
	mux.HandleFunc("POST /api/v1/doors/{id}/hold", func(w http.ResponseWriter, r *http.Request) {
		in := keep(r)
		switch r.PathValue("id") {
		case "cellar":
			reply(w, http.StatusBadGateway, `{"door":"cellar","mode":"locked","result":"no-answer","detail":"agent: no answer from the bridge"}`)
		case "office":
			reply(w, http.StatusConflict, `{"error":"the site is in lockdown: a manager must release it first"}`)
		default:
			until := `,"until":"2026-11-22T15:30:00Z"`
			if in["mode"] == "none" {
				until = ""
			}
			reply(w, http.StatusOK, `{"door":"`+r.PathValue("id")+`","mode":"`+in["mode"].(string)+`"`+until+`,"result":"done","detail":""}`)
		}
	})
	mux.HandleFunc("POST /api/v1/site/lockdown", func(w http.ResponseWriter, r *http.Request) {
		in := keep(r)
		if in["reason"] == "partial" {
			reply(w, http.StatusBadGateway, `{"order":{"type":"site.lockdown","by":"ann","reason":"partial","orderedAt":"2026-11-22T14:00:00Z","until":"2026-11-23T02:00:00Z",`+
				`"doors":[{"door":"front","result":"done"},{"door":"garden","result":"no-answer","error":"agent: no answer from the bridge"}]},"detail":"agent: site.lockdown: not taken by garden"}`)
			return
		}
		reply(w, http.StatusOK, `{"order":{"type":"site.lockdown","by":"ann","reason":"x","orderedAt":"2026-11-22T14:00:00Z","until":"2026-11-23T02:00:00Z",`+
			`"doors":[{"door":"front","result":"done"},{"door":"garden","result":"done"}]},"detail":""}`)
	})
	mux.HandleFunc("POST /api/v1/site/release", func(w http.ResponseWriter, r *http.Request) {
		keep(r)
		reply(w, http.StatusOK, `{"order":{"type":"site.lockdown-released","by":"ann","reason":"x","orderedAt":"2026-11-22T15:00:00Z",`+
			`"doors":[{"door":"front","result":"done"}]},"detail":""}`)
	})
	c.Server = httptest.NewServer(contractChecker(t, mux, nil))
	t.Cleanup(c.Close)
	return c
}

func (c *holdConsole) body(path string) map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bodies[path]
}

func TestCtlDoor(t *testing.T) {
	c := newHoldConsole(t)
	tok := clitest.WriteFile(t, t.TempDir(), "token", ctlTestToken+"\n", 0o600)
	flags := []string{"-url", c.URL, "-token-file", tok}
	tests := []struct {
		name    string
		args    []string
		code    int
		out     string // in stdout (exit 0) or stderr
		path    string // the request sent there, if any
		request map[string]any
	}{
		{"hold unlocked", []string{"door", "hold", "-door", "front", "-mode", "unlocked", "-minutes", "90", "-reason", "contractors"}, 0,
			"door front held unlocked until 2026-11-22 15:30", "/api/v1/doors/front/hold", map[string]any{"mode": "unlocked", "minutes": 90.0, "reason": "contractors"}},
		{"hold locked until", []string{"door", "hold", "-door", "garden", "-mode", "locked", "-until", "2026-11-22 18:00", "-reason", "search"}, 0,
			"door garden held locked", "/api/v1/doors/garden/hold", map[string]any{"mode": "locked", "until": "2026-11-22T18:00:00Z", "reason": "search"}},
		{"end a hold", []string{"door", "hold", "-door", "front", "-mode", "none", "-reason", "done"}, 0,
			"door front: hold ended", "/api/v1/doors/front/hold", map[string]any{"mode": "none", "reason": "done"}},
		{"no answer", []string{"door", "hold", "-door", "cellar", "-mode", "locked", "-minutes", "5", "-reason", "x"}, 1,
			"door cellar not held: no-answer: agent: no answer from the bridge", "", nil},
		{"in lockdown", []string{"door", "hold", "-door", "office", "-mode", "unlocked", "-minutes", "5", "-reason", "x"}, 1,
			"the site is in lockdown", "", nil},
		{"lockdown", []string{"door", "lockdown", "-reason", "police"}, 0, "site locked down until 2026-11-23 02:00",
			"/api/v1/site/lockdown", map[string]any{"reason": "police"}},
		{"lockdown not taken everywhere", []string{"door", "lockdown", "-reason", "partial"}, 1, "site locked down but not at garden", "", nil},
		{"release", []string{"door", "release", "-reason", "all clear"}, 0, "lockdown released", "/api/v1/site/release", map[string]any{"reason": "all clear"}},
		{"no mode", []string{"door", "hold", "-door", "front", "-minutes", "5", "-reason", "x"}, 2, "-mode", "", nil},
		{"bad mode", []string{"door", "hold", "-door", "front", "-mode", "open", "-minutes", "5", "-reason", "x"}, 2, "-mode is unlocked, locked or none", "", nil},
		{"no time", []string{"door", "hold", "-door", "front", "-mode", "locked", "-reason", "x"}, 2, "say how long", "", nil},
		{"both times", []string{"door", "hold", "-door", "front", "-mode", "locked", "-minutes", "5", "-until", "2026-11-22 18:00", "-reason", "x"}, 2, "say how long", "", nil},
		{"none with a time", []string{"door", "hold", "-door", "front", "-mode", "none", "-minutes", "5", "-reason", "x"}, 2, "no -minutes or -until", "", nil},
		{"bad until", []string{"door", "hold", "-door", "front", "-mode", "locked", "-until", "tonight", "-reason", "x"}, 2, "is not a time", "", nil},
		{"lockdown without reason", []string{"door", "lockdown"}, 2, "-reason", "", nil},
		{"no action", []string{"door"}, 2, "say hold, lockdown or release", "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ctl(t, "", append(tc.args, flags...)...)
			if r.Code != tc.code {
				t.Fatalf("exit %d, want %d\n%s%s", r.Code, tc.code, r.Stdout, r.Stderr)
			}
			where := r.Stdout
			if tc.code != 0 {
				where = r.Stderr
			}
			if !strings.Contains(where, tc.out) {
				t.Errorf("output lacks %q:\n%s%s", tc.out, r.Stdout, r.Stderr)
			}
			if tc.path != "" {
				got, _ := json.Marshal(c.body(tc.path))
				want, _ := json.Marshal(tc.request)
				if string(got) != string(want) {
					t.Errorf("sent %s, want %s", got, want)
				}
			}
		})
	}
}
