package main

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/apedge/apedge/cmd/apedge/internal/clitest"
	"github.com/apedge/apedge/devices/fingerprint"
	"github.com/apedge/apedge/internal/clock/clocktest"
	"github.com/apedge/apedge/internal/wait"
)

// fingerprintRig is a simulated fingerprint module answering on the master of a
// pseudo-terminal, whose slave apedge fingerprint is given as -tty, and the
// clock the command runs by.
type fingerprintRig struct {
	t   *testing.T
	sim *fingerprint.Sim
	tty string
	clk *clocktest.Clock
}

// newFingerprintRig serves a Sim made with so on a new pseudo-terminal until the
// test ends.
func newFingerprintRig(t *testing.T, so fingerprint.SimOptions) *fingerprintRig {
	t.Helper()
	ptmx, pts, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	sim := fingerprint.NewSim(so)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := sim.Serve(ctx, ptmx); ctx.Err() == nil {
			t.Errorf("the simulator stopped: %v", err)
		}
	})
	t.Cleanup(func() {
		cancel()
		ptmx.Close()
		pts.Close() // held open until now, so the master never reads the slave's hang-up
		wg.Wait()
	})
	return &fingerprintRig{t: t, sim: sim, tty: pts.Name(), clk: clocktest.New(simTime)}
}

// args are apedge fingerprint -tty and the rig's line, then more.
func (r *fingerprintRig) args(more ...string) []string {
	return append([]string{"fingerprint", "-tty", r.tty, "-timeout", "300ms"}, more...)
}

// run runs apedge fingerprint with more after -tty, in-process as main does,
// by the rig's clock.
func (r *fingerprintRig) run(more ...string) clitest.Result {
	r.t.Helper()
	args := r.args(more...)
	var stdout, stderr clitest.LockedBuffer
	code := run(sys{stdin: strings.NewReader(""), clock: r.clk}, args, &stdout, &stderr)
	return clitest.Result{Args: args, Code: code, Stdout: stdout.String(), Stderr: stderr.String()}
}

// start runs apedge fingerprint in the background and returns its result when
// the returned function is called.
func (r *fingerprintRig) start(more ...string) func() clitest.Result {
	done := make(chan clitest.Result, 1)
	go func() { done <- r.run(more...) }()
	return func() clitest.Result {
		r.t.Helper()
		select {
		case res := <-done:
			return res
		case <-time.After(10 * time.Second):
			r.t.Fatalf("apedge fingerprint %s did not return", strings.Join(more, " "))
			return clitest.Result{}
		}
	}
}

// commandsAtLeast waits until the simulator has carried out n commands.
func (r *fingerprintRig) commandsAtLeast(n int) {
	r.t.Helper()
	wait.For(r.t, 5*time.Second, "the terminal's commands", func() (bool, string) {
		c := r.sim.State().Commands
		return c >= n, "commands so far: " + strings.Repeat("|", c)
	})
}

// put writes templates of fingers into slots of the simulator.
func (r *fingerprintRig) put(slots map[int]string) {
	r.t.Helper()
	for slot, f := range slots {
		if err := r.sim.PutTemplate(slot, f); err != nil {
			r.t.Fatal(err)
		}
	}
}

// decodeFingerprint decodes a run's stdout as JSON into v, failing the test if the run
// failed.
func decodeFingerprint(t *testing.T, res clitest.Result, v any) {
	t.Helper()
	if res.Code != 0 || res.Stderr != "" {
		t.Fatalf("want success\n%v", res)
	}
	if err := json.Unmarshal([]byte(res.Stdout), v); err != nil {
		t.Fatalf("stdout is not the JSON object: %v\n%v", err, res)
	}
}

func TestFingerprintInfo(t *testing.T) {
	r := newFingerprintRig(t, fingerprint.SimOptions{Capacity: 300, SecurityLevel: 4})
	r.put(map[int]string{0: "ann-left-index", 7: "bob-right-thumb"})
	var got map[string]int
	decodeFingerprint(t, r.run("-json", "info"), &got)
	want := map[string]int{"capacity": 300, "templates": 2, "securityLevel": 4, "packetSize": 128, "baud": 57600}
	if !maps.Equal(got, want) {
		t.Errorf("info -json = %v, want %v", got, want)
	}
	res := r.run("info")
	if res.Code != 0 {
		t.Fatalf("info failed\n%v", res)
	}
	for _, line := range []string{"capacity        300", "templates       2", "security level  4", "packet size     128 bytes", "baud            57600"} {
		if !slices.Contains(clitest.Lines(res.Stdout), line) {
			t.Errorf("info does not print %q\n%v", line, res)
		}
	}
}

