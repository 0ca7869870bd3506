package pat

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/apedge/apedge/agent/internal/fact"
	fpat "github.com/apedge/apedge/formats/pat"
	"github.com/apedge/apedge/internal/config"
)

// Event types of the drafts an [Engine] returns.
const (
	TypeRegistered = "item.registered"
	TypeTested     = "pat.tested"
	TypeAuthorised = "item.authorised"
	TypeWithdrawn  = "item.withdrawn"
	TypeExpired    = "pat.expired"
)

// Types lists every event type an [Engine] returns and applies: the agent replays
// journaled events of these types into a new engine.
func Types() []string {
	return []string{TypeRegistered, TypeTested, TypeAuthorised, TypeWithdrawn, TypeExpired}
}

// Item statuses.
const (
	// StatusAwaitingTest: registered, with no test yet.
	StatusAwaitingTest = "awaiting-test"
	// StatusAwaitingAuthorisation: its latest test is a pass in date, and no one
	// has authorised it yet.
	StatusAwaitingAuthorisation = "awaiting-authorisation"
	// StatusAuthorised: authorised, with a pass in date: it may be used.
	StatusAuthorised = "authorised"
	// StatusFailed: its latest test failed, or was a pass whose figures fail the
	// limits (flagged, not accepted). Its authorisation, if any, is withdrawn.
	StatusFailed = "failed"
	// StatusExpired: its pass is out of date (the day after its retest due date
	// has begun). An authorisation it had is suspended, not withdrawn: a pass
	// puts it back in use.
	StatusExpired = "expired"
	// StatusWithdrawn: staff withdrew it from use; only an authorisation, on a
	// pass in date, puts it back.
	StatusWithdrawn = "withdrawn"
	// StatusProhibited: of a prohibited category: never authorised, to be removed
	// from the AP.
	StatusProhibited = "prohibited"
)

// Outcomes of a test ([Test.Outcome]).
const (
	OutcomePass    = "pass"
	OutcomeFail    = "fail"
	OutcomeFlagged = "flagged" // a pass whose figures fail the limits: not accepted
)

// Errors, tested with errors.Is; each comes wrapped in a sentence saying what was
// wrong, for the member of staff who asked.
var (
	// ErrInvalid: an argument is malformed or missing (an asset id, a CRN, a
	// class, a record, a name, a time).
	ErrInvalid = errors.New("pat: invalid")
	// ErrNoItem: no item of that asset id in the register.
	ErrNoItem = errors.New("pat: no such item")
	// ErrState: the item is not in a state for this (already authorised, no pass
	// to authorise on, already withdrawn).
	ErrState = errors.New("pat: not now")
	// ErrOutOfDate: authorising an item whose pass is out of date.
	ErrOutOfDate = errors.New("pat: test out of date")
	// ErrProhibited: the item's category is prohibited: it is never authorised.
	ErrProhibited = errors.New("pat: prohibited category")
	// ErrDuplicate: an asset id already registered, or a test already recorded.
	ErrDuplicate = errors.New("pat: already recorded")
	// ErrEvent: a draft Apply cannot read, or of a type it does not know.
	ErrEvent = errors.New("pat: bad event")
)

// Config configures an [Engine]: the site's policy, which the agent fills from
// internal/config's PAT section. Zero fields take internal/config's defaults.
type Config struct {
	// Prohibited lists the categories never allowed, beyond
	// config.DefaultPATProhibited, which always are.
	Prohibited []string
	// RetestMonths maps a category (config.PATDefaultCategory for those not
	// named) to the months a pass is good for, per class. It is laid over
	// config.DefaultPATRetestMonths: a class or category not given keeps the
	// default.
	RetestMonths map[string]map[fpat.Class]int
	// DueWithin is how far ahead [Engine.Due] looks when asked with 0 (default
	// config.DefaultPATDueWithin).
	DueWithin time.Duration
}

// withDefaults returns c with its defaults set, categories normalised, or an
// error saying what is wrong.
func (c Config) withDefaults() (Config, error) {
	prohibited := config.DefaultPATProhibited()
	for _, p := range c.Prohibited {
		n := Category(p)
		if !fact.Text(n, 64) {
			return c, fmt.Errorf("%w config: prohibited category %q", ErrInvalid, fact.Clip(p))
		}
		if !slices.Contains(prohibited, n) {
			prohibited = append(prohibited, n)
		}
	}
	months := map[string]map[fpat.Class]int{}
	for cat, m := range config.DefaultPATRetestMonths() {
		months[cat] = map[fpat.Class]int{fpat.ClassI: m.I, fpat.ClassII: m.II, fpat.ClassIII: m.III}
	}
	for _, cat := range slices.Sorted(maps.Keys(c.RetestMonths)) {
		n := Category(cat)
		if !fact.Text(n, 64) {
			return c, fmt.Errorf("%w config: retest interval of category %q", ErrInvalid, fact.Clip(cat))
		}
		if months[n] == nil {
			months[n] = maps.Clone(months[config.PATDefaultCategory])
		}
		for class, v := range c.RetestMonths[cat] {
			if !validClass(class) || v < 1 || v > config.MaxPATRetestMonths {
				return c, fmt.Errorf("%w config: retest interval of %s, class %q: %d months", ErrInvalid, n, fact.Clip(string(class)), v)
			}
			months[n][class] = v
		}
	}
	if c.DueWithin == 0 {
		c.DueWithin = config.DefaultPATDueWithin
	}
	if c.DueWithin < 0 {
		return c, fmt.Errorf("%w config: due within %v", ErrInvalid, c.DueWithin)
	}
	c.Prohibited, c.RetestMonths = prohibited, months
	return c, nil
}

