package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/creack/pty"

	"github.com/apedge/apedge/cmd/apedge/internal/cli"
	"github.com/apedge/apedge/devices/osdp"
	"github.com/apedge/apedge/devices/serialport"
	"github.com/apedge/apedge/devices/wiegand"
	"github.com/apedge/apedge/internal/config"
)

const simUsage = `apedge sim osdp-pd (-tty PATH | -pty) -addr N[,N...] [flags]

Runs simulated OSDP readers (PDs) on one serial line, answering a control panel byte
for byte as real readers would: apedge's bridge, or any other panel.

  -tty PATH   the line to answer on: a USB RS-485 adapter wired to a panel, or one end
              of a pseudo-terminal pair (socat -d -d pty,raw,echo=0 pty,raw,echo=0)
  -pty        make a pseudo-terminal and print the device name for the panel to open

Commands on standard input, one per line, for the reader at the first address unless
prefixed with @N (e.g. "@2 swipe 12:10001"):
  swipe FC:CN       present a 26-bit card (facility 0-255, number 0-65535)
  swipe34 FC:CN     present a 34-bit card
  keypad DIGITS     press keys
  tamper on|off     open or close the tamper switch
  power on|off      power the reader off (it stops answering) and on
  reboot            lose the session and sequence, as after a power cut
  garble N          corrupt the next N replies; badcrc N: spoil their check bytes
  slow DURATION     answer every frame late, e.g. slow 300ms; slow 0 to stop
  status            print what the panel last set (LED, buzzer) and the counters
`

