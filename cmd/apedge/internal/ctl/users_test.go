package ctl

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/apedge/apedge/cmd/apedge/internal/clitest"
)

// TestCtlUsers: each account's role and state (active or disabled) is shown.
func TestCtlUsers(t *testing.T) {
	srv := httptest.NewServer(contractChecker(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+ctlTestToken || r.URL.Path != "/api/v1/users" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `[{"name":"ann","role":"manager","permissions":["read","register"],"disabled":false,"createdAt":"2026-06-01T09:00:00Z"},`+
			`{"name":"bob","role":"staff","permissions":["read","register"],"disabled":true,"createdAt":"2026-06-02T09:00:00Z"}]`)
	}), nil))
	defer srv.Close()
	tok := clitest.WriteFile(t, t.TempDir(), "token", ctlTestToken+"\n", 0o600)
	var stdout, stderr clitest.LockedBuffer
	env := Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr}
	if code := Main(t.Context(), []string{"users", "-url", srv.URL, "-token-file", tok}, env); code != 0 || stderr.String() != "" {
		t.Fatalf("users: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	var got []string
	for _, l := range clitest.Lines(stdout.String()) {
		got = append(got, strings.Join(splitColumns(l), "|"))
	}
	for _, want := range []string{"ann|manager|active|2026-06-01 10:00", "bob|staff|DISABLED|2026-06-02 10:00"} {
		if !contains(got, want) {
			t.Errorf("no line %q in\n%s", want, strings.Join(got, "\n"))
		}
	}
}
