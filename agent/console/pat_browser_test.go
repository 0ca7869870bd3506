package console_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestPATInBrowser is the electrical items view in headless Chromium as a
// keyworker uses it: a PAT file with one good item imported through the form (the
// row says its owner, class and "passed, awaiting authorisation", and its retest
// date); a second file with a bad line refused, nothing of it imported and the
// bad line's number shown in the API's words; the item authorised with its row's
// button, the status cell then saying so; the search narrowing the table; and the
// label list opened as a page to print; an item registered through the form for
// the resident, and an e-scooter for the AP, registered as prohibited; a test keyed
// in for the new item with a failing earth figure marked pass, the row then saying
// it is flagged and why; and the resident, due to depart, chosen in the hand-back
// panel, which lists their two items. A security officer sees the table but is
// offered neither the import, the register and test forms nor the buttons.
func TestPATInBrowser(t *testing.T) {
	exe := chromium(t)
	s := newConsoleSite(t)
	good, err := filepath.Abs("testdata/pat/good.csv")
	if err != nil {
		t.Fatal(err)
	}
	bad, err := filepath.Abs("testdata/pat/bad.csv")
	if err != nil {
		t.Fatal(err)
	}
	b := openBrowser(t, exe, 1440, 900)
	signIn := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(
			chromedp.WaitVisible(chromedp.CSS(`#signin-form`)),
			chromedp.Evaluate[chromedp.Void](`document.querySelector('#signin-form input[name=name]').value = ''; undefined`),
			chromedp.SendKeys(chromedp.CSS(`#signin-form input[name=name]`), name),
			chromedp.SendKeys(chromedp.CSS(`#signin-form input[name=password]`), password),
			chromedp.Submit(chromedp.CSS(`#signin-form`)),
			chromedp.WaitVisible(chromedp.CSS(`#pat-nav`)),
		)
	}
	cell := func(asset, cls string) string {
		return fmt.Sprintf(`(document.querySelector('#pat-items tr[data-asset="%s"] .%s') || {}).textContent`, asset, cls)
	}
	b.step("sign in as keyworker-1 and open the electrical items",
		chromedp.Navigate(s.srv.URL+"/"),
		chromedp.Evaluate[chromedp.Void](`localStorage.setItem('apedge.contract', '1'); undefined`),
		chromedp.Reload(),
		signIn("keyworker-1"),
		chromedp.Click(chromedp.CSS(`#pat-nav`)),
		chromedp.WaitVisible(chromedp.CSS(`#pat-import-form`)),
		b.poll(`!document.querySelector('#pat-items-empty').hidden`),
	)
	b.step("import the good file",
		chromedp.SetUploadFiles(chromedp.CSS(`#pat-import-form input[name=file]`), []string{good}),
		chromedp.Submit(chromedp.CSS(`#pat-import-form`)),
		b.poll(`document.querySelector('#pat-import-form .form-message').textContent === 'good.csv imported: 1 records, 1 tests recorded, 1 items new, 0 recorded already.'`),
		b.poll(cell("K-0001", "pat-status")+` === 'passed, awaiting authorisation'`),
	)
	type row struct{ Label, Owner, Desc, Class, Status, Due, Flagged string }
	read := func(asset string) row {
		return eval[row](b, `(() => {
			const tr = document.querySelector('#pat-items tr[data-asset="`+asset+`"]');
			const q = (c) => tr.querySelector('.' + c).textContent;
			return {label: q('pat-label'), owner: q('pat-owner'), desc: q('pat-desc'), class: q('pat-class'), status: q('pat-status'),
				due: q('pat-due'), flagged: q('pat-flagged')};
		})()`)
	}
	if got, want := read("K-0001"), (row{"K-0001", "Resident One", "Kettle", "Class I", "passed, awaiting authorisation", "2027-06-01", "—"}); got != want {
		t.Errorf("K-0001's row: %+v, want %+v", got, want)
	}
	b.shot("pat-imported")

	b.step("import the file with a bad line",
		chromedp.SetUploadFiles(chromedp.CSS(`#pat-import-form input[name=file]`), []string{bad}),
		chromedp.Submit(chromedp.CSS(`#pat-import-form`)),
		b.poll(`document.querySelectorAll('#pat-import-lines li').length === 1`),
	)
	if got, want := eval[string](b, `document.querySelector('#pat-import-form .form-message').textContent`),
		"bad.csv refused: nothing was imported. Correct these lines and import it again:"; got != want {
		t.Errorf("the refusal: %q, want %q", got, want)
	}
	if got := eval[string](b, `(document.querySelector('#pat-import-lines li[data-line="3"]') || {}).textContent || ''`); !strings.HasPrefix(got, "Line 3: class") {
		t.Errorf("the bad line: %q, want line 3's class", got)
	}
	if n := eval[int](b, `document.querySelectorAll('#pat-items tbody tr').length`); n != 1 {
		t.Errorf("%d rows after the refused file, want 1: nothing of it imported", n)
	}
	b.shot("pat-refused")

	b.step("authorise K-0001",
		chromedp.Click(chromedp.CSS(`#pat-items tr[data-asset="K-0001"] .pat-authorise`)),
		b.poll(cell("K-0001", "pat-status")+` === 'authorised'`),
		b.poll(`document.querySelector('#pat-items tr[data-asset="K-0001"] .pat-authorise').hidden`),
	)
	s.waitEvent("item.authorised")
	b.step("search",
		chromedp.SendKeys(chromedp.CSS(`#pat-search input[name=q]`), "nothing-like-it"),
		b.poll(`document.querySelectorAll('#pat-items tbody tr').length === 0`),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#pat-search input[name=q]').value = ''; undefined`),
		chromedp.SendKeys(chromedp.CSS(`#pat-search input[name=q]`), "x100001"),
		b.poll(`document.querySelectorAll('#pat-items tbody tr').length === 1`),
	)
	b.step("open the label list",
		chromedp.Click(chromedp.CSS(`#pat-labels-open`)),
		chromedp.WaitVisible(chromedp.CSS(`#pat-labels-page`)),
		b.poll(`document.body.classList.contains('pat-labels-open')`),
	)
	if got, want := eval[string](b, `[...document.querySelectorAll('#pat-labels tr[data-asset="K-0001"] td')].map((td) => td.textContent).join('|')`),
		"K-0001|Kettle|Resident One|Class I|2026-06-01 by J. Patel|2027-06-01|authorised"; got != want {
		t.Errorf("the label: %q, want %q", got, want)
	}
	b.shot("pat-labels")

	msg := func(form string) string {
		return `document.querySelector('` + form + ` .form-message').textContent`
	}
	register := func(label, owner, desc, category, class string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(
			chromedp.SendKeys(chromedp.CSS(`#pat-register-form input[name=assetId]`), label),
			chromedp.SetValue(chromedp.CSS(`#pat-register-form select[name=ownerCrn]`), owner),
			chromedp.SendKeys(chromedp.CSS(`#pat-register-form input[name=description]`), desc),
			chromedp.SendKeys(chromedp.CSS(`#pat-register-form input[name=category]`), category),
			chromedp.SetValue(chromedp.CSS(`#pat-register-form select[name=class]`), class),
			chromedp.Submit(chromedp.CSS(`#pat-register-form`)),
		)
	}
	b.step("register a toaster for Resident One",
		chromedp.Click(chromedp.CSS(`#pat-labels-close`)),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#pat-search input[name=q]').value = ''; renderPAT(); undefined`),
		b.poll(`[...document.querySelectorAll('#pat-register-form select[name=ownerCrn] option')].some((o) => o.value === 'X100001')`),
		register("K-0002", "X100001", "Toaster", "kitchen", "I"),
		b.poll(msg("#pat-register-form")+` === 'K-0002 registered (Resident One): awaiting test.'`),
		b.poll(cell("K-0002", "pat-status")+` === 'awaiting test'`),
	)
	b.step("register an e-scooter for the AP",
		register("K-0003", "", "Scooter", "E Scooter", "III"),
		b.poll(msg("#pat-register-form")+` === 'K-0003 registered (the AP): prohibited: to be removed.'`),
		b.poll(cell("K-0003", "pat-status")+` === 'prohibited: to be removed'`),
	)
	if shown := eval[bool](b, `!document.querySelector('#pat-items tr[data-asset="K-0003"] .pat-test').hidden`); shown {
		t.Error("a prohibited item is offered a test")
	}
	field := func(name, v string) chromedp.Action[chromedp.Void] {
		return chromedp.SetValue(chromedp.CSS(`#pat-test-form [name=`+name+`]`), v)
	}
	b.step("key in a pass whose earth figure fails",
		chromedp.Click(chromedp.CSS(`#pat-items tr[data-asset="K-0002"] .pat-test`)),
		chromedp.WaitVisible(chromedp.CSS(`#pat-test-form`)),
		b.poll(`document.querySelector('#pat-test-h').textContent === 'Record a test of K-0002'`),
		b.poll(`document.querySelector('#pat-test-form [name=testedAt]').value.startsWith('2026-06-10T')`), // the site's day, not the screen's
		field("visual", "pass"), field("earthOhm", "0.9"), field("insulationMOhm", "200"), field("insulationV", "500"),
		field("leakageMA", "0.2"), field("result", "pass"), field("retestMonths", "12"), field("instrument", "Seaward PrimeTest 250+"),
		field("instrumentSerial", "3A1234"), field("tester", "J. Patel"),
		chromedp.Submit(chromedp.CSS(`#pat-test-form`)),
		b.poll(`document.querySelector('#pat-test-form').hidden`),
		b.poll(cell("K-0002", "pat-status")+` === 'failed: not to be used'`),
	)
	s.waitEvent("pat.tested")
	const why = "earth: earth continuity of 0.9 Ω is over the limit of 0.2 Ω"
	if got, want := eval[string](b, cell("K-0002", "row-message")), "Test recorded: flagged: "+why+". failed: not to be used."; got != want {
		t.Errorf("K-0002's row message: %q, want %q", got, want)
	}
	if got, want := eval[string](b, cell("K-0002", "pat-flagged")), "⚠ Flagged: "+why; got != want {
		t.Errorf("K-0002's flagged cell: %q, want %q", got, want)
	}
	b.shot("pat-flagged")

	if code := s.browser("manager-1").do("PATCH", "/api/v1/residents/X100001", map[string]any{"expectedDeparture": "2026-06-20"}, nil); code != 202 {
		t.Fatalf("setting Resident One's departure: %d", code)
	}
	b.step("list Resident One's items to hand back",
		b.poll(`[...document.querySelectorAll('#pat-handback-form select[name=crn] option')].some((o) => o.textContent === 'Resident One (X100001): due to depart 2026-06-20')`),
		chromedp.SetValue(chromedp.CSS(`#pat-handback-form select[name=crn]`), "X100001"),
		chromedp.Submit(chromedp.CSS(`#pat-handback-form`)),
		b.poll(`document.querySelectorAll('#pat-handback li').length === 2`),
	)
	if got, want := eval[string](b, msg("#pat-handback-form")), "Resident One: 2 items to hand back on departure"; got != want {
		t.Errorf("the hand-back heading: %q, want %q", got, want)
	}
	if got, want := eval[string](b, `[...document.querySelectorAll('#pat-handback li')].map((li) => li.dataset.asset + '=' + li.textContent).join('|')`),
		"K-0001=K-0001 Kettle (Class I): authorised|K-0002=K-0002 Toaster (Class I): failed: not to be used"; got != want {
		t.Errorf("the hand-back list: %q, want %q", got, want)
	}
	b.shot("pat-handback")
	checkContract(t, eval[map[string]map[string]bool](b, `window.apedgeReads`))

	b.step("sign in as security-1",
		chromedp.Click(chromedp.CSS(`#signout`)),
		signIn("security-1"),
		b.poll(cell("K-0001", "pat-status")+` === 'authorised'`),
	)
	if shown := eval[bool](b, `!document.querySelector('#pat-import-form').hidden || !document.querySelector('#pat-register-form').hidden ||
		!document.querySelector('#pat-test-form').hidden || !document.querySelector('#pat-items tr[data-asset="K-0001"] .pat-actions').hidden`); shown {
		t.Error("security is offered the import, the register or test form, or the row's buttons")
	}
}
