package hiltests

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/agent/biometric"
	"github.com/apedge/apedge/devices/fingerprint"
	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/sitebus"
)

// enrolSteps are the steps a terminal guides a person through in an enrolment,
// as the agent shows them live (the storing step may pass too fast to be seen).
var enrolSteps = []string{sitebus.StepPlaceFinger, sitebus.StepLiftFinger, sitebus.StepPlaceAgain}

// sawSteps says steps are those of a successful enrolment: enrolSteps, then
// storing if it was caught (the terminal stores in well under a second).
func sawSteps(steps []string) bool {
	return slices.Equal(steps, enrolSteps) || slices.Equal(steps, append(slices.Clone(enrolSteps), sitebus.StepStoring))
}

// storedKeys are the keys the additionalInformation of a biometric event may have:
// who, which finger, where and what happened, never a template or an image.
var storedKeys = []string{"enrolment", "crn", "given", "terminal", "slot", "finger", "by", "attempt", "at", "reason", "detail",
	"counted", "endedBy", "why", "attempts", "deletion", "slots", "used", "capacity", "readAt", "confirmed", "seenAt"}

// TestBiometricEnrolment runs enrolment through the real bridge, its simulated
// fingerprint modules on pseudo-terminals, the agent and a real Mosquitto (TLS,
// client certificates) to central: a resident's consent is recorded by the member
// of staff who took it, then their right index finger is enrolled on the enrolment
// desk's terminal and on the front door's, the test playing the resident at each
// terminal by the steps the agent shows live (place the finger, lift it, place it
// again). Each template is stored by the module in the slot the agent allocated,
// and stays there: biometric.enrolled names the resident, the terminal, the slot,
// the finger and the member of staff, and holds no template; the bridge is given the
// resident's slots per terminal with their card; and central stores the five
// biometric events, signed, in order.
func TestBiometricEnrolment(t *testing.T) {
	t.Parallel()
	s := newBiometricSite(t, "BIO1")
	ctx := t.Context()
	bio := s.agent.Biometrics()

	if _, err := bio.Enrol(ctx, ada, "right-index", deskTerminal, keyworker); !errors.Is(err, biometric.ErrConsent) {
		t.Fatalf("an enrolment before consent: %v, want refused for want of consent", err)
	}
	s.consent(ada, true)
	// Templates never leave a terminal: the finger is enrolled on each, each time in
	// the lowest slot free there.
	var got []enrolment
	for _, tm := range []string{deskTerminal, frontTerminal} {
		en := s.enrol(ada, "right-index", tm, "")
		if en.State != biometric.StateEnrolled || en.Slot != 0 || en.Attempt != 1 || !sawSteps(en.Steps) {
			t.Errorf("enrolment on %s: %+v; want enrolled in slot 0 at the first attempt, through the steps %v (then storing, if seen)", tm, en, enrolSteps)
		}
		if lib := s.module(tm).Slots(); !maps.Equal(lib, map[int]string{en.Slot: fingerOf(ada, "right-index")}) {
			t.Errorf("%s's module holds %v, want %s's right index finger in slot %d alone", tm, lib, ada, en.Slot)
		}
		got = append(got, en)
	}
	r, err := bio.Resident(ctx, ada)
	if err != nil || !maps.EqualFunc(r.Fingers, map[string][]int{deskTerminal: {0}, frontTerminal: {0}}, slices.Equal) {
		t.Errorf("the agent holds %s's fingers %v (%v); want slot 0 on each terminal", ada, r.Fingers, err)
	}
	s.waitKept(adaCard, "with slot 0 on each terminal", func(a sitebus.Allowed) bool {
		return slices.Equal(a.Fingers[frontTerminal], []int{0}) && slices.Equal(a.Fingers[deskTerminal], []int{0}) && !a.Alternative
	})

	enrolled := s.waitJournaledInfo(biometric.TypeEnrolled, 2)
	for i, e := range enrolled {
		if e.crn() != ada || e.Info["crn"] != ada || e.Info["terminal"] != got[i].Terminal || e.Info["slot"] != 0.0 ||
			e.Info["finger"] != "right-index" || e.Info["by"] != keyworker || e.Info["enrolment"] != got[i].ID {
			t.Errorf("biometric.enrolled %d: person %q, info %v; want %s's right index finger in slot 0 of %s, by %s", i, e.crn(), e.Info, ada,
				got[i].Terminal, keyworker)
		}
	}
	consent := s.journaled(biometric.TypeConsent)
	if len(consent) != 1 || consent[0].Info["given"] != true || consent[0].Info["by"] != keyworker || consent[0].crn() != ada {
		t.Errorf("biometric.consent-recorded %+v; want %s's consent taken by %s", consent, ada, keyworker)
	}

	stored := s.waitStoredBiometric(biometric.TypeConsent, biometric.TypeStarted, biometric.TypeEnrolled, biometric.TypeStarted, biometric.TypeEnrolled)
	for _, e := range stored {
		if e.crn() != ada {
			t.Errorf("central's seq %d %s is about %q, want %s", e.Seq, e.Type, e.crn(), ada)
		}
		for k := range e.Info {
			if !slices.Contains(storedKeys, k) {
				t.Errorf("central's seq %d %s holds %q: %v", e.Seq, e.Type, k, e.Info)
			}
		}
	}
	// Nothing of a template left the terminals: the journal, signed and forwarded,
	// never holds what the modules hold of the finger.
	entries := s.checkDelivered(t)
	for _, e := range entries {
		if bytes.Contains(e.Envelope, []byte(fingerOf(ada, ""))) {
			t.Errorf("seq %d holds the module's template of %s's finger", e.Seq, ada)
		}
	}
	if n := len(s.journaled(biometric.TypeOrphanSlot)); n != 0 {
		t.Errorf("%d orphan slots raised, want none", n)
	}
}

