// Package ctl is `apedge ctl`: the site console from the command line. It works a
// running agent through the console's HTTP API (the one the dashboard uses) as a user
// signed in with `apedge ctl login`, whose token it keeps in a file of mode 0600, and
// prints what the agent answers as tables in UK local time or, with -json, as the
// agent's own JSON documents. What a user may do is the agent's to decide, by their
// role; the agent journals every action as a signed event naming them.
package ctl

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/apedge/apedge/cmd/apedge/internal/cli"
)

// usage is `apedge ctl -h`.
const usage = `apedge ctl COMMAND [flags]   (every command takes -h)

Works a running agent through its console API (the one the dashboard uses), as a user
signed in with apedge ctl login. What each user may do depends on their role (staff,
keyworker, security, manager, admin); the agent journals every action as a signed event
naming them.

  login     -user NAME                sign in; the password is read from the terminal
                                      without echo, or as one line of standard input
  logout                              revoke the token and remove the token file
  status                              agent, clock, bus, bridge, central, roll, alarms
  devices                             readers and doors with their health
  doors                               door states, locks and alarms
  cameras                             CCTV cameras: verdict, since when, figures, picture
  residents                           current residents: presence and curfew
  roll [-note TEXT]                   take a fire roll: everyone believed in the building now
  curfew-roll                         the latest curfew roll (23:00)
  resident  CRN [-from T] [-to T] [-bundle FILE]
                                      one resident's history in words, or its signed bundle
  alarms    [-all]                    open alarms (-all: acknowledged ones too)
  journal   [-type T] [-crn C] [-from TIME] [-to TIME] [-after SEQ] [-limit N]
                                      journal events (-type door.* matches a prefix)
  audit     [-after SEQ] [-limit N]   what staff did: arrivals, unlocks, acknowledgements
  delivery                            journal delivery to central
  arrive    -crn CRN -card ID[,ID] [-noms N] [-name NAME] [-room R] [-expected-departure DATE]
  update    -crn CRN [-card ID[,ID]] [-noms N] [-name NAME] [-room R] [-expected-departure DATE]   only what is given changes
  depart    -crn CRN
  absence   -crn CRN -id ID -from TIME -to TIME -approved-by NAME [-reason TEXT]
  unlock    -door ID -reason TEXT [-seconds N]
  ack       -alarm SEQ -note TEXT
  substance [list]                    substance testers, open tests (INVALID readings and why),
                                      tests awaiting a laboratory too long, unbound readings
  substance start -crn CRN -reason random|suspicion|arrival|return -sample breath|oral-fluid|urine
            [-device ID] -witness NAME [-test-id ID]
            [-auth-ref REF -auth-manager NAME -auth-from TIME -auth-to TIME]
                                      a drug test needs the manager's authorisation, in force
  substance result  -test ID          a test's results (every view is recorded in the audit log)
  substance refuse  -test ID -kind refused|unable -witness NAME
  substance urine   -test ID -lot LOT -expiry DATE -panel PANEL=RESULT [-panel ...]
  substance seal    -test ID -seal NUMBER
  substance custody -test ID -stage collected|dispatched|received
  substance lab     -test ID [-confirmed ANALYTE=METHOD ...] [-not-confirmed ANALYTE=METHOD ...]
  substance close   -test ID -note TEXT
  biometric [status]                  fingerprint terminals, residents' consent, fingers and
                                      attempts, deletions waiting for their proof, orphan slots
  biometric consent CRN -given|-declined
                                      record the resident's answer, taken by you
  biometric enrol   CRN -finger FINGER -terminal ID [-no-wait]
                                      enrol a finger, saying the terminal's prompts until done
  biometric cancel  ENROLMENT         cancel an enrolment under way
  biometric delete  CRN -yes          delete their templates everywhere, proven by read-back
  biometric pending                   deletions still waiting, longest first, OVERDUE marked
  biometric deletions                 every deletion, with the index table that proved it
  bwc       [status]                  body-worn camera docks and cameras: who has which since when,
                                      battery, offload, faults, why not issued, OVERDUE marked
  bwc issue CAMERA [-to STAFF]        issue a docked camera to a member of staff (roster id),
                                      in your name; a refusal says every reason
  pat [list] [-crn CRN] [-label L] [-status S]
                                      electrical items: owner, class, status, retest due, flagged
  pat show LABEL                      one item with its test history and each test's flags
  pat import FILE [-layout apedge|patorganiser]
                                      a PAT software's CSV export, all or nothing: validated
                                      here first (progress on a long file), then uploaded
  pat authorise LABEL                 authorise an item with a pass in date for use
  pat withdraw LABEL -reason TEXT     withdraw an item from use
  pat due                             items due for a retest within 14 days, and out of date
  pat labels [-crn CRN] [-label L] [-status S]
                                      the label list to print
  export    -o FILE                   the whole signed journal, to check with apedge verify
  users                               user accounts (admin)
  user add  -name NAME -role ROLE     the password is read twice from the terminal, or
                                      as one line of standard input
  user set  -name NAME [-role ROLE] [-disable|-enable] [-password]
  keygen    -site CODE -out DIR       the same as apedge keygen: makes the key where it runs

Flags every command but keygen takes, before or after the command's name:
  -url URL          the agent console (default $APEDGE_URL, else the one login signed in to,
                    else http://127.0.0.1:8080)
  -token-file FILE  where login keeps the token (default $APEDGE_TOKEN_FILE, else
                    apedge/token in the user configuration directory)
  -ca FILE          PEM CA certificate(s) to trust for an https URL
  -json             print the agent's JSON response as it is, as one document on one line
                    (a list is one JSON array), instead of a table

Times are shown in UK local time (Europe/London) as 2006-01-02 15:04. TIME arguments are
UK local (2026-11-22 14:00) or RFC 3339; journal -from and -to also take a date.`

