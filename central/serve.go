package central

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/apedge/apedge/formats/envelope"
	"github.com/apedge/apedge/formats/sitekey"
	"github.com/apedge/apedge/formats/uplink"
	"github.com/apedge/apedge/internal/clock"
	"github.com/apedge/apedge/internal/config"
	"github.com/apedge/apedge/internal/mqttclient"
)

// TrustFromConfig loads the public key of every trusted site.
func TrustFromConfig(cfg *config.Central) (envelope.TrustStore, error) {
	t := envelope.TrustStore{}
	for _, s := range cfg.Trust {
		p, err := sitekey.LoadPublic(s.PubKey, s.Site)
		if err != nil {
			return nil, fmt.Errorf("central: trust %s: %w", s.Site, err)
		}
		t.Add(p)
	}
	return t, nil
}

// KeyPeriodsFromConfig returns the validity period of every trusted key that has one.
func KeyPeriodsFromConfig(cfg *config.Central) (map[string]KeyPeriod, error) {
	out := map[string]KeyPeriod{}
	for _, s := range cfg.Trust {
		if s.ValidFrom.IsZero() && s.ValidUntil.IsZero() {
			continue
		}
		p, err := sitekey.LoadPublic(s.PubKey, s.Site)
		if err != nil {
			return nil, fmt.Errorf("central: trust %s: %w", s.Site, err)
		}
		out[p.ID] = KeyPeriod{From: s.ValidFrom, Until: s.ValidUntil}
	}
	return out, nil
}

// Server is a receiver connected to the central broker, and its HTTP query API if
// configured.
type Server struct {
	*Receiver
	client mqtt.Client // receives batches (persistent session, or clean when shared)
	out    mqtt.Client // publishes acks and status (clean session)
	log    *slog.Logger
	clock  clock.Clock  // dates acks and status, and what the receiver records
	id     string       // the broker client id, unique to this server
	http   *http.Server // nil if off
	httpL  net.Listener

	subscribed, outUp atomic.Bool
	announce          func() // re-announces heads and status once both clients are up
}

// SharedFilter is the subscription of a receiver in share group group: the MQTT shared
// subscription to every site's events topic.
func SharedFilter(group string) string { return "$share/" + group + "/" + uplink.EventsFilter }

// Option changes a default of NewServer.
type Option func(*serverOptions)

// serverOptions are what the Options given to NewServer set.
type serverOptions struct {
	clock clock.Clock
}

// WithClock makes the server tell the time by c instead of the system clock: the
// times of its acks and status messages, and its receiver's Options.Clock (the dates
// of arrivals, alarms and gaps). A nil c means the system clock.
func WithClock(c clock.Clock) Option { return func(o *serverOptions) { o.clock = c } }

// NewServer opens the store and the HTTP listener, and prepares the broker connection
// described by cfg. The options change its defaults (WithClock).
func NewServer(ctx context.Context, cfg *config.Central, log *slog.Logger, opts ...Option) (*Server, error) {
	if log == nil {
		log = slog.Default()
	}
	var o serverOptions
	for _, opt := range opts {
		opt(&o)
	}
	trust, err := TrustFromConfig(cfg)
	if err != nil {
		return nil, err
	}
	periods, err := KeyPeriodsFromConfig(cfg)
	if err != nil {
		return nil, err
	}
	s := &Server{log: log.With("component", "central"), clock: clock.Or(o.clock), id: uniqueClientID(cfg.Broker.ClientID)}
	s.announce = func() { s.announceState(ctx) }
	if s.client, err = s.newEventsClient(cfg); err != nil {
		return nil, err
	}
	if s.out, err = s.newOutClient(cfg); err != nil {
		return nil, err
	}
	s.Receiver, err = Open(ctx, Options{
		Path:          cfg.Database,
		Trust:         trust,
		KeyPeriods:    periods,
		Logger:        log,
		GapAlarmAfter: cfg.GapAlarmAfter,
		Clock:         s.clock,
		// Not waited on: a lost ack is repeated by the next one or by the agent's resend.
		Publish: s.publishAck,
	})
	if err != nil {
		return nil, err
	}
	if cfg.HTTP != nil {
		if s.http, s.httpL, err = listenHTTP(cfg.HTTP, s.Receiver, s.log); err != nil {
			s.Receiver.Close()
			return nil, err
		}
	}
	return s, nil
}

