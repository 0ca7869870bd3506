package pat

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/apedge/apedge/agent/internal/fact"
	fpat "github.com/apedge/apedge/formats/pat"
)

// Registration is an item entered in the register, and the Info of its
// item.registered event.
type Registration struct {
	// AssetID is its label id: 1 to 64 printable characters, no spaces.
	AssetID string `json:"assetId"`
	// OwnerCRN is the resident who owns it (X123456); empty for the AP's own.
	OwnerCRN string `json:"ownerCrn,omitempty"`
	// Description says what it is ("kettle, white"): required.
	Description string `json:"description"`
	// Category is its category ([Category] normalises it); empty if none.
	Category string `json:"category,omitempty"`
	// Class is its class of protection; the IET Code of Practice has an item whose
	// class is not known treated as Class I.
	Class fpat.Class `json:"class"`
	// Prohibited says its category was prohibited when it was registered; then
	// Status is StatusProhibited, else StatusAwaitingTest. The engine sets both.
	Prohibited bool   `json:"prohibited"`
	Status     string `json:"status"`
	// FromImport says it was registered from a test record of an imported file.
	FromImport bool `json:"fromImport,omitempty"`
	// By registered it, At.
	By string    `json:"by"`
	At time.Time `json:"at"`
}

// Register enters an item in the register: r's AssetID, OwnerCRN, Description,
// Category, Class, By and At (the engine sets Prohibited and Status). An item of
// a prohibited category is registered, so that staff have it on record to remove,
// with status prohibited: it is never authorised. It refuses an asset id already
// registered and a malformed registration. It returns the item and its
// item.registered draft.
func (e *Engine) Register(r Registration) (Item, Draft, error) {
	r.Category, r.At = Category(r.Category), r.At.UTC()
	r.Prohibited = e.Prohibited(r.Category)
	r.Status = StatusAwaitingTest
	if r.Prohibited {
		r.Status = StatusProhibited
	}
	d, err := e.emit(TypeRegistered, r.At, r.OwnerCRN, r.AssetID, fact.Key(TypeRegistered, r.AssetID), r)
	if err != nil {
		return Item{}, Draft{}, err
	}
	it, _ := e.Get(r.AssetID)
	return it, d, nil
}

// applyRegistration adds the item r registers.
func (e *Engine) applyRegistration(r Registration) error {
	switch {
	case !fact.ID(r.AssetID):
		return fmt.Errorf("%w: asset id %q: 1 to 64 printable characters, no spaces", ErrInvalid, fact.Clip(r.AssetID))
	case e.items[r.AssetID] != nil:
		return fmt.Errorf("%w: asset %s is registered already", ErrDuplicate, r.AssetID)
	case r.OwnerCRN != "" && !fact.CRN(r.OwnerCRN):
		return fmt.Errorf("%w: owner %q is not a CRN: a letter and six digits, e.g. X123456; leave it empty for the AP's own items", ErrInvalid, fact.Clip(r.OwnerCRN))
	case !fact.Text(r.Description, 200):
		return fmt.Errorf("%w: asset %s needs a description saying what it is (at most 200 characters)", ErrInvalid, r.AssetID)
	case r.Category != Category(r.Category) || r.Category != "" && !fact.Text(r.Category, 64):
		return fmt.Errorf("%w: category %q", ErrInvalid, fact.Clip(r.Category))
	case !validClass(r.Class):
		return fmt.Errorf("%w: class %q: I, II or III (an item whose class is not known is Class I)", ErrInvalid, fact.Clip(string(r.Class)))
	case r.Prohibited != (r.Status == StatusProhibited) || r.Status != StatusProhibited && r.Status != StatusAwaitingTest:
		return fmt.Errorf("%w: registration of %s with status %q", ErrEvent, r.AssetID, fact.Clip(r.Status))
	case r.At.IsZero():
		return fmt.Errorf("%w: the registration has no time", ErrInvalid)
	}
	if err := checkName("member of staff registering the item", r.By); err != nil {
		return err
	}
	e.items[r.AssetID] = &Item{AssetID: r.AssetID, OwnerCRN: r.OwnerCRN, Description: r.Description, Category: r.Category,
		Class: r.Class, Status: r.Status, RegisteredBy: r.By, RegisteredAt: r.At, last: r.At}
	return nil
}

