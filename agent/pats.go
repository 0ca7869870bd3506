package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apedge/apedge/agent/pat"
	"github.com/apedge/apedge/formats/event"
	fpat "github.com/apedge/apedge/formats/pat"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/internal/config"
)

// The register of electrical items, as the agent runs it (the decisions are
// agent/pat's):
//
//   - staff register items (Register), key in a test record (Test), import a PAT
//     software's export or a tester's download (Import, all or nothing),
//     authorise (Authorise) and withdraw (Withdraw) items, and look them up (Item,
//     Items, Due, HandBack: the items of a departing resident to hand back);
//   - a PAT tester's test over the site bus (class pat-tester, kind "test") is
//     recorded as the tester's: by "pat-tester:<id>", the instrument's serial in
//     the record; an item the register does not have is registered from the record,
//     as an import does;
//   - every record's figures are held against the configured limits
//     (config.PAT.Limits, formats/pat.Limits.Check) by the agent itself: a pass whose
//     figures fail is flagged, not accepted;
//   - the daily expiry check runs at each midnight (UTC, as the register dates
//     passes) on the agent's clock, and once at start.

// patDescriptions are the events' one-line descriptions.
var patDescriptions = map[string]string{
	pat.TypeRegistered: "an electrical item entered in the register",
	pat.TypeTested:     "a portable appliance test (PAT) of an electrical item recorded",
	pat.TypeAuthorised: "an electrical item authorised for use in the AP by staff",
	pat.TypeWithdrawn:  "an electrical item withdrawn from use by staff",
	pat.TypeExpired:    "an electrical item's PAT out of date: not to be used until retested",
}

// ErrPAT is what the agent says when it refuses an action on the register of
// electrical items for a reason of the site's, not the engine's: an owner not on
// the roster, a PAT tester not configured. Engine errors (agent/pat's Err*) come
// through wrapped as they are.
var ErrPAT = errors.New("agent: pat")

// patTesterBy is who records a test a PAT tester sent: "pat-tester:" and its id.
const patTesterBy = "pat-tester:"

// PATRegister is the site's register of electrical items: the items, their tests,
// authorisations and withdrawals, and the daily expiry of their passes. Every
// change is journaled (signed and forwarded) before it is answered; one that cannot
// be journaled does not stand. Its methods are safe for concurrent use, and wait
// until the journal is replayed.
type PATRegister struct {
	a *Agent
	// limits are the pass limits every record is held against.
	limits fpat.Limits
	// mu orders every change: the engine's change and its journal appends happen
	// under it, so that the journal holds the changes in the order the engine made
	// them and a replay rebuilds the same register.
	mu  sync.Mutex
	eng *pat.Engine
	// ready is closed once the journal's PAT events are replayed.
	ready         chan struct{}
	replayRefused atomic.Uint64
}

// patConfig maps the configuration's PAT section to the engine's.
func patConfig(cfg config.PAT) pat.Config {
	months := make(map[string]map[fpat.Class]int, len(cfg.RetestMonths))
	for cat, m := range cfg.RetestMonths {
		c := map[fpat.Class]int{}
		for class, v := range map[fpat.Class]int{fpat.ClassI: m.I, fpat.ClassII: m.II, fpat.ClassIII: m.III} {
			if v > 0 {
				c[class] = v
			}
		}
		months[cat] = c
	}
	return pat.Config{Prohibited: slices.Clone(cfg.Prohibited), RetestMonths: months, DueWithin: cfg.DueWithin}
}

// newPATRegister returns the register of a's configuration.
func newPATRegister(a *Agent, cfg config.PAT) (*PATRegister, error) {
	limits := cfg.Limits.Pat()
	if err := limits.Validate(); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	eng, err := pat.New(patConfig(cfg))
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	return &PATRegister{a: a, limits: limits, eng: eng, ready: make(chan struct{})}, nil
}

// PAT returns the site's register of electrical items.
func (a *Agent) PAT() *PATRegister { return a.pat }

