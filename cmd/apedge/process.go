package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/apedge/apedge/agent"
	"github.com/apedge/apedge/agent/console"
	"github.com/apedge/apedge/agent/staff"
	"github.com/apedge/apedge/central"
	"github.com/apedge/apedge/cmd/apedge/internal/cli"
	"github.com/apedge/apedge/devices/doorio"
	"github.com/apedge/apedge/devices/osdp"
	dsub "github.com/apedge/apedge/devices/substance"
	bridge "github.com/apedge/apedge/firmware-bridge"
	"github.com/apedge/apedge/formats/proof"
	"github.com/apedge/apedge/formats/sitekey"
	"github.com/apedge/apedge/formats/verify"
	"github.com/apedge/apedge/internal/clock"
	"github.com/apedge/apedge/internal/config"
	"periph.io/x/conn/v3/gpio/gpioreg"
)

// cmdAgent runs the site agent and, unless the configuration turns it off, its
// console; with no staff accounts yet it makes the first admin from s.stdin.
func (s sys) cmdAgent(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.Flags("agent", "apedge agent -config FILE [-check-config]", stderr)
	path := fs.String("config", "", "agent configuration `file` (YAML)")
	check := fs.Bool("check-config", false, "validate the configuration and exit")
	if err := cli.Parse(fs, args, 0); err != nil {
		return err
	}
	if err := cli.Required(fs, "config", *path); err != nil {
		return err
	}
	cfg, err := config.LoadAgent(*path)
	if err != nil {
		return err
	}
	if *check {
		if err := checkAgentStart(*path, cfg); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: ok\n", *path)
		return nil
	}
	log := newLogger(cfg.Log, stderr)
	if os.Getenv("GOMEMLIMIT") == "" {
		// The agent lives on a small box beside the bridge, within 60 MB: let the
		// garbage collector work harder before the heap grows past this.
		debug.SetMemoryLimit(agentMemoryLimit)
	}
	a, err := agent.New(ctx, cfg, log, agentOptions(s.clock)...)
	if err != nil {
		return err
	}
	defer a.Close()
	if cfg.Console.Off {
		return a.Run(ctx)
	}
	svc, err := console.Open(ctx, a, cfg, log)
	if err != nil {
		return err
	}
	defer svc.Close()
	if err := firstAdmin(ctx, svc.Staff, cfg.Console, s.stdin, stderr); err != nil {
		return err
	}
	log.Info("site console", "url", svc.URL())
	consoleCtx, stopConsole := context.WithCancel(context.WithoutCancel(ctx))
	consoleDone := make(chan error, 1)
	go func() { consoleDone <- svc.Run(consoleCtx) }()
	runErr := a.Run(ctx)
	stopConsole()
	if err := <-consoleDone; runErr == nil {
		runErr = err
	}
	return runErr
}

// agentMemoryLimit is the agent's soft memory limit (runtime/debug.SetMemoryLimit),
// unless GOMEMLIMIT sets another.
const agentMemoryLimit = 40 << 20

// firstAdmin makes the first admin account when there is none: from the password file
// the configuration names, or by asking on the terminal stdin. With neither, the
// console runs with nobody able to sign in, and says so.
func firstAdmin(ctx context.Context, st *staff.Store, c config.Console, stdin io.Reader, stderr io.Writer) error {
	n, err := st.Count(ctx)
	if err != nil || n > 0 {
		return err
	}
	switch {
	case c.FirstAdmin != nil:
		b, err := os.ReadFile(c.FirstAdmin.PasswordFile)
		if err != nil {
			return fmt.Errorf("console.firstAdmin: %w", err)
		}
		if _, err := st.Add(ctx, c.FirstAdmin.Name, staff.RoleAdmin, strings.TrimRight(string(b), "\r\n")); err != nil {
			return fmt.Errorf("console.firstAdmin: %w", err)
		}
		fmt.Fprintf(stderr, "apedge agent: made the first admin account %q from %s; you may delete that file now\n", c.FirstAdmin.Name, c.FirstAdmin.PasswordFile)
	case cli.IsTerminal(stdin):
		fmt.Fprintln(stderr, "apedge agent: there are no staff accounts yet: make the first admin now.")
		fmt.Fprint(stderr, "admin name: ")
		name, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil {
			return fmt.Errorf("first admin: %w", err)
		}
		pw, err := cli.ReadPassword(ctx, stdin, stderr, "password (12 characters or more): ", "again: ")
		if err != nil {
			return fmt.Errorf("first admin: %w", err)
		}
		if _, err := st.Add(ctx, strings.TrimSpace(name), staff.RoleAdmin, pw); err != nil {
			return fmt.Errorf("first admin: %w", err)
		}
	default:
		fmt.Fprintln(stderr, "apedge agent: WARNING: there are no staff accounts, so nobody can sign in to the console. "+
			"Start the agent once on a terminal to make the first admin, or set console.firstAdmin (name and a 0600 passwordFile).")
	}
	return nil
}

