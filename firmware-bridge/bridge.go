// Package bridge is firmware-bridge: the only process that talks to devices. It
// publishes normalised device telemetry on the site MQTT bus (package sitebus) and holds
// no site policy. Its retained bridge/state says online, and its last will says offline.
package bridge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/apedge/apedge/config"
	"github.com/apedge/apedge/devices/standin"
	"github.com/apedge/apedge/mqttclient"
	"github.com/apedge/apedge/sitebus"
)

// Bridge is a running firmware bridge.
type Bridge struct {
	cfg       *config.Bridge
	log       *slog.Logger
	published atomic.Uint64
}

// New returns a bridge for cfg.
func New(cfg *config.Bridge, log *slog.Logger) *Bridge {
	if log == nil {
		log = slog.Default()
	}
	return &Bridge{cfg: cfg, log: log.With("component", "bridge", "site", cfg.Site)}
}

// Published is how many device messages the broker has taken from this bridge.
func (b *Bridge) Published() uint64 { return b.published.Load() }

// Run connects to the site bus and runs the configured devices until ctx ends.
func (b *Bridge) Run(ctx context.Context) error {
	bootB := make([]byte, 8)
	rand.Read(bootB)
	boot := hex.EncodeToString(bootB)
	offline, _ := json.Marshal(sitebus.BridgeState{Status: "offline", Boot: boot})
	var pub *sitebus.Publisher
	c, err := mqttclient.New(mqttclient.Options{
		OnLost: func(error) {
			if pub != nil {
				pub.ConnectionLost()
			}
		},
		Config:       b.cfg.Bus,
		CleanSession: true,
		Will:         &mqttclient.Will{Topic: sitebus.BridgeStateTopic(b.cfg.Site), Payload: offline, Retained: true},
		Logger:       b.log,
	})
	if err != nil {
		return fmt.Errorf("bridge: %w", err)
	}
	if err := mqttclient.Connect(ctx, c); err != nil {
		return fmt.Errorf("bridge: connect %s: %w", b.cfg.Bus.Broker, err)
	}
	defer func() {
		// A clean stop says offline itself; the will covers an unclean one.
		tok := c.Publish(sitebus.BridgeStateTopic(b.cfg.Site), 1, true, offline)
		tok.WaitTimeout(2 * time.Second)
		c.Disconnect(250)
	}()
	online, _ := json.Marshal(sitebus.BridgeState{Status: "online", Boot: boot, Time: time.Now().UTC()})
	if err := mqttclient.Wait(ctx, c.Publish(sitebus.BridgeStateTopic(b.cfg.Site), 1, true, online)); err != nil {
		return fmt.Errorf("bridge: publish state: %w", err)
	}
	b.log.Info("bridge online", "boot", boot, "broker", b.cfg.Bus.Broker)
	pub = sitebus.NewPublisher(c, b.cfg.Site, boot)
	if s := b.cfg.Simulate; s != nil {
		site := &standin.Site{Cards: s.Cards, Every: s.Every}
		for _, r := range s.Readers {
			site.Readers = append(site.Readers, standin.Reader{ID: r.ID, Door: r.Door, Direction: r.Direction})
			if _, err := pub.Publish(ctx, sitebus.ClassReader, r.ID, sitebus.KindState, "status", map[string]any{"online": true, "simulated": true}); err != nil {
				return fmt.Errorf("bridge: %w", err)
			}
		}
		return site.Run(ctx, func(ctx context.Context, rd standin.Read) error {
			m, err := pub.Publish(ctx, sitebus.ClassReader, rd.Reader.ID, sitebus.KindEvent, "card-read", rd.Data)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				// The broker did not take it: a real reader's read would be lost the
				// same way, so log it and go on rather than stop the bridge.
				b.log.Warn("card read not published", "reader", rd.Reader.ID, "err", err)
				return nil
			}
			b.published.Add(1)
			b.log.Debug("card read", "reader", rd.Reader.ID, "seq", m.Seq)
			return nil
		})
	}
	<-ctx.Done()
	return nil
}
