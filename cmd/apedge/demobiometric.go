package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/apedge/apedge/agent"
	"github.com/apedge/apedge/agent/biometric"
	"github.com/apedge/apedge/devices/fingerprint"
	bridge "github.com/apedge/apedge/firmware-bridge"
	"github.com/apedge/apedge/formats/sitebus"
)

// The demo's fingerprint terminals (the demo bridge's fingerprintTerminals), the
// finger the enrolment officer enrols, its name and the resident who declines.
const (
	demoOfficerStaff  = "demo-officer"
	demoFrontTerminal = "front-fp"
	demoDeskTerminal  = "desk-fp"
	demoFinger        = "right-index"
	// demoDecliner declines the enrolment of their fingerprints: they have the
	// alternative, and come and go by the doors without a terminal.
	demoDecliner = "X100006"
)

// demoFingerID is the synthetic id of resident crn's finger (one of
// biometric.Fingers), by which the simulated terminals and people know it.
func demoFingerID(crn, finger string) string { return crn + "-" + finger }

// demoTerminal is a simulated fingerprint terminal as the enrolment officer, playing
// the resident, works it (*devices/fingerprint.Sim).
type demoTerminal interface {
	PlaceFinger(finger string)
	LiftFinger()
	FailNextCaptures(n int, code fingerprint.Code)
	PutTemplate(slot int, finger string) error
}

// enrolmentSite is what the demo's enrolment officer works with: the agent's
// biometrics (*agent.Biometrics) and the bridge's simulated terminals.
type enrolmentSite interface {
	Terminals(ctx context.Context) ([]agent.TerminalView, error)
	Resident(ctx context.Context, crn string) (agent.ResidentBiometrics, error)
	Consent(ctx context.Context, crn string, given bool, by string) (biometric.Consent, error)
	Enrol(ctx context.Context, crn, finger, terminal, by string) (agent.Enrolment, error)
	Enrolment(ctx context.Context, id string) (agent.Enrolment, bool, error)
	Enrolments(ctx context.Context, crn string) ([]agent.Enrolment, error)
	Cancel(ctx context.Context, id, by string) (agent.Enrolment, error)
	// Sim returns simulated terminal id, or nil before the bridge is ready.
	Sim(id string) demoTerminal
}

// liveEnrolmentSite is the demo's running agent and bridge as an enrolmentSite.
type liveEnrolmentSite struct {
	*agent.Biometrics
	br *bridge.Bridge
}

// Sim implements enrolmentSite.
func (s liveEnrolmentSite) Sim(id string) demoTerminal {
	select {
	case <-s.br.Ready():
	default:
		return nil
	}
	if sim := s.br.Sim(); sim != nil {
		if f := sim.Fingerprint(id); f != nil {
			return f
		}
	}
	return nil
}

// demoOfficer is the demo's enrolment officer. At the start it records each demo
// resident's consent (demoDecliner declines: the alternative is offered) and
// enrols the right index of each who consented on every terminal, playing the
// resident at the terminal: it follows the enrolment's live steps and puts the
// finger on the simulated sensor, lifts it and puts it back. Now and then (by its
// seed) an enrolment's first capture fails, so that a failed attempt is in the
// journal, and it tries once more. What an earlier run on the same directory did
// stands: consent is not asked again nor a finger enrolled twice, and the
// templates the agent records are put back in the simulated terminals, which start
// empty on every run, as a real terminal's library outlives a restart. The
// timing is the terminals' own, in real time (a terminal waits 30 s for a
// finger): nothing the officer does waits on the site's clock. It logs, and
// carries on, rather than stopping the demo.
type demoOfficer struct {
	site enrolmentSite
	log  *slog.Logger
	rng  *rand.Rand
	// residents are the CRNs asked, in order; terminals the terminals enrolled on.
	residents, terminals []string
	// failOneIn makes one enrolment in failOneIn (at random) fail its first
	// capture; 0: none.
	failOneIn int
	// terminalWait is how long, in real time, the officer waits for a terminal to
	// be online and free; enrolWait for an enrolment to end before cancelling it;
	// deadline for the whole of the enrolment at the start.
	terminalWait, enrolWait, deadline time.Duration
}

// newDemoOfficer returns the officer of a demo, enrolling the demo's residents on
// its two terminals, choosing by seed (0: a random seed).
func newDemoOfficer(site enrolmentSite, log *slog.Logger, seed uint64) *demoOfficer {
	if seed == 0 {
		seed = rand.Uint64()
	}
	o := &demoOfficer{site: site, log: log, rng: rand.New(rand.NewPCG(seed, seed>>1)),
		terminals: []string{demoFrontTerminal, demoDeskTerminal}, failOneIn: 10,
		terminalWait: 30 * time.Second, enrolWait: 45 * time.Second, deadline: 3 * time.Minute}
	for _, r := range demoResidents {
		o.residents = append(o.residents, r.crn)
	}
	return o
}

// officerTally counts what a run of the officer did.
type officerTally struct {
	mu                                       sync.Mutex
	consented, declined, enrolled, failed, n int // n: templates put back
}