// Category returns category c as the register keeps and compares it
// (config.PATCategory: trimmed, lower case, spaces and underscores as hyphens).
func Category(c string) string { return config.PATCategory(c) }

// Engine holds the site's register of electrical items. Its zero value is not
// usable: call [New].
type Engine struct {
	cfg   Config
	items map[string]*Item
}

// New returns an engine with an empty register, or an error if cfg is not valid.
func New(cfg Config) (*Engine, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Engine{cfg: c, items: map[string]*Item{}}, nil
}

// Config returns the engine's configuration, its defaults set.
func (e *Engine) Config() Config {
	c := e.cfg
	c.Prohibited = slices.Clone(c.Prohibited)
	c.RetestMonths = make(map[string]map[fpat.Class]int, len(e.cfg.RetestMonths))
	for cat, m := range e.cfg.RetestMonths {
		c.RetestMonths[cat] = maps.Clone(m)
	}
	return c
}

// Clone returns a deep copy of e: the agent keeps one before a change it may fail
// to journal, to go back to.
func (e *Engine) Clone() *Engine {
	c := &Engine{cfg: e.Config(), items: make(map[string]*Item, len(e.items))}
	for id, it := range e.items {
		ci := it.clone()
		c.items[id] = &ci
	}
	return c
}

// Prohibited says category is prohibited by the engine's configuration.
func (e *Engine) Prohibited(category string) bool {
	return slices.Contains(e.cfg.Prohibited, Category(category))
}

// RetestMonths is how many months a pass of an item of category and class is good
// for: the category's interval for the class, else the default row's.
func (e *Engine) RetestMonths(category string, class fpat.Class) int {
	if m, ok := e.cfg.RetestMonths[Category(category)]; ok && m[class] > 0 {
		return m[class]
	}
	return e.cfg.RetestMonths[config.PATDefaultCategory][class]
}

// Item is one electrical item of the register: what it is, whose, its tests and
// where it stands.
type Item struct {
	// AssetID is its label id, the barcode on its PAT label.
	AssetID string
	// OwnerCRN is the resident who owns it; empty for the AP's own items.
	OwnerCRN    string
	Description string
	// Category is normalised ([Category]); empty if not given.
	Category string
	// Class is its class of protection; the latest test's, once tested.
	Class fpat.Class
	// Status is one of the Status constants.
	Status string
	// RegisteredBy and RegisteredAt say who registered it, when.
	RegisteredBy string
	RegisteredAt time.Time
	// Tests is its test history, oldest test first.
	Tests []Test
	// RetestDue is the date (YYYY-MM-DD) its latest pass is good to, inclusive;
	// empty when its latest test is not a pass or it has none.
	RetestDue string
	// Authorisation is who authorised it, when: the authorisation in force, or
	// suspended while its pass is expired; nil if it has none, or it was
	// withdrawn (by staff, or by a failed test).
	Authorisation *Authorisation
	// Withdrawal is its last withdrawal, if any.
	Withdrawal *Withdrawal
	// last is when the last thing happened to it.
	last time.Time
}

// Authorisation is who authorised an item for use in the AP, and when.
type Authorisation struct {
	By string    `json:"by"`
	At time.Time `json:"at"`
}

// Flag is a finding against a test record's figures: the check (e.g.
// "insulation") and what is wrong. The agent fills flags from
// formats/pat.Check's findings; a pass with any is flagged, not accepted.
type Flag struct {
	Check  string `json:"check"`
	Detail string `json:"detail"`
}

// Test is one test of an item, as the register holds it.
type Test struct {
	// Record is the test record, as the tester or the file gave it.
	Record fpat.Record `json:"record"`
	// Flags are the findings against its figures.
	Flags []Flag `json:"flags,omitempty"`
	// Outcome is OutcomePass, OutcomeFail or OutcomeFlagged.
	Outcome string `json:"outcome"`
	// RetestDue is the date (YYYY-MM-DD) a pass is good to; empty otherwise.
	RetestDue string `json:"retestDue,omitempty"`
	// By recorded it (a member of staff, or the one who imported its file), At.
	By string    `json:"by"`
	At time.Time `json:"at"`
}