// factorIs says sf is the second factor result on the front door's terminal, with
// slot (-1: none, and no score) and, if score is not 0, that score.
func factorIs(sf *sitebus.SecondFactor, result string, slot, score int) bool {
	switch {
	case sf == nil || sf.Terminal != frontTerminal || sf.Result != result:
		return false
	case slot < 0:
		return sf.Slot == nil && sf.Score == 0
	}
	return sf.Slot != nil && *sf.Slot == slot && sf.Score > 0 && (score == 0 || sf.Score == score)
}

// TestBiometricCardAndFinger: at an Enhanced Security site, a resident enrolled on
// the front door's terminal puts their finger on its sensor and presents their card
// at the entry reader, through the real bridge, its simulated OSDP reader and
// fingerprint module on pseudo-terminals, and a real Mosquitto: the bridge grants
// the read with its second factor (matched, in the resident's slot, with the
// module's score), the door unlocks, and once the door has opened the agent journals
// the entry with the second factor it rested on; leaving by the exit reader needs
// the finger too. Central holds exactly the journal.
func TestBiometricCardAndFinger(t *testing.T) {
	t.Parallel()
	s := newBiometricSite(t, "BIO2")
	s.consent(ada, true)
	s.enrolled(ada, "right-index", frontTerminal)
	s.waitKept(adaCard, "with slot 0 on the front door's terminal", func(a sitebus.Allowed) bool {
		return slices.Equal(a.Fingers[frontTerminal], []int{0})
	})
	fp, door := s.module(frontTerminal), s.bridge.Sim().Door("front")
	finger := fingerOf(ada, "right-index")
	fp.SetScore(finger, 142)

	for i, pass := range []struct {
		reader, movement string
	}{{"front-in", "movement.entered"}, {"front-out", "movement.exited"}} {
		unlocks := s.unlocks()
		fp.PlaceFinger(finger)
		cr := s.present(pass.reader, adaCard)
		if !cr.Granted || cr.Reason != "" || !factorIs(cr.SecondFactor, sitebus.FactorMatched, 0, 142) {
			t.Fatalf("%s's card and finger at %s: granted %v (%q), second factor %+v; want granted, matched in slot 0 scoring 142",
				ada, pass.reader, cr.Granted, cr.Reason, cr.SecondFactor)
		}
		s.waitLock(false)
		door.Open()
		mv := s.waitJournaledInfo(pass.movement, 1)[0]
		door.Shut()
		fp.LiftFinger()
		s.waitLock(true)
		sf, _ := mv.Info["secondFactor"].(map[string]any)
		if mv.crn() != ada || mv.Info["basis"] != "read-then-door-opened" || mv.Info["reader"] != pass.reader ||
			sf["terminal"] != frontTerminal || sf["checked"] != true || sf["result"] != sitebus.FactorMatched || sf["slot"] != 0.0 || sf["score"] != 142.0 {
			t.Errorf("%s %d: person %q, info %v; want %s's, on the door opening after the read at %s, with the second factor matched in slot 0 scoring 142 on %s",
				pass.movement, i, mv.crn(), mv.Info, ada, pass.reader, frontTerminal)
		}
		waitFor(t, 30*time.Second, "the front door's unlock on the bus", func() (bool, string) {
			n := s.unlocks()
			return n == unlocks+1, fmt.Sprint(n - unlocks)
		})
	}
	s.checkDelivered(t)
}