// cmdBridge runs the firmware bridge on the clock s.clock.
func (s sys) cmdBridge(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.Flags("bridge", "apedge bridge -config FILE [-check-config]", stderr)
	path := fs.String("config", "", "bridge configuration `file` (YAML)")
	check := fs.Bool("check-config", false, "validate the configuration and exit")
	if err := cli.Parse(fs, args, 0); err != nil {
		return err
	}
	if err := cli.Required(fs, "config", *path); err != nil {
		return err
	}
	cfg, err := config.LoadBridge(*path)
	if err != nil {
		return err
	}
	if *check {
		warnings, err := checkBridgeStart(*path, cfg)
		if err != nil {
			return err
		}
		for _, w := range warnings {
			fmt.Fprintf(stderr, "warning: %s\n", w)
		}
		for _, id := range cfg.Insecure() {
			fmt.Fprintf(stderr, "warning: reader %s runs without secure channel (insecure: true): card numbers cross the wire in clear; not for a live site\n", id)
		}
		fmt.Fprintf(stdout, "%s: ok\n", *path)
		return nil
	}
	return bridge.New(cfg, newLogger(cfg.Log, stderr), bridge.WithClock(s.clock)).Run(ctx)
}

// cmdCentral runs the central receiver, or one of its tools (export, prove, checkpoint).
func cmdCentral(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "export":
			return cmdCentralExport(ctx, args[1:], stdout, stderr)
		case "prove":
			return cmdCentralProve(ctx, args[1:], stdout, stderr)
		case "checkpoint":
			return cmdCentralCheckpoint(ctx, args[1:], stdout, stderr)
		}
	}
	fs := cli.Flags("central", "apedge central -config FILE [-check-config]\n       apedge central export -config FILE -site CODE [-o FILE]\n       apedge central prove -config FILE -site CODE -seq N [-o FILE]\n       apedge central checkpoint -config FILE -site CODE [-o FILE]", stderr)
	path := fs.String("config", "", "central configuration `file` (YAML)")
	check := fs.Bool("check-config", false, "validate the configuration and exit")
	if err := cli.Parse(fs, args, 0); err != nil {
		return err
	}
	if err := cli.Required(fs, "config", *path); err != nil {
		return err
	}
	cfg, err := config.LoadCentral(*path)
	if err != nil {
		return err
	}
	if *check {
		fmt.Fprintf(stdout, "%s: ok\n", *path)
		return nil
	}
	s, err := central.NewServer(ctx, cfg, newLogger(cfg.Log, stderr))
	if err != nil {
		return err
	}
	return s.Run(ctx)
}

// centralSiteFlags parses the -config and -site flags shared by central's tools, and
// -o, and loads the configuration.
func centralSiteFlags(fs *flag.FlagSet, args []string, extra func() error) (*config.Central, string, string, error) {
	path := fs.String("config", "", "central configuration `file` (YAML)")
	site := fs.String("site", "", "site `code`")
	out := fs.String("o", "", "write to `file` instead of standard output")
	if err := cli.Parse(fs, args, 0); err != nil {
		return nil, "", "", err
	}
	if err := cli.Required(fs, "config", *path); err != nil {
		return nil, "", "", err
	}
	if err := cli.Required(fs, "site", *site); err != nil {
		return nil, "", "", err
	}
	if extra != nil {
		if err := extra(); err != nil {
			return nil, "", "", err
		}
	}
	if !sitekey.ValidSiteCode(*site) {
		return nil, "", "", fmt.Errorf("-site %q is not a site code", *site)
	}
	cfg, err := config.LoadCentral(*path)
	if err != nil {
		return nil, "", "", err
	}
	return cfg, *site, *out, nil
}

