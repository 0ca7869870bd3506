package main

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/apedge/apedge/agent"
	"github.com/apedge/apedge/agent/pat"
	bridge "github.com/apedge/apedge/firmware-bridge"
	fpat "github.com/apedge/apedge/formats/pat"
	"github.com/apedge/apedge/internal/clock"
)

// The demo's PAT tester (the demo bridge's patTesters) and the member of staff who
// tests and authorises the AP's items with it.
const (
	demoPATTester = "pat-1"
	demoPATStaff  = "s-dev"
)

// demoPATItem is a resident's electrical item the demo tests at the start; flagged
// items pass on the tester, but with a figure that fails the limits.
type demoPATItem struct {
	asset, crn, description, category string
	flagged                           bool
}

// demoPATItems are the items tested at the start: four pass and are authorised; the
// fan heater's insulation fails though the tester says pass, so the register flags
// it and it is not authorised.
var demoPATItems = []demoPATItem{
	{"DEMO-PAT-0001", "X100001", "kettle", "kitchen", false},
	{"DEMO-PAT-0002", "X100002", "desk lamp", "lighting", false},
	{"DEMO-PAT-0003", "X100005", "games console", "entertainment", false},
	{"DEMO-PAT-0004", "X100008", "extension lead, 4 way", "extension lead", false},
	{"DEMO-PAT-0005", "X100013", "fan heater", "heating", true},
}

// demoPATLine is the banner's line about the PAT tester.
func demoPATLine() string {
	return fmt.Sprintf("%s, simulated on a pseudo-terminal: at the start %s tests %d of the AP's items with it and authorises those that pass; the %s's pass is flagged (its insulation fails): the dashboard's electrical items, or apedge ctl pat",
		demoPATTester, demoPATStaff, len(demoPATItems), demoPATItems[len(demoPATItems)-1].description)
}

// demoPATInstrument is the simulated PAT tester as the demo works it
// (*devices/pattester.Sim).
type demoPATInstrument interface {
	Passing(assetID, tester string) fpat.Record
	Test(r fpat.Record) (uint32, error)
	Failing(r fpat.Record, figure string, pass bool) (uint32, error)
}

// patSite is what the demo's PAT testing works with: the agent's register of
// electrical items and the bridge's simulated tester.
type patSite interface {
	// Instrument returns simulated PAT tester id once the bridge runs it, else nil.
	Instrument(id string) demoPATInstrument
	Item(ctx context.Context, id string) (pat.Item, bool, error)
	Authorise(ctx context.Context, assetID, by string) (pat.Item, error)
}

// livePATSite is the demo's running agent and bridge as a patSite.
type livePATSite struct {
	*agent.PATRegister
	br *bridge.Bridge
}

// Instrument implements patSite.
func (s livePATSite) Instrument(id string) demoPATInstrument {
	select {
	case <-s.br.Ready():
	default:
		return nil
	}
	if sim := s.br.Sim(); sim != nil {
		if t := sim.PATTester(id); t != nil {
			return t
		}
	}
	return nil
}

// demoPAT is the member of staff who, at the start of the demo, tests the
// AP's items of demoPATItems on the simulated tester, a few seconds of the
// site's clock apart, and authorises each that the register has as awaiting
// authorisation. It logs what it does and its failures, and never stops the demo.
type demoPAT struct {
	site patSite
	clk  clock.Clock
	log  *slog.Logger
	rng  *rand.Rand
	// wait is how long, in real time, it waits for the tester to be up and for a
	// test to be recorded.
	wait time.Duration
}

// demoBetweenPAT is the time between two items at the tester, on the site's clock.
var demoBetweenPAT = [2]time.Duration{3 * time.Second, 8 * time.Second}

// newDemoPAT returns the demo's PAT tester's user, choosing by seed (0: a random
// seed).
func newDemoPAT(site patSite, clk clock.Clock, log *slog.Logger, seed uint64) *demoPAT {
	if seed == 0 {
		seed = rand.Uint64()
	}
	return &demoPAT{site: site, clk: clk, log: log, rng: rand.New(rand.NewPCG(seed, seed>>3)), wait: 15 * time.Second}
}

// run tests the items, then authorises those that passed.
func (p *demoPAT) run(ctx context.Context) {
	for i, it := range demoPATItems {
		if i > 0 {
			d := demoBetweenPAT[0] + time.Duration(p.rng.Int64N(int64(demoBetweenPAT[1]-demoBetweenPAT[0])+1))
			select {
			case <-ctx.Done():
				return
			case <-p.clk.Until(p.clk.Now().Add(d)):
			}
		}
		p.test(ctx, it)
	}
	for _, it := range demoPATItems {
		got, ok, err := p.site.Item(ctx, it.asset)
		if err != nil || !ok || got.Status != pat.StatusAwaitingAuthorisation {
			continue
		}
		if _, err := p.site.Authorise(ctx, it.asset, demoPATStaff); err != nil {
			p.log.Warn("demo: PAT: the item could not be authorised", "asset", it.asset, "err", err)
			continue
		}
		p.log.Info(fmt.Sprintf("demo: %s authorised %s's %s (%s)", demoPATStaff, it.crn, it.description, it.asset))
	}
}

// test has the tester send item it's test, and waits for the register to record it.
func (p *demoPAT) test(ctx context.Context, it demoPATItem) {
	before := 0
	if got, ok, err := p.site.Item(ctx, it.asset); err == nil && ok {
		before = len(got.Tests)
	}
	n := poll(ctx, p.wait, func() (uint32, bool) {
		tr := p.site.Instrument(demoPATTester)
		if tr == nil {
			return 0, false
		}
		r := tr.Passing(it.asset, demoPATStaff)
		r.OwnerCRN, r.Description, r.Category = it.crn, it.description, it.category
		var n uint32
		var err error
		if it.flagged {
			n, err = tr.Failing(r, "insulation", true)
		} else {
			n, err = tr.Test(r)
		}
		return n, err == nil
	})
	if n == 0 {
		if ctx.Err() == nil {
			p.log.Warn("demo: PAT: the simulated tester did not send its test", "tester", demoPATTester, "asset", it.asset, "waited", p.wait)
		}
		return
	}
	recorded := poll(ctx, p.wait, func() (pat.Item, bool) {
		got, ok, err := p.site.Item(ctx, it.asset)
		return got, err == nil && ok && len(got.Tests) > before
	})
	if len(recorded.Tests) == 0 {
		if ctx.Err() == nil {
			p.log.Warn("demo: PAT: the register did not record the test", "tester", demoPATTester, "asset", it.asset, "test", n, "waited", p.wait)
		}
		return
	}
	last := recorded.Tests[len(recorded.Tests)-1]
	p.log.Info(fmt.Sprintf("demo: %s tested %s's %s (%s) on %s: %s", demoPATStaff, it.crn, it.description, it.asset, demoPATTester, last.Outcome), "test", n)
}