// requestTimeout bounds every request but an export's.
const requestTimeout = 30 * time.Second

// globals are the flags every ctl command takes.
type globals struct {
	url, tokenFile, ca string
	json               bool
}

// register puts the global flags on fs, with g's values as their defaults.
func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.url, "url", g.url, "the agent console `URL` ($APEDGE_URL)")
	fs.StringVar(&g.tokenFile, "token-file", g.tokenFile, "the token `file` ($APEDGE_TOKEN_FILE)")
	fs.StringVar(&g.ca, "ca", g.ca, "PEM CA certificate `file` to trust for https")
	fs.BoolVar(&g.json, "json", g.json, "print the agent's JSON response as one document")
}

// runEnv is one run of a ctl command: the caller's streams and clock, and the global
// flags.
type runEnv struct {
	Env
	g globals
}

// flags returns the command's flag set with the global flags on it.
func (e *runEnv) flags(name, synopsis string) *flag.FlagSet {
	fs := cli.Flags("ctl "+name, synopsis, e.Stderr)
	e.g.register(fs)
	return fs
}

// command is one ctl command: it parses args, its flags after its name.
type command func(ctx context.Context, e *runEnv, args []string) error

// dispatch runs the subcommand of group (ctl substance, ctl biometric) args name,
// or def if they name none: -h prints synopsis, and an unknown name is a usage
// error listing subs.
func dispatch(ctx context.Context, e *runEnv, args []string, group, def, synopsis string, subs map[string]command) error {
	action := def
	if len(args) > 0 {
		switch {
		case args[0] == "-h" || args[0] == "-help" || args[0] == "--help":
			fmt.Fprintln(e.Stdout, synopsis)
			return nil
		case !strings.HasPrefix(args[0], "-"):
			action, args = args[0], args[1:]
		}
	}
	sub, ok := subs[action]
	if !ok {
		fmt.Fprintf(e.Stderr, "apedge ctl %s: unknown subcommand %q: say one of %s (apedge ctl %s -h)\n", group, action,
			strings.Join(slices.Sorted(maps.Keys(subs)), ", "), group)
		return cli.ErrUsage
	}
	return sub(ctx, e, args)
}

