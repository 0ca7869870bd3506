package config

import (
	"crypto/tls"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// isPostgresURL reports whether a database setting is a PostgreSQL URL rather than an
// SQLite file.
func isPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// pgFileParams are the URL parameters that name files, resolved relative to the
// configuration file.
var pgFileParams = []string{"passfile", "sslrootcert", "sslcert", "sslkey"}

// checkPostgres validates a PostgreSQL URL and returns it with its file parameters
// made absolute: no password in it, secret files of mode 0600, and TLS that checks the
// server's certificate for a host off this box. Problems never quote the URL's values
// beyond the host.
func checkPostgres(c *checker, field, dsn, dir string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		c.add(field, "not a valid PostgreSQL URL", "write it as postgres://user@host:5432/dbname?sslmode=verify-full")
		return dsn
	}
	q := u.Query()
	if _, ok := u.User.Password(); ok || q.Has("password") {
		c.add(field, "has a password in it", "remove it and name a passfile (mode 0600) with ?passfile=, or use a client certificate")
		return dsn
	}
	for _, p := range pgFileParams {
		if v := q.Get(p); v != "" && !(p == "sslrootcert" && v == "system") {
			q.Set(p, resolve(dir, v))
		}
	}
	u.RawQuery = q.Encode()
	dsn = u.String()
	// The passfile pgx will read: named, or from the environment, or the default.
	switch pass := q.Get("passfile"); {
	case pass != "":
		checkSecretFile(c, field+" passfile", pass)
	default:
		pass = os.Getenv("PGPASSFILE")
		if home, err := os.UserHomeDir(); pass == "" && err == nil {
			pass = filepath.Join(home, ".pgpass")
		}
		if _, err := os.Stat(pass); pass != "" && err == nil {
			checkSecretFile(c, field+" passfile", pass)
		}
	}
	if k := q.Get("sslkey"); k != "" {
		checkSecretFile(c, field+" sslkey", k)
	}
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		c.add(field, "not a usable PostgreSQL URL: "+redactPG(err.Error(), dsn), "see https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNSTRING")
		return dsn
	}
	// Every way pgx may connect (sslmode prefer and allow fall back to plain TCP).
	links := append([]*pgconn.FallbackConfig{{Host: cfg.Host, Port: cfg.Port, TLSConfig: cfg.TLSConfig}}, cfg.Fallbacks...)
	var plain, unverified string
	for _, l := range links {
		switch {
		case strings.HasPrefix(l.Host, "/") || isLoopback(l.Host):
			// a unix socket or loopback: on this box
		case l.TLSConfig == nil:
			plain = l.Host
		case unchecked(l.TLSConfig):
			unverified = l.Host
		}
	}
	const fix = "add sslmode=verify-full and sslrootcert=the server's CA (a PEM file) to the URL"
	switch {
	case plain != "":
		c.add(field, "plain TCP (sslmode disable, allow or prefer, the default) to "+plain+", which is off this box", fix)
	case unverified != "":
		c.add(field, "TLS that does not check the server's certificate (sslmode require) to "+unverified+", which is off this box", fix)
	}
	return dsn
}

// unchecked reports whether a TLS configuration accepts any server certificate.
func unchecked(t *tls.Config) bool { return t.InsecureSkipVerify && t.VerifyPeerCertificate == nil }

// redactPG removes a URL's text from an error message.
func redactPG(msg, dsn string) string {
	return strings.ReplaceAll(msg, dsn, "(the URL)")
}
