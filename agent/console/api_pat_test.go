package console_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/apedge/apedge/agent/console"
)

// patItem is what the tests read of an electrical item.
type patItem struct {
	AssetID, OwnerCRN, Owner, Description, Category, Class, Status, StatusText, RetestDue, LastTested string
	Flagged                                                                                           bool
	Flags                                                                                             []struct{ Check, Detail string }
	Authorisation                                                                                     *struct{ By string }
	Withdrawal                                                                                        *struct{ Reason, By string }
	Tests                                                                                             []struct {
		Outcome, By string
		Record      struct{ Tester string }
	}
}

// patImportRefusal is what the tests read of an import refused.
type patImportRefusal struct {
	Error string
	Lines []struct {
		Line   int
		Reason string
	}
}

// postCSV posts file as text/csv to path and returns the status code and body.
func (c *client) postCSV(path string, file []byte) (int, []byte) {
	c.s.t.Helper()
	req, err := http.NewRequestWithContext(c.s.t.Context(), "POST", c.s.srv.URL+path, bytes.NewReader(file))
	if err != nil {
		c.s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/csv")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.csrf != "" {
		req.Header.Set(console.CSRFHeader, c.csrf)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.s.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.s.t.Fatal(err)
	}
	return resp.StatusCode, b
}

// patItems returns GET /api/v1/pat/items?query, failing the test on any other
// answer than 200.
func (c *client) patItems(query string) []patItem {
	c.s.t.Helper()
	var v struct{ Items []patItem }
	if code := c.do("GET", "/api/v1/pat/items"+query, nil, &v); code != http.StatusOK {
		c.s.t.Fatalf("GET /api/v1/pat/items%s: %d", query, code)
	}
	return v.Items
}

func labels(its []patItem) []string {
	var out []string
	for _, it := range its {
		out = append(out, it.AssetID)
	}
	return out
}

// patHeader is the apedge layout's header row.
const patHeader = "asset_id,description,owner_crn,category,class,test_date,visual,earth_ohm,insulation_mohm,insulation_v,leakage_ma,polarity,result,retest_months,instrument,instrument_serial,tester\n"

