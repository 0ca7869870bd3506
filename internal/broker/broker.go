// Package broker runs the embedded MQTT broker (github.com/mochi-mqtt/server/v2) that
// stands in for Mosquitto when no broker is configured: `apedge demo` and small sites.
// It listens on loopback only and allows every client, so it must never face a network.
package broker

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// Broker is a running embedded broker.
type Broker struct {
	srv  *mochi.Server
	addr string
	done chan error
}

// Start listens on addr ("127.0.0.1:0" picks a free port) and serves until Close.
// A non-loopback address is refused: the embedded broker has no authentication.
func Start(ctx context.Context, addr string, log *slog.Logger) (*Broker, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("broker: %s is not loopback; the embedded broker serves this box only", addr)
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("broker: listen %s: %w", addr, err)
	}
	addr = ln.Addr().String()
	ln.Close() // mochi opens its own listener; the port was free a moment ago
	if log == nil {
		log = slog.Default()
	}
	caps := mochi.NewDefaultServerCapabilities()
	caps.MaximumClientWritesPending = 64 * 1024
	srv := mochi.New(&mochi.Options{
		Capabilities: caps,
		Logger:       log.With("component", "broker"),
	})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	if err := srv.AddListener(listeners.NewTCP(listeners.Config{ID: "tcp", Address: addr})); err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	b := &Broker{srv: srv, addr: addr, done: make(chan error, 1)}
	if err := srv.Serve(); err != nil {
		return nil, fmt.Errorf("broker: serve: %w", err)
	}
	return b, nil
}

// Addr is the host:port the broker listens on.
func (b *Broker) Addr() string { return b.addr }

// URL is the broker's address as an MQTT URL for clients.
func (b *Broker) URL() string { return "tcp://" + b.addr }

// Close stops the broker and disconnects its clients.
func (b *Broker) Close() error { return b.srv.Close() }
