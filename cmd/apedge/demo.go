package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/apedge/apedge/agent"
	"github.com/apedge/apedge/agent/console"
	"github.com/apedge/apedge/agent/curfew"
	"github.com/apedge/apedge/agent/staff"
	"github.com/apedge/apedge/central"
	"github.com/apedge/apedge/cmd/apedge/internal/cli"
	bridge "github.com/apedge/apedge/firmware-bridge"
	"github.com/apedge/apedge/formats/sitekey"
	"github.com/apedge/apedge/internal/clock"
	"github.com/apedge/apedge/internal/config"
)

// demoSite is the site code of the demo AP.
const demoSite = "DEMO1"

// demoOptions are the demo's flags.
type demoOptions struct {
	dir         string        // every file the demo makes is under it
	dur         time.Duration // how long to run; 0: until ctx ends
	every       time.Duration // mean time between simulated card reads
	verbose     bool          // log at debug level
	consoleAddr string        // where the site console listens
	plaintext   bool          // one plaintext development broker instead of TLS and ACLs
}

// parseDemoFlags parses the demo's flags.
func parseDemoFlags(args []string, stderr io.Writer) (demoOptions, error) {
	fs := cli.Flags("demo", "apedge demo [-dir DIR] [-for DURATION]\n\nRuns the whole site on embedded defaults: two embedded MQTT brokers (the site bus and\ncentral's), TLS with client certificates from a throwaway site CA and access rules\nper identity; the firmware bridge with simulated readers, the agent, and the central\nreceiver on SQLite. Every file it makes stays under DIR. Ctrl-C stops it cleanly.", stderr)
	var o demoOptions
	fs.StringVar(&o.dir, "dir", ".apedge-demo", "`directory` for every file the demo makes")
	fs.DurationVar(&o.dur, "for", 0, "stop cleanly after this `duration` (default: until Ctrl-C)")
	fs.DurationVar(&o.every, "every", 2*time.Second, "mean time between simulated card reads")
	fs.BoolVar(&o.verbose, "v", false, "log every event (debug level)")
	fs.StringVar(&o.consoleAddr, "console", "127.0.0.1:8080", "`address` of the site console (dashboard and API); another free port is used if it is taken")
	fs.BoolVar(&o.plaintext, "dev-plaintext", false, "development only: one plaintext broker on loopback that lets every client do anything, instead of TLS and access rules")
	if err := cli.Parse(fs, args, 0); err != nil {
		return o, err
	}
	if o.dur < 0 || o.every <= 0 {
		fmt.Fprintln(stderr, "demo: -for must not be negative and -every must be positive")
		return o, cli.ErrUsage
	}
	return o, nil
}

// cmdDemo runs the whole demo site in this process, on the clock s.clock, until ctx
// ends, -for has passed or a part of it fails; then it stops the parts in the order
// that loses no event.
func (s sys) cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseDemoFlags(args, stderr)
	if err != nil {
		return err
	}
	if o.dur > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.dur)
		defer cancel()
	}
	lvl := "info"
	if o.verbose {
		lvl = "debug"
	}
	log := newLogger(config.Log{Level: lvl}, stderr)

	pubPath, err := demoKeys(o.dir)
	if err != nil {
		return err
	}
	bus, err := s.demoBrokers(ctx, o, log)
	if err != nil {
		return err
	}
	defer bus.close()
	acfg, bcfg, ccfg, err := demoConfigs(o, bus)
	if err != nil {
		return err
	}

	// Stop order matters for "nothing lost": the bridge first, then the agent once
	// central has acknowledged everything it journaled (or a few seconds have passed),
	// then central, then the broker.
	centralCtx, stopCentral := context.WithCancel(context.WithoutCancel(ctx))
	defer stopCentral()
	srv, err := central.NewServer(centralCtx, ccfg, log)
	if err != nil {
		return err
	}
	agentCtx, stopAgent := context.WithCancel(context.WithoutCancel(ctx))
	defer stopAgent()
	ag, err := agent.New(agentCtx, acfg, log, agent.WithClock(s.clock))
	if err != nil {
		return err
	}
	svc, err := console.Open(agentCtx, ag, acfg, log)
	if err != nil {
		return err
	}
	defer svc.Close()
	demoPassword, err := demoAccount(ctx, svc.Staff)
	if err != nil {
		return err
	}
	br := bridge.New(bcfg, log, bridge.WithClock(s.clock))

	errs := make(chan error, 4) // one for each part, so that none blocks on failing
	centralDone := goRun(errs, "central", func() error { return srv.Run(centralCtx) })
	agentDone := goRun(errs, "agent", func() error { return ag.Run(agentCtx) })
	consoleDone := goRun(errs, "console", func() error { return svc.Run(agentCtx) })
	bridgeCtx, stopBridge := context.WithCancel(ctx)
	defer stopBridge()
	bridgeDone := goRun(errs, "bridge", func() error { return br.Run(bridgeCtx) })

	printDemoBanner(stdout, o.dir, svc.URL(), demoPassword, bus, pubPath)
	status := func() { printDemoStatus(stdout, s.clock, br, ag, ccfg.Database) }
	runErr := watchDemo(ctx, errs, status)
	fmt.Fprintln(stdout, "apedge demo: stopping: bridge, then agent once central has acknowledged every event, then central")
	stopBridge()
	<-bridgeDone
	stopAgent() // the agent waits for central's ack of what it journaled before it returns
	<-agentDone
	<-consoleDone
	stopCentral()
	<-centralDone
	if runErr == nil {
		select {
		case runErr = <-errs:
		default:
		}
	}
	status()
	if err := ag.Close(); runErr == nil {
		runErr = err
	}
	if last, acked := ag.Journal().Last(), ag.Forwarder().Stats().Acked; acked < last {
		fmt.Fprintf(stdout, "apedge demo: %d events are journaled but not yet acknowledged; they are safe in agent.db and are sent on the next run\n", last-acked)
	}
	if runErr == nil {
		fmt.Fprintln(stdout, "apedge demo: stopped cleanly")
	}
	return runErr
}