// writeOut writes b to the file out (mode 0644: evidence to hand over), or to stdout.
func writeOut(out string, b []byte, stdout io.Writer) error {
	if out == "" {
		_, err := stdout.Write(b)
		return err
	}
	return os.WriteFile(out, b, 0o644)
}

// cmdCentralProve is apedge central prove: one event's proof bundle.
func cmdCentralProve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.Flags("central prove", "apedge central prove -config FILE -site CODE -seq N [-o FILE]\n\nWrites the proof bundle of the site's event seq: its envelope as stored, its inclusion\nproof in the site's Merkle log, and the latest verified checkpoint it is proved against.\nCheck it anywhere with: apedge verify -pubkey SITE.pub -bundle FILE", stderr)
	seq := fs.Uint64("seq", 0, "the event's `seq`")
	cfg, site, out, err := centralSiteFlags(fs, args, func() error {
		if *seq == 0 {
			fmt.Fprintln(stderr, "apedge central prove: -seq is required (from 1)")
			return cli.ErrUsage
		}
		return nil
	})
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := central.Prove(ctx, cfg.Database, site, *seq, &b); err != nil {
		return err
	}
	if err := writeOut(out, b.Bytes(), stdout); err != nil {
		return err
	}
	if out != "" {
		fmt.Fprintf(stderr, "wrote the proof bundle of %s-%d to %s; check it with apedge verify -pubkey %s.pub -bundle %s\n", site, *seq, out, site, out)
	}
	return nil
}

// cmdCentralCheckpoint is apedge central checkpoint: a site's latest verified checkpoint.
func cmdCentralCheckpoint(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.Flags("central checkpoint", "apedge central checkpoint -config FILE -site CODE [-o FILE]\n\nWrites the site's latest verified signed checkpoint (its note text), to check an export\nwith: apedge verify -pubkey SITE.pub -checkpoint FILE EXPORT.jsonl", stderr)
	cfg, site, out, err := centralSiteFlags(fs, args, nil)
	if err != nil {
		return err
	}
	note, size, err := central.LatestCheckpoint(ctx, cfg.Database, site)
	if err != nil {
		return err
	}
	if err := writeOut(out, note, stdout); err != nil {
		return err
	}
	if out != "" {
		fmt.Fprintf(stderr, "wrote %s's checkpoint of %d events to %s\n", site, size, out)
	}
	return nil
}

// cmdCentralExport is apedge central export: a site's stored envelopes, as received.
func cmdCentralExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.Flags("central export", "apedge central export -config FILE -site CODE [-o FILE]\n\nWrites the site's stored envelopes, exactly as received, as JSON lines in seq order.", stderr)
	path := fs.String("config", "", "central configuration `file` (YAML)")
	site := fs.String("site", "", "site `code` to export")
	out := fs.String("o", "", "write to `file` instead of standard output")
	if err := cli.Parse(fs, args, 0); err != nil {
		return err
	}
	if err := cli.Required(fs, "config", *path); err != nil {
		return err
	}
	if err := cli.Required(fs, "site", *site); err != nil {
		return err
	}
	if !sitekey.ValidSiteCode(*site) {
		return fmt.Errorf("-site %q is not a site code", *site)
	}
	cfg, err := config.LoadCentral(*path)
	if err != nil {
		return err
	}
	w, f := stdout, (*os.File)(nil)
	if *out != "" {
		if f, err = os.Create(*out); err != nil {
			return err
		}
		w = f
	}
	// Progress on a terminal, unless the export itself goes there.
	var prog *progress
	if *out != "" || !cli.IsTerminal(stdout) {
		prog = newProgress(stderr, -1, "exporting", "events", false)
		w = &lineWriter{w: w, p: prog}
	}
	n, err := central.Export(ctx, cfg.Database, *site, w)
	prog.done()
	if err == nil && n == 0 {
		err = fmt.Errorf("no stored events for site %s", *site)
	}
	if f == nil {
		return err
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("write %s: %w", *out, cerr)
	}
	if err != nil {
		os.Remove(*out) // a partial export must not be left to pass for a whole one
		return err
	}
	fmt.Fprintf(stderr, "exported %d events of %s to %s\n", n, *site, *out)
	return nil
}

