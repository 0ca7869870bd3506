package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/creack/pty"
	"golang.org/x/term"

	"github.com/apedge/apedge/cmd/apedge/internal/cli"
	"github.com/apedge/apedge/devices/serialport"
	"github.com/apedge/apedge/devices/substance"
	"github.com/apedge/apedge/internal/clock"
)

const simSubstanceUsage = `apedge sim substance -kind breath-alcohol|oral-fluid (-tty PATH | -pty) [-serial S] [-baud N]

Runs a simulated substance tester, a breath-alcohol meter or an oral-fluid analyser,
speaking the record protocol of apedge's substance testers (devices/substance) on a
serial line byte for byte as a real one would: to apedge's bridge, or any other reader
of the protocol. It sends its ID record at power-on and whenever asked (RQ what=id),
and a result or error record when told a test completed. It dates its records by the
system clock.

  -tty PATH   the line to answer on: a USB serial adapter wired to the bridge's, or one
              end of a pseudo-terminal pair (socat -d -d pty,raw,echo=0 pty,raw,echo=0)
  -pty        make a pseudo-terminal and print its name and the bridge's configuration
              line for it

Commands on standard input, one per line, each answered with one line saying what it
did or why not:
  breath UG [TESTID]       a breath test reading UG µg of alcohol per 100 ml, with the
                           test id staff keyed in (breath meters)
  oral [PANEL=RESULT ...] [id=TESTID]
                           an oral-fluid test, every panel negative unless named, e.g.
                           oral cocaine=pos thc=inv id=T-9; RESULT neg, pos or inv;
                           PANEL one of amphetamine, methamphetamine, mdma, cocaine,
                           opiates, morphine, methadone, buprenorphine, benzodiazepines,
                           thc, synthetic-cannabinoids, pregabalin, gabapentin,
                           ketamine, fentanyl (oral-fluid analysers)
  error CODE [TEXT]        an error record instead of a result (error E12 blow interrupted)
  selfcheck pass|fail      the self-check, as a restart finds it (sends the ID record)
  calibration YYYY-MM-DD   the calibration due date, a past one out of date (sends the
                           ID record)
  cassette LOT YYYY-MM-DD  the next tests' cassette lot and expiry (oral-fluid analysers)
  temperature C            the next tests' ambient temperature, °C (breath meters)
  garbage N                N bad lines, in turn line noise, a bad checksum, a record cut
                           off and a line too long
  power on|off             switch it off (it says and answers nothing) and on (it sends
                           its ID record)
  status                   kind, serial, calibration, self-check, the last test number
`

