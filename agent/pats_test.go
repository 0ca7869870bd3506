package agent_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/agent"
	"github.com/apedge/apedge/agent/pat"
	"github.com/apedge/apedge/formats/event"
	fpat "github.com/apedge/apedge/formats/pat"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/internal/config"
)

const patBridgeYAML = `patTesters:
  - {id: pat-1, port: /dev/ttyUSB5, name: maintenance office}
`

// newPATSite is newSite with the PAT tester pat-1 in the bridge's configuration.
func newPATSite(t *testing.T) *apSite {
	t.Helper()
	s := newSite(t)
	path := filepath.Join(s.dir, "site-bridge.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(b, patBridgeYAML...), 0o644); err != nil {
		t.Fatal(err)
	}
	if s.cfg, err = config.LoadAgent(filepath.Join(s.dir, "agent.yaml")); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.cfg.Devices.PATTesters["pat-1"]; !ok {
		t.Fatalf("PAT testers %+v", s.cfg.Devices.PATTesters)
	}
	return s
}

func ptr(v float64) *float64 { return &v }

// classI is a Class I item's test record, tested on date, whose figures pass unless
// the test changes them.
func classI(asset string, tested time.Time) fpat.Record {
	return fpat.Record{AssetID: asset, Class: fpat.ClassI, TestedAt: tested, Visual: fpat.ResultPass, EarthOhm: ptr(0.05),
		InsulationMOhm: ptr(200), InsulationV: 500, Result: fpat.ResultPass, Instrument: "Seaward PrimeTest 250+",
		InstrumentSerial: "PT-2001", Tester: "Terry Tester"}
}

// patEvents returns the item.* and pat.* events of a's journal, by type.
func (s *apSite) patEvents(a *agent.Agent) map[string][]*event.Event {
	out := map[string][]*event.Event{}
	for _, ev := range s.events(a) {
		if typ := strings.TrimPrefix(ev.Type, event.TypePrefix); slices.Contains(pat.Types(), typ) {
			out[typ] = append(out[typ], ev)
		}
	}
	return out
}

