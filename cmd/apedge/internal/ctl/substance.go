package ctl

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apedge/apedge/agent/curfew"
	"github.com/apedge/apedge/cmd/apedge/internal/cli"
)

// authDoc is an authorisation under s.13A of the Offender Management Act 2007, as the
// agent sends and takes it.
type authDoc struct {
	Ref     string `json:"ref"`
	Manager string `json:"manager"`
	From    string `json:"from"`
	To      string `json:"to"`
}

// handoverDoc is a step in a sample's chain of custody.
type handoverDoc struct {
	Stage string `json:"stage"`
	Seal  string `json:"seal"`
	By    string `json:"by"`
	At    string `json:"at"`
}

// testDoc is a substance test as the agent sends it to staff who test: no results.
type testDoc struct {
	ID     string `json:"id"`
	CRN    string `json:"crn"`
	Person struct {
		Label string `json:"label"`
	} `json:"person"`
	Reason         string        `json:"reason"`
	SampleType     string        `json:"sampleType"`
	Device         string        `json:"device"`
	Authorisation  *authDoc      `json:"authorisation"`
	Staff          string        `json:"staff"`
	Witness        string        `json:"witness"`
	StartedAt      string        `json:"startedAt"`
	State          string        `json:"state"`
	Sampled        bool          `json:"sampled"`
	Valid          *bool         `json:"valid"`
	InvalidReasons []string      `json:"invalidReasons"`
	Seal           string        `json:"seal"`
	Custody        []handoverDoc `json:"custody"`
	DispatchedAt   string        `json:"dispatchedAt"`
	ClosedAt       string        `json:"closedAt"`
}

// substanceDoc is the agent's GET /api/v1/substance.
type substanceDoc struct {
	Testers []struct {
		ID     string `json:"id"`
		Kind   string `json:"kind"`
		Status *struct {
			Online         bool   `json:"online"`
			Serial         string `json:"serial"`
			CalibrationDue string `json:"calibrationDue"`
			SelfCheck      string `json:"selfCheck"`
			LastError      string `json:"lastError"`
			Simulated      bool   `json:"simulated"`
		} `json:"status"`
		Busy string `json:"busy"`
	} `json:"testers"`
	Open        []testDoc `json:"open"`
	Recent      []testDoc `json:"recent"`
	AwaitingLab []testDoc `json:"awaitingLab"`
	Unbound     []struct {
		Device     string `json:"device"`
		Serial     string `json:"serial"`
		TestNumber int64  `json:"testNumber"`
		MeasuredAt string `json:"measuredAt"`
		Why        string `json:"why"`
		At         string `json:"at"`
	} `json:"unbound"`
	Authorisations []authDoc `json:"authorisations"`
	BreathLimitUg  float64   `json:"breathLimitUgPer100ml"`
	BindWindowMin  float64   `json:"bindWindowMinutes"`
}

// panelDoc is one panel of a screen.
type panelDoc struct {
	Panel      string  `json:"panel"`
	Result     string  `json:"result"`
	CutoffNgMl float64 `json:"cutoffNgMl"`
}

