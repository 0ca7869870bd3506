package console_test

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/agent/curfew"
	"github.com/apedge/apedge/devices/fingerprint"
	"github.com/chromedp/chromedp"
)

// bioPromptSaid records, in window.bioSaid, every text the enrolment prompt panel
// shows, in order: what the person at the terminal was told, step by step.
const bioPromptSaid = `(() => {
	window.bioSaid = [];
	if (window.bioWatch) return;
	const el = document.querySelector('#bio-prompt-text');
	window.bioWatch = new MutationObserver(() => {
		const t = el.textContent;
		if (window.bioSaid[window.bioSaid.length - 1] !== t) window.bioSaid.push(t);
	});
	window.bioWatch.observe(el, {childList: true, characterData: true, subtree: true});
})()`

// ukStamp is a time as the page writes it (app.js ukTime).
func ukStamp(t time.Time) string { return t.In(curfew.London()).Format("2 Jan 2006, 15:04 MST") }

// TestBiometricEnrolmentInBrowser is the fingerprint enrolment screen in headless
// Chromium as a keyworker at the enrolment desk uses it, against the simulated
// terminals through the real bridge: the terminals as they report; consent asked
// in so many words and recorded in the keyworker's name; an enrolment started
// through the form, the resident playing at the simulated desk as the prompt panel
// tells them, the panel saying each step's sentence and then the slot the agent
// allocated; the form's refusals in the API's own words; failed enrolments with
// their reasons in words, the alternative offered after the third; a cancel; a
// refusal of consent; a deletion that waits for a silent terminal and goes once the
// terminal proves it, and the orphan slot found meanwhile. A security officer is
// offered none of it.
func TestBiometricEnrolmentInBrowser(t *testing.T) {
	exe := chromium(t)
	s := newConsoleSite(t, withFingerprints())
	kw := s.bearer("keyworker-1")
	kw.terminalsOnline()
	desk := s.bridge.Sim().Fingerprint("desk-1")
	b := openBrowser(t, exe, 1440, 900)
	signIn := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(
			chromedp.WaitVisible(chromedp.CSS(`#signin-form`)),
			chromedp.Evaluate[chromedp.Void](`document.querySelector('#signin-form input[name=name]').value = ''; undefined`),
			chromedp.SendKeys(chromedp.CSS(`#signin-form input[name=name]`), name),
			chromedp.SendKeys(chromedp.CSS(`#signin-form input[name=password]`), password),
			chromedp.Submit(chromedp.CSS(`#signin-form`)),
			chromedp.WaitVisible(chromedp.CSS(`.door[data-door="front"]`)),
		)
	}
	text := func(sel string) string {
		t.Helper()
		return eval[string](b, `(document.querySelector(`+fmt.Sprintf("%q", sel)+`) || {}).textContent`)
	}
	said := func(sel, want string) chromedp.Action[chromedp.Void] {
		return b.poll(fmt.Sprintf(`(document.querySelector(%q) || {}).textContent === %q`, sel, want))
	}
	b.step("sign in as keyworker-1",
		chromedp.Navigate(s.srv.URL+"/"),
		chromedp.Evaluate[chromedp.Void](`localStorage.setItem('apedge.contract', '1'); undefined`),
		chromedp.Reload(),
		signIn("keyworker-1"),
	)
	b.step("open the biometrics view",
		chromedp.Click(chromedp.CSS(`#biometrics-nav`)),
		chromedp.WaitVisible(chromedp.CSS(`#bio-enrol-form`)),
		b.poll(`(document.querySelector('#bio-terminals tr[data-terminal="desk-1"] .term-online') || {}).textContent === '✓ online'`),
		b.poll(`(document.querySelector('#bio-terminals tr[data-terminal="front-fp"] .term-online') || {}).textContent === '✓ online'`),
		chromedp.WaitVisible(chromedp.CSS(`#bio-residents tr[data-crn="X100001"]`)),
	)

	// The terminals: name, id, where, status, templates of capacity, deletions, under way.
	ov := kw.bioOverview()
	capacity := map[string]int{}
	for _, tm := range ov.Terminals {
		if tm.Status != nil {
			capacity[tm.ID] = tm.Status.Capacity
		}
	}
	row := func(table, key, id string) string {
		return strings.Join(eval[[]string](b, `[...document.querySelectorAll('#`+table+` tr[data-`+key+`="`+id+`"] td')].map((td) => td.textContent)`), "|")
	}
	for _, c := range []struct{ id, want string }{
		{"desk-1", fmt.Sprintf("office enrolment desk|desk-1|enrolment desk|✓ online|0 of %d|none|—", capacity["desk-1"])},
		{"front-fp", fmt.Sprintf("front door|front-fp|front door|✓ online|0 of %d|none|—", capacity["front-fp"])},
	} {
		if got := row("bio-terminals", "terminal", c.id); got != c.want || capacity[c.id] == 0 {
			t.Errorf("terminal %s's row reads %q, want %q", c.id, got, c.want)
		}
	}
	if got := row("bio-residents", "crn", "X100001"); !strings.HasPrefix(got, "Resident One|? Not asked|none|0 of 3|") {
		t.Errorf("Resident One's row before consent reads %q", got)
	}
	options := func(name string) []string {
		return eval[[]string](b, `[...document.querySelectorAll('#bio-enrol-form select[name=`+name+`] option')].map((o) => o.value + '=' + o.textContent)`)
	}
	if got := options("crn"); !slices.Equal(got, []string{"=No resident has given consent yet"}) {
		t.Errorf("before anyone's consent the form offers residents %q; want none", got)
	}
	if got := options("finger"); len(got) != 10 || !slices.Contains(got, "right-index=Right index") || !slices.Contains(got, "left-thumb=Left thumb") {
		t.Errorf("the form's fingers %q; want the ten, in words", got)
	}
	b.shot("biometrics-1-view")

	// Consent, asked in so many words, recorded in the keyworker's name.
	b.step("ask Resident One's consent",
		chromedp.Click(chromedp.CSS(`#bio-residents tr[data-crn="X100001"] button.act-consent`)),
		chromedp.WaitVisible(chromedp.CSS(`#bio-consent[data-crn="X100001"] #bio-consent-given`)),
	)
	if got, want := text(`#bio-consent-q`), "Has Resident One given explicit consent to their fingerprints being enrolled? "+
		"They may decline: a card and a member of staff's confirmation at the door will be used instead."; got != want {
		t.Errorf("the consent question reads %q, want %q", got, want)
	}
	b.step("consent given",
		chromedp.Click(chromedp.CSS(`#bio-consent-given`)),
		b.poll(`document.querySelector('#bio-consent .form-message').dataset.kind === 'ok'`),
		b.poll(`document.querySelector('#bio-residents tr[data-crn="X100001"]').dataset.consent === 'given'`),
		b.poll(`document.querySelector('#bio-enrol-form select[name=crn]').value === 'X100001'`),
	)
	var rb struct {
		Consent *struct {
			Given bool
			By    string
			At    time.Time
		}
	}
	if code := kw.do("GET", "/api/v1/biometrics/residents/X100001", nil, &rb); code != http.StatusOK || rb.Consent == nil ||
		!rb.Consent.Given || rb.Consent.By != "keyworker-1" {
		t.Fatalf("Resident One's consent after the page: %d %+v; want given, taken by keyworker-1", code, rb.Consent)
	}
	given := "✓ Given by keyworker-1 at " + ukStamp(rb.Consent.At)
	if got := text(`#bio-residents tr[data-crn="X100001"] .bio-consent`); got != given {
		t.Errorf("Resident One's consent reads %q, want %q", got, given)
	}
	if got, want := text(`#bio-consent .form-message`), "Consent given by Resident One, recorded by keyworker-1 at "+ukStamp(rb.Consent.At)+
		": their fingers can be enrolled now."; got != want {
		t.Errorf("after the answer the consent panel says %q, want %q", got, want)
	}
	if got := options("crn"); !slices.Equal(got, []string{"=Choose a resident…", "X100001=Resident One"}) {
		t.Errorf("the form offers residents %q; want Resident One alone, who consented", got)
	}
	b.step("close the consent panel", chromedp.Click(chromedp.CSS(`#bio-consent-close`)), chromedp.WaitNotVisible(chromedp.CSS(`#bio-consent`)))

	// An enrolment through the form; the resident does what the prompt says.
	start := func(what, finger string) string {
		t.Helper()
		before := eval[string](b, `document.querySelector('#bio-prompt').dataset.enrolment || ''`)
		b.step(what,
			chromedp.Evaluate[chromedp.Void](bioPromptSaid+`; document.querySelector('#bio-enrol-message').dataset.kind = ''; undefined`),
			chromedp.SetValue(chromedp.CSS(`#bio-enrol-form select[name=crn]`), "X100001"),
			chromedp.SetValue(chromedp.CSS(`#bio-enrol-form select[name=finger]`), finger),
			chromedp.SetValue(chromedp.CSS(`#bio-enrol-form select[name=terminal]`), "desk-1"),
			chromedp.Submit(chromedp.CSS(`#bio-enrol-form`)),
			b.poll(`document.querySelector('#bio-enrol-message').dataset.kind === 'ok'`),
			b.poll(fmt.Sprintf(`(() => { const p = document.querySelector('#bio-prompt');
				return !p.hidden && !!p.dataset.enrolment && p.dataset.enrolment !== %q; })()`, before)),
		)
		return eval[string](b, `document.querySelector('#bio-prompt').dataset.enrolment`)
	}
	enrolment := func(id string) bioEnrolment {
		t.Helper()
		var en bioEnrolment
		if code := kw.do("GET", "/api/v1/biometrics/enrolments/"+id, nil, &en); code != http.StatusOK {
			t.Fatalf("GET enrolment %s: %d", id, code)
		}
		return en
	}
	prompt := func(want string) chromedp.Action[chromedp.Void] { return said(`#bio-prompt-text`, want) }
	first := start("start an enrolment of Resident One's right index on desk-1", "right-index")
	if got, want := text(`#bio-prompt-h`), "Enrolment "+first+": Resident One's right index on office enrolment desk"; got != want {
		t.Errorf("the prompt panel's heading %q, want %q", got, want)
	}
	for _, st := range []struct {
		step, say string
		do        func()
	}{
		{"place-finger", "Place the finger on the sensor", func() { desk.PlaceFinger("X100001/right-index") }},
		{"lift-finger", "Lift the finger", desk.LiftFinger},
		{"place-again", "Place the same finger again", func() { desk.PlaceFinger("X100001/right-index") }},
	} {
		b.step("the prompt: "+st.say, prompt(st.say),
			b.poll(`document.querySelector('#bio-prompt').dataset.step === '`+st.step+`'`))
		if st.step == "place-finger" {
			if cancel := eval[bool](b, `!document.querySelector('#bio-cancel').hidden`); !cancel {
				t.Error("no Cancel button while the enrolment is under way")
			}
			b.shot("biometrics-2-place-finger")
		}
		st.do()
	}
	b.step("enrolled", b.poll(`document.querySelector('#bio-prompt').dataset.state === 'enrolled'`))
	desk.LiftFinger()
	en := enrolment(first)
	enrolled := fmt.Sprintf("Enrolled: right index on office enrolment desk, slot %d", en.Slot)
	if got := text(`#bio-prompt-text`); en.State != "enrolled" || got != enrolled {
		t.Errorf("the prompt says %q (the enrolment %+v); want %q", got, en, enrolled)
	}
	if got := desk.Slots()[en.Slot]; got != "X100001/right-index" {
		t.Errorf("the terminal's slot %d holds %q; want Resident One's right index", en.Slot, got)
	}
	// What the panel said, in order: maybe a wait for the terminal's first word first,
	// and "Storing…" if it was on screen long enough to be shown.
	var seq []string
	for _, x := range eval[[]string](b, `window.bioSaid`) {
		if x != "Waiting for the terminal…" && x != "Storing…" {
			seq = append(seq, x)
		}
	}
	if want := []string{"Place the finger on the sensor", "Lift the finger", "Place the same finger again", enrolled}; !slices.Equal(seq, want) {
		t.Errorf("the prompt panel said %q, want %q", eval[[]string](b, `window.bioSaid`), want)
	}
	if shown := eval[bool](b, `!document.querySelector('#bio-cancel').hidden || !document.querySelector('#bio-prompt-alt').hidden`); shown {
		t.Error("an enrolment that ended still offers Cancel, or the alternative")
	}
	fingerRow := fmt.Sprintf("Right index on office enrolment desk, slot %d", en.Slot)
	b.step("the finger in Resident One's row",
		said(`#bio-residents tr[data-crn="X100001"] .bio-fingers li[data-state="enrolled"]`, fingerRow),
		b.poll(`!document.querySelector('#bio-residents tr[data-crn="X100001"] button.act-delete').hidden`),
		said(`#bio-terminals tr[data-terminal="desk-1"] .term-templates`, fmt.Sprintf("1 of %d", capacity["desk-1"])))
	b.shot("biometrics-3-enrolled")

	// The same finger again on the same terminal: the API's own words, at the form.
	var refused struct{ Error string }
	if code := kw.do("POST", "/api/v1/biometrics/enrolments", map[string]string{"crn": "X100001", "finger": "right-index", "terminal": "desk-1"},
		&refused); code != http.StatusConflict || refused.Error == "" {
		t.Fatalf("the same finger again through the API: %d %q, want 409", code, refused.Error)
	}
	b.step("the same finger again through the form",
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#bio-enrol-message').dataset.kind = ''; undefined`),
		chromedp.SetValue(chromedp.CSS(`#bio-enrol-form select[name=finger]`), "right-index"),
		chromedp.Submit(chromedp.CSS(`#bio-enrol-form`)),
		b.poll(`document.querySelector('#bio-enrol-message').dataset.kind === 'error'`))
	if got := text(`#bio-enrol-message`); got != refused.Error {
		t.Errorf("the form says %q; want the API's refusal %q", got, refused.Error)
	}

	// Three failed enrolments, each reason in words; after the third the alternative.
	for i, c := range []struct {
		finger string
		code   fingerprint.Code
		reason string
		words  string
	}{
		{"left-index", fingerprint.CodeImageMessy, "image-too-messy", "the picture of the finger was too messy to read"},
		{"left-middle", fingerprint.CodeFewFeatures, "too-few-features", "too little of the finger could be read"},
		{"left-ring", fingerprint.CodeImageFail, "image-failed", "the terminal could not take a picture of the finger"},
	} {
		desk.FailNextCaptures(1, c.code)
		id := start("an enrolment of the "+c.finger+", to fail", c.finger)
		b.step(c.finger+": the prompt", prompt("Place the finger on the sensor"))
		desk.PlaceFinger("X100001/" + c.finger)
		b.step(c.finger+" failed", b.poll(`document.querySelector('#bio-prompt').dataset.state === 'failed'`))
		desk.LiftFinger()
		got := enrolment(id)
		if got.Reason != c.reason || got.Attempt != i+1 {
			t.Errorf("enrolment %s ended %+v; want failed for %s, attempt %d", id, got, c.reason, i+1)
		}
		want := fmt.Sprintf("Enrolment failed: %s (attempt %d of 3)", c.words, got.Attempt)
		if now := text(`#bio-prompt-text`); now != want {
			t.Errorf("after the %s failed the prompt says %q, want %q", c.finger, now, want)
		}
		if i < 2 {
			if alt := eval[bool](b, `!document.querySelector('#bio-prompt-alt').hidden`); alt {
				t.Errorf("after %d failed attempts the alternative is offered already", i+1)
			}
			continue
		}
		b.step("the alternative offered", chromedp.WaitVisible(chromedp.CSS(`#bio-prompt-alt`)),
			said(`#bio-prompt-alt`, "Alternative offered: card and staff confirmation at the door"),
			said(`#bio-residents tr[data-crn="X100001"] .bio-consent`, given+" — alternative offered after 3 failed attempts"))
		b.shot("biometrics-4-alternative")
	}
	s.waitEvent("biometric.alternative-offered")

	// An enrolment cancelled while the terminal waits for the finger.
	cancelled := start("an enrolment of the left thumb, to cancel", "left-thumb")
	b.step("cancel it", prompt("Place the finger on the sensor"),
		chromedp.Click(chromedp.CSS(`#bio-cancel`)),
		prompt("Enrolment cancelled: not counted as an attempt"),
		chromedp.WaitNotVisible(chromedp.CSS(`#bio-cancel`)))
	if got := enrolment(cancelled); got.State != "failed" || got.Reason != "cancelled" {
		t.Errorf("the cancelled enrolment %+v; want failed, cancelled", got)
	}
	b.step("close the prompt", chromedp.Click(chromedp.CSS(`#bio-prompt-close`)), chromedp.WaitNotVisible(chromedp.CSS(`#bio-prompt`)))

	// Resident Two declines: the alternative, recorded.
	b.step("Resident Two declines",
		chromedp.Click(chromedp.CSS(`#bio-residents tr[data-crn="X100002"] button.act-consent`)),
		chromedp.WaitVisible(chromedp.CSS(`#bio-consent[data-crn="X100002"] #bio-consent-declined`)),
		chromedp.Click(chromedp.CSS(`#bio-consent-declined`)),
		b.poll(`document.querySelector('#bio-consent .form-message').dataset.kind === 'ok'`),
		b.poll(`document.querySelector('#bio-residents tr[data-crn="X100002"]').dataset.consent === 'declined'`),
		b.poll(`!document.querySelector('#bio-residents tr[data-crn="X100002"] .bio-consent').textContent.includes('no alternative')`))
	if code := kw.do("GET", "/api/v1/biometrics/residents/X100002", nil, &rb); code != http.StatusOK || rb.Consent == nil || rb.Consent.Given {
		t.Fatalf("Resident Two's consent after the page: %d %+v; want declined", code, rb.Consent)
	}
	if got, want := text(`#bio-residents tr[data-crn="X100002"] .bio-consent`), "✗ Declined — alternative offered (recorded by keyworker-1 at "+
		ukStamp(rb.Consent.At)+")"; got != want {
		t.Errorf("Resident Two's consent reads %q, want %q", got, want)
	}
	if got := text(`#bio-residents tr[data-crn="X100002"] button.act-consent`); got != "Ask consent again…" {
		t.Errorf("Resident Two's consent button reads %q", got)
	}
	if got := options("crn"); slices.ContainsFunc(got, func(o string) bool { return strings.HasPrefix(o, "X100002=") }) {
		t.Errorf("the form offers Resident Two, who declined: %q", got)
	}
	b.step("close the consent panel", chromedp.Click(chromedp.CSS(`#bio-consent-close`)))

	// The deletion, while desk-1 answers nothing: pending, its terminal offline; a
	// template nobody holds is put on the terminal meanwhile. Once the terminal
	// answers again the deletion is proven and leaves the list, and the orphan is listed.
	desk.Silent(true)
	const orphanSlot = 150
	if err := desk.PutTemplate(orphanSlot, "nobody/left-thumb"); err != nil {
		t.Fatal(err)
	}
	b.step("ask for the deletion",
		chromedp.Click(chromedp.CSS(`#bio-residents tr[data-crn="X100001"] button.act-delete`)),
		chromedp.WaitVisible(chromedp.CSS(`#bio-delete[data-crn="X100001"] #bio-delete-confirm`)))
	if got, want := text(`#bio-delete-q`), "Delete every fingerprint template of Resident One's ("+fmt.Sprintf("right index on office enrolment desk, slot %d", en.Slot)+
		")? From then on their fingers open no door. Each deletion counts only once its terminal reads its slots back as free."; got != want {
		t.Errorf("the deletion's confirmation asks %q, want %q", got, want)
	}
	b.step("confirm the deletion",
		chromedp.Click(chromedp.CSS(`#bio-delete-confirm`)),
		b.poll(`document.querySelector('#bio-delete .form-message').dataset.kind === 'ok'`),
		chromedp.WaitVisible(chromedp.CSS(`#bio-pending li[data-terminal="desk-1"]`)))
	if got, want := text(`#bio-delete .form-message`), fmt.Sprintf("Deletion of Resident One's templates asked of office enrolment desk (slot %d): "+
		"each is listed below as waiting until its terminal proves it.", en.Slot); got != want {
		t.Errorf("after the deletion the panel says %q, want %q", got, want)
	}
	b.step("desk-1 offline, the deletion waiting for it",
		b.poll(`document.querySelector('#bio-terminals tr[data-terminal="desk-1"] .term-online').textContent.startsWith('✗ offline')`),
		b.poll(`document.querySelector('#bio-pending li[data-terminal="desk-1"]').textContent.endsWith('terminal ✗ offline: it is sent when the terminal comes back')`),
		said(`#bio-terminals tr[data-terminal="desk-1"] .term-pending`, "⚠ 1 waiting"),
		said(`#bio-residents tr[data-crn="X100001"] .bio-fingers li`, fingerRow+" — deleting: waiting for the terminal's proof"))
	pending := text(`#bio-pending li[data-terminal="desk-1"]`)
	head := fmt.Sprintf("◌ Resident One: slot %d on office enrolment desk, asked by keyworker-1, waiting ", en.Slot)
	waited, ok := strings.CutPrefix(pending, head)
	waited, _ = strings.CutSuffix(waited, "; terminal ✗ offline: it is sent when the terminal comes back")
	if !ok || !regexp.MustCompile(`^\d+ (s|min)$`).MatchString(waited) {
		t.Errorf("the pending deletion reads %q; want %q, how long it has waited, and its terminal offline", pending, head+"…")
	}
	if overdue := eval[string](b, `document.querySelector('#bio-pending li[data-terminal="desk-1"]').dataset.overdue`); overdue != "false" {
		t.Errorf("a deletion of a minute is overdue: %q", overdue)
	}
	b.shot("biometrics-5-pending")
	desk.Silent(false)
	b.step("the deletion proven",
		chromedp.WaitNotPresent(chromedp.CSS(`#bio-pending li`)),
		chromedp.WaitVisible(chromedp.CSS(`#bio-pending-empty`)),
		said(`#bio-terminals tr[data-terminal="desk-1"] .term-online`, "✓ online"),
		said(`#bio-residents tr[data-crn="X100001"] .bio-fingers li`, "none"),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#bio-orphans li[data-terminal="desk-1"][data-slot="%d"]`, orphanSlot))))
	if _, held := desk.Slots()[en.Slot]; held {
		t.Errorf("slot %d still used on desk-1 after the deletion left the list: %v", en.Slot, desk.Slots())
	}
	var proven struct {
		Deletions []struct {
			Proof *struct{ Confirmed bool }
		}
	}
	if kw.do("GET", "/api/v1/biometrics/deletions", nil, &proven); len(proven.Deletions) != 1 || proven.Deletions[0].Proof == nil || !proven.Deletions[0].Proof.Confirmed {
		t.Errorf("the deletion left the pending list without its proof: %+v", proven.Deletions)
	}
	var orphans struct {
		Orphans []struct {
			Terminal string
			Slot     int
			SeenAt   time.Time
		}
	}
	kw.do("GET", "/api/v1/biometrics", nil, &orphans)
	if len(orphans.Orphans) != 1 || orphans.Orphans[0].Slot != orphanSlot {
		t.Fatalf("orphans %+v; want desk-1's slot %d", orphans.Orphans, orphanSlot)
	}
	if got, want := text(fmt.Sprintf(`#bio-orphans li[data-slot="%d"]`, orphanSlot)), fmt.Sprintf("⚠ office enrolment desk (desk-1), slot %d, since %s: "+
		"a template nobody holds: delete it at the terminal with apedge fingerprint delete %d", orphanSlot, ukStamp(orphans.Orphans[0].SeenAt), orphanSlot); got != want {
		t.Errorf("the orphan slot reads %q, want %q", got, want)
	}
	b.shot("biometrics-6-deleted")
	checkContract(t, eval[map[string]map[string]bool](b, `window.apedgeReads`))

	// Security: no biometrics view, and the overview refused to the session.
	b.step("sign in as security-1",
		chromedp.Click(chromedp.CSS(`#signout`)),
		chromedp.Evaluate[chromedp.Void](`window.apedgeReads = {}; undefined`),
		signIn("security-1"),
	)
	seen := eval[map[string]bool](b, `({nav: !document.querySelector('#biometrics-nav').hidden, view: !document.querySelector('#biometrics').hidden,
		rows: document.querySelectorAll('#bio-residents tbody tr, #bio-terminals tbody tr').length > 0,
		form: document.querySelector('#bio-enrol-form').offsetHeight > 0})`)
	for what, shown := range seen {
		if shown {
			t.Errorf("security-1 is offered the biometrics view: %s shown (%v)", what, seen)
		}
	}
	code, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`fetch('/api/v1/biometrics', {credentials: 'same-origin', headers: {Accept: 'application/json'}}).then((r) => r.status)`,
		chromedp.EvalAwaitPromise))
	if err != nil || code != http.StatusForbidden {
		t.Errorf("GET /api/v1/biometrics with security-1's session: %d (%v), want 403", code, err)
	}
	checkContract(t, eval[map[string]map[string]bool](b, `window.apedgeReads`))
}