func TestFingerprintListAndDelete(t *testing.T) {
	r := newFingerprintRig(t, fingerprint.SimOptions{Capacity: 600}) // three index pages
	var list struct{ Slots []int }
	decodeFingerprint(t, r.run("-json", "list"), &list)
	if list.Slots == nil || len(list.Slots) != 0 {
		t.Errorf("list of an empty library = %#v, want []", list.Slots)
	}
	r.put(map[int]string{4: "ann-left-index", 9: "ann-right-index", 513: "bob-left-thumb"})
	decodeFingerprint(t, r.run("-json", "list"), &list)
	if want := []int{4, 9, 513}; !slices.Equal(list.Slots, want) {
		t.Errorf("list = %v, want %v", list.Slots, want)
	}
	if res := r.run("list"); res.Stdout != "3 slots used: 4 9 513\n" {
		t.Errorf("list's text\n%v", res)
	}

	var del struct {
		Slot  int
		Free  bool
		Slots []int
	}
	decodeFingerprint(t, r.run("delete", "-json", "4"), &del)
	if del.Slot != 4 || !del.Free || !slices.Equal(del.Slots, []int{9, 513}) {
		t.Errorf("delete 4 = %+v, want slot 4 free, 9 and 513 used", del)
	}
	if _, ok := r.sim.Slots()[4]; ok {
		t.Errorf("slot 4 still holds a template on the terminal: %v", r.sim.Slots())
	}
	decodeFingerprint(t, r.run("-json", "list"), &list)
	if want := []int{9, 513}; !slices.Equal(list.Slots, want) {
		t.Errorf("list after delete 4 = %v, want %v", list.Slots, want)
	}
	res := r.run("delete", "9")
	if res.Code != 0 || !strings.HasPrefix(res.Stdout, "slot 9 deleted: the index table read back shows it free (1 of 600 slots used)") {
		t.Errorf("delete 9\n%v", res)
	}
	clitest.WantOneLine(t, r.run("delete", "600"), 1, "apedge fingerprint: "+r.tty+": slot 600 is beyond the terminal's library of 600")
	clitest.WantOneLine(t, r.run("delete", "four"), 2, "apedge fingerprint delete: give the SLOT")
}

func TestFingerprintEmpty(t *testing.T) {
	r := newFingerprintRig(t, fingerprint.SimOptions{})
	r.put(map[int]string{1: "ann-left-index", 2: "ann-right-index"})
	clitest.WantOneLine(t, r.run("empty"), 2, "apedge fingerprint empty: this deletes every template on the terminal: say -yes")
	if n := len(r.sim.Slots()); n != 2 || r.sim.State().Commands != 0 {
		t.Errorf("empty without -yes: %d templates left, %d commands sent; want 2 and none", n, r.sim.State().Commands)
	}
	var got struct{ Slots []int }
	decodeFingerprint(t, r.run("-json", "empty", "-yes"), &got)
	if got.Slots == nil || len(got.Slots) != 0 || len(r.sim.Slots()) != 0 {
		t.Errorf("empty -yes: printed %#v, terminal holds %v; want both empty", got.Slots, r.sim.Slots())
	}
}

func TestFingerprintVerify(t *testing.T) {
	r := newFingerprintRig(t, fingerprint.SimOptions{})
	r.put(map[int]string{3: "ann-left-index", 12: "bob-right-thumb"})
	r.sim.SetScore("bob-right-thumb", 142)

	r.sim.PlaceFinger("bob-right-thumb")
	var got map[string]any
	decodeFingerprint(t, r.run("-json", "verify"), &got)
	if got["matched"] != true || got["slot"] != 12.0 || got["score"] != 142.0 || len(got) != 3 {
		t.Errorf("verify of an enrolled finger = %v, want matched, slot 12, score 142", got)
	}
	if res := r.run("verify"); res.Stdout != "matched: slot 12, score 142\n" {
		t.Errorf("verify's text\n%v", res)
	}

	r.sim.PlaceFinger("carol-left-index")
	got = nil
	decodeFingerprint(t, r.run("-json", "verify"), &got)
	if got["matched"] != false || len(got) != 1 {
		t.Errorf("verify of an unknown finger = %v, want only matched false", got)
	}
}

// TestFingerprintVerifyWaits: verify polls by its clock until a finger comes, or
// gives up when -for has passed.
func TestFingerprintVerifyWaits(t *testing.T) {
	t.Run("finger comes", func(t *testing.T) {
		r := newFingerprintRig(t, fingerprint.SimOptions{})
		r.put(map[int]string{5: "ann-left-index"})
		done := r.start("-json", "verify")
		r.commandsAtLeast(3) // VfyPwd, ReadSysPara, a GenImg with no finger
		r.sim.PlaceFinger("ann-left-index")
		r.clk.Add(time.Second)
		var got fingerprintVerified
		decodeFingerprint(t, done(), &got)
		if !got.Matched || got.Slot == nil || *got.Slot != 5 {
			t.Errorf("verify = %+v, want slot 5", got)
		}
	})
	t.Run("a bad image, then a good one", func(t *testing.T) {
		r := newFingerprintRig(t, fingerprint.SimOptions{})
		r.put(map[int]string{5: "ann-left-index"})
		r.sim.FailNextCaptures(1, fingerprint.CodeImageMessy)
		r.sim.PlaceFinger("ann-left-index")
		done := r.start("-json", "verify")
		r.commandsAtLeast(4) // VfyPwd, ReadSysPara, GenImg, a refused Img2Tz
		r.clk.Add(time.Second)
		var got fingerprintVerified
		decodeFingerprint(t, done(), &got)
		if !got.Matched || got.Slot == nil || *got.Slot != 5 {
			t.Errorf("verify = %+v, want slot 5", got)
		}
	})
	t.Run("no finger", func(t *testing.T) {
		r := newFingerprintRig(t, fingerprint.SimOptions{})
		done := r.start("verify", "-for", "2s")
		r.commandsAtLeast(3)
		r.clk.Add(3 * time.Second)
		clitest.WantOneLine(t, done(), 1, "apedge fingerprint: "+r.tty+": no finger on the terminal's sensor within 2s")
	})
}

