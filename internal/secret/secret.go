// Package secret reads apedge's secrets (passwords, keys) from files only their owner
// may read. A secret never appears in an error or a log.
package secret

import (
	"fmt"
	"os"
	"strings"
)

// Read reads a secret from a file that only its owner may read (mode 0600 or
// stricter), trimming trailing newlines.
func Read(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("secret: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("secret: %s has mode %04o: chmod 600 it", path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("secret: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}