// TestPATTesterOverTheBus: a configured PAT tester's pass whose figures fail is
// recorded as the tester's test, flagged and not accepted (the item failed); a test
// of an item the register lacks registers it from the record; the bridge's
// redelivery is not recorded twice; a test from an unconfigured tester, or from the
// tester under another class, is refused; and a new agent on the same journal has
// the same register.
func TestPATTesterOverTheBus(t *testing.T) {
	t.Parallel()
	s := newPATSite(t)
	a, stop, _ := s.startAgent()
	subscribed(t, a)
	ctx := t.Context()
	if _, err := a.PAT().Register(ctx, pat.Registration{AssetID: "K-0042", OwnerCRN: "X100001", Description: "kettle", Category: "Kitchen",
		Class: fpat.ClassI, By: "Kim Keyworker"}); err != nil {
		t.Fatal(err)
	}
	pub := sitebus.NewPublisher(s.bus, site, "boot-a", s.clock)
	bad := classI("K-0042", noon)
	bad.InsulationMOhm = ptr(0.5) // under Class I's 1 MΩ, but the tester says pass
	msg := sitebus.PATTest{Device: "pat-1", Serial: "PT-2001", TestNumber: 7, Record: bad}
	if _, err := pub.Publish(ctx, sitebus.ClassPATTester, "pat-1", sitebus.KindEvent, sitebus.PATTestKind, msg); err != nil {
		t.Fatal(err)
	}
	s.waitFor("K-0042 tested", func() (bool, string) {
		it, _, _ := a.PAT().Item(ctx, "K-0042")
		return len(it.Tests) == 1, fmt.Sprintf("%+v", it)
	})
	it, _, _ := a.PAT().Item(ctx, "K-0042")
	tst := it.Tests[0]
	if it.Status != pat.StatusFailed || tst.Outcome != pat.OutcomeFlagged || len(tst.Flags) != 1 || tst.Flags[0].Check != fpat.CheckInsulation ||
		tst.By != "pat-tester:pat-1" || tst.Record.InstrumentSerial != "PT-2001" || it.RetestDue != "" {
		t.Errorf("K-0042 %s, test %+v; want failed, flagged on insulation, by pat-tester:pat-1 with serial PT-2001", it.Status, tst)
	}

	// The same test again (the bridge's redelivery), a pass of an item the register
	// lacks, from the record's description, then the refused.
	newItem := classI("L-0007", noon)
	newItem.Description, newItem.Category = "desk lamp", "portable"
	dups := a.Stats().Duplicates
	refused := a.Stats().Refused
	for _, m := range []struct {
		class, id string
		test      sitebus.PATTest
	}{
		{sitebus.ClassPATTester, "pat-1", msg},
		{sitebus.ClassPATTester, "pat-1", sitebus.PATTest{Device: "pat-1", Serial: "PT-2001", TestNumber: 8, Record: newItem}},
		{sitebus.ClassPATTester, "pat-9", sitebus.PATTest{Device: "pat-9", Serial: "PT-2001", TestNumber: 9, Record: classI("K-0042", noon.Add(time.Minute))}},
		{sitebus.ClassSubstanceTester, "pat-1", msg},
	} {
		if _, err := pub.Publish(ctx, m.class, m.id, sitebus.KindEvent, sitebus.PATTestKind, m.test); err != nil {
			t.Fatal(err)
		}
	}
	s.waitFor("L-0007 registered and tested, two refusals, one duplicate", func() (bool, string) {
		l, _, _ := a.PAT().Item(ctx, "L-0007")
		st := a.Stats()
		return len(l.Tests) == 1 && st.Refused == refused+2 && st.Duplicates == dups+1, fmt.Sprintf("%+v %+v", l, st)
	})
	if l, _, _ := a.PAT().Item(ctx, "L-0007"); l.Status != pat.StatusAwaitingAuthorisation || l.RegisteredBy != "pat-tester:pat-1" ||
		l.RetestDue != "2027-06-15" {
		t.Errorf("L-0007 %+v, want awaiting authorisation, good to 2027-06-15 (portable Class I: 12 months)", l)
	}
	if it, _, _ := a.PAT().Item(ctx, "K-0042"); len(it.Tests) != 1 {
		t.Errorf("K-0042 has %d tests, want the one: the unconfigured tester's is refused", len(it.Tests))
	}
	evs := s.patEvents(a)
	for typ, n := range map[string]int{pat.TypeRegistered: 2, pat.TypeTested: 2} {
		if len(evs[typ]) != n {
			t.Errorf("%d %s events, want %d", len(evs[typ]), typ, n)
		}
	}
	if tested := evs[pat.TypeTested]; len(tested) == 2 {
		ev := tested[0]
		if ids := ev.Data.PersonReference.Identifiers; len(ids) != 2 || ids[0].Value != "X100001" || ids[1].Value != "A1001AA" {
			t.Errorf("pat.tested is about %+v, want CRN X100001 and NOMS A1001AA", ids)
		}
		var x pat.Tested
		if err := json.Unmarshal(ev.Data.AdditionalInformation, &x); err != nil || x.Outcome != pat.OutcomeFlagged || x.Record.InstrumentSerial != "PT-2001" {
			t.Errorf("pat.tested info %s (%v)", ev.Data.AdditionalInformation, err)
		}
		sentence := a.Describer().Sentence(agent.Fact{Type: pat.TypeTested, At: noon, CRN: "X100001", Info: ev.Data.AdditionalInformation})
		for _, want := range []string{"PAT tester pat-1", "Resident One", "kettle (K-0042)", "not accepted", "under the minimum of 1 MΩ", "PT-2001"} {
			if !strings.Contains(sentence, want) {
				t.Errorf("sentence %q lacks %q", sentence, want)
			}
		}
	}

	if err := stop(); err != nil {
		t.Fatal(err)
	}
	a.Close()
	b, _, _ := s.startAgent()
	subscribed(t, b) // and so started: the test does not end while it journals agent.started
	items, err := b.PAT().Items(ctx, agent.ItemFilter{})
	if err != nil || len(items) != 2 || items[0].AssetID != "K-0042" || items[0].Status != pat.StatusFailed ||
		items[1].Status != pat.StatusAwaitingAuthorisation || b.PAT().ReplayRefused() != 0 {
		t.Errorf("after a restart: %+v, %v, %d refused at replay; want both items as before", items, err, b.PAT().ReplayRefused())
	}
}