// resultDoc is the agent's GET /api/v1/substance/tests/{id}: a test with its results.
type resultDoc struct {
	testDoc
	Outcome string `json:"outcome"`
	Screen  *struct {
		BoundBy        string     `json:"boundBy"`
		EnteredBy      string     `json:"enteredBy"`
		Serial         string     `json:"serial"`
		Firmware       string     `json:"firmware"`
		TestNumber     int64      `json:"testNumber"`
		MeasuredAt     string     `json:"measuredAt"`
		CalibrationDue string     `json:"calibrationDue"`
		Calibration    string     `json:"calibration"`
		SelfCheck      string     `json:"selfCheck"`
		TemperatureC   *float64   `json:"temperatureC"`
		DeviceError    string     `json:"deviceError"`
		Lot            string     `json:"lot"`
		Expiry         string     `json:"expiry"`
		AlcoholUg      *float64   `json:"alcoholUgPer100ml"`
		LimitUg        *float64   `json:"limitUgPer100ml"`
		Panels         []panelDoc `json:"panels"`
		Outcome        string     `json:"outcome"`
		Valid          bool       `json:"valid"`
		InvalidReasons []string   `json:"invalidReasons"`
		At             string     `json:"at"`
	} `json:"screen"`
	Refusal *struct {
		Refusal string `json:"refusal"`
		Staff   string `json:"staff"`
		Witness string `json:"witness"`
		At      string `json:"at"`
	} `json:"refusal"`
	Confirmation *struct {
		Seal    string                `json:"seal"`
		Results map[string]labFinding `json:"results"`
		Outcome string                `json:"outcome"`
		By      string                `json:"by"`
		At      string                `json:"at"`
	} `json:"confirmation"`
	Closure *struct {
		StateBefore string `json:"stateBefore"`
		Outcome     string `json:"outcome"`
		Note        string `json:"note"`
		By          string `json:"by"`
		At          string `json:"at"`
	} `json:"closure"`
}

// labFinding is a laboratory's result for one analyte.
type labFinding struct {
	Confirmed bool   `json:"confirmed"`
	Method    string `json:"method"`
}

const substanceSynopsis = `apedge ctl substance [list]
apedge ctl substance start -crn CRN -reason random|suspicion|arrival|return -sample breath|oral-fluid|urine
        [-device ID] -witness NAME [-test-id ID]
        [-auth-ref REF -auth-manager NAME -auth-from TIME -auth-to TIME]
apedge ctl substance result -test ID
apedge ctl substance refuse -test ID -kind refused|unable -witness NAME
apedge ctl substance urine -test ID -lot LOT -expiry DATE -panel PANEL=RESULT [-panel ...]
apedge ctl substance seal -test ID -seal NUMBER
apedge ctl substance custody -test ID -stage collected|dispatched|received
apedge ctl substance lab -test ID [-confirmed ANALYTE=METHOD ...] [-not-confirmed ANALYTE=METHOD ...]
apedge ctl substance close -test ID -note TEXT

Substance testing (keyworkers and managers). list (the default) shows the testers and
the test awaiting its sample at each, the open tests (INVALID, with why, when a reading
could not be used: test again), the tests waiting on a laboratory too long and the
readings that matched no test; no results. start starts a test in your name: a breath
test on -device, or a drug test (oral-fluid on -device, urine on a cup you read) under
the manager's written authorisation, in force now (all four -auth flags). The device's
next reading is bound to the test by its id keyed into the device, or as the device's
one test awaiting a sample. result shows a test's results: outcome, validity, figures,
the device, custody and the laboratory; results are special category health data and
the agent records every view in the audit log (staff.substance-result-viewed). The
others record what happened to a test: a refusal, a urine cup's result per panel, the
confirmation sample's seal and handovers (collected, sealed, dispatched, received), the
laboratory's result per analyte, or closing a test no other way will (with a note).
TIME is UK local (2026-11-22 14:00) or RFC 3339; a date alone is its start for
-auth-from and its end for -auth-to. The agent's refusals say what to do.`

// substanceCommands are ctl substance's subcommands by name.
func substanceCommands() map[string]command {
	return map[string]command{
		"list":    substanceList,
		"start":   substanceStart,
		"result":  substanceResult,
		"refuse":  substanceRefuse,
		"urine":   substanceUrine,
		"seal":    substanceSeal,
		"custody": substanceCustody,
		"lab":     substanceLab,
		"close":   substanceClose,
	}
}

// cmdSubstance is apedge ctl substance [list|start|result|...].
func cmdSubstance(ctx context.Context, e *runEnv, args []string) error {
	return dispatch(ctx, e, args, "substance", "list", substanceSynopsis, substanceCommands())
}