func TestFingerprintPassword(t *testing.T) {
	dir := t.TempDir()
	right := clitest.WriteFile(t, dir, "right", "1234abcd\n", 0o600)
	wrong := clitest.WriteFile(t, dir, "wrong", "00000001\n", 0o600)
	open := clitest.WriteFile(t, dir, "open", "1234abcd\n", 0o644)
	short := clitest.WriteFile(t, dir, "short", "1234\n", 0o600)

	r := newFingerprintRig(t, fingerprint.SimOptions{Password: 0x1234ABCD})
	r.put(map[int]string{8: "ann-left-index"})
	refused := "apedge fingerprint: " + r.tty + ": the terminal at address FFFFFFFF refused the password"
	clitest.WantOneLine(t, r.run("-password-file", wrong, "list"), 1, refused)
	clitest.WantOneLine(t, r.run("list"), 1, refused) // the default, 00000000
	clitest.WantOneLine(t, r.run("-password-file", open, "list"), 1, "apedge fingerprint: secret: "+open+" has mode 0644: chmod 600 it")
	res := r.run("-password-file", short, "list")
	clitest.WantOneLine(t, res, 1, "apedge fingerprint: "+short+": the password must be 8 hex digits")
	if strings.Contains(res.Stderr, "1234") {
		t.Errorf("the error shows the password file's content: %q", res.Stderr)
	}

	r.sim.SetPassword(0x1234ABCD) // as after a power cycle: not verified
	var list fingerprintSlots
	decodeFingerprint(t, r.run("-password-file", right, "-json", "list"), &list)
	if !slices.Equal(list.Slots, []int{8}) {
		t.Errorf("list with the right password = %v, want [8]", list.Slots)
	}
}

func TestFingerprintNoAnswer(t *testing.T) {
	r := newFingerprintRig(t, fingerprint.SimOptions{})
	r.sim.Silent(true)
	clitest.WantOneLine(t, r.run("info"), 1,
		"apedge fingerprint: "+r.tty+": no answer from the terminal at address FFFFFFFF within 300ms: check the wiring, baud and address")

	// A terminal at another address is no answer either.
	r.sim.Silent(false)
	clitest.WantOneLine(t, r.run("-addr", "0000000A", "info"), 1,
		"apedge fingerprint: "+r.tty+": no answer from the terminal at address 0000000A within 300ms")
}

func TestFingerprintUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no tty", []string{"fingerprint", "info"}, "apedge fingerprint: -tty is required"},
		{"no subcommand", []string{"fingerprint", "-tty", "/dev/null"}, "apedge fingerprint: say info, list"},
		{"unknown subcommand", []string{"fingerprint", "-tty", "/dev/null", "enrol"}, `apedge fingerprint: unknown "enrol"`},
		{"bad address", []string{"fingerprint", "-tty", "/dev/null", "-addr", "FFFF", "info"}, `apedge fingerprint: -addr "FFFF"`},
		{"zero address", []string{"fingerprint", "-tty", "/dev/null", "-addr", "00000000", "info"}, `apedge fingerprint: -addr "00000000"`},
		{"bad baud", []string{"fingerprint", "-tty", "/dev/null", "-baud", "1000", "info"}, "apedge fingerprint: -baud 1000"},
		{"stray argument", []string{"fingerprint", "-tty", "/dev/null", "list", "5"}, `apedge fingerprint list: unexpected argument "5"`},
		{"delete without slot", []string{"fingerprint", "-tty", "/dev/null", "delete"}, "apedge fingerprint delete: give the SLOT"},
		{"verify too short", []string{"fingerprint", "-tty", "/dev/null", "verify", "-for", "10ms"}, "apedge fingerprint verify: -for 10ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clitest.WantOneLine(t, apedge(t, tt.args...), 2, tt.want)
		})
	}
	t.Run("help", func(t *testing.T) {
		r := apedge(t, "fingerprint", "-h")
		if first, _, _ := strings.Cut(r.Stderr, "\n"); r.Code != 0 || !strings.HasPrefix(first, "Usage: apedge fingerprint -tty PATH") {
			t.Errorf("want exit 0 and the usage\n%v", r)
		}
	})
	t.Run("no such line", func(t *testing.T) {
		p := t.TempDir() + "/ttyNONE"
		if _, err := os.Stat(p); err == nil {
			t.Fatal(p + " exists")
		}
		clitest.WantOneLine(t, apedge(t, "fingerprint", "-tty", p, "info"), 1, "apedge fingerprint: serialport: open "+p)
	})
}
