package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apedge/apedge/cmd/apedge/internal/clitest"
	"github.com/apedge/apedge/devices/serialport"
	"github.com/apedge/apedge/devices/substance"
	"github.com/apedge/apedge/internal/clock/clocktest"
	"github.com/apedge/apedge/internal/wait"
)

// simSubstanceRun is `apedge sim substance -pty` running in-process, and the far end
// of its pseudo-terminal opened as the bridge opens a tester's line.
type simSubstanceRun struct {
	t      *testing.T
	stdin  *io.PipeWriter
	stdout clitest.LockedBuffer
	pts    string

	mu   sync.Mutex
	recs []substance.Record // every good record that came on the line
	bad  map[string]int64   // the bad lines, by cause
	port io.ReadWriteCloser
}

var ptsLine = regexp.MustCompile(`(?m)^simulated \S+ \S+ answering on (/dev/pts/\d+)$`)

// startSimSubstance runs apedge sim substance -pty with args and the clock clk, waits
// for it to print its pseudo-terminal and opens it, reading every record on it.
func startSimSubstance(t *testing.T, clk *clocktest.Clock, args ...string) *simSubstanceRun {
	t.Helper()
	r := &simSubstanceRun{t: t}
	in, stdin := io.Pipe()
	r.stdin = stdin
	ctx, cancel := context.WithCancel(context.Background())
	var stderr clitest.LockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- sys{stdin: in, clock: clk}.cmdSim(ctx, append([]string{"substance", "-pty"}, args...), &r.stdout, &stderr)
	}()
	t.Cleanup(func() {
		cancel()
		stdin.Close()
		select {
		case err := <-done:
			if err != nil || stderr.String() != "" {
				t.Errorf("apedge sim substance: %v, stderr %q", err, stderr.String())
			}
		case <-time.After(10 * time.Second):
			t.Errorf("apedge sim substance did not return when its context ended")
		}
	})
	wait.For(t, 10*time.Second, "the pseudo-terminal's name", func() (bool, string) {
		m := ptsLine.FindStringSubmatch(r.stdout.String())
		if m != nil {
			r.pts = m[1]
		}
		return m != nil, r.stdout.String()
	})
	port, err := serialport.Open(r.pts, 9600)
	if err != nil {
		t.Fatal(err)
	}
	r.port = port
	read, stopRead := context.WithCancel(context.Background())
	reading := make(chan struct{})
	t.Cleanup(func() { // before the command's, which closes the pseudo-terminal
		stopRead()
		<-reading
		port.Close()
	})
	go func() {
		defer close(reading)
		sc := substance.NewScanner(port)
		for {
			rec, err := sc.Next(read)
			r.mu.Lock()
			r.bad = sc.Bad()
			if err == nil {
				r.recs = append(r.recs, rec)
			}
			r.mu.Unlock()
			if err != nil && !errors.Is(err, substance.ErrRecord) {
				return
			}
		}
	}()
	return r
}

// do sends one command line on the simulator's standard input and returns the line it
// answered with.
func (r *simSubstanceRun) do(cmd string) string {
	r.t.Helper()
	before := len(clitest.Lines(r.stdout.String()))
	if _, err := io.WriteString(r.stdin, cmd+"\n"); err != nil {
		r.t.Fatal(err)
	}
	var answer string
	wait.For(r.t, 10*time.Second, "the answer to "+cmd, func() (bool, string) {
		ls := clitest.Lines(r.stdout.String())
		if len(ls) > before+1 {
			r.t.Fatalf("%q answered with %d lines, want 1: %q", cmd, len(ls)-before, ls[before:])
		}
		if len(ls) == before+1 {
			answer = ls[before]
			return true, ""
		}
		return false, r.stdout.String()
	})
	return answer
}

// record waits for the nth good record (from 1) to come on the line and returns it.
func (r *simSubstanceRun) record(n int) substance.Record {
	r.t.Helper()
	var rec substance.Record
	wait.For(r.t, 10*time.Second, fmt.Sprintf("record %d on the line", n), func() (bool, string) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if len(r.recs) >= n {
			rec = r.recs[n-1]
			return true, ""
		}
		return false, fmt.Sprint(r.recs)
	})
	return rec
}

// records returns the good records that came on the line so far.
func (r *simSubstanceRun) records() []substance.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]substance.Record(nil), r.recs...)
}