// Tested is a test recorded against an item, and the Info of its pat.tested event.
type Tested struct {
	AssetID     string `json:"assetId"`
	OwnerCRN    string `json:"ownerCrn,omitempty"`
	Description string `json:"description"`
	Category    string `json:"category,omitempty"`
	// Class is the class it was tested as, the record's.
	Class fpat.Class `json:"class"`
	Test
	// RetestMonths is the interval RetestDue was reckoned with (0 for a test not
	// passed): the shorter of the category's and the record's.
	RetestMonths int `json:"retestMonths,omitempty"`
	// Latest says it is the item's latest test by date: an older one joins the
	// history and changes nothing else.
	Latest bool `json:"latest"`
	// StatusBefore and Status are the item's status before and after it.
	StatusBefore string `json:"statusBefore"`
	Status       string `json:"status"`
	// AuthorisationWithdrawn says it withdrew the item's authorisation: a fail
	// or a flagged pass of an authorised (or expired, authorised) item.
	AuthorisationWithdrawn bool `json:"authorisationWithdrawn,omitempty"`
}

// Test records test record r of a registered item (r.AssetID), with the flags the
// agent found against its figures (formats/pat.Check's findings), recorded by by
// at at. Its outcome is the record's result, except that a pass with any flag is
// flagged, not accepted. The latest test (by r.TestedAt) decides the item's status:
//
//   - a fail or a flagged pass: failed, its authorisation withdrawn;
//   - a pass: authorised if it has an authorisation (kept, or suspended while it
//     was expired), else awaiting authorisation; expired at once if its retest due
//     date is already past;
//   - a prohibited or withdrawn item keeps its status whatever the test.
//
// A pass is good to its retest due date: r.TestedAt plus the interval of the
// item's category for the class tested ([Engine.RetestMonths]), or plus
// r.RetestMonths when the tester gave a shorter one (a tester may shorten the
// site's interval for an item in poor condition, not stretch it). The tested class
// becomes the item's: the tester, a competent person, decides it. A record naming
// an owner other than the item's is refused, as is a second record of the same
// item tested at the same time. It returns the pat.tested draft.
func (e *Engine) Test(r fpat.Record, flags []Flag, by string, at time.Time) (Draft, error) {
	it, err := e.item(r.AssetID)
	if err != nil {
		return Draft{}, err
	}
	r = cloneRecord(r)
	r.TestedAt = r.TestedAt.UTC()
	at = at.UTC()
	if err := checkRecord(r, at); err != nil {
		return Draft{}, err
	}
	t := Test{Record: r, Flags: slices.Clone(flags), Outcome: outcome(r, flags), By: by, At: at}
	x := Tested{AssetID: it.AssetID, OwnerCRN: it.OwnerCRN, Description: it.Description, Category: it.Category, Class: r.Class, Test: t}
	if t.Outcome == OutcomePass {
		x.RetestMonths = e.RetestMonths(it.Category, r.Class)
		if r.RetestMonths > 0 && r.RetestMonths < x.RetestMonths {
			x.RetestMonths = r.RetestMonths
		}
		x.RetestDue = addMonths(r.TestedAt, x.RetestMonths).Format(time.DateOnly)
	}
	x.StatusBefore = it.Status
	x.Latest, x.Status, x.AuthorisationWithdrawn = it.afterTest(x.Test)
	return e.emit(TypeTested, at, it.OwnerCRN, it.AssetID, fact.Key(TypeTested, it.AssetID, r.TestedAt.Format(time.RFC3339Nano)), x)
}