// TestBiometricWrongFingerDenied: at the front door of an Enhanced Security site, a
// resident's card with their other finger (not enrolled), with another resident's
// enrolled finger, and with no finger at all (the bridge waits the window, 2 s) is
// refused each time: the door stays locked, the card read says why (second-factor)
// and what the terminal said (not-matched; other-person, with the slot that
// matched; no-finger), and no movement is journaled. The third failure raises
// biometric.verification-failed, for the person and the door, with the three
// results, signed and stored by central.
func TestBiometricWrongFingerDenied(t *testing.T) {
	t.Parallel()
	s := newBiometricSite(t, "BIO3")
	s.consent(ada, true)
	s.consent(ben, true)
	s.enrolled(ada, "right-index", frontTerminal)
	s.enrolled(ben, "right-index", frontTerminal)
	s.waitKept(benCard, "with slot 1 on the front door's terminal", func(a sitebus.Allowed) bool {
		return slices.Equal(a.Fingers[frontTerminal], []int{1})
	})
	s.waitKept(adaCard, "with slot 0 on the front door's terminal", func(a sitebus.Allowed) bool {
		return slices.Equal(a.Fingers[frontTerminal], []int{0})
	})
	fp, door := s.module(frontTerminal), s.bridge.Sim().Door("front")
	unlocks := s.unlocks()
	tries := []struct {
		name, finger, result string
		slot                 int
	}{
		{"their other finger", fingerOf(ada, "left-index"), sitebus.FactorNotMatched, -1},
		{"someone else's finger", fingerOf(ben, "right-index"), sitebus.FactorOtherPerson, 1},
		{"no finger", "", sitebus.FactorNoFinger, -1},
	}
	for _, tt := range tries {
		fp.PlaceFinger(tt.finger)
		cr := s.present("front-in", adaCard)
		fp.LiftFinger()
		if cr.Granted || cr.Reason != "second-factor" || !factorIs(cr.SecondFactor, tt.result, tt.slot, 0) {
			t.Errorf("%s's card with %s: granted %v (%q), second factor %+v; want refused (second-factor), %s on %s, slot %d",
				ada, tt.name, cr.Granted, cr.Reason, cr.SecondFactor, tt.result, frontTerminal, tt.slot)
		}
		if !door.LockEnergised() {
			t.Errorf("%s's card with %s: the front door unlocked", ada, tt.name)
		}
	}
	alarm := s.waitJournaledInfo(biometric.TypeVerificationFailed, 1)[0]
	var results []string
	fails, _ := alarm.Info["failures"].([]any)
	for _, f := range fails {
		f, _ := f.(map[string]any)
		results = append(results, fmt.Sprint(f["result"]))
	}
	if alarm.crn() != ada || alarm.Info["door"] != "front" || alarm.Info["reader"] != "front-in" || alarm.Info["terminal"] != frontTerminal ||
		alarm.Info["count"] != 3.0 || fmt.Sprint(alarm.Info["for"]) != "[person door]" ||
		!slices.Equal(results, []string{sitebus.FactorNotMatched, sitebus.FactorOtherPerson, sitebus.FactorNoFinger}) {
		t.Errorf("biometric.verification-failed: person %q, info %v; want %s's 3 failures at the front door, for the person and the door",
			alarm.crn(), alarm.Info, ada)
	}
	stored := s.waitStoredBiometric(biometric.TypeConsent, biometric.TypeConsent, biometric.TypeStarted, biometric.TypeEnrolled,
		biometric.TypeStarted, biometric.TypeEnrolled, biometric.TypeVerificationFailed)
	if e := stored[len(stored)-1]; e.crn() != ada || e.Info["count"] != 3.0 {
		t.Errorf("central's alarm: person %q, info %v", e.crn(), e.Info)
	}
	entries := s.checkDelivered(t)
	for _, e := range entries {
		if typ := parseEntry(t, e).Type; strings.HasPrefix(typ, event.TypePrefix+"movement.") {
			t.Errorf("seq %d: %s journaled for a refused read", e.Seq, typ)
		}
	}
	if n := s.unlocks(); n != unlocks {
		t.Errorf("%d unlocks of the front door on the bus, want none", n-unlocks)
	}
}

