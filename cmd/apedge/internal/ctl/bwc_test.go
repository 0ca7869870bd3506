package ctl

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/apedge/apedge/cmd/apedge/internal/clitest"
)

// The responses ctl bwc decodes (registered beside the command, so that
// TestCtlReadsOnlyTheContract checks them).
func init() {
	ctlContract["bwc"] = []decodes{
		{method: "GET", path: "/api/v1/bwc", status: 200, doc: bwcDoc{}},
		{method: "POST", path: "/api/v1/bwc/issue", status: 201, doc: bwcCameraDoc{}},
		{method: "POST", path: "/api/v1/bwc/issue", status: 409, doc: bwcRefusalDoc{}},
	}
}

// ctlBWCJSON is GET /api/v1/bwc with what a shift rarely shows at once: a dock
// online with a camera issued and not yet taken, one out and overdue, one
// offloading, one under the minimum battery with a fault; a dock offline with its
// camera's state unknown; a dock never reported.
const ctlBWCJSON = `{
 "minBatteryPct":80,"shiftHours":12,"takeWithinSeconds":120,
 "docks":[
  {"id":"dock-1","name":"office dock","slots":4,"online":true,"since":"2026-06-10T10:00:00Z","reported":true,
   "status":{"online":true,"serial":"SIM-DOCK-1","slots":[
    {"slot":1,"occupied":true,"camera":"BWC-0001","batteryPct":50,"charging":true,"offload":{"state":"idle","progressPct":0},"faults":["lens cover cracked"]},
    {"slot":2,"occupied":true,"camera":"BWC-0002","batteryPct":100,"offload":{"state":"done","progressPct":100}},
    {"slot":3,"occupied":true,"camera":"BWC-0003","batteryPct":90,"charging":true,"offload":{"state":"running","progressPct":40}},
    {"slot":4,"occupied":false}],"simulated":true},
   "updatedAt":"2026-06-10T11:00:00Z"},
  {"id":"dock-2","name":"night office","slots":2,"reader":"front panel","online":false,"since":"2026-06-10T09:00:00Z","reported":true,
   "status":{"online":false,"lastError":"cable cut"},"updatedAt":"2026-06-10T09:00:00Z"},
  {"id":"dock-3","slots":2,"online":false,"reported":false}],
 "cameras":[
  {"serial":"BWC-0001","location":"docked","dock":"dock-1","slot":1,"battery":50,"charging":true,"faults":["lens cover cracked"],"offload":"idle",
   "needsOffload":false,"overdue":false,"eligible":false,"whyNot":["it reports a fault: lens cover cracked","its battery is at 50%, under the minimum of 80%"],"offloadProgressPct":0},
  {"serial":"BWC-0002","location":"docked","dock":"dock-1","slot":2,"battery":100,"charging":false,"offload":"done","needsOffload":false,
   "issue":{"camera":"BWC-0002","dock":"dock-1","slot":2,"staff":"s-ann","by":"kim","via":"console","battery":100,"issue":3,"at":"2026-06-10T10:59:00Z"},
   "staffName":"Ann","sinceLocal":"11:59","overdue":false,"eligible":false,"whyNot":["issued to s-ann since 2026-06-10T10:59:00Z"],"offloadProgressPct":100},
  {"serial":"BWC-0003","location":"docked","dock":"dock-1","slot":3,"battery":90,"charging":true,"offload":"running","needsOffload":true,
   "needsOffloadSince":"2026-06-10T10:50:00Z","overdue":false,"eligible":false,"whyNot":["its footage is being offloaded"],"offloadProgressPct":40},
  {"serial":"BWC-0004","location":"out","slot":-1,"battery":0,"charging":false,"needsOffload":false,
   "issue":{"camera":"BWC-0004","dock":"dock-1","slot":4,"staff":"s-bob","by":"s-bob","via":"badge","battery":95,"issue":1,"at":"2026-06-09T20:00:00Z","takenAt":"2026-06-09T20:01:00Z","overdueRaised":true},
   "staffName":"Bob","sinceLocal":"21:00","overdue":true,"eligible":false,"whyNot":["issued to s-bob since 2026-06-09T20:00:00Z","not in a dock"]},
  {"serial":"BWC-0005","location":"unknown","dock":"dock-2","slot":1,"unknown":"its dock dock-2 has been offline since 2026-06-10T09:00:00Z","battery":88,"charging":false,
   "needsOffload":false,"overdue":false,"eligible":false,"whyNot":["its state is unknown: its dock dock-2 has been offline since 2026-06-10T09:00:00Z"]}],
 "issued":[
  {"camera":"BWC-0004","staff":"s-bob","staffName":"Bob","by":"s-bob","via":"badge","since":"2026-06-09T20:00:00Z","sinceLocal":"21:00","taken":true,"outSeconds":54000,"overdue":true},
  {"camera":"BWC-0002","staff":"s-ann","staffName":"Ann","by":"kim","via":"console","since":"2026-06-10T10:59:00Z","sinceLocal":"11:59","taken":false,"outSeconds":60,"overdue":false}],
 "overdue":[
  {"camera":"BWC-0004","staff":"s-bob","staffName":"Bob","by":"s-bob","via":"badge","since":"2026-06-09T20:00:00Z","sinceLocal":"21:00","taken":true,"outSeconds":54000,"overdue":true}],
 "staff":[{"id":"s-ann","name":"Ann"},{"id":"s-bob","name":"Bob"}]}`

