package console_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/agent/curfew"
	"github.com/apedge/apedge/agent/substance"
	"github.com/chromedp/chromedp"
)

// testRow is what a row of the substance tests table says, cell by cell.
type testRow struct {
	State, ID, Person, Sample, Device, StateText, Started, Witness, Reading, Text string
	Actions                                                                       []string
}

// readTestRow reads test id's row in the tests table.
func readTestRow(b *browserRun, id string) testRow {
	b.t.Helper()
	return eval[testRow](b, `(() => {
		const tr = document.querySelector('#substance-open tr[data-test="`+id+`"]');
		if (!tr) return {};
		const c = (cls) => tr.querySelector('.' + cls).textContent;
		return {state: tr.dataset.state, id: c('test-id'), person: c('test-person'), sample: c('test-sample'), device: c('test-device'),
			stateText: c('test-state'), started: c('test-started'), witness: c('test-witness'), reading: c('test-reading'),
			text: tr.textContent, actions: [...tr.querySelectorAll('.test-actions button')].filter((x) => !x.hidden).map((x) => x.textContent)};
	})()`)
}

// TestSubstanceInBrowser is the substance testing screen in headless Chromium as a
// keyworker uses it: the testers as the bridge reports them; a breath test started
// through the form, in the tests table awaiting its sample; the form's refusals in the
// API's own words; the simulated meter's reading (through the real bridge) closing
// the test; the result opened in its panel only, and gone from the screen when it is
// closed; the journal saying which test, not what it found. Then a meter whose
// calibration has lapsed: the new test's row says INVALID and why as soon as the
// reading arrives. A security officer is offered none of it and is refused the result.
func TestSubstanceInBrowser(t *testing.T) {
	exe := chromium(t)
	s := newConsoleSite(t)
	kw := s.bearer("keyworker-1")
	meter := s.bridge.Sim().SubstanceTester("breath-1")
	s.waitFor("breath-1 reported", func() (bool, string) {
		var v substanceOverview
		kw.do("GET", "/api/v1/substance", nil, &v)
		for _, tr := range v.Testers {
			if tr.ID == "breath-1" {
				return tr.Status != nil && tr.Status.Online, fmt.Sprintf("%+v", tr)
			}
		}
		return false, fmt.Sprintf("%+v", v.Testers)
	})
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
	b.step("sign in as keyworker-1",
		chromedp.Navigate(s.srv.URL+"/"),
		chromedp.Evaluate[chromedp.Void](`localStorage.setItem('apedge.contract', '1'); undefined`),
		chromedp.Reload(),
		signIn("keyworker-1"),
	)
	b.step("open the substance view",
		chromedp.Click(chromedp.CSS(`#substance-nav`)),
		chromedp.WaitVisible(chromedp.CSS(`#substance-start-form`)),
		b.poll(`(document.querySelector('#substance-testers tr[data-tester="breath-1"] .tester-online') || {}).textContent === '✓ online'`),
		b.poll(`!!document.querySelector('#substance-start-form select[name=crn] option[value="X100001"]')`),
	)
	tester := func(id string) []string {
		return eval[[]string](b, `[...document.querySelectorAll('#substance-testers tr[data-tester="`+id+`"] td')].map((td) => td.textContent)`)
	}
	// Tester, Kind, Status, Serial, Calibration due, Self-check, Awaiting its sample.
	due := noon.AddDate(0, 0, 180).Format(time.DateOnly) // the simulated meter's calibration
	if got, want := strings.Join(tester("breath-1"), "|"), strings.Join([]string{"breath-1", "breath-alcohol meter", "✓ online",
		meter.Serial(), due, "✓ pass", "—"}, "|"); got != want {
		t.Errorf("breath-1's row reads %q, want %q", got, want)
	}
	b.shot("substance-1-view")

	// The form: a breath test for Resident One on breath-1, witnessed.
	fill := func(crn, sample, device, witness string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(
			chromedp.SetValue(chromedp.CSS(`#substance-start-form select[name=crn]`), crn),
			chromedp.SetValue(chromedp.CSS(`#substance-start-form select[name=reason]`), "random"),
			chromedp.SetValue(chromedp.CSS(`#substance-start-form select[name=sampleType]`), sample), // and its change event
			chromedp.SetValue(chromedp.CSS(`#substance-start-form select[name=device]`), device),
			chromedp.Evaluate[chromedp.Void](`document.querySelector('#substance-start-form input[name=witness]').value = ''; undefined`),
			chromedp.SendKeys(chromedp.CSS(`#substance-start-form input[name=witness]`), witness),
			chromedp.Submit(chromedp.CSS(`#substance-start-form`)),
		)
	}
	message := func() (string, string) {
		m := eval[map[string]string](b, `(() => { const m = document.querySelector('#substance-start-message');
			return {text: m.textContent, kind: m.dataset.kind || '', shown: String(m.offsetHeight > 0)}; })()`)
		if m["shown"] != "true" {
			t.Errorf("the start form's message %q is not on screen", m["text"])
		}
		return m["text"], m["kind"]
	}
	b.step("start a breath test for Resident One",
		fill("X100001", "breath", "breath-1", "Sam Staff"),
		b.poll(`document.querySelector('#substance-start-message').dataset.kind === 'ok'`),
		chromedp.WaitVisible(chromedp.CSS(`#substance-open tr[data-test]`)),
	)
	tests, err := s.agent.Substances().Tests(t.Context(), true)
	if err != nil || len(tests) != 1 {
		t.Fatalf("tests after the form: %+v %v", tests, err)
	}
	first := tests[0]
	if first.ID != "T-1" || first.CRN != "X100001" || first.SampleType != "breath" || first.Device != "breath-1" ||
		first.Witness != "Sam Staff" || first.Staff != "keyworker-1" || first.Reason != "random" {
		t.Errorf("the form started %+v; want T-1, a random breath test of X100001 on breath-1 by keyworker-1, witnessed by Sam Staff", first)
	}
	if text, kind := message(); kind != "ok" || text != "Test T-1 started for Resident One: awaiting its sample on breath-1" {
		t.Errorf("after starting, the form says %q (%s)", text, kind)
	}
	started := first.StartedAt.In(curfew.London()).Format("2 Jan 2006, 15:04 MST") + " by keyworker-1"
	row := readTestRow(b, "T-1")
	if row.ID != "T-1" || row.Person != "Resident One" || row.Sample != "breath (alcohol), random" || row.Device != "breath-1" ||
		row.State != "awaiting-sample" || row.StateText != "◌ awaiting sample" || row.Started != started || row.Witness != "Sam Staff" ||
		row.Reading != "waiting for the reading" || strings.Join(row.Actions, "|") != "Refusal…|Close…|Open result" {
		t.Errorf("T-1's row %+v; want Resident One's breath test on breath-1 awaiting its sample, started %s, witnessed by Sam Staff", row, started)
	}
	b.step("breath-1 busy with T-1", b.poll(`document.querySelector('#substance-testers tr[data-tester="breath-1"] .tester-busy').textContent === 'test T-1'`))
	b.shot("substance-2-started")

	// Refusals are the API's own words, on screen at the form: a busy device (409),
	// a drug test with no authorisation (422).
	for _, c := range []struct {
		name, crn, sample, device string
		code                      int
	}{{"a second test at busy breath-1", "X100002", "breath", "breath-1", http.StatusConflict},
		{"an oral-fluid test with no authorisation", "X100002", "oral-fluid", "oral-1", http.StatusUnprocessableEntity}} {
		var refused struct{ Error string }
		if code := kw.do("POST", "/api/v1/substance/tests", map[string]any{"crn": c.crn, "reason": "random", "sampleType": c.sample,
			"device": c.device, "witness": "Sam Staff"}, &refused); code != c.code || refused.Error == "" {
			t.Fatalf("%s through the API: %d %q, want %d", c.name, code, refused.Error, c.code)
		}
		b.step(c.name,
			chromedp.Evaluate[chromedp.Void](`document.querySelector('#substance-start-message').dataset.kind = ''; undefined`),
			fill(c.crn, c.sample, c.device, "Sam Staff"),
			b.poll(`document.querySelector('#substance-start-message').dataset.kind === 'error'`),
		)
		if text, kind := message(); kind != "error" || text != refused.Error {
			t.Errorf("%s: the form says %q (%s); want the API's refusal %q", c.name, text, kind, refused.Error)
		}
	}
	b.shot("substance-3-refused")

	// The meter reads 31 µg/100 ml, over the limit: the test closes; the table says
	// so, and never what it found.
	if err := meter.Breath(31, ""); err != nil {
		t.Fatal(err)
	}
	b.step("T-1 closed", b.poll(`(document.querySelector('#substance-open tr[data-test="T-1"]') || {dataset: {}}).dataset.state === 'closed'`))
	row = readTestRow(b, "T-1")
	if row.StateText != "■ closed" || strings.Contains(row.Text, "31") || strings.Contains(row.Text, "negative") ||
		strings.Join(row.Actions, "|") != "Open result" {
		t.Errorf("T-1's row once read %+v; want closed, with no result in it, and only its result to open", row)
	}
	b.step("breath-1 free", b.poll(`document.querySelector('#substance-testers tr[data-tester="breath-1"] .tester-busy').textContent === '—'`))

	// The result, in its panel.
	b.step("open T-1's result",
		chromedp.Click(chromedp.CSS(`#substance-open tr[data-test="T-1"] button.act-result`)),
		chromedp.WaitVisible(chromedp.CSS(`#substance-result dd[data-field="outcome"]`)),
	)
	b.shot("substance-4-result")
	res := eval[map[string]string](b, `(() => { const o = {heading: document.querySelector('#substance-result-h').textContent};
		for (const dd of document.querySelectorAll('#substance-result dd[data-field]')) o[dd.dataset.field] = dd.textContent;
		for (const tr of document.querySelectorAll('#substance-result-panels tr[data-panel]')) o['panel ' + tr.dataset.panel] = [...tr.cells].map((c) => c.textContent).join('|');
		return o; })()`)
	for field, want := range map[string]string{
		"heading":       "Result of test T-1: Resident One, breath (alcohol)",
		"outcome":       "⚠ non-negative",
		"state":         "■ closed",
		"alcohol":       "31 µg/100 ml of breath (limit 9 µg/100 ml)",
		"validity":      "✓ valid",
		"device":        "breath-1, serial " + meter.Serial() + ", firmware sim-1.0, its test no. 1",
		"calibration":   "in-date, due " + due,
		"selfCheck":     "pass",
		"panel alcohol": "alcohol|⚠ non-negative|9 µg/100 ml",
	} {
		if res[field] != want {
			t.Errorf("the result's %s reads %q, want %q (the panel: %v)", field, res[field], want, res)
		}
	}
	viewed := s.waitEvent("staff.substance-result-viewed")
	if !strings.Contains(string(viewed.Data), `"by":"keyworker-1"`) || !strings.Contains(string(viewed.Data), `"testId":"T-1"`) {
		t.Errorf("opening the result was audited as %s; want keyworker-1 viewing T-1", viewed.Data)
	}
	b.step("close the result", chromedp.Click(chromedp.CSS(`#substance-result-close`)), chromedp.WaitNotVisible(chromedp.CSS(`#substance-result`)))
	if text := eval[string](b, `document.body.innerText`); strings.Contains(text, "µg") || strings.Contains(text, "non-negative") {
		t.Errorf("with the result closed the screen still shows it:\n%s", text)
	}

	// The journal, as the stream delivered it: which test, whose, and not what it found.
	tested := s.waitEvent("substance.tested")
	if !strings.Contains(string(tested.Data), `"alcoholUgPer100ml":31`) {
		t.Errorf("the signed event lost its figure: %s", tested.Data)
	}
	var j struct {
		Events []struct {
			Seq      uint64
			Sentence string
		}
	}
	kw.do("GET", "/api/v1/journal?type=substance.tested", nil, &j)
	sentence := ""
	for _, e := range j.Events {
		if e.Seq == tested.Seq {
			sentence = e.Sentence
		}
	}
	if !strings.HasPrefix(sentence, "Breath test T-1 of Resident One: screening result recorded at ") {
		t.Fatalf("the journal's sentence for substance.tested (seq %d) is %q", tested.Seq, sentence)
	}
	item := fmt.Sprintf(`#event-list li[data-seq="%d"]`, tested.Seq)
	b.step("the reading in the recent events", chromedp.WaitVisible(chromedp.CSS(item)))
	if got := eval[string](b, `document.querySelector('`+item+` .event-type').textContent`); got != sentence ||
		strings.Contains(got, "31") || strings.Contains(got, "negative") {
		t.Errorf("the recent events say %q for the reading; want the journal's %q, without the figure", got, sentence)
	}

	// A meter whose calibration has lapsed: its row says so, and a new test's row says
	// INVALID and why, at once, on the screen where it was started.
	lapsed := s.clock.Now().AddDate(0, 0, -10).Format(time.DateOnly)
	if err := meter.SetCalibrationDue(lapsed); err != nil {
		t.Fatal(err)
	}
	b.step("breath-1's calibration overdue",
		b.poll(`document.querySelector('#substance-testers tr[data-tester="breath-1"] .tester-calibration').textContent === '⚠ `+lapsed+`: OVERDUE'`))
	b.step("start a breath test for Resident Two",
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#substance-start-message').dataset.kind = ''; undefined`),
		fill("X100002", "breath", "breath-1", "Sam Staff"),
		b.poll(`document.querySelector('#substance-start-message').dataset.kind === 'ok'`),
		chromedp.WaitVisible(chromedp.CSS(`#substance-open tr[data-test="T-2"]`)),
	)
	if err := meter.Breath(5, ""); err != nil {
		t.Fatal(err)
	}
	var reasons []string
	s.waitFor("T-2 read", func() (bool, string) {
		t2, _, err := s.agent.Substances().Test(t.Context(), "T-2")
		if t2.Screen != nil {
			reasons = t2.Screen.InvalidReasons
		}
		return t2.Screen != nil, fmt.Sprint(err)
	})
	if len(reasons) == 0 || !strings.Contains(strings.Join(reasons, " "), "calibration was due on "+lapsed) {
		t.Fatalf("a reading on a lapsed calibration: reasons %q", reasons)
	}
	want := "⚠ INVALID: " + strings.Join(reasons, "; ")
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](`(document.querySelector('#substance-open tr[data-test="T-2"] .test-reading') || {}).textContent === `+
		fmt.Sprintf("%q", want), chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Errorf("T-2's row %+v; want its reading cell to say %q as soon as the reading arrives (a reading closes a breath test, "+
			"and GET /api/v1/substance lists only open tests: unless it lists those just closed too, their validity never reaches the page)", readTestRow(b, "T-2"), want)
	}
	b.shot("substance-5-invalid")
	if level := eval[string](b, `document.querySelector('#substance-open tr[data-test="T-2"] .test-reading').dataset.level`); level != "bad" {
		t.Errorf("T-2's reading cell is at level %q, want bad", level)
	}
	checkContract(t, eval[map[string]map[string]bool](b, `window.apedgeReads`))

	// Results are kept nowhere but the panel: not in the page's state.
	if st := eval[string](b, `JSON.stringify({substance: S.substance, seen: [...S.subSeen.values()], journal: S.journal})`); strings.Contains(st, "alcoholUgPer100ml") ||
		strings.Contains(st, "non-negative") || strings.Contains(st, `"outcome"`) {
		t.Errorf("the page's state holds a result: %s", st)
	}

	// Security: no substance view, and the result refused to the session.
	b.step("sign in as security-1",
		chromedp.Click(chromedp.CSS(`#signout`)),
		chromedp.Evaluate[chromedp.Void](`window.apedgeReads = {}; undefined`),
		signIn("security-1"),
	)
	seen := eval[map[string]bool](b, `({nav: !document.querySelector('#substance-nav').hidden, view: !document.querySelector('#substance').hidden,
		rows: document.querySelectorAll('#substance-open tr').length > 1, form: document.querySelector('#substance-start-form').offsetHeight > 0})`)
	for what, shown := range seen {
		if shown {
			t.Errorf("security-1 is offered the substance view: %s shown (%v)", what, seen)
		}
	}
	for _, path := range []string{"/api/v1/substance/tests/T-1", "/api/v1/substance"} {
		code, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`fetch('`+path+`', {credentials: 'same-origin', headers: {Accept: 'application/json'}}).then((r) => r.status)`,
			chromedp.EvalAwaitPromise))
		if err != nil || code != http.StatusForbidden {
			t.Errorf("GET %s with security-1's session: %d (%v), want 403", path, code, err)
		}
	}
	b.shot("substance-6-security")
	checkContract(t, eval[map[string]map[string]bool](b, `window.apedgeReads`))
}

