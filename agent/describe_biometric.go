package agent

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apedge/apedge/agent/biometric"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/internal/config"
)

// WithTerminals returns a copy of d that names the fingerprint terminals of
// terminals (id to its door and name, as the agent's configuration has them).
func (d *Describer) WithTerminals(terminals map[string]config.BiometricPlace) *Describer {
	c := *d
	c.terminals = maps.Clone(terminals)
	return &c
}

// Terminal names a fingerprint terminal by its id: "the front door's terminal
// fp-front", "the terminal fp-desk (office: enrolment desk)", "terminal fp-9" for
// one the configuration does not know.
func (d *Describer) Terminal(id string) string {
	p, ok := d.terminals[id]
	switch {
	case id == "":
		return "a fingerprint terminal"
	case !ok:
		return "terminal " + id
	case p.Door != "":
		return d.Door(p.Door) + "'s terminal " + id
	case p.Name != "":
		return "the terminal " + id + " (" + p.Name + ")"
	}
	return "the terminal " + id + " (an enrolment desk)"
}

// Finger names a finger as biometric.Fingers spells it: "right index finger",
// "left thumb".
func Finger(f string) string {
	hand, finger, ok := strings.Cut(f, "-")
	if !ok {
		return dash(f, "finger")
	}
	if finger == "thumb" {
		return hand + " thumb"
	}
	return hand + " " + finger + " finger"
}

// factorWords say a second factor's result for people.
var factorWords = map[string]string{
	sitebus.FactorMatched:     "matched",
	sitebus.FactorNotMatched:  "not matched",
	sitebus.FactorOtherPerson: "someone else's finger",
	sitebus.FactorNoFinger:    "no finger",
	sitebus.FactorNotEnrolled: "not enrolled on the terminal",
	sitebus.FactorUnavailable: "terminal not answering",
	sitebus.FactorAlternative: "the alternative: staff to confirm",
}

// biometricFields is the union of the fields of biometric events' infos that
// sentences use.
type biometricFields struct {
	CRN, Holder, Terminal, Finger, By string
	EndedBy                           string
	Enrolment, Deletion               string
	Given                             bool
	Slot                              *int
	Slots, Used                       []int
	Attempt, Attempts                 int
	Reason, Detail, Why               string
	Confirmed                         bool
	ReadAt, RequestedAt, SeenAt       time.Time
	WaitedSeconds                     int64
	Door                              string
	For                               []string
	Count                             int
	WindowSeconds                     int64
	Failures                          []biometric.FactorFailure
}

