// Package mqttclient makes the paho MQTT clients (github.com/eclipse/paho.mqtt.golang)
// of apedge's processes from their configuration, the one way: TLS with a CA and client
// certificate when configured, the password read from a 0600 file, automatic reconnect
// with capped back-off, and subscriptions made again on every connect.
//
// paho v1's known pitfalls shape how callers use it: a publish token may complete across
// a reconnect without the broker having the message, subscriptions vanish on reconnect
// with a clean session, and a blocking message handler stalls the whole client. So
// callers subscribe in OnConnect, never block in handlers, and never treat a completed
// token as end-to-end delivery: apedge's journal plus central's application-level ack is
// the guarantee.
package mqttclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"time"

	"github.com/apedge/apedge/internal/secret"
	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// Will is a last-will message the broker publishes if the client vanishes.
type Will struct {
	Topic    string
	Payload  []byte
	Retained bool
}

// Link is where a client connects and how it proves who it is. It is also the
// configuration files' "bus", "central" and "broker" sections.
type Link struct {
	// Broker is the URL: tcp://host:port, or tls://host:port (ssl:// and mqtts:// too).
	Broker string `yaml:"broker"`
	// ClientID defaults to one derived from the process and site. Sessions are
	// persistent where delivery depends on them, so keep it stable per process.
	ClientID string `yaml:"clientID,omitempty"`
	// Username, with the password read from PasswordFile (mode 0600).
	Username     string `yaml:"username,omitempty"`
	PasswordFile string `yaml:"passwordFile,omitempty"`
	// TLS configures server verification and a client certificate.
	TLS *TLS `yaml:"tls,omitempty"`
}

// TLS names the files of a TLS link: the CA that signs the broker's certificate and this
// client's certificate and key (key mode 0600).
type TLS struct {
	CA         string `yaml:"ca,omitempty"`
	Cert       string `yaml:"cert,omitempty"`
	Key        string `yaml:"key,omitempty"`
	ServerName string `yaml:"serverName,omitempty"`
}

// Secure reports whether the broker URL uses TLS.
func (l *Link) Secure() bool {
	u, err := url.Parse(l.Broker)
	return err == nil && (u.Scheme == "tls" || u.Scheme == "ssl" || u.Scheme == "mqtts")
}

// Options describe one client.
type Options struct {
	Link Link
	// CleanSession false keeps the client's subscriptions and queued QoS 1 messages at
	// the broker while it is away; the client id must then be stable. Such a client
	// should only receive: paho resends its stored publishes on every connect while
	// OnConnect already runs, and a publish made then races with the resend (a data
	// race, and a "close of closed channel" panic seen in central). The agent and
	// central publish on a second, clean-session client.
	CleanSession bool
	// AutoAckDisabled leaves acknowledging QoS 1 messages to the handler (msg.Ack()),
	// e.g. once the message's effect is durable.
	AutoAckDisabled bool
	Will            *Will
	// OnConnect runs after every connect and reconnect, e.g. to subscribe. It runs on
	// its own goroutine and may block briefly.
	OnConnect func(mqtt.Client)
	// DefaultHandler receives messages that match no subscription made on this client
	// yet. With CleanSession false the broker sends what it kept for the session as
	// soon as the client connects, before OnConnect has subscribed again, and paho
	// drops a message it has no handler for without acknowledging it.
	DefaultHandler mqtt.MessageHandler
	// OnLost runs when the connection drops.
	OnLost func(error)
	// Once connects once, with no retry and no automatic reconnect: for a tool or a
	// probe that reports a refusal rather than waiting for the broker to relent.
	Once   bool
	Logger *slog.Logger
}

// New returns an unconnected client.
func New(o Options) (mqtt.Client, error) {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	c := o.Link
	opts := mqtt.NewClientOptions().
		AddBroker(c.Broker).
		SetClientID(c.ClientID).
		SetCleanSession(o.CleanSession).
		SetAutoReconnect(!o.Once).
		SetConnectRetry(!o.Once).
		SetConnectRetryInterval(250 * time.Millisecond).
		SetMaxReconnectInterval(5 * time.Second).
		SetConnectTimeout(10 * time.Second).
		SetKeepAlive(15 * time.Second).
		SetPingTimeout(5 * time.Second).
		SetWriteTimeout(10 * time.Second).
		SetOrderMatters(true).
		SetAutoAckDisabled(o.AutoAckDisabled)
	if c.Username != "" {
		opts.SetUsername(c.Username)
		if c.PasswordFile != "" {
			pw, err := secret.Read(c.PasswordFile)
			if err != nil {
				return nil, fmt.Errorf("mqttclient: %w", err)
			}
			opts.SetPassword(pw)
		}
	}
	if !c.Secure() {
		// The configuration refuses plain TCP off the box; on it, it is for development.
		log.Warn("mqtt link is plaintext: development only, never a real site (anyone on this box can then publish as anyone); use tls:// with a client certificate from the site CA (apedge pki)",
			"broker", c.Broker, "client", c.ClientID)
	}
	if c.Secure() || c.TLS != nil {
		tc, err := tlsConfig(c.TLS)
		if err != nil {
			return nil, fmt.Errorf("mqttclient: %s: %w", c.Broker, err)
		}
		opts.SetTLSConfig(tc)
	}
	if o.DefaultHandler != nil {
		opts.SetDefaultPublishHandler(o.DefaultHandler)
	}
	if w := o.Will; w != nil {
		opts.SetBinaryWill(w.Topic, w.Payload, 1, w.Retained)
	}
	opts.SetOnConnectHandler(func(cl mqtt.Client) {
		log.Info("mqtt connected", "broker", c.Broker, "client", c.ClientID)
		if o.OnConnect != nil {
			o.OnConnect(cl)
		}
	})
	opts.SetConnectionLostHandler(func(_ mqtt.Client, err error) {
		log.Warn("mqtt connection lost", "broker", c.Broker, "client", c.ClientID, "err", err)
		if o.OnLost != nil {
			o.OnLost(err)
		}
	})
	return mqtt.NewClient(opts), nil
}

func tlsConfig(t *TLS) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if t == nil {
		return tc, nil
	}
	tc.ServerName = t.ServerName
	if t.CA != "" {
		pem, err := os.ReadFile(t.CA)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no certificates in %s", t.CA)
		}
		tc.RootCAs = pool
	}
	if t.Cert != "" {
		if _, err := secret.Read(t.Key); err != nil {
			return nil, err
		}
		cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, err
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Connect starts c connecting and waits until it is connected or ctx ends. The client
// keeps retrying in the background either way.
func Connect(ctx context.Context, c mqtt.Client) error {
	return Wait(ctx, c.Connect())
}

// Wait waits for a paho token or ctx.
func Wait(ctx context.Context, t mqtt.Token) error {
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ErrTimeout is returned by WaitTimeout when the token did not complete in time.
var ErrTimeout = errors.New("mqttclient: timed out")

// WaitTimeout waits for a token for at most d, or until ctx ends.
func WaitTimeout(ctx context.Context, t mqtt.Token, d time.Duration) error {
	ctx, cancel := context.WithTimeoutCause(ctx, d, ErrTimeout)
	defer cancel()
	if err := Wait(ctx, t); err != nil {
		if c := context.Cause(ctx); errors.Is(c, ErrTimeout) {
			return ErrTimeout
		}
		return err
	}
	return nil
}
