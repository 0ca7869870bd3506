package mqttclient_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/apedge/apedge/internal/broker"
	"github.com/apedge/apedge/internal/broker/brokertest"
	"github.com/apedge/apedge/internal/mqttclient"
	"github.com/apedge/apedge/internal/testlog"
	"github.com/apedge/apedge/internal/wait"
)

// timeout bounds every wait for something that should happen.
const timeout = 20 * time.Second

func waitToken(t *testing.T, tok mqtt.Token, what string) {
	t.Helper()
	if err := mqttclient.WaitTimeout(t.Context(), tok, timeout); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// persistent keeps the client's session at the broker: CleanSession false.
func persistent(o *mqttclient.Options) { o.CleanSession = false }

// login has the client log in as user with the password in the file pw.
func login(user, pw string) brokertest.Option {
	return func(o *mqttclient.Options) { o.Link.Username, o.Link.PasswordFile = user, pw }
}

// withTLS has the client connect with tc.
func withTLS(tc *mqttclient.TLS) brokertest.Option {
	return func(o *mqttclient.Options) { o.Link.TLS = tc }
}

// writeFile writes content to dir/name with exactly mode perm.
func writeFile(t *testing.T, dir, name string, content []byte, perm fs.FileMode) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, content, perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil { // whatever the umask
		t.Fatal(err)
	}
	return path
}

func TestConnect(t *testing.T) {
	b := brokertest.Start(t)
	var connects atomic.Int32
	c := brokertest.Client(t, b.URL(), "c1", func(o *mqttclient.Options) {
		o.OnConnect = func(mqtt.Client) { connects.Add(1) }
	})
	if !c.IsConnectionOpen() {
		t.Error("connected client reports no open connection")
	}
	wait.For(t, timeout, "OnConnect", func() (bool, string) { return connects.Load() == 1, "" })
	r := c.OptionsReader()
	if got := r.ClientID(); got != "c1" {
		t.Errorf("client id %q, want c1", got)
	}
	if !r.AutoReconnect() || !r.ConnectRetry() || !r.Order() {
		t.Errorf("AutoReconnect %v ConnectRetry %v Order %v, want all true", r.AutoReconnect(), r.ConnectRetry(), r.Order())
	}
	if !r.CleanSession() {
		t.Error("CleanSession not passed on")
	}
	waitToken(t, c.Publish("apedge/test", 1, false, "x"), "publish")
}

