package console_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/agent/console"
	"github.com/apedge/apedge/agent/staff"
	"github.com/apedge/apedge/internal/config"
	"github.com/apedge/apedge/internal/testlog"
)

// selfSigned writes a certificate for 127.0.0.1 and its key (0600) into dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "apedge console"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "console.crt"), filepath.Join(dir, "console.key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestServiceOverTLS runs the console as the agent command does (Open, Run) with a
// certificate: it serves HTTPS only, and its session cookie is Secure.
func TestServiceOverTLS(t *testing.T) {
	t.Parallel()
	s := newConsoleSite(t)
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	cfg := *s.cfg
	cfg.Database = filepath.Join(dir, "agent.db") // the service's own index beside it
	cfg.Console = config.Console{Listen: "127.0.0.1:0", Users: filepath.Join(dir, "staff.db"),
		TLS: &config.ConsoleTLS{Cert: certFile, Key: keyFile}}
	svc, err := console.Open(t.Context(), s.agent, &cfg, testlog.New(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	if !strings.HasPrefix(svc.URL(), "https://127.0.0.1:") {
		t.Fatalf("URL %s", svc.URL())
	}
	if _, err := svc.Staff.Add(t.Context(), "ann", staff.RoleStaff, password); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("console: %v", err)
		}
	})
	hc := &http.Client{Timeout: timeout, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := hc.Get(svc.URL() + "healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("healthz over TLS: %d", resp.StatusCode)
	}
	resp, err = hc.Post(svc.URL()+"api/v1/session", "application/json", strings.NewReader(`{"name":"ann","password":"`+password+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ck := resp.Cookies(); resp.StatusCode != http.StatusOK || len(ck) != 1 || !ck[0].Secure {
		t.Errorf("sign-in over TLS: %d, cookies %+v: want one Secure cookie", resp.StatusCode, ck)
	}
	plain := "http://" + strings.TrimPrefix(svc.URL(), "https://") + "healthz"
	if resp, err := (&http.Client{Timeout: timeout}).Get(plain); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("plain HTTP to the TLS console answered 200")
		}
	}
	if st, err := os.Stat(cfg.Console.Users); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("staff database: %v, mode %v", err, st.Mode())
	}
}
