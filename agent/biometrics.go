package agent

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apedge/apedge/agent/biometric"
	"github.com/apedge/apedge/agent/curfew"
	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/internal/config"
)

// Biometrics, as the agent runs them (the decisions are agent/biometric's):
//
//   - staff record a resident's consent (Consent), enrol a finger on a terminal
//     (Enrol: the enrolment is journaled, then the terminal is sent ActionEnrol,
//     signed for it), follow its steps live (Terminals, Enrolment: the terminal's
//     enrol-step events are kept in memory and announced by Changed, not
//     journaled) and cancel it (Cancel);
//   - the terminal's enrolled and enrol-failed events end the enrolment; the
//     credential list given to the bridge carries, for each of a resident's cards,
//     the slots of their enrolled fingers per terminal and whether the alternative
//     is in force (Allowed.Fingers, Allowed.Alternative);
//   - a departure (the roster's, as the register records it, checked every minute
//     and at every change) or a staff request (Delete) asks every terminal holding
//     the resident's templates to delete them: sent when the terminal is online,
//     again when it comes back online and every minute while unconfirmed; the
//     terminal's templates-deleted answer, with its index table read back, is
//     journaled as biometric.deleted, and the deletion counts only if it is
//     confirmed; Pending lists what waits and for how long; biometric.deletion-overdue
//     is raised once per deletion after biometrics.deletionOverdue;
//   - every status and index table of a terminal is checked for orphan slots
//     (biometric.orphan-slot, once per terminal and slot: Orphans);
//   - card reads refused for a failed finger are counted per person and per door:
//     three within ten minutes raise biometric.verification-failed, once per window.
//     A movement whose read came with a second factor records it (secondFactor:
//     terminal, checked, result, slot, score).

// biometricDescriptions are the events' one-line descriptions.
var biometricDescriptions = map[string]string{
	biometric.TypeConsent:            "a resident's consent to the enrolment of their fingerprints, or its refusal, recorded by staff",
	biometric.TypeStarted:            "a fingerprint enrolment started on a terminal",
	biometric.TypeEnrolled:           "a fingerprint enrolled: its template stored on the terminal, never sent from it",
	biometric.TypeEnrolFailed:        "a fingerprint enrolment that stored no template",
	biometric.TypeAlternative:        "the alternative to a finger at the door (card and a member of staff's confirmation) offered",
	biometric.TypeDeletionRequested:  "a resident's fingerprint templates on a terminal to be deleted",
	biometric.TypeDeleted:            "a terminal's answer to a deletion of templates, with its index table read back",
	biometric.TypeDeletionOverdue:    "a deletion of fingerprint templates not yet proven by its terminal after the time allowed",
	biometric.TypeOrphanSlot:         "a fingerprint template on a terminal that no enrolment holds",
	biometric.TypeVerificationFailed: "repeated failures of the finger with a card at a door",
}

// Errors of the biometrics the agent refuses for a reason of the site's, not the
// engine's (agent/biometric's Err*, which come through wrapped as they are).
var (
	// ErrBiometric: a resident not on the roster or not in residence, a terminal not
	// configured, or a terminal that did not take a command.
	ErrBiometric = errors.New("agent: biometric")
	// ErrTerminalOffline: the terminal has not reported, or reports itself offline.
	// It is an ErrBiometric too.
	ErrTerminalOffline = fmt.Errorf("%w: the terminal is offline", ErrBiometric)
)

// byAgent is who asks for the deletion of a departed resident's templates: the
// agent, on the departure recorded in the register.
const byAgent = "agent"

// biometricEvery is how often the agent checks departures, overdue deletions and
// deletions to send again, on its clock; resendEvery is how long it waits for a
// terminal's answer to a deletion before sending it again.
const (
	biometricEvery = time.Minute
	resendEvery    = time.Minute
)

// factorKeep is how long a granted read's second factor is kept for the door
// opening that follows it.
const factorKeep = time.Minute

// Biometrics is the site's biometrics: consent, the enrolment of fingers on its
// fingerprint terminals, the alternative, the deletion of templates and orphan
// slots. Every change is journaled (signed and forwarded) before it is answered;
// one that cannot be journaled does not stand. Its methods are safe for concurrent
// use, and wait until the journal is replayed.
type Biometrics struct {
	a *Agent
	// mu orders every change: the engine's change and its journal append happen
	// under it, so that the journal holds the changes in the order the engine made
	// them. It guards the fields below too.
	mu  sync.Mutex
	eng *biometric.Engine
	// steps is each enrolment's live step, as its terminal last said (not journaled).
	steps map[string]EnrolStep
	// online is each terminal's last status; sent when each pending deletion's
	// command was last sent.
	online map[string]bool
	sent   map[string]time.Time
	// verifier counts failed fingers at doors; factors keeps each reader's last
	// granted read's second factor, for the door opening that follows it.
	verifier *biometric.Verifier
	factors  map[string]readFactor
	// runCtx is the agent's run, which commands sent in the background last for.
	runCtx context.Context
	// ready is closed once the journal's biometric events are replayed.
	ready         chan struct{}
	replayRefused atomic.Uint64
}

