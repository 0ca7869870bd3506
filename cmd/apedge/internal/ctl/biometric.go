package ctl

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apedge/apedge/cmd/apedge/internal/cli"
)

// enrolPoll is how often enrol asks the agent how the enrolment it follows goes.
const enrolPoll = 250 * time.Millisecond

// enrolStepDoc is what an enrolment's terminal last told the person at it to do.
type enrolStepDoc struct {
	Step string `json:"step"`
	At   string `json:"at"`
}

// enrolmentDoc is an enrolment as the agent sends it: no template, no image.
type enrolmentDoc struct {
	ID        string        `json:"id"`
	CRN       string        `json:"crn"`
	Terminal  string        `json:"terminal"`
	Slot      int           `json:"slot"`
	Finger    string        `json:"finger"`
	By        string        `json:"by"`
	Attempt   int           `json:"attempt"`
	State     string        `json:"state"`
	StartedAt string        `json:"startedAt"`
	EndedAt   string        `json:"endedAt"`
	Reason    string        `json:"reason"`
	Detail    string        `json:"detail"`
	Step      *enrolStepDoc `json:"step"`
}

// alternativeDoc is the alternative to a finger at the door (card and a member of
// staff's confirmation), offered.
type alternativeDoc struct {
	Why      string `json:"why"`
	Attempts int    `json:"attempts"`
	By       string `json:"by"`
	At       string `json:"at"`
}

// deletionDoc is a deletion of one resident's templates from one terminal, and
// the terminal's answer that proved it, once it has.
type deletionDoc struct {
	ID          string `json:"id"`
	CRN         string `json:"crn"`
	Terminal    string `json:"terminal"`
	Slots       []int  `json:"slots"`
	Why         string `json:"why"`
	By          string `json:"by"`
	RequestedAt string `json:"requestedAt"`
	Attempts    int    `json:"attempts"`
	Proof       *struct {
		Used      []int  `json:"used"`
		Capacity  int    `json:"capacity"`
		ReadAt    string `json:"readAt"`
		Confirmed bool   `json:"confirmed"`
	} `json:"proof"`
}

// pendingDoc is a deletion still waiting for its terminal's proof.
type pendingDoc struct {
	deletionDoc
	WaitedSeconds  int64  `json:"waitedSeconds"`
	Overdue        bool   `json:"overdue"`
	TerminalOnline bool   `json:"terminalOnline"`
	SentAt         string `json:"sentAt"`
}

// biometricsDoc is the agent's GET /api/v1/biometrics.
type biometricsDoc struct {
	EnhancedSecurity bool     `json:"enhancedSecurity"`
	Fingers          []string `json:"fingers"`
	MaxAttempts      int      `json:"maxAttempts"`
	DeletionOverdueH float64  `json:"deletionOverdueHours"`
	Terminals        []struct {
		ID       string `json:"id"`
		Door     string `json:"door"`
		Name     string `json:"name"`
		Reported bool   `json:"reported"`
		Status   *struct {
			Online    bool   `json:"online"`
			Capacity  int    `json:"capacity"`
			Templates int    `json:"templates"`
			LastError string `json:"lastError"`
			Simulated bool   `json:"simulated"`
		} `json:"status"`
		Enrolling        *enrolmentDoc `json:"enrolling"`
		PendingDeletions int           `json:"pendingDeletions"`
	} `json:"terminals"`
	Residents []struct {
		CRN    string `json:"crn"`
		Person struct {
			Label string `json:"label"`
		} `json:"person"`
		Consent     string          `json:"consent"`
		ConsentBy   string          `json:"consentBy"`
		ConsentAt   string          `json:"consentAt"`
		Alternative *alternativeDoc `json:"alternative"`
		Attempts    int             `json:"attempts"`
		Fingers     []struct {
			Finger   string `json:"finger"`
			Terminal string `json:"terminal"`
			Slot     int    `json:"slot"`
			State    string `json:"state"`
		} `json:"fingers"`
		Enrolling        string `json:"enrolling"`
		PendingDeletions int    `json:"pendingDeletions"`
	} `json:"residents"`
	Recent  []enrolmentDoc `json:"recent"`
	Pending []pendingDoc   `json:"pending"`
	Orphans []struct {
		Terminal  string `json:"terminal"`
		Slot      int    `json:"slot"`
		SeenAt    string `json:"seenAt"`
		At        string `json:"at"`
		StillUsed bool   `json:"stillUsed"`
	} `json:"orphans"`
}

