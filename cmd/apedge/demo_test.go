package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/agent/biometric"
	"github.com/apedge/apedge/agent/curfew"
	"github.com/apedge/apedge/agent/substance"
	"github.com/apedge/apedge/cmd/apedge/internal/clitest"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/formats/sitekey"
	"github.com/apedge/apedge/internal/clock/clocktest"
	"github.com/apedge/apedge/internal/config"
	"github.com/apedge/apedge/internal/wait"
)

// runDemo runs `apedge demo -dir dir` for a few seconds with a card read every 20ms
// and checks that it stopped cleanly.
func runDemo(t *testing.T, dir string) {
	t.Helper()
	r := apedge(t, "demo", "-dir", dir, "-for", "4s", "-every", "20ms", "-console", "127.0.0.1:0")
	if r.Code != 0 || !strings.Contains(r.Stdout, "apedge demo: stopped cleanly\n") {
		t.Fatalf("demo did not stop cleanly\n%v", r)
	}
	for _, want := range []string{"apedge demo: site DEMO1 is running", "central stored"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("demo stdout does not say %q\n%v", want, r)
		}
	}
}

// exportDemo exports the demo's site DEMO1 to out and returns its lines.
func exportDemo(t *testing.T, dir, out string) []string {
	t.Helper()
	r := apedge(t, "central", "export", "-config", filepath.Join(dir, "central.yaml"), "-site", "DEMO1", "-o", out)
	if r.Code != 0 || r.Stdout != "" {
		t.Fatalf("export failed\n%v", r)
	}
	ls := readLines(t, out)
	if want := []string{"exported " + strconv.Itoa(len(ls)) + " events of DEMO1 to " + out}; !slices.Equal(clitest.Lines(r.Stderr), want) {
		t.Errorf("export stderr %q, want %q", r.Stderr, want)
	}
	return ls
}

// TestDemo runs the demo site twice on one directory and checks the evidence it leaves
// with the other commands, as the README tells a user to.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo site for 8s")
	}
	// Read what the test needs from its own directory before leaving it.
	foreign := readLines(t, otherDemoExport)[3]
	work, out := t.TempDir(), t.TempDir()
	t.Chdir(work) // a relative -dir, and a place to see that nothing is made outside it
	const dir = "site"

	runDemo(t, dir)

	files := []string{"agent.yaml", "bridge.yaml", "central.yaml", "keys/DEMO1.key", "keys/DEMO1.pub", "agent.db", "central.db"}
	for _, name := range files {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("demo did not make %s: %v", name, err)
			continue
		}
		if name == "keys/DEMO1.key" && st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %04o, want 0600", name, st.Mode().Perm())
		}
	}
	if ents, _ := os.ReadDir(work); len(ents) != 1 || ents[0].Name() != dir {
		t.Errorf("apedge demo made files outside -dir: %v", ents)
	}
	privPath, pubPath := sitekey.Paths(filepath.Join(dir, "keys"), "DEMO1")
	key := mustRead(t, privPath)
	for _, cmd := range []string{"agent", "bridge", "central"} {
		path := filepath.Join(dir, cmd+".yaml")
		if r := apedge(t, cmd, "-config", path, "-check-config"); r.Code != 0 || r.Stdout != path+": ok\n" {
			t.Errorf("the demo's %s does not check\n%v", path, r)
		}
	}

	export1 := filepath.Join(out, "export1.jsonl")
	ls1 := exportDemo(t, dir, export1)
	if len(ls1) < 6 {
		t.Fatalf("demo stored only %d events in 4s of a read every 20ms", len(ls1))
	}
	wantVerified(t, pubPath, export1, len(ls1))

	// Without -o the export goes to stdout, byte for byte the same.
	r := apedge(t, "central", "export", "-config", filepath.Join(dir, "central.yaml"), "-site", "DEMO1")
	if r.Code != 0 || r.Stderr != "" || r.Stdout != mustRead(t, export1) {
		t.Errorf("export to stdout differs from export to a file\n%v", r)
	}
	// A site central knows nothing of: one line, and no empty file left to verify.
	none := filepath.Join(out, "none.jsonl")
	r = apedge(t, "central", "export", "-config", filepath.Join(dir, "central.yaml"), "-site", "MAN1", "-o", none)
	clitest.WantOneLine(t, r, 1, "apedge central: ", "no stored events for site MAN1")
	if _, err := os.Stat(none); err == nil {
		t.Errorf("failed export left %s", none)
	}

	t.Run("tamper", func(t *testing.T) {
		testTamper(t, pubPath, ls1, foreign)
	})

	// A second run on the same directory keeps the key and continues the chain.
	runDemo(t, dir)
	if mustRead(t, privPath) != key {
		t.Errorf("second demo run replaced the site key")
	}
	export2 := filepath.Join(out, "export2.jsonl")
	ls2 := exportDemo(t, dir, export2)
	if len(ls2) <= len(ls1) {
		t.Fatalf("export after the second run has %d events, after the first %d", len(ls2), len(ls1))
	}
	if !slices.Equal(ls2[:len(ls1)], ls1) {
		t.Errorf("the second run changed events of the first")
	}
	if got, want := eventID(t, ls2[len(ls1)]), "DEMO1-"+strconv.Itoa(len(ls1)+1); got != want {
		t.Errorf("first event of the second run is %s, want %s", got, want)
	}
	// Each run's agent journals agent.started first.
	var started []string
	for _, l := range ls2 {
		if bytes.Contains(payload(t, l), []byte(`"type":"approved-premises.agent.started"`)) {
			started = append(started, eventID(t, l))
		}
	}
	if len(started) != 2 || started[0] != "DEMO1-1" {
		t.Errorf("agent.started events %v, want DEMO1-1 and one of the second run", started)
	}
	wantVerified(t, pubPath, export2, len(ls2))
}