// substanceList is apedge ctl substance [list].
func substanceList(ctx context.Context, e *runEnv, args []string) error {
	c, err := globalsOnly(e, "substance list", "apedge ctl substance [list] [-json]\n\n"+
		"The substance testers and the test awaiting its sample at each, the open tests, those\n"+
		"closed in the last 12 hours (an invalid reading closes its test: its reasons are here), the\n"+
		"tests waiting on a laboratory too long and the readings that matched no test.", args)
	if err != nil {
		return err
	}
	return show(ctx, e, c, http.MethodGet, "/api/v1/substance", nil, func(v substanceDoc) error { return substanceTables(e.Stdout, v) })
}

// substanceTables prints the overview.
func substanceTables(w io.Writer, v substanceDoc) error {
	tw := newTable(w)
	if len(v.Testers) == 0 {
		fmt.Fprintln(tw, "no substance testers")
	} else {
		fmt.Fprintln(tw, "TESTER\tKIND\tSTATUS\tSERIAL\tCALIBRATION DUE\tSELF-CHECK\tAWAITING")
	}
	for _, t := range v.Testers {
		status, serial, due, check := "not reported", "-", "-", "-"
		if s := t.Status; s != nil {
			status = yesNo(s.Online, "online", "OFFLINE")
			if s.LastError != "" {
				status += ": " + s.LastError
			}
			if s.Simulated {
				status += " (simulated)"
			}
			serial, due, check = dash(s.Serial), dash(s.CalibrationDue), dash(s.SelfCheck)
			if check != "pass" && check != "-" {
				check = strings.ToUpper(check)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Kind, status, serial, due, check, dash(t.Busy))
	}
	fmt.Fprintln(tw)
	if len(v.Open) == 0 {
		fmt.Fprintln(tw, "no open tests")
	} else {
		fmt.Fprintln(tw, "OPEN TEST\tRESIDENT\tSAMPLE\tREASON\tDEVICE\tSTATE\tSTARTED\tSTAFF\tWITNESS\tREADING")
	}
	for _, t := range v.Open {
		state := t.State
		if t.DispatchedAt != "" {
			state += " (dispatched " + localTime(t.DispatchedAt) + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.resident(), t.SampleType, t.Reason, dash(t.Device), state,
			localTime(t.StartedAt), t.Staff, t.Witness, t.reading())
	}
	if len(v.Recent) > 0 {
		fmt.Fprintln(tw)
		fmt.Fprintln(tw, "CLOSED (12 H)\tRESIDENT\tSAMPLE\tDEVICE\tSTARTED\tCLOSED\tREADING")
		for _, t := range v.Recent {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.resident(), t.SampleType, dash(t.Device), localTime(t.StartedAt),
				localTime(t.ClosedAt), t.reading())
		}
	}
	if len(v.AwaitingLab) > 0 {
		fmt.Fprintln(tw)
		fmt.Fprintln(tw, "AWAITING A LABORATORY\tRESIDENT\tSAMPLE\tSEAL\tDISPATCHED")
		for _, t := range v.AwaitingLab {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.resident(), t.SampleType, dash(t.Seal), localTime(t.DispatchedAt))
		}
	}
	if len(v.Unbound) > 0 {
		fmt.Fprintln(tw)
		fmt.Fprintln(tw, "UNBOUND READING AT\tSERIAL\tTEST NO\tMEASURED\tRECEIVED\tWHY IT MATCHED NO TEST")
		for _, u := range v.Unbound {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", u.Device, u.Serial, u.TestNumber, localTime(u.MeasuredAt), localTime(u.At), u.Why)
		}
	}
	fmt.Fprintln(tw)
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, a := range v.Authorisations {
		fmt.Fprintf(w, "authorisation in force: %s\n", a)
	}
	_, err := fmt.Fprintf(w, "breath limit %s µg/100 ml; a reading with no test id is bound to its device's test started up to %s min before\n",
		number(v.BreathLimitUg), number(v.BindWindowMin))
	return err
}

// String is the authorisation in words.
func (a authDoc) String() string {
	return fmt.Sprintf("%s (%s) from %s to %s", a.Ref, a.Manager, localTime(a.From), localTime(a.To))
}

// resident is the person tested, by label and CRN.
func (t testDoc) resident() string {
	if t.Person.Label == "" || t.Person.Label == t.CRN {
		return t.CRN
	}
	return t.Person.Label + ", " + t.CRN
}

