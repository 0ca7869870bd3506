package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apedge/apedge/agent/staff"
	"github.com/apedge/apedge/cmd/apedge/internal/clitest"
	"github.com/apedge/apedge/internal/config"
)

// TestFirstAdmin: with no accounts, the first admin is made from the configured 0600
// password file; without one (and no terminal) the agent warns that nobody can sign
// in; once there are accounts nothing is made.
func TestFirstAdmin(t *testing.T) {
	dir := t.TempDir()
	st, err := staff.Open(t.Context(), filepath.Join(dir, "staff.db"), staff.Options{Hashing: staff.Hashing{Time: 1, MemoryKiB: 64, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	var stderr clitest.LockedBuffer
	if err := firstAdmin(t.Context(), st, config.Console{}, strings.NewReader(""), &stderr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr.String(), "WARNING: there are no staff accounts") {
		t.Errorf("no warning without a first admin: %q", stderr.String())
	}

	pwFile := filepath.Join(dir, "first-admin")
	os.WriteFile(pwFile, []byte("first admin password\n"), 0o600)
	stderr = clitest.LockedBuffer{}
	c := config.Console{FirstAdmin: &config.FirstAdmin{Name: "chief", PasswordFile: pwFile}}
	if err := firstAdmin(t.Context(), st, c, strings.NewReader(""), &stderr); err != nil {
		t.Fatal(err)
	}
	u, err := st.Authenticate(t.Context(), "chief", "first admin password", "127.0.0.1")
	if err != nil || u.Role != staff.RoleAdmin {
		t.Fatalf("first admin: %+v, %v", u, err)
	}
	if strings.Contains(stderr.String(), "first admin password") {
		t.Errorf("the password was printed: %q", stderr.String())
	}
	// A second start changes nothing, even with another password in the file.
	os.WriteFile(pwFile, []byte("another password here\n"), 0o600)
	if err := firstAdmin(t.Context(), st, c, strings.NewReader(""), &stderr); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Authenticate(t.Context(), "chief", "first admin password", "127.0.0.1"); err != nil {
		t.Errorf("the first admin's password changed at a second start: %v", err)
	}
	// A weak password is refused, naming why.
	st2, _ := staff.Open(t.Context(), filepath.Join(dir, "staff2.db"), staff.Options{})
	defer st2.Close()
	os.WriteFile(pwFile, []byte("short\n"), 0o600)
	if err := firstAdmin(t.Context(), st2, c, strings.NewReader(""), &stderr); err == nil || !strings.Contains(err.Error(), "12") {
		t.Errorf("weak first admin password: %v", err)
	}
}