// TestBiometricDepartureDeletesEverywhere: a resident enrolled on the enrolment
// desk's terminal and the front door's departs, recorded in the roster register,
// while the front door's terminal is unplugged (its module silent: a read at the
// door finds it unavailable, and the bridge reports it offline). The desk's
// terminal deletes the templates at once and reads its index table back:
// biometric.deleted shows the slot free, confirmed, and the module holds nothing.
// The front door's deletion waits, listed by Pending with how long it has waited,
// the template still on the module; once the module answers again the bridge
// reports the terminal online, the agent sends the deletion again and it is
// confirmed too. Nothing is pending, no module holds a template, and central
// stores every step, signed.
func TestBiometricDepartureDeletesEverywhere(t *testing.T) {
	t.Parallel()
	s := newBiometricSite(t, "BIO4")
	ctx := t.Context()
	bio := s.agent.Biometrics()
	s.consent(ada, true)
	s.enrolled(ada, "right-index", deskTerminal, frontTerminal)
	s.waitKept(adaCard, "with slot 0 on each terminal", func(a sitebus.Allowed) bool {
		return slices.Equal(a.Fingers[frontTerminal], []int{0}) && slices.Equal(a.Fingers[deskTerminal], []int{0})
	})
	desk, front := s.module(deskTerminal), s.module(frontTerminal)
	finger := fingerOf(ada, "right-index")

	front.Silent(true)
	front.PlaceFinger(finger)
	if cr := s.present("front-in", adaCard); cr.Granted || !factorIs(cr.SecondFactor, sitebus.FactorUnavailable, -1, 0) {
		t.Errorf("a read at the door with its terminal silent: granted %v, second factor %+v; want refused, unavailable", cr.Granted, cr.SecondFactor)
	}
	front.LiftFinger()
	s.waitTerminal(frontTerminal, false)

	s.depart(ada, "Sam Staff")
	requested := s.waitJournaledInfo(biometric.TypeDeletionRequested, 2)
	for _, r := range requested {
		if r.crn() != ada || r.Info["why"] != biometric.WhyDeparted || fmt.Sprint(r.Info["slots"]) != "[0]" {
			t.Errorf("biometric.deletion-requested: person %q, info %v; want %s's slot 0, on departure", r.crn(), r.Info, ada)
		}
	}
	deleted := s.waitJournaledInfo(biometric.TypeDeleted, 1)[0]
	if deleted.crn() != ada || deleted.Info["terminal"] != deskTerminal || deleted.Info["confirmed"] != true ||
		fmt.Sprint(deleted.Info["slots"]) != "[0]" || fmt.Sprint(deleted.Info["used"]) != "[]" || deleted.Info["readAt"] == nil ||
		deleted.Info["capacity"] != float64(fingerprint.SimCapacity) {
		t.Errorf("the desk's biometric.deleted: person %q, info %v; want slot 0 of %s, confirmed by its index table read back, all free",
			deleted.crn(), deleted.Info, deskTerminal)
	}
	if lib := desk.Slots(); len(lib) != 0 {
		t.Errorf("the desk's module after its deletion holds %v, want nothing", lib)
	}

	// The front door's deletion waits for its terminal.
	s.clock.Add(2 * time.Hour)
	pending, err := bio.Pending(ctx)
	if err != nil || len(pending) != 1 {
		t.Fatalf("pending deletions %+v (%v), want the front door's", pending, err)
	}
	if p := pending[0]; p.Terminal != frontTerminal || p.CRN != ada || !slices.Equal(p.Slots, []int{0}) || p.TerminalOnline ||
		p.Waited < 2*time.Hour || p.Overdue {
		t.Errorf("pending %+v; want %s's slot 0 on %s, offline, waiting 2h, not overdue", p, ada, frontTerminal)
	}
	if got := slotsOf(front, finger); !slices.Equal(got, []int{0}) {
		t.Errorf("the front door's module, silent, holds %s's finger in %v, want still slot 0", ada, got)
	}

	front.Silent(false)
	s.waitTerminal(frontTerminal, true)
	deleted = s.waitJournaledInfo(biometric.TypeDeleted, 2)[1]
	if deleted.Info["terminal"] != frontTerminal || deleted.Info["confirmed"] != true || fmt.Sprint(deleted.Info["used"]) != "[]" {
		t.Errorf("the front door's biometric.deleted: %v; want confirmed, all free", deleted.Info)
	}
	waitFor(t, 30*time.Second, "no deletion pending", func() (bool, string) {
		p, err := bio.Pending(ctx)
		return err == nil && len(p) == 0, fmt.Sprintf("%+v %v", p, err)
	})
	if lib := front.Slots(); len(lib) != 0 {
		t.Errorf("the front door's module after its deletion holds %v, want nothing", lib)
	}
	ens, err := bio.Enrolments(ctx, ada)
	if err != nil || len(ens) != 2 || ens[0].State != biometric.StateDeleted || ens[1].State != biometric.StateDeleted {
		t.Errorf("%s's enrolments %+v (%v), want both deleted", ada, ens, err)
	}
	stored := s.waitStoredBiometric(biometric.TypeConsent, biometric.TypeStarted, biometric.TypeEnrolled, biometric.TypeStarted, biometric.TypeEnrolled,
		biometric.TypeDeletionRequested, biometric.TypeDeletionRequested, biometric.TypeDeleted, biometric.TypeDeleted)
	for _, e := range stored[len(stored)-2:] {
		if e.Info["confirmed"] != true || e.crn() != ada {
			t.Errorf("central's seq %d %s: person %q, info %v; want confirmed", e.Seq, e.Type, e.crn(), e.Info)
		}
	}
	if n := len(s.journaled(biometric.TypeDeletionOverdue)) + len(s.journaled(biometric.TypeOrphanSlot)); n != 0 {
		t.Errorf("%d overdue deletions or orphan slots raised, want none", n)
	}
	s.checkDelivered(t)
}

