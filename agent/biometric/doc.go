// Package biometric is the agent's biometrics engine for an Enhanced Security AP
// (AP Policy Framework, Annex A): residents' consent, the enrolment of their
// fingers on the site's fingerprint terminals, the alternative offered to anyone
// who declines or cannot enrol, and the deletion of their templates, proven by the
// terminal's index table read back. It decides; the agent journals, signs and
// forwards, and talks to the terminals over the site bus (formats/sitebus).
//
// # What is kept, and what is not
//
// Biometric data is special category personal data (UK GDPR Art. 9). A template is
// made, kept and matched on the terminal and never leaves it (formats/sitebus's
// biometric.go): this package knows a finger only as a slot of a terminal's
// library, with whose finger it is. No event it makes holds a template or an image.
// Templates never move between terminals, so a resident is enrolled per terminal:
// to pass a door with a terminal they must be enrolled on that terminal.
//
// # The workflow
//
//  1. [Engine.RecordConsent]: staff record the resident's explicit consent, or its
//     refusal, naming who took it. Event biometric.consent-recorded; a refusal also
//     makes biometric.alternative-offered (why declined): the resident passes doors
//     with their card and a member of staff's confirmation instead.
//  2. [Engine.StartEnrolment]: staff choose a resident with consent recorded, a
//     finger ([Fingers]) and a terminal; the engine allocates the slot, the lowest
//     free both in its records for that terminal and in the terminal's reported
//     used slots. A terminal takes one enrolment at a time ([ErrBusy]); a finger is
//     enrolled once per terminal ([ErrDuplicate]). Event biometric.enrolment-started,
//     with the attempt's number. The agent then sends the terminal ActionEnrol.
//  3. The terminal guides two captures (its enrol-step events are progress, not
//     journaled) and answers enrolled ([Engine.Enrolled]: event biometric.enrolled)
//     or enrol-failed ([Engine.EnrolFailed]: event biometric.enrol-failed with the
//     reason and the attempt). After [Config.MaxAttempts] failed attempts since the
//     resident's last success, the engine records biometric.alternative-offered
//     (why failed-enrolment). [Engine.Abandon] ends an enrolment the agent or staff
//     end (cancelled, the terminal did not take the command): also
//     biometric.enrol-failed, not counted as an attempt.
//  4. [Engine.RequestDeletion]: on a departure (or a staff request) the templates
//     of the resident are to be deleted from every terminal holding them: one
//     biometric.deletion-requested per terminal, with its slots; an enrolment under
//     way for them is abandoned. The agent sends ActionDeleteTemplates when the
//     terminal is online, and again when it comes back. [Engine.TemplatesDeleted]
//     takes the terminal's answer, the index table read back after the deletion:
//     event biometric.deleted, confirmed only if none of the slots reads as used.
//     An unconfirmed answer is a failed attempt: the deletion stays pending, to be
//     tried again. [Engine.Pending] lists what is pending; [Engine.Overdue] raises
//     biometric.deletion-overdue once for each pending longer than
//     [Config.DeletionOverdue].
//  5. [Engine.UsedSlots]: each reading of a terminal's used slots (its status, an
//     index table) is checked against the records: a used slot that no enrolment
//     holds (under way, enrolled, or awaiting its deletion) is an orphan, a template
//     of no one known, raised once per terminal and slot: biometric.orphan-slot.
//
// [Verifier] counts failed second factors at doors (the bridge decides card plus
// finger; the agent sees each card read's result) per person and per door, for
// the alarm biometric.verification-failed. That count is not journaled (refused
// reads are not events) and starts again when the agent does, so the alarm is not
// a state of the engine: its event type is not among [Types].
//
// # Events
//
// Every change is returned as a [Draft]: its Type, time, the resident's CRN, the
// terminal, a stable Key, and Info, a JSON object holding everything a reader of
// the signed event needs without any other event:
//
//   - biometric.consent-recorded: [Consent] {crn, given, by, terminal?, at};
//   - biometric.enrolment-started: [Started] {enrolment, crn, terminal, slot,
//     finger, by, attempt, at};
//   - biometric.enrolled: [Stored] {enrolment, crn, terminal, slot, finger, by, at};
//   - biometric.enrol-failed: [Failure] {enrolment, crn, terminal, slot, finger, by,
//     reason, detail, attempt, counted, endedBy?, at};
//   - biometric.alternative-offered: [Alternative] {crn, why, attempts, by, at};
//   - biometric.deletion-requested: [DeletionRequest] {deletion, crn, terminal,
//     slots, why, by, at};
//   - biometric.deleted: [Deleted] {deletion, crn, terminal, slots, used,
//     capacity, readAt, confirmed, attempt, at};
//   - biometric.deletion-overdue: [Overdue] {deletion, crn, terminal, slots, why,
//     requestedAt, attempts, waitedSeconds, at};
//   - biometric.orphan-slot: [Orphan] {terminal, slot, seenAt, at};
//   - biometric.verification-failed: [Verification] (made by [Verifier], not
//     applied).
//
// # Event sourcing
//
// The engine does no I/O, reads no clock and starts no goroutines: every time comes
// in as an argument. Each method checks what is asked, builds the drafts and
// applies them to itself through [Engine.Apply], the one place state changes, so
// the drafts a run returned, journaled and replayed with Apply into a new engine
// after a restart, rebuild exactly the same state. Apply checks that an event fits
// the state (the enrolment exists and is under way, the slot is the one allocated,
// the attempt is the next) but not policy that may since have changed (the maximum
// attempts, when a deletion is overdue): a journaled event is a fact. If the agent
// cannot journal a draft, the change must not stand: take [Engine.Clone] before the
// call and go back to it. An Engine is not safe for concurrent use.
package biometric