// demoEvent is what TestDemoClock reads of an exported event.
type demoEvent struct {
	Type string `json:"type"`
	Data struct {
		OccurredAt time.Time `json:"occurredAt"`
	} `json:"data"`
}

// TestDemoClock runs the demo from 22:59 at sixty times real time for a few seconds:
// the 23:00 roll and the absences of those not yet in are journaled at 23:00 local by
// the demo's clock, those who come in after with returned-late, and every event is
// dated by that clock, from 22:59 today on.
func TestDemoClock(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo site for 5s")
	}
	dir := filepath.Join(t.TempDir(), "site")
	r := apedge(t, "demo", "-dir", dir, "-clock", "22:59", "-speed", "60", "-for", "5s", "-console", "127.0.0.1:0")
	if r.Code != 0 || !strings.Contains(r.Stdout, "apedge demo: stopped cleanly\n") {
		t.Fatalf("demo did not stop cleanly\n%v", r)
	}
	banner := regexp.MustCompile(`(?m)^  site clock +started at 22:59 on \w{3} \d{1,2} \w{3} \d{4} \(Europe/London\), running 60 times as fast as real time$`)
	if !banner.MatchString(r.Stdout) {
		t.Errorf("banner does not give the site clock\n%v", r)
	}
	var evs []demoEvent
	for _, l := range exportDemo(t, dir, filepath.Join(t.TempDir(), "export.jsonl")) {
		var e demoEvent
		if err := json.Unmarshal(payload(t, l), &e); err != nil {
			t.Fatal(err)
		}
		e.Type = strings.TrimPrefix(e.Type, "approved-premises.")
		evs = append(evs, e)
	}
	if len(evs) == 0 || evs[0].Type != "agent.started" {
		t.Fatalf("first event is not agent.started: %+v", evs)
	}
	london := curfew.London()
	started := evs[0].Data.OccurredAt.In(london)
	y, m, d := started.Date()
	from, roll := time.Date(y, m, d, 22, 59, 0, 0, london), time.Date(y, m, d, 23, 0, 0, 0, london)
	if started.Before(from) || !started.Before(roll) {
		t.Fatalf("agent started at %v, want between 22:59 and 23:00", started)
	}
	// 5s at sixty times: five minutes, and the time to stop.
	to := from.Add(8 * time.Minute)
	count := map[string]int{}
	for _, e := range evs {
		at := e.Data.OccurredAt
		if at.Before(from) || at.After(to) {
			t.Errorf("%s at %v, not between 22:59 and 23:07 by the demo's clock", e.Type, at.In(london))
		}
		count[e.Type]++
		switch e.Type {
		case "curfew.roll", "curfew.absent":
			if !at.Equal(roll) {
				t.Errorf("%s at %v, want 23:00", e.Type, at.In(london))
			}
		case "curfew.returned-late":
			if !at.After(roll) {
				t.Errorf("%s at %v, want after 23:00", e.Type, at.In(london))
			}
		}
	}
	// Three residents are late whatever the time, and the others are still coming in
	// one by one at 23:00.
	if count["curfew.roll"] != 1 || count["curfew.absent"] < 3 || count["movement.entered"] < 10 {
		t.Errorf("events by type %v, want a roll, three absences or more and ten entries or more", count)
	}
}