func TestConnectCanceled(t *testing.T) {
	addr := closedAddr(t)
	c := brokertest.NewClient(t, "tcp://"+addr, "c1", persistent)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := mqttclient.Connect(ctx, c); !errors.Is(err, context.Canceled) {
		t.Errorf("Connect with nothing listening and a canceled context = %v, want context.Canceled", err)
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestOnConnectAfterBrokerRestart shows that a subscription made in OnConnect survives
// the broker going away and coming back with no memory of it.
func TestOnConnectAfterBrokerRestart(t *testing.T) {
	b1, err := broker.Start(t.Context(), "127.0.0.1:0", testlog.New(t))
	if err != nil {
		t.Fatal(err)
	}
	addr := b1.Addr()
	msgs := make(chan mqtt.Message, 16)
	connects := make(chan int, 4)
	lost := make(chan error, 4)
	var n atomic.Int32
	brokertest.NewClient(t, b1.URL(), "sub", func(o *mqttclient.Options) {
		o.OnConnect = func(c mqtt.Client) {
			tok := c.Subscribe("apedge/test/t", 1, func(_ mqtt.Client, m mqtt.Message) { msgs <- m })
			if !tok.WaitTimeout(timeout) || tok.Error() != nil {
				t.Errorf("subscribe in OnConnect: %v", tok.Error())
			}
			connects <- int(n.Add(1))
		}
		o.OnLost = func(err error) { lost <- err }
	}).Connect()
	select {
	case <-connects:
	case <-time.After(timeout):
		t.Fatal("no first connect")
	}
	pub1 := brokertest.Client(t, b1.URL(), "pub1")
	waitToken(t, pub1.Publish("apedge/test/t", 1, false, "before"), "publish before")
	if m := brokertest.Receive(t, timeout, "before restart", msgs); string(m.Payload()) != "before" {
		t.Fatalf("got %q, want before", m.Payload())
	}

	t0 := time.Now()
	b1.Close()
	select {
	case <-lost:
	case <-time.After(timeout):
		t.Fatal("OnLost not called after the broker closed")
	}
	b2, err := broker.Start(t.Context(), addr, testlog.New(t))
	if err != nil {
		t.Fatalf("restart on %s: %v", addr, err)
	}
	t.Cleanup(func() { b2.Close() })
	select {
	case got := <-connects:
		if got != 2 {
			t.Fatalf("connect number %d, want 2", got)
		}
		t.Logf("reconnected %v after the broker closed", time.Since(t0))
	case <-time.After(timeout):
		t.Fatal("OnConnect did not run again after the broker came back")
	}
	// The new broker knows nothing of the old subscription: only OnConnect made it.
	pub2 := brokertest.Client(t, b2.URL(), "pub2")
	waitToken(t, pub2.Publish("apedge/test/t", 1, false, "after"), "publish after")
	for {
		m := brokertest.Receive(t, timeout, "after restart", msgs)
		if string(m.Payload()) == "after" {
			break
		}
		if string(m.Payload()) != "before" { // the old broker may have redelivered it
			t.Fatalf("got %q, want after", m.Payload())
		}
	}
}

func TestWaitTimeout(t *testing.T) {
	b := brokertest.Start(t)
	connected := brokertest.Client(t, b.URL(), "ok")
	// Connecting where nothing listens never completes: the client retries forever.
	pending := brokertest.NewClient(t, "tcp://"+closedAddr(t), "pending", persistent).Connect()
	// Publishing on a client never told to connect fails at once.
	idle := brokertest.NewClient(t, b.URL(), "idle", persistent)

	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		tok     mqtt.Token
		d       time.Duration
		want    error // nil, ErrTimeout, context.Canceled, or errAny
		minWait time.Duration
	}{
		{"completes", t.Context(), connected.Publish("apedge/test", 1, false, "x"), timeout, nil, 0},
		{"times out", t.Context(), pending, 50 * time.Millisecond, mqttclient.ErrTimeout, 50 * time.Millisecond},
		{"context canceled is not a timeout", canceled, pending, timeout, context.Canceled, 0},
		{"token error", t.Context(), idle.Publish("apedge/test", 1, false, "x"), timeout, errAny, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			err := mqttclient.WaitTimeout(tc.ctx, tc.tok, tc.d)
			elapsed := time.Since(start)
			switch tc.want {
			case nil:
				if err != nil {
					t.Errorf("WaitTimeout = %v, want nil", err)
				}
			case errAny:
				if err == nil || errors.Is(err, mqttclient.ErrTimeout) || errors.Is(err, context.Canceled) {
					t.Errorf("WaitTimeout = %v, want the token's own error", err)
				}
			default:
				if !errors.Is(err, tc.want) {
					t.Errorf("WaitTimeout = %v, want %v", err, tc.want)
				}
				if tc.want != mqttclient.ErrTimeout && errors.Is(err, mqttclient.ErrTimeout) {
					t.Errorf("WaitTimeout = %v, which is not a timeout", err)
				}
			}
			if elapsed < tc.minWait {
				t.Errorf("WaitTimeout returned after %v, want at least %v", elapsed, tc.minWait)
			}
			if elapsed >= timeout {
				t.Errorf("WaitTimeout took %v", elapsed)
			}
		})
	}
}

var errAny = errors.New("any error but a timeout or cancellation")

// authHook is a broker authenticator that records what each client presented and,
// if user is set, admits only user with password.
type authHook struct {
	mochi.HookBase
	user, password string

	mu   sync.Mutex
	seen map[string][]string // client id -> "username:password" of each attempt
}

func (h *authHook) ID() string { return "test-auth" }

func (h *authHook) Provides(b byte) bool {
	return b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck
}

func (h *authHook) OnConnectAuthenticate(cl *mochi.Client, pk packets.Packet) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seen == nil {
		h.seen = map[string][]string{}
	}
	h.seen[cl.ID] = append(h.seen[cl.ID], string(pk.Connect.Username)+":"+string(pk.Connect.Password))
	return h.user == "" || string(pk.Connect.Username) == h.user && string(pk.Connect.Password) == h.password
}

