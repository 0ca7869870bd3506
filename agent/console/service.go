package console

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"

	"github.com/apedge/apedge/agent"
	"github.com/apedge/apedge/agent/eventindex"
	"github.com/apedge/apedge/agent/staff"
	"github.com/apedge/apedge/internal/config"
	"github.com/apedge/apedge/internal/secret"
)

// Service is the console as it runs beside an agent: the staff accounts, the event
// index and the HTTP server, listening.
type Service struct {
	Staff *staff.Store
	Index *eventindex.Index
	srv   *Server
	ln    net.Listener
	tc    *tls.Config
	log   *slog.Logger
}

// Open opens the staff accounts (cfg.Console.Users) and the event index beside a's
// journal, reads the metrics token (cfg.Console.MetricsTokenFile), and listens on
// cfg.Console.Listen. Run serves; Close releases them.
func Open(ctx context.Context, a *agent.Agent, cfg *config.Agent, log *slog.Logger) (_ *Service, err error) {
	if log == nil {
		log = slog.Default()
	}
	s := &Service{log: log}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.Staff, err = staff.Open(ctx, cfg.Console.Users, staff.Options{}); err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	if s.Index, err = eventindex.Open(ctx, eventindex.Path(cfg.Database), a.Journal(), log); err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	if t := cfg.Console.TLS; t != nil {
		cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, fmt.Errorf("console: TLS: %w", err)
		}
		s.tc = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	var metricsToken string
	if f := cfg.Console.MetricsTokenFile; f != "" {
		if metricsToken, err = secret.Read(f); err != nil {
			return nil, fmt.Errorf("console: metrics token: %w", err)
		}
		if metricsToken = strings.TrimSpace(metricsToken); len(metricsToken) < config.MinMetricsToken {
			return nil, fmt.Errorf("console: metrics token in %s: shorter than %d characters", f, config.MinMetricsToken)
		}
	}
	policy, err := staff.ParsePolicy(cfg.Console.Permissions)
	if err != nil {
		return nil, fmt.Errorf("console: console.permissions: %w", err)
	}
	// Staff actions are dated by the site's clock, as every other event; sessions and
	// sign-in back-off (the staff store) run on the system clock.
	if s.srv, err = New(Options{Site: a, Index: s.Index, Staff: s.Staff, Secure: s.tc != nil, Logger: log,
		MetricsToken: metricsToken, Alarms: cfg.Console.Alarms, Policy: policy, Clock: a.Clock()}); err != nil {
		return nil, err
	}
	if s.ln, err = net.Listen("tcp", cfg.Console.Listen); err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	return s, nil
}

// URL is where the console is served.
func (s *Service) URL() string {
	scheme := "http"
	if s.tc != nil {
		scheme = "https"
	}
	return scheme + "://" + s.ln.Addr().String() + "/"
}

// Run indexes the journal and serves the console until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Go(func() { errs[0] = s.Index.Run(ctx) })
	wg.Go(func() { errs[1] = s.srv.Serve(ctx, s.ln, s.tc) })
	wg.Wait()
	if err := errors.Join(errs...); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

// Close closes the index and the staff accounts.
func (s *Service) Close() error {
	var errs []error
	if s.ln != nil {
		s.ln.Close()
	}
	if s.Index != nil {
		errs = append(errs, s.Index.Close())
	}
	if s.Staff != nil {
		errs = append(errs, s.Staff.Close())
	}
	return errors.Join(errs...)
}