func (t *officerTally) add(f func(t *officerTally)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f(t)
}

// run does the enrolment at the start, on the terminals in parallel, and returns
// when it is done, within o.deadline.
func (o *demoOfficer) run(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, o.deadline)
	defer cancel()
	var tally officerTally
	sims := map[string]demoTerminal{}
	for _, id := range o.terminals {
		if tr := o.waitFree(ctx, id); tr != nil {
			sims[id] = tr
		} else if ctx.Err() == nil {
			o.log.Warn("demo: enrolment officer skips a terminal: it is not online", "terminal", id, "waited", o.terminalWait)
		}
	}
	o.restore(ctx, sims, &tally)
	var consenting []string
	for _, crn := range o.residents {
		if o.consent(ctx, crn, &tally) {
			consenting = append(consenting, crn)
		}
	}
	failFirst := o.drawFailures(consenting)
	var wg sync.WaitGroup
	for _, id := range o.terminals {
		if tr := sims[id]; tr != nil {
			wg.Go(func() {
				for _, crn := range consenting {
					o.enrol(ctx, crn, id, tr, failFirst[id+"/"+crn], &tally)
				}
			})
		}
	}
	wg.Wait()
	o.log.Info(fmt.Sprintf("demo: enrolment officer done: %d residents consented, %d declined; %d fingers enrolled, %d attempts failed; %d templates of earlier runs put back in the simulated terminals",
		tally.consented, tally.declined, tally.enrolled, tally.failed, tally.n), "terminals", o.terminals)
}

// drawFailures draws which enrolments of crns (by "terminal/crn") fail their
// first capture: before the terminals' turns, which run in parallel, so that the
// draws are those of the seed.
func (o *demoOfficer) drawFailures(crns []string) map[string]bool {
	fail := map[string]bool{}
	for _, id := range o.terminals {
		for _, crn := range crns {
			fail[id+"/"+crn] = o.failOneIn > 0 && o.rng.IntN(o.failOneIn) == 0
		}
	}
	return fail
}

// waitFree returns simulated terminal id once the agent has it online with no
// enrolment under way, or nil if it is not within o.terminalWait or ctx ends.
func (o *demoOfficer) waitFree(ctx context.Context, id string) demoTerminal {
	return poll(ctx, o.terminalWait, func() (demoTerminal, bool) {
		views, err := o.site.Terminals(ctx)
		if err != nil {
			return nil, false
		}
		i := slices.IndexFunc(views, func(v agent.TerminalView) bool { return v.ID == id })
		if i < 0 || !views[i].Reported || views[i].Status == nil || !views[i].Status.Online || views[i].Status.Enrolling != "" || views[i].Enrolling != nil {
			return nil, false
		}
		tr := o.site.Sim(id)
		return tr, tr != nil
	})
}

// restore puts the templates the agent records as held (enrolled, or awaiting
// their deletion) on the simulated terminals sims back in their slots.
func (o *demoOfficer) restore(ctx context.Context, sims map[string]demoTerminal, tally *officerTally) {
	ens, err := o.site.Enrolments(ctx, "")
	if err != nil {
		if ctx.Err() == nil {
			o.log.Warn("demo: enrolment officer: the enrolments of earlier runs", "err", err)
		}
		return
	}
	for _, en := range ens {
		tr := sims[en.Terminal]
		if tr == nil || en.State != biometric.StateEnrolled && en.State != biometric.StateDeleting {
			continue
		}
		if err := tr.PutTemplate(en.Slot, demoFingerID(en.CRN, en.Finger)); err != nil {
			o.log.Warn("demo: enrolment officer: a template of an earlier run not put back", "terminal", en.Terminal, "slot", en.Slot, "err", err)
			continue
		}
		tally.add(func(t *officerTally) { t.n++ })
	}
}

// consent records resident crn's answer, unless one is recorded (by an earlier
// run), and says whether they consent.
func (o *demoOfficer) consent(ctx context.Context, crn string, tally *officerTally) bool {
	r, err := o.site.Resident(ctx, crn)
	if err != nil {
		if ctx.Err() == nil {
			o.log.Warn("demo: enrolment officer: a resident's biometrics", "crn", crn, "err", err)
		}
		return false
	}
	given := crn != demoDecliner
	if c := r.Consent; c != nil {
		given = c.Given
	} else if _, err := o.site.Consent(ctx, crn, given, demoOfficerStaff); err != nil {
		if ctx.Err() == nil {
			o.log.Warn("demo: enrolment officer could not record consent", "crn", crn, "err", err)
		}
		return false
	} else if !given {
		o.log.Info(fmt.Sprintf("demo: %s declined the enrolment of their fingerprints: the alternative (card and staff confirmation) is offered", crn))
	}
	tally.add(func(t *officerTally) {
		if given {
			t.consented++
		} else {
			t.declined++
		}
	})
	return given
}

