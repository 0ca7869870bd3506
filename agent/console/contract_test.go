package console_test

import (
	"errors"
	"sort"
	"strings"
	"testing"

	"github.com/apedge/apedge/internal/openapi"
)

// streamOps are the operations whose responses the live stream's state message carries
// under each of its fields: a field the page reads from the stream must be in that
// operation's schema.
var streamOps = map[string]string{
	"status": "/api/v1/status", "doors": "/api/v1/doors", "alarms": "/api/v1/alarms",
	"residents": "/api/v1/residents", "roll": "/api/v1/curfew/roll", "devices": "/api/v1/devices",
	"substance": "/api/v1/substance", "biometrics": "/api/v1/biometrics",
	"pat": "/api/v1/pat",
	"bwc": "/api/v1/bwc",
}

// checkContract checks every field the page read (window.apedgeReads: operation →
// field paths) against the console's OpenAPI document: a field the page reads that the
// API does not declare fails here.
func checkContract(t *testing.T, reads map[string]map[string]bool) {
	t.Helper()
	doc, err := openapi.Load("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(reads) == 0 {
		t.Fatal("the page recorded no reads: is the contract recorder on?")
	}
	ops := make([]string, 0, len(reads))
	for op := range reads {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	for _, op := range ops {
		fields := make([]string, 0, len(reads[op]))
		for f := range reads[op] {
			fields = append(fields, f)
		}
		sort.Strings(fields)
		method, path, _ := strings.Cut(op, " ")
		switch method {
		case "SSE":
			if path == "journal" {
				checkOp(t, doc, "GET", "/api/v1/journal", prefixed(fields, "events[]"))
				continue
			}
			for field, p := range streamOps {
				var sub []string
				for _, f := range fields {
					if rest, ok := strings.CutPrefix(f, field); ok {
						sub = append(sub, strings.TrimPrefix(rest, "."))
					}
				}
				checkOp(t, doc, "GET", p, sub)
			}
		default:
			checkOp(t, doc, method, "/api/v1"+path, fields)
		}
	}
	t.Logf("the page's reads checked against openapi.yaml: %v", ops)
}

func checkOp(t *testing.T, doc *openapi.Doc, method, path string, fields []string) {
	t.Helper()
	var clean []string
	for _, f := range fields {
		if f != "" {
			clean = append(clean, f)
		}
	}
	if len(clean) == 0 {
		return
	}
	// The operation's success response, whichever of these codes it declares.
	var err error
	for _, status := range []int{200, 201, 202} {
		err = doc.CheckFields(method, path, status, clean)
		var probs *openapi.Error
		if err == nil || errors.As(err, &probs) {
			break
		}
	}
	if err != nil {
		t.Errorf("the page reads what the API does not declare: %v", err)
	}
}

// prefixed puts p before each field.
func prefixed(fields []string, p string) []string {
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = p + "." + f
	}
	return out
}
