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
// label list opened as a page to print. A security officer sees the table but is
// offered neither the import nor the buttons.
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
	checkContract(t, eval[map[string]map[string]bool](b, `window.apedgeReads`))

	b.step("sign in as security-1",
		chromedp.Click(chromedp.CSS(`#signout`)),
		signIn("security-1"),
		b.poll(cell("K-0001", "pat-status")+` === 'authorised'`),
	)
	if shown := eval[bool](b, `!document.querySelector('#pat-import-form').hidden || !document.querySelector('#pat-items tr[data-asset="K-0001"] .pat-actions').hidden`); shown {
		t.Error("security is offered the import or the row's buttons")
	}
}
