package agent

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/apedge/apedge/agent/substance"
	"github.com/apedge/apedge/formats/sitebus"
)

// sampleWords names a sample type's test.
var sampleWords = map[string]string{substance.SampleBreath: "breath test", substance.SampleOralFluid: "oral-fluid drug test",
	substance.SampleUrine: "urine drug test"}

// stageWords says what each custody stage is.
var stageWords = map[string]string{substance.StageCollected: "collected for confirmation", substance.StageSealed: "sealed",
	substance.StageDispatched: "sent to the laboratory", substance.StageReceived: "received by the laboratory"}

// restrictedWords say what a substance event records without saying what it found.
var restrictedWords = map[string]string{substance.TypeStarted: "started", substance.TypeTested: "screening result recorded",
	substance.TypeRefused: "refusal, or no sample given, recorded", substance.TypeCustody: "sample handed over",
	substance.TypeDispatched: "sample sent to the laboratory", substance.TypeConfirmed: "laboratory's result recorded",
	substance.TypeClosed: "closed"}

// substanceFields is the union of the fields of substance events' infos that
// sentences use.
type substanceFields struct {
	TestID, CRN, Reason, SampleType, Device string
	Staff, Witness, EnteredBy, By           string
	Authorisation                           *struct{ Ref, Manager string }
	Outcome                                 string
	Valid                                   *bool
	InvalidReasons                          []string
	Panels                                  []sitebus.PanelResult
	AlcoholUg                               *float64 `json:"alcoholUgPer100ml"`
	LimitUg                                 *float64 `json:"limitUgPer100ml"`
	Refusal, Stage, Seal, Note              string
	Results                                 map[string]substance.LabFinding
	Why                                     string
	Reading                                 *sitebus.SubstanceReading
}

// substanceSentence says what a substance.* event records, and false for any other
// type. With f.NoResults it says only which test it is, whose, and that something
// was recorded: for staff who may not see substance results.
func (d *Describer) substanceSentence(f Fact) (string, bool) {
	if !isSubstanceType(f.Type) {
		return "", false
	}
	var in substanceFields
	if len(f.Info) > 0 && f.Info[0] == '{' {
		_ = json.Unmarshal(f.Info, &in) // another shape leaves fields empty: the sentence still says what
	}
	crn := f.CRN
	if crn == "" {
		crn = in.CRN
	}
	test := "substance test"
	if w, ok := sampleWords[in.SampleType]; ok {
		test = w
	}
	if in.TestID != "" {
		test += " " + in.TestID
	}
	who := d.Person(crn)
	when := d.When(f.At)
	if f.NoResults {
		if f.Type == substance.TypeUnbound {
			return "A substance tester's reading matched no test and is held, attached to no one, at " + when +
				" (details only for staff who may see substance results)", true
		}
		return upper(test) + " of " + who + ": " + restrictedWords[f.Type] + " at " + when +
			" (details only for staff who may see substance results)", true
	}
	switch f.Type {
	case substance.TypeStarted:
		pre, post := reasonWords(in.Reason)
		s := fmt.Sprintf("%s started %s%s of %s%s", dash(in.Staff, "Staff"), pre, test, who, post)
		if in.Device != "" {
			s += " on " + in.Device
		}
		if in.Witness != "" {
			s += ", witnessed by " + in.Witness
		}
		if a := in.Authorisation; a != nil {
			s += ", under authorisation " + a.Ref + " (" + a.Manager + ")"
		}
		return s + ", at " + when, true
	case substance.TypeTested:
		return upper(test) + " of " + who + ": " + screenWords(in) + ", at " + when, true
	case substance.TypeRefused:
		verb := "refused"
		if in.Refusal == substance.RefusalUnable {
			verb = "was unable to give a sample for"
		}
		return fmt.Sprintf("%s %s %s, witnessed by %s and recorded by %s, at %s", upper(who), verb, test, dash(in.Witness, "nobody named"),
			dash(in.Staff, "staff"), when), true
	case substance.TypeCustody, substance.TypeDispatched:
		s := "The sample of " + test + " of " + who + " was " + dash(stageWords[in.Stage], in.Stage)
		if in.Seal != "" {
			s += " (seal " + in.Seal + ")"
		}
		return s + ", by " + dash(in.By, "someone not named") + ", at " + when, true
	case substance.TypeConfirmed:
		var conf, not []string
		for _, a := range slices.Sorted(maps.Keys(in.Results)) {
			if in.Results[a].Confirmed {
				conf = append(conf, a+" ("+in.Results[a].Method+")")
			} else {
				not = append(not, a)
			}
		}
		s := "The laboratory's result for " + test + " of " + who + ": "
		switch {
		case len(conf) > 0:
			s += "confirmed for " + strings.Join(conf, ", ")
			if len(not) > 0 {
				s += "; not confirmed for " + strings.Join(not, ", ")
			}
		default:
			s += "not confirmed"
		}
		return s + ", entered by " + dash(in.By, "staff") + ", at " + when, true
	case substance.TypeClosed:
		return upper(test) + " of " + who + " was closed by " + dash(in.By, "staff") + ": " + dash(in.Note, "no reason given") + ", at " + when, true
	case substance.TypeUnbound:
		s := "A reading from " + dash(in.Device, "a substance tester") + " matched no test and is held, attached to no one"
		if in.Why != "" {
			s += ": " + in.Why
		}
		return s + ", at " + when, true
	}
	return "", false
}

// screenWords says a screen's outcome: "non-negative (preliminary): 12.5 µg/100 ml,
// limit 9", "non-negative (preliminary) for cocaine; negative for 13 panels",
// "invalid: the device's calibration was due on 2026-01-01".
func screenWords(in substanceFields) string {
	if in.Valid != nil && !*in.Valid {
		s := "invalid"
		if len(in.InvalidReasons) > 0 {
			s += ": " + strings.Join(in.InvalidReasons, "; ")
		}
		return s
	}
	s := in.Outcome
	if s == substance.OutcomeNonNegative {
		s += " (preliminary)"
	}
	if in.AlcoholUg != nil {
		s += ": " + strconv.FormatFloat(*in.AlcoholUg, 'f', -1, 64) + " µg/100 ml"
		if in.LimitUg != nil {
			s += ", limit " + strconv.FormatFloat(*in.LimitUg, 'f', -1, 64)
		}
		return s
	}
	by := map[string][]string{}
	for _, p := range in.Panels {
		by[p.Result] = append(by[p.Result], p.Panel)
	}
	var parts []string
	for _, r := range []string{sitebus.ResultNonNegative, sitebus.ResultInvalid} {
		if len(by[r]) > 0 {
			parts = append(parts, r+" for "+strings.Join(by[r], ", "))
		}
	}
	if n := len(by[sitebus.ResultNegative]); n > 0 {
		parts = append(parts, fmt.Sprintf("negative for %d panel%s", n, map[bool]string{true: "", false: "s"}[n == 1]))
	}
	if in.Outcome != substance.OutcomeNegative && len(parts) > 0 {
		return s + ": " + strings.Join(parts, "; ")
	}
	return s
}

// reasonWords put a test's reason in words, before and after "breath test T-1 of
// Brian Baker": "a random ...", "a ..., on suspicion".
func reasonWords(reason string) (pre, post string) {
	switch reason {
	case substance.ReasonRandom:
		return "a random ", ""
	case substance.ReasonSuspicion:
		return "a ", ", on suspicion"
	case substance.ReasonArrival:
		return "a ", ", on arrival"
	case substance.ReasonReturn:
		return "a ", ", after a return to the AP"
	}
	return "a ", ""
}