// TestPATImportAllOrNothing: an import with any bad record (an owner not on the
// roster, an unknown asset without a description) imports nothing and names every
// bad record; a good one registers and tests every item, each checked against the
// limits; the same file again imports nothing twice.
func TestPATImportAllOrNothing(t *testing.T) {
	t.Parallel()
	s := newPATSite(t)
	a, _, _ := s.startAgent()
	subscribed(t, a)
	ctx := t.Context()
	day := time.Date(2026, 6, 10, 0, 0, 0, 0, time.UTC)
	good := classI("H-1", day)
	good.Description, good.Category, good.OwnerCRN = "hair dryer", "hand-held", "X100002"
	flagged := classI("H-2", day)
	flagged.Description, flagged.EarthOhm = "toaster", ptr(0.9) // a pass, over the 0.2 Ω limit
	stranger := classI("H-3", day)
	stranger.Description, stranger.OwnerCRN = "radio", "X999999"
	unknown := classI("H-4", day) // no description to register it by
	_, err := a.PAT().Import(ctx, []fpat.Record{good, stranger, flagged, unknown}, "Mo Manager")
	var ie *pat.ImportError
	if !errors.As(err, &ie) || len(ie.Problems) != 2 || ie.Problems[0].Index != 1 || !errors.Is(ie.Problems[0].Err, agent.ErrPAT) ||
		ie.Problems[1].Index != 3 || !errors.Is(ie.Problems[1].Err, pat.ErrNoItem) {
		t.Fatalf("a bad import: %v, want records 2 (not a resident) and 4 (no description) named", err)
	}
	if items, _ := a.PAT().Items(ctx, agent.ItemFilter{}); len(items) != 0 || len(s.patEvents(a)) != 0 {
		t.Fatalf("after a refused import: %d items, %d kinds of events; want none", len(items), len(s.patEvents(a)))
	}

	ds, err := a.PAT().Import(ctx, []fpat.Record{good, flagged}, "Mo Manager")
	if err != nil || len(ds) != 4 {
		t.Fatalf("import: %d drafts, %v; want 2 registrations and 2 tests", len(ds), err)
	}
	h1, _, _ := a.PAT().Item(ctx, "H-1")
	h2, _, _ := a.PAT().Item(ctx, "H-2")
	if h1.Status != pat.StatusAwaitingAuthorisation || h1.OwnerCRN != "X100002" || h1.RetestDue != "2026-12-10" {
		t.Errorf("H-1 %+v, want X100002's, awaiting authorisation, good to 2026-12-10 (hand-held Class I: 6 months)", h1)
	}
	if h2.Status != pat.StatusFailed || len(h2.Tests) != 1 || h2.Tests[0].Outcome != pat.OutcomeFlagged || h2.Tests[0].Flags[0].Check != fpat.CheckEarth {
		t.Errorf("H-2 %+v, want failed: a pass flagged on its earth continuity", h2)
	}
	journaledBefore := a.Stats().Journaled
	if ds, err := a.PAT().Import(ctx, []fpat.Record{good, flagged}, "Mo Manager"); err != nil || len(ds) != 0 || a.Stats().Journaled != journaledBefore {
		t.Errorf("the same file again: %d drafts, %v; want nothing imported twice", len(ds), err)
	}
	if got, _ := a.PAT().Items(ctx, agent.ItemFilter{CRN: "X100002"}); len(got) != 1 || got[0].AssetID != "H-1" {
		t.Errorf("X100002's items %+v, want H-1", got)
	}
	if got, _ := a.PAT().Items(ctx, agent.ItemFilter{Label: "h-2"}); len(got) != 1 || got[0].AssetID != "H-2" {
		t.Errorf("items labelled h-2 %+v, want H-2", got)
	}
	if got, _ := a.PAT().HandBack(ctx, "X100002"); len(got) != 1 || got[0].AssetID != "H-1" {
		t.Errorf("X100002's items to hand back %+v, want H-1", got)
	}
}

