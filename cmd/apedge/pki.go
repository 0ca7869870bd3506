package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/apedge/apedge/cmd/apedge/internal/cli"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/internal/config"
	"github.com/apedge/apedge/internal/pki"
)

const pkiUsage = `apedge pki init -dir DIR -site CODE [-alg ecdsa-p256|ed25519]
apedge pki issue -dir DIR -name IDENTITY [-host NAME,...] [-days N] [-force] [-alg ecdsa-p256|ed25519]
apedge pki list -dir DIR
apedge pki revoke -dir DIR -name IDENTITY
apedge pki acl -bridge bridge.yaml [-dir DIR] [-o FILE]
apedge pki acl -central -sites CODE,... [-o FILE]

The site CA for the MQTT brokers (package pki). IDENTITY is a certificate's CommonName
and the broker username: bridge, agent, console, central, broker (the broker's server
certificate), monitor, device:{class}:{id} or uplink:{SITE} (a site's agent on central's
broker).
monitor reads everything and publishes nothing (for watching while commissioning).
Keys are ECDSA P-256 unless -alg ed25519, written mode 0600. issue refuses to replace a live certificate unless -force,
which revokes the old one. acl writes the Mosquitto acl_file of a site bus (classes
from the bridge's configuration, device identities from DIR) or of central's broker.`

// cmdPKI is apedge pki: the site CA, its certificates and the brokers' ACLs.
func (s sys) cmdPKI(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintf(stderr, "Usage: %s\n", pkiUsage)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			return nil
		}
		return cli.ErrUsage
	}
	sub, args := args[0], args[1:]
	fs := cli.Flags("pki "+sub, pkiUsage, stderr)
	dir := fs.String("dir", "", "the CA `directory`")
	alg := fs.String("alg", "", "the key `algorithm` of init and issue: ecdsa-p256 (default) or ed25519")
	var err error
	switch sub {
	case "init":
		site := fs.String("site", "", "the AP's site `code`")
		if err = parseRequired(fs, args, "dir", dir, "site", site); err != nil {
			return err
		}
		a, err := pki.ParseAlgorithm(*alg)
		if err != nil {
			return err
		}
		c, err := pki.Init(*dir, *site, pki.Options{Clock: s.clock, Algorithm: a})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "CA:       %s\nkey:      %s (mode 0600; keep it off the network)\ncert:     %s (every broker's and client's cafile)\nvalid to: %s\n",
			c.Name, c.KeyFile, c.CertFile, c.NotAfter.Format(time.RFC3339))
		return nil
	case "issue":
		name := fs.String("name", "", "the `identity`")
		hosts := fs.String("host", "", "a broker certificate's extra DNS names and IPs, `comma-separated`")
		days := fs.Int("days", 0, "validity in `days` (default 730)")
		force := fs.Bool("force", false, "replace a live certificate, revoking it")
		if err = parseRequired(fs, args, "dir", dir, "name", name); err != nil {
			return err
		}
		a, err := pki.ParseAlgorithm(*alg)
		if err != nil {
			return err
		}
		o := pki.Options{Clock: s.clock, Force: *force, Validity: time.Duration(*days) * 24 * time.Hour, Algorithm: a}
		if *hosts != "" {
			o.Hosts = strings.Split(*hosts, ",")
		}
		c, err := pki.Issue(*dir, *name, o)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "identity: %s\nserial:   %s\nkey:      %s (mode 0600)\ncert:     %s\nvalid to: %s\n",
			c.Name, c.Serial, c.KeyFile, c.CertFile, c.NotAfter.Format(time.RFC3339))
		return nil
	case "list":
		if err = parseRequired(fs, args, "dir", dir); err != nil {
			return err
		}
		certs, err := pki.List(*dir)
		if err != nil {
			return err
		}
		now := s.clock.Now()
		for _, c := range certs {
			fmt.Fprintf(stdout, "%-32s %-8s %s  until %s\n", c.Name, c.Status(now), c.Serial, c.NotAfter.Format(time.RFC3339))
		}
		return nil
	case "revoke":
		name := fs.String("name", "", "the `identity`")
		if err = parseRequired(fs, args, "dir", dir, "name", name); err != nil {
			return err
		}
		c, err := pki.Revoke(*dir, *name, pki.Options{Clock: s.clock})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked %s (serial %s); the embedded broker reads the new %s at the next connection, Mosquitto once reloaded (systemctl reload mosquitto)\n", c.Name, c.Serial, pki.CRLFile)
		return nil
	case "acl":
		bridgeCfg := fs.String("bridge", "", "the bridge's configuration `file` (a site bus's ACL)")
		central := fs.Bool("central", false, "central's broker's ACL")
		sites := fs.String("sites", "", "with -central, the site `codes`, comma-separated")
		out := fs.String("o", "", "write to `file` instead of standard output")
		if err := cli.Parse(fs, args, 0); err != nil {
			return err
		}
		text, err := aclText(*bridgeCfg, *dir, *central, *sites, fs.Output())
		if err != nil {
			return err
		}
		if *out == "" {
			_, err = io.WriteString(stdout, text)
			return err
		}
		if err := os.WriteFile(*out, []byte(text), 0o644); err != nil {
			return fmt.Errorf("pki acl: %w", err)
		}
		return nil
	default:
		fmt.Fprintf(stderr, "apedge pki: unknown subcommand %q\nUsage: %s\n", sub, pkiUsage)
		return cli.ErrUsage
	}
}

// aclText is the ACL apedge pki acl writes.
func aclText(bridgeCfg, dir string, central bool, sites string, usage io.Writer) (string, error) {
	switch {
	case central && bridgeCfg == "" && sites != "":
		return pki.CentralACL(strings.Split(sites, ",")), nil
	case !central && bridgeCfg != "" && sites == "":
	default:
		fmt.Fprintln(usage, "apedge pki acl: give -bridge FILE, or -central with -sites")
		return "", cli.ErrUsage
	}
	b, err := config.LoadBridge(bridgeCfg)
	if err != nil {
		return "", err
	}
	site := pki.Site{Code: b.Site, Classes: bridgeClasses(b)}
	if dir != "" {
		certs, err := pki.List(dir)
		if err != nil {
			return "", err
		}
		for _, c := range certs {
			if id, err := pki.ParseIdentity(c.Name); err == nil && id.Role == pki.RoleDevice && !c.Revoked {
				site.Devices = append(site.Devices, id)
			}
		}
	}
	return pki.ACL(site), nil
}

// parseRequired parses args with no stray arguments and checks that each named flag
// (name, value pairs) was given.
func parseRequired(fs *flag.FlagSet, args []string, pairs ...any) error {
	if err := cli.Parse(fs, args, 0); err != nil {
		return err
	}
	for i := 0; i+1 < len(pairs); i += 2 {
		if err := cli.Required(fs, pairs[i].(string), *pairs[i+1].(*string)); err != nil {
			return err
		}
	}
	return nil
}

// bridgeClasses are the site-bus classes the bridge of b publishes: those of the
// devices it configures.
func bridgeClasses(b *config.Bridge) []string {
	var cs []string
	for _, c := range []struct {
		class string
		has   bool
	}{
		{"door", len(b.Doors) > 0},
		{"reader", len(b.Readers()) > 0},
		{"camera", len(b.Cameras) > 0},
		{"substance-tester", len(b.SubstanceTesters) > 0},
		{sitebus.ClassBiometric, len(b.FingerprintTerminals) > 0},
		{sitebus.ClassPATTester, len(b.PATTesters) > 0},
	} {
		if c.has {
			cs = append(cs, c.class)
		}
	}
	return cs
}