// wantRecord checks that rec is of type typ with exactly the fields want, in order.
func wantRecord(t *testing.T, what string, rec substance.Record, typ string, want ...string) {
	t.Helper()
	var got []string
	for _, f := range rec.Fields {
		got = append(got, f[0]+"="+f[1])
	}
	if rec.Type != typ || strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("%s: record %s %q, want %s %q", what, rec.Type, got, typ, want)
	}
}

// simTime is the day the simulators' tests run on; a calibration is due 180 days
// on, a cassette expires a year on.
var simTime = time.Date(2031, 2, 3, 21, 47, 5, 0, time.UTC)

func TestSimSubstanceBreath(t *testing.T) {
	clk := clocktest.New(simTime)
	r := startSimSubstance(t, clk, "-kind", "breath-alcohol", "-serial", "AL9-004211")
	if want := "bridge configuration: substanceTesters: - {id: breath-1, kind: breath-alcohol, port: " + r.pts + "}"; !strings.Contains(r.stdout.String(), want+"\n") {
		t.Errorf("output %q does not give the configuration line %q", r.stdout.String(), want)
	}
	wantRecord(t, "at power-on", r.record(1), substance.TypeID,
		"serial=AL9-004211", "fw=sim-1.0", "cal=2031-08-02", "self=pass", "kind=breath-alcohol")

	// The bridge asks who it is.
	if _, err := io.WriteString(r.port, "$APRQ,what=id*04\r\n"); err != nil {
		t.Fatal(err)
	}
	wantRecord(t, "asked", r.record(2), substance.TypeID,
		"serial=AL9-004211", "fw=sim-1.0", "cal=2031-08-02", "self=pass", "kind=breath-alcohol")

	if got, want := r.do("breath 31 T-9"), "test 1: breath 31 µg/100 ml, test id T-9: BR record sent"; got != want {
		t.Errorf("breath answered %q, want %q", got, want)
	}
	wantRecord(t, "breath 31 T-9", r.record(3), substance.TypeBreath,
		"serial=AL9-004211", "n=1", "t=2031-02-03T21:47:05Z", "ug=31", "temp=21.5", "cal=2031-08-02", "self=pass", "id=T-9")

	if got, want := r.do("selfcheck fail"), "self-check fail: ID record sent"; got != want {
		t.Errorf("selfcheck answered %q, want %q", got, want)
	}
	wantRecord(t, "selfcheck fail", r.record(4), substance.TypeID,
		"serial=AL9-004211", "fw=sim-1.0", "cal=2031-08-02", "self=fail", "kind=breath-alcohol")

	if got, want := r.do("garbage 2"), "2 bad lines sent"; got != want {
		t.Errorf("garbage answered %q, want %q", got, want)
	}
	wantBad := map[string]int64{substance.CauseGarbage: 1, substance.CauseChecksum: 1}
	wait.For(t, 10*time.Second, "two bad lines counted", func() (bool, string) {
		r.mu.Lock()
		defer r.mu.Unlock()
		return maps.Equal(r.bad, wantBad), fmt.Sprint(r.bad)
	})

	// Out of date, hotter, a test after a restart with no id, an error.
	clk.Add(24 * time.Hour)
	if got, want := r.do("calibration 2031-02-01"), "calibration due 2031-02-01 (out of date): ID record sent"; got != want {
		t.Errorf("calibration answered %q, want %q", got, want)
	}
	if got, want := r.do("temperature 34.5"), "next tests: 34.5 °C"; got != want {
		t.Errorf("temperature answered %q, want %q", got, want)
	}
	r.do("selfcheck pass")
	r.do("breath 0")
	wantRecord(t, "breath 0", r.record(7), substance.TypeBreath,
		"serial=AL9-004211", "n=2", "t=2031-02-04T21:47:05Z", "ug=0", "temp=34.5", "cal=2031-02-01", "self=pass")
	if got, want := r.do("error E12 blow interrupted, try again"), `test 3: error E12 "blow interrupted, try again": ER record sent`; got != want {
		t.Errorf("error answered %q, want %q", got, want)
	}
	wantRecord(t, "error", r.record(8), substance.TypeError,
		"serial=AL9-004211", "n=3", "t=2031-02-04T21:47:05Z", "code=E12", "text=blow interrupted, try again", "cal=2031-02-01", "self=pass")

	// Switched off, it says nothing and answers nothing; on again, its ID record.
	r.do("power off")
	if got := r.do("breath 12"); !strings.HasPrefix(got, "breath: ") || !strings.Contains(got, "switched off") {
		t.Errorf("breath while off answered %q, want that it is switched off", got)
	}
	if got, want := r.do("status"), "breath-alcohol AL9-004211: off, firmware sim-1.0, calibration due 2031-02-01, self-check pass, last test 3, 34.5 °C, ID requests answered: 1"; got != want {
		t.Errorf("status answered %q, want %q", got, want)
	}
	r.do("power on")
	wantRecord(t, "power on", r.record(9), substance.TypeID,
		"serial=AL9-004211", "fw=sim-1.0", "cal=2031-02-01", "self=pass", "kind=breath-alcohol")
	if n := len(r.records()); n != 9 {
		t.Errorf("%d records on the line, want 9: %v", n, r.records())
	}
}

