package ctl

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/apedge/apedge/cmd/apedge/internal/clitest"
	fpat "github.com/apedge/apedge/formats/pat"
)

// The responses ctl pat decodes (registered beside the command, so that
// TestCtlReadsOnlyTheContract checks them).
func init() {
	ctlContract["pat"] = []decodes{
		{method: "GET", path: "/api/v1/pat/items", status: 200, doc: patItemsDoc{}},
		{method: "GET", path: "/api/v1/pat/items/{id}", status: 200, doc: patDetailDoc{}},
		{method: "POST", path: "/api/v1/pat/items/{id}/authorise", status: 200, doc: patDetailDoc{}},
		{method: "POST", path: "/api/v1/pat/items/{id}/withdraw", status: 200, doc: patDetailDoc{}},
		{method: "GET", path: "/api/v1/pat/due", status: 200, doc: patDueDoc{}},
		{method: "GET", path: "/api/v1/pat/labels", status: 200, doc: patLabelsDoc{}},
		{method: "POST", path: "/api/v1/pat/import", status: 200, doc: patImportDoc{}},
		{method: "POST", path: "/api/v1/pat/import", status: 422, doc: patRefusalDoc{}},
	}
}

// ctlPATItem is an item as the agent sends it: a resident's kettle, a pass whose
// earth bond fails (flagged), authorised before its test.
const ctlPATItem = `{"assetId":"K-0001","ownerCrn":"X100001","owner":"Resident One (room 5)",
 "person":{"crn":"X100001","name":"Resident One","room":"5","label":"Resident One (room 5)"},
 "description":"Kettle","category":"kitchen","class":"I","status":"failed","statusText":"failed: not to be used",
 "lastTested":"2026-06-01","flagged":true,"flags":[{"check":"earth","detail":"earth continuity 0.9 Ω is over 0.2 Ω"}],
 "withdrawal":{"assetId":"K-0001","description":"Kettle","statusBefore":"authorised","authorised":true,"reason":"cracked lid","by":"kim","at":"2026-05-01T09:00:00Z"},
 "registeredBy":"kim","registeredAt":"2026-05-01T08:00:00Z"`

// ctlPATTests is its test history.
const ctlPATTests = `"tests":[{"record":{"assetId":"K-0001","class":"I","testedAt":"2026-06-01T00:00:00Z","visual":"pass","earthOhm":0.9,
 "insulationMOhm":299,"insulationV":500,"leakageMA":0.21,"result":"pass","instrument":"Seaward PrimeTest 250+","instrumentSerial":"3A1234","tester":"J. Patel"},
 "flags":[{"check":"earth","detail":"earth continuity 0.9 Ω is over 0.2 Ω"}],"outcome":"flagged","by":"import:sam","at":"2026-06-10T11:00:00Z"}]`

// ctlPATAuthorised is an item authorised, with a pass in date.
const ctlPATAuthorised = `{"assetId":"T-0003","owner":"the AP","description":"Toaster","class":"II","status":"authorised","statusText":"authorised",
 "retestDue":"2026-06-15","lastTested":"2025-06-15","flagged":false,"flags":[],"authorisation":{"by":"keyworker-1","at":"2026-06-10T11:00:00Z"},
 "registeredBy":"kim","registeredAt":"2025-06-15T08:00:00Z"`