func (h *authHook) OnACLCheck(*mochi.Client, string, bool) bool { return true }

// attempts returns what client id presented, one entry per connection attempt that
// reached MQTT (past TLS).
func (h *authHook) attempts(id string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.seen[id]...)
}

// startMochi runs a mochi broker with hook on a free loopback port, over TLS if tc is
// not nil, and returns its address.
func startMochi(t *testing.T, tc *tls.Config, hook mochi.Hook) string {
	t.Helper()
	srv := mochi.New(&mochi.Options{Logger: testlog.New(t)})
	if err := srv.AddHook(hook, nil); err != nil {
		t.Fatal(err)
	}
	l := listeners.NewTCP(listeners.Config{ID: "t", Address: "127.0.0.1:0", TLSConfig: tc})
	if err := srv.AddListener(l); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return l.Address()
}

func TestPasswordFile(t *testing.T) {
	const user, password = "site-MAN1", "s3cret-Pa55word"
	hook := &authHook{user: user, password: password}
	url := "tcp://" + startMochi(t, nil, hook)
	dir := t.TempDir()

	t.Run("0600 file is used", func(t *testing.T) {
		pw := writeFile(t, dir, "good", []byte(password+"\n"), 0o600)
		brokertest.Client(t, url, "good", login(user, pw))
		if got, want := hook.attempts("good"), []string{user + ":" + password}; len(got) != 1 || got[0] != want[0] {
			t.Errorf("broker saw %q, want %q", got, want)
		}
	})
	t.Run("wrong password is refused by the broker", func(t *testing.T) {
		pw := writeFile(t, dir, "wrong", []byte("not-the-password\n"), 0o600)
		c := brokertest.NewClient(t, url, "wrong", login(user, pw), func(o *mqttclient.Options) { o.Once = true })
		if err := mqttclient.WaitTimeout(t.Context(), c.Connect(), timeout); err == nil || errors.Is(err, mqttclient.ErrTimeout) {
			t.Fatalf("Connect = %v, want the broker's refusal", err)
		}
		if got := hook.attempts("wrong"); len(got) == 0 || got[0] != user+":not-the-password" {
			t.Errorf("broker saw %q, want attempts with the file's password", got)
		}
	})
	for _, perm := range []fs.FileMode{0o644, 0o640, 0o604, 0o660} {
		t.Run(perm.String(), func(t *testing.T) {
			pw := writeFile(t, t.TempDir(), "pw", []byte(password+"\n"), perm)
			c, err := mqttclient.New(mqttclient.Options{Link: mqttclient.Link{Broker: url, ClientID: "open", Username: user, PasswordFile: pw}})
			if err == nil {
				c.Disconnect(0)
				t.Fatalf("New with a password file of mode %v succeeded", perm)
			}
			if strings.Contains(err.Error(), password) || strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error shows the password: %v", err)
			}
			if !strings.Contains(err.Error(), pw) || !strings.Contains(err.Error(), "chmod 600") {
				t.Errorf("error %q does not say how to fix %s", err, pw)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		_, err := mqttclient.New(mqttclient.Options{Link: mqttclient.Link{Broker: url, ClientID: "x", Username: user, PasswordFile: filepath.Join(dir, "none")}})
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("New with a missing password file = %v, want fs.ErrNotExist", err)
		}
	})
}

