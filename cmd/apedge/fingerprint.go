package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/apedge/apedge/cmd/apedge/internal/cli"
	"github.com/apedge/apedge/devices/fingerprint"
	"github.com/apedge/apedge/devices/serialport"
	"github.com/apedge/apedge/internal/secret"
)

const fingerprintUsage = `apedge fingerprint -tty PATH [-baud 57600] [-addr FFFFFFFF] [-password-file FILE] [-timeout 2s] [-json] info|list|delete SLOT|empty -yes|verify [-for 10s]

Talks to one fingerprint terminal (an R30x, ZFM-20 or AS608 module) on the serial
line PATH directly, as an installer does before the bridge is given it. The
terminal's password is verified first (the default 00000000 unless -password-file,
a file of mode 0600, holds its 8 hex digits).

  info          its capacity, template count, security level, packet size and baud
  list          the used slots, from its index table
  delete SLOT   deletes the template in SLOT, then reads the index table back and
                says whether the slot reads free
  empty -yes    deletes every template in its library
  verify        waits (up to -for) for a finger, searches the library for it and
                prints the slot it matched and the score; a finger that matches no
                slot is a result too (exit 0)

With -json each prints one JSON object. Templates and images never leave the
terminal. It exits non-zero, with a one-line reason, when the terminal does not
answer or refuses the password.`

// fingerprintPoll is how often verify asks the terminal for an image while no
// finger is on its sensor.
const fingerprintPoll = 200 * time.Millisecond

// fingerprintInfo is what apedge fingerprint info prints.
type fingerprintInfo struct {
	Capacity      int `json:"capacity"`
	Templates     int `json:"templates"`
	SecurityLevel int `json:"securityLevel"`
	PacketSize    int `json:"packetSize"`
	Baud          int `json:"baud"`
}

// fingerprintSlots is what apedge fingerprint list and empty print: the used slots.
type fingerprintSlots struct {
	Slots []int `json:"slots"`
}

// fingerprintDeleted is what apedge fingerprint delete prints: the slot deleted,
// whether the index table read back shows it free, and the used slots it shows.
type fingerprintDeleted struct {
	Slot  int   `json:"slot"`
	Free  bool  `json:"free"`
	Slots []int `json:"slots"`
}

// fingerprintVerified is what apedge fingerprint verify prints: the slot and score
// of a match, or matched false and neither.
type fingerprintVerified struct {
	Matched bool `json:"matched"`
	Slot    *int `json:"slot,omitempty"`
	Score   *int `json:"score,omitempty"`
}

// fingerprintTool is one run of apedge fingerprint: the terminal and how to report.
type fingerprintTool struct {
	s       sys
	term    *fingerprint.Terminal
	tty     string
	addr    uint32
	timeout time.Duration
	asJSON  *bool
	stdout  io.Writer
}