// outcome is the outcome of record r with flags.
func outcome(r fpat.Record, flags []Flag) string {
	switch {
	case r.Result != fpat.ResultPass:
		return OutcomeFail
	case len(flags) > 0:
		return OutcomeFlagged
	}
	return OutcomePass
}

// afterTest says whether t is it's latest test, and the status it leaves it in and
// whether it withdraws its authorisation.
func (it *Item) afterTest(t Test) (latest bool, status string, withdraws bool) {
	if last, ok := it.Latest(); ok && !t.Record.TestedAt.After(last.Record.TestedAt) {
		return false, it.Status, false
	}
	switch {
	case it.Status == StatusProhibited || it.Status == StatusWithdrawn:
		return true, it.Status, false
	case t.Outcome != OutcomePass:
		return true, StatusFailed, it.Authorisation != nil
	case !inDate(t.RetestDue, t.At):
		return true, StatusExpired, false
	case it.Authorisation != nil:
		return true, StatusAuthorised, false
	}
	return true, StatusAwaitingAuthorisation, false
}

// checkRecord returns an ErrInvalid error unless r is a well-formed test record,
// tested no later than at's date.
func checkRecord(r fpat.Record, at time.Time) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: the test record of %s: %s", ErrInvalid, fact.Clip(r.AssetID), fmt.Sprintf(format, a...))
	}
	switch {
	case !fact.ID(r.AssetID):
		return fmt.Errorf("%w: asset id %q: 1 to 64 printable characters, no spaces", ErrInvalid, fact.Clip(r.AssetID))
	case !validClass(r.Class):
		return bad("class %q: I, II or III", fact.Clip(string(r.Class)))
	case r.TestedAt.IsZero():
		return bad("no test date")
	case date(r.TestedAt).After(date(at)):
		return bad("tested %s, after it was recorded (%s)", r.TestedAt.Format(time.DateOnly), at.Format(time.DateOnly))
	case r.Result != fpat.ResultPass && r.Result != fpat.ResultFail:
		return bad("result %q: pass or fail", fact.Clip(string(r.Result)))
	case !checkResult(r.Visual) || !checkResult(r.Polarity):
		return bad("visual inspection %q, polarity %q: pass, fail or not done", fact.Clip(string(r.Visual)), fact.Clip(string(r.Polarity)))
	case r.OwnerCRN != "" && !fact.CRN(r.OwnerCRN):
		return bad("owner %q is not a CRN", fact.Clip(r.OwnerCRN))
	case r.RetestMonths < 0 || r.RetestMonths > 120:
		return bad("retest interval of %d months: 1 to 120, or none", r.RetestMonths)
	case r.InsulationV < 0 || r.InsulationV > 10000:
		return bad("insulation test voltage %d V", r.InsulationV)
	case !fact.Text(r.Tester, 128):
		return bad("no tester named")
	}
	for _, m := range []struct {
		what string
		v    *float64
	}{{"earth continuity", r.EarthOhm}, {"insulation resistance", r.InsulationMOhm}, {"leakage current", r.LeakageMA}} {
		if m.v != nil && (math.IsNaN(*m.v) || math.IsInf(*m.v, 0) || *m.v < 0) {
			return bad("%s %v is not a measurement", m.what, *m.v)
		}
	}
	for _, s := range []struct {
		what, v string
		max     int
	}{{"description", r.Description, 200}, {"category", r.Category, 64}, {"instrument", r.Instrument, 128}, {"instrument serial", r.InstrumentSerial, 64}} {
		if s.v != "" && !fact.Text(s.v, s.max) {
			return bad("%s %q: at most %d characters of text", s.what, fact.Clip(s.v), s.max)
		}
	}
	return nil
}

func checkResult(r fpat.Result) bool {
	return r == fpat.ResultPass || r == fpat.ResultFail || r == fpat.ResultNotDone
}