// biometricSentence says what a biometric.* event records, and false for any
// other type: "Ann enrolled Brian Baker (room 5)'s right index finger on the front
// door's terminal fp-front, slot 3, at 14:30 on 2 Dec 2026".
func (d *Describer) biometricSentence(f Fact) (string, bool) {
	if !isBiometricType(f.Type) {
		return "", false
	}
	var in biometricFields
	if len(f.Info) > 0 && f.Info[0] == '{' {
		_ = json.Unmarshal(f.Info, &in) // another shape leaves fields empty: the sentence still says what
	}
	crn := f.CRN
	if crn == "" {
		crn = in.CRN
	}
	who := dash(d.Person(crn), "someone")
	by := d.staffName(in.By)
	when := d.When(f.At)
	term := d.Terminal(in.Terminal)
	finger := who + "'s " + Finger(in.Finger)
	slot := ""
	if in.Slot != nil {
		slot = ", slot " + strconv.Itoa(*in.Slot)
	}
	switch f.Type {
	case biometric.TypeConsent:
		if in.Given {
			return by + " recorded the consent of " + who + " to the enrolment of their fingerprints at " + when, true
		}
		return by + " recorded that " + who + " declined the enrolment of their fingerprints at " + when, true
	case biometric.TypeStarted:
		return fmt.Sprintf("%s started enrolling %s on %s%s (attempt %d) at %s", by, finger, term, slot, in.Attempt, when), true
	case biometric.TypeEnrolled:
		return by + " enrolled " + finger + " on " + term + slot + ", at " + when, true
	case biometric.TypeEnrolFailed:
		what := "The enrolment of " + finger + " on " + term
		switch in.Reason {
		case biometric.ReasonCancelled:
			if in.EndedBy != "" {
				return d.staffName(in.EndedBy) + " cancelled the enrolment of " + finger + " on " + term + " at " + when, true
			}
			return what + " was cancelled at the terminal at " + when, true
		case biometric.ReasonDeletion:
			return what + " ended at " + when + ": their templates are being deleted", true
		case biometric.ReasonNoAnswer:
			return what + " failed at " + when + ": the terminal did not answer", true
		case biometric.ReasonNotTaken:
			return what + " failed at " + when + ": the terminal did not take it (" + dash(in.Detail, "no reason given") + ")", true
		}
		return fmt.Sprintf("%s failed at %s: %s (attempt %d)", what, when, dash(in.Detail, in.Reason), in.Attempt), true
	case biometric.TypeAlternative:
		alt := "the alternative (card and a member of staff's confirmation at the door)"
		if in.Why == biometric.WhyFailedEnrolment {
			return fmt.Sprintf("%s was offered %s at %s, after %d failed attempts to enrol their fingerprints", upper(who), alt, when, in.Attempts), true
		}
		return upper(who) + " declined enrolment and was offered " + alt + " by " + by + " at " + when, true
	case biometric.TypeDeletionRequested:
		tpl := who + "'s fingerprint templates on " + term + " (" + slotsWords(in.Slots) + ")"
		if in.Why == biometric.WhyDeparted {
			return "On the departure of " + who + ", the deletion of their fingerprint templates on " + term + " (" + slotsWords(in.Slots) +
				") was asked for at " + when, true
		}
		return by + " asked for the deletion of " + tpl + " at " + when, true
	case biometric.TypeDeleted:
		tpl := who + "'s fingerprint templates (" + slotsWords(in.Slots) + ")"
		if in.Confirmed {
			return upper(term) + " deleted " + tpl + " at " + when + ": its index table, read back at " + d.Clock(in.ReadAt) + ", shows them free", true
		}
		return fmt.Sprintf("%s was asked to delete %s, but its index table, read back at %s, still shows %s used: not proven, to be tried again (attempt %d), at %s",
			upper(term), tpl, d.Clock(in.ReadAt), slotsWords(stillUsed(in.Slots, in.Used)), in.Attempt, when), true
	case biometric.TypeDeletionOverdue:
		waited := time.Duration(in.WaitedSeconds) * time.Second
		return fmt.Sprintf("The deletion of %s's fingerprint templates on %s (%s), asked for at %s, is still not proven at %s, %s later", who, term,
			slotsWords(in.Slots), d.When(in.RequestedAt), when, waitedWords(waited)), true
	case biometric.TypeOrphanSlot:
		return fmt.Sprintf("%s holds a fingerprint template in slot %d that no enrolment holds, seen at %s", upper(term), derefInt(in.Slot), when), true
	case biometric.TypeVerificationFailed:
		var results []string
		for _, x := range in.Failures {
			results = append(results, dash(factorWords[x.Result], x.Result))
		}
		window := waitedWords(time.Duration(in.WindowSeconds) * time.Second)
		if slices.Contains(in.For, biometric.ForPerson) {
			if crn == "" && in.Holder != "" {
				who = d.Staff(in.Holder)
			}
			return fmt.Sprintf("%s's finger failed %d times in %s with their card, the last at %s on %s at %s (%s)", upper(who), in.Count, window,
				d.Door(in.Door), term, when, strings.Join(results, ", ")), true
		}
		return fmt.Sprintf("The finger failed %d times in %s with cards at %s, the last on %s at %s (%s)", in.Count, window, d.Door(in.Door),
			term, when, strings.Join(results, ", ")), true
	}
	return "", false
}

// staffName names the member of staff by: the agent itself for byAgent.
func (d *Describer) staffName(by string) string {
	switch by {
	case "":
		return "Staff"
	case byAgent:
		return "The agent"
	}
	return d.Staff(by)
}

// slotsWords says slots: "slot 3", "slots 1, 4".
func slotsWords(slots []int) string {
	if len(slots) == 1 {
		return "slot " + strconv.Itoa(slots[0])
	}
	var s []string
	for _, n := range slots {
		s = append(s, strconv.Itoa(n))
	}
	return "slots " + dash(strings.Join(s, ", "), "none")
}

// stillUsed returns the slots of slots in used.
func stillUsed(slots, used []int) []int {
	var out []int
	for _, s := range slots {
		for _, u := range used {
			if s == u {
				out = append(out, s)
			}
		}
	}
	return out
}

// waitedWords says a duration for people: "25 hours", "10 minutes".
func waitedWords(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return strconv.Itoa(int(d/(24*time.Hour))) + " days"
	case d >= 2*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + " hours"
	case d >= 2*time.Minute:
		return strconv.Itoa(int(d/time.Minute)) + " minutes"
	}
	return d.Round(time.Second).String()
}

func derefInt(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}