// clone returns a deep copy of t.
func (t Test) clone() Test {
	c := t
	c.Record = cloneRecord(t.Record)
	c.Flags = slices.Clone(t.Flags)
	return c
}

func cloneRecord(r fpat.Record) fpat.Record {
	c := r
	for _, p := range []**float64{&c.EarthOhm, &c.InsulationMOhm, &c.LeakageMA} {
		if *p != nil {
			v := **p
			*p = &v
		}
	}
	return c
}

// clone returns a deep copy of it.
func (it Item) clone() Item {
	c := it
	c.Tests = slices.Clone(it.Tests)
	for i, t := range c.Tests {
		c.Tests[i] = t.clone()
	}
	if it.Authorisation != nil {
		a := *it.Authorisation
		c.Authorisation = &a
	}
	if it.Withdrawal != nil {
		w := *it.Withdrawal
		c.Withdrawal = &w
	}
	return c
}

// Latest returns the item's latest test (by the date tested), if it has one.
func (it Item) Latest() (Test, bool) {
	if len(it.Tests) == 0 {
		return Test{}, false
	}
	return it.Tests[len(it.Tests)-1], true
}

// Get returns the item of assetID (a copy).
func (e *Engine) Get(assetID string) (Item, bool) {
	it, ok := e.items[assetID]
	if !ok {
		return Item{}, false
	}
	return it.clone(), true
}

// All returns every item, in order of asset id.
func (e *Engine) All() []Item {
	return e.list(func(*Item) bool { return true })
}

// Owned returns the items of the resident crn (crn empty: the AP's own), in order
// of asset id.
func (e *Engine) Owned(crn string) []Item {
	return e.list(func(it *Item) bool { return it.OwnerCRN == crn })
}

// HandBack returns the items of the resident crn to hand back on their departure,
// in order of asset id: all they own, whatever their status (a prohibited or
// withdrawn item is theirs to take too). It records nothing; none for an empty
// crn.
func (e *Engine) HandBack(crn string) []Item {
	if crn == "" {
		return nil
	}
	return e.Owned(crn)
}

// Due returns the items due for a retest within within of now (0: the configured
// DueWithin): those authorised or awaiting authorisation whose retest due date is
// no later than now's date (UTC) plus within, and those expired, soonest (most
// overdue) first.
func (e *Engine) Due(now time.Time, within time.Duration) []Item {
	if within <= 0 {
		within = e.cfg.DueWithin
	}
	limit := date(now.Add(within))
	out := e.list(func(it *Item) bool {
		switch it.Status {
		case StatusAuthorised, StatusAwaitingAuthorisation, StatusExpired:
			d, ok := parseDate(it.RetestDue)
			return ok && !d.After(limit)
		}
		return false
	})
	slices.SortStableFunc(out, func(a, b Item) int { return cmp.Compare(a.RetestDue, b.RetestDue) })
	return out
}

func (e *Engine) list(keep func(*Item) bool) []Item {
	var out []Item
	for _, id := range slices.Sorted(maps.Keys(e.items)) {
		if it := e.items[id]; keep(it) {
			out = append(out, it.clone())
		}
	}
	return out
}

// item returns the item of assetID, or ErrNoItem.
func (e *Engine) item(assetID string) (*Item, error) {
	it, ok := e.items[assetID]
	if !ok {
		return nil, fmt.Errorf("%w: no item %q in the register: register it first", ErrNoItem, fact.Clip(assetID))
	}
	return it, nil
}

// Dates.

// date returns t's date (UTC) at midnight UTC.
func date(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// parseDate reads a date YYYY-MM-DD.
func parseDate(s string) (time.Time, bool) {
	if !fact.Date(s) {
		return time.Time{}, false
	}
	t, err := time.Parse(time.DateOnly, s)
	return t, err == nil
}

// addMonths returns the date n calendar months after t's date, on the same day of
// the month or, where that month is shorter, its last day (31 January + 1 month is
// 28 or 29 February, not 3 March).
func addMonths(t time.Time, n int) time.Time {
	d := date(t)
	first := time.Date(d.Year(), d.Month()+time.Month(n), 1, 0, 0, 0, 0, time.UTC)
	last := first.AddDate(0, 1, -1).Day()
	return time.Date(first.Year(), first.Month(), min(d.Day(), last), 0, 0, 0, 0, time.UTC)
}

// inDate says a pass good to due (YYYY-MM-DD) is in date at t: t's date (UTC) is
// no later than due.
func inDate(due string, t time.Time) bool {
	d, ok := parseDate(due)
	return ok && !date(t).After(d)
}

func validClass(c fpat.Class) bool {
	return c == fpat.ClassI || c == fpat.ClassII || c == fpat.ClassIII
}