// EnrolStep is what an enrolment's terminal last told the person at it to do
// (sitebus.StepPlaceFinger, StepLiftFinger, StepPlaceAgain, StepStoring), and when.
type EnrolStep struct {
	Step string    `json:"step"`
	At   time.Time `json:"at"`
}

// Enrolment is an enrolment with, while it is under way, its live step.
type Enrolment struct {
	biometric.Enrolment
	// Step is nil until the terminal says the first, and once the enrolment ends.
	Step *EnrolStep `json:"step,omitempty"`
}

// readFactor is a granted read's second factor.
type readFactor struct {
	credential string
	at         time.Time
	factor     sitebus.SecondFactor
}

// newBiometrics returns the biometrics of a's configuration.
func newBiometrics(a *Agent, cfg config.Biometrics) (*Biometrics, error) {
	eng, err := biometric.New(biometric.Config{MaxAttempts: cfg.MaxAttempts, DeletionOverdue: cfg.DeletionOverdue})
	if err != nil {
		return nil, fmt.Errorf("agent: biometric: %w", err)
	}
	return &Biometrics{a: a, eng: eng, steps: map[string]EnrolStep{}, online: map[string]bool{}, sent: map[string]time.Time{},
		verifier: biometric.NewVerifier(0, 0), factors: map[string]readFactor{}, runCtx: context.Background(), ready: make(chan struct{})}, nil
}

// Biometrics returns the site's biometrics.
func (a *Agent) Biometrics() *Biometrics { return a.bio }