// applyTested adds the test to its item's history and, the latest, moves the item
// to the status it leaves.
func (e *Engine) applyTested(x Tested) error {
	it, err := e.eventItem(x.AssetID, x.OwnerCRN, x.At)
	if err != nil {
		return err
	}
	r := x.Record
	if err := checkRecord(r, x.At); err != nil {
		return err
	}
	switch {
	case r.AssetID != it.AssetID || x.Class != r.Class:
		return fmt.Errorf("%w: a test of %s whose record is of %q, class %q", ErrEvent, it.AssetID, fact.Clip(r.AssetID), fact.Clip(string(r.Class)))
	case r.OwnerCRN != "" && r.OwnerCRN != it.OwnerCRN:
		return fmt.Errorf("%w: the test record of %s names owner %s, but the item is %s", ErrInvalid, it.AssetID, r.OwnerCRN, owner(it.OwnerCRN))
	case len(x.Flags) > 32:
		return fmt.Errorf("%w: %d flags on one test", ErrInvalid, len(x.Flags))
	}
	for _, f := range x.Flags {
		if !fact.Text(f.Check, 64) || len(f.Detail) > 500 || f.Detail != "" && !fact.Text(f.Detail, 500) {
			return fmt.Errorf("%w: a flag of the test of %s: check %q, detail %q", ErrInvalid, it.AssetID, fact.Clip(f.Check), fact.Clip(f.Detail))
		}
	}
	for _, t := range it.Tests {
		if t.Record.TestedAt.Equal(r.TestedAt) {
			return fmt.Errorf("%w: %s has a test recorded at %s already", ErrDuplicate, it.AssetID, fact.Stamp(r.TestedAt))
		}
	}
	if x.Outcome != outcome(r, x.Flags) {
		return fmt.Errorf("%w: test of %s with outcome %q, not its result's and flags'", ErrEvent, it.AssetID, fact.Clip(x.Outcome))
	}
	if x.Outcome == OutcomePass {
		due, ok := parseDate(x.RetestDue)
		if !ok || x.RetestMonths < 1 || x.RetestMonths > 120 || !due.Equal(addMonths(r.TestedAt, x.RetestMonths)) {
			return fmt.Errorf("%w: a pass of %s good to %q (%d months)", ErrEvent, it.AssetID, fact.Clip(x.RetestDue), x.RetestMonths)
		}
	} else if x.RetestDue != "" || x.RetestMonths != 0 {
		return fmt.Errorf("%w: a test of %s not passed, with a retest due date", ErrEvent, it.AssetID)
	}
	if err := checkName("member of staff recording the test", x.By); err != nil {
		return err
	}
	latest, status, withdraws := it.afterTest(x.Test)
	if x.StatusBefore != it.Status || x.Latest != latest || x.Status != status || x.AuthorisationWithdrawn != withdraws {
		return fmt.Errorf("%w: a test of %s taking it from %q to %q (latest %v, withdrawing %v): it is %s, and goes to %s (latest %v, withdrawing %v)", ErrEvent,
			it.AssetID, fact.Clip(x.StatusBefore), fact.Clip(x.Status), x.Latest, x.AuthorisationWithdrawn, it.Status, status, latest, withdraws)
	}
	t := x.Test.clone()
	i, _ := slices.BinarySearchFunc(it.Tests, t, func(a, b Test) int { return a.Record.TestedAt.Compare(b.Record.TestedAt) })
	it.Tests = slices.Insert(it.Tests, i, t)
	if latest {
		it.Class, it.Status, it.RetestDue = r.Class, status, x.RetestDue
		if withdraws {
			it.Authorisation = nil
		}
	}
	it.last = x.At
	return nil
}