// patConsole is a fake console for ctl pat, every answer checked against the
// contract; imports counts the files uploaded to it.
func patConsole(t *testing.T, imports *atomic.Int32) []string {
	t.Helper()
	mux := http.NewServeMux()
	reply := func(code int, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer "+ctlTestToken {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				io.WriteString(w, `{"error":"sign in first: no session"}`)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			io.WriteString(w, body)
		}
	}
	mux.HandleFunc("GET /api/v1/pat/items", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("crn") == "X100009" {
			reply(200, `{"items":[]}`)(w, r)
			return
		}
		reply(200, `{"items":[`+ctlPATItem+`},`+ctlPATAuthorised+`}]}`)(w, r)
	})
	mux.HandleFunc("GET /api/v1/pat/items/K-0001", reply(200, ctlPATItem+`,`+ctlPATTests+`}`))
	mux.HandleFunc("POST /api/v1/pat/items/T-0003/authorise", reply(200, ctlPATAuthorised+`,"tests":[]}`))
	mux.HandleFunc("POST /api/v1/pat/items/K-0001/withdraw", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if string(b) != `{"reason":"cracked lid"}` {
			reply(400, `{"error":"want the reason"}`)(w, r)
			return
		}
		reply(200, strings.Replace(ctlPATItem, `"status":"failed","statusText":"failed: not to be used"`, `"status":"withdrawn","statusText":"withdrawn from use"`, 1)+`,"tests":[]}`)(w, r)
	})
	mux.HandleFunc("GET /api/v1/pat/due", reply(200, `{"dueWithinDays":14,"items":[`+ctlPATAuthorised+`}]}`))
	mux.HandleFunc("GET /api/v1/pat/labels", reply(200, `{"site":"MAN1","now":"2026-06-10T11:00:00Z","labels":[
		{"assetId":"T-0003","description":"Toaster","owner":"the AP","class":"II","tested":"2025-06-15","tester":"J. Patel","retestDue":"2026-06-15","statusText":"authorised"}]}`))
	mux.HandleFunc("POST /api/v1/pat/import", func(w http.ResponseWriter, r *http.Request) {
		imports.Add(1)
		b, _ := io.ReadAll(r.Body)
		if r.Header.Get("Content-Type") != "text/csv" {
			reply(415, `{"error":"the body must be the CSV file, sent as text/csv"}`)(w, r)
			return
		}
		if strings.Contains(string(b), "X999999") {
			reply(422, `{"error":"pat: the file is refused and nothing was imported: line 3: X999999 is not a resident","lines":[{"line":3,"reason":"X999999 is not a resident"}]}`)(w, r)
			return
		}
		n := strings.Count(string(b), "\n") - 1
		reply(200, fmt.Sprintf(`{"layout":"apedge","records":%d,"tested":%d,"registered":%d,"skipped":0}`, n, n, n))(w, r)
	})
	srv := httptest.NewServer(contractChecker(t, mux, nil))
	t.Cleanup(srv.Close)
	tok := clitest.WriteFile(t, t.TempDir(), "token", ctlTestToken+"\n", 0o600)
	return []string{"-url", srv.URL, "-token-file", tok}
}

// TestCtlPATReads: list, show, due and labels print the agent's answers, each
// figure in its column.
func TestCtlPATReads(t *testing.T) {
	flags := patConsole(t, new(atomic.Int32))
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"pat"}, []string{
			"LABEL|OWNER|DESCRIPTION|CLASS|STATUS|RETEST DUE|FLAGGED",
			"K-0001|Resident One (room 5)|Kettle|I|failed: not to be used|-|FLAGGED: earth: earth continuity 0.9 Ω is over 0.2 Ω",
			"T-0003|the AP|Toaster|II|authorised|2026-06-15|-",
		}},
		{[]string{"pat", "list", "-crn", "X100009"}, []string{"no electrical items"}},
		{[]string{"pat", "show", "K-0001"}, []string{
			"K-0001|Resident One (room 5)|Kettle|I|failed: not to be used|-|FLAGGED: earth: earth continuity 0.9 Ω is over 0.2 Ω",
			"category kitchen; registered by kim at 2026-05-01 09:00",
			"withdrawn by kim at 2026-05-01 10:00: cracked lid",
			"TESTED|CLASS|VISUAL|EARTH|INSULATION|LEAKAGE|POLARITY|RESULT|OUTCOME|RETEST DUE|TESTER|INSTRUMENT|BY|FLAGS",
			"2026-06-01|I|pass|0.9 Ω|299 MΩ at 500 V|0.21 mA|-|pass|FLAGGED: not accepted|-|J. Patel|Seaward PrimeTest 250+ 3A1234|import:sam|earth: earth continuity 0.9 Ω is over 0.2 Ω",
		}},
		{[]string{"pat", "due"}, []string{"T-0003|the AP|Toaster|II|authorised|2026-06-15|-"}},
		{[]string{"pat", "labels"}, []string{
			"LABEL|ITEM|OWNER|CLASS|TESTED|BY|RETEST DUE|STATUS (MAN1)",
			"T-0003|Toaster|the AP|II|2025-06-15|J. Patel|2026-06-15|authorised",
		}},
		{[]string{"pat", "authorise", "T-0003"}, []string{"T-0003 authorised (Toaster, the AP): now authorised"}},
		{[]string{"pat", "withdraw", "K-0001", "-reason", "cracked lid"}, []string{"K-0001 withdrawn (Kettle, Resident One (room 5)): now withdrawn from use"}},
	} {
		r := ctl(t, "", append(tc.args, flags...)...)
		if r.Code != 0 || r.Stderr != "" {
			t.Errorf("%v: exit %d\n%s%s", tc.args, r.Code, r.Stdout, r.Stderr)
			continue
		}
		got := columns(r.Stdout)
		for _, w := range tc.want {
			if !contains(got, w) {
				t.Errorf("%v: no line %q in\n%s", tc.args, w, strings.Join(got, "\n"))
			}
		}
	}
	if r := ctl(t, "", append([]string{"pat", "withdraw", "K-0001"}, flags...)...); r.Code != 2 || !strings.Contains(r.Stderr, "-reason") {
		t.Errorf("withdraw without a reason: exit %d %s", r.Code, r.Stderr)
	}
	if r := ctl(t, "", append([]string{"pat", "lend"}, flags...)...); r.Code != 2 || !strings.Contains(r.Stderr, "unknown subcommand") {
		t.Errorf("pat lend: exit %d %s", r.Code, r.Stderr)
	}
}

