package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/devices/wiegand"
	"github.com/apedge/apedge/formats/event"
	"github.com/chromedp/chromedp"
)

// TestNightInBrowser is the console at 2 a.m., in headless Chromium at 1440x900, as the
// security team sees it: the 23:00 curfew starts (by the site's clock) with one resident
// in and one not; then a door is forced and a door is tailgated 59 times. The screen must
// say the right things in the right places: each resident's curfew window and absence;
// the alarms grouped (59 tailgates are one row with the count), the most urgent first,
// with who and where in words and UK times; the alarm list no more than a third of the
// screen, the doors and the roll on the first screen; a sound for the urgent ones; a
// filter; and a group acknowledged with one note, journaled once per alarm. Then the
// same page on a tablet and a phone.
func TestNightInBrowser(t *testing.T) {
	exe := chromium(t)
	s := newConsoleSite(t)
	b := openBrowser(t, exe, 1440, 900)

	// 22:59:50 on 10 June (BST) by the site's clock: Resident One comes in, Resident Two
	// does not, and the AP's 23:00 curfew starts ten seconds later.
	b.step("open the dashboard and sign in",
		chromedp.EmulateViewport(1440, 900),
		chromedp.Navigate(s.srv.URL+"/"),
		chromedp.Evaluate[chromedp.Void](`localStorage.setItem('apedge.contract', '1'); undefined`),
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS(`#signin-form`)),
		chromedp.SendKeys(chromedp.CSS(`#signin-form input[name=name]`), "security-1"),
		chromedp.SendKeys(chromedp.CSS(`#signin-form input[name=password]`), password),
		chromedp.Submit(chromedp.CSS(`#signin-form`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-crn="X100002"]`)),
		b.poll(`document.querySelector('tr[data-crn="X100002"]').textContent.includes('tonight')`),
	)
	// Midday: tonight's window, before it starts, with where it comes from.
	if got := eval[string](b, `document.querySelectorAll('tr[data-crn="X100002"] td')[4].textContent`); got != "not yet: tonight 23:00–06:00 (AP rule)" {
		t.Errorf("at noon Resident Two's curfew column reads %q; want tonight's window and its source", got)
	}

	s.waitFor("the bridge to keep the agent's credential list", func() (bool, string) {
		_, err := os.Stat(filepath.Join(s.dir, "bridge-state", "credentials.json"))
		return err == nil, fmt.Sprint(err)
	})
	s.clock.Set(time.Date(2026, 6, 10, 21, 59, 50, 0, time.UTC))
	front := s.bridge.Sim().Door("front")
	card, _ := wiegand.Decode(wiegand.Encode26(12, 10001), 26)
	s.bridge.Sim().Present("front-in", card)
	s.waitFor("the lock released", func() (bool, string) { return !front.LockEnergised(), "" })
	front.Open()
	s.waitEvent("movement.entered")
	front.Shut()
	s.waitFor("Resident One in", func() (bool, string) {
		for _, r := range s.agent.Residents() {
			if r.CRN == "X100001" {
				return r.Presence == "in", r.Presence + fmt.Sprint(s.journalTypes())
			}
		}
		return false, "not on the roster"
	})
	absent := s.waitEvent("curfew.absent")
	if absent.CRN != "X100002" {
		t.Fatalf("curfew.absent for %s, want X100002", absent.CRN)
	}
	s.waitEvent("curfew.roll")

	b.step("the absence on screen", b.poll(`document.querySelector('tr[data-crn="X100002"]').textContent.includes('ABSENT')`))
	row := func(crn string) []string {
		return eval[[]string](b, `[...document.querySelectorAll('tr[data-crn="`+crn+`"] td')].map(td => td.textContent)`)
	}
	// Name, CRN, Room, Presence, Curfew now, Absent, Check.
	if r := row("X100001"); len(r) != 7 || !strings.HasPrefix(r[3], "● in") || r[4] != "yes, 23:00–06:00 (AP rule)" || r[5] != "—" {
		t.Errorf("Resident One's row %q: want in, curfew 23:00–06:00 (AP rule), not absent", r)
	}
	if r := row("X100002"); len(r) != 7 || r[3] != "? unknown" || r[4] != "yes, 23:00–06:00 (AP rule)" || r[5] != "⚠ ABSENT" {
		t.Errorf("Resident Two's row %q: want unknown, curfew 23:00–06:00 (AP rule), absent", r)
	}
	b.shot("night-1-curfew")

	// The absence is an urgent alarm that names the resident.
	first := eval[string](b, `document.querySelector('.alarm').textContent`)
	if !strings.Contains(first, "URGENT") || !strings.Contains(first, "Absent at curfew") || !strings.Contains(first, "Resident Two") {
		t.Errorf("first alarm reads %q; want the urgent absence of Resident Two by name", first)
	}

	// 02:04: the front door tailgated 59 times, then forced.
	s.clock.Set(time.Date(2026, 6, 11, 1, 4, 0, 0, time.UTC))
	beeps := eval[float64](b, `window.apedgeBeeps || 0`)
	for i := range 59 {
		s.journal(t, "door.tailgate", fmt.Sprintf("tailgate-%d", i), map[string]any{"door": "front", "reason": "credential"})
	}
	forced := s.journal(t, "door.forced", "forced-1", map[string]any{"door": "front"})
	b.step("the alarms grouped",
		b.poll(`document.querySelectorAll('.alarm').length === 3`),
		b.poll(`(document.querySelector('.alarm[data-count="59"]') || {}).textContent?.includes('× 59')`),
		b.poll(`document.querySelector('.alarm').dataset.seq === '`+fmt.Sprint(forced)+`'`),
	)
	b.shot("night-2-alarms")
	groups := eval[[]string](b, `[...document.querySelectorAll('.alarm')].map(a => a.dataset.priority + ' ' + a.querySelector('.alarm-type').textContent + ' ' + a.querySelector('.alarm-subject').textContent)`)
	want := []string{"urgent Door forced front door", "urgent Absent at curfew Resident Two (X100002)", "normal Tailgating front door"}
	if strings.Join(groups, "|") != strings.Join(want, "|") {
		t.Errorf("alarm groups in order %q, want %q", groups, want)
	}
	if got := eval[string](b, `document.querySelector('.alarm .alarm-time').textContent`); got != "11 Jun 2026, 02:04 BST" {
		t.Errorf("the forced door's time reads %q, want 11 Jun 2026, 02:04 BST", got)
	}
	if c := eval[string](b, `document.querySelector('#clock').textContent`); !strings.Contains(c, "11 Jun, 02:0") {
		t.Errorf("the header clock reads %q; want the site's time, 11 Jun 02:0x", c)
	}
	if n := eval[float64](b, `window.apedgeBeeps || 0`); n <= beeps {
		t.Errorf("no sound for the forced door (%v beeps before, %v after)", beeps, n)
	}

	// The alarms take at most a third of the screen; the doors and the roll are on it.
	layout := eval[map[string]float64](b, `(() => {
		const r = (sel) => document.querySelector(sel).getBoundingClientRect();
		return {height: innerHeight, alarms: r('#alarms').height, doorsTop: r('.door[data-door="front"]').top,
			doorsBottom: r('.door[data-door="front"]').bottom, rollTop: r('#roll').top, scrolled: scrollY};
	})()`)
	if layout["alarms"] > layout["height"]/3+1 || layout["doorsBottom"] > layout["height"] || layout["rollTop"] > layout["height"]-40 || layout["scrolled"] != 0 {
		t.Errorf("at 1440x900 with 60 alarms: %v; want the alarms at most a third of the screen and the doors and the roll on it", layout)
	}

	// A filter, then the tailgates acknowledged as one group with one note.
	b.step("filter to tailgates",
		chromedp.SetValue(chromedp.CSS(`#alarm-filters select[name=kind]`), "door.tailgate"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#alarm-filters').dispatchEvent(new Event('input')); undefined`),
		b.poll(`document.querySelectorAll('.alarm').length === 1 && document.querySelector('.alarm').dataset.count === '59'`),
	)
	b.step("acknowledge the group",
		chromedp.Click(chromedp.CSS(`.alarm button.ack`)),
		chromedp.SendKeys(chromedp.CSS(`.alarm input[name=note]`), "contractors moving furniture, checked on camera"),
		chromedp.Click(chromedp.CSS(`.alarm .ack-confirm`)),
		b.poll(`document.querySelectorAll('.alarm').length === 0`),
	)
	s.waitFor("59 acknowledgements journaled", func() (bool, string) {
		n := 0
		for _, typ := range s.journalTypes() {
			if typ == "alarm.acknowledged" {
				n++
			}
		}
		return n == 59, fmt.Sprint(n)
	})
	b.step("clear the filter",
		chromedp.SetValue(chromedp.CSS(`#alarm-filters select[name=kind]`), ""),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#alarm-filters').dispatchEvent(new Event('input')); undefined`),
		b.poll(`document.querySelectorAll('.alarm').length === 2`),
	)

	// The fire roll: exactly who is believed in, with how sure; journaled as taken.
	b.step("take the fire roll",
		chromedp.Click(chromedp.CSS(`#fire-roll-button`)),
		chromedp.WaitVisible(chromedp.CSS(`#fire-roll`)),
		b.poll(`document.querySelectorAll('#fire-roll-table tbody tr').length > 0`),
	)
	roll := eval[[]string](b, `[...document.querySelectorAll('#fire-roll-table tbody tr')].map(tr => tr.textContent)`)
	if len(roll) != 1 || !strings.Contains(roll[0], "Resident One") || !strings.Contains(roll[0], "front door") {
		t.Errorf("fire roll rows %q; want Resident One alone, seen at the front door", roll)
	}
	if u := eval[string](b, `document.querySelector('#fire-roll-unknown').textContent`); !strings.Contains(u, "Resident Two") {
		t.Errorf("fire roll's not-known list %q; want Resident Two", u)
	}
	s.waitEvent("fire-roll.taken")
	b.shot("night-4-fire-roll")
	b.step("close the fire roll", chromedp.Click(chromedp.CSS(`#fire-roll-close`)), chromedp.WaitNotVisible(chromedp.CSS(`#fire-roll`)))

	// Resident Two's page: the history in sentences, the same events as the API's.
	b.step("open Resident Two's page",
		chromedp.Click(chromedp.CSS(`tr[data-crn="X100002"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#resident-page`)),
		b.poll(`document.querySelectorAll('#resident-history li').length > 0`),
	)
	var hist struct {
		Events []struct {
			Seq      uint64 `json:"seq"`
			Sentence string `json:"sentence"`
		} `json:"events"`
	}
	s.bearer("security-1").do("GET", "/api/v1/residents/X100002/history?from=2026-06-03&to=2026-06-11%2023:59", nil, &hist)
	items := eval[[]string](b, `[...document.querySelectorAll('#resident-history li')].map(li => li.dataset.seq + '|' + li.textContent)`)
	if len(items) != len(hist.Events) || len(items) == 0 {
		t.Errorf("resident page lists %d events, the API %d", len(items), len(hist.Events))
	}
	for i := range min(len(items), len(hist.Events)) {
		if e := hist.Events[i]; !strings.HasPrefix(items[i], fmt.Sprint(e.Seq)+"|") || !strings.Contains(items[i], e.Sentence) {
			t.Errorf("resident page item %d %q, want seq %d saying %q", i, items[i], e.Seq, e.Sentence)
		}
	}
	if !strings.Contains(strings.Join(items, " "), "when curfew 23:00–06:00 began") {
		t.Errorf("Resident Two's page %q does not say they were not in when the curfew began", items)
	}
	b.shot("night-5-resident")

	// Hold the front door locked (exit still works): the tile says so; journaled.
	b.step("hold the front door locked",
		chromedp.Click(chromedp.CSS(`.door[data-door="front"] button.hold`)),
		chromedp.SetValue(chromedp.CSS(`.door[data-door="front"] select[name=mode]`), "locked"),
		chromedp.SendKeys(chromedp.CSS(`.door[data-door="front"] .hold-form input[name=reason]`), "police looking for a visitor"),
		chromedp.Click(chromedp.CSS(`.door[data-door="front"] .hold-confirm`)),
		b.poll(`document.querySelector('.door[data-door="front"] .door-hold').textContent.includes('HELD LOCKED')`),
	)
	held := s.waitEvent("door.held")
	if !strings.Contains(string(held.Data), `"by":"security-1"`) || !strings.Contains(string(held.Data), "police looking for a visitor") {
		t.Errorf("door.held %s: want who and why", held.Data)
	}

	// Tablet upright and phone: no sideways scrolling, the alarms and doors on the page.
	for _, vp := range []struct {
		name string
		w, h int64
	}{{"tablet", 820, 1180}, {"phone", 390, 844}} {
		b.step(vp.name+" layout", chromedp.EmulateViewport(vp.w, vp.h), chromedp.WaitVisible(chromedp.CSS(`.door[data-door="front"]`)))
		width := eval[float64](b, `document.documentElement.scrollWidth`)
		if width > float64(vp.w) {
			t.Errorf("at %dpx wide the page is %vpx wide: it should reflow, not scroll sideways", vp.w, width)
		}
		first := eval[map[string]float64](b, `(() => { const r = document.querySelector('.alarm').getBoundingClientRect();
			const l = document.querySelector('#alarm-list').getBoundingClientRect(); return {top: r.top, listTop: l.top, listBottom: l.bottom}; })()`)
		if first["top"] > float64(vp.h) || first["listBottom"]-first["top"] < 60 {
			t.Errorf("at %dx%d the first alarm is not readable on the first screen: %v", vp.w, vp.h, first)
		}
		b.shot("night-3-" + vp.name)
	}
	checkContract(t, eval[map[string]map[string]bool](b, `window.apedgeReads`))
}

// journal appends an event of typ with info to the site's journal, as the agent would
// have, and returns its seq once the console's index has it.
func (s *consoleSite) journal(t *testing.T, typ, origin string, info map[string]any) uint64 {
	t.Helper()
	b, err := json.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := s.agent.Journal().Append(context.Background(), &event.Draft{Type: typ, OccurredAt: s.clock.Now(), Info: b, Origin: origin})
	if err != nil {
		t.Fatal(err)
	}
	s.waitFor(fmt.Sprintf("seq %d indexed", rec.Seq), func() (bool, string) {
		return s.index.Indexed() >= rec.Seq, fmt.Sprint(s.index.Indexed())
	})
	return rec.Seq
}
