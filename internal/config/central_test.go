package config_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/internal/config"
)

// writeCA writes a self-signed CA certificate (PEM) to dir/name.
func writeCA(t *testing.T, dir, name string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, dir, name, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), 0o644)
}

const centralTrust = "broker:\n  broker: tcp://127.0.0.1:1883\ntrust:\n  - {site: MAN1, pubkey: keys/MAN1.pub}\n"

func TestLoadCentralPostgresAndScaleOut(t *testing.T) {
	dir := t.TempDir()
	writeKeys(t, dir, "MAN1")
	t.Setenv("PGPASSFILE", filepath.Join(dir, "none")) // no ~/.pgpass of the test's user
	pass := writeFile(t, dir, "secrets/pgpass", "db.example.org:5432:apedge:apedge:s3cret\n", 0o600)
	ca := writeCA(t, dir, "tls/db-ca.pem")
	writeFile(t, dir, "tls/http.pem", "cert", 0o644)
	writeFile(t, dir, "tls/http.key", "key", 0o600)
	tests := []struct {
		name, yaml string
		check      func(t *testing.T, c *config.Central)
	}{
		{"sqlite as before", "database: central.db\n" + centralTrust, func(t *testing.T, c *config.Central) {
			if c.Database != filepath.Join(dir, "central.db") || c.ShareGroup != "" || c.HTTP != nil {
				t.Errorf("%+v", c)
			}
		}},
		{"postgres off the box, verified TLS, passfile", "database: postgres://apedge@db.example.org:5432/apedge?sslmode=verify-full&sslrootcert=tls/db-ca.pem&passfile=secrets/pgpass\n" +
			"shareGroup: apedge-central\nhttp: {}\n" + centralTrust, func(t *testing.T, c *config.Central) {
			for _, want := range []string{"postgres://apedge@db.example.org:5432/apedge?", "passfile=" + strings.ReplaceAll(pass, "/", "%2F"), "sslrootcert=" + strings.ReplaceAll(ca, "/", "%2F"), "sslmode=verify-full"} {
				if !strings.Contains(c.Database, want) {
					t.Errorf("database %q lacks %q", c.Database, want)
				}
			}
			if c.ShareGroup != "apedge-central" || c.HTTP == nil || c.HTTP.Listen != "127.0.0.1:8090" {
				t.Errorf("shareGroup %q, http %+v", c.ShareGroup, c.HTTP)
			}
		}},
		{"postgres on loopback in clear", "database: postgresql://apedge@127.0.0.1:5432/apedge?sslmode=disable\n" + centralTrust, nil},
		{"postgres on a unix socket", "database: postgres:///apedge?host=/var/run/postgresql\n" + centralTrust, nil},
		{"postgres verify-ca", "database: postgres://apedge@10.0.0.5/apedge?sslmode=verify-ca&sslrootcert=tls/db-ca.pem\n" + centralTrust, nil},
		{"http off the box with client certificates", "database: c.db\nhttp:\n  listen: 0.0.0.0:8443\n  tls: {cert: tls/http.pem, key: tls/http.key, clientCA: tls/db-ca.pem}\n" + centralTrust,
			func(t *testing.T, c *config.Central) {
				if c.HTTP.TLS.ClientCA != ca || c.HTTP.TLS.Key != filepath.Join(dir, "tls", "http.key") {
					t.Errorf("http.tls %+v", c.HTTP.TLS)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.LoadCentral(writeFile(t, dir, "central.yaml", tt.yaml, 0o600))
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func TestLoadCentralPostgresAndScaleOutInvalid(t *testing.T) {
	dir := t.TempDir()
	writeKeys(t, dir, "MAN1")
	t.Setenv("PGPASSFILE", filepath.Join(dir, "none"))
	writeFile(t, dir, "secrets/open-pgpass", "*:*:*:*:hunter2\n", 0o644)
	writeFile(t, dir, "tls/client.key", "key", 0o644)
	writeCA(t, dir, "tls/db-ca.pem")
	tests := []struct {
		name, database, extra string
		wantFields            []string
		wantWhat              string
	}{
		{"password in the URL", "postgres://apedge:hunter2@db.example.org/apedge?sslmode=verify-full", "", []string{"database"}, "password"},
		{"password parameter", "postgres://apedge@127.0.0.1/apedge?password=hunter2", "", []string{"database"}, "password"},
		{"off the box in clear", "postgres://apedge@db.example.org/apedge?sslmode=disable", "", []string{"database"}, "plain TCP"},
		{"off the box, default sslmode", "postgres://apedge@192.168.1.20/apedge", "", []string{"database"}, "plain TCP"},
		{"off the box, unverified TLS", "postgres://apedge@db.example.org/apedge?sslmode=require", "", []string{"database"}, "does not check"},
		{"passfile others may read", "postgres://apedge@127.0.0.1/apedge?passfile=secrets/open-pgpass", "", []string{"database passfile"}, "mode 0644"},
		{"passfile missing", "postgres://apedge@127.0.0.1/apedge?passfile=secrets/none", "", []string{"database passfile"}, "no such file"},
		{"client key others may read", "postgres://apedge@db.example.org/apedge?sslmode=verify-full&sslrootcert=tls/db-ca.pem&sslcert=tls/db-ca.pem&sslkey=tls/client.key", "", []string{"database sslkey", "database"}, "mode 0644"},
		{"unusable URL", "postgres://apedge@127.0.0.1/apedge?sslmode=sometimes", "", []string{"database"}, "not a usable"},
		{"share group with a slash", "c.db", "shareGroup: a/b\n", []string{"shareGroup"}, "share name"},
		{"http off the box in clear", "c.db", "http: {listen: 0.0.0.0:8090}\n", []string{"http.listen"}, "without TLS"},
		{"http off the box without client certificates", "c.db", "http:\n  listen: 0.0.0.0:8443\n  tls: {cert: tls/db-ca.pem, key: tls/client.key}\n", []string{"http.listen", "http.tls.key"}, "client certificates"},
		{"http listen not host:port", "c.db", "http: {listen: localhost}\n", []string{"http.listen"}, "address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, dir, "central.yaml", "database: "+tt.database+"\n"+tt.extra+centralTrust, 0o600)
			_, err := config.LoadCentral(path)
			ce := configError(t, err)
			if got := fields(ce); !slices.Equal(got, tt.wantFields) {
				t.Errorf("problems on %q, want %q: %v", got, tt.wantFields, err)
			}
			if !strings.Contains(err.Error(), tt.wantWhat) {
				t.Errorf("%v does not say %q", err, tt.wantWhat)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}