// cmdKeygen is apedge keygen (and apedge ctl keygen): a new site signing key.
func cmdKeygen(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.Flags("keygen", "apedge keygen -site CODE -out DIR\n\nWrites DIR/CODE.key (mode 0600) and DIR/CODE.pub and prints the key id.", stderr)
	site := fs.String("site", "", "the AP's site `code`")
	out := fs.String("out", "", "`directory` for the key files")
	if err := cli.Parse(fs, args, 0); err != nil {
		return err
	}
	if err := cli.Required(fs, "site", *site); err != nil {
		return err
	}
	if err := cli.Required(fs, "out", *out); err != nil {
		return err
	}
	k, err := sitekey.Generate(*site, nil)
	if err != nil {
		return err
	}
	priv, pub, err := sitekey.Write(*out, k)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "site:        %s\nkey id:      %s\nprivate key: %s (mode 0600; keep it on the site box)\npublic key:  %s (give it to central's trust list)\n", k.Site, k.ID, priv, pub)
	return nil
}

const verifyUsage = `apedge verify -pubkey FILE[,FILE...] EXPORT.jsonl
apedge verify -pubkey FILE[,FILE...] -checkpoint FILE EXPORT.jsonl
apedge verify -pubkey FILE[,FILE...] -bundle FILE

Checks apedge's evidence offline, with nothing but the site's public key (or keys, one
file each, when the site has rotated its key):
  EXPORT.jsonl   an export from apedge central export or apedge ctl export: every
                 signature and the hash chain from seq 1; fails naming the first bad entry.
  -checkpoint    also that the export's first events hash to the Merkle root of a signed
                 checkpoint of the site's log (its note text, as apedge central checkpoint
                 writes it), so that nothing in them was changed, dropped or reordered.
  -bundle        one event's proof bundle (apedge central prove): its signature, its
                 inclusion in the site's Merkle log, and the checkpoint it is proved against.`

// cmdVerify is apedge verify: evidence checked offline with the site's public keys.
func cmdVerify(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.Flags("verify", verifyUsage, stderr)
	pubPaths := fs.String("pubkey", "", "the site's public key `file`s, comma-separated")
	bundlePath := fs.String("bundle", "", "a proof bundle `file`")
	cpPath := fs.String("checkpoint", "", "a signed checkpoint `file` to check the export against")
	if err := cli.Parse(fs, args, 1); err != nil {
		return err
	}
	if err := cli.Required(fs, "pubkey", *pubPaths); err != nil {
		return err
	}
	var keys []*sitekey.Public
	for _, p := range strings.Split(*pubPaths, ",") {
		pub, err := sitekey.LoadPublic(p, "")
		if err != nil {
			return err
		}
		if len(keys) > 0 && pub.Site != keys[0].Site {
			return fmt.Errorf("%s is a key of site %s, %s of site %s: give the keys of one site", p, pub.Site, strings.Split(*pubPaths, ",")[0], keys[0].Site)
		}
		keys = append(keys, pub)
	}
	site := keys[0].Site
	if *bundlePath != "" {
		if fs.NArg() != 0 || *cpPath != "" {
			fmt.Fprintln(stderr, "apedge verify: -bundle takes no export and no -checkpoint")
			return cli.ErrUsage
		}
		b, err := os.ReadFile(*bundlePath)
		if err != nil {
			return err
		}
		if proof.IsSet(b) { // a resident's events for a hearing: a set of bundles
			set, err := proof.VerifySet(b, keys)
			if err != nil {
				return fmt.Errorf("%s: FAILED: %w", *bundlePath, err)
			}
			seqs := make([]string, len(set.Events))
			for i, e := range set.Events {
				seqs[i] = strconv.FormatUint(e.Seq, 10)
			}
			events := "events"
			if len(set.Events) == 1 {
				events = "event"
			}
			fmt.Fprintf(stdout, "%s: OK: %d %s of site %s's log about %s, from %s to %s, each proved against a signed checkpoint: seqs %s\n",
				*bundlePath, len(set.Events), events, set.Site, set.Subject, set.From.UTC().Format(time.RFC3339), set.To.UTC().Format(time.RFC3339), strings.Join(seqs, ", "))
			return nil
		}
		v, err := proof.VerifyBundle(b, keys)
		if err != nil {
			return fmt.Errorf("%s: FAILED: %w", *bundlePath, err)
		}
		fmt.Fprintf(stdout, "%s: OK: event %s (%s, occurred %s) is entry %d of site %s's log, signed by key %s; proved in the log of %d entries with root %s, checkpoint signed by key %s\n",
			*bundlePath, v.EventID, v.Type, v.OccurredAt.UTC().Format(time.RFC3339), v.Seq, v.Site, v.KeyID, v.TreeSize,
			base64.StdEncoding.EncodeToString(v.Root[:]), v.CheckpointKeyID)
		return nil
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "apedge verify: name the export file (or give -bundle)")
		return cli.ErrUsage
	}
	file, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer file.Close()
	// Progress through the file on a terminal, erased before the result is printed.
	prog := newProgress(stderr, fileSize(file), "verifying", "", true)
	defer prog.done()
	f := prog.reader(file)
	if *cpPath != "" {
		cp, err := os.ReadFile(*cpPath)
		if err != nil {
			return err
		}
		res, err := proof.CheckExport(f, cp, site, keys)
		prog.done()
		if err != nil {
			return fmt.Errorf("%s: FAILED: %w", fs.Arg(0), err)
		}
		fmt.Fprintf(stdout, "%s: OK: %d events of site %s, seq 1..%d, every signature valid (keys %s), chain unbroken; the first %d hash to the checkpoint's root %s (signed by key %s)\n",
			fs.Arg(0), res.Count, res.Site, res.LastSeq, strings.Join(res.KeyIDs, ", "), res.CheckpointSize,
			base64.StdEncoding.EncodeToString(res.Root[:]), res.CheckpointKeyID)
		return nil
	}
	if len(keys) > 1 {
		// An export across a key rotation: every line checked with any of the keys.
		res, err := proof.CheckExport(f, nil, site, keys)
		prog.done()
		if err != nil {
			return fmt.Errorf("%s: FAILED: %w", fs.Arg(0), err)
		}
		fmt.Fprintf(stdout, "%s: OK: %d events of site %s, seq 1..%d, every signature valid (keys %s), chain unbroken\n",
			fs.Arg(0), res.Count, res.Site, res.LastSeq, strings.Join(res.KeyIDs, ", "))
		return nil
	}
	res, err := verify.Export(f, keys[0])
	prog.done()
	if err != nil {
		return fmt.Errorf("%s: FAILED: %w", fs.Arg(0), err)
	}
	fmt.Fprintf(stdout, "%s: OK: %d events of site %s, seq %d..%d, every signature valid (key %s), chain unbroken\n",
		fs.Arg(0), res.Count, res.Site, res.FirstSeq, res.LastSeq, keys[0].ID)
	return nil
}