// reading is what can be said of a test's reading without its result: none yet,
// valid, or INVALID and why.
func (t testDoc) reading() string {
	switch {
	case t.Valid == nil && t.Sampled:
		return "recorded"
	case t.Valid == nil:
		return "-"
	case *t.Valid:
		return "valid"
	case len(t.InvalidReasons) == 0:
		return "INVALID"
	}
	return "INVALID: " + strings.Join(t.InvalidReasons, "; ")
}

// printTest prints a test after a change: what was done, where the test is now, its
// reading's validity and its chain of custody.
func printTest(w io.Writer, done string, t testDoc) error {
	where := ""
	if t.Device != "" {
		where = " at " + t.Device
	}
	fmt.Fprintf(w, "%s: test %s, %s test of %s (%s)%s, now %s\n", done, t.ID, t.SampleType, t.resident(), t.Reason, where, t.State)
	if t.Valid != nil {
		fmt.Fprintf(w, "reading %s\n", t.reading())
	}
	if len(t.Custody) == 0 {
		return nil
	}
	steps := make([]string, 0, len(t.Custody))
	for _, h := range t.Custody {
		s := h.Stage
		if h.Seal != "" {
			s += " " + h.Seal
		}
		steps = append(steps, fmt.Sprintf("%s by %s at %s", s, h.By, localTime(h.At)))
	}
	_, err := fmt.Fprintf(w, "custody: %s\n", strings.Join(steps, "; "))
	return err
}

// outcomeWord is a test's outcome, in capitals unless it is negative, not
// confirmed or cancelled.
func outcomeWord(o string) string {
	switch o {
	case "", "negative", "not-confirmed", "cancelled":
		return o
	}
	return strings.ToUpper(o)
}