// replay applies one journaled event to the engine, if it is one of its types.
func (b *Biometrics) replay(seq uint64, ev *event.Event) {
	typ := strings.TrimPrefix(ev.Type, event.TypePrefix)
	if !slices.Contains(biometric.Types(), typ) {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.eng.Apply(biometric.Draft{Type: typ, Info: ev.Data.AdditionalInformation}); err != nil {
		b.replayRefused.Add(1)
		b.a.log.Error("journaled biometric event not applied: the biometric records may differ from the journal's", "seq", seq, "type", typ, "err", err)
	}
}

// replayed marks the replay done, and gives the bridge the credential list with the
// fingers replayed (one given before, as the agent connected, may lack them).
func (b *Biometrics) replayed() {
	close(b.ready)
	b.a.credentialsChanged()
}

// wait returns once the journal is replayed, or ctx's error.
func (b *Biometrics) wait(ctx context.Context) error {
	select {
	case <-b.ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("agent: biometric: the journal is not yet replayed: %w", ctx.Err())
	}
}

// isBiometricType says typ is a biometric event type, the verifier's alarm
// included.
func isBiometricType(typ string) bool {
	return typ == biometric.TypeVerificationFailed || slices.Contains(biometric.Types(), typ)
}

// change makes one change to the engine with f and journals the drafts it returns,
// in order; if one cannot be journaled, the engine keeps only those before it and
// the error is returned.
func (b *Biometrics) change(ctx context.Context, f func(e *biometric.Engine) ([]biometric.Draft, error)) ([]biometric.Draft, error) {
	if err := b.wait(ctx); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.changeLocked(ctx, f)
}

func (b *Biometrics) changeLocked(ctx context.Context, f func(e *biometric.Engine) ([]biometric.Draft, error)) ([]biometric.Draft, error) {
	before := b.eng.Clone()
	ds, err := f(b.eng)
	if err != nil {
		b.eng = before
		return nil, err
	}
	for i, d := range ds {
		if err := b.journal(ctx, d); err != nil {
			b.eng = before
			for _, done := range ds[:i] {
				if aerr := b.eng.Apply(done); aerr != nil {
					b.a.log.Error("biometric event journaled but not applied again", "type", done.Type, "key", done.Key, "err", aerr)
				}
			}
			return ds[:i], &journalError{err}
		}
	}
	if len(ds) > 0 {
		b.a.changes.fire()
	}
	return ds, nil
}

// journal appends draft d as a signed event, once: its key is its origin.
func (b *Biometrics) journal(ctx context.Context, d biometric.Draft) error {
	dr := &event.Draft{Type: d.Type, OccurredAt: d.At, Description: biometricDescriptions[d.Type], Info: d.Info,
		Origin: "biometric:" + d.Key, Person: b.a.personOf(d.CRN)}
	_, err := b.a.append(context.WithoutCancel(ctx), dr)
	return err
}

// credentialsChanged gives the bridge a new credential list, if the bus is up (the
// next connection gives it one anyway).
func (a *Agent) credentialsChanged() {
	a.mu.Lock()
	a.listVersion++
	a.mu.Unlock()
	if a.busUp.Load() {
		a.publishCredentials(a.out)
	}
}

// present returns an ErrBiometric error unless crn is a resident on the roster, in
// residence at now.
func (b *Biometrics) present(crn string, now time.Time) error {
	r, ok := b.a.resident(crn)
	if !ok {
		return fmt.Errorf("%w: %s is not a resident of this AP", ErrBiometric, crn)
	}
	if today := now.In(curfew.London()).Format(time.DateOnly); !r.PresentOn(today) {
		return fmt.Errorf("%w: %s is not in residence on %s", ErrBiometric, crn, today)
	}
	return nil
}

// Consent records the consent of resident crn to the enrolment of their
// fingerprints, or with given false its refusal, taken by staff member by (see
// biometric.Engine.RecordConsent): journaled as biometric.consent-recorded, and a
// refusal as biometric.alternative-offered (why declined) too. A refusal from a
// resident who has templates enrolled withdraws their consent: the templates are
// deleted as Delete does. The resident must be in residence.
func (b *Biometrics) Consent(ctx context.Context, crn string, given bool, by string) (biometric.Consent, error) {
	now := b.a.clock.Now()
	if err := b.present(crn, now); err != nil {
		return biometric.Consent{}, err
	}
	var c biometric.Consent
	_, err := b.change(ctx, func(e *biometric.Engine) ([]biometric.Draft, error) {
		ds, err := e.RecordConsent(biometric.Consent{CRN: crn, Given: given, By: by, At: now})
		c, _ = e.ConsentOf(crn)
		return ds, err
	})
	if err != nil {
		return biometric.Consent{}, err
	}
	if !given {
		b.a.credentialsChanged() // the alternative
		b.mu.Lock()
		holding := slices.Contains(b.eng.Holding(), crn)
		b.mu.Unlock()
		if holding {
			if _, err := b.requestDeletion(ctx, crn, biometric.WhyStaff, by); err != nil {
				return c, err
			}
		}
	}
	return c, nil
}

// terminal returns the configured fingerprint terminal id's status, refusing a
// terminal not configured (ErrBiometric) or not online (ErrTerminalOffline).
func (b *Biometrics) terminal(id string) (BiometricView, error) {
	if _, ok := b.a.cfg.Devices.Biometrics[id]; !ok {
		return BiometricView{}, fmt.Errorf("%w: %q is not a configured fingerprint terminal: one of %v", ErrBiometric, id,
			slices.Sorted(maps.Keys(b.a.cfg.Devices.Biometrics)))
	}
	st, ok := b.a.biometricStatus(id)
	switch {
	case !ok:
		return st, fmt.Errorf("%w: %s has not reported", ErrTerminalOffline, id)
	case !st.Online:
		return st, fmt.Errorf("%w: %s reports itself offline since %s (%s)", ErrTerminalOffline, id, st.UpdatedAt.Format(time.RFC3339), dash(st.LastError, "no error given"))
	}
	return st, nil
}

// Enrol starts the enrolment of finger (one of biometric.Fingers) of resident crn,
// in residence with their consent recorded, on fingerprint terminal terminal, on
// behalf of staff member by (see biometric.Engine.StartEnrolment, which allocates
// the slot). It journals biometric.enrolment-started, then sends the terminal
// ActionEnrol, signed for it, and waits for the bridge's answer as UnlockDoor does.
// It refuses a terminal not configured (ErrBiometric), not online
// (ErrTerminalOffline) or reporting an enrolment under way (biometric.ErrBusy),
// and what the engine refuses. If the terminal does not take the command (no
// answer: ErrNoAnswer; failed or expired: ErrBiometric), the enrolment is journaled
// as failed (reason no-answer or not-taken, not counted as an attempt) and the
// error returned. The enrolment's steps and outcome come from the terminal: follow
// them with Enrolment or Terminals and Changed.
func (b *Biometrics) Enrol(ctx context.Context, crn, finger, terminal, by string) (Enrolment, error) {
	if err := b.wait(ctx); err != nil {
		return Enrolment{}, err
	}
	now := b.a.clock.Now()
	if err := b.present(crn, now); err != nil {
		return Enrolment{}, err
	}
	st, err := b.terminal(terminal)
	if err != nil {
		return Enrolment{}, err
	}
	var en biometric.Enrolment
	_, err = b.change(ctx, func(e *biometric.Engine) ([]biometric.Draft, error) {
		// A status naming an enrolment the agent started is either that enrolment
		// under way (StartEnrolment refuses it as busy) or one that has ended since
		// the status was sent (the bridge refuses the command if the terminal is
		// still at it); one the agent never started is refused here.
		if _, known := e.Enrolment(st.Enrolling); st.Enrolling != "" && !known {
			return nil, fmt.Errorf("%w: %s reports enrolment %s under way, which the agent did not start: cancel it at the terminal",
				biometric.ErrBusy, terminal, st.Enrolling)
		}
		var d biometric.Draft
		var err error
		en, d, err = e.StartEnrolment(biometric.Request{CRN: crn, Finger: finger, Terminal: terminal, By: by, At: now}, st.Used, st.Capacity)
		return []biometric.Draft{d}, err
	})
	if err != nil {
		return Enrolment{}, err
	}
	slot := en.Slot
	cmd := sitebus.Command{Action: sitebus.ActionEnrol, By: by, Enrolment: en.ID, Slot: &slot}
	res, err := b.a.orderTo(ctx, sitebus.ClassBiometric, terminal, &cmd, b.a.clock.Now())
	if err == nil && res.Status == sitebus.ResultDone {
		v, _, err := b.Enrolment(ctx, en.ID)
		return v, err
	}
	reason, detail, refusal := biometric.ReasonNotTaken, res.Status+": "+res.Error, fmt.Errorf("%w: %s did not take enrolment %s: %s: %s",
		ErrBiometric, terminal, en.ID, res.Status, res.Error)
	if err != nil && !errors.Is(err, errSign) {
		reason, detail, refusal = biometric.ReasonNoAnswer, err.Error(), fmt.Errorf("agent: enrol on %s: %w", terminal, err)
		// It may yet have started: stop it, so that it stores nothing.
		cancel := sitebus.Command{Action: sitebus.ActionCancelEnrol, By: by, Enrolment: en.ID}
		go b.command(terminal, cancel)
	} else if err != nil {
		detail, refusal = err.Error(), err
	}
	_, aerr := b.change(ctx, func(e *biometric.Engine) ([]biometric.Draft, error) {
		d, err := e.Abandon(en.ID, reason, detail, by, b.a.clock.Now())
		delete(b.steps, en.ID)
		return []biometric.Draft{d}, err
	})
	if aerr != nil && !errors.Is(aerr, biometric.ErrState) { // ErrState: the terminal ended it meanwhile
		return Enrolment{}, aerr
	}
	return Enrolment{}, refusal
}

// Cancel ends enrolment id, under way, on behalf of staff member by: journaled as
// biometric.enrol-failed (reason cancelled, not counted as an attempt); the
// terminal is sent ActionCancelEnrol in the background. A template it stores all
// the same is an orphan slot the next reading of its slots reports.
func (b *Biometrics) Cancel(ctx context.Context, id, by string) (Enrolment, error) {
	var terminal string
	_, err := b.change(ctx, func(e *biometric.Engine) ([]biometric.Draft, error) {
		d, err := e.Abandon(id, biometric.ReasonCancelled, "", by, b.a.clock.Now())
		terminal = d.Terminal
		delete(b.steps, id)
		return []biometric.Draft{d}, err
	})
	if err != nil {
		return Enrolment{}, err
	}
	go b.command(terminal, sitebus.Command{Action: sitebus.ActionCancelEnrol, By: by, Enrolment: id})
	v, _, err := b.Enrolment(ctx, id)
	return v, err
}

// Delete asks for every fingerprint template of crn (on the roster or not) to be
// deleted, on behalf of staff member by (see biometric.Engine.RequestDeletion, why
// staff): journaled as one biometric.deletion-requested per terminal holding them
// (and an enrolment under way abandoned), each sent ActionDeleteTemplates now if the
// terminal is online, else when it comes back. It returns the deletions requested.
// The deletion is done only once the terminal's index table read back confirms it:
// Pending lists those waiting.
func (b *Biometrics) Delete(ctx context.Context, crn, by string) ([]biometric.Deletion, error) {
	return b.requestDeletion(ctx, crn, biometric.WhyStaff, by)
}

// requestDeletion requests the deletion of crn's templates for why, and sends each
// terminal online its deletion.
func (b *Biometrics) requestDeletion(ctx context.Context, crn, why, by string) ([]biometric.Deletion, error) {
	var out []biometric.Deletion
	_, err := b.change(ctx, func(e *biometric.Engine) ([]biometric.Draft, error) {
		ds, err := e.RequestDeletion(crn, why, by, b.a.clock.Now())
		for _, d := range ds {
			var r biometric.DeletionRequest
			switch d.Type {
			case biometric.TypeDeletionRequested:
				if json.Unmarshal(d.Info, &r) == nil {
					x, _ := e.Deletion(r.Deletion)
					out = append(out, x)
				}
			case biometric.TypeEnrolFailed:
				var f biometric.Failure
				if json.Unmarshal(d.Info, &f) == nil {
					delete(b.steps, f.Enrolment)
					go b.command(f.Terminal, sitebus.Command{Action: sitebus.ActionCancelEnrol, By: by, Enrolment: f.Enrolment})
				}
			}
		}
		return ds, err
	})
	if err != nil {
		return nil, err
	}
	b.a.credentialsChanged() // their fingers open no door from now
	for _, d := range out {
		b.sendPending(d.Terminal, true)
	}
	return out, nil
}

// sendPending sends terminal, if it is online, the deletions pending on it: every
// one if force, else those not sent within resendEvery.
func (b *Biometrics) sendPending(terminal string, force bool) {
	now := b.a.clock.Now()
	var cmds []sitebus.Command
	b.mu.Lock()
	if b.online[terminal] {
		for _, d := range b.eng.Pending(terminal) {
			if last, ok := b.sent[d.ID]; !force && ok && now.Sub(last) < resendEvery {
				continue
			}
			b.sent[d.ID] = now
			cmds = append(cmds, sitebus.Command{Action: sitebus.ActionDeleteTemplates, By: d.By, Slots: slices.Clone(d.Slots)})
		}
	}
	b.mu.Unlock()
	for _, c := range cmds {
		go b.command(terminal, c)
	}
}

// command sends cmd to terminal for the agent's run and logs what the bridge
// answered; what the command does comes back as the terminal's events.
func (b *Biometrics) command(terminal string, cmd sitebus.Command) {
	b.mu.Lock()
	ctx := b.runCtx
	b.mu.Unlock()
	res, err := b.a.orderTo(ctx, sitebus.ClassBiometric, terminal, &cmd, b.a.clock.Now())
	switch {
	case err != nil && ctx.Err() == nil:
		b.a.log.Warn("fingerprint terminal command not answered", "terminal", terminal, "action", cmd.Action, "command", cmd.ID, "err", err)
	case err == nil && res.Status != sitebus.ResultDone:
		b.a.log.Warn("fingerprint terminal command not carried out", "terminal", terminal, "action", cmd.Action, "command", cmd.ID,
			"status", res.Status, "err", res.Error)
	}
}

// status takes a terminal's status: it checks the used slots for orphans and, when
// the terminal has come online, sends it the deletions pending on it. It returns an
// error only when the journal failed.
func (b *Biometrics) status(ctx context.Context, tp sitebus.Topic, m *sitebus.Message) error {
	if m.Kind != sitebus.BiometricStatusKind {
		return nil
	}
	st, err := sitebus.DecodeBiometricStatus(m.Data)
	if err != nil {
		return nil // deviceStatus refused it
	}
	if err := b.wait(ctx); err != nil {
		return nil
	}
	b.mu.Lock()
	was := b.online[tp.ID]
	b.online[tp.ID] = st.Online
	b.mu.Unlock()
	if st.Online {
		if _, err := b.change(ctx, func(e *biometric.Engine) ([]biometric.Draft, error) {
			return e.UsedSlots(tp.ID, st.Used, m.Time, b.a.clock.Now())
		}); err != nil {
			if errors.As(err, new(*journalError)) {
				return err
			}
			b.a.log.Warn("fingerprint terminal's used slots not checked", "terminal", tp.ID, "err", err)
		}
	}
	if st.Online && !was {
		b.sendPending(tp.ID, true)
	}
	return nil
}

// event takes a terminal's event: an enrolment's step (kept, not journaled), its
// outcome, a deletion's answer or an index table (journaled with what follows). A
// report the engine has already taken (the bridge's redelivery) or on an enrolment
// already ended is dropped; one it cannot take is a badDataError. It returns any
// other error only when the journal failed: the message must then not be
// acknowledged.
func (b *Biometrics) event(ctx context.Context, tp sitebus.Topic, m *sitebus.Message) error {
	v, err := sitebus.DecodeBiometricEvent(m.Kind, m.Data)
	if err != nil {
		return &badDataError{err}
	}
	now := b.a.clock.Now()
	var creds bool
	var ds []biometric.Draft
	switch ev := v.(type) {
	case *sitebus.EnrolStep:
		return b.step(ctx, tp.ID, ev, m.Time)
	case *sitebus.Enrolled:
		ds, err = b.change(ctx, func(e *biometric.Engine) ([]biometric.Draft, error) {
			d, err := e.Enrolled(tp.ID, *ev, now)
			delete(b.steps, ev.Enrolment)
			return []biometric.Draft{d}, err
		})
		creds = err == nil
	case *sitebus.EnrolFailed:
		ds, err = b.change(ctx, func(e *biometric.Engine) ([]biometric.Draft, error) {
			ds, err := e.EnrolFailed(tp.ID, *ev, now)
			delete(b.steps, ev.Enrolment)
			return ds, err
		})
		creds = slices.ContainsFunc(ds, func(d biometric.Draft) bool { return d.Type == biometric.TypeAlternative })
	case *sitebus.TemplatesDeleted:
		ds, err = b.change(ctx, func(e *biometric.Engine) ([]biometric.Draft, error) {
			var out []biometric.Draft
			d, err := e.TemplatesDeleted(tp.ID, *ev, now)
			switch {
			case err == nil:
				out = append(out, d)
				var x biometric.Deleted
				if json.Unmarshal(d.Info, &x) == nil && x.Confirmed {
					delete(b.sent, x.Deletion) // done: not to be sent again
				}
			case !errors.Is(err, biometric.ErrNoDeletion):
				return nil, err
			default:
				b.a.log.Info("templates deleted that no pending deletion asked for", "terminal", tp.ID, "slots", ev.Slots, "command", ev.Command)
			}
			orphans, err := e.UsedSlots(tp.ID, ev.Used, ev.ReadAt, now)
			return append(out, orphans...), err
		})
	case *sitebus.IndexTable:
		ds, err = b.change(ctx, func(e *biometric.Engine) ([]biometric.Draft, error) {
			return e.UsedSlots(tp.ID, ev.Used, ev.ReadAt, now)
		})
	}
	switch {
	case errors.Is(err, biometric.ErrDuplicate):
		b.a.dups.Add(1)
		return nil
	case errors.Is(err, biometric.ErrState):
		b.a.log.Info("fingerprint terminal's report on an enrolment or deletion already ended; dropped", "terminal", tp.ID, "kind", m.Kind, "err", err)
		return nil
	case errors.As(err, new(*journalError)):
		return err
	case err != nil:
		return &badDataError{err}
	}
	for _, d := range ds {
		if d.Type == biometric.TypeDeleted {
			var x biometric.Deleted
			if json.Unmarshal(d.Info, &x) == nil && !x.Confirmed {
				b.a.log.Warn("deletion of templates not confirmed by the index table read back: it stays pending and is sent again",
					"terminal", tp.ID, "deletion", x.Deletion, "slots", x.Slots, "used", x.Used)
			}
		}
	}
	if creds {
		b.a.credentialsChanged()
	}
	return nil
}

// step keeps an enrolment's live step, as its terminal said it at at, and tells
// watchers.
func (b *Biometrics) step(ctx context.Context, terminal string, ev *sitebus.EnrolStep, at time.Time) error {
	if err := b.wait(ctx); err != nil {
		return nil
	}
	b.mu.Lock()
	en, ok := b.eng.Enrolment(ev.Enrolment)
	live := ok && en.Terminal == terminal && en.State == biometric.StateEnrolling
	if live {
		b.steps[en.ID] = EnrolStep{Step: ev.Step, At: at.UTC()}
	}
	b.mu.Unlock()
	if !live {
		b.a.log.Debug("enrolment step of no enrolment under way on the terminal", "terminal", terminal, "enrolment", ev.Enrolment, "step", ev.Step)
		return nil
	}
	b.a.changes.fire()
	return nil
}

// run checks, every biometricEvery on the agent's clock and at every change of the
// roster or the devices, for departed residents whose templates are to be deleted,
// deletions overdue and deletions to send again, until ctx ends. It returns an
// error only when the journal failed.
func (b *Biometrics) run(ctx context.Context) error {
	if err := b.wait(ctx); err != nil {
		return nil
	}
	b.mu.Lock()
	b.runCtx = ctx
	b.mu.Unlock()
	next := b.a.clock.Now()
	tick := b.a.clock.Until(next)
	for {
		changed := b.a.Changed()
		if err := b.check(ctx); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick:
			next = next.Add(biometricEvery)
			if now := b.a.clock.Now(); next.Before(now) {
				next = now.Add(biometricEvery) // a clock moved far on: no catching up tick by tick
			}
			tick = b.a.clock.Until(next)
		case <-changed:
		}
	}
}