// TestPATImportThroughAPI imports files through the console: a good file's items
// registered with their tests, in the right status (a pass awaiting authorisation,
// a pass whose figures fail flagged and failed, one due for a retest within 14
// days listed as due); a file with a bad line refused whole with its line number,
// and one the register refuses (an owner not on the roster) likewise; the same
// file again imports nothing twice. Security may look but not import.
func TestPATImportThroughAPI(t *testing.T) {
	t.Parallel()
	s := newConsoleSite(t)
	kw := s.bearer("keyworker-1")
	file := patHeader +
		"K-0001,Kettle,X100001,kitchen,I,2026-06-01,pass,0.08,299,500,0.21,,pass,12,Seaward PrimeTest 250+,3A1234,J. Patel\n" +
		// A pass whose earth bond fails the Class I limit: flagged, not accepted.
		"H-0002,Hair dryer,X100002,personal,I,2026-06-01,pass,0.9,299,500,0.2,,pass,12,Seaward PrimeTest 250+,3A1234,J. Patel\n" +
		// Tested a year ago, due on 2026-06-15: within 14 days of the 10th.
		"T-0003,Toaster,,kitchen,I,2025-06-15,pass,0.05,200,500,0.1,,pass,12,Seaward PrimeTest 250+,3A1234,J. Patel\n"

	if code, b := s.bearer("security-1").postCSV("/api/v1/pat/import", []byte(file)); code != http.StatusForbidden {
		t.Errorf("security imports: %d %s, want 403", code, b)
	}
	code, b := kw.postCSV("/api/v1/pat/import", []byte(file))
	var got struct {
		Layout                               string
		Records, Tested, Registered, Skipped int
	}
	if err := json.Unmarshal(b, &got); code != http.StatusOK || err != nil || got.Layout != "apedge" || got.Records != 3 ||
		got.Tested != 3 || got.Registered != 3 || got.Skipped != 0 {
		t.Fatalf("import: %d %s", code, b)
	}
	byLabel := map[string]patItem{}
	for _, it := range s.bearer("security-1").patItems("") {
		byLabel[it.AssetID] = it
	}
	for _, tc := range []struct {
		label, status, words, owner, due string
		flagged                          bool
	}{
		{"K-0001", "awaiting-authorisation", "passed, awaiting authorisation", "Resident One", "2027-06-01", false},
		{"H-0002", "failed", "failed: not to be used", "Resident Two", "", true},
		{"T-0003", "awaiting-authorisation", "passed, awaiting authorisation", "the AP", "2026-06-15", false},
	} {
		it := byLabel[tc.label]
		if it.Status != tc.status || it.StatusText != tc.words || it.Owner != tc.owner || it.RetestDue != tc.due || it.Flagged != tc.flagged ||
			it.LastTested == "" {
			t.Errorf("%s: %+v; want status %s (%q), owner %s, due %q, flagged %v", tc.label, it, tc.status, tc.words, tc.owner, tc.due, tc.flagged)
		}
	}
	if f := byLabel["H-0002"].Flags; len(f) == 0 || f[0].Check != "earth" {
		t.Errorf("H-0002's flags: %+v, want the earth bond", f)
	}
	var due struct {
		DueWithinDays int
		Items         []patItem
	}
	if code := kw.do("GET", "/api/v1/pat/due", nil, &due); code != http.StatusOK || due.DueWithinDays != 14 || !slices.Equal(labels(due.Items), []string{"T-0003"}) {
		t.Errorf("due: %d %+v, want T-0003 within 14 days", code, due)
	}

	// The same file again: every record recorded already.
	code, b = kw.postCSV("/api/v1/pat/import", []byte(file))
	if err := json.Unmarshal(b, &got); code != http.StatusOK || err != nil || got.Tested != 0 || got.Skipped != 3 || got.Registered != 0 {
		t.Errorf("import again: %d %s, want 3 skipped", code, b)
	}

	bad, err := os.ReadFile("testdata/pat/bad.csv")
	if err != nil {
		t.Fatal(err)
	}
	notOnRoster := patHeader +
		"R-0004,Radio,X100002,audio,II,2026-06-01,pass,,150,500,,,pass,24,,,J. Patel\n" +
		"\n" + // a blank line: the bad record is the file's line 4, its second record
		"S-0005,\"Shaver, rechargeable\",X999999,personal,II,2026-06-01,pass,,150,500,,,pass,24,,,J. Patel\n"
	for _, tc := range []struct {
		name, file, reason string
		line               int
	}{
		{"a bad line", string(bad), "class", 3},
		{"an owner not on the roster", notOnRoster, "X999999 is not a resident", 4},
	} {
		code, b := kw.postCSV("/api/v1/pat/import", []byte(tc.file))
		var ref patImportRefusal
		if err := json.Unmarshal(b, &ref); code != http.StatusUnprocessableEntity || err != nil || len(ref.Lines) != 1 ||
			ref.Lines[0].Line != tc.line || !strings.Contains(ref.Lines[0].Reason, tc.reason) || !strings.Contains(ref.Error, "nothing was imported") {
			t.Errorf("%s: %d %s; want 422 naming line %d (%s)", tc.name, code, b, tc.line, tc.reason)
		}
	}
	if got := labels(kw.patItems("")); !slices.Equal(got, []string{"H-0002", "K-0001", "T-0003"}) {
		t.Errorf("after the refused files: %v; nothing of them imported", got)
	}
	if code, b := kw.raw("POST", "/api/v1/pat/import", map[string]string{"x": "y"}, nil); code != http.StatusUnsupportedMediaType {
		t.Errorf("import as JSON: %d %s, want 415", code, b)
	}
	if code, b := kw.postCSV("/api/v1/pat/import?layout=excel", []byte(file)); code != http.StatusBadRequest {
		t.Errorf("import layout=excel: %d %s, want 400", code, b)
	}
}

