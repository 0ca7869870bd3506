package ctl

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/cmd/apedge/internal/clitest"
	"github.com/apedge/apedge/internal/clock/clocktest"
)

// TestCtlUsersLockout: whether an account shows as locked out is judged by the clock
// ctl is given, not the machine's.
func TestCtlUsersLockout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+ctlTestToken || r.URL.Path != "/api/v1/users" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `[{"name":"ann","role":"manager","disabled":false,"lockedUntil":"2026-11-22T23:30:00Z","createdAt":"2026-06-01T09:00:00Z"}]`)
	}))
	defer srv.Close()
	tok := clitest.WriteFile(t, t.TempDir(), "token", ctlTestToken+"\n", 0o600)
	until := time.Date(2026, 11, 22, 23, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		now  time.Time
		want string
	}{
		{until.Add(-time.Minute), "ann|manager|locked until 2026-11-22 23:30|2026-06-01 10:00"},
		{until, "ann|manager|active|2026-06-01 10:00"},
	} {
		var stdout, stderr clitest.LockedBuffer
		env := Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Clock: clocktest.New(tc.now)}
		if code := Main(t.Context(), []string{"users", "-url", srv.URL, "-token-file", tok}, env); code != 0 || stderr.String() != "" {
			t.Fatalf("users at %v: exit %d\n%s%s", tc.now, code, stdout.String(), stderr.String())
		}
		var got []string
		for _, l := range clitest.Lines(stdout.String()) {
			got = append(got, strings.Join(splitColumns(l), "|"))
		}
		if !contains(got, tc.want) {
			t.Errorf("users at %v: no line %q in\n%s", tc.now, tc.want, strings.Join(got, "\n"))
		}
	}
}