// check does run's checks once.
func (b *Biometrics) check(ctx context.Context) error {
	now := b.a.clock.Now()
	today := now.In(curfew.London()).Format(time.DateOnly)
	b.mu.Lock()
	holding := b.eng.Holding()
	b.mu.Unlock()
	for _, crn := range holding {
		r, ok := b.a.resident(crn)
		if !ok || r.Departed == "" || r.PresentOn(today) {
			continue
		}
		b.a.log.Info("resident departed: deleting their fingerprint templates", "crn", crn, "departed", r.Departed)
		if _, err := b.requestDeletion(ctx, crn, biometric.WhyDeparted, byAgent); err != nil {
			if errors.As(err, new(*journalError)) {
				return err
			}
			b.a.log.Error("deletion of a departed resident's templates", "crn", crn, "err", err)
		}
	}
	if _, err := b.change(ctx, func(e *biometric.Engine) ([]biometric.Draft, error) { return e.Overdue(now) }); err != nil {
		if errors.As(err, new(*journalError)) {
			return err
		}
		b.a.log.Error("overdue deletions", "err", err)
	}
	for _, t := range slices.Sorted(maps.Keys(b.a.cfg.Devices.Biometrics)) {
		b.sendPending(t, false)
	}
	return nil
}

// credential returns, for the credential list, the fingers of resident crn (each
// terminal's slots) and whether the alternative is in force for them. It does not
// wait for the replay: replayed sends the list again after it.
func (b *Biometrics) credential(crn string) (map[string][]int, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, alt := b.eng.AlternativeOf(crn)
	return b.eng.Fingers(crn), alt
}