// TestPATItemsThroughAPI registers, tests, authorises and withdraws items
// through the console, searches them by resident, label and status, and lists a
// resident's items to hand back and the labels to print.
func TestPATItemsThroughAPI(t *testing.T) {
	t.Parallel()
	s := newConsoleSite(t)
	kw := s.browser("keyworker-1")
	var it patItem
	if code := kw.do("POST", "/api/v1/pat/items", map[string]any{"assetId": "R-0001", "ownerCrn": "x100001", "description": "Radio",
		"category": "audio", "class": "II"}, &it); code != http.StatusCreated || it.Status != "awaiting-test" || it.OwnerCRN != "X100001" ||
		it.StatusText != "awaiting test" || len(it.Tests) != 0 {
		t.Fatalf("register: %d %+v", code, it)
	}
	if code := kw.do("POST", "/api/v1/pat/items", map[string]any{"assetId": "E-0002", "description": "E-scooter", "category": "e-scooter",
		"class": "II"}, &it); code != http.StatusCreated || it.Status != "prohibited" || it.Owner != "the AP" {
		t.Errorf("register an e-scooter: %d %+v, want prohibited", code, it)
	}
	for _, tc := range []struct {
		name string
		body map[string]any
		want int
	}{
		{"a label registered already", map[string]any{"assetId": "R-0001", "description": "Radio", "class": "II"}, http.StatusConflict},
		{"an owner not a resident", map[string]any{"assetId": "R-0009", "ownerCrn": "X999999", "description": "Radio", "class": "II"}, http.StatusBadRequest},
		{"no class", map[string]any{"assetId": "R-0009", "description": "Radio"}, http.StatusBadRequest},
	} {
		if code := kw.do("POST", "/api/v1/pat/items", tc.body, nil); code != tc.want {
			t.Errorf("register %s: %d, want %d", tc.name, code, tc.want)
		}
	}
	if code := s.browser("security-1").do("POST", "/api/v1/pat/items", map[string]any{"assetId": "R-0003", "description": "Radio", "class": "II"}, nil); code != http.StatusForbidden {
		t.Errorf("security registers: %d, want 403", code)
	}

	// A pass whose insulation fails the Class II limit is flagged, and why.
	test := map[string]any{"class": "II", "testedAt": "2026-06-09T00:00:00Z", "visual": "pass", "insulationMOhm": 1.5, "insulationV": 500,
		"result": "pass", "tester": "J. Patel"}
	var tr struct {
		Outcome string
		Flagged bool
		Flags   []struct{ Check, Detail string }
		Item    patItem
	}
	if code := kw.do("POST", "/api/v1/pat/items/R-0001/tests", test, &tr); code != http.StatusCreated || !tr.Flagged || tr.Outcome != "flagged" ||
		len(tr.Flags) != 1 || tr.Flags[0].Check != "insulation" || tr.Item.Status != "failed" || len(tr.Item.Tests) != 1 {
		t.Fatalf("a flagged pass: %d %+v", code, tr)
	}
	if code := kw.do("POST", "/api/v1/pat/items/R-0001/authorise", map[string]any{}, nil); code != http.StatusConflict {
		t.Errorf("authorise a failed item: %d, want 409", code)
	}
	test["testedAt"], test["insulationMOhm"] = "2026-06-10T00:00:00Z", 150
	if code := kw.do("POST", "/api/v1/pat/items/R-0001/tests", test, &tr); code != http.StatusCreated || tr.Flagged || tr.Outcome != "pass" ||
		len(tr.Flags) != 0 || tr.Item.Status != "awaiting-authorisation" || tr.Item.RetestDue == "" {
		t.Fatalf("a pass: %d %+v", code, tr)
	}
	if code := kw.do("POST", "/api/v1/pat/items/R-0009/tests", test, nil); code != http.StatusNotFound {
		t.Errorf("test of no item: %d, want 404", code)
	}
	if code := kw.do("POST", "/api/v1/pat/items/R-0001/authorise", map[string]any{}, &it); code != http.StatusOK || it.Status != "authorised" ||
		it.Authorisation == nil || it.Authorisation.By != "keyworker-1" || it.StatusText != "authorised" {
		t.Errorf("authorise: %d %+v", code, it)
	}
	if code := kw.do("POST", "/api/v1/pat/items/E-0002/authorise", nil, nil); code != http.StatusConflict {
		t.Errorf("authorise a prohibited item: %d, want 409", code)
	}
	s.waitEvent("item.authorised")

	st := s.browser("staff-1")
	for _, tc := range []struct{ query, want string }{
		{"", "E-0002,R-0001"},
		{"?crn=X100001", "R-0001"},
		{"?label=r-00", "R-0001"},
		{"?status=prohibited", "E-0002"},
		{"?status=authorised&crn=X100002", ""},
	} {
		if got := strings.Join(labels(st.patItems(tc.query)), ","); got != tc.want {
			t.Errorf("items%s: %s, want %s", tc.query, got, tc.want)
		}
	}
	if code := st.do("GET", "/api/v1/pat/items?status=lost", nil, nil); code != http.StatusBadRequest {
		t.Errorf("items?status=lost: %d, want 400", code)
	}
	var detail patItem
	if code := st.do("GET", "/api/v1/pat/items/R-0001", nil, &detail); code != http.StatusOK || len(detail.Tests) != 2 ||
		detail.Tests[0].Outcome != "flagged" || detail.Tests[1].Outcome != "pass" || detail.Tests[1].By != "keyworker-1" ||
		detail.Tests[1].Record.Tester != "J. Patel" {
		t.Errorf("item R-0001: %d %+v", code, detail)
	}
	if code := st.do("GET", "/api/v1/pat/items/NOPE", nil, nil); code != http.StatusNotFound {
		t.Errorf("item NOPE: %d, want 404", code)
	}
	var hb struct {
		CRN    string
		Person struct{ Label string }
		Items  []patItem
	}
	if code := st.do("GET", "/api/v1/pat/handback/X100001", nil, &hb); code != http.StatusOK || hb.Person.Label != "Resident One" ||
		!slices.Equal(labels(hb.Items), []string{"R-0001"}) {
		t.Errorf("hand back: %d %+v", code, hb)
	}
	var lv struct {
		Site   string
		Labels []struct{ AssetID, Description, Owner, Class, Tested, Tester, RetestDue, StatusText string }
	}
	if code := st.do("GET", "/api/v1/pat/labels", nil, &lv); code != http.StatusOK || lv.Site != site || len(lv.Labels) != 2 {
		t.Fatalf("labels: %d %+v", code, lv)
	}
	if l := lv.Labels[1]; l.AssetID != "R-0001" || l.Owner != "Resident One" || l.Class != "II" || l.Tested != "2026-06-10" ||
		l.Tester != "J. Patel" || l.RetestDue != tr.Item.RetestDue || l.StatusText != "authorised" {
		t.Errorf("label of R-0001: %+v", l)
	}

	if code := kw.do("POST", "/api/v1/pat/items/R-0001/withdraw", map[string]any{"reason": ""}, nil); code != http.StatusBadRequest {
		t.Errorf("withdraw without a reason: %d, want 400", code)
	}
	if code := kw.do("POST", "/api/v1/pat/items/R-0001/withdraw", map[string]any{"reason": "cracked case"}, &it); code != http.StatusOK ||
		it.Status != "withdrawn" || it.Withdrawal == nil || it.Withdrawal.Reason != "cracked case" || it.Withdrawal.By != "keyworker-1" {
		t.Errorf("withdraw: %d %+v", code, it)
	}
	s.waitEvent("item.withdrawn")
}