// commands are ctl's commands by name.
func commands() map[string]command {
	return map[string]command{
		"login":       cmdLogin,
		"logout":      cmdLogout,
		"status":      cmdStatus,
		"devices":     cmdDevices,
		"doors":       cmdDoors,
		"cameras":     cmdCameras,
		"residents":   cmdResidents,
		"roll":        cmdFireRoll,
		"curfew-roll": cmdRoll,
		"resident":    cmdResident,
		"alarms":      cmdAlarms,
		"journal":     cmdJournal,
		"audit":       cmdAudit,
		"delivery":    cmdDelivery,
		"arrive":      cmdArrive,
		"update":      cmdUpdate,
		"depart":      cmdDepart,
		"absence":     cmdAbsence,
		"unlock":      cmdUnlock,
		"door":        cmdDoor,
		"ack":         cmdAck,
		"substance":   cmdSubstance,
		"biometric":   cmdBiometric,
		"pat":         cmdPAT,
		"bwc":         cmdBWC,
		"export":      cmdExport,
		"users":       cmdUsers,
		"user":        cmdUser,
	}
}

// Env is what a run of ctl reads and writes.
type Env struct {
	// Stdin is where passwords are read from: a terminal (an *os.File), without echo,
	// or else its first line; nil is empty.
	Stdin io.Reader
	// Stdout takes what a command prints; Stderr its prompts, progress and errors.
	Stdout, Stderr io.Writer
}

// Main runs `apedge ctl args...` and returns its exit status: 0 when it did what
// was asked (or printed its usage for -h), 2 for bad usage, 1 for any other failure,
// reported as one line "apedge ctl: ..." on env.Stderr. `apedge ctl keygen` is not
// here but apedge keygen's, which the caller runs.
func Main(ctx context.Context, args []string, env Env) int {
	if env.Stdin == nil {
		env.Stdin = strings.NewReader("")
	}
	err := run(ctx, args, env)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, cli.ErrUsage):
		return 2
	default:
		fmt.Fprintf(env.Stderr, "apedge %s\n", cli.OneLine(err.Error()))
		return 1
	}
}

// run runs a ctl command, or prints the usage. Its errors, but for usage errors
// (already reported) and flag.ErrHelp, say "ctl: " first.
func run(ctx context.Context, args []string, env Env) error {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help") {
		fmt.Fprintln(env.Stdout, usage)
		return nil
	}
	e := &runEnv{Env: env, g: defaults()}
	// Global flags may come before the command's name as well as after it.
	gfs := cli.Flags("ctl", usage, env.Stderr)
	e.g.register(gfs)
	if err := cli.Parse(gfs, args, len(args)); err != nil {
		return err
	}
	args = gfs.Args()
	if len(args) == 0 {
		fmt.Fprintln(env.Stderr, "apedge ctl: say which command: apedge ctl -h")
		return cli.ErrUsage
	}
	cmd, ok := commands()[args[0]]
	if !ok {
		fmt.Fprintf(env.Stderr, "apedge ctl: unknown command %q (run apedge ctl -h)\n", args[0])
		return cli.ErrUsage
	}
	err := cmd(ctx, e, args[1:])
	if err == nil || errors.Is(err, cli.ErrUsage) || errors.Is(err, flag.ErrHelp) {
		return err
	}
	return fmt.Errorf("ctl: %w", err)
}

// defaults are the global flags' defaults, from the environment.
func defaults() globals {
	// With no $APEDGE_URL (or -url) the console is the one login signed in to, as the
	// token file remembers, else the local one (newClient decides).
	g := globals{url: os.Getenv("APEDGE_URL"), tokenFile: os.Getenv("APEDGE_TOKEN_FILE")}
	if g.tokenFile == "" {
		if dir, err := os.UserConfigDir(); err == nil {
			g.tokenFile = filepath.Join(dir, "apedge", "token")
		}
	}
	return g
}