// Authorised is an item's authorisation, and the Info of its item.authorised event.
type Authorised struct {
	AssetID     string     `json:"assetId"`
	OwnerCRN    string     `json:"ownerCrn,omitempty"`
	Description string     `json:"description"`
	Category    string     `json:"category,omitempty"`
	Class       fpat.Class `json:"class"`
	// TestedAt and RetestDue are the pass it rests on: when tested, and the date
	// it is good to.
	TestedAt  time.Time `json:"testedAt"`
	RetestDue string    `json:"retestDue"`
	// StatusBefore is StatusAwaitingAuthorisation or StatusWithdrawn.
	StatusBefore string    `json:"statusBefore"`
	By           string    `json:"by"`
	At           time.Time `json:"at"`
}

// Authorise records that by authorised item assetID for use in the AP at at. Only
// an item whose latest test is a pass in date at at can be authorised (awaiting
// authorisation, or withdrawn and since passed), never one of a prohibited
// category (prohibited when registered, or by the configuration now). It returns
// the item.authorised draft.
func (e *Engine) Authorise(assetID, by string, at time.Time) (Draft, error) {
	it, err := e.item(assetID)
	if err != nil {
		return Draft{}, err
	}
	if it.Status != StatusProhibited && e.Prohibited(it.Category) {
		return Draft{}, fmt.Errorf("%w: %s (%s) is of category %s, which is prohibited: it cannot be authorised", ErrProhibited, it.AssetID, it.Description, it.Category)
	}
	a := Authorised{AssetID: it.AssetID, OwnerCRN: it.OwnerCRN, Description: it.Description, Category: it.Category, Class: it.Class,
		RetestDue: it.RetestDue, StatusBefore: it.Status, By: by, At: at.UTC()}
	if t, ok := it.Latest(); ok {
		a.TestedAt = t.Record.TestedAt
	}
	return e.emit(TypeAuthorised, a.At, it.OwnerCRN, it.AssetID, fact.Key(TypeAuthorised, it.AssetID, a.At.Format(time.RFC3339Nano)), a)
}

// applyAuthorised authorises the item.
func (e *Engine) applyAuthorised(a Authorised) error {
	it, err := e.eventItem(a.AssetID, a.OwnerCRN, a.At)
	if err != nil {
		return err
	}
	t, tested := it.Latest()
	switch {
	case it.Status == StatusProhibited:
		return fmt.Errorf("%w: %s (%s) is of a prohibited category (%s): it is never authorised; it is to be removed", ErrProhibited, it.AssetID, it.Description, it.Category)
	case it.Status == StatusAuthorised:
		return fmt.Errorf("%w: %s is authorised already, since %s by %s", ErrState, it.AssetID, fact.Stamp(it.Authorisation.At), it.Authorisation.By)
	case !tested:
		return fmt.Errorf("%w: %s has not been tested: it needs a pass before it is authorised", ErrState, it.AssetID)
	case t.Outcome != OutcomePass:
		return fmt.Errorf("%w: %s's latest test (%s) is a %s, not a pass: it needs a pass before it is authorised", ErrState, it.AssetID, t.Record.TestedAt.Format(time.DateOnly), t.Outcome)
	case it.Status == StatusExpired || !inDate(it.RetestDue, a.At):
		return fmt.Errorf("%w: %s's pass of %s was good to %s: it needs a retest before it is authorised", ErrOutOfDate, it.AssetID, t.Record.TestedAt.Format(time.DateOnly), it.RetestDue)
	case it.Status != StatusAwaitingAuthorisation && it.Status != StatusWithdrawn:
		return fmt.Errorf("%w: %s is %s", ErrState, it.AssetID, it.Status)
	case a.StatusBefore != it.Status || a.RetestDue != it.RetestDue || !a.TestedAt.Equal(t.Record.TestedAt) || a.Class != it.Class:
		return fmt.Errorf("%w: an authorisation of %s from %q on the pass of %s good to %q", ErrEvent, it.AssetID, fact.Clip(a.StatusBefore), fact.Stamp(a.TestedAt), fact.Clip(a.RetestDue))
	}
	if err := checkName("member of staff authorising the item", a.By); err != nil {
		return err
	}
	it.Authorisation, it.Status, it.last = &Authorisation{By: a.By, At: a.At}, StatusAuthorised, a.At
	return nil
}

