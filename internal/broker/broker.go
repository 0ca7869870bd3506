// Package broker runs the embedded MQTT broker (github.com/mochi-mqtt/server/v2) that
// stands in for Mosquitto when no broker is configured: `apedge demo` and small sites.
//
// It serves in one of two modes, chosen explicitly in Options:
//
//   - TLS: every client presents a certificate from the site CA (package pki); its
//     CommonName is its identity and username, and the ACL rules (pki.SiteRules,
//     pki.CentralRules) say what it may publish, subscribe to and receive, its last
//     will included. An identity with no rule may do nothing.
//   - DevPlaintext: plaintext on loopback only, every client allowed everything, as
//     before identities existed. For development and the tests until they move to
//     TLS; it logs a warning at start.
//
// In both, packets are bounded (Limits): a packet over MaxPacketSize is refused before
// it is read into memory and its client disconnected, as MQTT says, and counted.
package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/apedge/apedge/internal/pki"
)

// Default limits.
const (
	// DefaultMaxPacketSize bounds a packet: above the largest uplink batch
	// (uplink.MaxBatchBytes, 4 MiB) with room for its topic and headers, since the
	// embedded broker carries the uplink too in the demo. Site-bus messages are far
	// smaller; a broker for the site bus alone can set 256 KiB.
	DefaultMaxPacketSize = 4<<20 + 64<<10
	// DefaultMaxInflight bounds the QoS 1 and 2 messages held per client, sent and
	// unacknowledged or queued for a client that is away (a persistent session).
	DefaultMaxInflight = 8192
	// DefaultMaxQueued bounds the packets waiting to be written to one client.
	DefaultMaxQueued = 64 * 1024
	// DefaultReceiveMaximum bounds the QoS 1 and 2 publishes a client may have
	// unacknowledged towards the broker.
	DefaultReceiveMaximum = 1024
)

// Limits bound what one client can make the broker hold. Zero fields take the defaults.
type Limits struct {
	MaxPacketSize  uint32
	MaxInflight    uint16
	MaxQueued      int32
	ReceiveMaximum uint16
}

// Options configure a broker.
type Options struct {
	// Addr is the host:port to listen on ("127.0.0.1:0" picks a free port).
	Addr string
	// Log is the broker's logger (slog.Default() if nil).
	Log *slog.Logger
	// TLS serves MQTT over TLS; it must require and verify client certificates
	// (pki.ServerTLS makes one). Rules then say what each identity may do.
	TLS   *tls.Config
	Rules []pki.Rule
	// DevPlaintext serves plaintext to anyone on loopback, allowing everything: for
	// development only. Exactly one of TLS and DevPlaintext is set.
	DevPlaintext bool
	Limits       Limits
}

// Stats counts what the broker refused.
type Stats struct {
	// Oversized counts packets over MaxPacketSize (each client disconnected).
	Oversized int64
	// Unauthenticated counts connections refused: at the TLS handshake (no client
	// certificate, another CA's, a revoked or expired one), for an identity with no
	// rule, or for a last will the identity may not publish.
	Unauthenticated int64
	// Denied counts publishes, subscriptions and deliveries the rules refused.
	Denied int64
	// Dropped counts QoS 1 and 2 messages dropped because a client's inflight store
	// was full.
	Dropped int64
}

// Broker is a running embedded broker.
type Broker struct {
	srv  *mochi.Server
	addr string
	tls  bool
	gate *gate
}

// Start starts a development broker, plaintext on loopback addr with no
// authentication (Options.DevPlaintext): what the demo and the tests run until they
// move to TLS. A non-loopback address is refused.
func Start(ctx context.Context, addr string, log *slog.Logger) (*Broker, error) {
	return New(ctx, Options{Addr: addr, Log: log, DevPlaintext: true})
}