// TestCtlBWCStatus: the docks' and cameras' tables, each figure in its column, in
// UK time, OVERDUE marked and every reason a camera may not be issued; -json
// prints the agent's document.
func TestCtlBWCStatus(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/bwc", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Bearer "+ctlTestToken {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"sign in first: no session"}`)
			return
		}
		io.WriteString(w, ctlBWCJSON)
	})
	srv := httptest.NewServer(contractChecker(t, mux, nil))
	t.Cleanup(srv.Close)
	tok := clitest.WriteFile(t, t.TempDir(), "token", ctlTestToken+"\n", 0o600)
	flags := []string{"-url", srv.URL, "-token-file", tok}
	for _, args := range [][]string{{"bwc"}, {"bwc", "status"}} {
		r := ctl(t, "", append(args, flags...)...)
		if r.Code != 0 || r.Stderr != "" {
			t.Fatalf("%v: exit %d\n%s%s", args, r.Code, r.Stdout, r.Stderr)
		}
		got := columns(r.Stdout)
		for _, want := range []string{
			"DOCK|NAME|STATUS|SINCE|SLOTS OCCUPIED|READER",
			// BST in June: 10:00Z is 11:00 in London.
			"dock-1|office dock|online (simulated)|2026-06-10 11:00|3 of 4|-",
			"dock-2|night office|OFFLINE: cable cut|2026-06-10 10:00|-|front panel",
			"dock-3|-|not reported|-|-|-",
			"CAMERA|WHERE|ISSUED TO|SINCE|BATTERY|OFFLOAD|FAULTS|MAY BE ISSUED",
			"BWC-0001|dock-1 slot 1|-|-|50% charging|idle|lens cover cracked|no: it reports a fault: lens cover cracked; its battery is at 50%, under the minimum of 80%",
			"BWC-0002|dock-1 slot 2|Ann (s-ann), not yet taken|2026-06-10 11:59|100%|done|-|no: issued to s-ann since 2026-06-10T10:59:00Z",
			"BWC-0003|dock-1 slot 3|-|-|90% charging|running 40%|-|no: its footage is being offloaded",
			"BWC-0004|out|Bob (s-bob)|2026-06-09 21:00 OVERDUE|-|-|-|no: issued to s-bob since 2026-06-09T20:00:00Z; not in a dock",
			"BWC-0005|unknown: its dock dock-2 has been offline since 2026-06-10T09:00:00Z|-|-|88%|-|-|no: its state is unknown: its dock dock-2 has been offline since 2026-06-10T09:00:00Z",
			"2 issued, 1 overdue; a camera is issued at 80% battery or more, and is overdue after 12 h",
		} {
			if !contains(got, want) {
				t.Errorf("%v: no line %q in\n%s", args, want, strings.Join(got, "\n"))
			}
		}
	}
	var sent any
	json.Unmarshal([]byte(ctlBWCJSON), &sent)
	r := ctl(t, "", append([]string{"bwc", "-json"}, flags...)...)
	var got any
	if err := json.Unmarshal([]byte(r.Stdout), &got); r.Code != 0 || err != nil || len(clitest.Lines(r.Stdout)) != 1 || !reflect.DeepEqual(got, sent) {
		t.Errorf("bwc -json: exit %d %v\n%s, want the agent's document", r.Code, err, r.Stdout)
	}
}

// TestCtlBWCIssue: issue sends the camera and -to's member of staff (none without
// -to: the agent takes the account's), and says the issue; a refusal is exit 1 with
// every reason.
func TestCtlBWCIssue(t *testing.T) {
	var mu sync.Mutex
	var bodies []map[string]string
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/bwc/issue", func(w http.ResponseWriter, r *http.Request) {
		var in map[string]string
		json.NewDecoder(r.Body).Decode(&in)
		mu.Lock()
		bodies = append(bodies, in)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if in["camera"] == "BWC-0001" {
			w.WriteHeader(http.StatusConflict)
			io.WriteString(w, `{"error":"bwc: not issued: BWC-0001 is not issued to s-ann: it reports a fault: lens; its battery is at 50%, under the minimum of 80%",`+
				`"camera":"BWC-0001","dock":"dock-1","slot":1,"staff":"s-ann","reasons":["it reports a fault: lens","its battery is at 50%, under the minimum of 80%"]}`)
			return
		}
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"serial":"BWC-0002","location":"docked","dock":"dock-1","slot":2,"battery":100,"charging":false,"offload":"done","needsOffload":false,`+
			`"issue":{"camera":"BWC-0002","dock":"dock-1","slot":2,"staff":"s-ann","by":"kim","via":"console","battery":100,"issue":1,"at":"2026-06-10T11:00:00Z"},`+
			`"staffName":"Ann","sinceLocal":"12:00","overdue":false,"eligible":false,"whyNot":["issued to s-ann since 2026-06-10T11:00:00Z"]}`)
	})
	srv := httptest.NewServer(contractChecker(t, mux, nil))
	t.Cleanup(srv.Close)
	tok := clitest.WriteFile(t, t.TempDir(), "token", ctlTestToken+"\n", 0o600)
	flags := []string{"-url", srv.URL, "-token-file", tok}

	for _, tc := range []struct {
		args       []string
		code       int
		sent       map[string]string
		out, error string
	}{
		{[]string{"bwc", "issue", "BWC-0002", "-to", "s-ann"}, 0, map[string]string{"camera": "BWC-0002", "staff": "s-ann"},
			"camera BWC-0002 issued to Ann (s-ann) by kim at 2026-06-10 12:00, from dock-1 slot 2 (battery 100%): take it from the dock now\n", ""},
		{[]string{"bwc", "issue", "-to", "s-ann", "BWC-0002"}, 0, map[string]string{"camera": "BWC-0002", "staff": "s-ann"}, "camera BWC-0002 issued", ""},
		{[]string{"bwc", "issue", "BWC-0002"}, 0, map[string]string{"camera": "BWC-0002"}, "camera BWC-0002 issued", ""},
		{[]string{"bwc", "issue", "BWC-0001", "-to", "s-ann"}, 1, map[string]string{"camera": "BWC-0001", "staff": "s-ann"}, "",
			"camera BWC-0001 is not issued to s-ann:\n  - it reports a fault: lens\n  - its battery is at 50%, under the minimum of 80%\n" +
				"apedge ctl: camera BWC-0001 refused (2 reason(s) above)\n"},
	} {
		mu.Lock()
		bodies = nil
		mu.Unlock()
		r := ctl(t, "", append(tc.args, flags...)...)
		mu.Lock()
		got := bodies
		mu.Unlock()
		if r.Code != tc.code || !strings.HasPrefix(r.Stdout, tc.out) || (tc.out == "" && r.Stdout != "") || r.Stderr != tc.error {
			t.Errorf("%v: exit %d\n%q\n%q\nwant exit %d, %q, %q", tc.args, r.Code, r.Stdout, r.Stderr, tc.code, tc.out, tc.error)
		}
		if len(got) != 1 || !reflect.DeepEqual(got[0], tc.sent) {
			t.Errorf("%v sent %v, want %v", tc.args, got, tc.sent)
		}
	}
}