// TestDemoFlags: -clock and -speed are checked, and make the site's clock.
func TestDemoFlags(t *testing.T) {
	bad := []struct {
		args []string
		want string
	}{
		{[]string{"-clock", "25:00"}, `demo: -clock "25:00": give a local time as HH:MM, e.g. 22:55`},
		{[]string{"-clock", "9:05"}, `demo: -clock "9:05": give a local time as HH:MM, e.g. 22:55`},
		{[]string{"-clock", "tonight"}, `demo: -clock "tonight": give a local time as HH:MM, e.g. 22:55`},
		{[]string{"-speed", "0"}, "apedge demo: -speed 0: use 1 (real time) to 600"},
		{[]string{"-speed", "601"}, "apedge demo: -speed 601: use 1 (real time) to 600"},
		{[]string{"-speed", "NaN"}, "apedge demo: -speed NaN: use 1 (real time) to 600"},
		{[]string{"-incidents", "-1"}, "apedge demo: -incidents must not be negative"},
	}
	for _, tt := range bad {
		var stderr strings.Builder
		if _, err := parseDemoFlags(tt.args, &stderr); err == nil || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("%v: error %v, stderr %q, want %q", tt.args, err, stderr.String(), tt.want)
		}
	}

	london := curfew.London()
	real := clocktest.New(time.Date(2031, 3, 4, 9, 30, 0, 0, london))
	tests := []struct {
		args  []string
		after time.Duration // of real time
		want  time.Time
	}{
		{nil, time.Minute, time.Date(2031, 3, 4, 9, 31, 0, 0, london)},
		{[]string{"-clock", "22:55"}, time.Minute, time.Date(2031, 3, 4, 22, 56, 0, 0, london)},
		{[]string{"-clock", "22:55", "-speed", "60"}, 5 * time.Second, time.Date(2031, 3, 4, 23, 0, 0, 0, london)},
		{[]string{"-speed", "30"}, 10 * time.Second, time.Date(2031, 3, 4, 9, 35, 0, 0, london)},
	}
	for _, tt := range tests {
		o, err := parseDemoFlags(tt.args, io.Discard)
		if err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		base := clocktest.New(real.Now())
		clk, start, run := siteClock(o, base)
		if !start.Equal(clk.Now()) {
			t.Errorf("%v: start %v, but the clock reads %v", tt.args, start, clk.Now())
		}
		run()
		base.Add(tt.after)
		if got := clk.Now(); !got.Equal(tt.want) {
			t.Errorf("%v: after %v the site clock reads %v, want %v", tt.args, tt.after, got.In(london), tt.want)
		}
	}
}

