package console_test

import (
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/formats/sitebus"
	"github.com/chromedp/chromedp"
)

// TestCamerasInBrowser: the camera tiles in headless Chromium, as the security team
// reads them across a room. Each tile says, in the right place, its camera's name, the
// verdict in large coloured words, since when, the figures and the picture (a loaded
// thumbnail, or "no picture: why"), and that a flapping camera flaps; a new picture
// replaces the old when the bridge takes one; a camera going offline turns its tile
// red at once and raises an alarm naming it.
func TestCamerasInBrowser(t *testing.T) {
	exe := chromium(t)
	s := newConsoleSite(t, withCameras(siteCameras))
	bus := s.cameraBus(t)
	since := time.Date(2026, 6, 10, 10, 15, 0, 0, time.UTC) // 11:15 BST
	bus.status("front-cam", onlineStatus(since))
	bus.thumbnail("front-cam", time.Date(2026, 6, 10, 10, 59, 0, 0, time.UTC), testJPEG(t, 64, 36))
	bus.status("gate", sitebus.CameraStatus{Verdict: sitebus.CameraOffline, Reason: "connect: connection refused", Since: since.Add(30 * time.Minute),
		Repeats: 3, Picture: sitebus.CameraPicture{State: sitebus.PictureNone, Why: "ffmpeg is not installed"}})
	s.waitFor("the cameras' reports", func() (bool, string) {
		cams := s.agent.Devices().Cameras
		return len(cams) == 3 && cams[0].HasThumbnail && cams[1].Verdict == sitebus.CameraOffline, ""
	})

	b := openBrowser(t, exe, 1440, 900)
	b.step("open the dashboard and sign in",
		chromedp.Navigate(s.srv.URL+"/"),
		chromedp.Evaluate[chromedp.Void](`localStorage.setItem('apedge.contract', '1'); undefined`),
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS(`#signin-form`)),
		chromedp.SendKeys(chromedp.CSS(`#signin-form input[name=name]`), "security-1"),
		chromedp.SendKeys(chromedp.CSS(`#signin-form input[name=password]`), password),
		chromedp.Submit(chromedp.CSS(`#signin-form`)),
		chromedp.WaitVisible(chromedp.CSS(`.camera[data-camera="front-cam"]`)),
		b.poll(`(() => { const i = document.querySelector('.camera[data-camera="front-cam"] img.camera-thumb'); return i && i.complete && i.naturalWidth > 0; })()`),
	)
	b.shot("cameras-1")
	type tile struct {
		Title, Verdict, Since, Reason, Figures, Flapping, NoPicture, Taken, Colour, Tone string
		ImgShown                                                                         bool
		ImgWidth                                                                         float64
		FontPx                                                                           float64
	}
	read := func(id string) tile {
		return eval[tile](b, `(() => {
			const t = document.querySelector('.camera[data-camera="`+id+`"]');
			const q = (sel) => t.querySelector(sel);
			const shown = (sel) => (q(sel) && !q(sel).hidden) ? q(sel).textContent : '';
			const img = q('img.camera-thumb');
			return {title: q('.tile-title').textContent, verdict: q('.camera-verdict').textContent, since: shown('.camera-since'),
				reason: shown('.camera-reason'), figures: shown('.camera-figures'), flapping: shown('.camera-flapping'),
				noPicture: shown('.camera-nopicture'), taken: shown('.camera-taken'), colour: getComputedStyle(q('.camera-verdict')).color, tone: t.dataset.tone,
				imgShown: !img.hidden && img.offsetWidth > 0, imgWidth: img.naturalWidth,
				fontPx: parseFloat(getComputedStyle(q('.camera-verdict')).fontSize)};
		})()`)
	}
	bodyPx := eval[float64](b, `parseFloat(getComputedStyle(document.body).fontSize)`)
	const green, red, grey = "rgb(75, 224, 143)", "rgb(255, 107, 107)", "rgb(178, 189, 201)"
	front := read("front-cam")
	if front.Title != "front door, outside front-cam" || front.Verdict != "✓ ONLINE" || front.Colour != green || front.Tone != "ok" ||
		front.Since != "since 10 Jun 2026, 11:15 BST" || front.Figures != "H.264 · 1280x720 · 25 fps · 2100 kbps · 0.2% loss" ||
		!front.ImgShown || front.ImgWidth != 64 || front.Taken != "picture taken 10 Jun 2026, 11:59 BST" || front.NoPicture != "" ||
		front.Flapping != "" || front.Reason != "" {
		t.Errorf("front-cam's tile: %+v; want online in green since 11:15 BST, its figures and its picture", front)
	}
	if front.FontPx < 1.5*bodyPx {
		t.Errorf("the verdict is %vpx against the page's %vpx: it should be large enough to read across a room", front.FontPx, bodyPx)
	}
	gate := read("gate")
	if gate.Title != "side gate gate" || gate.Verdict != "✗ OFFLINE" || gate.Colour != red || gate.Tone != "bad" || gate.Since != "since 10 Jun 2026, 11:45 BST" ||
		gate.Reason != "connect: connection refused" || gate.Figures != "" || gate.Flapping != "⚠ flapping: 3 repeats" ||
		gate.NoPicture != "no picture: ffmpeg is not installed" || gate.ImgShown {
		t.Errorf("gate's tile: %+v; want offline in red, why, flapping, and no picture because ffmpeg is not installed", gate)
	}
	yard := read("yard")
	if yard.Title != "yard" || yard.Verdict != "? UNKNOWN" || yard.Colour != grey || yard.Since != "not reported on yet" ||
		yard.NoPicture != "no picture: the bridge has not reported on this camera yet" || yard.ImgShown {
		t.Errorf("yard's tile: %+v; want unknown in grey with no picture", yard)
	}
	if got := eval[string](b, `document.querySelector('#camera-count').textContent`); got != "1 of 3 online" {
		t.Errorf("the cameras' count reads %q, want 1 of 3 online", got)
	}

	// A new picture replaces the old; then the front camera goes offline and the tile
	// and the alarms say so.
	bus.thumbnail("front-cam", time.Date(2026, 6, 10, 11, 0, 0, 0, time.UTC), testJPEG(t, 80, 45))
	b.step("the new picture", b.poll(`document.querySelector('.camera[data-camera="front-cam"] img.camera-thumb').naturalWidth === 80`))
	off := sitebus.CameraStatus{Verdict: sitebus.CameraOffline, Reason: "DESCRIBE: timeout after 5s", Since: since.Add(40 * time.Minute),
		Picture: sitebus.CameraPicture{State: sitebus.PictureOK}}
	bus.status("front-cam", off)
	bus.event("front-cam", sitebus.CameraOffline, sitebus.CameraEvent{Previous: sitebus.CameraOnline, Reason: off.Reason, Since: off.Since})
	b.step("front-cam offline, and alarmed",
		b.poll(`document.querySelector('.camera[data-camera="front-cam"]').dataset.verdict === 'offline'`),
		b.poll(`[...document.querySelectorAll('.alarm')].some(a => a.textContent.includes('Camera offline'))`),
	)
	if f := read("front-cam"); f.Verdict != "✗ OFFLINE" || f.Colour != red || f.Reason != "DESCRIBE: timeout after 5s" || f.Since != "since 10 Jun 2026, 11:55 BST" ||
		f.Taken != "last picture taken 10 Jun 2026, 12:00 BST" {
		t.Errorf("front-cam's tile once offline: %+v", f)
	}
	alarm := eval[string](b, `[...document.querySelectorAll('.alarm')].find(a => a.textContent.includes('Camera offline')).textContent`)
	for _, w := range []string{"HIGH", "camera front door, outside (front-cam)", "Camera front-cam (front door, outside) is offline: DESCRIBE: timeout after 5s, since 11:55 on 10 Jun 2026"} {
		if !strings.Contains(alarm, w) {
			t.Errorf("the alarm reads %q; want %q in it", alarm, w)
		}
	}
	b.shot("cameras-2-offline")
	checkContract(t, eval[map[string]map[string]bool](b, `window.apedgeReads`))
}