// Withdrawal is an item withdrawn from use, and the Info of its item.withdrawn
// event.
type Withdrawal struct {
	AssetID     string `json:"assetId"`
	OwnerCRN    string `json:"ownerCrn,omitempty"`
	Description string `json:"description"`
	Category    string `json:"category,omitempty"`
	// StatusBefore is the item's status when withdrawn; Authorised says it had an
	// authorisation, which the withdrawal ends.
	StatusBefore string `json:"statusBefore"`
	Authorised   bool   `json:"authorised"`
	// Reason says why ("cable damaged", "resident misused it").
	Reason string    `json:"reason"`
	By     string    `json:"by"`
	At     time.Time `json:"at"`
}

// Withdraw records that by withdrew item assetID from use at at, for reason, which
// ends its authorisation if it has one. An item withdrawn already, or prohibited
// (never in use), is refused. It returns the item.withdrawn draft.
func (e *Engine) Withdraw(assetID, reason, by string, at time.Time) (Draft, error) {
	it, err := e.item(assetID)
	if err != nil {
		return Draft{}, err
	}
	w := Withdrawal{AssetID: it.AssetID, OwnerCRN: it.OwnerCRN, Description: it.Description, Category: it.Category,
		StatusBefore: it.Status, Authorised: it.Authorisation != nil, Reason: reason, By: by, At: at.UTC()}
	return e.emit(TypeWithdrawn, w.At, it.OwnerCRN, it.AssetID, fact.Key(TypeWithdrawn, it.AssetID, w.At.Format(time.RFC3339Nano)), w)
}

// applyWithdrawal withdraws the item.
func (e *Engine) applyWithdrawal(w Withdrawal) error {
	it, err := e.eventItem(w.AssetID, w.OwnerCRN, w.At)
	if err != nil {
		return err
	}
	switch {
	case it.Status == StatusProhibited:
		return fmt.Errorf("%w: %s (%s) is of a prohibited category: it is never in use, so there is nothing to withdraw; it is to be removed", ErrProhibited, it.AssetID, it.Description)
	case it.Status == StatusWithdrawn:
		return fmt.Errorf("%w: %s is withdrawn already, since %s by %s", ErrState, it.AssetID, fact.Stamp(it.Withdrawal.At), it.Withdrawal.By)
	case w.StatusBefore != it.Status || w.Authorised != (it.Authorisation != nil):
		return fmt.Errorf("%w: a withdrawal of %s from %q: it is %s", ErrEvent, it.AssetID, fact.Clip(w.StatusBefore), it.Status)
	case !fact.Text(w.Reason, 500):
		return fmt.Errorf("%w: withdrawing %s needs a reason saying why", ErrInvalid, it.AssetID)
	}
	if err := checkName("member of staff withdrawing the item", w.By); err != nil {
		return err
	}
	wc := w
	it.Withdrawal, it.Authorisation, it.Status, it.last = &wc, nil, StatusWithdrawn, w.At
	return nil
}

// Expiry is an item's pass gone out of date, and the Info of its pat.expired
// event.
type Expiry struct {
	AssetID     string `json:"assetId"`
	OwnerCRN    string `json:"ownerCrn,omitempty"`
	Description string `json:"description"`
	Category    string `json:"category,omitempty"`
	// TestedAt and RetestDue are the pass that expired.
	TestedAt  time.Time `json:"testedAt"`
	RetestDue string    `json:"retestDue"`
	// StatusBefore is StatusAuthorised or StatusAwaitingAuthorisation;
	// Authorised says it had an authorisation, suspended until a pass.
	StatusBefore string    `json:"statusBefore"`
	Authorised   bool      `json:"authorised"`
	At           time.Time `json:"at"`
}

