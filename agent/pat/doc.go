// Package pat is the agent's register of electrical items: every item with a plug
// (or a charger) in the AP, the AP's own and residents', with its portable
// appliance tests (PAT), its authorisation and where it stands. AP rules allow no
// item without staff authorisation and a valid PAT (issue 18). It decides; the
// agent journals, signs and forwards, and runs the daily expiry check on its clock.
//
// # Items and their status
//
// An item has a label id (the asset id, the barcode on its PAT label), an owner (a
// resident by CRN, or the AP when empty), a description, a category and a class
// (formats/pat.Class: I, II or III), its test history (formats/pat.Record each,
// with the outcome the register gave it), its authorisation (who, when) and a
// status:
//
//   - awaiting-test: registered, not yet tested;
//   - awaiting-authorisation: its latest test is a pass in date, and no one has
//     authorised it yet (a status the list lacks: a pass alone does not put
//     an item in use, an authorisation does);
//   - authorised: authorised, with a pass in date: it may be used;
//   - failed: its latest test failed, or was a pass whose figures fail the limits
//     for its class (flagged, not accepted); its authorisation is withdrawn;
//   - expired: its pass is out of date; an authorisation it had is suspended, and
//     a pass puts it back in use without a new one;
//   - withdrawn: staff withdrew it; only an authorisation on a pass in date puts
//     it back;
//   - prohibited: of a prohibited category, never authorised, to be removed.
//
// # Policy: prohibited categories, retest intervals
//
// The configuration (internal/config's PAT, which cites the sources of its
// defaults) lists the prohibited categories: always e-scooters, e-bikes, their
// batteries and chargers, e-bike conversion kits, e-unicycles and hoverboards
// (London Fire Brigade's #ChargeSafe guidance on lithium-ion batteries), and any
// the site adds. An item of one is registered all the same, with status
// prohibited, so that staff have it on record while it is removed: refusing to
// register it would leave no record of it at all. Categories compare normalised
// ([Category]: "E Scooter" is "e-scooter").
//
// A pass is good to its retest due date: the date tested plus the interval of the
// item's category for the class tested (by default the IET Code of Practice's
// initial frequencies for hotels: Class I 12 months, hand-held 6, stationary and IT
// 24; Class II and III 24), or plus the interval the tester gave when that is
// shorter (a tester may shorten the site's interval, never stretch it). Months are
// calendar months, clamped to the month's end (31 January + 1 month is the last
// day of February). The item is in date to the end of that day, in UTC: it expires
// when the next day begins.
//
// # The workflow
//
//  1. [Engine.Register]: event item.registered ([Registration]). An asset id is
//     registered once.
//  2. [Engine.Test]: a test record of a registered item, with the flags the agent
//     found against its figures with formats/pat.Check ([Flag]): event
//     pat.tested ([Tested]). A fail, or a pass with any flag (flagged, not
//     accepted), makes the item failed and withdraws its authorisation; a pass
//     makes it authorised if it has an authorisation, else awaiting
//     authorisation (expired at once if its due date is already past: an old
//     record). A test older than the item's latest joins the history and
//     changes nothing else. A prohibited or withdrawn item keeps its status.
//  3. [Engine.Import]: many records at once, all or nothing: each as Test takes
//     it; an asset not in the register is registered from its record's
//     description, category, owner and class (a file from the PAT contractor
//     is how most items first reach the register); a record exactly as recorded
//     already is skipped, so a file imported twice imports nothing twice. If
//     any record is bad nothing is imported, and the [*ImportError] names every
//     bad record and why.
//  4. [Engine.Authorise]: event item.authorised ([Authorised]), only on a pass in
//     date, never for a prohibited category (as registered, or as configured
//     now).
//  5. [Engine.Withdraw]: event item.withdrawn ([Withdrawal]), with the reason.
//  6. [Engine.Expire]: the daily check: event pat.expired ([Expiry]) for each
//     item authorised or awaiting authorisation whose due date has passed;
//     idempotent.
//  7. [Engine.Due] lists the items due for a retest within 14 days (the
//     configured DueWithin) and those expired, for the dashboard;
//     [Engine.HandBack] lists a resident's items to hand back on their
//     departure. Neither records anything.
//
// # Events
//
// Every change is returned as a [Draft]: its Type, time, the owner's CRN, the asset
// id, a stable Key, and Info, a JSON object holding everything a reader of the
// signed event needs without any other event: the asset id, owner, description,
// category, and by type:
//
//   - item.registered: [Registration] {assetId, ownerCrn?, description,
//     category?, class, prohibited, status, fromImport?, by, at};
//   - pat.tested: [Tested] {..., class, record (the formats/pat.Record), flags?,
//     outcome, retestDue?, retestMonths?, latest, statusBefore, status,
//     authorisationWithdrawn?, by, at};
//   - item.authorised: [Authorised] {..., class, testedAt, retestDue,
//     statusBefore, by, at};
//   - item.withdrawn: [Withdrawal] {..., statusBefore, authorised, reason, by,
//     at};
//   - pat.expired: [Expiry] {..., testedAt, retestDue, statusBefore, authorised,
//     at}.
//
// # Event sourcing
//
// The engine does no I/O, reads no clock and starts no goroutines: every time comes
// in as an argument. Each method checks what is asked, builds the draft and applies
// it to itself through [Engine.Apply], the one place state changes, so the drafts a
// run returned, journaled and replayed with Apply into a new engine after a
// restart, rebuild exactly the same register. Apply checks that an event fits the
// state (the item exists, the status it says it leaves is the one it does) but not
// policy that may since have changed (prohibited categories, intervals): a
// journaled event is a fact. If the agent cannot journal a draft, the change must
// not stand: take [Engine.Clone] before the call and go back to it, or rebuild by
// replay. An Engine is not safe for concurrent use.
package pat