// patFile is an apedge-layout file of n good records, and bad appended.
func patFile(n int, bad string) string {
	var b strings.Builder
	b.WriteString(strings.Join(fpat.ApedgeHeader(), ",") + "\n")
	for i := range n {
		fmt.Fprintf(&b, "K-%05d,Kettle,,kitchen,I,2026-06-01,pass,0.08,299,500,0.21,,pass,12,Seaward PrimeTest 250+,3A1234,J. Patel\n", i)
	}
	b.WriteString(bad)
	return b.String()
}

// TestCtlPATImport: a long file's progress on standard error as it is read here,
// then the counts the agent answers; a file with a bad line refused here with its
// line number and nothing sent; one the agent refuses listed in its words.
func TestCtlPATImport(t *testing.T) {
	var imports atomic.Int32
	flags := patConsole(t, &imports)
	dir := t.TempDir()

	long := clitest.WriteFile(t, dir, "long.csv", patFile(2500, ""), 0o600)
	r := ctl(t, "", append([]string{"pat", "import", long}, flags...)...)
	if r.Code != 0 || imports.Load() != 1 {
		t.Fatalf("import: exit %d, %d uploads\n%s%s", r.Code, imports.Load(), r.Stdout, r.Stderr)
	}
	for _, w := range []string{"1000 records read", "2000 records read", "2500 records read", "every line is good; sending 2500 records"} {
		if !strings.Contains(r.Stderr, w) {
			t.Errorf("progress: no %q in\n%s", w, r.Stderr)
		}
	}
	if want := "imported (apedge layout): 2500 records, 2500 tests recorded, 2500 items new to the register, 0 recorded already"; !strings.Contains(r.Stdout, want) {
		t.Errorf("import: %q, want %q", r.Stdout, want)
	}

	bad := clitest.WriteFile(t, dir, "bad.csv", patFile(2, "K-9,Kettle,,kitchen,IV,2026-06-01,pass,0.08,299,500,0.21,,pass,12,,,J. Patel\n"), 0o600)
	r = ctl(t, "", append([]string{"pat", "import", bad}, flags...)...)
	if got := columns(r.Stdout); r.Code != 1 || imports.Load() != 1 || len(got) != 2 || !strings.HasPrefix(got[1], "4|class") ||
		!strings.Contains(r.Stderr, "refused here, nothing sent: 1 bad lines; nothing was imported") {
		t.Errorf("a bad line: exit %d, %d uploads\n%s%s", r.Code, imports.Load(), r.Stdout, r.Stderr)
	}

	owner := clitest.WriteFile(t, dir, "owner.csv", patFile(1, "K-9,Kettle,X999999,kitchen,I,2026-06-01,pass,0.08,299,500,0.21,,pass,12,,,J. Patel\n"), 0o600)
	r = ctl(t, "", append([]string{"pat", "import", owner}, flags...)...)
	if got := columns(r.Stdout); r.Code != 1 || imports.Load() != 2 || !contains(got, "3|X999999 is not a resident") ||
		!strings.Contains(r.Stderr, "refused by the agent") {
		t.Errorf("an owner not on the roster: exit %d, %d uploads\n%s%s", r.Code, imports.Load(), r.Stdout, r.Stderr)
	}
	if r := ctl(t, "", append([]string{"pat", "import", long, "-layout", "excel"}, flags...)...); r.Code != 2 {
		t.Errorf("-layout excel: exit %d %s", r.Code, r.Stderr)
	}
}