func TestSimSubstanceOralFluid(t *testing.T) {
	r := startSimSubstance(t, clocktest.New(simTime), "-kind", "oral-fluid")
	if want := "bridge configuration: substanceTesters: - {id: oral-1, kind: oral-fluid, port: " + r.pts + "}"; !strings.Contains(r.stdout.String(), want+"\n") {
		t.Errorf("output %q does not give the configuration line %q", r.stdout.String(), want)
	}
	wantRecord(t, "at power-on", r.record(1), substance.TypeID,
		"serial=SIM-oral-1", "fw=sim-1.0", "cal=2031-08-02", "self=pass", "kind=oral-fluid")
	if got, want := r.do("cassette ARJK-0129 2031-06-30"), "next tests: cassette ARJK-0129 expiring 2031-06-30"; got != want {
		t.Errorf("cassette answered %q, want %q", got, want)
	}
	if got, want := r.do("oral cocaine=pos thc=inv id=T-9XW4"), "test 1: oral fluid, cassette ARJK-0129 expiring 2031-06-30, cocaine pos, thc inv, the rest negative, test id T-9XW4: OF record sent"; got != want {
		t.Errorf("oral answered %q, want %q", got, want)
	}
	// Every panel, read against the analyser's default cut-offs, under the keys the
	// package doc gives them.
	want := []string{"serial=SIM-oral-1", "n=1", "t=2031-02-03T21:47:05Z", "cal=2031-08-02", "self=pass", "lot=ARJK-0129", "exp=2031-06-30", "id=T-9XW4"}
	short := map[string]string{"methamphetamine": "mamp", "benzodiazepines": "bzo", "synthetic-cannabinoids": "k2"}
	result := map[string]string{"cocaine": "pos", "thc": "inv"}
	cutoffs := substance.DefaultOralFluidCutoffs()
	for _, p := range substance.DrugPanels() {
		key, res := cmp.Or(short[p], p), cmp.Or(result[p], "neg")
		want = append(want, "p-"+key+"="+res+"/"+strconv.FormatFloat(cutoffs[p], 'f', -1, 64))
	}
	wantRecord(t, "oral", r.record(2), substance.TypeOralFluid, want...)
	if got := r.do("breath 31"); !strings.HasPrefix(got, "breath: ") || !strings.Contains(got, "not a breath meter") {
		t.Errorf("breath on an analyser answered %q, want a refusal", got)
	}
	if got, want := r.do("status"), "oral-fluid SIM-oral-1: on, firmware sim-1.0, calibration due 2031-08-02, self-check pass, last test 1, cassette ARJK-0129 expiring 2031-06-30, ID requests answered: 0"; got != want {
		t.Errorf("status answered %q, want %q", got, want)
	}
}

