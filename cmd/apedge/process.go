package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/apedge/apedge/agent"
	"github.com/apedge/apedge/agent/console"
	"github.com/apedge/apedge/agent/staff"
	"github.com/apedge/apedge/central"
	"github.com/apedge/apedge/config"
	bridge "github.com/apedge/apedge/firmware-bridge"
	"github.com/apedge/apedge/sitekey"
	"github.com/apedge/apedge/verify"
)

func cmdAgent(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("agent", "apedge agent -config FILE [-check-config]", stderr)
	path := fs.String("config", "", "agent configuration `file` (YAML)")
	check := fs.Bool("check-config", false, "validate the configuration and exit")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if err := required(fs, "config", *path); err != nil {
		return err
	}
	cfg, err := config.LoadAgent(*path)
	if err != nil {
		return err
	}
	if *check {
		fmt.Fprintf(stdout, "%s: ok\n", *path)
		return nil
	}
	log := newLogger(cfg.Log, stderr)
	a, err := agent.New(ctx, cfg, log)
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
	if err := firstAdmin(ctx, svc.Staff, cfg.Console, stderr); err != nil {
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

// isTerminal says whether r is a terminal.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// firstAdmin makes the first admin account when there is none: from the password file
// the configuration names, or by asking on the terminal. With neither, the console
// runs with nobody able to sign in, and says so.
func firstAdmin(ctx context.Context, st *staff.Store, c config.Console, stderr io.Writer) error {
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
	case isTerminal(ctlStdin):
		fmt.Fprintln(stderr, "apedge agent: there are no staff accounts yet: make the first admin now.")
		fmt.Fprint(stderr, "admin name: ")
		name, err := bufio.NewReader(ctlStdin).ReadString('\n')
		if err != nil {
			return fmt.Errorf("first admin: %w", err)
		}
		pw, err := ctlPassword(ctx, stderr, "password (12 characters or more): ", "again: ")
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

func cmdBridge(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("bridge", "apedge bridge -config FILE [-check-config]", stderr)
	path := fs.String("config", "", "bridge configuration `file` (YAML)")
	check := fs.Bool("check-config", false, "validate the configuration and exit")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if err := required(fs, "config", *path); err != nil {
		return err
	}
	cfg, err := config.LoadBridge(*path)
	if err != nil {
		return err
	}
	if *check {
		for _, id := range cfg.Insecure() {
			fmt.Fprintf(stderr, "warning: reader %s runs without secure channel (insecure: true): card numbers cross the wire in clear; not for a live site\n", id)
		}
		fmt.Fprintf(stdout, "%s: ok\n", *path)
		return nil
	}
	return bridge.New(cfg, newLogger(cfg.Log, stderr)).Run(ctx)
}

func cmdCentral(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "export" {
		return cmdCentralExport(ctx, args[1:], stdout, stderr)
	}
	fs := flags("central", "apedge central -config FILE [-check-config]\n       apedge central export -config FILE -site CODE [-o FILE]", stderr)
	path := fs.String("config", "", "central configuration `file` (YAML)")
	check := fs.Bool("check-config", false, "validate the configuration and exit")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if err := required(fs, "config", *path); err != nil {
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

func cmdCentralExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("central export", "apedge central export -config FILE -site CODE [-o FILE]\n\nWrites the site's stored envelopes, exactly as received, as JSON lines in seq order.", stderr)
	path := fs.String("config", "", "central configuration `file` (YAML)")
	site := fs.String("site", "", "site `code` to export")
	out := fs.String("o", "", "write to `file` instead of standard output")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if err := required(fs, "config", *path); err != nil {
		return err
	}
	if err := required(fs, "site", *site); err != nil {
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
	n, err := central.Export(ctx, cfg.Database, *site, w)
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

func cmdKeygen(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("keygen", "apedge keygen -site CODE -out DIR\n\nWrites DIR/CODE.key (mode 0600) and DIR/CODE.pub and prints the key id.", stderr)
	site := fs.String("site", "", "the AP's site `code`")
	out := fs.String("out", "", "`directory` for the key files")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if err := required(fs, "site", *site); err != nil {
		return err
	}
	if err := required(fs, "out", *out); err != nil {
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

func cmdVerify(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("verify", "apedge verify -pubkey FILE EXPORT.jsonl\n\nChecks every signature and the hash chain of an export from `apedge central export`;\nfails naming the first bad entry.", stderr)
	pubPath := fs.String("pubkey", "", "the site's public key `file`")
	if err := parse(fs, args, 1); err != nil {
		return err
	}
	if err := required(fs, "pubkey", *pubPath); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "verify: name the export file")
		return errUsage
	}
	pub, err := sitekey.LoadPublic(*pubPath, "")
	if err != nil {
		return err
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	res, err := verify.Export(f, pub)
	if err != nil {
		return fmt.Errorf("%s: FAILED: %w", fs.Arg(0), err)
	}
	fmt.Fprintf(stdout, "%s: OK: %d events of site %s, seq %d..%d, every signature valid (key %s), chain unbroken\n",
		fs.Arg(0), res.Count, res.Site, res.FirstSeq, res.LastSeq, pub.ID)
	return nil
}