// replay applies one journaled event to the engine, if it is one of its types.
func (p *PATRegister) replay(seq uint64, ev *event.Event) {
	typ := strings.TrimPrefix(ev.Type, event.TypePrefix)
	if !isPATType(typ) {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.eng.Apply(pat.Draft{Type: typ, Info: ev.Data.AdditionalInformation}); err != nil {
		p.replayRefused.Add(1)
		p.a.log.Error("journaled PAT event not applied: the register of electrical items may differ from the journal's", "seq", seq, "type", typ, "err", err)
	}
}

// replayed marks the replay done.
func (p *PATRegister) replayed() { close(p.ready) }

// wait returns once the journal is replayed, or ctx's error.
func (p *PATRegister) wait(ctx context.Context) error {
	select {
	case <-p.ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("agent: pat: the journal is not yet replayed: %w", ctx.Err())
	}
}

// isPATType says typ is an event type of the register of electrical items.
func isPATType(typ string) bool { return slices.Contains(pat.Types(), typ) }

// change makes one change to the engine with f and journals the drafts it returns,
// in order; if one cannot be journaled, the engine keeps only those before it and
// the error is returned.
func (p *PATRegister) change(ctx context.Context, f func(e *pat.Engine) ([]pat.Draft, error)) ([]pat.Draft, error) {
	if err := p.wait(ctx); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	before := p.eng.Clone()
	ds, err := f(p.eng)
	if err != nil {
		p.eng = before
		return nil, err
	}
	for i, d := range ds {
		if err := p.journal(ctx, d); err != nil {
			p.eng = before
			for _, done := range ds[:i] {
				if aerr := p.eng.Apply(done); aerr != nil {
					p.a.log.Error("PAT event journaled but not applied again", "type", done.Type, "key", done.Key, "err", aerr)
				}
			}
			return ds[:i], &journalError{err}
		}
	}
	if len(ds) > 0 {
		p.a.changes.fire()
	}
	return ds, nil
}

// journal appends draft d as a signed event, once: its key is its origin.
func (p *PATRegister) journal(ctx context.Context, d pat.Draft) error {
	dr := &event.Draft{Type: d.Type, OccurredAt: d.At, Description: patDescriptions[d.Type], Info: d.Info,
		Origin: "pat:" + d.Key, Person: p.a.personOf(d.CRN)}
	_, err := p.a.append(context.WithoutCancel(ctx), dr)
	return err
}

// owner returns an ErrPAT error unless crn is empty (the AP's own) or a resident
// on the roster.
func (p *PATRegister) owner(crn string) error {
	if crn == "" {
		return nil
	}
	if _, ok := p.a.resident(crn); !ok {
		return fmt.Errorf("%w: %s is not a resident of this AP: an item is a resident's (by CRN) or the AP's (no owner)", ErrPAT, crn)
	}
	return nil
}

// flags holds r's figures against the configured limits.
func (p *PATRegister) flags(r fpat.Record) []pat.Flag {
	var out []pat.Flag
	for _, f := range p.limits.Check(r) {
		out = append(out, pat.Flag{Check: f.Check, Detail: f.Detail})
	}
	return out
}

// Register enters an item in the register (pat.Engine.Register): r's AssetID,
// OwnerCRN (a resident on the roster, or empty for the AP's own), Description,
// Category, Class and By; the agent dates it. An item of a prohibited category is
// registered, as prohibited. It journals item.registered and returns the item.
func (p *PATRegister) Register(ctx context.Context, r pat.Registration) (pat.Item, error) {
	if err := p.owner(r.OwnerCRN); err != nil {
		return pat.Item{}, err
	}
	r.At = p.a.clock.Now()
	var it pat.Item
	_, err := p.change(ctx, func(e *pat.Engine) ([]pat.Draft, error) {
		var d pat.Draft
		var err error
		it, d, err = e.Register(r)
		return []pat.Draft{d}, err
	})
	if err != nil {
		return pat.Item{}, err
	}
	return it, nil
}

// Test records test record r of a registered item, keyed in by staff member by
// (pat.Engine.Test): the agent holds its figures against the configured limits, so
// that a pass whose figures fail is flagged, not accepted. It journals pat.tested
// and returns the item after it.
func (p *PATRegister) Test(ctx context.Context, r fpat.Record, by string) (pat.Item, error) {
	flags := p.flags(r)
	if _, err := p.change(ctx, func(e *pat.Engine) ([]pat.Draft, error) {
		d, err := e.Test(r, flags, by, p.a.clock.Now())
		return []pat.Draft{d}, err
	}); err != nil {
		return pat.Item{}, err
	}
	it, _, err := p.Item(ctx, r.AssetID)
	return it, err
}

// Import records many test records at once (a PAT software's export, read with
// formats/pat.ReadCSV), imported by by, all or nothing (pat.Engine.Import): each
// record's figures are held against the configured limits, an asset not in the
// register is registered from its record, a record recorded already is skipped.
// If any record is bad (an owner not on the roster among them), nothing is
// imported and the error, a *pat.ImportError, names every bad record. It returns
// the drafts journaled, in order.
func (p *PATRegister) Import(ctx context.Context, records []fpat.Record, by string) ([]pat.Draft, error) {
	var owners []pat.RecordError
	flags := make([][]pat.Flag, len(records))
	for i, r := range records {
		if err := p.owner(r.OwnerCRN); err != nil {
			owners = append(owners, pat.RecordError{Index: i, AssetID: r.AssetID, Err: err})
		}
		flags[i] = p.flags(r)
	}
	return p.change(ctx, func(e *pat.Engine) ([]pat.Draft, error) {
		ds, err := e.Import(records, flags, by, p.a.clock.Now())
		if len(owners) == 0 {
			return ds, err
		}
		ie := &pat.ImportError{Records: len(records)}
		if errors.As(err, &ie) {
			ie = &pat.ImportError{Records: ie.Records, Problems: slices.Clone(ie.Problems)}
		} else if err != nil {
			return nil, err
		}
		ie.Problems = append(ie.Problems, owners...)
		slices.SortStableFunc(ie.Problems, func(x, y pat.RecordError) int { return cmp.Compare(x.Index, y.Index) })
		return nil, ie // change puts the engine back as it was
	})
}

// Authorise records that staff member by authorised item assetID for use in the
// AP (pat.Engine.Authorise: only on a pass in date, never a prohibited item). It
// journals item.authorised and returns the item after it.
func (p *PATRegister) Authorise(ctx context.Context, assetID, by string) (pat.Item, error) {
	return p.act(ctx, assetID, func(e *pat.Engine) (pat.Draft, error) {
		return e.Authorise(assetID, by, p.a.clock.Now())
	})
}

// Withdraw records that staff member by withdrew item assetID from use, for reason
// (pat.Engine.Withdraw). It journals item.withdrawn and returns the item after it.
func (p *PATRegister) Withdraw(ctx context.Context, assetID, reason, by string) (pat.Item, error) {
	return p.act(ctx, assetID, func(e *pat.Engine) (pat.Draft, error) {
		return e.Withdraw(assetID, reason, by, p.a.clock.Now())
	})
}

// act makes a change to item assetID and returns the item after it.
func (p *PATRegister) act(ctx context.Context, assetID string, f func(e *pat.Engine) (pat.Draft, error)) (pat.Item, error) {
	if _, err := p.change(ctx, func(e *pat.Engine) ([]pat.Draft, error) {
		d, err := f(e)
		return []pat.Draft{d}, err
	}); err != nil {
		return pat.Item{}, err
	}
	it, _, err := p.Item(ctx, assetID)
	return it, err
}

// Item returns the item of asset id (its label id), and whether there is one.
func (p *PATRegister) Item(ctx context.Context, id string) (pat.Item, bool, error) {
	if err := p.wait(ctx); err != nil {
		return pat.Item{}, false, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	it, ok := p.eng.Get(id)
	return it, ok, nil
}

// ItemFilter selects items of the register; its zero value selects every item.
type ItemFilter struct {
	// CRN selects the items of a resident.
	CRN string
	// Label selects the items whose label id (asset id) contains it, in any case.
	Label string
	// Status selects the items of a status (one of agent/pat's Status constants).
	Status string
}

// Items returns the items f selects, in order of asset id.
func (p *PATRegister) Items(ctx context.Context, f ItemFilter) ([]pat.Item, error) {
	if err := p.wait(ctx); err != nil {
		return nil, err
	}
	p.mu.Lock()
	all := p.eng.All()
	p.mu.Unlock()
	label := strings.ToLower(strings.TrimSpace(f.Label))
	out := []pat.Item{}
	for _, it := range all {
		if (f.CRN == "" || it.OwnerCRN == f.CRN) && (f.Status == "" || it.Status == f.Status) &&
			(label == "" || strings.Contains(strings.ToLower(it.AssetID), label)) {
			out = append(out, it)
		}
	}
	return out, nil
}

// Due returns the items due for a retest within within of now (0: the configured
// pat.dueWithin) and those expired, most overdue first (pat.Engine.Due).
func (p *PATRegister) Due(ctx context.Context, within time.Duration) ([]pat.Item, error) {
	if err := p.wait(ctx); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.eng.Due(p.a.clock.Now(), within), nil
}

// HandBack returns the items of resident crn to hand back on their departure, in
// order of asset id (pat.Engine.HandBack): a list, recording nothing.
func (p *PATRegister) HandBack(ctx context.Context, crn string) ([]pat.Item, error) {
	if err := p.wait(ctx); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.eng.HandBack(crn), nil
}

// Config returns the engine's configuration, its defaults set.
func (p *PATRegister) Config() pat.Config {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.eng.Config()
}

// Limits returns the pass limits the agent holds every test record against.
func (p *PATRegister) Limits() fpat.Limits {
	l := p.limits
	l.InsulationVolts = slices.Clone(l.InsulationVolts)
	return l
}

// Testers returns the configured PAT testers, id to name.
func (p *PATRegister) Testers() map[string]string { return maps.Clone(p.a.cfg.Devices.PATTesters) }

// ReplayRefused counts the journaled PAT events not applied at start.
func (p *PATRegister) ReplayRefused() uint64 { return p.replayRefused.Load() }

// test records a PAT tester's test (m, from configured tester tp.ID) as the
// tester's, its figures held against the limits; an item the register lacks is
// registered from the record, and a test recorded already (the bridge's
// redelivery) is dropped. It returns an error only when the journal failed: the
// message must then not be acknowledged.
func (p *PATRegister) test(ctx context.Context, tp sitebus.Topic, m *sitebus.Message) error {
	t, err := sitebus.DecodePATTest(m.Data)
	if err != nil {
		return &badDataError{err}
	}
	if t.Device != tp.ID {
		return &badDataError{fmt.Errorf("agent: pat: a test naming tester %q from %s", t.Device, tp.ID)}
	}
	if err := p.owner(t.Record.OwnerCRN); err != nil {
		return &badDataError{err}
	}
	flags := [][]pat.Flag{p.flags(t.Record)}
	ds, err := p.change(ctx, func(e *pat.Engine) ([]pat.Draft, error) {
		return e.Import([]fpat.Record{t.Record}, flags, patTesterBy+tp.ID, p.a.clock.Now())
	})
	switch {
	case errors.As(err, new(*journalError)):
		return err
	case errors.Is(err, pat.ErrDuplicate):
		p.a.dups.Add(1)
		return nil
	case err != nil:
		return &badDataError{err}
	case len(ds) == 0: // exactly as recorded already
		p.a.dups.Add(1)
		return nil
	}
	if len(flags[0]) > 0 && t.Record.Result == fpat.ResultPass {
		p.a.log.Warn("PAT tester's pass not accepted: its figures fail the limits", "tester", tp.ID, "serial", t.Serial,
			"asset", t.Record.AssetID, "flags", flags[0])
	}
	return nil
}

// run runs the daily expiry check once the journal is replayed and then at each
// midnight (UTC) on the agent's clock, until ctx ends. It returns an error only
// when the journal failed.
func (p *PATRegister) run(ctx context.Context) error {
	if err := p.wait(ctx); err != nil {
		return nil
	}
	for {
		if err := p.expire(ctx); err != nil {
			return err
		}
		y, m, d := p.a.clock.Now().UTC().Date()
		select {
		case <-ctx.Done():
			return nil
		case <-p.a.clock.Until(time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)):
		}
	}
}

// expire runs the expiry check once (pat.Engine.Expire: idempotent).
func (p *PATRegister) expire(ctx context.Context) error {
	ds, err := p.change(ctx, func(e *pat.Engine) ([]pat.Draft, error) { return e.Expire(p.a.clock.Now()) })
	switch {
	case errors.As(err, new(*journalError)):
		return err
	case err != nil:
		p.a.log.Error("PAT expiry check", "err", err)
	case len(ds) > 0:
		p.a.log.Info("electrical items' PAT out of date: not to be used until retested", "items", len(ds))
	}
	return nil
}