// TestDemoPeople: the demo's residents mean to be home in the AP curfew and their
// licence's, the late ones are out at the start, each but the one who declines has
// the finger the officer enrols, and the doors' times are stretched to a second of
// real time at speed.
func TestDemoPeople(t *testing.T) {
	london := curfew.London()
	at := func(h, m int) time.Time { return time.Date(2031, 3, 4, h, m, 0, 0, london) }
	o, err := parseDemoFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	p := demoPeople(o, at(20, 0))
	if len(p.People) != 20 || p.Every != 30*time.Second || p.IncidentEvery != 20*time.Minute {
		t.Fatalf("%d people, every %v, an incident every %v; want 20, 30s and 20m", len(p.People), p.Every, p.IncidentEvery)
	}
	tests := []struct {
		i    int // in demoResidents
		at   time.Time
		home bool
	}{
		{0, at(19, 0), true}, // Adam Ahmed, licence 19:00-07:00
		{0, at(6, 59), true},
		{0, at(7, 0), false},
		{1, at(19, 0), false}, // Ben Carter, the AP rule only
		{1, at(22, 59), false},
		{1, at(23, 0), true},
		{1, at(5, 59), true},
		{1, at(6, 0), false},
		{13, at(22, 0), true}, // Kevin Nowak, 22:00-06:00
		{13, at(21, 59), false},
	}
	for _, tt := range tests {
		if got := p.People[tt.i].Home(tt.at); got != tt.home {
			t.Errorf("%s at %s: home %v, want %v", demoResidents[tt.i].name, tt.at.Format("15:04"), got, tt.home)
		}
	}
	for i, r := range demoResidents {
		if r.late && p.People[i].In {
			t.Errorf("%s, late, is in at the start", r.name)
		}
		if !r.late && r.licence == "19:00-07:00" && !p.People[i].In {
			t.Errorf("%s, in curfew at 20:00, is out at the start", r.name)
		}
		if r.crn == "X100009" || r.card == "12:10009" {
			t.Errorf("%s has the banner's example arrival's CRN or card", r.name)
		}
		// The finger the officer enrols, but for the resident who declines.
		if want := demoFingerID(r.crn, demoFinger); r.crn == demoDecliner && p.People[i].Finger != "" || r.crn != demoDecliner && p.People[i].Finger != want {
			t.Errorf("%s's finger %q, want %q (none for %s, who declines)", r.name, p.People[i].Finger, want, demoDecliner)
		}
	}
	for _, tt := range []struct {
		d     time.Duration
		speed float64
		want  time.Duration
	}{{5 * time.Second, 1, 5 * time.Second}, {5 * time.Second, 30, 30 * time.Second}, {10 * time.Second, 600, 10 * time.Minute}} {
		if got := stretch(tt.d, tt.speed); got != tt.want {
			t.Errorf("stretch(%v, %v) = %v, want %v", tt.d, tt.speed, got, tt.want)
		}
	}
}