// simSubstance is apedge sim substance.
func (s sys) simSubstance(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.Flags("sim substance", simSubstanceUsage, stderr)
	kind := fs.String("kind", "", "breath-alcohol or oral-fluid")
	tty := fs.String("tty", "", "serial `device` to answer on")
	mkpty := fs.Bool("pty", false, "make a pseudo-terminal and print its name")
	serial := fs.String("serial", "", "the `serial` number the tester reports (default SIM-breath-1 or SIM-oral-1)")
	baud := fs.Int("baud", 9600, "line speed of -tty (a pseudo-terminal has none)")
	if err := cli.Parse(fs, args, 0); err != nil {
		return err
	}
	id := simSubstanceID(*kind)
	if id == "" {
		fmt.Fprintf(stderr, "apedge sim substance: -kind %q: say breath-alcohol or oral-fluid\n", *kind)
		return cli.ErrUsage
	}
	if (*tty == "") == !*mkpty {
		fmt.Fprintln(stderr, "apedge sim substance: give -tty PATH or -pty")
		return cli.ErrUsage
	}
	if *serial == "" {
		*serial = "SIM-" + id
	}
	if len(*serial) > 64 || strings.IndexFunc(*serial, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0 {
		fmt.Fprintf(stderr, "apedge sim substance: -serial %q: 1 to 64 printable characters, no spaces\n", *serial)
		return cli.ErrUsage
	}
	if *baud <= 0 {
		fmt.Fprintf(stderr, "apedge sim substance: -baud %d: give the line speed, e.g. 9600\n", *baud)
		return cli.ErrUsage
	}
	sim := substance.NewSim(*kind, *serial, s.clock)
	port, closePort, name, err := openSimLine(*tty, *mkpty, *baud)
	if err != nil {
		return err
	}
	defer closePort()
	if *mkpty {
		fmt.Fprintf(stdout, "simulated %s %s answering on %s\n", *kind, *serial, name)
		fmt.Fprintf(stdout, "bridge configuration: substanceTesters: - {id: %s, kind: %s, port: %s}\n", id, *kind, name)
	} else {
		fmt.Fprintf(stdout, "simulated %s %s answering on %s at %d baud\n", *kind, *serial, name, *baud)
	}
	go simSubstanceCommands(ctx, s.stdin, stdout, sim, s.clock)
	served := make(chan error, 1)
	go func() { served <- sim.Serve(ctx, port) }()
	select {
	case <-ctx.Done():
		// A pseudo-terminal's reads block, past ctx's end: Serve ends once the line
		// is closed here and by whatever else had it open.
		return nil
	case err := <-served:
		return fmt.Errorf("simulated tester: %w", err)
	}
}

// simSubstanceID returns the tester id the printed configuration line gives a tester
// of kind, or "" for a kind there is none of.
func simSubstanceID(kind string) string {
	switch kind {
	case substance.KindBreathAlcohol:
		return "breath-1"
	case substance.KindOralFluid:
		return "oral-1"
	}
	return ""
}

// openSimLine opens the line a simulated serial device answers on: the serial
// device tty at baud, or with mkpty a new pseudo-terminal (raw, its far end held
// open so that the line never hangs up when the bridge closes it). It returns the
// line, how to close it and the device name to give the bridge.
func openSimLine(tty string, mkpty bool, baud int) (io.ReadWriter, func(), string, error) {
	if !mkpty {
		p, err := serialport.Open(tty, baud)
		if err != nil {
			return nil, nil, "", err
		}
		return p, func() { p.Close() }, tty, nil
	}
	ptmx, pts, err := pty.Open()
	if err != nil {
		return nil, nil, "", fmt.Errorf("pseudo-terminal: %w", err)
	}
	closeBoth := func() { ptmx.Close(); pts.Close() }
	if err := rawTerminal(pts); err != nil {
		closeBoth()
		return nil, nil, "", fmt.Errorf("pseudo-terminal %s: %w", pts.Name(), err)
	}
	return ptmx, closeBoth, pts.Name(), nil
}

// rawTerminal puts the terminal f into raw mode, as a serial line is: no echo, no line
// editing, no flow control and no translation of CR and LF, so that what the tester
// sends before the bridge opens the line reaches it as it was sent.
func rawTerminal(f *os.File) error {
	c, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var rawErr error
	if err := c.Control(func(fd uintptr) { _, rawErr = term.MakeRaw(int(fd)) }); err != nil {
		return err
	}
	return rawErr
}

// simSubstanceCommands works the simulated tester by the commands read from in,
// answering each with one line on out, until in ends.
func simSubstanceCommands(ctx context.Context, in io.Reader, out io.Writer, sim *substance.Sim, clk clock.Clock) {
	sc := bufio.NewScanner(in)
	for sc.Scan() && ctx.Err() == nil {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if err := simSubstanceCommand(sim, clk, f, out); err != nil {
			fmt.Fprintf(out, "%s: %v\n", f[0], err)
		}
	}
}

// simSubstanceCommand carries out one command line f on the simulated tester sim,
// saying what it did on out in one line.
func simSubstanceCommand(sim *substance.Sim, clk clock.Clock, f []string, out io.Writer) error {
	args := func(least, most int, form string) error {
		if n := len(f) - 1; n < least || n > most {
			return fmt.Errorf("say %s %s", f[0], form)
		}
		return nil
	}
	// sent says the tester's ID record went, or that it is switched off.
	sent := func() string {
		if sim.State().Off {
			return "switched off: it says so when switched on"
		}
		return "ID record sent"
	}
	switch f[0] {
	case "breath":
		if err := args(1, 2, "UG [TESTID]"); err != nil {
			return err
		}
		ug, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			return fmt.Errorf("%q: say µg per 100 ml, e.g. 31 or 12.5", f[1])
		}
		testID := ""
		if len(f) > 2 {
			testID = f[2]
		}
		if err := sim.Breath(ug, testID); err != nil {
			return err
		}
		fmt.Fprintf(out, "test %d: breath %s µg/100 ml%s: BR record sent\n", sim.State().LastTest, f[1], withTestID(testID))
	case "oral":
		results := map[string]string{}
		testID := ""
		for _, a := range f[1:] {
			k, v, ok := strings.Cut(a, "=")
			_, twice := results[k]
			switch {
			case k == "id" && ok:
				testID = v
			case !ok || k == "" || v == "":
				return fmt.Errorf("%q: say PANEL=RESULT or id=TESTID", a)
			case twice:
				return fmt.Errorf("panel %s named twice", k)
			default:
				results[k] = v
			}
		}
		if err := sim.OralFluid(results, testID); err != nil {
			return err
		}
		st := sim.State()
		fmt.Fprintf(out, "test %d: oral fluid, cassette %s expiring %s, %s%s: OF record sent\n",
			st.LastTest, st.CassetteLot, st.CassetteExpiry, panelResults(results), withTestID(testID))
	case "error":
		if len(f) < 2 {
			return fmt.Errorf("say error CODE [TEXT]")
		}
		text := strings.Join(f[2:], " ")
		if err := sim.Error(f[1], text); err != nil {
			return err
		}
		fmt.Fprintf(out, "test %d: error %s %q: ER record sent\n", sim.State().LastTest, f[1], text)
	case "selfcheck":
		if err := args(1, 1, "pass|fail"); err != nil || (f[1] != substance.SelfCheckPass && f[1] != substance.SelfCheckFail) {
			return fmt.Errorf("say selfcheck pass or selfcheck fail")
		}
		if err := sim.FailSelfCheck(f[1] == substance.SelfCheckFail); err != nil {
			return err
		}
		fmt.Fprintf(out, "self-check %s: %s\n", f[1], sent())
	case "calibration":
		if err := args(1, 1, "YYYY-MM-DD"); err != nil {
			return err
		}
		if err := sim.SetCalibrationDue(f[1]); err != nil {
			return err
		}
		late := ""
		if f[1] < clk.Now().Format(time.DateOnly) {
			late = " (out of date)"
		}
		fmt.Fprintf(out, "calibration due %s%s: %s\n", f[1], late, sent())
	case "cassette":
		if err := args(2, 2, "LOT YYYY-MM-DD"); err != nil {
			return err
		}
		if sim.Kind() != substance.KindOralFluid {
			return fmt.Errorf("a breath meter has no cassettes")
		}
		if err := sim.SetCassette(f[1], f[2]); err != nil {
			return err
		}
		fmt.Fprintf(out, "next tests: cassette %s expiring %s\n", f[1], f[2])
	case "temperature":
		if err := args(1, 1, "C"); err != nil {
			return err
		}
		if sim.Kind() != substance.KindBreathAlcohol {
			return fmt.Errorf("an oral-fluid analyser reports no temperature")
		}
		c, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			return fmt.Errorf("%q: say °C, e.g. 19.5", f[1])
		}
		sim.SetTemperature(c)
		fmt.Fprintf(out, "next tests: %s °C\n", f[1])
	case "garbage":
		if err := args(1, 1, "N"); err != nil {
			return err
		}
		n, err := strconv.Atoi(f[1])
		if err != nil || n < 1 || n > 10000 {
			return fmt.Errorf("%q: say how many lines, 1 to 10000", f[1])
		}
		if err := sim.Garbage(n); err != nil {
			return err
		}
		lines := "lines"
		if n == 1 {
			lines = "line"
		}
		fmt.Fprintf(out, "%d bad %s sent\n", n, lines)
	case "power":
		if err := args(1, 1, "on|off"); err != nil || (f[1] != "on" && f[1] != "off") {
			return fmt.Errorf("say power on or power off")
		}
		if err := sim.PowerOff(f[1] == "off"); err != nil {
			return err
		}
		if f[1] == "off" {
			fmt.Fprintln(out, "switched off")
		} else {
			fmt.Fprintln(out, "switched on: ID record sent")
		}
	case "status":
		st := sim.State()
		power, cond := "on", fmt.Sprintf("%s °C", strconv.FormatFloat(st.TemperatureC, 'f', -1, 64))
		if st.Off {
			power = "off"
		}
		if st.Kind == substance.KindOralFluid {
			cond = fmt.Sprintf("cassette %s expiring %s", st.CassetteLot, st.CassetteExpiry)
		}
		fmt.Fprintf(out, "%s %s: %s, firmware %s, calibration due %s, self-check %s, last test %d, %s, ID requests answered: %d\n",
			st.Kind, st.Serial, power, st.Firmware, st.CalibrationDue, st.SelfCheck, st.LastTest, cond, st.Requests)
	default:
		return fmt.Errorf("unknown command (breath, oral, error, selfcheck, calibration, cassette, temperature, garbage, power, status)")
	}
	return nil
}

// withTestID returns ", test id ID", or "" for no id.
func withTestID(id string) string {
	if id == "" {
		return ""
	}
	return ", test id " + id
}

// panelResults says which panels of an oral-fluid test were not negative, as the
// command named them.
func panelResults(results map[string]string) string {
	var named []string
	for p, r := range results {
		if r != substance.CodeNegative && r != substance.ResultNegative {
			named = append(named, p+" "+r)
		}
	}
	if len(named) == 0 {
		return "every panel negative"
	}
	slices.Sort(named)
	return strings.Join(named, ", ") + ", the rest negative"
}
