package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/apedge/apedge/cmd/apedge/internal/cli"
	"github.com/apedge/apedge/devices/pattester"
	"github.com/apedge/apedge/formats/pat"
)

const simPATUsage = `apedge sim pat (-tty PATH | -pty) [-serial S] [-baud N]

Runs a simulated PAT (portable appliance) tester downloading its results over a
serial line in the record protocol of apedge's PAT testers (devices/pattester), byte
for byte as a real one's adapter would: to apedge's bridge, or any other reader of
the protocol. It sends its ID record at power-on and whenever asked (RQ what=id),
and a PT record for each test it is told of. It dates its records by the system
clock.

  -tty PATH   the line to answer on: a USB serial adapter wired to the bridge's, or one
              end of a pseudo-terminal pair (socat -d -d pty,raw,echo=0 pty,raw,echo=0)
  -pty        make a pseudo-terminal and print its name and the bridge's configuration
              line for it

Commands on standard input, one per line, each answered with one line saying what it
did or why not:
  test ASSET [TESTER]      a Class I item that passes with sound figures (earth
                           0.08 ohm, insulation 200 Mohm at 500 V, leakage 0.3 mA)
  fail FIGURE ASSET [pass] a test in which FIGURE (earth, insulation, leakage or
                           visual) fails; with pass the tester still says pass (the
                           register must flag it)
  calibration YYYY-MM-DD   the calibration due date (sends the ID record)
  garbage N                N bad lines
  power on|off             switch it off (it says and answers nothing) and on
  status                   serial, model, calibration, the last test number
`

// simPAT is apedge sim pat.
func (s sys) simPAT(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.Flags("sim pat", simPATUsage, stderr)
	tty := fs.String("tty", "", "serial `device` to answer on")
	mkpty := fs.Bool("pty", false, "make a pseudo-terminal and print its name")
	serial := fs.String("serial", "SIM-pat-1", "the `serial` number the tester reports")
	baud := fs.Int("baud", 9600, "line speed of -tty (a pseudo-terminal has none)")
	if err := cli.Parse(fs, args, 0); err != nil {
		return err
	}
	if (*tty == "") == !*mkpty {
		fmt.Fprintln(stderr, "apedge sim pat: give -tty PATH or -pty")
		return cli.ErrUsage
	}
	if len(*serial) == 0 || len(*serial) > 64 || strings.IndexFunc(*serial, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0 {
		fmt.Fprintf(stderr, "apedge sim pat: -serial %q: 1 to 64 printable characters, no spaces\n", *serial)
		return cli.ErrUsage
	}
	if *baud <= 0 {
		fmt.Fprintf(stderr, "apedge sim pat: -baud %d: give the line speed, e.g. 9600\n", *baud)
		return cli.ErrUsage
	}
	sim := pattester.NewSim(*serial, s.clock)
	port, closePort, name, err := openSimLine(*tty, *mkpty, *baud)
	if err != nil {
		return err
	}
	defer closePort()
	fmt.Fprintf(stdout, "simulated PAT tester %s answering on %s\n", *serial, name)
	if *mkpty {
		fmt.Fprintf(stdout, "bridge configuration: patTesters: - {id: pat-1, port: %s}\n", name)
	}
	go simPATCommands(ctx, s.stdin, stdout, sim)
	served := make(chan error, 1)
	go func() { served <- sim.Serve(ctx, port) }()
	select {
	case <-ctx.Done():
		return nil // Serve ends once the line is closed
	case err := <-served:
		return fmt.Errorf("simulated PAT tester: %w", err)
	}
}

// simPATCommands works the simulated tester by the commands read from in,
// answering each with one line on out, until in ends.
func simPATCommands(ctx context.Context, in io.Reader, out io.Writer, sim *pattester.Sim) {
	sc := bufio.NewScanner(in)
	for sc.Scan() && ctx.Err() == nil {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if err := simPATCommand(sim, f, out); err != nil {
			fmt.Fprintf(out, "%s: %v\n", f[0], err)
		}
	}
}

// simPATCommand carries out one command line f on the simulated tester, saying
// what it did on out in one line.
func simPATCommand(sim *pattester.Sim, f []string, out io.Writer) error {
	args := func(least, most int, form string) error {
		if n := len(f) - 1; n < least || n > most {
			return fmt.Errorf("say %s %s", f[0], form)
		}
		return nil
	}
	switch f[0] {
	case "test":
		if err := args(1, 2, "ASSET [TESTER]"); err != nil {
			return err
		}
		tester := "Sam Staff"
		if len(f) > 2 {
			tester = f[2]
		}
		n, err := sim.Test(sim.Passing(f[1], tester))
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "test %d: %s passes (Class I, sound figures): PT record sent\n", n, f[1])
	case "fail":
		if err := args(2, 3, "FIGURE ASSET [pass]"); err != nil {
			return err
		}
		pass := len(f) > 3
		if pass && f[3] != "pass" {
			return fmt.Errorf("%q: say pass, or nothing", f[3])
		}
		n, err := sim.Failing(sim.Passing(f[2], "Sam Staff"), f[1], pass)
		if err != nil {
			return err
		}
		said := pat.ResultFail
		if pass {
			said = pat.ResultPass
		}
		fmt.Fprintf(out, "test %d: %s with a failing %s, the tester saying %s: PT record sent\n", n, f[2], f[1], said)
	case "calibration":
		if err := args(1, 1, "YYYY-MM-DD"); err != nil {
			return err
		}
		if err := sim.SetCalibrationDue(f[1]); err != nil {
			return err
		}
		fmt.Fprintf(out, "calibration due %s: ID record sent\n", f[1])
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
		fmt.Fprintf(out, "%d bad lines sent\n", n)
	case "power":
		if err := args(1, 1, "on|off"); err != nil || (f[1] != "on" && f[1] != "off") {
			return fmt.Errorf("say power on or power off")
		}
		if err := sim.PowerOff(f[1] == "off"); err != nil {
			return err
		}
		fmt.Fprintf(out, "switched %s\n", f[1])
	case "status":
		st := sim.State()
		power := "on"
		if st.Off {
			power = "off"
		}
		fmt.Fprintf(out, "PAT tester %s (%s, firmware %s): %s, calibration due %s, last test %d, ID requests answered: %d\n",
			st.Serial, st.Model, st.Firmware, power, st.CalibrationDue, st.LastTest, st.Requests)
	default:
		return fmt.Errorf("unknown command (test, fail, calibration, garbage, power, status)")
	}
	return nil
}