// TestDemoSubstance runs the demo at ten times real time for a little over its first
// minute: the keyworker's first test, of a demo resident, is screened within that
// minute by the simulated tester's reading through the bridge; its events are signed
// with the site's key, name the resident's CRN, and replayed into an engine leave
// the test screened (closed, or awaiting confirmation); nobody refused, no reading
// went unbound, and the log names the test but not its result.
func TestDemoSubstance(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo site for 7s")
	}
	dir := filepath.Join(t.TempDir(), "site")
	r := apedge(t, "demo", "-dir", dir, "-speed", "10", "-for", "7s", "-console", "127.0.0.1:0")
	if r.Code != 0 || !strings.Contains(r.Stdout, "apedge demo: stopped cleanly\n") {
		t.Fatalf("demo did not stop cleanly\n%v", r)
	}
	if !regexp.MustCompile(`(?m)^  substance testing +a breath meter and an oral-fluid analyser, simulated;`).MatchString(r.Stdout) ||
		!strings.Contains(r.Stdout, "Substance testing view") || !strings.Contains(r.Stdout, "apedge ctl substance") {
		t.Errorf("banner does not say how to see the substance tests\n%v", r)
	}
	logged := regexp.MustCompile(`msg="demo: (breath|oral-fluid) test (T-\d+) of (X\d{6}) recorded"`).FindStringSubmatch(r.Stderr)
	if logged == nil {
		t.Fatalf("the demo logged no substance test\n%v", r)
	}

	export := filepath.Join(t.TempDir(), "export.jsonl")
	ls := exportDemo(t, dir, export)
	_, pub := sitekey.Paths(filepath.Join(dir, "keys"), "DEMO1")
	wantVerified(t, pub, export, len(ls))

	type ev struct {
		Type string `json:"type"`
		Data struct {
			OccurredAt      time.Time `json:"occurredAt"`
			PersonReference *struct {
				Identifiers []struct{ Type, Value string } `json:"identifiers"`
			} `json:"personReference"`
			Info json.RawMessage `json:"additionalInformation"`
		} `json:"data"`
	}
	eng, err := substance.New(substance.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var started time.Time
	var tested []ev
	for _, l := range ls {
		var e ev
		if err := json.Unmarshal(payload(t, l), &e); err != nil {
			t.Fatal(err)
		}
		typ := strings.TrimPrefix(e.Type, "approved-premises.")
		switch {
		case typ == "agent.started":
			started = e.Data.OccurredAt
		case typ == substance.TypeRefused || typ == substance.TypeUnbound:
			t.Errorf("the demo journaled %s", typ)
		case typ == substance.TypeTested:
			tested = append(tested, e)
		}
		if strings.HasPrefix(typ, "substance.") {
			if err := eng.Apply(substance.Draft{Type: typ, Info: e.Data.Info}); err != nil {
				t.Errorf("journaled %s does not replay: %v", typ, err)
			}
		}
	}
	if len(tested) == 0 {
		t.Fatalf("no substance.tested event in %d events", len(ls))
	}
	first := tested[0]
	if at := first.Data.OccurredAt; at.Before(started) || at.After(started.Add(time.Minute)) {
		t.Errorf("the first test was screened at %v, %v after the agent started; want within its first minute", at, at.Sub(started))
	}
	var info struct {
		TestID, CRN, SampleType string
	}
	if err := json.Unmarshal(first.Data.Info, &info); err != nil {
		t.Fatal(err)
	}
	if info.TestID != logged[2] || info.CRN != logged[3] || info.SampleType != logged[1] {
		t.Errorf("the first test screened is %s test %s of %s; the log says %s test %s of %s", info.SampleType, info.TestID, info.CRN, logged[1], logged[2], logged[3])
	}
	if !slices.ContainsFunc(demoResidents, func(r demoResident) bool { return r.crn == info.CRN }) {
		t.Errorf("test %s is of %s, not a demo resident", info.TestID, info.CRN)
	}
	if p := first.Data.PersonReference; p == nil || !slices.Contains(p.Identifiers, struct{ Type, Value string }{"CRN", info.CRN}) {
		t.Errorf("the substance.tested event's person is %+v, want CRN %s", p, info.CRN)
	}
	got, ok := eng.Get(info.TestID)
	if !ok || got.Staff != demoKeyworkerStaff || got.Witness != demoWitness || got.Screen == nil ||
		got.State != substance.StateClosed && got.State != substance.StateAwaitingConfirmation {
		t.Errorf("test %s replayed from the journal: %+v; want by %s, screened, closed or awaiting confirmation", info.TestID, got, demoKeyworkerStaff)
	}
	if got.SampleType == substance.SampleOralFluid && (got.Authorisation == nil || got.Authorisation.Ref != demoAuthRef) {
		t.Errorf("oral-fluid test %s rests on %+v, want %s", got.ID, got.Authorisation, demoAuthRef)
	}
	// The log says which test, never what it found.
	for _, l := range clitest.Lines(r.Stderr) {
		if strings.Contains(l, "demo: ") && strings.Contains(l, " test ") && regexp.MustCompile(`negative|invalid|µg|ug=|alcohol=|thc`).MatchString(l) {
			t.Errorf("the log tells a result: %s", l)
		}
	}
}