// checkAgentStart makes -check-config catch what the agent's start-up would, beyond
// config.LoadAgent: that the key at key: is the site's (its Site header), and that it
// is the key the bridge verifies with (agentKey of devices.bridgeConfig), without
// which the bridge refuses every credential list and command the agent signs.
func checkAgentStart(path string, cfg *config.Agent) error {
	var probs []config.Problem
	key, err := sitekey.LoadPrivate(cfg.Key)
	switch {
	case err != nil:
		probs = append(probs, config.Problem{Field: "key", What: err.Error(), Fix: "point it at the site's private key from `apedge keygen -site " + cfg.Site + "`"})
	case key.Site != cfg.Site:
		probs = append(probs, config.Problem{Field: "key", What: cfg.Key + " is the key of site " + key.Site + ", not " + cfg.Site,
			Fix: "point it at site " + cfg.Site + "'s key (apedge keygen -site " + cfg.Site + "), or correct site"})
	default:
		b, err := config.LoadBridge(cfg.Devices.BridgeConfig)
		if err != nil {
			break // LoadAgent has said so
		}
		pub, err := sitekey.LoadPublic(b.AgentKey, b.Site)
		if err == nil && pub.ID != key.ID {
			probs = append(probs, config.Problem{Field: "key",
				What: fmt.Sprintf("%s has key id %s, but the bridge (%s) verifies with agentKey %s, key id %s", cfg.Key, key.ID, cfg.Devices.BridgeConfig, b.AgentKey, pub.ID),
				Fix:  "give the bridge this key's .pub as agentKey, or point key at the private key of " + b.AgentKey})
		}
	}
	if len(probs) == 0 {
		return nil
	}
	return &config.Error{File: path, Problems: probs}
}

