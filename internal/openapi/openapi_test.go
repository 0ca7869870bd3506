package openapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// testDoc is a small document in the console's style (testdata/api.yaml).
func testDoc(t *testing.T) *Doc {
	t.Helper()
	d, err := Load("testdata/api.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

const delivery = `{"connected":true,"journaled":10,"delivered":9,"acked":8,"backlog":2}`

const alarm = `{"seq":41,"type":"door.forced","data":{"door":"front"},"acknowledged":%s}`

func TestCheckResponse(t *testing.T) {
	d := testDoc(t)
	for _, tc := range []struct {
		name, method, path string
		status             int
		body               string
		want               []string // the problems, in order; none for a match
	}{
		{"delivery", "GET", "/api/v1/delivery", 200, delivery, nil},
		{"renamed field", "GET", "/api/v1/delivery", 200, strings.Replace(delivery, `"connected"`, `"centralConnected"`, 1),
			[]string{`$: required field "connected" missing`, "$.centralConnected: field not in the schema"}},
		{"wrong type", "GET", "/api/v1/delivery", 200, strings.Replace(delivery, `"acked":8`, `"acked":"8"`, 1),
			[]string{`$.acked: string "8", want integer`}},
		{"not an integer", "GET", "/api/v1/delivery", 200, strings.Replace(delivery, `"acked":8`, `"acked":8.5`, 1),
			[]string{`$.acked: number 8.5, want integer`}},
		{"open alarm", "POST", "/api/v1/alarms/41/ack", 200, strings.Replace(alarm, "%s", "null", 1), nil},
		{"acknowledged alarm", "POST", "/api/v1/alarms/{seq}/ack", 200,
			strings.Replace(alarm, "%s", `{"by":"ann","at":"2026-07-01T13:06:00Z"}`, 1), nil},
		{"undeclared in allOf's ref", "POST", "/api/v1/alarms/41/ack", 200,
			strings.Replace(alarm, "%s", `{"by":"ann","at":"2026-07-01T13:06:00Z","who":"x"}`, 1),
			[]string{"$.acknowledged.who: field not in the schema"}},
		{"null list", "GET", "/api/v1/alarms", 200, `null`, nil},
		{"null not allowed", "GET", "/api/v1/doors", 200, `null`, []string{"$: null, but the schema is not nullable (type array)"}},
		{"item checked", "GET", "/api/v1/alarms", 200, "[" + strings.Replace(alarm, "%s", "null", 1) + `,{"seq":1}]`,
			[]string{`$[1]: required field "type" missing`, `$[1]: required field "data" missing`, `$[1]: required field "acknowledged" missing`}},
		{"enum", "POST", "/api/v1/doors/front/unlock", 200, `{"door":"front","result":"maybe","detail":""}`,
			[]string{`$.result: "maybe" is not one of [done failed expired no-answer]`}},
		{"error", "GET", "/api/v1/delivery", 401, `{"error":"sign in first"}`, nil},
		{"error with more", "GET", "/api/v1/delivery", 401, `{"error":"sign in first","code":7}`, []string{"$.code: field not in the schema"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := d.CheckResponse(tc.method, tc.path, tc.status, []byte(tc.body))
			var e *Error
			switch {
			case tc.want == nil && err != nil:
				t.Errorf("want a match, got %v", err)
			case tc.want != nil && !errors.As(err, &e):
				t.Errorf("want %q, got %v", tc.want, err)
			case tc.want != nil && !reflect.DeepEqual(e.Problems, tc.want):
				t.Errorf("problems\n%q\nwant\n%q", e.Problems, tc.want)
			}
		})
	}
	for _, tc := range []struct{ method, path string }{{"GET", "/api/v1/nothing"}, {"PUT", "/api/v1/delivery"}} {
		if err := d.CheckResponse(tc.method, tc.path, 200, []byte(`{}`)); err == nil || !strings.Contains(err.Error(), "no operation") {
			t.Errorf("%s %s: %v, want no operation", tc.method, tc.path, err)
		}
	}
	if err := d.CheckResponse("GET", "/api/v1/delivery", 418, []byte(`{}`)); err == nil || !strings.Contains(err.Error(), "declares no response 418") {
		t.Errorf("an undeclared status: %v", err)
	}
}

// TestSchemaRules checks the rules on a small document: maps, free-form objects,
// allOf with additionalProperties, oneOf.
func TestSchemaRules(t *testing.T) {
	d, err := Parse([]byte(`openapi: 3.0.3
paths:
  /x:
    get:
      responses:
        "200":
          content:
            application/json:
              schema:
                $ref: "#/components/schemas/X"
        2XX:
          content:
            application/json:
              schema:
                type: object
                additionalProperties: false
        default:
          content:
            application/json:
              schema: {type: string}
components:
  schemas:
    X:
      type: object
      properties:
        counts: {type: object, additionalProperties: {type: integer}}
        free: {type: object}
        any: {}
        either:
          oneOf: [{type: string}, {type: object, properties: {a: {type: boolean}}}]
        "on": {type: string, enum: ["on", "off"]}
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		status int
		body   string
		want   string // the error's text contains it; "" for a match
	}{
		{200, `{"counts":{"locked":2,"open":1},"free":{"z":[1]},"any":[null],"either":"s","on":"off"}`, ""},
		{200, `{"counts":{"locked":"2"}}`, `$.counts.locked: string "2", want integer`},
		{200, `{"either":{"a":true}}`, ""},
		{200, `{"either":{"a":1}}`, "$.either.a: number 1, want boolean"},
		{200, `{"either":{"b":true}}`, "$.either.b: field not in the schema"},
		{200, `{"on":"maybe"}`, `$.on: "maybe" is not one of [on off]`},
		{200, `{"other":1}`, "$.other: field not in the schema"},
		{200, `not json`, "$: not JSON"},
		{204, `{}`, ""},
		{204, `{"a":1}`, "$.a: field not in the schema"},
		{500, `"oops"`, ""},
		{500, `{}`, "$: object, want string"},
	} {
		err := d.CheckResponse("GET", "/x", tc.status, []byte(tc.body))
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%d %s: %v, want %q", tc.status, tc.body, err, tc.want)
		}
	}
	if _, err := Parse([]byte("swagger: \"2.0\"\n")); err == nil {
		t.Error("a Swagger 2 document parsed")
	}
}

func TestMatch(t *testing.T) {
	d := testDoc(t)
	for _, tc := range []struct{ method, path, want string }{
		{"POST", "/api/v1/doors/front/unlock", "/api/v1/doors/{id}/unlock"},
		{"DELETE", "/api/v1/tokens/current", "/api/v1/tokens/current"},
		{"DELETE", "/api/v1/tokens/t1", "/api/v1/tokens/{id}"},
		{"GET", "/api/v1/residents", "/api/v1/residents"},
		{"GET", "/api/v1/doors/front/unlock", ""},
		{"POST", "/api/v1/doors//unlock", ""},
	} {
		got, ok := d.Match(tc.method, tc.path)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("Match(%s %s) = %q, %v; want %q", tc.method, tc.path, got, ok, tc.want)
		}
	}
}

func TestCheckFields(t *testing.T) {
	d := testDoc(t)
	for _, tc := range []struct {
		method, path string
		fields       []string
		want         []string // the paths reported missing
	}{
		{"GET", "/api/v1/delivery", []string{"connected", "backlog"}, nil},
		{"GET", "/api/v1/delivery", []string{"connected", "centralConnected"}, []string{"centralConnected"}},
		{"GET", "/api/v1/residents", []string{"[].crn", "[].window", "[].window.start", "[].window.source"}, nil},
		{"GET", "/api/v1/residents", []string{"[].curfew.now", "[].crn.x", "crn", "[].window[]"}, []string{"[].curfew.now", "[].crn.x", "crn", "[].window[]"}},
		{"GET", "/api/v1/journal", []string{"events", "events[].seq", "events[].data", "events[].data.in", "next"}, nil},
		{"GET", "/api/v1/journal", []string{"events.seq", "events[].type.x"}, []string{"events.seq", "events[].type.x"}},
		{"GET", "/api/v1/status", []string{"doors.locked", "central.connected", "roll.seq", "roll.data"}, nil},
		{"GET", "/api/v1/alarms", []string{"[].acknowledged.by", "[].seq"}, nil},
		{"GET", "/api/v1/alarms", []string{"[].acknowledged.who"}, []string{"[].acknowledged.who"}},
	} {
		err := d.CheckFields(tc.method, tc.path, 200, tc.fields)
		var got []string
		var e *Error
		if errors.As(err, &e) {
			for _, p := range e.Problems {
				f, _, _ := strings.Cut(p, ": ")
				got = append(got, f)
			}
		} else if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s %s %q: missing %q, want %q (%v)", tc.method, tc.path, tc.fields, got, tc.want, err)
		}
	}
}

func TestJSONFields(t *testing.T) {
	type inner struct {
		Start string `json:"start"`
	}
	type Embedded struct {
		Seq int64 `json:"seq"`
	}
	type doc struct {
		Embedded
		Name    string          `json:"name"`
		Plain   int             // no tag: its Go name
		Skip    string          `json:"-"`
		skip    string          //nolint:unused // unexported: not decoded
		Window  *inner          `json:"window,omitempty"`
		Events  []inner         `json:"events"`
		Counts  map[string]int  `json:"counts"`
		At      time.Time       `json:"at"`
		Data    json.RawMessage `json:"data"`
		Any     any             `json:"any"`
		Strings []string        `json:"strings"`
	}
	_ = doc{}.skip
	want := []string{"Plain", "any", "at", "counts", "data", "events", "events[].start", "name", "seq", "strings", "window", "window.start"}
	if got := JSONFields(doc{}); !reflect.DeepEqual(got, want) {
		t.Errorf("JSONFields = %q, want %q", got, want)
	}
	if got, want := JSONFields([]*inner{}), []string{"[].start"}; !reflect.DeepEqual(got, want) {
		t.Errorf("JSONFields of a slice = %q, want %q", got, want)
	}
}

func TestHandler(t *testing.T) {
	d := testDoc(t)
	var mu sync.Mutex
	var reported []string
	report := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		reported = append(reported, err.Error())
	}
	srv := httptest.NewServer(d.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/delivery":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, r.URL.Query().Get("body"))
		case "/api/v1/tokens/current":
			w.WriteHeader(http.StatusNoContent)
		case "/healthz":
			io.WriteString(w, "ok\n") // text/plain, detected
		case "/readyz":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"error":"x"}`)
		default:
			http.NotFound(w, r)
		}
	}), report))
	defer srv.Close()
	for _, tc := range []struct {
		method, path string
		status       int
		want         string // what is reported; "" for nothing
	}{
		{"GET", "/api/v1/delivery?body=" + delivery, 200, ""},
		{"GET", `/api/v1/delivery?body={"centralConnected":true}`, 200, "$.centralConnected: field not in the schema"},
		{"GET", "/api/v1/delivery?body=", 200, "$: not JSON"},
		{"DELETE", "/api/v1/tokens/current", 204, ""},
		{"GET", "/healthz", 200, ""},
		{"GET", "/readyz", 503, `content type "application/json", the document declares [text/plain]`},
		{"GET", "/nowhere", 404, "GET /nowhere 404: no operation in the document"},
	} {
		mu.Lock()
		reported = nil
		mu.Unlock()
		req, _ := http.NewRequest(tc.method, srv.URL+strings.ReplaceAll(tc.path, " ", "%20"), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s: status %d, want %d", tc.method, tc.path, resp.StatusCode, tc.status)
		}
		if tc.path == "/api/v1/delivery?body="+delivery && string(b) != delivery {
			t.Errorf("the client got %q, want the body unchanged", b)
		}
		mu.Lock()
		got := strings.Join(reported, "\n")
		mu.Unlock()
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s %s: reported %q, want %q", tc.method, tc.path, got, tc.want)
		}
	}
}