// number is a figure as short as it can be written.
func number(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// testFlag puts -test on fs.
func testFlag(fs *flag.FlagSet) *string {
	return fs.String("test", "", "the test's `id` (T-12, or the id it was started with)")
}

// testPath is the path of test id's resource, or of its action.
func testPath(id, action string) string {
	p := "/api/v1/substance/tests/" + url.PathEscape(id)
	if action != "" {
		p += "/" + action
	}
	return p
}

// testAction posts in to test id's action and prints the test after it.
func testAction(ctx context.Context, e *runEnv, id, action string, in any, done string) error {
	c, err := e.newClient(true)
	if err != nil {
		return err
	}
	return show(ctx, e, c, http.MethodPost, testPath(id, action), in, func(t testDoc) error { return printTest(e.Stdout, done, t) })
}

// substanceStart is apedge ctl substance start.
func substanceStart(ctx context.Context, e *runEnv, args []string) error {
	fs := e.flags("substance start", "apedge ctl substance start -crn CRN -reason random|suspicion|arrival|return -sample breath|oral-fluid|urine\n"+
		"        [-device ID] -witness NAME [-test-id ID] [-auth-ref REF -auth-manager NAME -auth-from TIME -auth-to TIME]\n\n"+
		"Starts a test in your name. A breath test is taken on -device and needs no\n"+
		"authorisation; a drug test (oral-fluid on -device, urine on a cup you read, no\n"+
		"-device) needs the manager's written authorisation under s.13A of the Offender\n"+
		"Management Act 2007, in force now: all four -auth flags. TIME is UK local\n"+
		"(2026-11-22 14:00) or RFC 3339; a date alone is its start for -auth-from and its\n"+
		"end for -auth-to. Key the test's id into the device, or take the reading while\n"+
		"the test is the device's one awaiting a sample.")
	crn := fs.String("crn", "", "the resident's `CRN`")
	reason := fs.String("reason", "", "random, suspicion, arrival or return")
	sample := fs.String("sample", "", "breath, oral-fluid or urine")
	device := fs.String("device", "", "the tester's `id` (none for a urine cup)")
	witness := fs.String("witness", "", "who witnesses the test (`name`, not you)")
	testID := fs.String("test-id", "", "the test's `id`, to key into the device (default: the agent's T-<n>)")
	ref := fs.String("auth-ref", "", "the authorisation's `reference`")
	manager := fs.String("auth-manager", "", "the manager who gave the authorisation (`name`)")
	from := fs.String("auth-from", "", "when the authorisation comes into force (`TIME`)")
	to := fs.String("auth-to", "", "when the authorisation ends (`TIME`, inclusive)")
	if err := cli.Parse(fs, args, 0); err != nil {
		return err
	}
	if err := requireAll(fs, "crn", *crn, "reason", *reason, "sample", *sample, "witness", *witness); err != nil {
		return err
	}
	in := struct {
		TestID        string   `json:"testId,omitempty"`
		CRN           string   `json:"crn"`
		Reason        string   `json:"reason"`
		SampleType    string   `json:"sampleType"`
		Device        string   `json:"device,omitempty"`
		Witness       string   `json:"witness"`
		Authorisation *authDoc `json:"authorisation,omitempty"`
	}{*testID, *crn, *reason, *sample, *device, *witness, nil}
	if *ref != "" || *manager != "" || *from != "" || *to != "" {
		if *ref == "" || *manager == "" || *from == "" || *to == "" {
			fmt.Fprintln(e.Stderr, "apedge ctl substance start: an authorisation is all of -auth-ref, -auth-manager, -auth-from and -auth-to")
			return cli.ErrUsage
		}
		a := &authDoc{Ref: *ref, Manager: *manager}
		var err error
		if a.From, err = parseTime(*from); err != nil {
			fmt.Fprintln(e.Stderr, "apedge ctl substance start: -auth-from:", err)
			return cli.ErrUsage
		}
		if a.To, err = authEnd(*to); err != nil {
			fmt.Fprintln(e.Stderr, "apedge ctl substance start: -auth-to:", err)
			return cli.ErrUsage
		}
		in.Authorisation = a
	}
	c, err := e.newClient(true)
	if err != nil {
		return err
	}
	return show(ctx, e, c, http.MethodPost, "/api/v1/substance/tests", in, func(t testDoc) error { return printTest(e.Stdout, "started", t) })
}

// authEnd is -auth-to as RFC 3339: a date alone is the last second of that day, UK
// time, since an authorisation is in force to its end inclusive.
func authEnd(s string) (string, error) {
	if d, err := time.ParseInLocation(time.DateOnly, s, curfew.London()); err == nil {
		return d.AddDate(0, 0, 1).Add(-time.Second).UTC().Format(time.RFC3339), nil
	}
	return parseTime(s)
}

// substanceResult is apedge ctl substance result.
func substanceResult(ctx context.Context, e *runEnv, args []string) error {
	fs := e.flags("substance result", "apedge ctl substance result -test ID [-json]\n\n"+
		"A test with its results: outcome, validity and why, the alcohol figure against its\n"+
		"limit, each panel's result and cut-off, the device (serial, calibration, self-check),\n"+
		"the cassette's or cup's lot and expiry, a refusal, the chain of custody, the\n"+
		"laboratory's result and the closure (keyworkers and managers). Results are special\n"+
		"category health data: the agent records every view in the audit log\n"+
		"(staff.substance-result-viewed: you, the resident, the test) before it shows it.")
	id := testFlag(fs)
	if err := cli.Parse(fs, args, 0); err != nil {
		return err
	}
	if err := cli.Required(fs, "test", *id); err != nil {
		return err
	}
	c, err := e.newClient(true)
	if err != nil {
		return err
	}
	return show(ctx, e, c, http.MethodGet, testPath(*id, ""), nil, func(r resultDoc) error { return printResult(e.Stdout, r) })
}

// printResult prints a test with its results.
func printResult(w io.Writer, r resultDoc) error {
	fmt.Fprintf(w, "test %s: %s test of %s (%s)\n", r.ID, r.SampleType, r.resident(), r.Reason)
	tw := newTable(w)
	fmt.Fprintf(tw, "started\t%s by %s, witness %s\n", localTime(r.StartedAt), r.Staff, r.Witness)
	if a := r.Authorisation; a != nil {
		fmt.Fprintf(tw, "authorisation\t%s\n", a)
	}
	fmt.Fprintf(tw, "state\t%s\n", r.State)
	fmt.Fprintf(tw, "outcome\t%s\n", dash(outcomeWord(r.Outcome)))
	sc := r.Screen
	if sc != nil {
		fmt.Fprintf(tw, "validity\t%s\n", yesNo(sc.Valid, "valid", "INVALID: "+strings.Join(sc.InvalidReasons, "; ")))
		bound := sc.BoundBy
		if sc.EnteredBy != "" {
			bound += " by " + sc.EnteredBy
		}
		fmt.Fprintf(tw, "screened\t%s (bound: %s)\n", localTime(sc.At), bound)
		if r.Device != "" || sc.Serial != "" {
			dev := dash(r.Device)
			if sc.Serial != "" {
				dev += ", serial " + sc.Serial
			}
			if sc.Firmware != "" {
				dev += ", firmware " + sc.Firmware
			}
			if sc.TestNumber != 0 {
				dev += fmt.Sprintf(", test number %d", sc.TestNumber)
			}
			if sc.MeasuredAt != "" {
				dev += ", measured " + localTime(sc.MeasuredAt)
			}
			fmt.Fprintf(tw, "device\t%s\n", dev)
		}
		if sc.CalibrationDue != "" || sc.Calibration != "" {
			fmt.Fprintf(tw, "calibration\tdue %s (%s)\n", dash(sc.CalibrationDue), dash(sc.Calibration))
		}
		if sc.SelfCheck != "" {
			fmt.Fprintf(tw, "self-check\t%s\n", sc.SelfCheck)
		}
		if sc.TemperatureC != nil {
			fmt.Fprintf(tw, "temperature\t%s °C\n", number(*sc.TemperatureC))
		}
		if sc.Lot != "" || sc.Expiry != "" {
			fmt.Fprintf(tw, "lot\t%s, expires %s\n", dash(sc.Lot), dash(sc.Expiry))
		}
		if sc.DeviceError != "" {
			fmt.Fprintf(tw, "device error\t%s\n", sc.DeviceError)
		}
	}
	if f := r.Refusal; f != nil {
		fmt.Fprintf(tw, "refusal\t%s at %s, recorded by %s, witness %s\n", strings.ToUpper(f.Refusal), localTime(f.At), f.Staff, f.Witness)
	}
	if cl := r.Closure; cl != nil {
		fmt.Fprintf(tw, "closed\t%s by %s (was %s, outcome %s): %s\n", localTime(cl.At), cl.By, cl.StateBefore, dash(cl.Outcome), cl.Note)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if sc != nil && len(sc.Panels) > 0 {
		fmt.Fprintln(w)
		tw = newTable(w)
		fmt.Fprintln(tw, "PANEL\tRESULT\tMEASURED\tCUT-OFF")
		for _, p := range sc.Panels {
			measured, cutoff := "-", "-"
			if p.CutoffNgMl > 0 {
				cutoff = number(p.CutoffNgMl) + " ng/ml"
			}
			if p.Panel == "alcohol" {
				if sc.AlcoholUg != nil {
					measured = number(*sc.AlcoholUg) + " µg/100 ml"
				}
				if sc.LimitUg != nil {
					cutoff = number(*sc.LimitUg) + " µg/100 ml"
				}
			}
			result := p.Result
			if result != "negative" {
				result = strings.ToUpper(result)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Panel, result, measured, cutoff)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(r.Custody) > 0 {
		fmt.Fprintln(w)
		tw = newTable(w)
		fmt.Fprintln(tw, "CUSTODY\tSEAL\tBY\tAT")
		for _, h := range r.Custody {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", h.Stage, dash(h.Seal), h.By, localTime(h.At))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if cf := r.Confirmation; cf != nil {
		fmt.Fprintf(w, "\nlaboratory: %s (seal %s), entered by %s at %s\n", outcomeWord(cf.Outcome), dash(cf.Seal), cf.By, localTime(cf.At))
		tw = newTable(w)
		fmt.Fprintln(tw, "ANALYTE\tLABORATORY\tMETHOD")
		names := make([]string, 0, len(cf.Results))
		for a := range cf.Results {
			names = append(names, a)
		}
		slices.Sort(names)
		for _, a := range names {
			f := cf.Results[a]
			fmt.Fprintf(tw, "%s\t%s\t%s\n", a, yesNo(f.Confirmed, "CONFIRMED", "not confirmed"), dash(f.Method))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintln(w, "\nthis view of the result is recorded in the audit log")
	return err
}

// substanceRefuse is apedge ctl substance refuse.
func substanceRefuse(ctx context.Context, e *runEnv, args []string) error {
	fs := e.flags("substance refuse", "apedge ctl substance refuse -test ID -kind refused|unable -witness NAME\n\n"+
		"Records that the resident refused the test, or was unable to give a sample, with who\n"+
		"witnessed it (not you). Either is itself a result; it closes the test.")
	id := testFlag(fs)
	kind := fs.String("kind", "", "refused or unable")
	witness := fs.String("witness", "", "who witnessed it (`name`)")
	if err := cli.Parse(fs, args, 0); err != nil {
		return err
	}
	if err := requireAll(fs, "test", *id, "kind", *kind, "witness", *witness); err != nil {
		return err
	}
	return testAction(ctx, e, *id, "refusal", map[string]string{"refusal": *kind, "witness": *witness}, "refusal recorded")
}

// pairFlag is a repeatable NAME=VALUE flag, each name once; set is called with each.
type pairFlag func(name, value string) error

// String implements flag.Value.
func (pairFlag) String() string { return "" }

// Set implements flag.Value.
func (f pairFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	k, v = strings.TrimSpace(k), strings.TrimSpace(v)
	if !ok || k == "" || v == "" {
		return fmt.Errorf("%q: want NAME=VALUE", s)
	}
	return f(k, v)
}

// substanceUrine is apedge ctl substance urine.
func substanceUrine(ctx context.Context, e *runEnv, args []string) error {
	fs := e.flags("substance urine", "apedge ctl substance urine -test ID -lot LOT -expiry DATE -panel PANEL=RESULT [-panel ...]\n\n"+
		"Enters a urine cup's result as you read it: its lot and expiry date (2026-12-31) and\n"+
		"each panel read (amphetamine, methamphetamine, mdma, cocaine, opiates, morphine,\n"+
		"methadone, buprenorphine, benzodiazepines, thc, synthetic-cannabinoids, pregabalin,\n"+
		"gabapentin, ketamine, fentanyl) as negative, non-negative or invalid. A cup past its\n"+
		"expiry makes the whole result invalid.")
	id := testFlag(fs)
	lot := fs.String("lot", "", "the cup's `lot`")
	expiry := fs.String("expiry", "", "the cup's expiry `date` (2026-12-31)")
	panels := map[string]string{}
	fs.Var(pairFlag(func(k, v string) error {
		if _, dup := panels[k]; dup {
			return fmt.Errorf("panel %s given twice", k)
		}
		panels[k] = v
		return nil
	}), "panel", "a panel's `PANEL=RESULT` (repeat for each panel)")
	if err := cli.Parse(fs, args, 0); err != nil {
		return err
	}
	if err := requireAll(fs, "test", *id, "lot", *lot, "expiry", *expiry); err != nil {
		return err
	}
	if len(panels) == 0 {
		return cli.Required(fs, "panel", "")
	}
	in := struct {
		Lot    string            `json:"lot"`
		Expiry string            `json:"expiry"`
		Panels map[string]string `json:"panels"`
	}{*lot, *expiry, panels}
	return testAction(ctx, e, *id, "urine", in, "urine result recorded")
}

// substanceSeal is apedge ctl substance seal.
func substanceSeal(ctx context.Context, e *runEnv, args []string) error {
	fs := e.flags("substance seal", "apedge ctl substance seal -test ID -seal NUMBER\n\n"+
		"Seals the confirmation sample of a non-negative drug screen, once collected\n"+
		"(apedge ctl substance custody -stage collected), under its seal or barcode number.")
	id := testFlag(fs)
	seal := fs.String("seal", "", "the seal or barcode `number`")
	if err := cli.Parse(fs, args, 0); err != nil {
		return err
	}
	if err := requireAll(fs, "test", *id, "seal", *seal); err != nil {
		return err
	}
	return testAction(ctx, e, *id, "seal", map[string]string{"seal": *seal}, "sample sealed")
}

// substanceCustody is apedge ctl substance custody.
func substanceCustody(ctx context.Context, e *runEnv, args []string) error {
	fs := e.flags("substance custody", "apedge ctl substance custody -test ID -stage collected|dispatched|received\n\n"+
		"Records a handover of a confirmation sample, in your name, now. Stages go in order,\n"+
		"each once: collected, then the seal (apedge ctl substance seal), dispatched (to the\n"+
		"laboratory), received (by the laboratory).")
	id := testFlag(fs)
	stage := fs.String("stage", "", "collected, dispatched or received")
	if err := cli.Parse(fs, args, 0); err != nil {
		return err
	}
	if err := requireAll(fs, "test", *id, "stage", *stage); err != nil {
		return err
	}
	return testAction(ctx, e, *id, "custody", map[string]string{"stage": *stage}, "sample "+*stage)
}

// substanceLab is apedge ctl substance lab.
func substanceLab(ctx context.Context, e *runEnv, args []string) error {
	fs := e.flags("substance lab", "apedge ctl substance lab -test ID [-confirmed ANALYTE=METHOD ...] [-not-confirmed ANALYTE=METHOD ...]\n\n"+
		"Enters the laboratory's result for a sealed sample, per analyte it reported,\n"+
		"confirmed or not, with its method (LC-MS/MS, say); it closes the test (keyworkers\n"+
		"and managers).")
	id := testFlag(fs)
	results := map[string]labFinding{}
	finding := func(confirmed bool) pairFlag {
		return func(k, v string) error {
			if _, dup := results[k]; dup {
				return fmt.Errorf("analyte %s given twice", k)
			}
			results[k] = labFinding{Confirmed: confirmed, Method: v}
			return nil
		}
	}
	fs.Var(finding(true), "confirmed", "an analyte the laboratory confirmed, `ANALYTE=METHOD` (repeat for each)")
	fs.Var(finding(false), "not-confirmed", "an analyte the laboratory did not confirm, `ANALYTE=METHOD` (repeat for each)")
	if err := cli.Parse(fs, args, 0); err != nil {
		return err
	}
	if err := cli.Required(fs, "test", *id); err != nil {
		return err
	}
	if len(results) == 0 {
		fmt.Fprintln(e.Stderr, "apedge ctl substance lab: give each analyte the laboratory reported: -confirmed ANALYTE=METHOD or -not-confirmed ANALYTE=METHOD")
		return cli.ErrUsage
	}
	return testAction(ctx, e, *id, "lab", map[string]any{"results": results}, "laboratory result recorded")
}

// substanceClose is apedge ctl substance close.
func substanceClose(ctx context.Context, e *runEnv, args []string) error {
	fs := e.flags("substance close", "apedge ctl substance close -test ID -note TEXT\n\n"+
		"Closes a test no other way will: one awaiting its sample is cancelled (started in\n"+
		"error, the device failed), freeing its device; one awaiting confirmation keeps its\n"+
		"screen's outcome (not sent for confirmation). The note says why.")
	id := testFlag(fs)
	note := fs.String("note", "", "why (`text`, journaled)")
	if err := cli.Parse(fs, args, 0); err != nil {
		return err
	}
	if err := requireAll(fs, "test", *id, "note", *note); err != nil {
		return err
	}
	return testAction(ctx, e, *id, "close", map[string]string{"note": *note}, "closed")
}