// uniqueClientID is the broker client id prefix followed by a random suffix, so that
// servers configured alike do not take each other's connection.
func uniqueClientID(prefix string) string {
	b := make([]byte, 4)
	rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// newEventsClient returns the client that receives the sites' batches: alone, with the
// configured client id and a persistent session, so that batches published while this
// receiver restarts wait at the broker for it; in a share group, with a clean session
// of its own under s.id, so that the broker deals batches only to receivers that are
// connected (what it had in flight to one that dies is lost with it and resent by the
// site, unacknowledged). It subscribes on every connect and then announces.
func (s *Server) newEventsClient(cfg *config.Central) (mqtt.Client, error) {
	handle := func(_ mqtt.Client, m mqtt.Message) { s.Handle(m.Topic(), m.Payload()) }
	link, filter := cfg.Broker, uplink.EventsFilter
	if cfg.ShareGroup != "" {
		link.ClientID, filter = s.id, SharedFilter(cfg.ShareGroup)
	}
	c, err := mqttclient.New(mqttclient.Options{
		Link:         link,
		CleanSession: cfg.ShareGroup != "",
		// Batches the broker kept for this session arrive straight after connecting,
		// before OnConnect subscribes again: the default handler takes them.
		DefaultHandler: handle,
		OnConnect: func(c mqtt.Client) {
			tok := c.Subscribe(filter, 1, handle)
			if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				s.log.Error("subscribe to site events failed; reconnecting", "err", tok.Error())
				go c.Disconnect(100)
				return
			}
			s.subscribed.Store(true)
			s.announce()
		},
		OnLost: func(error) { s.subscribed.Store(false) },
		Logger: s.log,
	})
	if err != nil {
		return nil, fmt.Errorf("central: events client: %w", err)
	}
	return c, nil
}

// newOutClient returns the client that publishes acks and status: a clean session of
// its own (see mqttclient.Options.CleanSession), whose last will says offline. It
// announces on every connect.
func (s *Server) newOutClient(cfg *config.Central) (mqtt.Client, error) {
	link := cfg.Broker
	link.ClientID = s.id + "-out"
	offline, _ := json.Marshal(uplink.Status{Status: "offline", ID: s.id})
	c, err := mqttclient.New(mqttclient.Options{
		Link:         link,
		CleanSession: true,
		Will:         &mqttclient.Will{Topic: uplink.StatusTopic, Payload: offline, Retained: true},
		OnConnect: func(mqtt.Client) {
			s.outUp.Store(true)
			s.announce()
		},
		OnLost: func(error) { s.outUp.Store(false) },
		Logger: s.log,
	})
	if err != nil {
		return nil, fmt.Errorf("central: ack client: %w", err)
	}
	return c, nil
}

// publishAck publishes the ack of site at seq, retained, so that an agent learns it on
// every (re)subscribe. It does not wait for the broker.
func (s *Server) publishAck(site string, seq uint64) {
	s.out.Publish(uplink.AckTopic(site), 1, true, uplink.EncodeAck(site, seq, s.clock.Now()))
}

// announceState, once both clients are up (subscribed and able to publish),
// re-announces where every site stands (retained acks of the heads committed, whichever
// receiver committed them), then says that this server is online, so that agents
// resend from the ack straight away.
func (s *Server) announceState(ctx context.Context) {
	if !s.subscribed.Load() || !s.outUp.Load() {
		return
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	heads, err := s.StoredHeads(actx)
	cancel()
	if err != nil {
		s.log.Warn("announce: reading heads from the store failed; announcing those last seen", "err", err)
		heads = s.Heads()
	}
	for site, seq := range heads {
		s.publishAck(site, seq)
	}
	online, _ := json.Marshal(uplink.Status{Status: "online", ID: s.id, Time: s.clock.Now().UTC()})
	s.out.Publish(uplink.StatusTopic, 1, true, online)
}

// HTTPAddr is the address the HTTP query API listens on ("" if off).
func (s *Server) HTTPAddr() string {
	if s.httpL == nil {
		return ""
	}
	return s.httpL.Addr().String()
}

// Run receives (and serves the HTTP API) until ctx ends, then closes the store.
func (s *Server) Run(ctx context.Context) error {
	runErr := make(chan error, 1)
	go func() { runErr <- s.Receiver.Run(ctx) }()
	go func() { _ = mqttclient.Connect(ctx, s.out) }()
	go func() { _ = mqttclient.Connect(ctx, s.client) }()
	httpDone := make(chan struct{})
	if s.http != nil {
		go func() {
			defer close(httpDone)
			s.log.Info("HTTP query API listening", "addr", s.HTTPAddr(), "tls", s.http.TLSConfig != nil)
			var err error
			if s.http.TLSConfig != nil {
				err = s.http.ServeTLS(s.httpL, "", "")
			} else {
				err = s.http.Serve(s.httpL)
			}
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("HTTP query API stopped", "err", err)
			}
		}()
	} else {
		close(httpDone)
	}
	err := <-runErr
	if s.http != nil {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		s.http.Shutdown(sctx)
		cancel()
	}
	<-httpDone
	offline, _ := json.Marshal(uplink.Status{Status: "offline"})
	s.client.Disconnect(250)
	if s.outUp.Load() {
		s.out.Publish(uplink.StatusTopic, 1, true, offline).WaitTimeout(2 * time.Second)
	}
	s.out.Disconnect(250)
	if cerr := s.Receiver.Close(); err == nil {
		err = cerr
	}
	return err
}
