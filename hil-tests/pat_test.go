package hiltests

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/apedge/apedge/agent"
	"github.com/apedge/apedge/agent/pat"
	fpat "github.com/apedge/apedge/formats/pat"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/internal/clock/clocktest"
	"github.com/apedge/apedge/internal/config"
)

// patNoon is when the PAT tests' clocks start: a quiet hour on a quiet day, far
// from the day the tests run and from a midnight's expiry check.
var patNoon = time.Date(2026, 6, 10, 11, 0, 0, 0, time.UTC)

// patBridgeYAML is the bridge of a site with the simulated PAT tester pat-1 on a
// pseudo-terminal, and the door with its two readers that a simulated site needs,
// which nobody uses (quiet).
const patBridgeYAML = `site: %s
stateDir: bridge-state
resendAfter: 1s
bus: %s
osdp:
  - port: simulated
    baud: 115200
    readers:
      - {id: front-in, address: 1, insecure: true}
      - {id: front-out, address: 2, insecure: true}
doors:
  - {id: front, entryReader: front-in, exitReader: front-out}
patTesters:
  - {id: pat-1, port: simulated, name: maintenance office}
simulate: {quiet: true}
log: {level: info}
`

// The PAT tester of a PAT site, who tests with it and the manager who imports and
// authorises.
const (
	patTesterID = "pat-1"
	patTesterBy = "pat-tester:pat-1" // who the agent records a tester's test as
	terry       = "Terry Tester"
	manager     = "Mo Manager"
)

// newPATSite starts Mosquitto, central, the agent and the bridge of site code,
// its PAT tester simulated, and waits until the tester's status is on the bus,
// online, with the instrument's serial.
func newPATSite(t *testing.T, code string) *substanceSite {
	t.Helper()
	mq := startMosquitto(t, code)
	s := &substanceSite{Site: newSite(t, code, mq, siteOptions{}), t: t, mq: mq, clock: clocktest.Running(patNoon)}
	bridgeYAML := filepath.Join(s.Dir, "bridge.yaml") // the agent takes its testers from it
	if err := os.WriteFile(bridgeYAML, fmt.Appendf(nil, patBridgeYAML, code, link(mq, "bridge")), 0o600); err != nil {
		t.Fatal(err)
	}
	bcfg, err := config.LoadBridge(bridgeYAML)
	if err != nil {
		t.Fatal(err)
	}
	s.bus = watchDevices(t, mq, code)
	startProc(t, s.Dir, "central", "central", "-config", s.CentralYAM)
	s.startAgent()
	t.Cleanup(func() {
		if s.agent != nil {
			s.stopAgent()
		}
	})
	if _, ok := s.agent.PAT().Testers()[patTesterID]; !ok {
		t.Fatalf("the agent's PAT testers %v, want %s", s.agent.PAT().Testers(), patTesterID)
	}
	s.bridge = runBridge(t, bcfg, s.clock)
	serial := s.bridge.Sim().PATTester(patTesterID).Serial()
	waitFor(t, 30*time.Second, patTesterID+"'s status online on the bus", func() (bool, string) {
		ms := s.bus.find(sitebus.ClassPATTester, patTesterID, sitebus.KindState, sitebus.PATStatusKind)
		if len(ms) == 0 {
			return false, "none"
		}
		st, err := sitebus.DecodePATTesterStatus(ms[len(ms)-1].Data)
		if err != nil {
			t.Fatalf("%s's status: %v", patTesterID, err)
		}
		return st.Online && st.Serial == serial, fmt.Sprintf("%+v", st)
	})
	return s
}

// patItem is the register's item id.
func patItem(t *testing.T, a *agent.Agent, id string) pat.Item {
	t.Helper()
	it, ok, err := a.PAT().Item(t.Context(), id)
	if err != nil || !ok {
		t.Fatalf("item %s: known %v, %v", id, ok, err)
	}
	return it
}

// readPATFile reads a test file of records in apedge's layout, as `apedge ctl pat
// import` does.
func readPATFile(t *testing.T, name string) ([]fpat.Record, error) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return fpat.ReadCSV(f, fpat.LayoutDetect)
}