// TestBiometricOrphanSlot: a template in a slot of the enrolment desk's module that
// no enrolment holds (put there by hand, or before the terminal came to the site)
// is reported once the terminal's used slots are next read (here after an
// enrolment on it, which takes slot 0): biometric.orphan-slot for that terminal and
// slot alone, listed by Orphans as still used, and stored by central.
func TestBiometricOrphanSlot(t *testing.T) {
	t.Parallel()
	s := newBiometricSite(t, "BIO5")
	desk := s.module(deskTerminal)
	if err := desk.PutTemplate(7, "finger-of-nobody-known"); err != nil {
		t.Fatal(err)
	}
	s.consent(cal, true)
	s.enrolled(cal, "left-thumb", deskTerminal)
	orphan := s.waitJournaledInfo(biometric.TypeOrphanSlot, 1)[0]
	if orphan.Person != nil || orphan.Info["terminal"] != deskTerminal || orphan.Info["slot"] != 7.0 || orphan.Info["seenAt"] == nil {
		t.Errorf("biometric.orphan-slot: person %+v, info %v; want slot 7 of %s, about no one", orphan.Person, orphan.Info, deskTerminal)
	}
	views, err := s.agent.Biometrics().Orphans(t.Context())
	if err != nil || len(views) != 1 || views[0].Terminal != deskTerminal || views[0].Slot != 7 || !views[0].StillUsed {
		t.Errorf("orphans %+v (%v); want slot 7 of %s, still used", views, err, deskTerminal)
	}
	if got := slotsOf(desk, fingerOf(cal, "left-thumb")); !slices.Equal(got, []int{0}) {
		t.Errorf("%s's thumb in slots %v of the desk's module, want 0", cal, got)
	}
	s.waitStoredBiometric(biometric.TypeConsent, biometric.TypeStarted, biometric.TypeEnrolled, biometric.TypeOrphanSlot)
	if n := len(s.journaled(biometric.TypeOrphanSlot)); n != 1 {
		t.Errorf("%d orphan slots raised, want 1", n)
	}
}

