package bwc_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/agent/bwc"
)

var update = flag.Bool("update", false, "rewrite testdata/good/scenario.jsonl from the scenario")

// scenario runs a shift through every kind of event on site(t) and returns the
// drafts, in order. It leaves CAM-1 returned to the hall's slot 2 (an offload
// failed, then done, battery 35%); CAM-2 out with Bo since minute 2, raised
// overdue; CAM-3 in the office's slot 2, its issue to Cy lapsed; CAM-4 removed
// without issue from the office's slot 3, then docked in the hall's slot 0 and
// offloaded.
func scenario(t testing.TB, e *bwc.Engine) []bwc.Draft {
	t.Helper()
	var drafts []bwc.Draft
	add := func(ds ...bwc.Draft) { drafts = append(drafts, ds...) }
	bst := time.FixedZone("BST", 3600) // times in any location come out the same
	when := func(min int) time.Time { return at(min).In(bst) }
	with := func(r bwc.SlotReading, offload, detail string) bwc.SlotReading {
		r.Offload, r.OffloadDetail, r.OffloadBytes = offload, detail, 0
		if offload == bwc.OffloadDone {
			r.OffloadBytes = 987654321
		}
		return r
	}

	i, d, err := e.Issue(bwc.Request{Camera: "CAM-1", Staff: ann, By: cy, Via: bwc.ViaConsole, At: when(0)})
	if err != nil || i.Slot != 0 {
		t.Fatal(i, err)
	}
	add(d)
	add(read(t, e, empty(office, 0, when(1)))...) // taken
	i, d, err = e.Issue(bwc.Request{Dock: office, Staff: bo, Via: bwc.ViaBadge, At: when(2)})
	if err != nil || i.Camera != "CAM-2" {
		t.Fatal(i, err)
	}
	add(d)
	add(read(t, e, empty(office, 1, when(3)))...)                                         // taken
	add(read(t, e, empty(office, 3, when(5)))...)                                         // CAM-4 removed
	add(read(t, e, docked(hall, 0, "CAM-4", 100, when(6)))...)                            // back, elsewhere
	add(read(t, e, with(docked(hall, 0, "CAM-4", 100, when(7)), bwc.OffloadDone, ""))...) // offloaded
	_, d = issue(t, e, "CAM-3", cy, when(10))                                             // never taken
	add(d)
	add(check(t, e, when(13))...)                                                                      // lapsed
	add(read(t, e, docked(hall, 2, "CAM-1", 35, when(600)))...)                                        // returned
	add(read(t, e, with(docked(hall, 2, "CAM-1", 35, when(601)), bwc.OffloadFailed, "no network"))...) // failed
	add(read(t, e, with(docked(hall, 2, "CAM-1", 35, when(602)), bwc.OffloadRunning, ""))...)
	add(read(t, e, with(docked(hall, 2, "CAM-1", 35, when(603)), bwc.OffloadDone, ""))...) // offloaded
	add(check(t, e, when(723))...)                                                         // CAM-2 overdue
	return drafts
}

// retained are the docks' last readings of each slot after the scenario, as the
// bus gives them again to an agent that restarts, at minute 800.
func retained() []bwc.SlotReading {
	done := func(r bwc.SlotReading) bwc.SlotReading {
		r.Offload, r.OffloadBytes = bwc.OffloadDone, 987654321
		return r
	}
	return []bwc.SlotReading{
		empty(office, 0, at(800)), empty(office, 1, at(800)), docked(office, 2, "CAM-3", 100, at(800)), empty(office, 3, at(800)),
		done(docked(hall, 0, "CAM-4", 100, at(800))), done(docked(hall, 2, "CAM-1", 35, at(800))),
	}
}