// residentBioDoc is the agent's GET /api/v1/biometrics/residents/{crn}: what the
// biometrics hold of one resident.
type residentBioDoc struct {
	CRN     string `json:"crn"`
	Consent *struct {
		Given bool   `json:"given"`
		By    string `json:"by"`
		At    string `json:"at"`
	} `json:"consent"`
	Alternative *alternativeDoc `json:"alternative"`
	Attempts    int             `json:"attempts"`
	MaxAttempts int             `json:"maxAttempts"`
	Pending     []pendingDoc    `json:"pending"`
}

// deletionsDoc is the agent's list of deletions.
type deletionsDoc struct {
	Deletions []deletionDoc `json:"deletions"`
}

const biometricSynopsis = `apedge ctl biometric [status]
apedge ctl biometric consent CRN -given | -declined
apedge ctl biometric enrol CRN -finger FINGER -terminal ID [-no-wait]
apedge ctl biometric cancel ENROLMENT
apedge ctl biometric delete CRN -yes
apedge ctl biometric pending
apedge ctl biometric deletions

Fingerprints at an Enhanced Security site (staff, keyworkers, managers, admins: the
biometrics permission). status (the default) shows the terminals (where, online,
templates held, the enrolment under way and its step, deletions waiting), every
resident's consent, fingers per terminal, failed attempts and the alternative if
offered, the enrolments ended lately, the deletions still waiting for their terminal's
proof with how long, and orphan slots (a template no enrolment holds). consent records
the resident's answer, asked before the first capture, in your name; a refusal offers
the alternative (card plus a member of staff's confirmation at the door), and from a
resident with fingers enrolled it withdraws consent: their templates are deleted.
enrol enrols one finger on one terminal (templates never leave a terminal: enrol on
each terminal the resident is to use, a door's or the enrolment desk's) and follows
it, saying each prompt of the terminal's in words, until it is enrolled (exit 0) or
fails (exit 1, with the reason and the attempt; after the configured number of
failures the alternative is offered). Ctrl-C cancels it. cancel cancels one under way.
delete asks every terminal holding the resident's templates to delete them; each
deletion counts only once the terminal's index table, read back, shows the slots free
(a terminal offline gets it when it comes back). pending lists those still waiting,
longest first; deletions lists every one with the reading that proved it. No
template or image ever leaves a terminal: the agent knows slots, steps and reasons.`

// biometricCommands are ctl biometric's subcommands by name.
func biometricCommands() map[string]command {
	return map[string]command{
		"status":    biometricStatus,
		"consent":   biometricConsent,
		"enrol":     biometricEnrol,
		"cancel":    biometricCancel,
		"delete":    biometricDelete,
		"pending":   biometricPending,
		"deletions": biometricDeletions,
	}
}

// cmdBiometric is apedge ctl biometric [status|consent|enrol|...].
func cmdBiometric(ctx context.Context, e *runEnv, args []string) error {
	return dispatch(ctx, e, args, "biometric", "status", biometricSynopsis, biometricCommands())
}

