// Command apedge is the single binary of an Approved Premises site: the agent, the
// firmware bridge, the reference central receiver, the demo site, and the tools around
// them (keygen, verify, export). Run `apedge help` for the subcommands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/apedge/apedge/cmd/apedge/internal/cli"
	"github.com/apedge/apedge/cmd/apedge/internal/ctl"
	"github.com/apedge/apedge/internal/clock"
	"github.com/apedge/apedge/internal/config"
)

const usage = `apedge: the Approved Premises site security and substance-testing controller

Usage: apedge COMMAND [flags]   (every command takes -h)

  demo      the whole site on embedded defaults (what 'make run' runs)
  agent     run the site agent:            apedge agent -config agent.yaml
  bridge    run the firmware bridge:       apedge bridge -config bridge.yaml
  central   run the central receiver:      apedge central -config central.yaml
            apedge central export -config central.yaml -site CODE [-o FILE]
  keygen    make a site signing key:       apedge keygen -site CODE -out DIR
  verify    check evidence offline:        apedge verify -pubkey FILE EXPORT.jsonl | -bundle FILE
  sim       simulated devices:             apedge sim osdp-pd -pty -addr 1 | sim camera -h | sim substance -kind breath-alcohol -pty
  curfew    a resident's curfew windows:   apedge curfew windows -config agent.yaml -crn CRN -from DATE -to DATE [-json]
  resident  record an arrival, a change of details, a departure or an approved absence:
            apedge resident arrive|update|depart|absence -config agent.yaml -crn CRN -by STAFF ...
  pki       the site CA for the MQTT brokers (client certificates, revocation, ACLs):
            apedge pki init|issue|list|revoke|acl -dir DIR ...   (apedge pki -h)
  ctl       the site console from the command line (status, residents, alarms, export, users):
            apedge ctl login -user NAME; apedge ctl status; apedge ctl -h
  camera    check a CCTV camera once, as the bridge would: apedge camera probe [-for 5s] [-json] URL
  fingerprint  one fingerprint terminal, directly: apedge fingerprint -tty PATH info|list|delete SLOT|empty -yes|verify
  version   the version and the commit it was built from
`

// main runs the command with the process's standard streams and the system clock.
func main() {
	s := sys{stdin: os.Stdin, clock: clock.System()}
	os.Exit(run(s, os.Args[1:], os.Stdout, os.Stderr))
}

// sys is what some commands take from the process beyond their arguments and output:
// its standard input and its clock. main makes the one sys of the process.
type sys struct {
	stdin io.Reader
	clock clock.Clock
}

// run runs the command args names and returns the process's exit status.
func run(s sys, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmds := map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"demo":        s.cmdDemo,
		"agent":       s.cmdAgent,
		"bridge":      s.cmdBridge,
		"central":     cmdCentral,
		"keygen":      cmdKeygen,
		"verify":      cmdVerify,
		"sim":         s.cmdSim,
		"curfew":      cmdCurfew,
		"resident":    s.cmdResident,
		"pki":         s.cmdPKI,
		"version":     cmdVersion,
		"camera":      s.cmdCamera,
		"fingerprint": s.cmdFingerprint,
	}
	name := args[0]
	if name == "help" || name == "-h" || name == "--help" || name == "-help" {
		fmt.Fprint(stdout, usage)
		return 0
	}
	if name == "ctl" {
		return s.ctl(ctx, args[1:], stdout, stderr)
	}
	cmd, ok := cmds[name]
	if !ok {
		fmt.Fprintf(stderr, "apedge: unknown command %q (run apedge help)\n", name)
		return 2
	}
	return exit(name, cmd(ctx, args[1:], stdout, stderr), stderr)
}

// exit maps the error of the command name to its exit status: 0 for none (or -h), 2
// for bad usage (already reported), else 1, with the error on one line of stderr.
func exit(name string, err error, stderr io.Writer) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, cli.ErrUsage):
		return 2
	default:
		fmt.Fprintf(stderr, "apedge %s: %s\n", name, cli.OneLine(err.Error()))
		return 1
	}
}

// ctl runs apedge ctl, the site console's command-line client (package ctl), but for
// apedge ctl keygen, which is apedge keygen.
func (s sys) ctl(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "keygen" {
		return exit("ctl", cmdKeygen(ctx, args[1:], stdout, stderr), stderr)
	}
	return ctl.Main(ctx, args, ctl.Env{Stdin: s.stdin, Stdout: stdout, Stderr: stderr})
}

// newLogger makes the slog logger a configuration asks for, on w.
func newLogger(c config.Log, w io.Writer) *slog.Logger {
	lvl := slog.LevelInfo
	_ = lvl.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