// watchDemo calls status every five seconds until ctx ends or a part of the demo
// fails, and returns that part's error.
func watchDemo(ctx context.Context, errs <-chan error, status func()) error {
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			status()
		case err := <-errs:
			return err
		case <-ctx.Done():
			return nil
		}
	}
}

// goRun runs f in a goroutine, sending its error, named, on errs; the channel it
// returns is closed when f has returned.
func goRun(errs chan<- error, name string, f func() error) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := f(); err != nil {
			errs <- fmt.Errorf("%s: %w", name, err)
		}
	}()
	return done
}

// demoKeys makes dir and, under dir/keys, the demo site's signing key unless it is
// there from an earlier run, and a secure channel key for each simulated OSDP reader.
// It returns the path of the site's public key.
func demoKeys(dir string) (pubPath string, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	keys := filepath.Join(dir, "keys")
	privPath, pubPath := sitekey.Paths(keys, demoSite)
	if _, err := os.Stat(privPath); errors.Is(err, os.ErrNotExist) {
		k, err := sitekey.Generate(demoSite, nil)
		if err != nil {
			return "", err
		}
		if _, _, err := sitekey.Write(keys, k); err != nil {
			return "", err
		}
	}
	// Each simulated OSDP reader has its own secure channel key, as on a real site.
	for _, r := range []string{"front-in", "front-out", "garden-in"} {
		if err := writeSCBK(filepath.Join(keys, "osdp-"+r+".scbk")); err != nil {
			return "", err
		}
	}
	return pubPath, nil
}

// demoConfigs writes the configuration of each of the demo's processes under o.dir,
// for the brokers of bus, and loads them as the processes would. The console listens
// on o.consoleAddr, or on a free port if that is taken.
func demoConfigs(o demoOptions, bus *demoBus) (*config.Agent, *config.Bridge, *config.Central, error) {
	consoleAddr := o.consoleAddr
	if ln, err := net.Listen("tcp", consoleAddr); err != nil {
		consoleAddr = "127.0.0.1:0"
	} else {
		ln.Close()
	}
	files := map[string]string{
		"agent.yaml":   fmt.Sprintf(demoAgentYAML, demoSite, demoSite, bus.link(bus.site, "agent"), bus.link(bus.central, "uplink:"+demoSite, "resendAfter: 5s"), consoleAddr),
		"bridge.yaml":  fmt.Sprintf(demoBridgeYAML, demoSite, bus.link(bus.site, "bridge"), o.every.String()),
		"central.yaml": fmt.Sprintf(demoCentralYAML, bus.link(bus.central, "central"), demoSite, demoSite),
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(o.dir, name), []byte(body), 0o600); err != nil {
			return nil, nil, nil, err
		}
	}
	acfg, err := config.LoadAgent(filepath.Join(o.dir, "agent.yaml"))
	if err != nil {
		return nil, nil, nil, err
	}
	bcfg, err := config.LoadBridge(filepath.Join(o.dir, "bridge.yaml"))
	if err != nil {
		return nil, nil, nil, err
	}
	ccfg, err := config.LoadCentral(filepath.Join(o.dir, "central.yaml"))
	if err != nil {
		return nil, nil, nil, err
	}
	return acfg, bcfg, ccfg, nil
}