// New starts a broker as o says and serves until Close.
func New(ctx context.Context, o Options) (*Broker, error) {
	host, _, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	switch {
	case o.DevPlaintext && o.TLS != nil:
		return nil, errors.New("broker: both TLS and DevPlaintext set; choose one")
	case !o.DevPlaintext && o.TLS == nil:
		return nil, errors.New("broker: neither TLS nor DevPlaintext set; TLS with client certificates (apedge pki), or DevPlaintext on loopback for development")
	case o.TLS != nil && o.TLS.ClientAuth != tls.RequireAndVerifyClientCert:
		return nil, errors.New("broker: the TLS configuration must require and verify client certificates (pki.ServerTLS)")
	}
	if ip := net.ParseIP(host); o.DevPlaintext && host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("broker: %s is not loopback; a plaintext development broker serves this box only", o.Addr)
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("broker: listen %s: %w", o.Addr, err)
	}
	addr := ln.Addr().String()
	ln.Close() // mochi opens its own listener; the port was free a moment ago
	log := o.Log
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "broker")
	caps := mochi.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = orU32(o.Limits.MaxPacketSize, DefaultMaxPacketSize)
	caps.MaximumInflight = orU16(o.Limits.MaxInflight, DefaultMaxInflight)
	caps.MaximumClientWritesPending = o.Limits.MaxQueued
	if caps.MaximumClientWritesPending <= 0 {
		caps.MaximumClientWritesPending = DefaultMaxQueued
	}
	caps.ReceiveMaximum = orU16(o.Limits.ReceiveMaximum, DefaultReceiveMaximum)
	g := newGate(log, o.TLS != nil, o.Rules)
	srv := mochi.New(&mochi.Options{Capabilities: caps, Logger: slog.New(quiet{log.Handler(), g})})
	if o.DevPlaintext {
		log.Warn("embedded broker in development mode: plaintext, no authentication, every client may publish and subscribe to anything; never for a real site", "addr", addr)
		if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
			return nil, fmt.Errorf("broker: %w", err)
		}
	}
	if err := srv.AddHook(g, nil); err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	cfg := listeners.Config{ID: "tcp", Address: addr}
	if o.TLS != nil {
		cfg.ID, cfg.TLSConfig = "tls", o.TLS
	}
	if err := srv.AddListener(listeners.NewTCP(cfg)); err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	b := &Broker{srv: srv, addr: addr, tls: o.TLS != nil, gate: g}
	if err := srv.Serve(); err != nil {
		return nil, fmt.Errorf("broker: serve: %w", err)
	}
	return b, nil
}

// Addr is the host:port the broker listens on.
func (b *Broker) Addr() string { return b.addr }

// URL is the broker's address as an MQTT URL for clients: tls:// or tcp://.
func (b *Broker) URL() string {
	if b.tls {
		return "tls://" + b.addr
	}
	return "tcp://" + b.addr
}

// Stats returns what the broker has refused so far.
func (b *Broker) Stats() Stats {
	return Stats{Oversized: b.gate.oversized.Load(), Unauthenticated: b.gate.unauth.Load(),
		Denied: b.gate.denied.Load(), Dropped: atomic.LoadInt64(&b.srv.Info.InflightDropped)}
}

// Close stops the broker and disconnects its clients.
func (b *Broker) Close() error { return b.srv.Close() }

// gate is the hook that identifies TLS clients by certificate, enforces the rules and
// counts what is refused. In development mode it only counts oversized packets.
type gate struct {
	mochi.HookBase
	log    *slog.Logger
	tls    bool
	rules  map[string]pki.Rule
	logged sync.Map // cause+" "+identity -> struct{}: logged once each
	nlog   atomic.Int64

	oversized, unauth, denied atomic.Int64
}

// maxLogged bounds the distinct causes logged, so a flood of made-up identities
// cannot grow the set without end; beyond it refusals are only counted.
const maxLogged = 1024

func newGate(log *slog.Logger, useTLS bool, rules []pki.Rule) *gate {
	g := &gate{log: log, tls: useTLS, rules: map[string]pki.Rule{}}
	for _, r := range pki.Merge(rules...) {
		g.rules[r.Identity] = r
	}
	return g
}

// ID names the hook.
func (g *gate) ID() string { return "apedge-gate" }

// Provides says which events the hook handles.
func (g *gate) Provides(b byte) bool {
	switch b {
	case mochi.OnDisconnect:
		return true
	case mochi.OnConnectAuthenticate, mochi.OnACLCheck:
		return g.tls
	}
	return false
}

// once logs msg the first time cause happens for who.
func (g *gate) once(cause, who, msg string, args ...any) {
	k := cause + " " + who
	if _, seen := g.logged.Load(k); seen || g.nlog.Load() >= maxLogged {
		return
	}
	if _, seen := g.logged.LoadOrStore(k, struct{}{}); !seen {
		g.nlog.Add(1)
		g.log.Warn(msg+" (logged once per cause and identity; counted in the broker's stats)", args...)
	}
}