// TestScenario: what the scenario leaves, by the views.
func TestScenario(t *testing.T) {
	e := site(t)
	drafts := scenario(t, e)
	seen := map[string]bool{}
	for _, d := range drafts {
		seen[d.Type] = true
	}
	for _, typ := range bwc.Types() {
		if !seen[typ] {
			t.Errorf("the scenario has no %s", typ)
		}
	}
	keys := map[string]bool{}
	for _, d := range drafts {
		if keys[d.Key] {
			t.Errorf("key %s twice", d.Key)
		}
		keys[d.Key] = true
	}
	want := map[string]string{ // serial: location, issue, eligible
		"CAM-1": "docked hall 2, not issued, not eligible",
		"CAM-2": "out, issued to bo-staff, not eligible",
		"CAM-3": "docked office 2, not issued, eligible",
		"CAM-4": "docked hall 0, not issued, eligible",
	}
	for _, c := range e.Cameras() {
		got := c.Location
		if c.Location == bwc.LocationDocked {
			got += " " + strings.TrimPrefix(c.Dock, "dock-") + " " + string(rune('0'+c.Slot))
		}
		if c.Issue != nil {
			got += ", issued to " + c.Issue.Staff
		} else {
			got += ", not issued"
		}
		if c.Eligible {
			got += ", eligible"
		} else {
			got += ", not eligible"
		}
		if got != want[c.Serial] {
			t.Errorf("%s: %s, want %s (%+v)", c.Serial, got, want[c.Serial], c)
		}
	}
	if o := e.Overdue(at(800)); len(o) != 1 || o[0].Serial != "CAM-2" || !o[0].Issue.OverdueRaised || !o[0].Issue.TakenAt.Equal(at(3)) {
		t.Errorf("overdue %+v", o)
	}
}