// verification counts a card read refused for a failed finger (m, of reader tp,
// decoded as cr with its configured door) and returns the alarm
// biometric.verification-failed to journal when it makes the threshold, else nil.
func (b *Biometrics) verification(tp sitebus.Topic, m *sitebus.Message, cr *sitebus.CardRead) *event.Draft {
	f := cr.SecondFactor
	if f == nil || cr.Granted || !biometric.FailedFactor(f.Result) {
		return nil
	}
	ff := biometric.FactorFailure{Read: fmt.Sprintf("%s/%s/%d", tp.ID, m.Boot, m.Seq), Door: cr.Door, Reader: tp.ID, Terminal: f.Terminal,
		Result: f.Result, At: m.Time}
	var person *event.PersonReference
	if r := b.a.holder(cr.Credential.ID(), m.Time); r != nil && r.IsResident() {
		ff.CRN, person = r.CRN, b.a.personOf(r.CRN)
	} else if r != nil {
		ff.Holder = r.ID
	}
	b.mu.Lock()
	v, raised := b.verifier.Add(ff)
	b.mu.Unlock()
	if !raised {
		return nil
	}
	info, err := json.Marshal(v)
	if err != nil {
		b.a.log.Error("biometric.verification-failed", "err", err)
		return nil
	}
	b.a.log.Warn("repeated failures of the finger at a door", "for", v.For, "crn", v.CRN, "door", v.Door, "count", v.Count)
	return &event.Draft{Type: biometric.TypeVerificationFailed, OccurredAt: m.Time, Description: biometricDescriptions[biometric.TypeVerificationFailed],
		Person: person, Info: info}
}