// TestConsoleDoc loads the console's own document and checks that every JSON schema
// of every response resolves: the checks above work on it.
func TestConsoleDoc(t *testing.T) {
	d, err := Load("../../agent/console/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for pattern, item := range d.doc.Paths {
		for _, m := range []string{"GET", "PUT", "POST", "DELETE", "PATCH"} {
			op := item.op(m)
			if op == nil {
				continue
			}
			for code := range op.Responses {
				status, err := strconv.Atoi(code)
				if err != nil {
					continue
				}
				s, err := d.JSONSchema(m, pattern, status)
				if err != nil {
					continue // not JSON
				}
				n++
				if err := d.walk(s, map[*Schema]bool{}); err != nil {
					t.Errorf("%s %s %d: %v", m, pattern, status, err)
				}
			}
		}
	}
	if n < 20 {
		t.Errorf("only %d JSON responses in the console's document", n)
	}
}

// walk resolves every schema below s.
func (d *Doc) walk(s *Schema, seen map[*Schema]bool) error {
	if s == nil || seen[s] {
		return nil
	}
	seen[s] = true
	m, err := d.merge(s, 0)
	if err != nil {
		return err
	}
	var subs []*Schema
	for _, ps := range m.properties {
		subs = append(subs, ps...)
	}
	subs = append(subs, m.items...)
	subs = append(subs, m.additional...)
	for _, g := range m.oneOf {
		subs = append(subs, g...)
	}
	for _, sub := range subs {
		if err := d.walk(sub, seen); err != nil {
			return err
		}
	}
	return nil
}