// Expire is the daily expiry check the agent runs on its clock: for each item
// authorised or awaiting authorisation whose retest due date is before now's date
// (UTC; a pass good to 22 November expires on 23 November), it records that its
// pass expired, which takes it out of use until a pass (an authorisation is
// suspended, not withdrawn). It is idempotent: an item expired is not expired
// again. It returns the pat.expired drafts, in order of asset id.
func (e *Engine) Expire(now time.Time) ([]Draft, error) {
	now = now.UTC()
	var out []Draft
	for _, it := range e.list(func(it *Item) bool {
		return (it.Status == StatusAuthorised || it.Status == StatusAwaitingAuthorisation) && !inDate(it.RetestDue, now) && !now.Before(it.last)
	}) {
		x := Expiry{AssetID: it.AssetID, OwnerCRN: it.OwnerCRN, Description: it.Description, Category: it.Category,
			RetestDue: it.RetestDue, StatusBefore: it.Status, Authorised: it.Authorisation != nil, At: now}
		if t, ok := it.Latest(); ok {
			x.TestedAt = t.Record.TestedAt
		}
		d, err := e.emit(TypeExpired, now, it.OwnerCRN, it.AssetID, fact.Key(TypeExpired, it.AssetID, x.TestedAt.Format(time.RFC3339Nano)), x)
		if err != nil {
			return out, err
		}
		out = append(out, d)
	}
	return out, nil
}

// applyExpiry expires the item's pass.
func (e *Engine) applyExpiry(x Expiry) error {
	it, err := e.eventItem(x.AssetID, x.OwnerCRN, x.At)
	if err != nil {
		return err
	}
	t, _ := it.Latest()
	switch {
	case it.Status != StatusAuthorised && it.Status != StatusAwaitingAuthorisation:
		return fmt.Errorf("%w: %s is %s: only a pass of an item authorised or awaiting authorisation expires", ErrState, it.AssetID, it.Status)
	case inDate(it.RetestDue, x.At):
		return fmt.Errorf("%w: %s's pass is good to %s, in date on %s", ErrState, it.AssetID, it.RetestDue, x.At.UTC().Format(time.DateOnly))
	case x.RetestDue != it.RetestDue || x.StatusBefore != it.Status || x.Authorised != (it.Authorisation != nil) || !x.TestedAt.Equal(t.Record.TestedAt):
		return fmt.Errorf("%w: an expiry of %s's pass of %s good to %q, from %q", ErrEvent, it.AssetID, fact.Stamp(x.TestedAt), fact.Clip(x.RetestDue), fact.Clip(x.StatusBefore))
	}
	it.Status, it.last = StatusExpired, x.At
	return nil
}

// RecordError is what is wrong with one record of an import.
type RecordError struct {
	// Index is the record's index in the import, from 0: the caller maps it to
	// the file's line.
	Index   int
	AssetID string
	Err     error
}

// ImportError is an import refused: every bad record, with what is wrong with it.
// errors.Is finds the errors of its records.
type ImportError struct {
	// Records is how many records the import had.
	Records int
	// Problems are the bad records, in order.
	Problems []RecordError
}

// Error lists the bad records.
func (e *ImportError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "pat: import refused, nothing imported: %d of %d records are bad", len(e.Problems), e.Records)
	for _, p := range e.Problems {
		fmt.Fprintf(&b, "; record %d (asset %s): %v", p.Index+1, fact.Clip(p.AssetID), p.Err)
	}
	return b.String()
}

// Unwrap returns the records' errors.
func (e *ImportError) Unwrap() []error {
	out := make([]error, 0, len(e.Problems))
	for _, p := range e.Problems {
		out = append(out, p.Err)
	}
	return out
}