// pki is a test CA with a server certificate for 127.0.0.1 and a client certificate.
type pki struct {
	caPEM      []byte
	pool       *x509.CertPool
	server     tls.Certificate
	clientCert []byte // PEM
	clientKey  []byte // PEM
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var serial atomic.Int64

func issue(t *testing.T, tmpl, parent *x509.Certificate, pub *ecdsa.PublicKey, signer *ecdsa.PrivateKey) *x509.Certificate {
	t.Helper()
	tmpl.SerialNumber = big.NewInt(serial.Add(1))
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(time.Hour)
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func certPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func keyPEM(t *testing.T, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func newPKI(t *testing.T, name string) *pki {
	t.Helper()
	caKey := newKey(t)
	ca := issue(t, &x509.Certificate{
		Subject:               pkix.Name{CommonName: name + " test CA"},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}, nil, &caKey.PublicKey, caKey)
	srvKey := newKey(t)
	srv := issue(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "broker"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:    []string{"localhost"},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, ca, &srvKey.PublicKey, caKey)
	cliKey := newKey(t)
	cli := issue(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "apedge-agent-MAN1"},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca, &cliKey.PublicKey, caKey)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &pki{
		caPEM:      certPEM(ca),
		pool:       pool,
		server:     tls.Certificate{Certificate: [][]byte{srv.Raw}, PrivateKey: srvKey},
		clientCert: certPEM(cli),
		clientKey:  keyPEM(t, cliKey),
	}
}

func TestTLS(t *testing.T) {
	site := newPKI(t, "site")
	other := newPKI(t, "other")
	hook := new(authHook)
	addr := startMochi(t, &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{site.server},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    site.pool,
	}, hook)
	url := "tls://" + addr
	dir := t.TempDir()
	ca := writeFile(t, dir, "ca.pem", site.caPEM, 0o644)
	cert := writeFile(t, dir, "client.pem", site.clientCert, 0o644)
	key := writeFile(t, dir, "client.key", site.clientKey, 0o600)
	otherCA := writeFile(t, dir, "other-ca.pem", other.caPEM, 0o644)
	otherCert := writeFile(t, dir, "other-client.pem", other.clientCert, 0o644)
	otherKey := writeFile(t, dir, "other-client.key", other.clientKey, 0o600)

	t.Run("client certificate", func(t *testing.T) {
		c := brokertest.Client(t, url, "tls-ok", withTLS(&mqttclient.TLS{CA: ca, Cert: cert, Key: key}))
		if len(hook.attempts("tls-ok")) != 1 {
			t.Errorf("broker saw %d MQTT connects, want 1", len(hook.attempts("tls-ok")))
		}
		msgs := brokertest.Subscribe(t, c, "apedge/tls")
		waitToken(t, c.Publish("apedge/tls", 1, false, "over tls"), "publish")
		if m := brokertest.Receive(t, timeout, "message over TLS", msgs); string(m.Payload()) != "over tls" {
			t.Errorf("got %q", m.Payload())
		}
	})
	refusals := []struct {
		name string
		tls  *mqttclient.TLS
	}{
		{"no client certificate", &mqttclient.TLS{CA: ca}},
		{"client certificate from another CA", &mqttclient.TLS{CA: ca, Cert: otherCert, Key: otherKey}},
		{"server certificate from an untrusted CA", &mqttclient.TLS{CA: otherCA, Cert: cert, Key: key}},
	}
	for i, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id := "tls-refused-" + string(rune('a'+i))
			// Once: a client that retried for ever would still be connecting when the
			// broker closes, which mochi's Close races with.
			c := brokertest.NewClient(t, url, id, withTLS(tc.tls), func(o *mqttclient.Options) { o.Once = true })
			if err := mqttclient.WaitTimeout(t.Context(), c.Connect(), timeout); err == nil || errors.Is(err, mqttclient.ErrTimeout) {
				t.Fatalf("Connect = %v, want the TLS refusal", err)
			}
			if n := len(hook.attempts(id)); n != 0 {
				t.Errorf("broker saw %d MQTT connects from %s, want none past TLS", n, id)
			}
		})
	}

	bad := []struct {
		name string
		tls  *mqttclient.TLS
		want string // in the error
	}{
		{"key readable by others", &mqttclient.TLS{CA: ca, Cert: cert, Key: writeFile(t, dir, "open.key", site.clientKey, 0o644)}, "chmod 600"},
		{"CA file with no certificate", &mqttclient.TLS{CA: writeFile(t, dir, "empty.pem", []byte("not a certificate\n"), 0o644)}, "no certificates"},
		{"CA file missing", &mqttclient.TLS{CA: filepath.Join(dir, "none.pem")}, "no such file"},
		{"key does not match cert", &mqttclient.TLS{CA: ca, Cert: cert, Key: otherKey}, "private key does not match"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			c, err := mqttclient.New(mqttclient.Options{Link: mqttclient.Link{Broker: url, ClientID: "bad", TLS: tc.tls}})
			if err == nil {
				c.Disconnect(0)
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New = %v, want an error saying %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "PRIVATE KEY") {
				t.Errorf("error shows the key: %v", err)
			}
		})
	}
}

