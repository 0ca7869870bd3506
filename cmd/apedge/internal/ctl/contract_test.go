package ctl

import (
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/apedge/apedge/internal/openapi"
)

// consoleAPI is the console's OpenAPI document: the contract ctl is written against.
func consoleAPI(t *testing.T) *openapi.Doc {
	t.Helper()
	d, err := openapi.Load("../../../../agent/console/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// decodes is what one ctl command decodes from the agent: the response of an
// operation, into a value of doc's type, under prefix (for a field kept raw and
// decoded later).
type decodes struct {
	method, path string
	status       int
	doc          any
	prefix       string
}

// ctlContract lists, for every ctl command, the responses it decodes. A command that
// decodes none (it reads only the status, or a body that is not JSON) has an empty
// list.
var ctlContract = map[string][]decodes{
	"login": {
		{method: "POST", path: "/api/v1/tokens", status: 201, doc: tokenDoc{}},
		{method: "POST", path: "/api/v1/tokens", status: 201, doc: userDoc{}, prefix: "user."},
	},
	"logout":      {}, // 204, or a 401 it takes as signed out
	"status":      {{method: "GET", path: "/api/v1/status", status: 200, doc: statusDoc{}}},
	"devices":     {{method: "GET", path: "/api/v1/devices", status: 200, doc: devicesDoc{}}},
	"doors":       {{method: "GET", path: "/api/v1/doors", status: 200, doc: []doorDoc{}}},
	"residents":   {{method: "GET", path: "/api/v1/residents", status: 200, doc: []residentDoc{}}},
	"curfew-roll": {{method: "GET", path: "/api/v1/curfew/roll", status: 200, doc: rollDoc{}}},
	"alarms":      {{method: "GET", path: "/api/v1/alarms", status: 200, doc: []alarmDoc{}}},
	"journal":     {{method: "GET", path: "/api/v1/journal", status: 200, doc: eventsDoc{}}},
	"audit":       {{method: "GET", path: "/api/v1/audit", status: 200, doc: eventsDoc{}}},
	"delivery":    {{method: "GET", path: "/api/v1/delivery", status: 200, doc: deliveryDoc{}}},
	"arrive":      {{method: "POST", path: "/api/v1/residents", status: 202, doc: changeDoc{}}},
	"update":      {{method: "PATCH", path: "/api/v1/residents/{crn}", status: 202, doc: updateDoc{}}},
	"depart":      {{method: "POST", path: "/api/v1/residents/{crn}/departure", status: 202, doc: changeDoc{}}},
	"absence":     {{method: "POST", path: "/api/v1/residents/{crn}/absences", status: 202, doc: changeDoc{}}},
	"unlock": {
		{method: "POST", path: "/api/v1/doors/{id}/unlock", status: 200, doc: unlockDoc{}},
		{method: "POST", path: "/api/v1/doors/{id}/unlock", status: 502, doc: unlockDoc{}},
	},
	"ack":    {{method: "POST", path: "/api/v1/alarms/{seq}/ack", status: 200, doc: alarmDoc{}}},
	"export": {}, // JSON lines, counted, and the X-Apedge-Events header
	"users":  {{method: "GET", path: "/api/v1/users", status: 200, doc: []userDoc{}}},
	// With -bundle, resident saves the bundle as it comes.
	"resident": {{method: "GET", path: "/api/v1/residents/{crn}/history", status: 200, doc: historyDoc{}}},
	"roll":     {{method: "POST", path: "/api/v1/roll/fire", status: 200, doc: fireRollDoc{}}},
	"user": {
		{method: "POST", path: "/api/v1/users", status: 201, doc: userDoc{}},
		{method: "PATCH", path: "/api/v1/users/{name}", status: 200, doc: userDoc{}},
	},
}

// TestCtlReadsOnlyTheContract checks that every JSON field each ctl command decodes
// (its structs' json tags) is declared in that operation's response schema, so that a
// field renamed on either side fails here rather than showing a wrong value.
func TestCtlReadsOnlyTheContract(t *testing.T) {
	d := consoleAPI(t)
	for name := range commands() {
		if _, ok := ctlContract[name]; !ok {
			t.Errorf("ctl %s is not in ctlContract (contract_test.go): list the responses it decodes", name)
		}
	}
	names := make([]string, 0, len(ctlContract))
	for name := range ctlContract {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if _, ok := commands()[name]; !ok {
			t.Errorf("ctlContract lists %s, which is no ctl command", name)
		}
		for _, dc := range ctlContract[name] {
			fields := openapi.JSONFields(dc.doc)
			for i, f := range fields {
				fields[i] = dc.prefix + f
			}
			if len(fields) == 0 {
				t.Errorf("ctl %s: %T reads no field", name, dc.doc)
			}
			if err := d.CheckFields(dc.method, dc.path, dc.status, fields); err != nil {
				t.Errorf("ctl %s reads what the API does not declare: %v", name, err)
			}
		}
	}
}

// TestContractCatchesARename shows the check above failing on the bug it is for:
// ctl delivery once read centralConnected, which the API does not send.
func TestContractCatchesARename(t *testing.T) {
	var old struct {
		Journaled        int64 `json:"journaled"`
		CentralConnected bool  `json:"centralConnected"`
	}
	err := consoleAPI(t).CheckFields("GET", "/api/v1/delivery", 200, openapi.JSONFields(old))
	if err == nil || !strings.Contains(err.Error(), `centralConnected: no field "centralConnected"`) || strings.Contains(err.Error(), "journaled") {
		t.Errorf("CheckFields of the old delivery struct: %v", err)
	}
}

// contractChecker wraps a test console's handler so that every response it sends is
// checked against the console's OpenAPI document; at the end of the test each
// mismatch fails it, but for requests offContract accepts (those that stand in for
// what is not the console, such as a proxy's error page).
func contractChecker(t *testing.T, h http.Handler, offContract func(*http.Request) bool) http.Handler {
	t.Helper()
	var mu sync.Mutex
	var bad []string
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, b := range bad {
			t.Errorf("the test console sent what the contract does not allow: %s", b)
		}
	})
	checked := consoleAPI(t).Handler(h, func(err error) {
		mu.Lock()
		defer mu.Unlock()
		bad = append(bad, err.Error())
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if offContract != nil && offContract(r) {
			h.ServeHTTP(w, r)
			return
		}
		checked.ServeHTTP(w, r)
	})
}
