package console_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/agent/curfew"
	"github.com/chromedp/chromedp"
)

// TestBWCInBrowser is the body-worn cameras view in headless Chromium as a member of
// staff (the least of roles) uses it, against a simulated dock on the site bus: the
// dock's tile online with its slots; a camera under the minimum battery refused
// through the Issue form with the API's own reason; a camera issued to Ann, its
// tile saying so since when; taken from the dock, out; docked again, returned, its
// footage offloading; offloaded, ready again. Every field the page read is checked
// against the OpenAPI document.
func TestBWCInBrowser(t *testing.T) {
	exe := chromium(t)
	s := newConsoleSite(t, withDock())
	d := s.newDock("dock-1", 4, 3)
	st := s.bearer("staff-1")
	if err := d.sim.Drain("BWC-0001", 50); err != nil {
		t.Fatal(err)
	}
	st.waitCamera("BWC-0001", "at 50%", func(c bwcCamera) bool { return c.Battery == 50 })
	b := openBrowser(t, exe, 1440, 900)
	said := func(sel, want string) chromedp.Action[chromedp.Void] {
		return b.poll(fmt.Sprintf(`(document.querySelector(%q) || {}).textContent === %q`, sel, want))
	}
	saysPrefix := func(sel, want string) chromedp.Action[chromedp.Void] {
		return b.poll(fmt.Sprintf(`((document.querySelector(%q) || {}).textContent || '').startsWith(%q)`, sel, want))
	}
	tile := func(serial, part string) string {
		return fmt.Sprintf(`#bwc-cameras li[data-camera=%q] .bwc-%s`, serial, part)
	}
	b.step("sign in as staff-1",
		chromedp.Navigate(s.srv.URL+"/"),
		chromedp.Evaluate[chromedp.Void](`localStorage.setItem('apedge.contract', '1'); undefined`),
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS(`#signin-form`)),
		chromedp.SendKeys(chromedp.CSS(`#signin-form input[name=name]`), "staff-1"),
		chromedp.SendKeys(chromedp.CSS(`#signin-form input[name=password]`), password),
		chromedp.Submit(chromedp.CSS(`#signin-form`)),
		chromedp.WaitVisible(chromedp.CSS(`#bwc-issue-form`)),
	)
	b.step("the dock and its cameras",
		said(`#bwc-docks li[data-dock="dock-1"] .bwc-dock-name`, "office dock"),
		said(`#bwc-docks li[data-dock="dock-1"] .bwc-dock-online`, "✓ Online"),
		said(`#bwc-docks li[data-dock="dock-1"] .bwc-dock-slots`, "3 of 4 slots occupied"),
		said(tile("BWC-0002", "who"), "Ready to issue"),
		said(tile("BWC-0002", "where"), "In office dock, slot 2"),
		said(tile("BWC-0002", "battery"), "Battery 100%"),
		said(tile("BWC-0001", "why"), "Not ready: its battery is at 50%, under the minimum of 80%"),
	)
	if n := eval[int](b, `document.querySelectorAll('#bwc-cameras li[data-camera]').length`); n != 3 {
		t.Errorf("%d camera tiles, want 3", n)
	}
	staffOpts := eval[[]string](b, `[...document.querySelectorAll('#bwc-issue-form select[name=staff] option')].map((o) => o.value + '=' + o.textContent)`)
	if strings.Join(staffOpts, ",") != "s-ann=Ann (s-ann)" {
		t.Errorf("the form offers staff %q, want Ann", staffOpts)
	}

	b.step("issue the low-battery camera: refused, with the reason",
		chromedp.SetValue(chromedp.CSS(`#bwc-issue-form select[name=camera]`), "BWC-0001"),
		chromedp.SetValue(chromedp.CSS(`#bwc-issue-form select[name=staff]`), "s-ann"),
		chromedp.Submit(chromedp.CSS(`#bwc-issue-form`)),
		said(`#bwc-refusal li`, "its battery is at 50%, under the minimum of 80%"),
		said(`#bwc-issue-form .form-message`, "BWC-0001 is not issued:"),
	)
	b.shot("bwc-refused")

	b.step("issue BWC-0002 to Ann",
		chromedp.SetValue(chromedp.CSS(`#bwc-issue-form select[name=camera]`), "BWC-0002"),
		chromedp.SetValue(chromedp.CSS(`#bwc-issue-form select[name=staff]`), "s-ann"),
		chromedp.Submit(chromedp.CSS(`#bwc-issue-form`)),
		saysPrefix(`#bwc-issue-form .form-message`, "BWC-0002 issued to Ann"),
	)
	c, _ := st.bwc().camera("BWC-0002")
	if c.Issue == nil || c.Issue.Staff != "s-ann" || c.Issue.By != "staff-1" {
		t.Fatalf("BWC-0002 %+v, want issued to s-ann by staff-1", c)
	}
	since := c.Issue.At.In(curfew.London()).Format("15:04")
	b.step("its tile says so",
		said(tile("BWC-0002", "who"), "Issued to Ann since "+since+" (not yet taken from the dock)"),
		said(tile("BWC-0002", "where"), "In office dock, slot 2"),
		b.poll(`document.querySelectorAll('#bwc-refusal li').length === 0`),
	)
	b.shot("bwc-issued")

	if _, err := d.sim.Undock(2); err != nil {
		t.Fatal(err)
	}
	b.step("taken from the dock",
		said(tile("BWC-0002", "where"), "Out of its dock"),
		said(tile("BWC-0002", "who"), "Issued to Ann since "+since),
		said(tile("BWC-0002", "offload"), "Recording: offload when docked"),
		said(`#bwc-docks li[data-dock="dock-1"] .bwc-dock-slots`, "2 of 4 slots occupied"),
	)

	s.clock.Add(time.Hour) // out an hour: 10 minutes of footage
	if err := d.sim.Dock(2, "BWC-0002"); err != nil {
		t.Fatal(err)
	}
	b.step("returned, its footage offloading",
		said(tile("BWC-0002", "where"), "In office dock, slot 2"),
		said(tile("BWC-0002", "who"), "Not issued"),
		saysPrefix(tile("BWC-0002", "offload"), "Offloading"),
		saysPrefix(tile("BWC-0002", "why"), "Not ready: its footage is being offloaded"),
	)
	b.shot("bwc-returned")

	s.clock.Add(2 * time.Minute)
	d.sim.Advance()
	b.step("offloaded, ready again",
		said(tile("BWC-0002", "offload"), "Offload done"),
		said(tile("BWC-0002", "who"), "Ready to issue"),
		said(tile("BWC-0002", "why"), ""),
	)
	b.shot("bwc-offloaded")
	checkContract(t, eval[map[string]map[string]bool](b, `window.apedgeReads`))
}