// TestCtlBWCUsage: what is refused before anything is sent.
func TestCtlBWCUsage(t *testing.T) {
	tok := clitest.WriteFile(t, t.TempDir(), "token", ctlTestToken+"\n", 0o600)
	flags := []string{"-url", "http://127.0.0.1:1", "-token-file", tok} // nothing is sent
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bwc", "return"}, `apedge ctl bwc: unknown subcommand "return": say one of issue, status`},
		{[]string{"bwc", "issue", "-to", "s-ann"}, "apedge ctl bwc issue: name the camera: apedge ctl bwc issue BWC-0001 -to s-ann"},
		{[]string{"bwc", "issue", "BWC-0001", "BWC-0002"}, `apedge ctl bwc issue: unexpected argument "BWC-0002"`},
		{[]string{"bwc", "status", "now"}, "apedge ctl bwc status"},
	} {
		r := ctl(t, "", append(tc.args, flags...)...)
		if r.Code != 2 || !strings.Contains(r.Stderr, tc.want) || r.Stdout != "" {
			t.Errorf("%v: exit %d %q %q, want usage error with %q", tc.args, r.Code, r.Stdout, r.Stderr, tc.want)
		}
	}
	if r := ctl(t, "", "bwc", "-h"); r.Code != 0 || !strings.Contains(r.Stdout, "apedge ctl bwc issue CAMERA [-to STAFF]") {
		t.Errorf("bwc -h: exit %d %q", r.Code, r.Stdout)
	}
}