// cmdFingerprint is apedge fingerprint: the installer's tool for one fingerprint
// terminal.
func (s sys) cmdFingerprint(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.Flags("fingerprint", fingerprintUsage, stderr)
	tty := fs.String("tty", "", "the terminal's serial `device`")
	baud := fs.Int("baud", fingerprint.DefaultBaud, "the line's rate")
	addrHex := fs.String("addr", fmt.Sprintf("%08X", fingerprint.DefaultAddress), "the terminal's address, 8 hex digits")
	pwFile := fs.String("password-file", "", "a `file` (mode 0600) holding the terminal's password, 8 hex digits")
	timeout := fs.Duration("timeout", fingerprint.DefaultTimeout, "the most the terminal may take to answer each command")
	asJSON := fs.Bool("json", false, "print one JSON object")
	if err := cli.Parse(fs, args, len(args)); err != nil {
		return err
	}
	if err := cli.Required(fs, "tty", *tty); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fmt.Fprintf(stderr, "apedge fingerprint: say info, list, delete SLOT, empty -yes or verify (see apedge fingerprint -h)\n")
		return cli.ErrUsage
	}
	if *baud <= 0 || *baud%9600 != 0 {
		fmt.Fprintf(stderr, "apedge fingerprint: -baud %d: use a multiple of 9600 (57600 unless it was changed)\n", *baud)
		return cli.ErrUsage
	}
	if *timeout <= 0 {
		fmt.Fprintf(stderr, "apedge fingerprint: -timeout %v: use more than 0\n", *timeout)
		return cli.ErrUsage
	}
	addr, err := parseHex32(*addrHex)
	if err != nil || addr == 0 {
		fmt.Fprintf(stderr, "apedge fingerprint: -addr %q: use 8 hex digits other than 00000000 (FFFFFFFF unless it was changed)\n", *addrHex)
		return cli.ErrUsage
	}

	// The subcommand and its own flags (-json is taken there too).
	sub, rest := fs.Arg(0), fs.Args()[1:]
	sfs := cli.Flags("fingerprint "+sub, fingerprintUsage, stderr)
	sfs.BoolVar(asJSON, "json", *asJSON, "print one JSON object")
	var yes *bool
	var dur *time.Duration
	nargs := 0
	switch sub {
	case "info", "list":
	case "delete":
		nargs = 1
	case "empty":
		yes = sfs.Bool("yes", false, "empty the library: every template on the terminal is deleted")
	case "verify":
		dur = sfs.Duration("for", 10*time.Second, "how long to wait for a finger")
	default:
		fmt.Fprintf(stderr, "apedge fingerprint: unknown %q: say info, list, delete SLOT, empty -yes or verify\n", sub)
		return cli.ErrUsage
	}
	if err := cli.Parse(sfs, rest, nargs); err != nil {
		return err
	}
	slot := -1
	switch {
	case sub == "delete":
		n, err := strconv.Atoi(sfs.Arg(0))
		if err != nil || n < 0 {
			fmt.Fprintf(stderr, "apedge fingerprint delete: give the SLOT to delete, a number from 0 (got %q)\n", sfs.Arg(0))
			return cli.ErrUsage
		}
		slot = n
	case yes != nil && !*yes:
		fmt.Fprintln(stderr, "apedge fingerprint empty: this deletes every template on the terminal: say -yes to do it")
		return cli.ErrUsage
	case dur != nil && (*dur < time.Second || *dur > 10*time.Minute):
		fmt.Fprintf(stderr, "apedge fingerprint verify: -for %v: use 1s to 10m\n", *dur)
		return cli.ErrUsage
	}

	password := fingerprint.DefaultPassword
	if *pwFile != "" {
		raw, err := secret.Read(*pwFile)
		if err != nil {
			return err
		}
		if password, err = parseHex32(strings.TrimSpace(raw)); err != nil {
			return fmt.Errorf("%s: the password must be 8 hex digits, as 0000A1B2", *pwFile)
		}
	}

	port, err := serialport.Open(*tty, *baud)
	if err != nil {
		return err
	}
	defer port.Close()
	term := fingerprint.NewTerminal(port, fingerprint.Options{Address: addr, Password: password, Timeout: *timeout})
	defer term.Close()
	ft := &fingerprintTool{s: s, term: term, tty: *tty, addr: addr, timeout: *timeout, asJSON: asJSON, stdout: stdout}
	if err := term.VerifyPassword(ctx); err != nil {
		return ft.fail(err)
	}
	switch sub {
	case "info":
		err = ft.info(ctx)
	case "list":
		err = ft.list(ctx)
	case "delete":
		err = ft.delete(ctx, slot)
	case "empty":
		err = ft.empty(ctx)
	case "verify":
		err = ft.verify(ctx, *dur)
	}
	return err
}

// parseHex32 parses 8 hex digits (an 0x before them allowed).
func parseHex32(s string) (uint32, error) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if len(s) != 8 {
		return 0, errors.New("not 8 hex digits")
	}
	v, err := strconv.ParseUint(s, 16, 32)
	return uint32(v), err
}

// fail turns an error of the terminal into the command's one-line reason.
func (ft *fingerprintTool) fail(err error) error {
	switch {
	case errors.Is(err, fingerprint.ErrNoReply):
		bad := ""
		if c := fingerprint.CauseOf(err); c != "" {
			bad = fmt.Sprintf(" (only a bad frame came: %s)", c)
		}
		return fmt.Errorf("%s: no answer from the terminal at address %08X within %v%s: check the wiring, baud and address",
			ft.tty, ft.addr, ft.timeout, bad)
	case errors.Is(err, fingerprint.ErrWrongPassword):
		return fmt.Errorf("%s: the terminal at address %08X refused the password: give its password in -password-file", ft.tty, ft.addr)
	case errors.Is(err, fingerprint.ErrPasswordRequired):
		return fmt.Errorf("%s: the terminal at address %08X asks for its password first: give it in -password-file", ft.tty, ft.addr)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%s: interrupted", ft.tty)
	}
	return fmt.Errorf("%s: %w", ft.tty, err)
}