func TestSimSubstanceCommandErrors(t *testing.T) {
	tests := []struct {
		kind, line string
		wantErr    string
	}{
		{substance.KindBreathAlcohol, "breath", "say breath UG [TESTID]"},
		{substance.KindBreathAlcohol, "breath 31 T-9 more", "say breath UG [TESTID]"},
		{substance.KindBreathAlcohol, "breath lots", "say µg per 100 ml"},
		{substance.KindBreathAlcohol, "oral cocaine=pos", "not an oral-fluid analyser"},
		{substance.KindOralFluid, "oral cocaine", "say PANEL=RESULT"},
		{substance.KindOralFluid, "oral cocaine=", "say PANEL=RESULT"},
		{substance.KindOralFluid, "oral cocaine=pos cocaine=neg", "named twice"},
		{substance.KindOralFluid, "oral crack=pos", `no panel "crack"`},
		{substance.KindOralFluid, "oral thc=maybe", `result "maybe"`},
		{substance.KindBreathAlcohol, "error", "say error CODE"},
		{substance.KindBreathAlcohol, "selfcheck maybe", "say selfcheck pass or selfcheck fail"},
		{substance.KindBreathAlcohol, "calibration soon", "calibration date"},
		{substance.KindBreathAlcohol, "calibration", "say calibration YYYY-MM-DD"},
		{substance.KindOralFluid, "cassette LOT-1", "say cassette LOT YYYY-MM-DD"},
		{substance.KindOralFluid, "cassette LOT-1 2031-02-30", "cassette expiry"},
		{substance.KindBreathAlcohol, "cassette LOT-1 2031-06-30", "a breath meter has no cassettes"},
		{substance.KindOralFluid, "temperature 20", "an oral-fluid analyser reports no temperature"},
		{substance.KindBreathAlcohol, "temperature warm", "say °C"},
		{substance.KindBreathAlcohol, "garbage 0", "1 to 10000"},
		{substance.KindBreathAlcohol, "garbage x", "1 to 10000"},
		{substance.KindBreathAlcohol, "power maybe", "say power on or power off"},
		{substance.KindBreathAlcohol, "dance", "unknown command"},
	}
	clk := clocktest.New(simTime)
	for _, tc := range tests {
		t.Run(tc.line, func(t *testing.T) {
			// Not served: a command that got as far as the line would fail saying so.
			sim := substance.NewSim(tc.kind, "SIM-1", clk)
			var out strings.Builder
			err := simSubstanceCommand(sim, clk, strings.Fields(tc.line), &out)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %v, want one saying %q", err, tc.wantErr)
			}
			if out.Len() != 0 {
				t.Errorf("printed %q as well", out.String())
			}
			if st := sim.State(); st.LastTest != 0 || st.CalibrationDue != "2031-08-02" || st.SelfCheck != substance.SelfCheckPass {
				t.Errorf("a refused command changed the tester: %+v", st)
			}
		})
	}
}

func TestSimSubstanceUsage(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		prefix string
	}{
		{"no kind", []string{"sim", "substance", "-pty"}, 2, `apedge sim substance: -kind "": say breath-alcohol or oral-fluid`},
		{"bad kind", []string{"sim", "substance", "-kind", "urine", "-pty"}, 2, `apedge sim substance: -kind "urine"`},
		{"no line", []string{"sim", "substance", "-kind", "oral-fluid"}, 2, "apedge sim substance: give -tty PATH or -pty"},
		{"both lines", []string{"sim", "substance", "-kind", "oral-fluid", "-pty", "-tty", "/dev/null"}, 2, "apedge sim substance: give -tty PATH or -pty"},
		{"bad serial", []string{"sim", "substance", "-kind", "oral-fluid", "-pty", "-serial", "A B"}, 2, `apedge sim substance: -serial "A B"`},
		{"bad baud", []string{"sim", "substance", "-kind", "oral-fluid", "-pty", "-baud", "0"}, 2, "apedge sim substance: -baud 0"},
		{"stray argument", []string{"sim", "substance", "-kind", "oral-fluid", "-pty", "now"}, 2, `apedge sim substance: unexpected argument "now"`},
		{"tty missing", []string{"sim", "substance", "-kind", "breath-alcohol", "-tty", "/nonexistent/ttyUSB9"}, 1, "apedge sim: serialport: open /nonexistent/ttyUSB9"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clitest.WantOneLine(t, apedge(t, tc.args...), tc.code, tc.prefix)
		})
	}
	t.Run("say which device", func(t *testing.T) {
		clitest.WantOneLine(t, apedge(t, "sim"), 2, "apedge sim: say which device", "apedge sim substance -h")
	})
	t.Run("help", func(t *testing.T) {
		r := apedge(t, "sim", "substance", "-h")
		if first, _, _ := strings.Cut(r.Stderr, "\n"); r.Code != 0 ||
			first != "Usage: apedge sim substance -kind breath-alcohol|oral-fluid (-tty PATH | -pty) [-serial S] [-baud N]" {
			t.Errorf("want exit 0 and the usage\n%v", r)
		}
		for _, c := range []string{"breath UG [TESTID]", "oral [PANEL=RESULT ...] [id=TESTID]", "error CODE [TEXT]", "selfcheck pass|fail",
			"calibration YYYY-MM-DD", "cassette LOT YYYY-MM-DD", "temperature C", "garbage N", "power on|off", "status"} {
			if !regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(c)).MatchString(r.Stderr) {
				t.Errorf("usage does not document %q\n%v", c, r)
			}
		}
	})
}
