// Command apedge is the single binary of an Approved Premises site: the agent, the
// firmware bridge, the reference central receiver, the demo site, and the tools around
// them (keygen, verify, export). Run `apedge help` for the subcommands.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

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
  sim       a simulated OSDP reader:       apedge sim osdp-pd -pty -addr 1
  curfew    a resident's curfew windows:   apedge curfew windows -config agent.yaml -crn CRN -from DATE -to DATE [-json]
  resident  record an arrival, departure or approved absence:
            apedge resident arrive|depart|absence -config agent.yaml -crn CRN -by STAFF ...
  ctl       the site console from the command line (status, residents, alarms, export, users):
            apedge ctl login -user NAME; apedge ctl status; apedge ctl -h
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// errUsage marks bad input; its message has already been printed by the flag set.
var errUsage = errors.New("usage")

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmds := map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"demo":     cmdDemo,
		"agent":    cmdAgent,
		"bridge":   cmdBridge,
		"central":  cmdCentral,
		"keygen":   cmdKeygen,
		"verify":   cmdVerify,
		"sim":      cmdSim,
		"curfew":   cmdCurfew,
		"resident": cmdResident,
		"ctl":      cmdCtl,
	}
	name := args[0]
	if name == "help" || name == "-h" || name == "--help" || name == "-help" {
		fmt.Fprint(stdout, usage)
		return 0
	}
	cmd, ok := cmds[name]
	if !ok {
		fmt.Fprintf(stderr, "apedge: unknown command %q (run apedge help)\n", name)
		return 2
	}
	err := cmd(ctx, args[1:], stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintf(stderr, "apedge %s: %s\n", name, oneLine(err.Error()))
		return 1
	}
}

func oneLine(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), "\n", "; ") }

// flags returns a flag set for a subcommand that prints its usage to stderr.
func flags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s\n\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args, mapping flag errors to errUsage and rejecting stray arguments
// beyond nargs. The usage is printed only for -h; any other flag error is one line.
func parse(fs *flag.FlagSet, args []string, nargs int) error {
	out := fs.Output()
	var buf bytes.Buffer
	fs.SetOutput(&buf) // the flag package prints the error and the whole usage
	err := fs.Parse(args)
	fs.SetOutput(out)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			out.Write(buf.Bytes())
			return err
		}
		fmt.Fprintf(out, "%s: %s (see apedge %s -h)\n", fs.Name(), oneLine(err.Error()), fs.Name())
		return errUsage
	}
	if fs.NArg() > nargs {
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\n", fs.Name(), fs.Arg(nargs))
		return errUsage
	}
	return nil
}

// required reports a missing flag as a usage error.
func required(fs *flag.FlagSet, name, value string) error {
	if value == "" {
		fmt.Fprintf(fs.Output(), "%s: -%s is required\n", fs.Name(), name)
		return errUsage
	}
	return nil
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