// proxy forwards TCP connections to a broker until cut, so that a test can make a
// client vanish without an MQTT DISCONNECT.
type proxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln}
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, in, out)
			p.mu.Unlock()
			go func() { io.Copy(out, in); out.Close() }()
			go func() { io.Copy(in, out); in.Close() }()
		}
	}()
	t.Cleanup(p.cut)
	return p
}

// cut stops accepting and drops every connection.
func (p *proxy) cut() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

func TestWill(t *testing.T) {
	b := brokertest.Start(t)
	live := brokertest.Subscribe(t, brokertest.Client(t, b.URL(), "watcher"), "apedge/test/state")

	p := startProxy(t, b.Addr())
	brokertest.Client(t, "tcp://"+p.ln.Addr().String(), "bridge", func(o *mqttclient.Options) {
		o.Will = &mqttclient.Will{Topic: "apedge/test/state", Payload: []byte("offline"), Retained: true}
	})
	p.cut() // the client vanishes without a DISCONNECT
	if m := brokertest.Receive(t, timeout, "the will", live); string(m.Payload()) != "offline" || m.Qos() != 1 {
		t.Fatalf("will %q qos %d, want offline at QoS 1", m.Payload(), m.Qos())
	}
	// The will is retained: a subscriber that comes after it still gets it.
	retained := brokertest.Subscribe(t, brokertest.Client(t, b.URL(), "late"), "apedge/test/state")
	if m := brokertest.Receive(t, timeout, "the retained will", retained); string(m.Payload()) != "offline" || !m.Retained() {
		t.Fatalf("late subscriber got %q retained %v, want the retained will", m.Payload(), m.Retained())
	}
}

// TestPersistentSession shows what the agent relies on: with CleanSession false and
// AutoAckDisabled, a QoS 1 message that was not acknowledged, and one published while
// the client was away, both reach the client when it comes back with the same id. They
// arrive as soon as it connects, before OnConnect could subscribe again, so they reach
// it through DefaultHandler: the second session here makes no subscription at all.
func TestPersistentSession(t *testing.T) {
	b := brokertest.Start(t)
	pub := brokertest.Client(t, b.URL(), "pub")
	first := make(chan mqtt.Message, 16)
	subscribed := make(chan struct{})
	c1 := brokertest.Client(t, b.URL(), "agent", persistent, func(o *mqttclient.Options) {
		o.AutoAckDisabled = true
		o.OnConnect = func(c mqtt.Client) {
			tok := c.Subscribe("apedge/test/#", 1, func(_ mqtt.Client, m mqtt.Message) { first <- m })
			if !tok.WaitTimeout(timeout) || tok.Error() != nil {
				t.Errorf("subscribe: %v", tok.Error())
			}
			close(subscribed)
		}
	})
	select {
	case <-subscribed:
	case <-time.After(timeout):
		t.Fatal("OnConnect did not subscribe")
	}
	// Received, but never acknowledged.
	waitToken(t, pub.Publish("apedge/test/a", 1, false, "unacked"), "publish unacked")
	if m := brokertest.Receive(t, timeout, "unacked", first); string(m.Payload()) != "unacked" {
		t.Fatalf("got %q", m.Payload())
	}
	c1.Disconnect(0)
	waitToken(t, pub.Publish("apedge/test/a", 1, false, "while away"), "publish while away")
	// mochi acknowledges a publish before it queues it for subscribers, and handles one
	// client's publishes in order: once a later one has reached a watcher, "while away"
	// is queued for the session (else the next connect could take the session over
	// first and the message would be queued on the old connection, and lost).
	fence := brokertest.Subscribe(t, brokertest.Client(t, b.URL(), "watcher"), "apedge/fence")
	waitToken(t, pub.Publish("apedge/fence", 1, false, "fence"), "publish fence")
	brokertest.Receive(t, timeout, "fence", fence)

	second := make(chan mqtt.Message, 16)
	brokertest.Client(t, b.URL(), "agent", persistent, func(o *mqttclient.Options) {
		o.AutoAckDisabled = true
		o.DefaultHandler = func(_ mqtt.Client, m mqtt.Message) { second <- m }
	})
	got := map[string]bool{}
	for !got["unacked"] || !got["while away"] {
		m := brokertest.Receive(t, timeout, "redelivery", second)
		got[string(m.Payload())] = true
		m.Ack()
	}
}
