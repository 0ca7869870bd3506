package agent

import (
	"fmt"

	"github.com/apedge/apedge/agent/curfew"
	"github.com/apedge/apedge/internal/config"
)

// Schedule returns a resident's curfew schedule: the AP rule (23:00-06:00 every night)
// and their licence conditions, less their approved absences. Staff and contractors
// have none.
func Schedule(r *config.Resident) (curfew.Schedule, error) {
	if !r.IsResident() {
		return curfew.Schedule{}, nil
	}
	s := curfew.Schedule{Rules: []curfew.Rule{curfew.APStandard()}, Loc: curfew.London()}
	for _, c := range r.Curfews {
		rule := curfew.Rule{ID: c.ID, Source: curfew.SourceLicence, Description: c.Description}
		if rule.Description == "" {
			rule.Description = fmt.Sprintf("licence condition: curfew %s-%s (%s)", c.Start, c.End, c.ID)
		}
		var err error
		if rule.Start, err = curfew.ParseTimeOfDay(c.Start); err != nil {
			return s, fmt.Errorf("agent: %s: curfew %s: %w", r.CRN, c.ID, err)
		}
		if rule.End, err = curfew.ParseTimeOfDay(c.End); err != nil {
			return s, fmt.Errorf("agent: %s: curfew %s: %w", r.CRN, c.ID, err)
		}
		for _, w := range c.Weekdays {
			d, ok := config.Weekday(w)
			if !ok {
				return s, fmt.Errorf("agent: %s: curfew %s: weekday %q", r.CRN, c.ID, w)
			}
			rule.Weekdays = append(rule.Weekdays, d)
		}
		if c.From != "" {
			if rule.From, err = curfew.ParseDate(c.From); err != nil {
				return s, fmt.Errorf("agent: %s: curfew %s: %w", r.CRN, c.ID, err)
			}
		}
		if c.Until != "" {
			if rule.Until, err = curfew.ParseDate(c.Until); err != nil {
				return s, fmt.Errorf("agent: %s: curfew %s: %w", r.CRN, c.ID, err)
			}
		}
		s.Rules = append(s.Rules, rule)
	}
	for _, a := range r.Absences {
		from, err := config.ParseLocalTime(a.From, curfew.London())
		if err != nil {
			return s, fmt.Errorf("agent: %s: absence %s: %w", r.CRN, a.ID, err)
		}
		to, err := config.ParseLocalTime(a.To, curfew.London())
		if err != nil {
			return s, fmt.Errorf("agent: %s: absence %s: %w", r.CRN, a.ID, err)
		}
		s.Absences = append(s.Absences, curfew.Absence{ID: a.ID, From: from, To: to, ApprovedBy: a.ApprovedBy, Reason: a.Reason})
	}
	if err := s.Validate(); err != nil {
		return s, fmt.Errorf("agent: %s: %w", r.CRN, err)
	}
	return s, nil
}
