package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/apedge/apedge/agent"
	"github.com/apedge/apedge/agent/console"
	"github.com/apedge/apedge/agent/curfew"
	"github.com/apedge/apedge/agent/staff"
	"github.com/apedge/apedge/central"
	"github.com/apedge/apedge/cmd/apedge/internal/cli"
	"github.com/apedge/apedge/devices/wiegand"
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
	clockAt     string        // the site clock's local time at the start (HH:MM), or "" for now
	speed       float64       // how many times as fast as real time the site clock runs
	every       time.Duration // mean time between people at the doors, on the site clock
	incidents   float64       // visits that go wrong per hour of site time
	verbose     bool          // log at debug level
	consoleAddr string        // where the site console listens
	plaintext   bool          // one plaintext development broker instead of TLS and ACLs
}

// parseDemoFlags parses the demo's flags.
func parseDemoFlags(args []string, stderr io.Writer) (demoOptions, error) {
	fs := cli.Flags("demo", "apedge demo [-dir DIR] [-for DURATION]\n\nRuns the whole site on embedded defaults: two embedded MQTT brokers (the site bus and\ncentral's), TLS with client certificates from a throwaway site CA and access rules\nper identity; the firmware bridge with simulated readers and twenty residents walking\nthrough its doors, the agent, and the central receiver on SQLite. Every file it makes\nstays under DIR. Ctrl-C stops it cleanly.\n\nWith -clock 22:55 the site's clock starts at 22:55 today, so that the 23:00 curfew roll\nand the absences come within minutes; with -speed 30 it runs thirty times as fast.\nUse a new DIR for each -clock: a journal does not go back in time.", stderr)
	var o demoOptions
	fs.StringVar(&o.dir, "dir", ".apedge-demo", "`directory` for every file the demo makes")
	fs.DurationVar(&o.dur, "for", 0, "stop cleanly after this `duration` (default: until Ctrl-C)")
	fs.StringVar(&o.clockAt, "clock", "", "start the site's clock at this local `HH:MM` (Europe/London) today (default: now); the bridge, the agent, the console and central date everything by it (sign-in sessions and TLS keep the real clock)")
	fs.Float64Var(&o.speed, "speed", 1, "run the site's clock `N` times as fast as real time (1 to 600); the hardware's own timing stays real (OSDP polls, debounce, a person at a door, the agent's checkpoint interval and resends, TLS certificates), and the doors' unlock and held-open times are stretched to N times 1s at least to keep up with it")
	fs.DurationVar(&o.every, "every", 30*time.Second, "mean `time` between people at the doors, on the site's clock")
	fs.Float64Var(&o.incidents, "incidents", 3, "`number` of visits that go wrong (a door forced, held open or tailgated, an unknown card, a card with the wrong finger at the front door, a resident out in curfew) per hour of the site's clock; the first, a door forced or tailgated, comes at once")
	fs.BoolVar(&o.verbose, "v", false, "log every event (debug level)")
	fs.StringVar(&o.consoleAddr, "console", "127.0.0.1:8080", "`address` of the site console (dashboard and API); another free port is used if it is taken")
	fs.BoolVar(&o.plaintext, "dev-plaintext", false, "development only: one plaintext broker on loopback that lets every client do anything, instead of TLS and access rules")
	if err := cli.Parse(fs, args, 0); err != nil {
		return o, err
	}
	if o.dur < 0 || o.every <= 0 {
		fmt.Fprintln(stderr, "apedge demo: -for must not be negative and -every must be positive")
		return o, cli.ErrUsage
	}
	if o.clockAt != "" {
		if _, err := time.Parse("15:04", o.clockAt); err != nil || len(o.clockAt) != 5 {
			fmt.Fprintf(stderr, "apedge demo: -clock %q: give a local time as HH:MM, e.g. 22:55\n", o.clockAt)
			return o, cli.ErrUsage
		}
	}
	if !(o.speed >= 1 && o.speed <= maxDemoSpeed) {
		fmt.Fprintf(stderr, "apedge demo: -speed %v: use 1 (real time) to %d\n", o.speed, maxDemoSpeed)
		return o, cli.ErrUsage
	}
	if !(o.incidents >= 0) {
		fmt.Fprintln(stderr, "apedge demo: -incidents must not be negative")
		return o, cli.ErrUsage
	}
	return o, nil
}