// Import records many test records at once (a tester's download, a PAT
// software's export), all or nothing: flags[i] are the flags of records[i] (flags
// may be nil: none), by is who imports, at when. Each record is taken as
// [Engine.Test] takes it, in order; a record of an asset not in the register
// registers it first, from the record's description, category, owner and class
// (item.registered, FromImport; a prohibited category is registered prohibited),
// so a record without a description of an unknown asset is bad. A record exactly
// as already recorded (the same file imported again) is skipped. If any record is
// bad, nothing is imported and the error, an [*ImportError], names every bad one;
// else it returns the drafts of all, in order.
func (e *Engine) Import(records []fpat.Record, flags [][]Flag, by string, at time.Time) ([]Draft, error) {
	switch {
	case len(records) == 0:
		return nil, fmt.Errorf("%w: an import of no records", ErrInvalid)
	case flags != nil && len(flags) != len(records):
		return nil, fmt.Errorf("%w: an import of %d records with flags for %d", ErrInvalid, len(records), len(flags))
	}
	if err := checkName("member of staff importing the records", by); err != nil {
		return nil, err
	}
	at = at.UTC()
	x := e.Clone()
	var drafts []Draft
	ie := &ImportError{Records: len(records)}
	for i, r := range records {
		var f []Flag
		if flags != nil {
			f = flags[i]
		}
		ds, err := x.importOne(r, f, by, at)
		if err != nil {
			ie.Problems = append(ie.Problems, RecordError{Index: i, AssetID: r.AssetID, Err: err})
			continue
		}
		drafts = append(drafts, ds...)
	}
	if len(ie.Problems) > 0 {
		return nil, ie
	}
	e.items = x.items
	return drafts, nil
}

// importOne records r on e, registering its item first if it is not in the
// register; nothing if it is recorded already, exactly.
func (e *Engine) importOne(r fpat.Record, flags []Flag, by string, at time.Time) ([]Draft, error) {
	var out []Draft
	it, err := e.item(r.AssetID)
	switch {
	case errors.Is(err, ErrNoItem):
		if r.Description == "" {
			return nil, fmt.Errorf("%w: %s is not in the register, and the record has no description to register it by", ErrNoItem, fact.Clip(r.AssetID))
		}
		if err := checkRecord(r, at); err != nil {
			return nil, err
		}
		_, d, err := e.Register(Registration{AssetID: r.AssetID, OwnerCRN: r.OwnerCRN, Description: r.Description, Category: r.Category,
			Class: r.Class, FromImport: true, By: by, At: at})
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	case err != nil:
		return nil, err
	default:
		for _, t := range it.Tests {
			if reflect.DeepEqual(t.Record, cloneUTC(r)) && slices.Equal(t.Flags, flags) {
				return nil, nil
			}
		}
	}
	d, err := e.Test(r, flags, by, at)
	if err != nil {
		return nil, err
	}
	return append(out, d), nil
}

func cloneUTC(r fpat.Record) fpat.Record {
	c := cloneRecord(r)
	c.TestedAt = c.TestedAt.UTC()
	return c
}

// eventItem returns the item an event of assetID and crn at at is about, checking
// that the CRN is the item's owner's and that at is not before the last thing that
// happened to it.
func (e *Engine) eventItem(assetID, crn string, at time.Time) (*Item, error) {
	it, err := e.item(assetID)
	if err != nil {
		return nil, err
	}
	switch {
	case crn != it.OwnerCRN:
		return nil, fmt.Errorf("%w: an event of %s names owner %q, not the item's", ErrEvent, it.AssetID, fact.Clip(crn))
	case at.IsZero():
		return nil, fmt.Errorf("%w: no time", ErrInvalid)
	case at.Before(it.last):
		return nil, fmt.Errorf("%w: %s is before the last record of %s (%s)", ErrInvalid, fact.Stamp(at), it.AssetID, fact.Stamp(it.last))
	}
	return it, nil
}

// owner says whose an item of crn is.
func owner(crn string) string {
	if crn == "" {
		return "the AP's"
	}
	return crn + "'s"
}

// checkName returns an ErrInvalid error unless name is a person's name.
func checkName(what, name string) error {
	if !fact.Text(name, 128) {
		return fmt.Errorf("%w: no %s named (or %q is not a name)", ErrInvalid, what, fact.Clip(name))
	}
	return nil
}
