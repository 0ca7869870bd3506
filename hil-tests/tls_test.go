package hiltests

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/apedge/apedge/internal/broker"
	"github.com/apedge/apedge/internal/clock/clocktest"
	"github.com/apedge/apedge/internal/mqttclient"
	"github.com/apedge/apedge/internal/pki"
	"github.com/apedge/apedge/internal/testlog"
)

// Broker is an MQTT broker the end-to-end tests run against: a real Mosquitto or the
// embedded broker, either serving TLS only, with a client certificate from its own CA
// required, and the ACL of its sites (pki.SiteRules, pki.CentralRules) enforced.
type Broker interface {
	// URL is the broker's tls:// URL.
	URL() string
	// PKI is the broker's CA: it issues the certificate of any identity on demand.
	PKI() *testPKI
}

// busSpec is what a test broker's ACL is made from: the sites whose buses and uplinks
// it carries, and the devices that join those buses with identities of their own; and
// the identities whose certificates are issued and revoked before it starts.
type busSpec struct {
	sites   []string
	devices []pki.Identity
	revoked []string
}

// rules are the broker's ACL: every site's bus (the bridge runs doors, readers,
// cameras, substance testers, fingerprint terminals and PAT testers; a dock joins
// as one of devices), central's uplinks, merged by identity.
func (s busSpec) rules() []pki.Rule {
	var rules []pki.Rule
	for _, code := range s.sites {
		rules = append(rules, pki.SiteRules(pki.Site{Code: code, Classes: []string{"door", "reader", "camera", "substance-tester", "biometric", "pat-tester"},
			Devices: s.devices})...)
	}
	return pki.Merge(append(rules, pki.CentralRules(s.sites)...)...)
}

// testPKI is a test broker's CA, made by package pki as `apedge pki` makes a site's.
// Its certificates date from pkiEpoch and last two centuries, so that Mosquitto and the
// processes, which check them against the real time, accept them on any day the tests
// run; nothing else here depends on the date.
type testPKI struct {
	t   testing.TB
	dir string
	mu  sync.Mutex
}

// pkiEpoch is the fixed time the test CAs issue at.
var pkiEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

const pkiValidity = 200 * 365 * 24 * time.Hour

func pkiOptions() pki.Options {
	return pki.Options{Clock: clocktest.New(pkiEpoch), Validity: pkiValidity}
}

// newTestPKI makes a CA in a new folder and issues the broker's server certificate,
// and a certificate for each of revoked, which it then revokes.
func newTestPKI(t testing.TB, revoked ...string) *testPKI {
	t.Helper()
	p := &testPKI{t: t, dir: filepath.Join(t.TempDir(), "pki")}
	if _, err := pki.Init(p.dir, "HIL", pkiOptions()); err != nil {
		t.Fatal(err)
	}
	p.files("broker")
	for _, name := range revoked {
		p.files(name)
		p.Revoke(name)
	}
	return p
}

// files returns the certificate and key of identity name, issuing them the first time.
func (p *testPKI) files(name string) (cert, key string) {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	stem := filepath.Join(p.dir, filepathStem(name))
	cert, key = stem+".crt", stem+".key"
	if _, err := os.Stat(cert); err == nil {
		return cert, key
	}
	if _, err := pki.Issue(p.dir, name, pkiOptions()); err != nil {
		p.t.Fatal(err)
	}
	return cert, key
}

// filepathStem is an identity's file name stem in a CA folder (":" written as ".").
func filepathStem(name string) string {
	out := []byte(name)
	for i, c := range out {
		if c == ':' {
			out[i] = '.'
		}
	}
	return string(out)
}

// CA is the path of the CA certificate.
func (p *testPKI) CA() string { return filepath.Join(p.dir, pki.CACertFile) }

// Revoke revokes identity name's certificate.
func (p *testPKI) Revoke(name string) {
	p.t.Helper()
	if _, err := pki.Revoke(p.dir, name, pki.Options{Clock: clocktest.New(pkiEpoch.Add(time.Hour))}); err != nil {
		p.t.Fatal(err)
	}
}

// link is the configuration files' link to b (a bus, central or broker section) as
// identity name: a YAML flow mapping.
func link(b Broker, name string) string {
	cert, key := b.PKI().files(name)
	return fmt.Sprintf("{broker: %s, tls: {ca: %s, cert: %s, key: %s}}", b.URL(), b.PKI().CA(), cert, key)
}

// mqttLink is b as identity name, for a client made in the test.
func mqttLink(b Broker, clientID, name string) mqttclient.Link {
	cert, key := b.PKI().files(name)
	return mqttclient.Link{Broker: b.URL(), ClientID: clientID,
		TLS: &mqttclient.TLS{CA: b.PKI().CA(), Cert: cert, Key: key}}
}

// connect connects a clean-session client to b as identity name; it is disconnected
// at the end of the test.
func connect(t testing.TB, b Broker, clientID, name string) mqtt.Client {
	t.Helper()
	c, err := mqttclient.New(mqttclient.Options{Link: mqttLink(b, clientID, name), CleanSession: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := mqttclient.Connect(ctx, c); err != nil {
		t.Fatalf("connect %s as %s: %v", clientID, name, err)
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// Embedded is apedge's embedded broker (package broker) run in the test process, with
// TLS and the ACL of its sites, as a small site would run it.
type Embedded struct {
	*broker.Broker
	pki *testPKI
}

// startEmbedded starts an embedded broker on a free loopback port for spec; it is
// closed at the end of the test.
func startEmbedded(t testing.TB, spec busSpec) *Embedded {
	t.Helper()
	p := newTestPKI(t, spec.revoked...)
	tc, err := pki.ServerTLS(p.dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := broker.New(t.Context(), broker.Options{Addr: "127.0.0.1:0", Log: testlog.New(t), TLS: tc, Rules: spec.rules()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return &Embedded{Broker: b, pki: p}
}

// PKI is the broker's CA.
func (e *Embedded) PKI() *testPKI { return e.pki }

// dialRaw connects a client to b that trusts b's CA and presents cert (none if nil),
// with no retries, and returns the connect's error: how a refusal is seen, since
// mqttclient's clients retry for ever.
func dialRaw(b Broker, clientID string, cert *tls.Certificate) (mqtt.Client, error) {
	tc, err := pkiClientTLS(b, cert)
	if err != nil {
		return nil, err
	}
	o := mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID(clientID).SetCleanSession(true).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(10 * time.Second).SetTLSConfig(tc)
	c := mqtt.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(20 * time.Second) {
		return nil, errors.New("connect timed out")
	}
	return c, tok.Error()
}

func pkiClientTLS(b Broker, cert *tls.Certificate) (*tls.Config, error) {
	pem, err := os.ReadFile(b.PKI().CA())
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("no CA certificate")
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	if cert != nil {
		tc.Certificates = []tls.Certificate{*cert}
	}
	return tc, nil
}
