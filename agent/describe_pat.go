package agent

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/apedge/apedge/agent/pat"
	fpat "github.com/apedge/apedge/formats/pat"
)

// patStatusWords say an item's status for people.
var patStatusWords = map[string]string{
	pat.StatusAwaitingTest:          "awaiting a test",
	pat.StatusAwaitingAuthorisation: "awaiting authorisation",
	pat.StatusAuthorised:            "authorised for use",
	pat.StatusFailed:                "failed: not to be used",
	pat.StatusExpired:               "out of date: not to be used until retested",
	pat.StatusWithdrawn:             "withdrawn from use",
	pat.StatusProhibited:            "of a prohibited category: to be removed",
}

// patFields is the union of the fields of PAT events' infos that sentences use.
type patFields struct {
	AssetID, OwnerCRN, Description, Category string
	Class                                    fpat.Class
	Prohibited, FromImport                   bool
	Record                                   *fpat.Record
	Flags                                    []pat.Flag
	Outcome, RetestDue, Status, StatusBefore string
	Latest, AuthorisationWithdrawn           bool
	Authorised                               bool
	TestedAt                                 time.Time
	Reason, By                               string
}

// patSentence says what a PAT event (item.* or pat.*) records, and false for any
// other type: "Ann recorded a PAT of Resident One (room 5)'s kettle (K-0042):
// a pass not accepted, its figures fail (insulation resistance of 0.5 MΩ is under
// the minimum of 1 MΩ for Class I); now failed: not to be used, at 12:00 on 15 Jun
// 2026".
func (d *Describer) patSentence(f Fact) (string, bool) {
	if !isPATType(f.Type) {
		return "", false
	}
	var in patFields
	if len(f.Info) > 0 && f.Info[0] == '{' {
		_ = json.Unmarshal(f.Info, &in) // another shape leaves fields empty: the sentence still says what
	}
	crn := f.CRN
	if crn == "" {
		crn = in.OwnerCRN
	}
	whose := "the AP's"
	if crn != "" {
		whose = d.Person(crn) + "'s"
	}
	item := whose + " " + dash(in.Description, "electrical item")
	if in.AssetID != "" {
		item += " (" + in.AssetID + ")"
	}
	by := d.patBy(in.By)
	when := d.When(f.At)
	switch f.Type {
	case pat.TypeRegistered:
		s := by + " registered " + item
		var what []string
		if in.Category != "" {
			what = append(what, in.Category)
		}
		if in.Class != "" {
			what = append(what, "Class "+string(in.Class))
		}
		if len(what) > 0 {
			s += ", " + strings.Join(what, ", ")
		}
		if in.FromImport {
			s += ", from an imported test record"
		}
		if in.Prohibited {
			s += ": of a prohibited category, never authorised, to be removed"
		}
		return s + ", at " + when, true
	case pat.TypeTested:
		s := by + " recorded a PAT of " + item + ": " + d.patOutcome(in)
		if r := in.Record; r != nil {
			s += "; tested " + r.TestedAt.UTC().Format(UKDateLayout)
			if r.Tester != "" {
				s += " by " + r.Tester
			}
			if inst := strings.TrimSpace(r.Instrument + " " + r.InstrumentSerial); inst != "" {
				s += " with " + inst
			}
		}
		switch {
		case !in.Latest:
			s += "; an older test than its latest, added to its history"
		case in.Status != "":
			s += "; now " + dash(patStatusWords[in.Status], in.Status)
		}
		if in.AuthorisationWithdrawn {
			s += ", its authorisation withdrawn"
		}
		return s + ", at " + when, true
	case pat.TypeAuthorised:
		s := by + " authorised " + item + " for use"
		if !in.TestedAt.IsZero() {
			s += ", on its pass of " + in.TestedAt.UTC().Format(UKDateLayout)
		}
		if in.RetestDue != "" {
			s += " good to " + ukDate(in.RetestDue)
		}
		return s + ", at " + when, true
	case pat.TypeWithdrawn:
		return by + " withdrew " + item + " from use: " + quote(dash(in.Reason, "no reason given")) + ", at " + when, true
	case pat.TypeExpired:
		s := "The PAT of " + item
		if in.RetestDue != "" {
			s += ", good to " + ukDate(in.RetestDue) + ","
		}
		s += " is out of date at " + when + ": not to be used until retested"
		if in.Authorised {
			s += " (its authorisation stands again on a pass)"
		}
		return s, true
	}
	return "", false
}

// patOutcome says a test's outcome: "pass, good to 20 Jun 2027", "fail", "a pass
// not accepted, its figures fail (...)".
func (d *Describer) patOutcome(in patFields) string {
	var why []string
	for _, f := range in.Flags {
		why = append(why, dash(f.Detail, f.Check))
	}
	switch in.Outcome {
	case pat.OutcomePass:
		if in.RetestDue != "" {
			return "pass, good to " + ukDate(in.RetestDue)
		}
		return "pass"
	case pat.OutcomeFlagged:
		return "a pass not accepted, its figures fail (" + strings.Join(why, "; ") + ")"
	case pat.OutcomeFail:
		if len(why) > 0 {
			return "fail (" + strings.Join(why, "; ") + ")"
		}
		return "fail"
	}
	return dash(in.Outcome, "recorded")
}

// patBy names who recorded a PAT event: a member of staff, or a PAT tester
// ("PAT tester pat-1") for a test it sent.
func (d *Describer) patBy(by string) string {
	if id, ok := strings.CutPrefix(by, patTesterBy); ok {
		return "PAT tester " + id
	}
	return d.staffName(by)
}

// ukDate writes a date YYYY-MM-DD as the UK does, "20 Jun 2027"; as it is if it
// is not one.
func ukDate(s string) string {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return s
	}
	return t.Format(UKDateLayout)
}