// OnConnectAuthenticate takes the identity from the client certificate's CommonName
// as the client's username, whatever it sent, and refuses an identity with no rule
// or a last will it may not publish.
func (g *gate) OnConnectAuthenticate(cl *mochi.Client, pk packets.Packet) bool {
	tc, ok := cl.Net.Conn.(*tls.Conn)
	if !ok || len(tc.ConnectionState().PeerCertificates) == 0 {
		g.unauth.Add(1)
		g.once("no-certificate", cl.Net.Remote, "broker: connection without a client certificate refused", "remote", cl.Net.Remote)
		return false
	}
	who := tc.ConnectionState().PeerCertificates[0].Subject.CommonName
	r, ok := g.rules[who]
	if !ok {
		g.unauth.Add(1)
		g.once("no-rule", who, "broker: identity with no ACL rule refused", "identity", who, "remote", cl.Net.Remote)
		return false
	}
	if pk.Connect.WillFlag && !r.Allowed(pk.Connect.WillTopic, true) {
		g.unauth.Add(1)
		g.once("will", who, "broker: last will on a topic the identity may not publish refused", "identity", who, "topic", pk.Connect.WillTopic)
		return false
	}
	cl.Properties.Username = []byte(who)
	return true
}

// OnACLCheck applies the client identity's rule to a publish (write), a subscription
// or a delivery (read).
func (g *gate) OnACLCheck(cl *mochi.Client, topic string, write bool) bool {
	who := string(cl.Properties.Username)
	if r, ok := g.rules[who]; ok && r.Allowed(topic, write) {
		return true
	}
	g.denied.Add(1)
	what := "subscribe"
	if write {
		what = "publish"
	}
	g.once("denied-"+what, who, "broker: "+what+" refused by the ACL", "identity", who, "topic", topic)
	return false
}

// OnDisconnect counts a client disconnected for an oversized packet.
func (g *gate) OnDisconnect(cl *mochi.Client, err error, _ bool) {
	if errors.Is(err, packets.ErrPacketTooLarge) {
		g.oversized.Add(1)
		who := string(cl.Properties.Username)
		if who == "" {
			who = cl.ID
		}
		g.once("oversized", who, "broker: packet over the maximum size refused; client disconnected", "client", cl.ID, "identity", who)
	}
}

// quiet is the handler of mochi's own logger. mochi logs each refused packet (the
// whole packet with it), each QoS message dropped for a full inflight store and each
// failed connection, so a flood of any of them would be a flood of log lines: quiet
// passes those on once per cause and client (through the gate, which counts them) and
// drops normal disconnects. Everything else mochi says goes through.
type quiet struct {
	slog.Handler
	g *gate
}

// refusedErrors are the errors mochi logs per packet that the gate already reports.
var refusedErrors = []string{packets.ErrNotAuthorized.Error(), packets.ErrPacketTooLarge.Error(), packets.ErrBadUsernameOrPassword.Error()}

// Handle filters r as quiet says.
func (q quiet) Handle(ctx context.Context, r slog.Record) error {
	var errText, client string
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "error":
			errText = a.Value.String()
		case "client":
			client = a.Value.String()
		}
		return true
	})
	switch {
	case slices.Contains(refusedErrors, errText):
		return nil // counted and logged once by the gate's hooks
	case r.Message == "client store quota reached" || r.Message == "packet ids exhausted":
		q.g.once("dropped", client, "broker: a client's inflight store is full: QoS 1 and 2 messages to it are dropped", "client", client)
		return nil
	case r.Message == "" && gone(errText):
		return nil // a client went away
	case r.Message == "" && errText != "":
		// A connection that failed before MQTT: a TLS handshake refused (no certificate,
		// another CA's, a revoked one) or garbage on the port.
		q.g.unauth.Add(1)
		q.g.once("connection", causeOf(errText), "broker: connection refused before MQTT (TLS handshake or garbage)", "err", errText)
		return nil
	}
	return q.Handler.Handle(ctx, r)
}

// gone says whether a connection error is only a client going away.
func gone(err string) bool {
	for _, s := range []string{io.EOF.Error(), net.ErrClosed.Error(), "connection reset by peer", "broken pipe"} {
		if strings.HasSuffix(err, s) {
			return true
		}
	}
	return false
}

// causeOf is an error's text without its digits and at most 48 bytes of it: its cause,
// without the serials and addresses that would make each connection a new one.
func causeOf(err string) string {
	c := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return -1
		}
		return r
	}, err)
	return c[:min(len(c), 48)]
}

// WithAttrs keeps the filter on a derived handler.
func (q quiet) WithAttrs(as []slog.Attr) slog.Handler { return quiet{q.Handler.WithAttrs(as), q.g} }

// WithGroup keeps the filter on a derived handler.
func (q quiet) WithGroup(name string) slog.Handler { return quiet{q.Handler.WithGroup(name), q.g} }

func orU32(v, def uint32) uint32 {
	if v == 0 {
		return def
	}
	return v
}

func orU16(v, def uint16) uint16 {
	if v == 0 {
		return def
	}
	return v
}
