package camera

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestJudge(t *testing.T) {
	l := Limits{StallAfter: 10 * time.Second, MinFPS: 8, MinBitrateKbps: 100, MinWidth: 640, MinHeight: 480, MaxLossPct: 5}
	good := Figures{Codec: "h264", Width: 640, Height: 480, Packets: 300, FPS: 10, BitrateKbps: 250}
	media := func(f Figures) *Result { return &Result{Stage: StageMedia, Stats: f, Read: 3 * time.Second} }
	with := func(mod func(*Figures)) *Result { f := good; mod(&f); return media(f) }
	for _, c := range []struct {
		name    string
		r       *Result
		verdict string
		reason  string
	}{
		{"online", media(good), Online, ""},
		{"refused", &Result{Stage: StageConnect, Err: errors.New("connection refused")}, Offline, "connection refused"},
		{"describe", &Result{Stage: StageDescribe, Err: errors.New("rtsp: DESCRIBE answered 404 Not Found")}, Offline, "404"},
		{"password", &Result{Stage: StageAuth, Err: errors.New("rtsp: authentication failed")}, AuthFailed, "authentication"},
		{"closed mid-stream", &Result{Stage: StageMedia, Err: errors.New("rtsp: reading media: EOF"), Stats: good}, Offline, "EOF"},
		{"no media", media(Figures{}), Stalled, "no media came for 3s"},
		{"timestamps still", func() *Result { r := media(good); r.TimestampsStill = 11 * time.Second; return r }(), Stalled, "have not moved for 11s"},
		{"went silent", func() *Result { r := media(good); r.Silent = 10 * time.Second; return r }(), Stalled, "no media for the last 10s"},
		{"low fps", with(func(f *Figures) { f.FPS = 2 }), Degraded, "2.0 fps (at least 8)"},
		{"low bitrate", with(func(f *Figures) { f.BitrateKbps = 40 }), Degraded, "40 kbps (at least 100)"},
		{"small", with(func(f *Figures) { f.Width, f.Height = 320, 240 }), Degraded, "320x240 (at least 640x480)"},
		{"lossy", with(func(f *Figures) { f.LossPct = 12.5 }), Degraded, "12.5% of packets lost (at most 5%)"},
		{"two reasons", with(func(f *Figures) { f.FPS, f.LossPct = 2, 9 }), Degraded, "2.0 fps (at least 8); 9.0% of packets lost"},
		{"black", func() *Result { r := media(good); r.Picture.State = PictureBlack; return r }(), Frozen, "black"},
		{"covered", func() *Result { r := media(good); r.Picture.State = PictureCovered; return r }(), Frozen, "covered"},
		{"same picture", func() *Result { r := media(good); r.Picture.State = PictureFrozen; return r }(), Frozen, "same as the last one"},
		{"degraded wins over the picture", func() *Result { r := with(func(f *Figures) { f.FPS = 1 }); r.Picture.State = PictureBlack; return r }(), Degraded, "fps"},
	} {
		t.Run(c.name, func(t *testing.T) {
			v, reason := Judge(c.r, l)
			if v != c.verdict || !strings.Contains(reason, c.reason) {
				t.Errorf("Judge = %s %q, want %s with %q", v, reason, c.verdict, c.reason)
			}
		})
	}
}

func TestReporterHolds(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	p := newReporter(15 * time.Second)
	// The first verdict after start is reported at once.
	if c := p.observe(Online, "", at(0)); c == nil || c.verdict != Online || c.previous != Unknown {
		t.Fatalf("first verdict: %+v", c)
	}
	// Offline is seen, but not reported until it has held 15 s.
	if c := p.observe(Offline, "refused", at(30)); c != nil {
		t.Fatalf("offline at once: %+v", c)
	}
	if due, ok := p.pending(); !ok || !due.Equal(at(45)) {
		t.Fatalf("pending = %v %v, want a check at +45s", due, ok)
	}
	if c := p.observe(Offline, "refused", at(40)); c != nil {
		t.Fatalf("offline after 10s: %+v", c)
	}
	c := p.observe(Offline, "refused", at(45))
	if c == nil || c.verdict != Offline || c.previous != Online || !c.since.Equal(at(30)) || c.reason != "refused" {
		t.Fatalf("offline after 15s: %+v", c)
	}
	if p.observe(Offline, "refused", at(75)) != nil {
		t.Fatal("a repeat of the reported verdict was reported again")
	}
}

func TestReporterFlapping(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	p := newReporter(20 * time.Second)
	p.observe(Online, "", t0)
	events := 0
	// Offline and online in turn every 5 s for ten minutes: no change holds 20 s.
	for i := 1; i <= 120; i++ {
		v := Online
		if i%2 == 1 {
			v = Offline
		}
		if c := p.observe(v, "", t0.Add(time.Duration(i)*5*time.Second)); c != nil {
			events++
		}
	}
	if events != 0 {
		t.Errorf("a camera flapping every 5s with holdFor 20s made %d events, want 0", events)
	}
	if n := p.repeats(t0.Add(600 * time.Second)); n != 60 {
		t.Errorf("repeats = %d, want the 60 flaps counted", n)
	}
	// Then it stays offline: exactly one event, once it has held.
	var got []*change
	for i := 121; i <= 130; i++ {
		if c := p.observe(Offline, "refused", t0.Add(time.Duration(i)*5*time.Second)); c != nil {
			got = append(got, c)
		}
	}
	if len(got) != 1 || got[0].verdict != Offline {
		t.Fatalf("steady offline after flapping: %+v, want one offline event", got)
	}
	// The flaps age out after an hour.
	if n := p.repeats(t0.Add(2 * time.Hour)); n != 0 {
		t.Errorf("repeats after two hours = %d, want 0", n)
	}
}

func TestReporterNoHold(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	p := newReporter(0)
	p.observe(Online, "", t0)
	for i, v := range []string{Stalled, Online, Degraded} {
		if c := p.observe(v, "", t0.Add(time.Duration(i+1)*time.Second)); c == nil || c.verdict != v {
			t.Fatalf("holdFor 0: %s not reported at once: %+v", v, c)
		}
	}
}

// TestReporterChangingFaults checks a camera failing in changing ways (offline,
// stalled, offline...) is reported once it has been away from online for holdFor, with
// its latest verdict, though no one verdict held that long.
func TestReporterChangingFaults(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	p := newReporter(15 * time.Second)
	p.observe(Online, "", t0)
	var got []*change
	for i, v := range []string{Offline, Stalled, Offline, Stalled, Offline} {
		if c := p.observe(v, v+" reason", t0.Add(time.Duration(i+1)*5*time.Second)); c != nil {
			got = append(got, c)
		}
	}
	if len(got) != 1 || got[0].verdict != Stalled || got[0].previous != Online || !got[0].since.Equal(t0.Add(5*time.Second)) {
		t.Fatalf("changes %+v, want one: stalled (the verdict at +20s), since +5s", got)
	}
}