// storedPAT returns the events of the register of electrical items in central's
// store for the site, in central's order.
func storedPAT(s *substanceSite) []storedSubstanceEvent {
	var out []storedSubstanceEvent
	for _, e := range s.storedOf("") {
		if slices.Contains(pat.Types(), e.Type) {
			out = append(out, e)
		}
	}
	return out
}

// TestPATReachesCentral runs the register of electrical items through the real
// bridge, its simulated PAT tester on a pseudo-terminal, the agent and a real
// Mosquitto (TLS, client certificates) to central: the tester sends a pass of a
// kettle with sound figures and a "pass" of a toaster whose earth continuity fails
// the limits; the agent registers both from the records and journals pat.tested
// for each, as the tester's, the toaster's flagged and the toaster failed. A CSV
// export in apedge's layout with a bad line is refused by the reader, naming the
// line; one whose records read but one of which is of an owner not on the roster
// is refused by the register, naming the record, and nothing of it is imported;
// the good file imports both its items. The kettle and the resident's item are
// authorised, the toaster cannot be. Central stores the ten events signed, in
// order, and holds exactly the journal.
func TestPATReachesCentral(t *testing.T) {
	t.Parallel()
	s := newPATSite(t, "PAT1")
	ctx := t.Context()
	reg := s.agent.PAT()
	tester := s.bridge.Sim().PATTester(patTesterID)

	kettle := tester.Passing("AP-0101", terry)
	kettle.Description, kettle.Category = "kettle", "kitchen"
	if _, err := tester.Test(kettle); err != nil {
		t.Fatal(err)
	}
	s.waitJournaled(pat.TypeTested, 1)
	toaster := tester.Passing("AP-0102", terry)
	toaster.Description, toaster.Category = "toaster", "kitchen"
	if _, err := tester.Failing(toaster, "earth", true); err != nil {
		t.Fatal(err)
	}
	s.waitJournaled(pat.TypeTested, 2)

	for _, want := range []struct {
		id, status, outcome string
		flags               []string // the checks flagged
	}{
		{"AP-0101", pat.StatusAwaitingAuthorisation, pat.OutcomePass, nil},
		{"AP-0102", pat.StatusFailed, pat.OutcomeFlagged, []string{fpat.CheckEarth}},
	} {
		it := patItem(t, s.agent, want.id)
		if len(it.Tests) != 1 {
			t.Errorf("%s has %d tests, want 1", want.id, len(it.Tests))
			continue
		}
		tst := it.Tests[0]
		var flags []string
		for _, f := range tst.Flags {
			flags = append(flags, f.Check)
		}
		if it.Status != want.status || tst.Outcome != want.outcome || !slices.Equal(flags, want.flags) ||
			tst.By != patTesterBy || it.RegisteredBy != patTesterBy || tst.Record.InstrumentSerial != tester.Serial() || tst.Record.Tester != terry {
			t.Errorf("%s: %s, registered by %s, test %+v; want %s, its test %s (flagged %v) by %s with the instrument's serial %s",
				want.id, it.Status, it.RegisteredBy, tst, want.status, want.outcome, want.flags, patTesterBy, tester.Serial())
		}
	}
	if got := *patItem(t, s.agent, "AP-0102").Tests[0].Record.EarthOhm; got != 1.5 {
		t.Errorf("the toaster's earth continuity %v Ω, want the tester's 1.5", got)
	}

	// A file with a bad line is refused as it is read, naming the line.
	if rs, err := readPATFile(t, "pat-import-bad-line.csv"); err == nil {
		t.Errorf("a file whose line 3 has class IV read as %d records", len(rs))
	} else if ie := (*fpat.ImportError)(nil); !errors.As(err, &ie) || len(ie.Lines) != 1 || ie.Lines[0].Line != 3 {
		t.Errorf("the file with a bad line: %v; want line 3 named", err)
	}
	// A file whose third record is of an owner not on the roster: nothing imported.
	journaled := s.agent.Stats().Journaled
	rs, err := readPATFile(t, "pat-import-stranger.csv")
	if err != nil || len(rs) != 3 {
		t.Fatalf("pat-import-stranger.csv: %d records, %v", len(rs), err)
	}
	_, err = reg.Import(ctx, rs, manager)
	if ie := (*pat.ImportError)(nil); !errors.As(err, &ie) || len(ie.Problems) != 1 || ie.Problems[0].Index != 2 || ie.Problems[0].AssetID != "AP-0203" ||
		!errors.Is(err, agent.ErrPAT) {
		t.Fatalf("an import with an owner not on the roster: %v; want record 3 (AP-0203) refused, not a resident", err)
	}
	if items, err := reg.Items(ctx, agent.ItemFilter{}); err != nil || len(items) != 2 || s.agent.Stats().Journaled != journaled {
		t.Fatalf("after the refused import: %d items (%v), %d events journaled; want the tester's 2 and nothing journaled",
			len(items), err, s.agent.Stats().Journaled-journaled)
	}
	rs, err = readPATFile(t, "pat-import.csv")
	if err != nil || len(rs) != 2 {
		t.Fatalf("pat-import.csv: %d records, %v", len(rs), err)
	}
	ds, err := reg.Import(ctx, rs, manager)
	if err != nil || len(ds) != 4 {
		t.Fatalf("import: %d drafts, %v; want 2 registrations and 2 tests", len(ds), err)
	}
	if it := patItem(t, s.agent, "AP-0201"); it.OwnerCRN != substanceResident || it.Status != pat.StatusAwaitingAuthorisation || it.RegisteredBy != manager {
		t.Errorf("AP-0201 %+v; want %s's kettle, awaiting authorisation, registered by %s", it, substanceResident, manager)
	}
	if items, _ := reg.Items(ctx, agent.ItemFilter{CRN: substanceResident}); len(items) != 1 || items[0].AssetID != "AP-0201" {
		t.Errorf("%s's items %+v, want AP-0201", substanceResident, items)
	}

	for _, id := range []string{"AP-0101", "AP-0201"} {
		if it, err := reg.Authorise(ctx, id, manager); err != nil || it.Status != pat.StatusAuthorised || it.Authorisation == nil || it.Authorisation.By != manager {
			t.Errorf("authorise %s: %+v, %v; want authorised by %s", id, it, err, manager)
		}
	}
	if _, err := reg.Authorise(ctx, "AP-0102", manager); err == nil {
		t.Error("the toaster, failed, was authorised")
	}

	type want struct{ typ, asset, crn string }
	wants := []want{
		{pat.TypeRegistered, "AP-0101", ""}, {pat.TypeTested, "AP-0101", ""},
		{pat.TypeRegistered, "AP-0102", ""}, {pat.TypeTested, "AP-0102", ""},
		{pat.TypeRegistered, "AP-0201", substanceResident}, {pat.TypeTested, "AP-0201", substanceResident},
		{pat.TypeRegistered, "AP-0202", ""}, {pat.TypeTested, "AP-0202", ""},
		{pat.TypeAuthorised, "AP-0101", ""}, {pat.TypeAuthorised, "AP-0201", substanceResident},
	}
	var got []storedSubstanceEvent
	waitFor(t, 60*time.Second, "central to store the ten PAT events", func() (bool, string) {
		got = storedPAT(s)
		return len(got) >= len(wants), fmt.Sprint(len(got))
	})
	if len(got) != len(wants) {
		t.Fatalf("central stores %d PAT events, want %d", len(got), len(wants))
	}
	for i, w := range wants {
		e := got[i]
		if e.Type != w.typ || e.Info["assetId"] != w.asset || e.crn() != w.crn || !e.Signed || i > 0 && e.Seq <= got[i-1].Seq {
			t.Errorf("stored PAT event %d: seq %d %s %v about %q, signed %v; want %s of %s about %q, signed, after seq %d",
				i, e.Seq, e.Type, e.Info["assetId"], e.crn(), e.Signed, w.typ, w.asset, w.crn, got[max(i-1, 0)].Seq)
		}
	}
	if x := got[3].Info; x["outcome"] != pat.OutcomeFlagged || x["by"] != patTesterBy {
		t.Errorf("the toaster's pat.tested as stored: %v; want flagged, by %s", x, patTesterBy)
	}
	if x := got[5].Info; x["outcome"] != pat.OutcomePass || x["by"] != manager {
		t.Errorf("AP-0201's pat.tested as stored: %v; want a pass, imported by %s", x, manager)
	}
	if st := s.agent.Stats(); st.BadMessages != 0 || st.Refused != 0 {
		t.Errorf("the agent refused bus messages: %+v", st)
	}
	s.checkDelivered(t)
}