// TestPATAuthoriseWithdraw: a pass keyed in by staff is authorised; authorised
// again is refused; withdrawn, it loses its authorisation and is authorised again
// only by a new one; a prohibited item is registered, never authorised; an owner
// not on the roster is refused.
func TestPATAuthoriseWithdraw(t *testing.T) {
	t.Parallel()
	s := newPATSite(t)
	a, _, _ := s.startAgent()
	subscribed(t, a)
	ctx := t.Context()
	p := a.PAT()
	if _, err := p.Register(ctx, pat.Registration{AssetID: "F-1", Description: "desk fan", Class: fpat.ClassII, By: "Kim Keyworker"}); err != nil {
		t.Fatal(err)
	}
	r := fpat.Record{AssetID: "F-1", Class: fpat.ClassII, TestedAt: noon, Visual: fpat.ResultPass, InsulationMOhm: ptr(50), InsulationV: 500,
		Result: fpat.ResultPass, Tester: "Kim Keyworker"}
	if it, err := p.Test(ctx, r, "Kim Keyworker"); err != nil || it.Status != pat.StatusAwaitingAuthorisation {
		t.Fatalf("tested: %+v, %v", it, err)
	}
	it, err := p.Authorise(ctx, "F-1", "Mo Manager")
	if err != nil || it.Status != pat.StatusAuthorised || it.Authorisation == nil || it.Authorisation.By != "Mo Manager" || !it.Authorisation.At.Equal(noon) {
		t.Fatalf("authorised: %+v, %v", it, err)
	}
	if _, err := p.Authorise(ctx, "F-1", "Mo Manager"); !errors.Is(err, pat.ErrState) {
		t.Errorf("authorised twice: %v, want ErrState", err)
	}
	s.clock.Add(time.Hour)
	it, err = p.Withdraw(ctx, "F-1", "cable damaged", "Kim Keyworker")
	if err != nil || it.Status != pat.StatusWithdrawn || it.Authorisation != nil || it.Withdrawal.Reason != "cable damaged" {
		t.Fatalf("withdrawn: %+v, %v", it, err)
	}
	if it, err := p.Authorise(ctx, "F-1", "Mo Manager"); err != nil || it.Status != pat.StatusAuthorised {
		t.Errorf("authorised again after the withdrawal: %+v, %v", it, err)
	}
	sc, err := p.Register(ctx, pat.Registration{AssetID: "S-1", OwnerCRN: "X100001", Description: "e-scooter", Category: "E Scooter",
		Class: fpat.ClassII, By: "Kim Keyworker"})
	if err != nil || sc.Status != pat.StatusProhibited {
		t.Fatalf("a prohibited item: %+v, %v; want registered, prohibited", sc, err)
	}
	if _, err := p.Authorise(ctx, "S-1", "Mo Manager"); !errors.Is(err, pat.ErrProhibited) {
		t.Errorf("a prohibited item authorised: %v", err)
	}
	if _, err := p.Register(ctx, pat.Registration{AssetID: "R-1", OwnerCRN: "X999999", Description: "radio", Class: fpat.ClassII,
		By: "Kim Keyworker"}); !errors.Is(err, agent.ErrPAT) {
		t.Errorf("an owner not on the roster: %v, want ErrPAT", err)
	}
	evs := s.patEvents(a)
	for typ, n := range map[string]int{pat.TypeRegistered: 2, pat.TypeTested: 1, pat.TypeAuthorised: 2, pat.TypeWithdrawn: 1} {
		if len(evs[typ]) != n {
			t.Errorf("%d %s events, want %d", len(evs[typ]), typ, n)
		}
	}
	if w := evs[pat.TypeWithdrawn]; len(w) == 1 {
		sentence := a.Describer().Sentence(agent.Fact{Type: pat.TypeWithdrawn, At: noon, Info: w[0].Data.AdditionalInformation})
		if !strings.Contains(sentence, "withdrew the AP's desk fan (F-1) from use: “cable damaged”") {
			t.Errorf("sentence %q", sentence)
		}
	}
}

// TestPATExpiry: the daily check, on the agent's clock, expires each pass the day
// after its retest due date, once.
func TestPATExpiry(t *testing.T) {
	t.Parallel()
	s := newPATSite(t)
	a, _, _ := s.startAgent()
	subscribed(t, a)
	ctx := t.Context()
	p := a.PAT()
	// Class I, default category: 12 months. A is good to today, B to tomorrow.
	for _, c := range []struct {
		id     string
		tested time.Time
	}{{"A-1", time.Date(2025, 6, 15, 9, 0, 0, 0, time.UTC)}, {"B-1", time.Date(2025, 6, 16, 9, 0, 0, 0, time.UTC)}} {
		if _, err := p.Register(ctx, pat.Registration{AssetID: c.id, Description: "kettle", Class: fpat.ClassI, By: "Kim Keyworker"}); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Test(ctx, classI(c.id, c.tested), "Kim Keyworker"); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Authorise(ctx, c.id, "Mo Manager"); err != nil {
			t.Fatal(err)
		}
	}
	if due, err := p.Due(ctx, 0); err != nil || len(due) != 2 || due[0].AssetID != "A-1" {
		t.Errorf("due within 14 days: %+v, %v; want A-1 then B-1", due, err)
	}
	status := func(id string) string {
		it, _, _ := p.Item(ctx, id)
		return it.Status
	}
	s.clock.Set(time.Date(2026, 6, 16, 0, 0, 1, 0, time.UTC))
	s.waitFor("A-1 expired", func() (bool, string) { return status("A-1") == pat.StatusExpired, status("A-1") })
	if st := status("B-1"); st != pat.StatusAuthorised {
		t.Errorf("B-1 %s on its last day in date, want authorised", st)
	}
	s.clock.Set(time.Date(2026, 6, 17, 0, 0, 1, 0, time.UTC))
	s.waitFor("B-1 expired", func() (bool, string) { return status("B-1") == pat.StatusExpired, status("B-1") })
	x := s.patEvents(a)[pat.TypeExpired]
	if len(x) != 2 {
		t.Fatalf("%d pat.expired events, want one per item: the check is idempotent", len(x))
	}
	var first pat.Expiry
	if err := json.Unmarshal(x[0].Data.AdditionalInformation, &first); err != nil || first.AssetID != "A-1" || first.RetestDue != "2026-06-15" || !first.Authorised {
		t.Errorf("the first expiry %s (%v)", x[0].Data.AdditionalInformation, err)
	}
	if it, _, _ := p.Item(ctx, "A-1"); it.Authorisation == nil {
		t.Errorf("A-1's authorisation %v: suspended by the expiry, not withdrawn", it.Authorisation)
	}
}