// noteFactor keeps the second factor of a granted read at a door with a position
// switch, for the opening that follows (factorFor).
func (b *Biometrics) noteFactor(reader string, cr *sitebus.CardRead, at time.Time) {
	if cr.SecondFactor == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.factors[reader] = readFactor{credential: cr.Credential.ID(), at: at, factor: *cr.SecondFactor}
}

// factorFor returns the second factor of the granted read of credential at reader
// that unlocked a door at unlockedAt, if the agent saw it (a read before the agent
// started is not known).
func (b *Biometrics) factorFor(reader, credential string, unlockedAt time.Time) (sitebus.SecondFactor, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f, ok := b.factors[reader]
	if !ok || f.credential != credential || unlockedAt.Sub(f.at).Abs() > factorKeep {
		return sitebus.SecondFactor{}, false
	}
	return f.factor, true
}

// factorInfo is a movement's record of its read's second factor.
func factorInfo(f *sitebus.SecondFactor) map[string]any {
	m := map[string]any{"terminal": f.Terminal, "checked": true, "result": f.Result}
	if f.Slot != nil {
		m["slot"], m["score"] = *f.Slot, f.Score
	}
	return m
}

// Enrolment returns enrolment id, with its live step while it is under way.
func (b *Biometrics) Enrolment(ctx context.Context, id string) (Enrolment, bool, error) {
	if err := b.wait(ctx); err != nil {
		return Enrolment{}, false, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	en, ok := b.eng.Enrolment(id)
	return b.view(en), ok, nil
}

// view is en with its live step.
func (b *Biometrics) view(en biometric.Enrolment) Enrolment {
	v := Enrolment{Enrolment: en}
	if s, ok := b.steps[en.ID]; ok && en.State == biometric.StateEnrolling {
		v.Step = &s
	}
	return v
}

// Enrolments returns the enrolments of crn, or every enrolment if crn is empty, in
// order of their start, each under way with its live step.
func (b *Biometrics) Enrolments(ctx context.Context, crn string) ([]Enrolment, error) {
	if err := b.wait(ctx); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	out := []Enrolment{}
	for _, en := range b.eng.Enrolments(crn) {
		out = append(out, b.view(en))
	}
	return out, nil
}

// ResidentBiometrics is what the biometrics hold of one resident.
type ResidentBiometrics struct {
	CRN string `json:"crn"`
	// Consent is the last consent (or refusal) recorded, if any.
	Consent *biometric.Consent `json:"consent,omitempty"`
	// Alternative is the alternative in force, if any.
	Alternative *biometric.Alternative `json:"alternative,omitempty"`
	// Attempts counts failed attempts since the last success or the alternative's
	// offer; MaxAttempts is how many offer it.
	Attempts    int `json:"attempts"`
	MaxAttempts int `json:"maxAttempts"`
	// Fingers is what the credential list gives the bridge: each terminal's slots.
	Fingers    map[string][]int  `json:"fingers,omitempty"`
	Enrolments []Enrolment       `json:"enrolments"`
	Pending    []PendingDeletion `json:"pending"`
}

// Resident returns what the biometrics hold of resident crn.
func (b *Biometrics) Resident(ctx context.Context, crn string) (ResidentBiometrics, error) {
	if err := b.wait(ctx); err != nil {
		return ResidentBiometrics{}, err
	}
	now := b.a.clock.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	r := ResidentBiometrics{CRN: crn, Attempts: b.eng.Attempts(crn), MaxAttempts: b.eng.Config().MaxAttempts, Fingers: b.eng.Fingers(crn),
		Enrolments: []Enrolment{}, Pending: []PendingDeletion{}}
	if c, ok := b.eng.ConsentOf(crn); ok {
		r.Consent = &c
	}
	if a, ok := b.eng.AlternativeOf(crn); ok {
		r.Alternative = &a
	}
	for _, en := range b.eng.Enrolments(crn) {
		r.Enrolments = append(r.Enrolments, b.view(en))
	}
	for _, d := range b.eng.Pending("") {
		if d.CRN == crn {
			r.Pending = append(r.Pending, b.pendingView(d, now))
		}
	}
	return r, nil
}

// PendingDeletion is a deletion waiting for its terminal's confirmation.
type PendingDeletion struct {
	biometric.Deletion
	// Waited is how long it has waited; WaitedSeconds the same for JSON.
	Waited        time.Duration `json:"-"`
	WaitedSeconds int64         `json:"waitedSeconds"`
	// Overdue says it has waited longer than biometrics.deletionOverdue.
	Overdue bool `json:"overdue"`
	// TerminalOnline says its terminal's last status was online; SentAt is when the
	// agent last sent it the deletion (zero: not since it started).
	TerminalOnline bool      `json:"terminalOnline"`
	SentAt         time.Time `json:"sentAt,omitzero"`
}

func (b *Biometrics) pendingView(d biometric.Deletion, now time.Time) PendingDeletion {
	w := d.Waited(now)
	return PendingDeletion{Deletion: d, Waited: w, WaitedSeconds: int64(w / time.Second), Overdue: w > b.eng.Config().DeletionOverdue,
		TerminalOnline: b.online[d.Terminal], SentAt: b.sent[d.ID]}
}

// Pending returns the deletions waiting for their terminal's confirmation, longest
// waiting first, with how long each has waited.
func (b *Biometrics) Pending(ctx context.Context) ([]PendingDeletion, error) {
	if err := b.wait(ctx); err != nil {
		return nil, err
	}
	now := b.a.clock.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	out := []PendingDeletion{}
	for _, d := range b.eng.Pending("") {
		out = append(out, b.pendingView(d, now))
	}
	return out, nil
}

// Deletions returns every deletion, pending and done (with the index table that
// confirmed it), in order of request.
func (b *Biometrics) Deletions(ctx context.Context) ([]biometric.Deletion, error) {
	if err := b.wait(ctx); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.eng.Deletions(), nil
}

// TerminalView is a configured fingerprint terminal: where it is, its last status,
// and the enrolment under way on it with its live step.
type TerminalView struct {
	ID   string `json:"id"`
	Door string `json:"door,omitempty"` // none: an enrolment desk
	Name string `json:"name,omitempty"`
	// Reported says it has reported a status since the agent started: Status and
	// UpdatedAt are then its last.
	Reported  bool                     `json:"reported"`
	Status    *sitebus.BiometricStatus `json:"status,omitempty"`
	UpdatedAt time.Time                `json:"updatedAt,omitzero"`
	Enrolling *Enrolment               `json:"enrolling,omitempty"`
	// Pending counts the deletions waiting for it.
	Pending int `json:"pendingDeletions"`
}

// Terminals returns every configured fingerprint terminal, by id.
func (b *Biometrics) Terminals(ctx context.Context) ([]TerminalView, error) {
	if err := b.wait(ctx); err != nil {
		return nil, err
	}
	out := []TerminalView{}
	for id, place := range b.a.cfg.Devices.Biometrics {
		v := TerminalView{ID: id, Door: place.Door, Name: place.Name}
		if st, ok := b.a.biometricStatus(id); ok {
			s := st.BiometricStatus
			v.Reported, v.Status, v.UpdatedAt = true, &s, st.UpdatedAt
		}
		out = append(out, v)
	}
	b.mu.Lock()
	for i := range out {
		if en, ok := b.eng.Enrolling(out[i].ID); ok {
			x := b.view(en)
			out[i].Enrolling = &x
		}
		out[i].Pending = len(b.eng.Pending(out[i].ID))
	}
	b.mu.Unlock()
	slices.SortFunc(out, func(x, y TerminalView) int { return cmp.Compare(x.ID, y.ID) })
	return out, nil
}

// OrphanView is an orphan slot, with whether its terminal's last status still
// shows it used.
type OrphanView struct {
	biometric.Orphan
	StillUsed bool `json:"stillUsed"`
}

// Orphans returns the orphan slots raised, by terminal and slot.
func (b *Biometrics) Orphans(ctx context.Context) ([]OrphanView, error) {
	if err := b.wait(ctx); err != nil {
		return nil, err
	}
	b.mu.Lock()
	orphans := b.eng.Orphans()
	b.mu.Unlock()
	out := []OrphanView{}
	for _, o := range orphans {
		st, _ := b.a.biometricStatus(o.Terminal)
		out = append(out, OrphanView{Orphan: o, StillUsed: slices.Contains(st.Used, o.Slot)})
	}
	return out, nil
}

// Config returns the engine's configuration, its defaults set.
func (b *Biometrics) Config() biometric.Config {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.eng.Config()
}

// EnhancedSecurity says the site's Enhanced Security is on: a card read at a door
// with a terminal needs the holder's finger on it too (the bridge decides it).
func (b *Biometrics) EnhancedSecurity() bool { return b.a.cfg.Devices.EnhancedSecurity.On }

// ReplayRefused counts the journaled biometric events not applied at start.
func (b *Biometrics) ReplayRefused() uint64 { return b.replayRefused.Load() }