// TestDemoBiometric runs the demo until its enrolment officer is done and people
// have passed the front door with a finger: every resident but demoDecliner
// consented and has their right index enrolled on both terminals by the officer;
// demoDecliner declined and has the alternative, enrolled nowhere, and never went
// through the front door; the front door's movements each checked the finger,
// matched in the slot enrolled for that resident on front-fp; and no finger failed
// at a door, nor is any template an orphan. Every event is signed with the site's
// key.
func TestDemoBiometric(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo site for half a minute")
	}
	dir := filepath.Join(t.TempDir(), "site")
	ctx, cancel := context.WithCancel(context.Background())
	var out, errs clitest.LockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- testSys("").cmdDemo(ctx, []string{"-dir", dir, "-every", "100ms", "-console", "127.0.0.1:0", "-v"}, &out, &errs)
	}()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("demo: %v", err)
			}
		}
	}
	defer stop()
	officerDone := regexp.MustCompile(`msg="demo: enrolment officer done: 19 residents consented, 1 declined; 38 fingers enrolled, \d+ attempts failed; 0 templates`)
	frontGrant := regexp.MustCompile(`msg="card read" component=bridge site=DEMO1 reader=front-(in|out) granted=true`)
	wait.For(t, 2*time.Minute, "the enrolment officer done, then three people through the front door", func() (bool, string) {
		log := errs.String()
		at := officerDone.FindStringIndex(log)
		if at == nil {
			return false, "the officer is not done"
		}
		n := len(frontGrant.FindAllString(log[at[1]:], -1))
		return n >= 3, fmt.Sprintf("%d front door grants", n)
	})
	stop()
	if !strings.Contains(out.String(), "apedge demo: stopped cleanly\n") {
		t.Fatalf("demo did not stop cleanly\n%s", out.String())
	}
	if want := fmt.Sprintf("  fingerprints          %s\n", demoFingerprintsLine()); !strings.Contains(out.String(), want) {
		t.Errorf("banner does not say %q\n%s", want, out.String())
	}

	// The agent knows the bridge's terminals, and where each is.
	acfg, err := config.LoadAgent(filepath.Join(dir, "agent.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	wantPlaces := map[string]config.BiometricPlace{demoFrontTerminal: {Door: "front", Name: "front door"}, demoDeskTerminal: {Name: "office: enrolment desk"}}
	if d := acfg.Devices; !maps.Equal(d.Biometrics, wantPlaces) || !d.EnhancedSecurity.On || d.EnhancedSecurity.Window != config.DefaultFingerWindow {
		t.Errorf("the agent's terminals %v, Enhanced Security %+v; want %v, on, with the default window", d.Biometrics, d.EnhancedSecurity, wantPlaces)
	}

	export := filepath.Join(t.TempDir(), "export.jsonl")
	ls := exportDemo(t, dir, export)
	_, pub := sitekey.Paths(filepath.Join(dir, "keys"), "DEMO1")
	wantVerified(t, pub, export, len(ls))
	type ev struct {
		Type string `json:"type"`
		Data struct {
			PersonReference *struct {
				Identifiers []struct{ Type, Value string } `json:"identifiers"`
			} `json:"personReference"`
			Info struct {
				CRN, Terminal, Finger, By, Door, Why string
				Given                                *bool
				Slot                                 *int
				SecondFactor                         *struct {
					Terminal, Result string
					Checked          bool
					Slot             *int
				} `json:"secondFactor"`
			} `json:"additionalInformation"`
		} `json:"data"`
	}
	crnOf := func(e ev) string {
		if p := e.Data.PersonReference; p != nil {
			for _, id := range p.Identifiers {
				if id.Type == "CRN" {
					return id.Value
				}
			}
		}
		return ""
	}
	enrolled := map[string]map[string]int{} // crn: terminal: slot
	consent := map[string]bool{}
	var front []ev
	count := map[string]int{}
	for _, l := range ls {
		var e ev
		if err := json.Unmarshal(payload(t, l), &e); err != nil {
			t.Fatal(err)
		}
		e.Type = strings.TrimPrefix(e.Type, "approved-premises.")
		count[e.Type]++
		in := e.Data.Info
		switch {
		case e.Type == "biometric.consent-recorded" && in.Given != nil:
			consent[in.CRN] = *in.Given
		case e.Type == "biometric.enrolled":
			if in.Finger != demoFinger || in.By != demoOfficerStaff || in.Slot == nil {
				t.Errorf("enrolled %+v, want %s by %s in a slot", in, demoFinger, demoOfficerStaff)
				continue
			}
			if enrolled[in.CRN] == nil {
				enrolled[in.CRN] = map[string]int{}
			}
			enrolled[in.CRN][in.Terminal] = *in.Slot
		case e.Type == "biometric.alternative-offered" && (in.CRN != demoDecliner || in.Why != biometric.WhyDeclined):
			t.Errorf("alternative offered %+v, want to %s only, who declined", in, demoDecliner)
		case strings.HasPrefix(e.Type, "movement.") && in.Door == "front":
			front = append(front, e)
		}
	}
	for _, r := range demoResidents {
		if given, ok := consent[r.crn]; !ok || given != (r.crn != demoDecliner) {
			t.Errorf("%s's consent: recorded %v, given %v", r.crn, ok, given)
		}
		_, onFront := enrolled[r.crn][demoFrontTerminal]
		_, onDesk := enrolled[r.crn][demoDeskTerminal]
		if want := r.crn != demoDecliner; onFront != want || onDesk != want {
			t.Errorf("%s enrolled on (terminal: slot) %v, want on %s and %s: %v", r.crn, enrolled[r.crn], demoFrontTerminal, demoDeskTerminal, want)
		}
	}
	if count["biometric.alternative-offered"] != 1 || count["biometric.verification-failed"] != 0 || count["biometric.orphan-slot"] != 0 {
		t.Errorf("events by type %v, want one alternative offered, no finger failed at a door, no orphan slot", count)
	}
	if len(front) == 0 {
		t.Fatalf("no movement at the front door in %d events", len(ls))
	}
	for _, e := range front {
		crn, sf := crnOf(e), e.Data.Info.SecondFactor
		slot, ok := enrolled[crn][demoFrontTerminal]
		switch {
		case crn == demoDecliner:
			t.Errorf("%s, who declined, went through the front door: %+v", crn, e)
		case sf == nil || !sf.Checked || sf.Terminal != demoFrontTerminal || sf.Result != sitebus.FactorMatched || sf.Slot == nil:
			t.Errorf("%s of %s at the front door: second factor %+v, want checked on %s, matched", e.Type, crn, sf, demoFrontTerminal)
		case !ok || *sf.Slot != slot:
			t.Errorf("%s of %s matched slot %d of %s; the slot enrolled for them there is %d (%v)", e.Type, crn, *sf.Slot, demoFrontTerminal, slot, ok)
		}
	}
}

// TestDemoDockAndPAT runs the demo at ten times real time for a few seconds: its
// dock's first camera is issued within the demo's first minute, to the first
// member of the first shift, and taken from the dock; the PAT tester's tests of the
// AP's items are journaled as the tester's, the fan heater's pass flagged,
// and the member of staff authorises the four that passed. Every event is signed
// with the site's key, and the banner says how to see both.
func TestDemoDockAndPAT(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo site for 9s")
	}
	dir := filepath.Join(t.TempDir(), "site")
	r := apedge(t, "demo", "-dir", dir, "-speed", "10", "-for", "9s", "-console", "127.0.0.1:0")
	if r.Code != 0 || !strings.Contains(r.Stdout, "apedge demo: stopped cleanly\n") {
		t.Fatalf("demo did not stop cleanly\n%v", r)
	}
	for _, want := range []string{"  body-worn cameras     " + demoDockLine() + "\n", "  PAT testing           " + demoPATLine() + "\n"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("banner does not say %q\n%s", want, r.Stdout)
		}
	}
	acfg, err := config.LoadAgent(filepath.Join(dir, "agent.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if d := acfg.Dock(demoDock); d == nil || d.Slots != demoDockSlots || d.Reader == "" {
		t.Errorf("the agent's dock %s: %+v; want %d slots and a reader", demoDock, d, demoDockSlots)
	}
	if got := acfg.Devices.PATTesters; len(got) != 1 || got[demoPATTester] != "maintenance" {
		t.Errorf("the agent's PAT testers %v, want %s (maintenance)", got, demoPATTester)
	}

	export := filepath.Join(t.TempDir(), "export.jsonl")
	ls := exportDemo(t, dir, export)
	_, pub := sitekey.Paths(filepath.Join(dir, "keys"), "DEMO1")
	wantVerified(t, pub, export, len(ls))
	type ev struct {
		Type string `json:"type"`
		Data struct {
			OccurredAt time.Time `json:"occurredAt"`
			Info       struct {
				Camera, Dock, Staff, Via, AssetID, OwnerCRN, Outcome, By, Status string
			} `json:"additionalInformation"`
		} `json:"data"`
	}
	var started time.Time
	var issued, taken, tested, authorised []ev
	for _, l := range ls {
		var e ev
		if err := json.Unmarshal(payload(t, l), &e); err != nil {
			t.Fatal(err)
		}
		switch strings.TrimPrefix(e.Type, "approved-premises.") {
		case "agent.started":
			started = e.Data.OccurredAt
		case "bwc.issued":
			issued = append(issued, e)
		case "bwc.taken":
			taken = append(taken, e)
		case "pat.tested":
			tested = append(tested, e)
		case "item.authorised":
			authorised = append(authorised, e)
		case "bwc.removed-unissued", "bwc.overdue", "command.unordered":
			t.Errorf("the demo journaled %s: %+v", e.Type, e.Data.Info)
		}
	}
	if len(issued) == 0 {
		t.Fatalf("no bwc.issued event in %d events\n%s", len(ls), r.Stderr)
	}
	first := issued[0].Data
	if at := first.OccurredAt.Sub(started); at < 0 || at > time.Minute || first.Info.Staff != demoCrew(0)[0].id || first.Info.Dock != demoDock {
		t.Errorf("the first camera issued: %+v, %v after the agent started; want to %s at %s within its first minute", first.Info, at, demoCrew(0)[0].id, demoDock)
	}
	if len(taken) == 0 || taken[0].Data.Info.Camera != first.Info.Camera || taken[0].Data.Info.Staff != first.Info.Staff {
		t.Errorf("bwc.taken events %+v; want %s taken by %s first", taken, first.Info.Camera, first.Info.Staff)
	}

	outcome := map[string]string{}
	for _, e := range tested {
		if e.Data.Info.By != "pat-tester:"+demoPATTester {
			t.Errorf("pat.tested of %s recorded by %q, want the tester's", e.Data.Info.AssetID, e.Data.Info.By)
		}
		outcome[e.Data.Info.AssetID] = e.Data.Info.Outcome
	}
	var auth []string
	for _, e := range authorised {
		auth = append(auth, e.Data.Info.AssetID)
		if e.Data.Info.By != demoPATStaff {
			t.Errorf("item.authorised of %s by %q, want %s", e.Data.Info.AssetID, e.Data.Info.By, demoPATStaff)
		}
	}
	var wantAuth []string
	for _, it := range demoPATItems {
		want := "pass"
		if it.flagged {
			want = "flagged"
		} else {
			wantAuth = append(wantAuth, it.asset)
		}
		if outcome[it.asset] != want {
			t.Errorf("%s (%s) tested %q, want %q", it.asset, it.description, outcome[it.asset], want)
		}
	}
	if !slices.Equal(auth, wantAuth) {
		t.Errorf("items authorised %v, want %v", auth, wantAuth)
	}
}
