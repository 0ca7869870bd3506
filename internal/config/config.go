// Package config reads and validates the YAML configuration of apedge's processes: one
// file per process (agent, bridge, central). Unknown fields are errors, every problem
// names its field and the fix, relative paths are taken from the file's own directory,
// and secrets come from files of mode 0600, never from the YAML itself.
package config

import (
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/apedge/apedge/internal/mqttclient"
	"github.com/apedge/apedge/internal/secret"
)

// Problem is one thing wrong with a configuration: the field, what is wrong, and how to
// fix it.
type Problem struct {
	Field string
	What  string
	Fix   string
}

// String gives the problem as "field: what (fix)".
func (p Problem) String() string {
	s := p.Field + ": " + p.What
	if p.Fix != "" {
		s += " (" + p.Fix + ")"
	}
	return s
}

// Error lists every problem found in one file.
type Error struct {
	File     string
	Problems []Problem
}

// Error lists the file and each of its problems on one line.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d problem(s): ", e.File, len(e.Problems))
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// checker collects problems.
type checker struct{ probs []Problem }

func (c *checker) add(field, what, fix string) {
	c.probs = append(c.probs, Problem{Field: field, What: what, Fix: fix})
}

func (c *checker) err(file string) error {
	if len(c.probs) == 0 {
		return nil
	}
	return &Error{File: file, Problems: c.probs}
}

// decode reads path strictly into v: an error is an *Error naming each field (as the
// YAML writes it, with its line) that is unknown or of the wrong type, or saying the
// file is empty.
func decode(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return decodeYAML(path, b, v, "")
}

// resolve makes p relative to dir unless it is empty or absolute.
func resolve(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// MQTT is a connection to an MQTT broker (package mqttclient's Link).
type MQTT = mqttclient.Link

// TLS names the files of a TLS link (package mqttclient's TLS).
type TLS = mqttclient.TLS

// resolveMQTT makes m's file names relative to dir.
func resolveMQTT(m *MQTT, dir string) {
	m.PasswordFile = resolve(dir, m.PasswordFile)
	if m.TLS != nil {
		m.TLS.CA = resolve(dir, m.TLS.CA)
		m.TLS.Cert = resolve(dir, m.TLS.Cert)
		m.TLS.Key = resolve(dir, m.TLS.Key)
	}
}

// check validates m; offBox says whether plain TCP to a non-loopback host is an error
// (every link that leaves the box must be TLS).
func checkMQTT(m *MQTT, c *checker, field string, offBox bool) {
	if m.Broker == "" {
		c.add(field+".broker", "missing", "set it to tcp://127.0.0.1:1883 or tls://host:8883")
		return
	}
	u, err := url.Parse(m.Broker)
	if err != nil || u.Host == "" {
		c.add(field+".broker", fmt.Sprintf("%q is not a URL", m.Broker), "write it as tcp://host:port or tls://host:port")
		return
	}
	if u.User != nil { // a password here would be in the YAML and in every connection log
		c.add(field+".broker", "has user credentials in it", "remove them and set "+field+".username and "+field+".passwordFile")
	}
	switch u.Scheme {
	case "tcp", "mqtt":
		if offBox && !isLoopback(u.Hostname()) {
			c.add(field+".broker", "plain TCP to "+u.Hostname()+", which is off this box", "use tls://"+u.Hostname()+":8883 and set "+field+".tls.ca")
		}
		if m.TLS != nil {
			c.add(field+".tls", "set but broker URL is not tls://", "use tls://host:port or remove tls")
		}
	case "tls", "ssl", "mqtts":
	default:
		c.add(field+".broker", "scheme "+u.Scheme+" not supported", "use tcp:// or tls://")
	}
	if u.Port() == "" {
		c.add(field+".broker", "no port", "add the port, e.g. :1883 or :8883")
	}
	if m.PasswordFile != "" {
		if m.Username == "" {
			c.add(field+".username", "passwordFile set without username", "set username")
		}
		checkSecretFile(c, field+".passwordFile", m.PasswordFile)
	}
	if t := m.TLS; t != nil {
		if t.CA != "" {
			checkReadable(c, field+".tls.ca", t.CA)
		}
		if (t.Cert == "") != (t.Key == "") {
			c.add(field+".tls", "cert and key must be set together", "set both tls.cert and tls.key, or neither")
		}
		if t.Cert != "" {
			checkReadable(c, field+".tls.cert", t.Cert)
			checkSecretFile(c, field+".tls.key", t.Key)
		}
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func checkReadable(c *checker, field, path string) {
	if _, err := os.Stat(path); err != nil {
		c.add(field, err.Error(), "point it at an existing file")
	}
}

// checkSecretFile requires path to exist with no group or other permissions.
func checkSecretFile(c *checker, field, path string) {
	st, err := os.Stat(path)
	if err != nil {
		c.add(field, err.Error(), "point it at an existing file")
		return
	}
	if st.Mode().Perm()&0o077 != 0 {
		c.add(field, fmt.Sprintf("%s has mode %04o", path, st.Mode().Perm()), "chmod 600 "+path)
	}
}

// ReadHexKey reads a key of size bytes written as hex digits in a secret file (mode
// 0600), such as an OSDP secure channel base key.
func ReadHexKey(path string, size int) ([]byte, error) {
	s, err := secret.Read(path)
	if err != nil {
		return nil, err
	}
	key, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(key) != size {
		return nil, fmt.Errorf("config: key %s: want %d hex digits (%d bytes)", path, 2*size, size)
	}
	return key, nil
}

// Log configures log/slog output on stderr.
type Log struct {
	Level  string `yaml:"level,omitempty"`  // debug, info (default), warn, error
	Format string `yaml:"format,omitempty"` // text (default) or json
}

func (l *Log) check(c *checker) {
	switch strings.ToLower(l.Level) {
	case "", "debug", "info", "warn", "error":
	default:
		c.add("log.level", fmt.Sprintf("%q unknown", l.Level), "use debug, info, warn or error")
	}
	switch l.Format {
	case "", "text", "json":
	default:
		c.add("log.format", fmt.Sprintf("%q unknown", l.Format), "use text or json")
	}
}

// Duration is a time.Duration written in YAML as "30s", "5m".
type Duration = time.Duration
