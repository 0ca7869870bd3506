package pki_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/apedge/apedge/internal/clock/clocktest"
	"github.com/apedge/apedge/internal/pki"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// start is the fake clock's time in these tests.
var start = time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)

func initCA(t *testing.T) (string, *clocktest.Clock) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ca")
	clk := clocktest.New(start)
	if _, err := pki.Init(dir, "DEMO1", pki.Options{Clock: clk}); err != nil {
		t.Fatal(err)
	}
	return dir, clk
}

func mode(t *testing.T, file string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestParseIdentity(t *testing.T) {
	tests := []struct {
		name string
		want pki.Identity
		ok   bool
	}{
		{"bridge", pki.Identity{Role: pki.RoleBridge}, true},
		{"agent", pki.Identity{Role: pki.RoleAgent}, true},
		{"console", pki.Identity{Role: pki.RoleConsole}, true},
		{"central", pki.Identity{Role: pki.RoleCentral}, true},
		{"broker", pki.Identity{Role: pki.RoleBroker}, true},
		{"device:door:front", pki.Identity{Role: pki.RoleDevice, Class: "door", ID: "front"}, true},
		{"device:reader:front-in_2", pki.Identity{Role: pki.RoleDevice, Class: "reader", ID: "front-in_2"}, true},
		{"uplink:DEMO1", pki.Identity{Role: pki.RoleUplink, Site: "DEMO1"}, true},
		{"", pki.Identity{}, false},
		{"root", pki.Identity{}, false},
		{"agent:x", pki.Identity{}, false},
		{"device:door", pki.Identity{}, false},
		{"device:door:", pki.Identity{}, false},
		{"device:door:a/b", pki.Identity{}, false},
		{"device:door:#", pki.Identity{}, false},
		{"device:door:a:b", pki.Identity{}, false},
		{"uplink:demo1", pki.Identity{}, false},
		{"uplink:+", pki.Identity{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := pki.ParseIdentity(tc.name)
			if tc.ok != (err == nil) || got != tc.want {
				t.Fatalf("ParseIdentity(%q) = %+v, %v; want %+v, ok %v", tc.name, got, err, tc.want, tc.ok)
			}
			if tc.ok && got.String() != tc.name {
				t.Errorf("String() = %q, want %q", got.String(), tc.name)
			}
		})
	}
}

func TestInit(t *testing.T) {
	dir, clk := initCA(t)
	if m := mode(t, filepath.Join(dir, pki.CAKeyFile)); m != 0o600 {
		t.Errorf("ca.key mode %04o, want 0600", m)
	}
	if m := mode(t, dir); m != 0o700 {
		t.Errorf("CA directory mode %04o, want 0700", m)
	}
	raw, err := os.ReadFile(filepath.Join(dir, pki.CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(raw)
	ca, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !ca.IsCA || ca.Subject.CommonName != "apedge site CA DEMO1" || ca.PublicKeyAlgorithm != x509.ECDSA {
		t.Errorf("CA certificate: IsCA %v, CN %q, key %v", ca.IsCA, ca.Subject.CommonName, ca.PublicKeyAlgorithm)
	}
	if _, err := os.Stat(filepath.Join(dir, pki.CRLFile)); err != nil {
		t.Errorf("no revocation list: %v", err)
	}
	if _, err := pki.Init(dir, "DEMO1", pki.Options{Clock: clk}); err == nil {
		t.Error("a second Init over the same directory succeeded")
	}
	if _, err := pki.Init(t.TempDir(), "demo one", pki.Options{Clock: clk}); err == nil {
		t.Error("Init with a bad site code succeeded")
	}
}

func TestIssueListRevoke(t *testing.T) {
	dir, clk := initCA(t)
	o := pki.Options{Clock: clk}
	for _, name := range []string{"bridge", "agent", "device:door:front", "broker"} {
		c, err := pki.Issue(dir, name, o)
		if err != nil {
			t.Fatalf("Issue %s: %v", name, err)
		}
		if m := mode(t, c.KeyFile); m != 0o600 {
			t.Errorf("%s key mode %04o, want 0600", name, m)
		}
		if c.Status(clk.Now()) != "live" {
			t.Errorf("%s is %s, want live", name, c.Status(clk.Now()))
		}
	}
	if _, err := pki.Issue(dir, "root", o); err == nil {
		t.Error("Issue of a name that is no identity succeeded")
	}

	// A live key is not replaced unless forced; forcing revokes the old certificate.
	first, _ := pki.List(dir)
	if _, err := pki.Issue(dir, "agent", o); !errors.Is(err, pki.ErrLive) {
		t.Fatalf("reissue over a live key: %v, want ErrLive", err)
	}
	again, err := pki.Issue(dir, "agent", pki.Options{Clock: clk, Force: true})
	if err != nil {
		t.Fatal(err)
	}
	var oldAgent pki.Cert
	for _, c := range first {
		if c.Name == "agent" {
			oldAgent = c
		}
	}
	if again.Serial == oldAgent.Serial {
		t.Fatal("forced reissue kept the serial")
	}

	// Revoked or expired, it may be reissued without force.
	if _, err := pki.Revoke(dir, "bridge", o); err != nil {
		t.Fatal(err)
	}
	if _, err := pki.Revoke(dir, "bridge", o); err != nil {
		t.Errorf("revoking twice: %v", err)
	}
	if _, err := pki.Revoke(dir, "device:door:back", o); err == nil {
		t.Error("revoking a name never issued succeeded")
	}
	list, err := pki.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range list {
		got[c.Name] = c.Status(clk.Now())
	}
	want := map[string]string{"agent": "live", "bridge": "revoked", "broker": "live", "device:door:front": "live"}
	if len(got) != len(want) {
		t.Errorf("List = %v, want %v", got, want)
	}
	for n, s := range want {
		if got[n] != s {
			t.Errorf("List: %s is %q, want %q", n, got[n], s)
		}
	}
	if _, err := pki.Issue(dir, "bridge", o); err != nil {
		t.Errorf("reissue of a revoked identity: %v", err)
	}
	clk.Add(pki.CertValidity + time.Hour)
	if _, err := pki.Issue(dir, "device:door:front", o); err != nil {
		t.Errorf("reissue of an expired identity: %v", err)
	}
}

func TestCAKeyModeChecked(t *testing.T) {
	dir, clk := initCA(t)
	if err := os.Chmod(filepath.Join(dir, pki.CAKeyFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := pki.Issue(dir, "agent", pki.Options{Clock: clk}); err == nil {
		t.Error("Issue with a world-readable CA key succeeded")
	}
}

func TestServerTLSRefusesRevoked(t *testing.T) {
	dir, clk := initCA(t)
	o := pki.Options{Clock: clk}
	for _, n := range []string{"broker", "agent", "bridge"} {
		if _, err := pki.Issue(dir, n, o); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pki.Revoke(dir, "bridge", o); err != nil {
		t.Fatal(err)
	}
	srv, err := pki.ServerTLS(dir, clk)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		ok   bool
	}{{"agent", true}, {"bridge", false}} {
		cl, err := pki.ClientTLS(dir, tc.name, clk)
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := x509.ParseCertificate(cl.Certificates[0].Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		err = srv.VerifyConnection(tlsState(leaf))
		if tc.ok != (err == nil) {
			t.Errorf("%s: VerifyConnection = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
	// A revocation after the broker started takes effect at the next connection.
	if _, err := pki.Revoke(dir, "agent", o); err != nil {
		t.Fatal(err)
	}
	cl, err := pki.ClientTLS(dir, "agent", clk)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cl.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.VerifyConnection(tlsState(leaf)); err == nil {
		t.Error("agent revoked while the broker runs: still accepted")
	}
	// A list that cannot be read refuses everyone rather than no one.
	if _, err := pki.Issue(dir, "console", o); err != nil {
		t.Fatal(err)
	}
	if cl, err = pki.ClientTLS(dir, "console", clk); err != nil {
		t.Fatal(err)
	}
	if leaf, err = x509.ParseCertificate(cl.Certificates[0].Certificate[0]); err != nil {
		t.Fatal(err)
	}
	if err := srv.VerifyConnection(tlsState(leaf)); err != nil {
		t.Fatalf("console, never revoked: %v", err)
	}
	if err := os.Remove(filepath.Join(dir, pki.CRLFile)); err != nil {
		t.Fatal(err)
	}
	if err := srv.VerifyConnection(tlsState(leaf)); err == nil {
		t.Error("with no revocation list, a client was accepted")
	}
}

func TestGoldenACL(t *testing.T) {
	dev := func(n string) pki.Identity {
		id, err := pki.ParseIdentity(n)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	tests := []struct {
		file string
		text string
	}{
		{"site.acl", pki.ACL(pki.Site{Code: "DEMO1", Classes: []string{"reader", "door", "door"},
			Devices: []pki.Identity{dev("device:reader:lobby-in"), dev("device:door:side")}})},
		{"central.acl", pki.CentralACL([]string{"DEMO1", "MAN1"})},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			golden := filepath.Join("testdata", tc.file)
			if *update {
				if err := os.WriteFile(golden, []byte(tc.text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if tc.text != string(want) {
				t.Errorf("ACL differs from %s (go test -update writes it):\n%s", golden, tc.text)
			}
		})
	}
}

// The revocation list lasts as long as the CA: Mosquitto refuses every client once
// its crlfile is past NextUpdate, and nothing on a site re-signs it on a schedule.
func TestCRLLastsAsLongAsTheCA(t *testing.T) {
	dir, clk := initCA(t)
	clk.Add(400 * 24 * time.Hour)
	if _, err := pki.Issue(dir, "bridge", pki.Options{Clock: clk}); err != nil {
		t.Fatal(err)
	}
	if _, err := pki.Revoke(dir, "bridge", pki.Options{Clock: clk}); err != nil {
		t.Fatal(err)
	}
	ca := readPEMCert(t, filepath.Join(dir, pki.CACertFile))
	b, err := os.ReadFile(filepath.Join(dir, pki.CRLFile))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	crl, err := x509.ParseRevocationList(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !crl.NextUpdate.Equal(ca.NotAfter) {
		t.Fatalf("CRL next update %s, want the CA's expiry %s", crl.NextUpdate, ca.NotAfter)
	}
	if len(crl.RevokedCertificateEntries) != 1 {
		t.Fatalf("%d revoked, want 1", len(crl.RevokedCertificateEntries))
	}
}

func readPEMCert(t *testing.T, file string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestAlgorithms: a CA of either algorithm issues certificates of either, keys are
// written 0600 and read back, and a real TLS handshake (client certificate required)
// succeeds between the broker's and a client's configuration.
func TestAlgorithms(t *testing.T) {
	for _, ca := range []pki.Algorithm{pki.ECDSAP256, pki.Ed25519} {
		for _, leaf := range []pki.Algorithm{pki.ECDSAP256, pki.Ed25519} {
			t.Run(string(ca)+"/"+string(leaf), func(t *testing.T) {
				clk := clocktest.New(start)
				dir := filepath.Join(t.TempDir(), "ca")
				if _, err := pki.Init(dir, "DEMO1", pki.Options{Clock: clk, Algorithm: ca}); err != nil {
					t.Fatal(err)
				}
				for _, n := range []string{"broker", "agent"} {
					c, err := pki.Issue(dir, n, pki.Options{Clock: clk, Algorithm: leaf})
					if err != nil {
						t.Fatal(err)
					}
					if m := mode(t, c.KeyFile); m != 0o600 {
						t.Errorf("%s key mode %04o", n, m)
					}
				}
				if _, err := pki.Revoke(dir, "agent", pki.Options{Clock: clk}); err != nil {
					t.Fatal(err) // the CA's key signs the list
				}
				if _, err := pki.Issue(dir, "agent", pki.Options{Clock: clk, Algorithm: leaf}); err != nil {
					t.Fatal(err)
				}
				srv, err := pki.ServerTLS(dir, clk)
				if err != nil {
					t.Fatal(err)
				}
				cl, err := pki.ClientTLS(dir, "agent", clk)
				if err != nil {
					t.Fatal(err)
				}
				a, b := net.Pipe()
				defer a.Close()
				defer b.Close()
				errs := make(chan error, 1)
				go func() { errs <- tls.Server(a, srv).Handshake() }()
				if err := tls.Client(b, cl).Handshake(); err != nil {
					t.Fatalf("client handshake: %v", err)
				}
				if err := <-errs; err != nil {
					t.Fatalf("server handshake: %v", err)
				}
			})
		}
	}
	if _, err := pki.ParseAlgorithm("rsa"); err == nil {
		t.Error("ParseAlgorithm(rsa) succeeded")
	}
}
