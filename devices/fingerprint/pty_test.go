package fingerprint

import (
	"errors"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/apedge/apedge/devices/serialport"
)

// ptyRig is a Terminal on a real serial port, the slave of a pseudo-terminal
// opened by serialport.Open as the bridge opens a module's, and a Sim on its
// master.
func ptyRig(t *testing.T, so SimOptions, to Options) (*Terminal, *Sim) {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	port, err := serialport.Open(tty.Name(), DefaultBaud)
	if err != nil {
		ptmx.Close()
		tty.Close()
		t.Fatal(err)
	}
	if to.Timeout == 0 {
		to.Timeout = 2 * time.Second
	}
	term := NewTerminal(port, to)
	sim := NewSim(so)
	serve(t, sim, ptmx, func() {
		term.Close()
		port.Close()
		tty.Close()
	})
	return term, sim
}

// TestEnrolAndSearchOverPTY: the whole life of a terminal over a serial line.
func TestEnrolAndSearchOverPTY(t *testing.T) {
	term, sim := ptyRig(t, SimOptions{}, Options{})
	enrolAndSearch(t, term, sim)
}

// TestFaultsOverPTY: silence and garbage on a serial line, and the line
// working again after them.
func TestFaultsOverPTY(t *testing.T) {
	ctx := t.Context()
	term, sim := ptyRig(t, SimOptions{LED: LEDAura}, Options{LED: LEDAura, Timeout: 300 * time.Millisecond})
	must(t, "VerifyPassword", term.VerifyPassword(ctx))
	sim.Silent(true)
	mustIs(t, "silent", term.VerifyPassword(ctx), ErrNoReply)
	sim.Silent(false)
	sim.Garbage(2)
	for i, want := range []string{CauseGarbage, CauseChecksum} {
		if err := term.SetAura(ctx, Aura{Control: AuraOn, Color: AuraPurple}); !errors.Is(err, ErrNoReply) || CauseOf(err) != want {
			t.Errorf("garbled reply %d: %v, want cause %s", i, err, want)
		}
	}
	sim.PutTemplate(2, fingerA)
	if used, err := term.ReadIndexTable(ctx); err != nil || len(used) != 1 || used[0] != 2 {
		t.Errorf("ReadIndexTable after the faults = %v, %v", used, err)
	}
	if b := term.Bad(); b[CauseGarbage] != 1 || b[CauseChecksum] != 1 {
		t.Errorf("bad %v", b)
	}
}