// checkBridgeStart makes -check-config catch what the bridge's start-up would, beyond
// config.LoadBridge: every OSDP port that is not "simulated" must exist, and on a site
// that is not simulated every GPIO pin must be one this machine has (gpioreg.ByName
// after doorio.HostInit, as the doors' start-up looks them up).
func checkBridgeStart(path string, cfg *config.Bridge) (warnings []string, err error) {
	var probs []config.Problem
	for i, bus := range cfg.OSDP {
		if bus.Port == config.SimulatedPort {
			continue
		}
		st, err := os.Stat(bus.Port)
		switch {
		case err != nil:
			probs = append(probs, config.Problem{Field: fmt.Sprintf("osdp[%d].port", i), What: bus.Port + " does not exist on this machine",
				Fix: "plug in the RS-485 adapter and name its device (ls /dev/serial/by-id), or use port: simulated with a simulate section"})
		case st.IsDir():
			probs = append(probs, config.Problem{Field: fmt.Sprintf("osdp[%d].port", i), What: bus.Port + " is a directory", Fix: "name the serial device, e.g. /dev/ttyUSB0"})
		}
	}
	for i, bus := range cfg.OSDP {
		for j, rc := range bus.Readers {
			if rc.SCBKFile == "" {
				continue
			}
			field := fmt.Sprintf("osdp[%d].readers[%d].scbkFile", i, j)
			key, err := config.ReadHexKey(rc.SCBKFile, osdp.KeyLen)
			if err == nil {
				var warn string
				if warn, err = osdp.CheckSCBK(key, rc.Install); warn != "" {
					warnings = append(warnings, fmt.Sprintf("reader %s (%s): %s", rc.ID, field, warn))
				}
			}
			if err != nil {
				probs = append(probs, config.Problem{Field: field, What: err.Error(), Fix: "write 32 random hex digits to it (openssl rand -hex 16 > FILE; chmod 600 FILE) and set the same key on the reader"})
			}
		}
	}
	if cfg.Simulate == nil && len(cfg.Doors) > 0 {
		hostErr := doorio.HostInit()
		for i, d := range cfg.Doors {
			f := fmt.Sprintf("doors[%d]", i)
			pins := []struct{ field, name string }{}
			if d.Contact != nil {
				pins = append(pins, struct{ field, name string }{f + ".contact.pin", d.Contact.Pin})
			}
			if d.ExitButton != nil {
				pins = append(pins, struct{ field, name string }{f + ".exitButton.pin", d.ExitButton.Pin})
			}
			if d.Lock != nil {
				pins = append(pins, struct{ field, name string }{f + ".lock.pin", d.Lock.Pin})
			}
			if w := d.Wiegand; w != nil {
				pins = append(pins, struct{ field, name string }{f + ".wiegand.d0", w.D0}, struct{ field, name string }{f + ".wiegand.d1", w.D1})
			}
			for _, p := range pins {
				if p.name == "" || gpioreg.ByName(p.name) != nil {
					continue
				}
				probs = append(probs, config.Problem{Field: p.field, What: fmt.Sprintf("pin %q not found on this machine", p.name), Fix: pinFix(hostErr)})
			}
		}
	}
	if len(probs) == 0 {
		return warnings, nil
	}
	return warnings, &config.Error{File: path, Problems: probs}
}

// pinFix says how to fix a pin name that this machine does not know, listing a few of
// the pins it does know.
func pinFix(hostErr error) string {
	if hostErr != nil {
		return "this machine's GPIO drivers did not load (" + hostErr.Error() + "): check the configuration on the site box"
	}
	all := gpioreg.All()
	if len(all) == 0 {
		return "this machine has no GPIO pins: check the configuration on the site box, or add simulate: to run simulated doors"
	}
	names := make([]string, 0, 6)
	for _, p := range all {
		if len(names) == 6 {
			names = append(names, "...")
			break
		}
		names = append(names, p.Name())
	}
	return "use a pin name this machine has, such as " + strings.Join(names, ", ")
}

// agentOptions are how every agent this command starts is made: on clk, with the
// published cut-offs of devices/substance for the drug panels its configuration does
// not set.
func agentOptions(clk clock.Clock) []agent.Option {
	return []agent.Option{agent.WithClock(clk),
		agent.WithCutoffDefaults(dsub.DefaultOralFluidCutoffs(), dsub.DefaultUrineCutoffs())}
}