// TestGoldenScenario: the scenario's journal is testdata/good/scenario.jsonl, one
// event a line ({"type","key","info"}); go test -update rewrites it.
func TestGoldenScenario(t *testing.T) {
	drafts := scenario(t, site(t))
	var b bytes.Buffer
	for _, d := range drafts {
		line, err := json.Marshal(struct {
			Type string          `json:"type"`
			Key  string          `json:"key"`
			Info json.RawMessage `json:"info"`
		}{d.Type, d.Key, d.Info})
		if err != nil {
			t.Fatal(err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	path := filepath.Join("testdata", "good", "scenario.jsonl")
	if *update {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("the scenario's journal differs from %s (go test -update rewrites it):\n%s", path, b.Bytes())
	}
}

// good returns the events of testdata/good/scenario.jsonl.
func good(t testing.TB) []bwc.Draft {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "good", "scenario.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []bwc.Draft
	s := bufio.NewScanner(f)
	for s.Scan() {
		var line struct {
			Type string          `json:"type"`
			Info json.RawMessage `json:"info"`
		}
		if err := json.Unmarshal(s.Bytes(), &line); err != nil {
			t.Fatal(err)
		}
		out = append(out, bwc.Draft{Type: line.Type, Info: line.Info})
	}
	if err := s.Err(); err != nil || len(out) == 0 {
		t.Fatalf("no good corpus: %v", err)
	}
	return out
}

// TestReplayRebuildsState: the drafts of a scenario, journaled and replayed into a
// new engine, rebuild its register; with the docks' retained readings the two
// show the same cameras, and then go on alike.
func TestReplayRebuildsState(t *testing.T) {
	e := site(t)
	drafts := scenario(t, e)
	r := replay(t, e.Config(), drafts)
	if !bwc.SameState(e, r) {
		t.Fatal("the replayed engine's register differs")
	}
	if !bwc.SameState(e, e.Clone()) || !reflect.DeepEqual(e.Cameras(), e.Clone().Cameras()) {
		t.Fatal("a clone differs")
	}
	if !bwc.SameState(e, replay(t, e.Config(), good(t))) {
		t.Fatal("the golden journal replays to another register")
	}
	// Before any reading, the replayed engine knows who has what, and where the
	// journal last placed each camera, but not its state.
	if c := camera(t, r, "CAM-2"); c.Location != bwc.LocationOut || c.Issue == nil || c.Issue.Staff != bo || !c.Issue.OverdueRaised {
		t.Errorf("replayed CAM-2 %+v", c)
	}
	if c := camera(t, r, "CAM-1"); c.Location != bwc.LocationUnknown || c.Dock != hall || c.Slot != 2 || c.Eligible ||
		!strings.Contains(c.Unknown, "since the agent started") {
		t.Errorf("replayed CAM-1 %+v", c)
	}
	if _, ok := r.Camera("CAM-3"); !ok {
		t.Error("replayed: no CAM-3, whose issue lapsed")
	}
	for _, x := range []*bwc.Engine{e, r} {
		for _, rd := range retained() {
			if ds := read(t, x, rd); len(ds) != 0 {
				t.Errorf("retained %+v made %v", rd, types(ds))
			}
		}
	}
	sameViews(t, e, r)
	for _, x := range []*bwc.Engine{e, r} {
		_, d := issue(t, x, "CAM-3", ann, at(810))
		if d.Key != "bwc.issued/CAM-3/3" {
			t.Errorf("key %s, want CAM-3's third event", d.Key)
		}
		_, _, err := x.Issue(bwc.Request{Camera: "CAM-4", Staff: bo, By: bo, Via: bwc.ViaConsole, At: at(811)})
		refusal(t, err)                     // Bo has CAM-2
		read(t, x, empty(hall, 2, at(812))) // CAM-1 removed
		if ds := check(t, x, at(900)); len(ds) != 1 || ds[0].Camera != "CAM-3" {
			t.Errorf("check %v", ds)
		}
	}
	if !bwc.SameState(e, r) {
		t.Fatal("the engines went on differently")
	}
	sameViews(t, e, r)
}

// TestRestartFindsChanges: what happened at the docks while the agent was down is
// found by the first reading of each slot.
func TestRestartFindsChanges(t *testing.T) {
	e := site(t)
	drafts := scenario(t, e)
	r := replay(t, e.Config(), drafts)
	// Meanwhile, Bo brought CAM-2 back to the office's slot 1, and someone took
	// CAM-1 from the hall's slot 2.
	if got := types(read(t, r, docked(office, 1, "CAM-2", 15, at(900)))); !slices.Equal(got, []string{bwc.TypeReturned}) {
		t.Errorf("CAM-2 returned while down: %v", got)
	}
	if got := types(read(t, r, empty(hall, 2, at(900)))); !slices.Equal(got, []string{bwc.TypeRemoved}) {
		t.Errorf("CAM-1 removed while down: %v", got)
	}
	if got := types(read(t, r, docked(hall, 0, "CAM-4", 100, at(900)))); len(got) != 0 {
		t.Errorf("CAM-4 where it was: %v", got)
	}
}

// TestReplayIgnoresPolicy: a journal is history. Replayed by an engine whose
// configuration has changed, it rebuilds the same register.
func TestReplayIgnoresPolicy(t *testing.T) {
	e := site(t)
	drafts := scenario(t, e)
	r := replay(t, bwc.Config{MinBatteryPct: 100, Shift: time.Hour, TakeWithin: 30 * time.Second}, drafts)
	if !bwc.SameState(e, r) {
		t.Fatal("the replayed engine's register differs")
	}
}

// edit returns d with its info changed by f.
func edit(t testing.TB, d bwc.Draft, f func(m map[string]any)) bwc.Draft {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(d.Info, &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	d.Info = b
	return d
}

// TestApplyRefuses: events that do not fit the register, or cannot be read, are
// refused and change nothing.
func TestApplyRefuses(t *testing.T) {
	e := site(t)
	drafts := scenario(t, e)
	find := func(typ, camera string) bwc.Draft {
		for _, d := range drafts {
			if d.Type == typ && d.Camera == camera {
				return d
			}
		}
		t.Fatalf("no %s of %s in the scenario", typ, camera)
		return bwc.Draft{}
	}
	issued := find(bwc.TypeIssued, "CAM-2")
	taken := find(bwc.TypeTaken, "CAM-2")
	offloaded := find(bwc.TypeOffloaded, "CAM-1")
	failed := find(bwc.TypeOffloadFailed, "CAM-1")
	overdue := find(bwc.TypeOverdue, "CAM-2")
	removed := find(bwc.TypeRemoved, "CAM-4")
	later := at(1000).Format(time.RFC3339)
	// back is CAM-2's return, which fits the register after the scenario; each case
	// below spoils one thing of it.
	back := func(f func(m map[string]any)) bwc.Draft {
		d := bwc.Draft{Type: bwc.TypeReturned, Info: []byte(`{}`)}
		return edit(t, d, func(m map[string]any) {
			m["camera"], m["staff"], m["issue"], m["dock"], m["slot"], m["taken"] = "CAM-2", bo, 1, office, 1, true
			m["issuedAt"], m["outSeconds"], m["at"] = at(2).Format(time.RFC3339), 60000, later
			f(m)
		})
	}
	goods := []bwc.Draft{
		back(func(map[string]any) {}),
		edit(t, issued, func(m map[string]any) { m["camera"], m["issue"], m["staff"], m["at"] = "CAM-3", 2, ann, later }),
		edit(t, failed, func(m map[string]any) { m["at"] = later }),
		edit(t, removed, func(m map[string]any) { m["camera"], m["at"] = "CAM-3", later }),
	}
	for _, g := range goods {
		if err := e.Clone().Apply(g); err != nil {
			t.Fatalf("the good version of the edits is refused: %v (%s %s)", err, g.Type, g.Info)
		}
	}
	for _, tc := range []struct {
		name  string
		draft bwc.Draft
		want  error
	}{
		{"unknown type", bwc.Draft{Type: "bwc.lost", Info: issued.Info}, bwc.ErrEvent},
		{"not JSON", bwc.Draft{Type: bwc.TypeIssued, Info: []byte("{")}, bwc.ErrEvent},
		{"an array", bwc.Draft{Type: bwc.TypeTaken, Info: []byte("[]")}, bwc.ErrEvent},
		{"null", bwc.Draft{Type: bwc.TypeReturned, Info: []byte("null")}, bwc.ErrEvent},
		{"no info", bwc.Draft{Type: bwc.TypeOverdue}, bwc.ErrEvent},
		{"too big", bwc.Draft{Type: bwc.TypeIssued, Info: []byte(`{"x":"` + strings.Repeat("a", 1<<20) + `"}`)}, bwc.ErrEvent},
		{"a number where a string goes", edit(t, issued, func(m map[string]any) { m["camera"] = 7 }), bwc.ErrEvent},
		{"issued twice", issued, bwc.ErrState},
		{"an issue out of order", edit(t, issued, func(m map[string]any) { m["camera"], m["issue"] = "CAM-3", 5 }), bwc.ErrEvent},
		{"an issue via the post", edit(t, issued, func(m map[string]any) { m["camera"], m["issue"], m["via"] = "CAM-3", 2, "post" }), bwc.ErrInvalid},
		{"an issue at 101%", edit(t, issued, func(m map[string]any) { m["camera"], m["issue"], m["battery"] = "CAM-3", 2, 101 }), bwc.ErrInvalid},
		{"an issue to no one", edit(t, issued, func(m map[string]any) { m["camera"], m["issue"], m["staff"] = "CAM-3", 2, "" }), bwc.ErrInvalid},
		{"an issue by no one", edit(t, issued, func(m map[string]any) { m["camera"], m["issue"], m["by"] = "CAM-3", 2, " " }), bwc.ErrInvalid},
		{"an issue from slot 65", edit(t, issued, func(m map[string]any) { m["camera"], m["issue"], m["slot"] = "CAM-3", 2, 65 }), bwc.ErrInvalid},
		{"an issue of no serial", edit(t, issued, func(m map[string]any) { m["camera"] = "" }), bwc.ErrInvalid},
		{"an issue with no time", edit(t, issued, func(m map[string]any) { m["camera"], m["issue"] = "CAM-3", 2; delete(m, "at") }), bwc.ErrInvalid},
		{"taken twice", taken, bwc.ErrState},
		{"taken, not issued", edit(t, taken, func(m map[string]any) { m["camera"] = "CAM-3" }), bwc.ErrState},
		{"taken, no such camera", edit(t, taken, func(m map[string]any) { m["camera"] = "CAM-99" }), bwc.ErrNoCamera},
		{"returned of another issue", back(func(m map[string]any) { m["issue"] = 2 }), bwc.ErrEvent},
		{"returned of an issue at another time", back(func(m map[string]any) { m["issuedAt"] = at(3).Format(time.RFC3339) }), bwc.ErrEvent},
		{"returned not taken, though taken", back(func(m map[string]any) { m["taken"] = false }), bwc.ErrEvent},
		{"returned by someone else", back(func(m map[string]any) { m["staff"] = ann }), bwc.ErrEvent},
		{"returned before its issue", back(func(m map[string]any) { m["at"] = at(1).Format(time.RFC3339) }), bwc.ErrInvalid},
		{"returned out for negative time", back(func(m map[string]any) { m["outSeconds"] = -1 }), bwc.ErrInvalid},
		{"returned to no dock", back(func(m map[string]any) { m["dock"] = "dock 1" }), bwc.ErrInvalid},
		{"offloaded with nothing to offload", offloaded, bwc.ErrState},
		{"offloaded while out", edit(t, offloaded, func(m map[string]any) { m["camera"] = "CAM-2" }), bwc.ErrState},
		{"offloaded, a camera never seen", edit(t, offloaded, func(m map[string]any) { m["camera"] = "CAM-99" }), bwc.ErrState},
		{"offloaded negative bytes", edit(t, offloaded, func(m map[string]any) { m["camera"], m["bytes"] = "CAM-3", -1 }), bwc.ErrInvalid},
		{"an offload failure while out", edit(t, failed, func(m map[string]any) { m["camera"] = "CAM-2" }), bwc.ErrState},
		{"an offload failure with a control character", edit(t, failed, func(m map[string]any) { m["detail"] = "a\x07b" }), bwc.ErrInvalid},
		{"overdue twice", overdue, bwc.ErrState},
		{"overdue of another issue", edit(t, overdue, func(m map[string]any) { m["issue"] = 3 }), bwc.ErrEvent},
		{"removed, though issued", edit(t, removed, func(m map[string]any) { m["camera"] = "CAM-2" }), bwc.ErrState},
		{"removed with no time", edit(t, removed, func(m map[string]any) { m["camera"] = "CAM-3"; delete(m, "at") }), bwc.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := e.Clone()
			wantErr(t, x.Apply(tc.draft), tc.want)
			if !bwc.SameState(e, x) || !reflect.DeepEqual(e.Cameras(), x.Cameras()) {
				t.Error("a refused event changed the state")
			}
		})
	}
}

// badCorpus returns the files of testdata/bad, each with the event type its
// directory names ("bwc." + the directory).
func badCorpus(t testing.TB) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "bad", "*", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad corpus: %v", err)
	}
	out := map[string]string{}
	for _, f := range files {
		out[f] = "bwc." + filepath.Base(filepath.Dir(f))
	}
	return out
}

// TestBadEventCorpus: every event of testdata/bad (one directory per event type,
// each file an Info that must not be applied after the scenario) is refused with
// an error, changing nothing; and every event type has its directory.
func TestBadEventCorpus(t *testing.T) {
	base := site(t)
	scenario(t, base)
	corpus := badCorpus(t)
	for _, typ := range bwc.Types() {
		if !slices.Contains(slices.Collect(maps.Values(corpus)), typ) {
			t.Errorf("no bad corpus of %s", typ)
		}
	}
	for f, typ := range corpus {
		t.Run(f, func(t *testing.T) {
			if !slices.Contains(bwc.Types(), typ) {
				t.Fatalf("directory of %s names no event type (%s)", f, typ)
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			e := base.Clone()
			err = e.Apply(bwc.Draft{Type: typ, Info: b})
			if err == nil {
				t.Fatalf("%s %s applied", typ, b)
			}
			if !strings.HasPrefix(err.Error(), "bwc: ") {
				t.Errorf("error %q does not say it is bwc's", err)
			}
			if !bwc.SameState(base, e) || !reflect.DeepEqual(base.Cameras(), e.Cameras()) {
				t.Fatalf("%s refused but changed the state", typ)
			}
		})
	}
}

// FuzzApply: any bytes as the Info of any event type never panic; an event Apply
// refuses changes nothing, and one it takes is replayed to the same register.
func FuzzApply(f *testing.F) {
	base := site(f)
	drafts := scenario(f, base)
	types := bwc.Types()
	for _, d := range good(f) {
		f.Add(uint8(slices.Index(types, d.Type)), []byte(d.Info))
	}
	for file, typ := range badCorpus(f) {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(slices.Index(types, typ)), b)
	}
	for i, seed := range []string{"", "{", "null", "[]", `{"camera":"CAM-3","dock":"dock-office","slot":2,"staff":"x","by":"x","via":"badge","battery":100,"issue":2,"at":"9999-12-31T23:59:59Z"}`} {
		f.Add(uint8(i), []byte(seed))
	}
	f.Fuzz(func(t *testing.T, typ uint8, b []byte) {
		d := bwc.Draft{Type: types[int(typ)%len(types)], Info: b}
		e := base.Clone()
		if err := e.Apply(d); err != nil {
			if !bwc.SameState(base, e) || !reflect.DeepEqual(base.Cameras(), e.Cameras()) {
				t.Fatalf("refused %s %q (%v) but changed the state", d.Type, b, err)
			}
			return
		}
		_ = e.Cameras()
		_ = e.Overdue(at(1 << 20))
		if _, err := e.Check(at(1 << 20)); err != nil {
			t.Fatalf("check after %s %q: %v", d.Type, b, err)
		}
		r, err := bwc.New(e.Config())
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range append(slices.Clone(drafts), d) {
			if err := r.Apply(x); err != nil {
				t.Fatalf("replaying %s %q: %v", x.Type, x.Info, err)
			}
		}
		if _, err := r.Check(at(1 << 20)); err != nil {
			t.Fatal(err)
		}
		if !bwc.SameState(e, r) {
			t.Fatalf("%s %q: the replay differs", d.Type, b)
		}
	})
}