// TestBiometricFailedEnrolmentOffersAlternative: a resident's enrolment on the
// enrolment desk's terminal fails three times (biometrics.maxAttempts), each time
// for the reason the module gave: a messy image, too few features, and two
// captures of different fingers. Each is journaled as biometric.enrol-failed with
// its reason and attempt, and the third offers the alternative
// (biometric.alternative-offered, why failed-enrolment). The bridge is given the
// alternative with the resident's card: at the front door their card is refused
// for staff confirmation (second factor alternative, the terminal not asked), not
// counted as a failed finger however often it happens, and a member of staff lets
// them in from the console, journaled as door.unlock-ordered.
func TestBiometricFailedEnrolmentOffersAlternative(t *testing.T) {
	t.Parallel()
	s := newBiometricSite(t, "BIO6")
	desk := s.module(deskTerminal)
	s.consent(ben, true)
	attempts := []struct {
		fail   fingerprint.Code // 0: none
		second string           // the finger placed again, if not the same
		reason string
		steps  []string
	}{
		{fingerprint.CodeImageMessy, "", "image-too-messy", enrolSteps[:1]},
		{fingerprint.CodeFewFeatures, "", "too-few-features", enrolSteps[:1]},
		{0, fingerOf(ben, "left-index"), "fingers-do-not-match", enrolSteps},
	}
	for i, a := range attempts {
		if a.fail != 0 {
			desk.FailNextCaptures(1, a.fail)
		}
		en := s.enrol(ben, "right-index", deskTerminal, a.second)
		if en.State != biometric.StateFailed || en.Reason != a.reason || en.Attempt != i+1 || !slices.Equal(en.Steps, a.steps) {
			t.Errorf("attempt %d: %+v; want failed (%s) after the steps %v", i+1, en, a.reason, a.steps)
		}
	}
	if lib := desk.Slots(); len(lib) != 0 {
		t.Errorf("the desk's module holds %v after three failed enrolments, want nothing", lib)
	}
	failed := s.waitJournaledInfo(biometric.TypeEnrolFailed, 3)
	for i, f := range failed {
		if f.crn() != ben || f.Info["reason"] != attempts[i].reason || f.Info["attempt"] != float64(i+1) || f.Info["counted"] != true ||
			f.Info["terminal"] != deskTerminal || f.Info["finger"] != "right-index" || f.Info["by"] != keyworker || f.Info["slot"] != 0.0 {
			t.Errorf("biometric.enrol-failed %d: person %q, info %v; want %s's right index on %s, slot 0, attempt %d, %s",
				i, f.crn(), f.Info, ben, deskTerminal, i+1, attempts[i].reason)
		}
	}
	alt := s.waitJournaledInfo(biometric.TypeAlternative, 1)[0]
	if alt.crn() != ben || alt.Info["why"] != biometric.WhyFailedEnrolment || alt.Info["attempts"] != 3.0 || alt.Info["by"] != keyworker {
		t.Errorf("biometric.alternative-offered: person %q, info %v; want %s, failed-enrolment after 3 attempts", alt.crn(), alt.Info, ben)
	}
	s.waitKept(benCard, "with the alternative", func(a sitebus.Allowed) bool { return a.Alternative && len(a.Fingers) == 0 })

	door, fp := s.bridge.Sim().Door("front"), s.module(frontTerminal)
	before := fp.State().Commands
	for range 3 {
		cr := s.present("front-in", benCard)
		if cr.Granted || cr.Reason != "staff-confirmation" || !factorIs(cr.SecondFactor, sitebus.FactorAlternative, -1, 0) {
			t.Fatalf("%s's card at the front door: granted %v (%q), second factor %+v; want refused for staff confirmation, alternative",
				ben, cr.Granted, cr.Reason, cr.SecondFactor)
		}
		if !door.LockEnergised() {
			t.Fatal("the front door unlocked for a card with the alternative")
		}
	}
	if after := fp.State().Commands; after-before > 3 { // its status read (3 commands), if one fell due; never a wait for a finger
		t.Errorf("the front door's module was asked %d commands during three reads with the alternative", after-before)
	}
	res, err := s.agent.UnlockDoor(t.Context(), "front", keyworker, "staff confirmation of "+ben+", who has the alternative", 0)
	if err != nil || res.Status != sitebus.ResultDone {
		t.Fatalf("the staff unlock: %+v, %v", res, err)
	}
	s.waitLock(false)
	s.waitJournaledInfo("door.unlock-ordered", 1)
	if n := len(s.journaled(biometric.TypeVerificationFailed)); n != 0 {
		t.Errorf("%d verification-failed alarms for reads with the alternative, want none", n)
	}
	s.waitStoredBiometric(biometric.TypeConsent, biometric.TypeStarted, biometric.TypeEnrolFailed, biometric.TypeStarted, biometric.TypeEnrolFailed,
		biometric.TypeStarted, biometric.TypeEnrolFailed, biometric.TypeAlternative)
	s.checkDelivered(t)
}