// print prints v as JSON with -json, else text.
func (ft *fingerprintTool) print(v any, text string) error {
	if *ft.asJSON {
		enc := json.NewEncoder(ft.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	_, err := io.WriteString(ft.stdout, text)
	return err
}

// used reads the index table: the used slots, never nil.
func (ft *fingerprintTool) used(ctx context.Context) ([]int, error) {
	used, err := ft.term.ReadIndexTable(ctx)
	if err != nil {
		return nil, ft.fail(err)
	}
	if used == nil {
		used = []int{}
	}
	return used, nil
}

// info prints the terminal's parameters and template count.
func (ft *fingerprintTool) info(ctx context.Context) error {
	p, err := ft.term.ReadSysParams(ctx)
	if err != nil {
		return ft.fail(err)
	}
	n, err := ft.term.TemplateCount(ctx)
	if err != nil {
		return ft.fail(err)
	}
	in := fingerprintInfo{Capacity: p.Capacity, Templates: n, SecurityLevel: p.SecurityLevel, PacketSize: p.PacketSize, Baud: p.Baud}
	return ft.print(in, fmt.Sprintf("capacity        %d\ntemplates       %d\nsecurity level  %d\npacket size     %d bytes\nbaud            %d\n",
		in.Capacity, in.Templates, in.SecurityLevel, in.PacketSize, in.Baud))
}

// list prints the used slots.
func (ft *fingerprintTool) list(ctx context.Context) error {
	used, err := ft.used(ctx)
	if err != nil {
		return err
	}
	return ft.print(fingerprintSlots{Slots: used}, slotsText(used))
}

// slotsText is the used slots as list prints them.
func slotsText(used []int) string {
	if len(used) == 0 {
		return "no slot used\n"
	}
	s := make([]string, len(used))
	for i, v := range used {
		s[i] = strconv.Itoa(v)
	}
	return fmt.Sprintf("%d slots used: %s\n", len(used), strings.Join(s, " "))
}

// delete deletes slot, reads the index table back and says whether slot reads
// free; it fails if it does not.
func (ft *fingerprintTool) delete(ctx context.Context, slot int) error {
	p, err := ft.term.ReadSysParams(ctx)
	if err != nil {
		return ft.fail(err)
	}
	if slot >= p.Capacity {
		return fmt.Errorf("%s: slot %d is beyond the terminal's library of %d (slots 0 to %d)", ft.tty, slot, p.Capacity, p.Capacity-1)
	}
	if err := ft.term.Delete(ctx, slot, 1); err != nil {
		return ft.fail(err)
	}
	used, err := ft.used(ctx)
	if err != nil {
		return err
	}
	d := fingerprintDeleted{Slot: slot, Free: true, Slots: used}
	for _, u := range used {
		if u == slot {
			d.Free = false
		}
	}
	text := fmt.Sprintf("slot %d deleted: the index table read back shows it free (%d of %d slots used)\n", slot, len(used), p.Capacity)
	if !d.Free {
		text = fmt.Sprintf("slot %d: the index table read back still shows it used\n", slot)
	}
	if err := ft.print(d, text); err != nil {
		return err
	}
	if !d.Free {
		return fmt.Errorf("%s: slot %d still reads used after the delete", ft.tty, slot)
	}
	return nil
}

// empty empties the library and reads the index table back; it fails if any
// slot still reads used.
func (ft *fingerprintTool) empty(ctx context.Context) error {
	if err := ft.term.Empty(ctx); err != nil {
		return ft.fail(err)
	}
	used, err := ft.used(ctx)
	if err != nil {
		return err
	}
	text := "library emptied: the index table read back shows no slot used\n"
	if len(used) > 0 {
		text = "after the empty, " + slotsText(used)
	}
	if err := ft.print(fingerprintSlots{Slots: used}, text); err != nil {
		return err
	}
	if len(used) > 0 {
		return fmt.Errorf("%s: %d slots still read used after the empty", ft.tty, len(used))
	}
	return nil
}

// verify waits up to d for a finger on the sensor (polling for an image every
// fingerprintPoll by the command's clock), makes its features and searches the
// library for it.
func (ft *fingerprintTool) verify(ctx context.Context, d time.Duration) error {
	p, err := ft.term.ReadSysParams(ctx)
	if err != nil {
		return ft.fail(err)
	}
	deadline := ft.s.clock.Now().Add(d)
	var last error // the last bad image
	for {
		at := ft.s.clock.Now()
		err := ft.term.CaptureImage(ctx)
		if err == nil {
			err = ft.term.Image2Tz(ctx, fingerprint.CharBuffer1)
		}
		if err == nil {
			break
		}
		switch {
		case isBadImage(err):
			last = err
		case !errors.Is(err, fingerprint.ErrNoFinger):
			return ft.fail(err)
		}
		next := at.Add(fingerprintPoll)
		if !next.Before(deadline) {
			if last != nil {
				return ft.fail(fmt.Errorf("no good image of a finger within %v: %w", d, last))
			}
			return fmt.Errorf("%s: no finger on the terminal's sensor within %v", ft.tty, d)
		}
		select {
		case <-ft.s.clock.Until(next):
		case <-ctx.Done():
			return ft.fail(ctx.Err())
		}
	}
	slot, score, err := ft.term.HighSpeedSearch(ctx, fingerprint.CharBuffer1, 0, p.Capacity)
	switch {
	case errors.Is(err, fingerprint.ErrNotFound):
		return ft.print(fingerprintVerified{}, "not matched: the finger matches no slot of the library\n")
	case err != nil:
		return ft.fail(err)
	}
	return ft.print(fingerprintVerified{Matched: true, Slot: &slot, Score: &score},
		fmt.Sprintf("matched: slot %d, score %d\n", slot, score))
}

// isBadImage says whether err is the module's refusal of an image it could not
// use, which another capture may cure.
func isBadImage(err error) bool {
	for _, e := range []error{fingerprint.ErrImageFail, fingerprint.ErrImageDry, fingerprint.ErrImageWet,
		fingerprint.ErrImageMessy, fingerprint.ErrFewFeatures, fingerprint.ErrNoImage} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