// oneArg parses args, whose one positional argument (what, such as a CRN) may come
// before, between or after the flags, and returns it.
func oneArg(e *runEnv, fs *flag.FlagSet, args []string, what, example string) (string, error) {
	var pos []string
	for rest := args; ; {
		if err := cli.Parse(fs, rest, len(rest)); err != nil {
			return "", err
		}
		if fs.NArg() == 0 {
			break
		}
		pos, rest = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
	switch {
	case len(pos) == 0:
		fmt.Fprintf(e.Stderr, "apedge %s: name the %s: apedge %s %s\n", fs.Name(), what, fs.Name(), example)
		return "", cli.ErrUsage
	case len(pos) > 1:
		fmt.Fprintf(e.Stderr, "apedge %s: unexpected argument %q\n", fs.Name(), pos[1])
		return "", cli.ErrUsage
	}
	return pos[0], nil
}

// biometricStatus is apedge ctl biometric [status].
func biometricStatus(ctx context.Context, e *runEnv, args []string) error {
	c, err := globalsOnly(e, "biometric status", "apedge ctl biometric [status] [-json]\n\n"+
		"The fingerprint terminals, every resident's consent, fingers, failed attempts and the\n"+
		"alternative, the enrolments ended lately, the deletions still waiting for their\n"+
		"terminal's proof (how long, OVERDUE after a day) and orphan slots.", args)
	if err != nil {
		return err
	}
	return show(ctx, e, c, http.MethodGet, "/api/v1/biometrics", nil, func(v biometricsDoc) error { return biometricTables(e.Stdout, v) })
}

// biometricTables prints the overview.
func biometricTables(w io.Writer, v biometricsDoc) error {
	tw := newTable(w)
	if len(v.Terminals) == 0 {
		fmt.Fprintln(tw, "no fingerprint terminals")
	} else {
		fmt.Fprintln(tw, "TERMINAL\tNAME\tAT\tSTATUS\tTEMPLATES\tENROLLING\tPENDING DELETIONS")
	}
	for _, t := range v.Terminals {
		at := "enrolment desk"
		if t.Door != "" {
			at = "door " + t.Door
		}
		status, templates := "not reported", "-"
		if s := t.Status; t.Reported && s != nil {
			status = yesNo(s.Online, "online", "OFFLINE")
			if s.LastError != "" {
				status += ": " + s.LastError
			}
			if s.Simulated {
				status += " (simulated)"
			}
			templates = strconv.Itoa(s.Templates)
			if s.Capacity > 0 {
				templates += "/" + strconv.Itoa(s.Capacity)
			}
		}
		enrolling := "-"
		if en := t.Enrolling; en != nil {
			enrolling = fmt.Sprintf("%s %s of %s: %s", en.ID, en.Finger, en.CRN, en.step())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", t.ID, dash(t.Name), at, status, templates, enrolling, t.PendingDeletions)
	}
	fmt.Fprintln(tw)
	labels := map[string]string{}
	if len(v.Residents) == 0 {
		fmt.Fprintln(tw, "no residents")
	} else {
		fmt.Fprintln(tw, "RESIDENT\tCONSENT\tFINGERS\tFAILED ATTEMPTS\tALTERNATIVE\tENROLLING\tPENDING DELETIONS")
	}
	for _, r := range v.Residents {
		who := r.CRN
		if r.Person.Label != "" && r.Person.Label != r.CRN {
			who = r.Person.Label + ", " + r.CRN
		}
		labels[r.CRN] = who
		consent := "not asked"
		if r.Consent != "none" {
			consent = fmt.Sprintf("%s by %s at %s", r.Consent, dash(r.ConsentBy), localTime(r.ConsentAt))
		}
		var terminals []string
		fingers := map[string][]string{}
		for _, f := range r.Fingers {
			if _, ok := fingers[f.Terminal]; !ok {
				terminals = append(terminals, f.Terminal)
			}
			s := fmt.Sprintf("%s (slot %d)", f.Finger, f.Slot)
			if f.State != "enrolled" {
				s = fmt.Sprintf("%s (slot %d, %s)", f.Finger, f.Slot, f.State)
			}
			fingers[f.Terminal] = append(fingers[f.Terminal], s)
		}
		var held []string
		for _, t := range terminals {
			held = append(held, t+": "+strings.Join(fingers[t], ", "))
		}
		alternative := "-"
		if a := r.Alternative; a != nil {
			alternative = "offered: " + a.Why
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d of %d\t%s\t%s\t%d\n", who, consent, dash(strings.Join(held, "; ")), r.Attempts, v.MaxAttempts,
			alternative, dash(r.Enrolling), r.PendingDeletions)
	}
	if len(v.Recent) > 0 {
		fmt.Fprintln(tw)
		fmt.Fprintln(tw, "ENDED ENROLMENT\tRESIDENT\tFINGER\tTERMINAL\tSLOT\tSTATE\tBY\tENDED\tWHY IT FAILED")
		for _, en := range v.Recent {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", en.ID, cmp.Or(labels[en.CRN], en.CRN), en.Finger, en.Terminal, en.Slot,
				en.State, en.By, localTime(en.EndedAt), dash(en.Reason))
		}
	}
	fmt.Fprintln(tw)
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := pendingTable(w, v.Pending, labels); err != nil {
		return err
	}
	if len(v.Orphans) > 0 {
		fmt.Fprintln(w)
		tw = newTable(w)
		fmt.Fprintln(tw, "ORPHAN SLOT ON\tSLOT\tSEEN\tREPORTED\tNOW")
		for _, o := range v.Orphans {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", o.Terminal, o.Slot, localTime(o.SeenAt), localTime(o.At), yesNo(o.StillUsed, "STILL USED", "free"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintln(w)
	if v.EnhancedSecurity {
		fmt.Fprintln(w, "Enhanced Security ON: a card at a door with a terminal needs the holder's finger on it too")
	} else {
		fmt.Fprintln(w, "Enhanced Security off: a card alone opens the doors")
	}
	_, err := fmt.Fprintf(w, "the alternative is offered after %d failed attempts; a deletion not proven within %s h raises biometric.deletion-overdue\nfingers: %s\n",
		v.MaxAttempts, number(v.DeletionOverdueH), strings.Join(v.Fingers, ", "))
	return err
}

// pendingTable prints the deletions still waiting, longest first; labels names the
// residents it knows.
func pendingTable(w io.Writer, pending []pendingDoc, labels map[string]string) error {
	if len(pending) == 0 {
		_, err := fmt.Fprintln(w, "no deletions pending: every one requested is proven by its terminal's index table")
		return err
	}
	pending = slices.Clone(pending)
	slices.SortStableFunc(pending, func(a, b pendingDoc) int { return cmp.Compare(b.WaitedSeconds, a.WaitedSeconds) })
	tw := newTable(w)
	fmt.Fprintln(tw, "PENDING DELETION\tRESIDENT\tTERMINAL\tSLOTS\tWHY\tBY\tREQUESTED\tWAITED\tTERMINAL NOW\tLAST SENT\tUNPROVEN ANSWERS")
	for _, d := range pending {
		waited := waitedFor(d.WaitedSeconds)
		if d.Overdue {
			waited += " OVERDUE"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", d.ID, cmp.Or(labels[d.CRN], d.CRN), d.Terminal, slotList(d.Slots), d.Why, d.By,
			localTime(d.RequestedAt), waited, yesNo(d.TerminalOnline, "online", "OFFLINE"), localTime(d.SentAt), d.Attempts)
	}
	return tw.Flush()
}

// step is an enrolment's live step, or what it waits for before the first.
func (en enrolmentDoc) step() string {
	if en.Step == nil {
		return "starting"
	}
	return en.Step.Step
}

// stepWords says an enrolment's step as the person at the terminal is to hear it.
func stepWords(step string) string {
	switch step {
	case "place-finger":
		return "place the finger on the sensor"
	case "lift-finger":
		return "lift the finger"
	case "place-again":
		return "place the same finger again"
	}
	return step // storing, or a step this ctl does not know
}

// slotList is slots as "3, 7".
func slotList(slots []int) string {
	s := make([]string, len(slots))
	for i, n := range slots {
		s[i] = strconv.Itoa(n)
	}
	return dash(strings.Join(s, ", "))
}

// waitedFor is a wait of secs seconds, as short as it can be said.
func waitedFor(secs int64) string {
	switch {
	case secs < 60:
		return fmt.Sprintf("%ds", max(secs, 0))
	case secs < 3600:
		return fmt.Sprintf("%dm", secs/60)
	case secs < 86400:
		return fmt.Sprintf("%dh %02dm", secs/3600, secs%3600/60)
	}
	return fmt.Sprintf("%dd %dh", secs/86400, secs%86400/3600)
}

// biometricConsent is apedge ctl biometric consent.
func biometricConsent(ctx context.Context, e *runEnv, args []string) error {
	fs := e.flags("biometric consent", "apedge ctl biometric consent CRN -given | -declined\n\n"+
		"Records the resident's answer to fingerprint enrolment, asked before the first\n"+
		"capture, with you as the member of staff who took it (biometric.consent-recorded).\n"+
		"-declined offers the alternative (card plus a member of staff's confirmation at the\n"+
		"door) and, from a resident with fingers enrolled, withdraws their consent: their\n"+
		"templates are deleted. Say exactly one of -given and -declined.")
	given := fs.Bool("given", false, "the resident consents")
	declined := fs.Bool("declined", false, "the resident declines")
	crn, err := oneArg(e, fs, args, "resident's CRN", "X100001 -given")
	if err != nil {
		return err
	}
	if *given == *declined {
		fmt.Fprintln(e.Stderr, "apedge ctl biometric consent: say the resident's answer: -given or -declined, one of them")
		return cli.ErrUsage
	}
	c, err := e.newClient(true)
	if err != nil {
		return err
	}
	path := "/api/v1/biometrics/residents/" + url.PathEscape(crn) + "/consent"
	return show(ctx, e, c, http.MethodPost, path, map[string]bool{"given": *given}, func(r residentBioDoc) error {
		answer, by, at := "given", "-", "-"
		if k := r.Consent; k != nil {
			answer, by, at = yesNo(k.Given, "given", "declined"), k.By, localTime(k.At)
		}
		fmt.Fprintf(e.Stdout, "consent of %s recorded: %s, taken by %s at %s\n", r.CRN, answer, by, at)
		if a := r.Alternative; a != nil {
			fmt.Fprintf(e.Stdout, "the alternative is offered (%s): card plus a member of staff's confirmation at the door\n", a.Why)
		}
		if n := len(r.Pending); n > 0 {
			fmt.Fprintf(e.Stdout, "%d deletion(s) of their templates pending: apedge ctl biometric pending\n", n)
		}
		return nil
	})
}

// enrolmentPath is the path of enrolment id's resource, or of its action.
func enrolmentPath(id, action string) string {
	p := "/api/v1/biometrics/enrolments/" + url.PathEscape(id)
	if action != "" {
		p += "/" + action
	}
	return p
}

// biometricEnrol is apedge ctl biometric enrol.
func biometricEnrol(ctx context.Context, e *runEnv, args []string) error {
	fs := e.flags("biometric enrol", "apedge ctl biometric enrol CRN -finger FINGER -terminal ID [-no-wait]\n\n"+
		"Enrols one of the resident's fingers on a terminal (their consent recorded first),\n"+
		"in your name, into the slot the agent allocates. Templates never leave a terminal:\n"+
		"enrol on each terminal the resident is to use. It then follows the enrolment,\n"+
		"saying each of the terminal's prompts in words as it comes (place the finger, lift\n"+
		"it, place it again, storing), until the captures are matched and stored (exit 0) or\n"+
		"it fails (exit 1: the terminal's reason and the attempt; after the configured\n"+
		"number of failures the alternative is offered, and it says so). Ctrl-C cancels the\n"+
		"enrolment. -no-wait only starts it. With -json it prints the enrolment as it ended\n"+
		"(as it started, with -no-wait) and the prompts on standard error.")
	finger := fs.String("finger", "", "the `finger` (left-thumb ... right-little, as apedge ctl biometric lists them)")
	terminal := fs.String("terminal", "", "the terminal's `id`")
	noWait := fs.Bool("no-wait", false, "start the enrolment and return")
	crn, err := oneArg(e, fs, args, "resident's CRN", "X100001 -finger right-index -terminal desk-1")
	if err != nil {
		return err
	}
	if err := requireAll(fs, "finger", *finger, "terminal", *terminal); err != nil {
		return err
	}
	c, err := e.newClient(true)
	if err != nil {
		return err
	}
	in := map[string]string{"crn": crn, "finger": *finger, "terminal": *terminal}
	var en enrolmentDoc
	b, err := c.call(ctx, http.MethodPost, "/api/v1/biometrics/enrolments", in, &en)
	if err != nil {
		return err
	}
	out := e.Stdout
	if e.g.json {
		out = e.Stderr
	}
	fmt.Fprintf(out, "enrolment %s started: %s of %s on %s, slot %d, attempt %d\n", en.ID, en.Finger, en.CRN, en.Terminal, en.Slot, en.Attempt)
	if *noWait {
		if e.g.json {
			return printJSON(e.Stdout, b)
		}
		_, err := fmt.Fprintf(out, "the terminal guides the captures: apedge ctl biometric status shows its step; apedge ctl biometric cancel %s ends it\n", en.ID)
		return err
	}
	en, b, err = followEnrolment(ctx, c, en, out)
	if err != nil {
		return err
	}
	if e.g.json {
		if err := printJSON(e.Stdout, b); err != nil {
			return err
		}
	}
	switch en.State {
	case "enrolled":
		_, err := fmt.Fprintf(out, "enrolled: %s on %s, slot %d\n", en.Finger, en.Terminal, en.Slot)
		return err
	case "failed":
		return enrolFailure(ctx, c, en)
	}
	return fmt.Errorf("enrolment %s ended %s", en.ID, en.State)
}

// followEnrolment polls enrolment en until it ends, writing each new step to out in
// words, and returns it as it ended with the agent's document. If ctx ends first it
// cancels the enrolment, and says so in the error.
func followEnrolment(ctx context.Context, c *client, en enrolmentDoc, out io.Writer) (enrolmentDoc, []byte, error) {
	tick := time.NewTicker(enrolPoll)
	defer tick.Stop()
	var b []byte
	said := ""
	for {
		if en.Step != nil && en.Step.Step != said {
			said = en.Step.Step
			fmt.Fprintln(out, stepWords(said))
		}
		if en.State != "enrolling" {
			return en, b, nil
		}
		select {
		case <-ctx.Done():
			return en, nil, interrupted(ctx, c, en.ID)
		case <-tick.C:
		}
		var next enrolmentDoc // a fresh one: a step absent now must not stay from before
		var err error
		if b, err = c.call(ctx, http.MethodGet, enrolmentPath(en.ID, ""), nil, &next); err != nil {
			if ctx.Err() != nil {
				return en, nil, interrupted(ctx, c, en.ID)
			}
			return en, nil, fmt.Errorf("following enrolment %s (it may still be under way: apedge ctl biometric status): %w", en.ID, err)
		}
		en = next
	}
}

// interrupted cancels enrolment id after ctx ended (Ctrl-C), on a context of its own,
// and returns the error that says what became of it.
func interrupted(ctx context.Context, c *client, id string) error {
	var en enrolmentDoc
	if _, err := c.call(context.WithoutCancel(ctx), http.MethodPost, enrolmentPath(id, "cancel"), struct{}{}, &en); err != nil {
		return fmt.Errorf("interrupted: enrolment %s not cancelled: %w", id, err)
	}
	return fmt.Errorf("interrupted: enrolment %s cancelled", id)
}

// enrolFailure is the error of failed enrolment en: its reason, its attempt of how
// many the resident has before the alternative, and whether this failure offered it.
func enrolFailure(ctx context.Context, c *client, en enrolmentDoc) error {
	reason := dash(en.Reason)
	if en.Reason == "failed" && en.Detail != "" {
		reason += ": " + en.Detail
	}
	switch en.Reason {
	case "cancelled", "no-answer", "not-taken", "deletion-requested":
		return fmt.Errorf("enrolment %s failed: %s (not counted as an attempt)", en.ID, reason)
	}
	var r residentBioDoc
	if _, err := c.call(ctx, http.MethodGet, "/api/v1/biometrics/residents/"+url.PathEscape(en.CRN), nil, &r); err != nil {
		return fmt.Errorf("enrolment %s failed: %s (attempt %d)", en.ID, reason, en.Attempt)
	}
	msg := fmt.Sprintf("enrolment %s failed: %s (attempt %d of %d)", en.ID, reason, en.Attempt, r.MaxAttempts)
	if a := r.Alternative; a != nil && a.Why == "failed-enrolment" && !before(a.At, en.EndedAt) {
		msg += "; the alternative is now offered: card plus a member of staff's confirmation at the door"
	}
	return errors.New(msg)
}

// before says RFC 3339 instant a is before b (false if either is not one).
func before(a, b string) bool {
	ta, errA := time.Parse(time.RFC3339, a)
	tb, errB := time.Parse(time.RFC3339, b)
	return errA == nil && errB == nil && ta.Before(tb)
}

// biometricCancel is apedge ctl biometric cancel.
func biometricCancel(ctx context.Context, e *runEnv, args []string) error {
	fs := e.flags("biometric cancel", "apedge ctl biometric cancel ENROLMENT\n\n"+
		"Cancels an enrolment under way (E-12, as enrol and status show it): the terminal\n"+
		"is told to stop; it is not counted as a failed attempt.")
	id, err := oneArg(e, fs, args, "enrolment", "E-12")
	if err != nil {
		return err
	}
	c, err := e.newClient(true)
	if err != nil {
		return err
	}
	return show(ctx, e, c, http.MethodPost, enrolmentPath(id, "cancel"), struct{}{}, func(en enrolmentDoc) error {
		_, err := fmt.Fprintf(e.Stdout, "enrolment %s cancelled: %s of %s on %s, slot %d, now %s (%s)\n", en.ID, en.Finger, en.CRN, en.Terminal,
			en.Slot, en.State, dash(en.Reason))
		return err
	})
}

// biometricDelete is apedge ctl biometric delete.
func biometricDelete(ctx context.Context, e *runEnv, args []string) error {
	fs := e.flags("biometric delete", "apedge ctl biometric delete CRN -yes\n\n"+
		"Asks every terminal holding the resident's fingerprint templates to delete them (an\n"+
		"enrolment of theirs under way is ended); from now their fingers open no door. Each\n"+
		"deletion counts only once the terminal's index table, read back after it, shows the\n"+
		"slots free (biometric.deleted); a terminal offline gets it when it comes back. A\n"+
		"departure does the same by itself.")
	yes := fs.Bool("yes", false, "do it")
	crn, err := oneArg(e, fs, args, "resident's CRN", "X100001 -yes")
	if err != nil {
		return err
	}
	if !*yes {
		fmt.Fprintf(e.Stderr, "apedge ctl biometric delete: this deletes every fingerprint template of %s's from every terminal that holds one, and their fingers open no door from now: say -yes to do it\n", crn)
		return cli.ErrUsage
	}
	c, err := e.newClient(true)
	if err != nil {
		return err
	}
	path := "/api/v1/biometrics/residents/" + url.PathEscape(crn) + "/deletion"
	return show(ctx, e, c, http.MethodPost, path, struct{}{}, func(r deletionsDoc) error {
		tw := newTable(e.Stdout)
		fmt.Fprintln(tw, "DELETION REQUESTED\tTERMINAL\tSLOTS")
		for _, d := range r.Deletions {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", d.ID, d.Terminal, slotList(d.Slots))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		_, err := fmt.Fprintf(e.Stdout, "each counts only once its terminal's index table, read back, shows the slots free: apedge ctl biometric pending lists those still waiting\n")
		return err
	})
}

// biometricPending is apedge ctl biometric pending.
func biometricPending(ctx context.Context, e *runEnv, args []string) error {
	c, err := globalsOnly(e, "biometric pending", "apedge ctl biometric pending [-json]\n\n"+
		"The deletions still waiting for their terminal's proof, longest waiting first: how\n"+
		"long (OVERDUE past biometrics.deletionOverdue, a day by default: the alarm\n"+
		"biometric.deletion-overdue), whether the terminal is online, when the agent last\n"+
		"sent it the deletion, and its answers that did not prove it. With -json, the list.", args)
	if err != nil {
		return err
	}
	var v biometricsDoc
	var raw struct {
		Pending json.RawMessage `json:"pending"`
	}
	out := any(&v)
	if e.g.json {
		out = &raw // the list as the agent sent it
	}
	if _, err := c.call(ctx, http.MethodGet, "/api/v1/biometrics", nil, out); err != nil {
		return err
	}
	if e.g.json {
		return printJSON(e.Stdout, raw.Pending)
	}
	labels := map[string]string{}
	for _, r := range v.Residents {
		if r.Person.Label != "" && r.Person.Label != r.CRN {
			labels[r.CRN] = r.Person.Label + ", " + r.CRN
		}
	}
	return pendingTable(e.Stdout, v.Pending, labels)
}

// biometricDeletions is apedge ctl biometric deletions.
func biometricDeletions(ctx context.Context, e *runEnv, args []string) error {
	c, err := globalsOnly(e, "biometric deletions", "apedge ctl biometric deletions [-json]\n\n"+
		"Every deletion of templates, in order of request: pending, or proven by the\n"+
		"terminal's index table read back after it (when it was read, and the slots used\n"+
		"then), as biometric.deleted journaled it, signed.", args)
	if err != nil {
		return err
	}
	return show(ctx, e, c, http.MethodGet, "/api/v1/biometrics/deletions", nil, func(r deletionsDoc) error {
		if len(r.Deletions) == 0 {
			_, err := fmt.Fprintln(e.Stdout, "no deletions")
			return err
		}
		tw := newTable(e.Stdout)
		fmt.Fprintln(tw, "DELETION\tRESIDENT\tTERMINAL\tSLOTS\tWHY\tBY\tREQUESTED\tPROOF")
		for _, d := range r.Deletions {
			proof := "PENDING"
			if d.Attempts > 0 {
				proof += fmt.Sprintf(" (%d answers did not prove it)", d.Attempts)
			}
			if p := d.Proof; p != nil {
				proof = fmt.Sprintf("proven: the index table read at %s shows them free (%d of %d slots used)", localTime(p.ReadAt), len(p.Used), p.Capacity)
				if !p.Confirmed { // the agent counts only a confirmed reading; say so if it ever sends another
					proof = "NOT PROVEN: the index table read at " + localTime(p.ReadAt) + " still shows a slot used"
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, d.CRN, d.Terminal, slotList(d.Slots), d.Why, d.By, localTime(d.RequestedAt), proof)
		}
		return tw.Flush()
	})
}
