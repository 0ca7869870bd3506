package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/apedge/apedge/cmd/apedge/internal/clitest"
)

const curfewRoster = `
roster:
  - crn: X123456
    cards: ["12:10001"]
    curfews:
      - {id: licence-7, start: "19:00", end: "07:00", weekdays: [sat], from: "2026-03-01"}
    absences:
      - {id: hospital-1, from: "2026-10-24 22:00", to: "2026-10-25 03:00", approvedBy: "AP manager J. Smith", reason: hospital}
  - {kind: staff, id: s-ann, cards: ["12:90001"]}
`

// TestCurfewWindows checks `apedge curfew windows` against windows worked out by hand
// on the nights the clocks change.
func TestCurfewWindows(t *testing.T) {
	s := newSite(t)
	cfg := clitest.WriteFile(t, s.dir, "agent-roster.yaml", strings.Replace(agentYAML, "roster:\n  - {crn: X123456, noms: A1234BC, cards: [\"12:40001\"]}\n", "", 1)+curfewRoster, 0o600)
	type win struct{ Start, End, StartLocal, EndLocal, Source, Rule, Key string }
	run := func(from, to string) []win {
		t.Helper()
		r := apedge(t, "curfew", "windows", "-config", cfg, "-crn", "X123456", "-from", from, "-to", to, "-json")
		if r.Code != 0 || r.Stderr != "" {
			t.Fatalf("curfew windows failed\n%v", r)
		}
		var out []win
		for _, l := range clitest.Lines(r.Stdout) {
			var w win
			if err := json.Unmarshal([]byte(l), &w); err != nil {
				t.Fatalf("%q: %v", l, err)
			}
			out = append(out, w)
		}
		return out
	}
	// March: the AP night of Saturday 28th is 6 hours (23:00 GMT to 06:00 BST); the
	// Saturday licence window 19:00 GMT to 07:00 BST is 11.
	march := run("2026-03-28", "2026-03-28")
	want := []win{
		{"2026-03-28T19:00:00Z", "2026-03-29T06:00:00Z", "2026-03-28T19:00:00+00:00", "2026-03-29T07:00:00+01:00", "licence", "licence-7", "licence-7/2026-03-28"},
		{"2026-03-28T23:00:00Z", "2026-03-29T05:00:00Z", "2026-03-28T23:00:00+00:00", "2026-03-29T06:00:00+01:00", "ap-rule", "ap-standard", "ap-standard/2026-03-28"},
	}
	if len(march) != len(want) {
		t.Fatalf("March: %+v, want %+v", march, want)
	}
	for i := range want {
		if march[i] != want[i] {
			t.Errorf("March window %d: %+v, want %+v", i, march[i], want[i])
		}
	}
	// October: the hospital absence 22:00 BST to 03:00 GMT cuts both windows of
	// Saturday 24th; the AP night of Sunday 25th is whole.
	oct := run("2026-10-24", "2026-10-25")
	var keys []string
	for _, w := range oct {
		keys = append(keys, w.Key+" "+w.Start+" "+w.End)
	}
	wantKeys := []string{
		"licence-7/2026-10-24 2026-10-24T18:00:00Z 2026-10-24T21:00:00Z",
		"ap-standard/2026-10-24 2026-10-25T03:00:00Z 2026-10-25T06:00:00Z",
		"licence-7/2026-10-24#2 2026-10-25T03:00:00Z 2026-10-25T07:00:00Z",
		"ap-standard/2026-10-25 2026-10-25T23:00:00Z 2026-10-26T06:00:00Z",
	}
	if strings.Join(keys, "\n") != strings.Join(wantKeys, "\n") {
		t.Errorf("October windows:\n%s\nwant\n%s", strings.Join(keys, "\n"), strings.Join(wantKeys, "\n"))
	}
	// The human table says the same, with lengths.
	r := apedge(t, "curfew", "windows", "-config", cfg, "-crn", "X123456", "-from", "2026-03-28", "-to", "2026-03-28")
	if r.Code != 0 || !strings.Contains(r.Stdout, "Sat 2026-03-28 23:00 GMT  Sun 2026-03-29 06:00 BST") || !strings.Contains(r.Stdout, "6h00m") ||
		!strings.Contains(r.Stdout, "2 windows for X123456") {
		t.Errorf("table output\n%v", r)
	}

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"staff have no curfew", []string{"-crn", "s-ann", "-from", "2026-01-01", "-to", "2026-01-02"}, 1, "no resident with CRN s-ann"},
		{"unknown CRN", []string{"-crn", "Y999999", "-from", "2026-01-01", "-to", "2026-01-02"}, 1, "no resident with CRN Y999999"},
		{"bad date", []string{"-crn", "X123456", "-from", "2026-02-30", "-to", "2026-03-02"}, 2, "apedge curfew windows: -from"},
		{"reversed", []string{"-crn", "X123456", "-from", "2026-03-02", "-to", "2026-03-01"}, 2, "-to is before -from"},
		{"missing crn", []string{"-from", "2026-03-02", "-to", "2026-03-03"}, 2, "-crn is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := apedge(t, append([]string{"curfew", "windows", "-config", cfg}, tc.args...)...)
			if r.Code != tc.code || !strings.Contains(r.Stderr, tc.want) {
				t.Errorf("want exit %d and %q\n%v", tc.code, tc.want, r)
			}
		})
	}
}