// TestSubstanceDrugTestInBrowser is the rest of the substance screen's work, as a
// manager does it in headless Chromium: an oral-fluid test under an authorisation
// typed into the form (in UK local time), which the form then offers; a non-negative
// screen through its chain of custody, step by step; the sample overdue at the
// laboratory; the laboratory's result entered from the result panel; a urine cup's
// result entered per panel, on an expired cup, INVALID at once; a refusal; a test
// closed; a reading that matched no test.
func TestSubstanceDrugTestInBrowser(t *testing.T) {
	exe := chromium(t)
	s := newConsoleSite(t)
	subs := s.agent.Substances()
	test := func(id string) substance.Test {
		t.Helper()
		got, ok, err := subs.Test(t.Context(), id)
		if err != nil || !ok {
			t.Fatalf("test %s: %v %v", id, ok, err)
		}
		return got
	}
	b := openBrowser(t, exe, 1440, 900)
	b.step("sign in as manager-1 and open the substance view",
		chromedp.Navigate(s.srv.URL+"/"),
		chromedp.Evaluate[chromedp.Void](`localStorage.setItem('apedge.contract', '1'); undefined`),
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS(`#signin-form`)),
		chromedp.SendKeys(chromedp.CSS(`#signin-form input[name=name]`), "manager-1"),
		chromedp.SendKeys(chromedp.CSS(`#signin-form input[name=password]`), password),
		chromedp.Submit(chromedp.CSS(`#signin-form`)),
		chromedp.Click(chromedp.CSS(`#substance-nav`)),
		b.poll(`(document.querySelector('#substance-testers tr[data-tester="oral-1"] .tester-online') || {}).textContent === '✓ online'`),
		b.poll(`!!document.querySelector('#substance-start-form select[name=crn] option[value="X100002"]')`),
	)
	form := func(sel string) chromedp.CSS { return chromedp.CSS(`#substance-start-form ` + sel) }
	start := func(what, crn, sample, device string, more ...chromedp.Action[chromedp.Void]) string {
		t.Helper()
		before := eval[float64](b, `document.querySelectorAll('#substance-open tr[data-test]').length`)
		steps := []chromedp.Action[chromedp.Void]{
			chromedp.Evaluate[chromedp.Void](`document.querySelector('#substance-start-message').dataset.kind = '';
				document.querySelector('#substance-start-form input[name=witness]').value = ''; undefined`),
			chromedp.SetValue(form(`select[name=crn]`), crn),
			chromedp.SetValue(form(`select[name=reason]`), "suspicion"),
			chromedp.SetValue(form(`select[name=sampleType]`), sample),
		}
		if device != "" {
			steps = append(steps, chromedp.SetValue(form(`select[name=device]`), device))
		}
		steps = append(steps, more...)
		steps = append(steps, chromedp.SendKeys(form(`input[name=witness]`), "Sam Staff"), chromedp.Submit(form(``)),
			b.poll(`document.querySelector('#substance-start-message').dataset.kind === 'ok'`),
			b.poll(fmt.Sprintf(`document.querySelectorAll('#substance-open tr[data-test]').length > %v`, before)))
		b.step(what, steps...)
		msg := eval[string](b, `document.querySelector('#substance-start-message').textContent`)
		id, _, _ := strings.Cut(strings.TrimPrefix(msg, "Test "), " ")
		return id
	}
	action := func(id, kind string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(
			chromedp.Click(chromedp.CSS(`#substance-open tr[data-test="`+id+`"] button.act-`+kind)),
			chromedp.WaitVisible(chromedp.CSS(`#substance-action[data-test="`+id+`"][data-action="`+kind+`"] form[data-action="`+kind+`"]`)),
		)
	}
	actionSaid := func(want string) chromedp.Action[chromedp.Void] {
		return b.poll(`(() => { const m = document.querySelector('#substance-action .form-message');
			return m.dataset.kind === 'ok' && m.textContent === ` + fmt.Sprintf("%q", want) + `; })()`)
	}

	// An oral-fluid test under the manager's authorisation, typed in UK local time.
	oral := start("an oral-fluid test under AUTH-7", "X100002", "oral-fluid", "oral-1",
		chromedp.SendKeys(form(`input[name=authRef]`), "AUTH-7"),
		chromedp.SendKeys(form(`input[name=authManager]`), "Mo Manager"),
		chromedp.SetValue(form(`input[name=authFrom]`), "2026-06-09T12:00"),
		chromedp.SetValue(form(`input[name=authTo]`), "2026-07-10T12:00"))
	got := test(oral)
	if a := got.Authorisation; a == nil || a.Ref != "AUTH-7" || a.Manager != "Mo Manager" ||
		!a.From.Equal(time.Date(2026, 6, 9, 11, 0, 0, 0, time.UTC)) || !a.To.Equal(time.Date(2026, 7, 10, 11, 0, 0, 0, time.UTC)) {
		t.Errorf("the form's authorisation was taken as %+v; want AUTH-7 (Mo Manager) from 12:00 BST on 9 June (11:00 UTC) to 12:00 BST on 10 July", a)
	}
	if got.SampleType != "oral-fluid" || got.Device != "oral-1" || got.Reason != "suspicion" || got.Staff != "manager-1" {
		t.Errorf("the oral-fluid test: %+v", got)
	}
	// A fresh page offers that authorisation, as it is in force. (What this page read
	// is checked first: a new page records its reads afresh.)
	checkContract(t, eval[map[string]map[string]bool](b, `window.apedgeReads`))
	b.step("the form offers AUTH-7",
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS(`#substance-start-form`)),
		b.poll(`document.querySelector('#substance-start-form input[name=authRef]').value === 'AUTH-7'`),
	)
	if got := eval[[]string](b, `['authRef', 'authManager', 'authFrom', 'authTo'].map((n) => document.querySelector('#substance-start-form input[name=' + n + ']').value)`); strings.Join(got, "|") !=
		"AUTH-7|Mo Manager|2026-06-09T12:00|2026-07-10T12:00" {
		t.Errorf("the form offers the authorisation as %q", got)
	}

	// Cocaine non-negative: awaiting confirmation; the chain of custody, step by step.
	if err := s.bridge.Sim().SubstanceTester("oral-1").OralFluid(map[string]string{"cocaine": "non-negative"}, oral); err != nil {
		t.Fatal(err)
	}
	b.step("the screen awaiting confirmation", b.poll(`document.querySelector('#substance-open tr[data-test="`+oral+`"]').dataset.state === 'awaiting-confirmation'`))
	if r := readTestRow(b, oral); r.StateText != "… awaiting confirmation" || r.Reading != "✓ valid" || strings.Join(r.Actions, "|") != "Custody…|Close…|Open result" ||
		strings.Contains(r.Text, "cocaine") {
		t.Errorf("the oral-fluid test's row %+v; want awaiting confirmation, valid, its custody to record, and no result", r)
	}
	b.step("custody: collected", action(oral, "custody"),
		chromedp.Click(chromedp.CSS(`#substance-custody-form button[data-stage="collected"]`)),
		actionSaid("Test "+oral+"'s sample collected for confirmation"),
		chromedp.WaitVisible(chromedp.CSS(`#substance-custody-form input[name=seal]`)))
	b.step("custody: sealed",
		chromedp.SendKeys(chromedp.CSS(`#substance-custody-form input[name=seal]`), "SEAL-0042"),
		chromedp.Click(chromedp.CSS(`#substance-custody-form button[data-stage="sealed"]`)),
		actionSaid("Test "+oral+"'s sample sealed: seal SEAL-0042"),
		chromedp.WaitVisible(chromedp.CSS(`#substance-custody-form button[data-stage="dispatched"]`)))
	b.step("custody: dispatched",
		chromedp.Click(chromedp.CSS(`#substance-custody-form button[data-stage="dispatched"]`)),
		actionSaid("Test "+oral+"'s sample sent to the laboratory"),
		chromedp.WaitVisible(chromedp.CSS(`#substance-custody-form button[data-stage="received"]`)))
	b.step("custody: received",
		chromedp.Click(chromedp.CSS(`#substance-custody-form button[data-stage="received"]`)),
		actionSaid("Test "+oral+"'s sample received by the laboratory"),
		b.poll(`document.querySelectorAll('#substance-custody-form .custody-list li').length === 4`))
	custody := eval[[]string](b, `[...document.querySelectorAll('#substance-custody-form .custody-list li')].map((li) => li.textContent)`)
	if len(custody) != 4 || !strings.HasPrefix(custody[1], "sealed (seal SEAL-0042) by manager-1, 10 Jun 2026, 12:0") ||
		!strings.HasPrefix(custody[3], "received by the laboratory (seal SEAL-0042) by manager-1, ") {
		t.Errorf("the custody list reads %q", custody)
	}
	if got := test(oral); len(got.Custody) != 4 || got.Seal != "SEAL-0042" || got.Custody[2].Stage != "dispatched" || got.Custody[3].By != "manager-1" {
		t.Errorf("the custody recorded: %+v", got.Custody)
	}
	b.step("done with custody", chromedp.Click(chromedp.CSS(`#substance-action-cancel`)), chromedp.WaitNotVisible(chromedp.CSS(`#substance-action`)))

	// A urine cup past its expiry: its result is entered per panel, and is INVALID at once.
	urine := start("a urine test", "X100001", "urine", "")
	if d := eval[map[string]string](b, `(() => { const s = document.querySelector('#substance-start-form select[name=device]');
		return {disabled: String(s.disabled), text: s.options[0].textContent}; })()`); d["disabled"] != "true" || d["text"] != "none: staff read the cup" {
		t.Errorf("for a urine cup the device list is %v; want none, and not to be chosen", d)
	}
	if r := readTestRow(b, urine); strings.Join(r.Actions, "|") != "Enter cup result…|Refusal…|Close…|Open result" || r.Device != "—" {
		t.Errorf("the urine test's row %+v; want its cup's result to enter", r)
	}
	b.step("enter the cup's result", action(urine, "urine"),
		chromedp.SendKeys(chromedp.CSS(`#substance-urine-form input[name=lot]`), "CUP-17"),
		chromedp.SetValue(chromedp.CSS(`#substance-urine-form input[name=expiry]`), "2026-06-01"),
		chromedp.SetValue(chromedp.CSS(`#substance-urine-form select[data-panel="thc"]`), "non-negative"),
		chromedp.SetValue(chromedp.CSS(`#substance-urine-form select[data-panel="cocaine"]`), "negative"),
		chromedp.Submit(chromedp.CSS(`#substance-urine-form`)),
		b.poll(`document.querySelector('#substance-action .form-message').dataset.kind === 'ok'`),
		b.poll(`document.querySelector('#substance-open tr[data-test="`+urine+`"]').dataset.state === 'closed'`))
	cup := test(urine)
	if cup.Screen == nil || cup.Screen.Lot != "CUP-17" || cup.Screen.EnteredBy != "manager-1" || len(cup.Screen.Panels) != 2 || cup.Screen.Valid {
		t.Fatalf("the cup's result recorded as %+v; want CUP-17's two panels, entered by manager-1, invalid", cup.Screen)
	}
	want := "⚠ INVALID: " + strings.Join(cup.Screen.InvalidReasons, "; ")
	if r := readTestRow(b, urine); r.Reading != want || !strings.Contains(r.Reading, "the cup expired on 2026-06-01") || r.StateText != "■ closed" {
		t.Errorf("the urine test's row %+v; want closed and %q", r, want)
	}
	b.step("done with the cup", chromedp.Click(chromedp.CSS(`#substance-action-cancel`)))

	// A breath test the resident could not give; another started in error, closed.
	unable := start("a breath test for a refusal", "X100001", "breath", "breath-1")
	b.step("record that no sample could be given", action(unable, "refusal"),
		chromedp.SetValue(chromedp.CSS(`#substance-refusal-form select[name=refusal]`), "unable"),
		chromedp.SendKeys(chromedp.CSS(`#substance-refusal-form input[name=witness]`), "Sam Staff"),
		chromedp.Submit(chromedp.CSS(`#substance-refusal-form`)),
		actionSaid("Unable to give a sample recorded for test "+unable+": it is closed"),
		b.poll(`document.querySelector('#substance-open tr[data-test="`+unable+`"]').dataset.state === 'closed'`))
	if got := test(unable); got.Refusal == nil || got.Refusal.Refusal != "unable" || got.Refusal.Witness != "Sam Staff" || got.State != "closed" {
		t.Errorf("the refusal recorded as %+v", got.Refusal)
	}
	wrong := start("a breath test started in error", "X100002", "breath", "breath-1")
	b.step("close it", action(wrong, "close"),
		chromedp.SendKeys(chromedp.CSS(`#substance-close-form input[name=note]`), "started for the wrong resident"),
		chromedp.Submit(chromedp.CSS(`#substance-close-form`)),
		actionSaid("Test "+wrong+" closed"),
		b.poll(`document.querySelector('#substance-open tr[data-test="`+wrong+`"]').dataset.state === 'closed'`))
	if got := test(wrong); got.Closure == nil || got.Closure.Outcome != "cancelled" || got.Closure.Note != "started for the wrong resident" {
		t.Errorf("the closure recorded as %+v", got.Closure)
	}

	// A reading at breath-1 with no test awaiting it: held, listed, raised.
	if err := s.bridge.Sim().SubstanceTester("breath-1").Breath(12, ""); err != nil {
		t.Fatal(err)
	}
	b.step("the unbound reading listed", chromedp.WaitVisible(chromedp.CSS(`#substance-unbound li[data-device="breath-1"]`)),
		b.poll(`[...document.querySelectorAll('.alarm')].some((a) => a.textContent.includes('Substance reading matched no test'))`))
	unbound, err := subs.Unbound(t.Context())
	if err != nil || len(unbound) != 1 {
		t.Fatalf("unbound readings: %+v %v", unbound, err)
	}
	if got := eval[string](b, `document.querySelector('#substance-unbound li[data-device="breath-1"]').textContent`); !strings.HasPrefix(got,
		fmt.Sprintf("⚠ breath-1 (serial SIM-breath-1), its test no. %d measured 10 Jun 2026, 12:0", unbound[0].Reading.TestNumber)) ||
		!strings.Contains(got, ": "+unbound[0].Why+"; held, attached to no one") || strings.Contains(got, "12 µg") {
		t.Errorf("the unbound reading reads %q; want its device, number, time and why (%q), and not its figure", got, unbound[0].Why)
	}

	// Fifteen days on (a new session: the last has long expired), the sample is
	// overdue at the laboratory.
	checkContract(t, eval[map[string]map[string]bool](b, `window.apedgeReads`))
	s.clock.Set(s.clock.Now().Add(15 * 24 * time.Hour))
	b.step("the sample overdue at the laboratory", chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS(`#signin-form`)),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#signin-form input[name=name]').value = ''; undefined`),
		chromedp.SendKeys(chromedp.CSS(`#signin-form input[name=name]`), "manager-1"),
		chromedp.SendKeys(chromedp.CSS(`#signin-form input[name=password]`), password),
		chromedp.Submit(chromedp.CSS(`#signin-form`)),
		chromedp.WaitVisible(chromedp.CSS(`#substance-lab li[data-test="`+oral+`"]`)))
	if got := eval[string](b, `document.querySelector('#substance-lab li[data-test="`+oral+`"]').textContent`); got !=
		"⚠ "+oral+", Resident Two: oral fluid (drugs), seal SEAL-0042, sent "+test(oral).DispatchedAt().In(curfew.London()).Format("2 Jan 2006, 15:04 MST")+", no result yet" {
		t.Errorf("the overdue sample reads %q", got)
	}

	// The laboratory's result, entered from the result panel.
	b.step("open the oral-fluid result",
		chromedp.Click(chromedp.CSS(`#substance-open tr[data-test="`+oral+`"] button.act-result`)),
		chromedp.WaitVisible(chromedp.CSS(`#substance-lab-form [data-analyte="cocaine"]`)))
	screen := test(oral).Screen
	cocaine := ""
	for _, p := range screen.Panels {
		if p.Panel == "cocaine" {
			cocaine = fmt.Sprintf("cocaine|⚠ non-negative|%v ng/ml", p.CutoffNgMl)
		}
	}
	res := eval[map[string]string](b, `(() => { const o = {};
		for (const dd of document.querySelectorAll('#substance-result dd[data-field]')) o[dd.dataset.field] = dd.textContent;
		const c = document.querySelector('#substance-result-panels tr[data-panel="cocaine"]');
		o.cocaine = c ? [...c.cells].map((x) => x.textContent).join('|') : '';
		o.analytes = [...document.querySelectorAll('#substance-lab-form [data-analyte]')].map((x) => x.dataset.analyte).join(',');
		return o; })()`)
	for field, want := range map[string]string{
		"outcome":  "⚠ non-negative (preliminary: awaiting confirmation by a laboratory)",
		"validity": "✓ valid",
		"lot":      "lot " + screen.Lot + ", expires " + screen.Expiry,
		"cocaine":  cocaine,
		"analytes": "cocaine",
	} {
		if res[field] != want {
			t.Errorf("the oral-fluid result's %s reads %q, want %q", field, res[field], want)
		}
	}
	b.step("enter the laboratory's result",
		chromedp.SetValue(chromedp.CSS(`#substance-lab-form [data-analyte="cocaine"] select`), "yes"),
		chromedp.SendKeys(chromedp.CSS(`#substance-lab-form [data-analyte="cocaine"] input`), "LC-MS/MS"),
		chromedp.Submit(chromedp.CSS(`#substance-lab-form`)),
		b.poll(`document.querySelector('#substance-result .form-message').dataset.kind === 'ok'`),
		b.poll(`document.querySelector('#substance-open tr[data-test="`+oral+`"]').dataset.state === 'closed'`),
		chromedp.WaitNotPresent(chromedp.CSS(`#substance-lab li[data-test="`+oral+`"]`)))
	if got := test(oral); got.Outcome != "confirmed" || got.Confirmation == nil || got.Confirmation.Results["cocaine"] != (substance.LabFinding{Confirmed: true, Method: "LC-MS/MS"}) ||
		got.Confirmation.By != "manager-1" {
		t.Errorf("the laboratory's result recorded as %s %+v", got.Outcome, got.Confirmation)
	}
	b.shot("substance-drug-1")

	// On a tablet held upright the screen reflows, its tables scrolling inside it.
	b.step("tablet layout", chromedp.EmulateViewport(800, 1280), chromedp.WaitVisible(chromedp.CSS(`#substance-open tr[data-test="`+oral+`"]`)))
	if width := eval[float64](b, `document.documentElement.scrollWidth`); width > 800 {
		t.Errorf("on an 800px tablet the page is %vpx wide: it should reflow, not scroll sideways", width)
	}
	b.shot("substance-drug-2-tablet")
	checkContract(t, eval[map[string]map[string]bool](b, `window.apedgeReads`))
}
