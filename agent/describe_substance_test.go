package agent_test

import (
	"testing"
	"time"

	"github.com/apedge/apedge/agent"
	"github.com/apedge/apedge/agent/substance"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/internal/config"
)

// TestSubstanceSentences puts the events the substance engine makes into words: the
// resident by name and room, the test, what it found; and, for staff who may not see
// results, only which test and whose.
func TestSubstanceSentences(t *testing.T) {
	d := agent.NewDescriber([]config.Resident{{CRN: "X123456", Name: "Brian Baker", Room: "5"}}, nil)
	e, err := substance.New(substance.Config{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 2, 14, 30, 0, 0, time.UTC) // 14:30 GMT
	auth := &substance.Authorisation{Ref: "AUTH-7", Manager: "Mo Manager", From: at.Add(-time.Hour), To: at.Add(time.Hour)}
	must := func(d substance.Draft, err error) substance.Draft {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	_, started, err := e.StartTest(substance.Start{CRN: "X123456", Reason: substance.ReasonRandom, SampleType: substance.SampleBreath,
		Device: "breath-1", Staff: "Kim Keyworker", Witness: "Sam Staff", At: at})
	if err != nil {
		t.Fatal(err)
	}
	ug := 31.0
	tested := must(e.Reading("breath-1", sitebus.SubstanceReading{Kind: sitebus.TesterBreathAlcohol, Serial: "BA-1", CalibrationDue: "2027-01-01",
		SelfCheck: "pass", TestNumber: 4, MeasuredAt: at, AlcoholUg: &ug}, at.Add(time.Minute)))
	_, urineStarted, err := e.StartTest(substance.Start{CRN: "X123456", Reason: substance.ReasonSuspicion, SampleType: substance.SampleUrine,
		Authorisation: auth, Staff: "Kim Keyworker", Witness: "Sam Staff", At: at.Add(2 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	urine := must(e.UrineResult("T-2", "CUP-1", "2027-06-30", map[string]string{"thc": "non-negative", "cocaine": "negative", "opiates": "negative"},
		"Kim Keyworker", at.Add(5*time.Minute)))
	collected := must(e.Handover("T-2", substance.StageCollected, "Kim Keyworker", at.Add(6*time.Minute)))
	sealed := must(e.Seal("T-2", "SEAL-9", "Kim Keyworker", at.Add(7*time.Minute)))
	dispatched := must(e.Handover("T-2", substance.StageDispatched, "Kim Keyworker", at.Add(8*time.Minute)))
	confirmed := must(e.LabResult("T-2", map[string]substance.LabFinding{"thc": {Confirmed: true, Method: "LC-MS/MS"}}, "Priya Shah", at.Add(48*time.Hour)))
	unbound := must(e.Reading("breath-1", sitebus.SubstanceReading{Kind: sitebus.TesterBreathAlcohol, Serial: "BA-1", CalibrationDue: "2027-01-01",
		SelfCheck: "pass", TestNumber: 5, MeasuredAt: at.Add(time.Hour), AlcoholUg: &ug}, at.Add(time.Hour)))
	for _, tt := range []struct {
		name      string
		d         substance.Draft
		want      string
		noResults string
	}{
		{"started", started, "Kim Keyworker started a random breath test T-1 of Brian Baker (room 5) on breath-1, witnessed by Sam Staff, at 14:30 on 2 Dec 2026",
			"Breath test T-1 of Brian Baker (room 5): started at 14:30 on 2 Dec 2026 (details only for staff who may see substance results)"},
		{"breath result", tested, "Breath test T-1 of Brian Baker (room 5): non-negative (preliminary): 31 µg/100 ml, limit 9, at 14:31 on 2 Dec 2026",
			"Breath test T-1 of Brian Baker (room 5): screening result recorded at 14:31 on 2 Dec 2026 (details only for staff who may see substance results)"},
		{"urine started", urineStarted, "Kim Keyworker started a urine drug test T-2 of Brian Baker (room 5), on suspicion, witnessed by Sam Staff, under authorisation AUTH-7 (Mo Manager), at 14:32 on 2 Dec 2026", ""},
		{"urine result", urine, "Urine drug test T-2 of Brian Baker (room 5): non-negative (preliminary): non-negative for thc; negative for 2 panels, at 14:35 on 2 Dec 2026", ""},
		{"collected", collected, "The sample of urine drug test T-2 of Brian Baker (room 5) was collected for confirmation, by Kim Keyworker, at 14:36 on 2 Dec 2026", ""},
		{"sealed", sealed, "The sample of urine drug test T-2 of Brian Baker (room 5) was sealed (seal SEAL-9), by Kim Keyworker, at 14:37 on 2 Dec 2026", ""},
		{"dispatched", dispatched, "The sample of urine drug test T-2 of Brian Baker (room 5) was sent to the laboratory (seal SEAL-9), by Kim Keyworker, at 14:38 on 2 Dec 2026",
			"Urine drug test T-2 of Brian Baker (room 5): sample sent to the laboratory at 14:38 on 2 Dec 2026 (details only for staff who may see substance results)"},
		{"confirmed", confirmed, "The laboratory's result for urine drug test T-2 of Brian Baker (room 5): confirmed for thc (LC-MS/MS), entered by Priya Shah, at 14:30 on 4 Dec 2026", ""},
		{"unbound", unbound, "A reading from breath-1 matched no test and is held, attached to no one: no test is awaiting a sample at breath-1, at 15:30 on 2 Dec 2026",
			"A substance tester's reading matched no test and is held, attached to no one, at 15:30 on 2 Dec 2026 (details only for staff who may see substance results)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := agent.Fact{Type: tt.d.Type, At: tt.d.At, CRN: tt.d.CRN, Info: tt.d.Info}
			if got := d.Sentence(f); got != tt.want {
				t.Errorf("sentence\n got %q\nwant %q", got, tt.want)
			}
			if tt.noResults == "" {
				return
			}
			info, ok := agent.RedactSubstanceInfo(tt.d.Type, tt.d.Info)
			if !ok {
				t.Fatalf("%s not redacted", tt.d.Type)
			}
			f.Info, f.NoResults = info, true
			if got := d.Sentence(f); got != tt.noResults {
				t.Errorf("without results\n got %q\nwant %q", got, tt.noResults)
			}
		})
	}
}