// printDemoBanner tells the user what is running, how to sign in (with the admin
// password, shown only here) and how to check the evidence the demo makes.
func printDemoBanner(w io.Writer, dir, consoleURL, password string, bus *demoBus, pubPath string) {
	abs, _ := filepath.Abs(dir)
	fmt.Fprintf(w, `apedge demo: site %s is running
  dashboard             %s
                        sign in as demo with password %s
                        (an admin account; the password is new on every run and shown only here)
  command line          apedge ctl -url %s login -user demo
%s  files written under   %s
    agent.yaml, bridge.yaml, central.yaml   the configuration of each process
    keys/%s.key (0600), keys/%s.pub   the site signing key and its public half
    agent.db                                the agent's signed journal (SQLite)
    register.db                             staff changes to the roster (apedge resident)
    staff.db, index.db                      console accounts (0600) and the journal's search index
    central.db                              central's store of verified events
  doors                 front and garden: OSDP readers with secure channel on a simulated
                        RS-485 line; side: a Wiegand reader; every door on simulated GPIO
  logs                  on standard error (add -v to see every event)
  check the evidence    apedge central export -config %s -site %s -o export.jsonl
                        apedge verify -pubkey %s export.jsonl
  prove one event       apedge central prove -config %s -site %s -seq 2 -o bundle.json
                        apedge verify -pubkey %s -bundle bundle.json   (once a checkpoint is in, ~10s)
  curfew                apedge curfew windows -config %s -crn X100001 -from DATE -to DATE
  record an arrival     apedge resident arrive -config %s -crn X100009 -card 12:10009 -by YOU
(apedge is bin/apedge after 'make build', or 'go run ./cmd/apedge' in place of it.)
Ctrl-C stops everything cleanly.
`, demoSite, consoleURL, password, consoleURL, bus.banner(dir), abs, demoSite, demoSite,
		filepath.Join(dir, "central.yaml"), demoSite, pubPath,
		filepath.Join(dir, "central.yaml"), demoSite, pubPath,
		filepath.Join(dir, "agent.yaml"), filepath.Join(dir, "agent.yaml"))
}

// printDemoStatus prints one line of how far the demo's events have come, from the
// bridge's messages to central's store (database), and who is in, with the time
// clk tells.
func printDemoStatus(w io.Writer, clk clock.Clock, br *bridge.Bridge, ag *agent.Agent, database string) {
	n, _ := central.StoredCount(context.Background(), database, demoSite)
	var in, out, unknown int
	for _, p := range ag.Presence() {
		switch p.Presence {
		case curfew.PresenceIn:
			in++
		case curfew.PresenceOut:
			out++
		default:
			unknown++
		}
	}
	fmt.Fprintf(w, "%s  bus messages published %d | agent journal last seq %d | central acked %d | central stored %d events | residents in %d, out %d, unknown %d\n",
		clk.Now().Format("15:04:05"), br.Published(), ag.Journal().Last(), ag.Forwarder().Stats().Acked, n, in, out, unknown)
}

const demoAgentYAML = `# Written by apedge demo on every run (the broker port changes); edit configs/ instead.
site: %s
key: keys/%s.key
database: agent.db
bus: %s
central: %s
curfew:
  clockCheck: none                # the demo trusts this machine's clock; a site checks it (timedatectl or ntp)
console:
  listen: %s
checkpoints: {every: 100, interval: 10s}   # often, so that the demo has one to prove against soon
devices: {bridgeConfig: bridge.yaml}      # the site's doors and readers: nothing else is journaled
roster:
  - {crn: X100001, noms: A1001AA, name: Resident One, cards: ["12:10001"]}
  - {crn: X100002, noms: A1002AA, name: Resident Two, cards: ["12:10002"]}
  - {crn: X100003, name: Resident Three, cards: ["12:10003"]}
`

const demoBridgeYAML = `# Written by apedge demo on every run.
site: %s
bus: %s
stateDir: bridge-state
osdp:
  - port: simulated              # a pseudo-terminal with simulated OSDP readers on the far end
    baud: 115200
    readers:
      - {id: front-in, address: 1, scbkFile: keys/osdp-front-in.scbk}
      - {id: front-out, address: 2, scbkFile: keys/osdp-front-out.scbk}
      - {id: garden-in, address: 3, scbkFile: keys/osdp-garden-in.scbk}
doors:
  - id: front
    entryReader: front-in
    exitReader: front-out
    lock: {mode: fail-safe}
    heldOpenAfter: 10s
  - id: garden
    entryReader: garden-in       # leaving by the garden door is by the exit button
    lock: {mode: fail-safe}
    heldOpenAfter: 10s
  - id: side
    wiegand: {reader: side-in, direction: entry}
    lock: {mode: fail-secure}
simulate:
  every: %s
  cards: ["12:10001", "12:10002", "12:10003"]
  incidents: 0.1
`

const demoCentralYAML = `# Written by apedge demo on every run.
database: central.db
broker: %s
trust:
  - {site: %s, pubkey: keys/%s.pub}
`

// writeSCBK writes a random OSDP secure channel base key to path (mode 0600) unless
// one is there.
func writeSCBK(path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	key := make([]byte, 16)
	rand.Read(key)
	return os.WriteFile(path, []byte(hex.EncodeToString(key)+"\n"), 0o600)
}

// demoAccount makes the demo's admin account "demo" with a new random password, or
// gives it one if it exists from an earlier run, and returns the password.
func demoAccount(ctx context.Context, st *staff.Store) (string, error) {
	b := make([]byte, 12)
	rand.Read(b)
	pw := base64.RawURLEncoding.EncodeToString(b) // 16 characters
	if _, err := st.Get(ctx, "demo"); err == nil {
		return pw, st.SetPassword(ctx, "demo", pw)
	}
	_, err := st.Add(ctx, "demo", staff.RoleAdmin, pw)
	return pw, err
}