// cmdSim runs simulated devices worked by commands on s.stdin: OSDP readers
// answering on a serial line (osdp-pd), an RTSP camera (camera), a breath meter or
// an oral-fluid analyser (substance), a PAT tester (pat), a body-worn camera dock
// (dock).
func (s sys) cmdSim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "camera" {
		return s.simCamera(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "substance" {
		return s.simSubstance(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "pat" {
		return s.simPAT(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "dock" {
		return s.simDock(ctx, args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "osdp-pd" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			fmt.Fprint(stdout, simUsage)
			return nil
		}
		fmt.Fprint(stderr, "apedge sim: say which device: apedge sim osdp-pd -h, apedge sim camera -h, apedge sim substance -h, apedge sim pat -h, apedge sim dock -h\n")
		return cli.ErrUsage
	}
	fs := cli.Flags("sim osdp-pd", simUsage, stderr)
	tty := fs.String("tty", "", "serial `device` to answer on")
	mkpty := fs.Bool("pty", false, "make a pseudo-terminal and print its name")
	addrs := fs.String("addr", "", "reader `address`es, 0-126, comma-separated")
	baud := fs.Int("baud", 9600, "line speed (the wire time is simulated on a pseudo-terminal)")
	scbk := fs.String("scbk", "", "secure channel base key `file` (32 hex digits, mode 0600); none: no secure channel")
	install := fs.Bool("install", false, "install mode: accept the default key until the panel sets one")
	serial := fs.Uint("serial", 1, "serial number the readers report (address added)")
	if err := cli.Parse(fs, args[1:], 0); err != nil {
		return err
	}
	if (*tty == "") == !*mkpty {
		fmt.Fprintln(stderr, "apedge sim osdp-pd: give -tty PATH or -pty")
		return cli.ErrUsage
	}
	if err := cli.Required(fs, "addr", *addrs); err != nil {
		return err
	}
	var key []byte
	if *scbk != "" {
		k, err := config.ReadHexKey(*scbk, osdp.KeyLen)
		if err != nil {
			return err
		}
		key = k
	}
	var readers []*osdp.Reader
	byAddr := map[int]*osdp.Reader{}
	for _, a := range strings.Split(*addrs, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(a))
		if err != nil || n < 0 || n > 126 || byAddr[n] != nil {
			fmt.Fprintf(stderr, "apedge sim osdp-pd: -addr %q: want distinct addresses 0-126\n", a)
			return cli.ErrUsage
		}
		r := osdp.NewReader(osdp.ReaderConfig{Address: n, SCBK: key, AcceptDefaultKey: *install,
			ID: osdp.PDID{Vendor: 0x0A9E00, Model: 1, Version: 1, Serial: uint32(*serial) + uint32(n), Firmware: [3]byte{1, 0, 0}}})
		readers = append(readers, r)
		byAddr[n] = r
	}
	var line osdp.Port
	if *mkpty {
		ptmx, pts, err := pty.Open()
		if err != nil {
			return fmt.Errorf("pseudo-terminal: %w", err)
		}
		defer ptmx.Close()
		defer pts.Close()
		line = osdp.Paced(ptmx, *baud)
		fmt.Fprintf(stdout, "simulated readers %s answering on %s (point the panel at it, e.g. osdp: - port: %s)\n", *addrs, pts.Name(), pts.Name())
	} else {
		p, err := serialport.Open(*tty, *baud)
		if err != nil {
			return err
		}
		defer p.Close()
		line = p
		fmt.Fprintf(stdout, "simulated readers %s answering on %s at %d baud\n", *addrs, *tty, *baud)
	}
	if key == nil && !*install {
		fmt.Fprintln(stdout, "secure channel: off (give -scbk FILE to turn it on)")
	}
	go simCommands(ctx, s.stdin, stdout, readers[0], byAddr)
	err := osdp.ServeBus(ctx, line, readers...)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// simCommands reads commands for the simulated readers until in ends.
func simCommands(ctx context.Context, in io.Reader, out io.Writer, first *osdp.Reader, byAddr map[int]*osdp.Reader) {
	sc := bufio.NewScanner(in)
	for sc.Scan() && ctx.Err() == nil {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		r := first
		if strings.HasPrefix(f[0], "@") {
			n, _ := strconv.Atoi(f[0][1:])
			if r = byAddr[n]; r == nil || len(f) < 2 {
				fmt.Fprintf(out, "no reader at %s\n", f[0])
				continue
			}
			f = f[1:]
		}
		if err := simCommand(r, f, out); err != nil {
			fmt.Fprintf(out, "%s: %v\n", f[0], err)
		}
	}
}

// simCommand carries out one command line f on the simulated reader r.
func simCommand(r *osdp.Reader, f []string, out io.Writer) error {
	arg := func() (string, error) {
		if len(f) < 2 {
			return "", fmt.Errorf("missing argument")
		}
		return f[1], nil
	}
	onOff := func() (bool, error) {
		a, err := arg()
		if err != nil || (a != "on" && a != "off") {
			return false, fmt.Errorf("say on or off")
		}
		return a == "on", nil
	}
	count := func() (int, error) {
		a, err := arg()
		if err != nil {
			return 0, err
		}
		return strconv.Atoi(a)
	}
	switch f[0] {
	case "swipe", "swipe34":
		a, err := arg()
		if err != nil {
			return err
		}
		bits := 26
		if f[0] == "swipe34" {
			bits = 34
		}
		c, err := wiegand.Parse(a, bits)
		if err != nil {
			return fmt.Errorf("write the card as FACILITY:NUMBER, e.g. 12:10001 (%v)", err)
		}
		r.Swipe(c)
	case "keypad":
		a, err := arg()
		if err != nil {
			return err
		}
		r.Keypad(a)
	case "tamper":
		on, err := onOff()
		if err != nil {
			return err
		}
		r.SetTamper(on)
	case "power":
		on, err := onOff()
		if err != nil {
			return err
		}
		r.PowerOff(!on)
	case "reboot":
		r.Reboot()
	case "garble", "badcrc":
		n, err := count()
		if err != nil {
			return err
		}
		if f[0] == "garble" {
			r.SetFaults(osdp.Faults{GarbleNext: n})
		} else {
			r.SetFaults(osdp.Faults{BadCRCNext: n})
		}
	case "slow":
		a, err := arg()
		if err != nil {
			return err
		}
		d, err := time.ParseDuration(a)
		if err != nil {
			return err
		}
		r.SetFaults(osdp.Faults{Delay: d})
	case "status":
		fmt.Fprintf(out, "reader %d: secure %v, LED %+v, buzzer %+v, %+v\n", r.Address(), r.Secure(), r.LED(), r.Buzzer(), r.Stats())
		return nil
	default:
		return fmt.Errorf("unknown command (swipe, swipe34, keypad, tamper, power, reboot, garble, badcrc, slow, status)")
	}
	fmt.Fprintln(out, "ok")
	return nil
}
