package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/internal/broker"
	"github.com/apedge/apedge/internal/mqttclient"
	"github.com/apedge/apedge/internal/pki"
)

// demoIdentities are the demo's certificates: the brokers' server certificate, the
// processes' client certificates, the body-worn camera dock's (an MQTT-native
// device, demoDockIdentity) and "monitor" for watching with mosquitto_sub.
var demoIdentities = []string{"broker", "bridge", "agent", "uplink:" + demoSite, "central", demoDockIdentity, "monitor"}

// demoDockIdentity is the identity of the demo's simulated dock, demoDock.
const demoDockIdentity = "device:" + sitebus.ClassBWCDock + ":" + demoDock

// demoBus is the demo's two brokers, as a site and central have them: the site bus,
// and central's broker that the agent's uplink reaches; or, with -dev-plaintext, one
// plaintext broker for both.
type demoBus struct {
	site, central *broker.Broker
	pkiDir        string // "" with -dev-plaintext
}

// demoBrokers starts the demo's brokers. With TLS (the default) it makes the demo's
// throwaway site CA under o.dir/pki on the first run, issues what is missing or no
// longer live, and serves each broker with its ACL (pki.SiteRules for the bridge's
// classes, pki.CentralRules for the demo site).
func (s sys) demoBrokers(ctx context.Context, o demoOptions, log *slog.Logger) (*demoBus, error) {
	if o.plaintext {
		b, err := broker.Start(ctx, "127.0.0.1:0", log)
		if err != nil {
			return nil, err
		}
		return &demoBus{site: b, central: b}, nil
	}
	dir := filepath.Join(o.dir, "pki")
	if err := s.demoPKI(dir); err != nil {
		return nil, err
	}
	tc, err := pki.ServerTLS(dir, s.clock)
	if err != nil {
		return nil, err
	}
	// demoBridgeYAML's classes (as bridgeClasses gives them), and the dock, which
	// speaks MQTT itself under its own identity: the bridge leaves its commands to it.
	site := pki.Site{Code: demoSite, Classes: []string{"door", "reader", "camera", "substance-tester", "biometric", sitebus.ClassPATTester},
		Devices: []pki.Identity{{Role: pki.RoleDevice, Class: sitebus.ClassBWCDock, ID: demoDock}}}
	bus := &demoBus{pkiDir: dir}
	if bus.site, err = broker.New(ctx, broker.Options{Addr: "127.0.0.1:0", Log: log.With("broker", "site bus"), TLS: tc, Rules: pki.SiteRules(site)}); err != nil {
		return nil, err
	}
	if bus.central, err = broker.New(ctx, broker.Options{Addr: "127.0.0.1:0", Log: log.With("broker", "central"), TLS: tc.Clone(), Rules: pki.CentralRules([]string{demoSite})}); err != nil {
		bus.site.Close()
		return nil, err
	}
	// The ACLs as Mosquitto would take them, for whoever moves the demo onto one.
	for name, text := range map[string]string{"site.acl": pki.ACL(site), "central.acl": pki.CentralACL([]string{demoSite})} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			bus.close()
			return nil, fmt.Errorf("demo: %w", err)
		}
	}
	return bus, nil
}

// demoPKI makes the demo's CA in dir unless it is there, and issues each of
// demoIdentities that has no live certificate (a first run, or one expired since).
func (s sys) demoPKI(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, pki.CAKeyFile)); errors.Is(err, os.ErrNotExist) {
		if _, err := pki.Init(dir, demoSite, pki.Options{Clock: s.clock}); err != nil {
			return err
		}
	}
	certs, err := pki.List(dir)
	if err != nil {
		return err
	}
	live := map[string]bool{}
	for _, c := range certs {
		live[c.Name] = c.Status(s.clock.Now()) == "live"
	}
	for _, name := range demoIdentities {
		if live[name] {
			continue
		}
		if _, err := pki.Issue(dir, name, pki.Options{Clock: s.clock, Force: true}); err != nil {
			return err
		}
	}
	return nil
}

// link is a configuration file's link to b as identity name, a YAML flow mapping,
// with the extra fields given ("resendAfter: 5s") first. File names are relative to
// the demo's folder, where the configurations are written.
func (d *demoBus) link(b *broker.Broker, name string, extra ...string) string {
	fields := slices.Concat(extra, []string{"broker: " + b.URL()})
	if d.pkiDir != "" {
		stem := strings.ReplaceAll(name, ":", ".")
		fields = append(fields, fmt.Sprintf("tls: {ca: pki/%s, cert: pki/%s.crt, key: pki/%s.key}", pki.CACertFile, stem, stem))
	}
	return "{" + strings.Join(fields, ", ") + "}"
}

// banner is the brokers' part of the demo's banner, with how to watch the site bus.
func (d *demoBus) banner(dir string) string {
	if d.pkiDir == "" {
		return fmt.Sprintf("  embedded MQTT broker  %s (development mode: plaintext, no access rules)\n", d.site.URL())
	}
	p := filepath.Join(dir, "pki")
	_, port, _ := net.SplitHostPort(d.site.Addr())
	return fmt.Sprintf(`  site bus              %s   TLS; client certificates from the demo's CA, access rules per identity
  central's broker      %s
  site CA               %s (ca.key 0600, a certificate per identity, site.acl, central.acl)
  watch the site bus    mosquitto_sub -h 127.0.0.1 -p %s --cafile %s --cert %s --key %s -t 'apedge/v1/%s/#' -v
`, d.site.URL(), d.central.URL(), p, port, filepath.Join(p, pki.CACertFile),
		filepath.Join(p, "monitor.crt"), filepath.Join(p, "monitor.key"), demoSite)
}

// dockTLS returns the TLS files of the demo's dock (demoDockIdentity), or nil with
// -dev-plaintext.
func (d *demoBus) dockTLS() (*mqttclient.TLS, error) {
	if d.pkiDir == "" {
		return nil, nil
	}
	certs, err := pki.List(d.pkiDir)
	if err != nil {
		return nil, err
	}
	for _, c := range certs {
		if c.Name == demoDockIdentity && !c.Revoked {
			return &mqttclient.TLS{CA: filepath.Join(d.pkiDir, pki.CACertFile), Cert: c.CertFile, Key: c.KeyFile}, nil
		}
	}
	return nil, fmt.Errorf("demo: no certificate of %s in %s", demoDockIdentity, d.pkiDir)
}

// close stops the brokers.
func (d *demoBus) close() {
	d.site.Close()
	if d.central != d.site {
		d.central.Close()
	}
}