// maxDemoSpeed is the fastest -speed: the doors' stretched unlock time (a second of
// real time) stays within a door's 10 minutes.
const maxDemoSpeed = 600

// siteClock is the demo site's clock for o, on the real clock real, and what it reads
// at the start: real itself, or a clock that stands at o.clockAt today (Europe/London,
// or now) until run is called and then runs o.speed times as fast as real, so that the
// site's parts, made first, all start at that time.
func siteClock(o demoOptions, real clock.Clock) (clk clock.Clock, start time.Time, run func()) {
	start = real.Now()
	if o.clockAt == "" && o.speed == 1 {
		return real, start, func() {}
	}
	if o.clockAt != "" {
		hm, _ := time.Parse("15:04", o.clockAt) // checked by parseDemoFlags
		y, m, d := start.In(curfew.London()).Date()
		start = time.Date(y, m, d, hm.Hour(), hm.Minute(), 0, 0, curfew.London())
	}
	sc := clock.Scaled(real, start, o.speed)
	return sc, start, sc.Run
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
	// The site's clock dates everything the site records: the bridge's reads and door
	// events, the agent's journal and curfew decisions, central's receipts. It starts
	// once the parts are made. The CA above issued on the real clock, which TLS
	// verifies certificates by.
	clk, start, runClock := siteClock(o, s.clock)

	// Stop order matters for "nothing lost": the bridge first, then the agent once
	// central has acknowledged everything it journaled (or a few seconds have passed),
	// then central, then the broker.
	centralCtx, stopCentral := context.WithCancel(context.WithoutCancel(ctx))
	defer stopCentral()
	srv, err := central.NewServer(centralCtx, ccfg, log, central.WithClock(clk))
	if err != nil {
		return err
	}
	agentCtx, stopAgent := context.WithCancel(context.WithoutCancel(ctx))
	defer stopAgent()
	ag, err := agent.New(agentCtx, acfg, log, agentOptions(clk)...)
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
	br := bridge.New(bcfg, log, bridge.WithClock(clk))

	errs := make(chan error, 5) // one for each part, so that none blocks on failing
	runClock()
	centralDone := goRun(errs, "central", func() error { return srv.Run(centralCtx) })
	agentDone := goRun(errs, "agent", func() error { return ag.Run(agentCtx) })
	consoleDone := goRun(errs, "console", func() error { return svc.Run(agentCtx) })
	bridgeCtx, stopBridge := context.WithCancel(ctx)
	defer stopBridge()
	bridgeDone := goRun(errs, "bridge", func() error { return br.Run(bridgeCtx) })
	// The enrolment officer enrols the residents' fingers at the start while the
	// people keep to the doors without a terminal (people.Enrolled); then it plays
	// the resident in enrolments staff start. It logs, never stops the demo.
	officerDone, enrolled := make(chan struct{}), make(chan struct{})
	officer := newDemoOfficer(liveEnrolmentSite{Biometrics: ag.Biometrics(), br: br}, log, 0)
	go func() {
		defer close(officerDone)
		var wg sync.WaitGroup
		wg.Go(func() { officer.answerStaff(bridgeCtx) })
		officer.run(bridgeCtx)
		close(enrolled)
		wg.Wait()
	}()
	people := demoPeople(o, clk.Now())
	people.Enrolled = enrolled
	peopleDone := goRun(errs, "simulated people", func() error { return br.Walk(bridgeCtx, people) })
	// The keyworker logs what goes wrong and carries on: it never stops the demo.
	keyworkerDone := make(chan struct{})
	kw := newDemoKeyworker(liveKeyworkerSite{Substances: ag.Substances(), ag: ag, br: br}, clk, start, log, 0)
	go func() {
		defer close(keyworkerDone)
		var wg sync.WaitGroup
		wg.Go(func() { kw.answerStaff(bridgeCtx) })
		kw.run(bridgeCtx)
		wg.Wait()
	}()

	// The dock and its shift pattern, and the PAT tester's user, log what goes
	// wrong and carry on: they never stop the demo.
	dockDone := make(chan struct{})
	go func() {
		defer close(dockDone)
		runDemoDock(bridgeCtx, ag, bus, pubPath, clk, start, log)
	}()
	patDone := make(chan struct{})
	go func() {
		defer close(patDone)
		newDemoPAT(livePATSite{PATRegister: ag.PAT(), br: br}, clk, log, 0).run(bridgeCtx)
	}()

	printDemoBanner(stdout, o, start, svc.URL(), demoPassword, bus, pubPath)
	status := func() { printDemoStatus(stdout, clk, br, ag, ccfg.Database) }
	runErr := watchDemo(ctx, errs, status)
	fmt.Fprintln(stdout, "apedge demo: stopping: bridge, then agent once central has acknowledged every event, then central")
	stopBridge()
	<-peopleDone
	<-keyworkerDone
	<-dockDone
	<-patDone
	<-officerDone
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

// runDemoDock runs the demo's simulated dock on the site bus of bus as
// demoDockIdentity, and its shift pattern, until ctx ends. It logs what goes wrong.
func runDemoDock(ctx context.Context, ag *agent.Agent, bus *demoBus, pubPath string, clk clock.Clock, start time.Time, log *slog.Logger) {
	pub, err := sitekey.LoadPublic(pubPath, demoSite)
	if err != nil {
		log.Warn("demo: no simulated dock", "err", err)
		return
	}
	tc, err := bus.dockTLS()
	if err != nil {
		log.Warn("demo: no simulated dock", "err", err)
		return
	}
	d, err := startDemoDock(ctx, ag.BWC(), bus.site.URL(), tc, pub, clk, log)
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("demo: no simulated dock", "err", err)
		}
		return
	}
	var wg sync.WaitGroup
	wg.Go(func() { d.run(ctx) })
	newDemoShifts(liveShiftSite{BWCRegister: ag.BWC(), sim: d.sim}, clk, start, log, 0).run(ctx)
	wg.Wait()
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
	for _, r := range []string{"front-in", "front-out", "garden-in", "garden-out"} {
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
		"agent.yaml":   fmt.Sprintf(demoAgentYAML, demoSite, demoSite, bus.link(bus.site, "agent"), bus.link(bus.central, "uplink:"+demoSite, "resendAfter: 5s"), consoleAddr) + demoBWCYAML + demoRosterYAML(),
		"bridge.yaml":  fmt.Sprintf(demoBridgeYAML, demoSite, bus.link(bus.site, "bridge"), stretch(5*time.Second, o.speed), stretch(10*time.Second, o.speed)),
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
func printDemoBanner(w io.Writer, o demoOptions, start time.Time, consoleURL, password string, bus *demoBus, pubPath string) {
	dir := o.dir
	abs, _ := filepath.Abs(dir)
	fmt.Fprintf(w, `apedge demo: site %s is running
  site clock            %s
  residents             %s
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
  doors                 front and garden: OSDP readers in and out with secure channel on a
                        simulated RS-485 line; side: a Wiegand reader outside; every door on
                        simulated GPIO
  cameras               four simulated RTSP cameras, checked every 30 s (apedge ctl cameras); the
                        yard camera fails for a minute in every four. Try one as an installer
                        would: apedge camera probe URL, with a URL from the log's "rtsp sim:
                        serving" lines (cam-office asks for user admin, password demo-camera)
  substance testing     a breath meter and an oral-fluid analyser, simulated; now and then a
                        keyworker tests a resident (the first within a minute): the dashboard's
                        Substance testing view (as demo, a keyworker or a manager: they may see
                        results), or apedge ctl substance. A test you start there at breath-1 or
                        oral-1 gets its sample (negative) 5 to 10 s later; apedge sim substance -h
                        runs a tester of your own
  fingerprints          %s
  body-worn cameras     %s
  PAT testing           %s
  logs                  on standard error (add -v to see every event)
  check the evidence    apedge central export -config %s -site %s -o export.jsonl
                        apedge verify -pubkey %s export.jsonl
  prove one event       apedge central prove -config %s -site %s -seq 2 -o bundle.json
                        apedge verify -pubkey %s -bundle bundle.json   (once a checkpoint is in, ~10s)
  curfew                apedge curfew windows -config %s -crn X100001 -from DATE -to DATE
  record an arrival     apedge resident arrive -config %s -crn X100009 -card 12:10009 -by YOU
(apedge is bin/apedge after 'make build', or 'go run ./cmd/apedge' in place of it.)
Ctrl-C stops everything cleanly.
`, demoSite, demoClockLine(o, start), demoResidentsLine(), consoleURL, password, consoleURL, bus.banner(dir), abs, demoSite, demoSite,
		demoFingerprintsLine(), demoDockLine(), demoPATLine(), filepath.Join(dir, "central.yaml"), demoSite, pubPath,
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
		clk.Now().In(curfew.London()).Format("15:04:05"), br.Published(), ag.Journal().Last(), ag.Forwarder().Stats().Acked, n, in, out, unknown)
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
checkpoints: {every: 100, interval: 10s}   # often, so that the demo has one to prove against soon (10s of real time, whatever -speed)
devices: {bridgeConfig: bridge.yaml}      # the site's doors, readers and substance testers: nothing else is journaled
`

const demoBridgeYAML = `# Written by apedge demo on every run.
site: %[1]s
bus: %[2]s
stateDir: bridge-state
osdp:
  - port: simulated              # a pseudo-terminal with simulated OSDP readers on the far end
    baud: 115200
    readers:
      - {id: front-in, address: 1, scbkFile: keys/osdp-front-in.scbk}
      - {id: front-out, address: 2, scbkFile: keys/osdp-front-out.scbk}
      - {id: garden-in, address: 3, scbkFile: keys/osdp-garden-in.scbk}
      - {id: garden-out, address: 4, scbkFile: keys/osdp-garden-out.scbk}
# Unlock and held-open times are on the site's clock: with -speed they are stretched to
# a second of real time at least, for the simulated hardware, which runs in real time.
doors:
  - id: front
    entryReader: front-in
    exitReader: front-out
    lock: {mode: fail-safe}
    relockOnClose: true          # the busy main door relocks as soon as it shuts
    unlockFor: %[3]s
    heldOpenAfter: %[4]s
  - id: garden
    entryReader: garden-in
    exitReader: garden-out
    lock: {mode: fail-safe}
    relockOnClose: true          # the way in while the front door's terminal is taken for enrolment
    unlockFor: %[3]s
    heldOpenAfter: %[4]s
  - id: side
    wiegand: {reader: side-in, direction: entry}   # in only
    lock: {mode: fail-secure}
    unlockFor: %[3]s
    heldOpenAfter: %[4]s
# Four simulated RTSP cameras on the loopback interface, checked every 30 s as real
# ones would be; the yard camera fails now and then (off, stalled, dropping packets).
cameras:
  - {id: cam-front, name: "front door, outside", url: simulated}
  - {id: cam-garden, name: "garden door", url: simulated, sim: {codec: h265}}
  - {id: cam-office, name: "office corridor", url: simulated, user: admin, sim: {password: demo-camera}}
  - {id: cam-yard, name: "yard", url: simulated, sim: {flaky: true}}
# A breath-alcohol meter and an oral-fluid analyser in the office, simulated on
# pseudo-terminals; apedge demo's keyworker tests a resident with them now and then.
substanceTesters:
  - {id: breath-1, kind: breath-alcohol, port: simulated, name: office}
  - {id: oral-1, kind: oral-fluid, port: simulated, name: office}
# A PAT tester that downloads its results over a serial line, simulated on a
# pseudo-terminal; apedge demo tests a few of the AP's items with it at the start.
patTesters:
  - {id: pat-1, port: simulated, name: maintenance}
# Enhanced Security (AP Policy Framework, Annex A): a card read at the front door, the
# main way in and out, needs the holder's finger on the door's terminal within 10 s.
# The other terminal is the office's enrolment desk. Both are simulated on
# pseudo-terminals; apedge demo's enrolment officer enrols the residents on both.
fingerprintTerminals:
  - {id: front-fp, port: simulated, door: front, name: front door}
  - {id: desk-fp, port: simulated, name: "office: enrolment desk"}
enhancedSecurity: {on: true}     # window: 10s, the default
simulate:
  quiet: true                    # the people are apedge demo's own: they follow who is in
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

// demoResident is one of the demo's residents. Room 9 is free, and X100009 and card
// 12:10009 unused: the banner's example arrival.
type demoResident struct {
	crn, noms, name, room, card string
	// licence is a licence curfew "HH:MM-HH:MM" on top of the AP rule, or "".
	licence string
	// late residents are out when the demo starts, whatever the time, and come back
	// when they come back.
	late bool
}

// demoResidents are the demo's residents, six with a licence curfew.
var demoResidents = []demoResident{
	{"X100001", "A1001AA", "Adam Ahmed", "1", "12:10001", "19:00-07:00", false},
	{"X100002", "A1002AA", "Ben Carter", "2", "12:10002", "", false},
	{"X100003", "", "Callum Doyle", "3", "12:10003", "", true},
	{"X100004", "A1004AA", "Darren Evans", "4", "12:10004", "21:00-06:00", false},
	{"X100005", "A1005AA", "Brian Baker", "5", "12:10005", "", false},
	{"X100006", "A1006AA", "Craig Fletcher", "6", "12:10006", "", false},
	{"X100007", "", "Dean Gordon", "7", "12:10007", "20:00-07:00", false},
	{"X100008", "A1008AA", "Ethan Hughes", "8", "12:10008", "", false},
	{"X100010", "A1010AA", "Frank Iqbal", "10", "12:10010", "", false},
	{"X100011", "A1011AA", "Gary Jones", "11", "12:10011", "", true},
	{"X100012", "", "Harry Khan", "12", "12:10012", "19:00-07:00", false},
	{"X100013", "A1013AA", "Ian Lewis", "13", "12:10013", "", false},
	{"X100014", "A1014AA", "Jack Morgan", "14", "12:10014", "", false},
	{"X100015", "A1015AA", "Kevin Nowak", "15", "12:10015", "22:00-06:00", false},
	{"X100016", "", "Liam O'Brien", "16", "12:10016", "", false},
	{"X100017", "A1017AA", "Mark Patel", "17", "12:10017", "", false},
	{"X100018", "A1018AA", "Nathan Quinn", "18", "12:10018", "21:00-06:00", true},
	{"X100019", "A1019AA", "Owen Roberts", "19", "12:10019", "", false},
	{"X100020", "", "Paul Smith", "20", "12:10020", "", false},
	{"X100021", "A1021AA", "Ryan Taylor", "21", "12:10021", "", false},
}

// demoResidentsLine is the banner's line about the residents.
func demoResidentsLine() string {
	n := 0
	for _, r := range demoResidents {
		if r.licence != "" {
			n++
		}
	}
	return fmt.Sprintf("%d in rooms 1 to 21 (9 is free), %d with a licence curfew on top of the AP rule 23:00-06:00 (agent.yaml)", len(demoResidents), n)
}

// demoFingerprintsLine is the banner's line about the fingerprint terminals.
func demoFingerprintsLine() string {
	name := demoDecliner
	for _, r := range demoResidents {
		if r.crn == demoDecliner {
			name = r.name + " (" + r.crn + ")"
		}
	}
	return fmt.Sprintf("%s at the front door, Enhanced Security: card and finger; %s at the enrolment desk; each resident's %s enrolled on both at the start, but %s declined: garden and side doors",
		demoFrontTerminal, demoDeskTerminal, demoFinger, name)
}

// demoRosterYAML is the roster section of the demo agent's configuration.
func demoRosterYAML() string {
	var b strings.Builder
	b.WriteString("roster:                                   # residents; curfews are licence conditions on top of the AP rule 23:00-06:00\n")
	for _, r := range demoResidents {
		fmt.Fprintf(&b, "  - {crn: %s, ", r.crn)
		if r.noms != "" {
			fmt.Fprintf(&b, "noms: %s, ", r.noms)
		}
		fmt.Fprintf(&b, "name: %q, room: %q, cards: [%q]", r.name, r.room, r.card)
		if start, end, ok := strings.Cut(r.licence, "-"); ok {
			fmt.Fprintf(&b, ", curfews: [{id: licence-%s, description: \"licence condition: curfew %s-%s\", start: %q, end: %q}]", r.crn, start, end, start, end)
		}
		b.WriteString("}\n")
	}
	b.WriteString(demoStaffYAML())
	return b.String()
}

// inWindow says whether local time t lies in the nightly window start-end ("HH:MM",
// ending the next day if end is not after start).
func inWindow(t time.Time, start, end string) bool {
	s, _ := time.Parse("15:04", start)
	e, _ := time.Parse("15:04", end)
	m := t.Hour()*60 + t.Minute()
	sm, em := s.Hour()*60+s.Minute(), e.Hour()*60+e.Minute()
	if sm < em {
		return sm <= m && m < em
	}
	return m >= sm || m < em
}

// demoPeople are the demo's residents as the bridge's simulated people: each means to
// be home in their curfew (the AP rule, and their licence's); at the start, at the
// site clock's start, the late ones are out, and of the others all are in during
// curfew and two in three otherwise. Each but demoDecliner has their right index,
// which the demo's enrolment officer enrols at the start, for the front door's
// terminal.
//
// The walk starts at once, not after the enrolment: nobody has a finger enrolled
// yet on a new site, so those in at the start settle through the garden door,
// which has no terminal, and everybody keeps to the garden and side doors until
// the officer is done with the terminals (the caller sets Enrolled): a terminal
// has one sensor, and a finger at the door would spoil an enrolment's capture.
// The site's curfew, alarms and movements so begin at once, as before the
// terminals, and people take the front door, with their finger, once the officer
// is done, within the first half minute or so (at once on a later run on the same
// directory, whose enrolments stand). The
// resident who declined keeps to the garden and side doors all along: the front
// door would refuse them for staff confirmation, which the demo leaves to staff.
func demoPeople(o demoOptions, start time.Time) bridge.SimPeople {
	p := bridge.SimPeople{Every: o.every, MinReal: 100 * time.Millisecond}
	if o.incidents > 0 {
		p.IncidentEvery = time.Duration(float64(time.Hour) / o.incidents)
	}
	for i, r := range demoResidents {
		c, _ := wiegand.Parse(r.card, 26) // the table's, all valid
		home := func(t time.Time) bool {
			t = t.In(curfew.London())
			if inWindow(t, "23:00", "06:00") {
				return true
			}
			s, e, ok := strings.Cut(r.licence, "-")
			return ok && inWindow(t, s, e)
		}
		in := !r.late && (home(start) || i%3 != 0)
		finger := demoFingerID(r.crn, demoFinger) // enrolled at the start by the demo's officer
		if r.crn == demoDecliner {
			finger = ""
		}
		p.People = append(p.People, bridge.SimPerson{Card: c, In: in, Home: home, Finger: finger})
	}
	return p
}

// stretch is d, or a second of real time at speed if that is longer: a door's time
// on a site clock running speed times as fast as the simulated hardware.
func stretch(d time.Duration, speed float64) time.Duration {
	return max(d, time.Duration(speed*float64(time.Second))).Round(time.Second)
}

// demoClockLine is the banner's line about the site's clock, which read start at the
// start.
func demoClockLine(o demoOptions, start time.Time) string {
	at := start.In(curfew.London()).Format("15:04 on Mon 2 Jan 2006 (Europe/London)")
	if o.speed == 1 {
		if o.clockAt == "" {
			return "the real time, " + at
		}
		return "started at " + at + ", running at real speed"
	}
	return fmt.Sprintf("started at %s, running %v times as fast as real time", at, o.speed)
}
