package secret_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apedge/apedge/internal/secret"
)

func TestRead(t *testing.T) {
	const pw = "correct horse battery staple"
	tests := []struct {
		name    string
		content string
		perm    fs.FileMode
		want    string
		wantErr bool
	}{
		{"plain", pw, 0o600, pw, false},
		{"trailing newline", pw + "\n", 0o600, pw, false},
		{"trailing CRLF", pw + "\r\n", 0o600, pw, false},
		{"several trailing newlines", pw + "\n\n", 0o600, pw, false},
		{"inner newline kept", "a\nb\n", 0o600, "a\nb", false},
		{"leading and trailing spaces kept", " " + pw + " \n", 0o600, " " + pw + " ", false},
		{"owner read-only", pw, 0o400, pw, false},
		{"empty", "", 0o600, "", false},
		{"group readable", pw + "\n", 0o640, "", true},
		{"world readable", pw + "\n", 0o644, "", true},
		{"world writable", pw + "\n", 0o602, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "secret")
			if err := os.WriteFile(path, []byte(tc.content), tc.perm); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.perm); err != nil { // past the umask
				t.Fatal(err)
			}
			got, err := secret.Read(path)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("Read = %q, want an error", got)
				}
				if got != "" {
					t.Errorf("Read returned %q with its error", got)
				}
				if strings.Contains(err.Error(), pw) || strings.Contains(err.Error(), "horse") {
					t.Errorf("error shows the secret: %v", err)
				}
				if !strings.Contains(err.Error(), "chmod 600") || !strings.Contains(err.Error(), path) {
					t.Errorf("error %q does not say how to fix %s", err, path)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("Read = %q, want %q", got, tc.want)
			}
		})
	}
	if _, err := secret.Read(filepath.Join(t.TempDir(), "none")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Read of a missing file: %v, want fs.ErrNotExist", err)
	}
}