// enrol enrols resident crn's demoFinger on terminal id, simulated by tr, unless
// they have a finger enrolled there: at most two attempts, the first failing its
// capture if failFirst.
func (o *demoOfficer) enrol(ctx context.Context, crn, id string, tr demoTerminal, failFirst bool, tally *officerTally) {
	if r, err := o.site.Resident(ctx, crn); err != nil || len(r.Fingers[id]) > 0 {
		return // enrolled there already, or the agent is stopping
	}
	for attempt := 1; attempt <= 2 && ctx.Err() == nil; attempt++ {
		if o.waitFree(ctx, id) == nil {
			if ctx.Err() == nil {
				o.log.Warn("demo: enrolment officer skips an enrolment: the terminal is not free", "crn", crn, "terminal", id)
			}
			return
		}
		if attempt == 1 && failFirst {
			tr.FailNextCaptures(1, fingerprint.CodeImageMessy)
		}
		en, err := o.site.Enrol(ctx, crn, demoFinger, id, demoOfficerStaff)
		if err != nil {
			tr.FailNextCaptures(0, 0)
			if ctx.Err() == nil {
				o.log.Warn("demo: enrolment officer could not start an enrolment", "crn", crn, "terminal", id, "err", err)
			}
			return
		}
		end := o.follow(ctx, en.ID, tr, demoFingerID(crn, demoFinger))
		tr.FailNextCaptures(0, 0)
		switch end.State {
		case biometric.StateEnrolled:
			tally.add(func(t *officerTally) { t.enrolled++ })
			o.log.Debug(fmt.Sprintf("demo: %s's %s enrolled on %s", crn, demoFinger, id), "enrolment", en.ID, "slot", end.Slot)
			return
		case biometric.StateFailed:
			tally.add(func(t *officerTally) { t.failed++ })
			o.log.Info(fmt.Sprintf("demo: enrolment %s of %s's %s on %s failed (%s)", en.ID, crn, demoFinger, id, end.Reason), "attempt", end.Attempt)
		default:
			o.cancel(ctx, en.ID, "the enrolment did not end")
			return
		}
	}
}

// follow plays the resident at terminal tr in enrolment id, with finger, until it
// ends (or o.enrolWait passes, or ctx ends), and returns it as it was last seen.
// The terminal waits at each step for the finger to come, or go.
func (o *demoOfficer) follow(ctx context.Context, id string, tr demoTerminal, finger string) agent.Enrolment {
	var last agent.Enrolment
	done := ""
	poll(ctx, o.enrolWait, func() (bool, bool) {
		en, ok, err := o.site.Enrolment(ctx, id)
		if err != nil || !ok {
			return false, false
		}
		last = en
		if en.State != biometric.StateEnrolling {
			return true, true
		}
		if en.Step == nil || en.Step.Step == done {
			return false, false
		}
		switch done = en.Step.Step; done {
		case sitebus.StepPlaceFinger, sitebus.StepPlaceAgain:
			tr.PlaceFinger(finger)
		case sitebus.StepLiftFinger:
			tr.LiftFinger()
		}
		return false, false
	})
	tr.LiftFinger()
	return last
}

// cancel cancels the officer's enrolment id, under way, saying why in the log.
func (o *demoOfficer) cancel(ctx context.Context, id, why string) {
	ctx, stop := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer stop()
	if _, err := o.site.Cancel(ctx, id, demoOfficerStaff); err != nil && !errors.Is(err, biometric.ErrState) {
		o.log.Warn("demo: enrolment officer could not cancel its enrolment", "enrolment", id, "err", err)
		return
	}
	o.log.Warn("demo: enrolment officer cancelled an enrolment: "+why, "enrolment", id, "waited", o.enrolWait)
}

// demoStaffEnrolCheck is how often, in real time, the officer looks for
// enrolments that staff started themselves at the simulated terminals.
const demoStaffEnrolCheck = 200 * time.Millisecond

// answerStaff plays the resident in every enrolment someone other than the
// officer starts at a simulated terminal (on the dashboard, or with apedge ctl),
// with the resident's synthetic finger, so that a new user enrolling a resident in
// the demo sees it through to its signed event. It runs until ctx ends and logs,
// never stops the demo.
func (o *demoOfficer) answerStaff(ctx context.Context) {
	tick := time.NewTicker(demoStaffEnrolCheck)
	defer tick.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	followed := map[string]bool{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		views, err := o.site.Terminals(ctx)
		if err != nil {
			continue // the agent is still replaying its journal
		}
		for _, v := range views {
			en := v.Enrolling
			if en == nil || en.By == demoOfficerStaff || followed[en.ID] {
				continue
			}
			tr := o.site.Sim(v.ID)
			if tr == nil {
				continue
			}
			followed[en.ID] = true
			wg.Go(func() {
				end := o.follow(ctx, en.ID, tr, demoFingerID(en.CRN, en.Finger))
				o.log.Info(fmt.Sprintf("demo: the resident put their finger to %s's enrolment %s of %s's %s on %s: %s", en.By, en.ID, en.CRN, en.Finger, v.ID, end.State))
			})
		}
	}
}
