package biometric_test

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/agent/biometric"
)

// scenario runs a site's biometrics through every kind of event on e and returns
// the drafts, in order. It leaves X123456 departed with one deletion (D-1, on the
// desk) pending and raised overdue and the other (D-2, the front door) confirmed
// after one unconfirmed answer; Y654321, who declined and then consented, enrolling
// (E-8) on the front door; Z111111 offered the alternative after three failures;
// and slot 7 of the front door an orphan.
func scenario(t testing.TB, e *biometric.Engine) []biometric.Draft {
	t.Helper()
	var drafts []biometric.Draft
	add := func(ds ...biometric.Draft) { drafts = append(drafts, ds...) }
	must := func(ds []biometric.Draft, err error) []biometric.Draft {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return ds
	}
	bst := time.FixedZone("BST", 3600) // times in any location come out the same
	when := func(min int) time.Time { return at(min).In(bst) }

	add(consent(t, e, "X123456", true, when(0))...)
	add(consent(t, e, "Y654321", false, when(1))...) // and the alternative, declined
	e1, d := enrol(t, e, "X123456", "right-index", front, nil, when(2))
	add(d, stored(t, e, e1, when(3)))
	e2, d := enrol(t, e, "X123456", "left-index", front, []int{0}, when(4))
	add(d)
	add(failed(t, e, e2, "fingers-do-not-match", when(5))...)
	e3, d := enrol(t, e, "X123456", "left-index", front, []int{0}, when(6))
	add(d)
	d, err := e.Abandon(e3.ID, biometric.ReasonCancelled, "", "Bo Staff", when(7))
	if err != nil {
		t.Fatal(err)
	}
	add(d)
	add(consent(t, e, "Z111111", true, when(8))...)
	for i, reason := range []string{"timeout", "image-too-messy", "fingers-do-not-match"} { // E-4, E-5, E-6
		en, d := enrol(t, e, "Z111111", "right-thumb", desk, []int{0}, when(10+2*i))
		add(d)
		add(failed(t, e, en, reason, when(11+2*i))...) // the third offers the alternative
	}
	e7, d := enrol(t, e, "X123456", "right-thumb", desk, []int{0}, when(20))
	add(d, stored(t, e, e7, when(21)))
	add(must(e.UsedSlots(front, []int{7, 0}, when(22), when(22)))...) // slot 7: an orphan
	add(must(e.RequestDeletion("X123456", biometric.WhyDeparted, "Bo Staff", when(30)))...)
	dd, err := e.TemplatesDeleted(front, deleted(front, []int{0}, []int{0, 7}, when(31)), when(31)) // not confirmed
	if err != nil {
		t.Fatal(err)
	}
	add(dd)
	dd, err = e.TemplatesDeleted(front, deleted(front, []int{0}, []int{7}, when(32)), when(32)) // confirmed
	if err != nil {
		t.Fatal(err)
	}
	add(dd)
	add(consent(t, e, "Y654321", true, when(40))...)
	_, d = enrol(t, e, "Y654321", "right-index", front, []int{7}, when(41)) // E-8, under way
	add(d)
	add(must(e.Overdue(at(30 + 25*60)))...) // D-1, the desk's
	return drafts
}

// TestScenario: what the scenario leaves, by the queries.
func TestScenario(t *testing.T) {
	e := newEngine(t)
	drafts := scenario(t, e)
	seen := map[string]bool{}
	for _, d := range drafts {
		seen[d.Type] = true
	}
	for _, typ := range biometric.Types() {
		if !seen[typ] {
			t.Errorf("the scenario has no %s", typ)
		}
	}
	p := e.Pending("")
	if len(p) != 1 || p[0].ID != "D-1" || p[0].Terminal != desk || !p[0].OverdueRaised || !slices.Equal(p[0].Slots, []int{1}) {
		t.Errorf("pending %+v, want D-1 on the desk, slot 1, raised overdue", p)
	}
	if d, ok := e.Deletion("D-2"); !ok || !d.Done() || d.Attempts != 1 || !slices.Equal(d.Proof.Used, []int{7}) {
		t.Errorf("D-2 %+v, want confirmed by the index table [7] after one unconfirmed answer", d)
	}
	if f := e.Fingers("X123456"); f != nil {
		t.Errorf("a departed resident's fingers %v", f)
	}
	if en, ok := e.Enrolling(front); !ok || en.ID != "E-8" || en.Slot != 0 || en.CRN != "Y654321" {
		t.Errorf("enrolling on the front door: %+v %v, want E-8 of Y654321 in slot 0 (deleted, free again)", en, ok)
	}
	if a, ok := e.AlternativeOf("Z111111"); !ok || a.Why != biometric.WhyFailedEnrolment || a.Attempts != 3 {
		t.Errorf("Z111111's alternative %+v %v, want failed-enrolment after 3", a, ok)
	}
	if a, ok := e.AlternativeOf("Y654321"); !ok || a.Why != biometric.WhyDeclined {
		t.Errorf("Y654321's alternative %+v %v, want declined (in force until they enrol)", a, ok)
	}
	if o := e.Orphans(); len(o) != 1 || o[0].Terminal != front || o[0].Slot != 7 {
		t.Errorf("orphans %+v, want slot 7 of the front door", o)
	}
	if got := e.Enrolments("X123456"); len(got) != 4 || got[0].State != biometric.StateDeleted || got[3].State != biometric.StateDeleting {
		t.Errorf("X123456's enrolments %+v, want E-1 deleted, E-7 deleting", got)
	}
}

// TestReplayRebuildsState: the drafts of a scenario, journaled and replayed into a
// new engine, rebuild exactly its state; the two then go on alike.
func TestReplayRebuildsState(t *testing.T) {
	e := newEngine(t)
	drafts := scenario(t, e)
	r := replay(t, e.Config(), drafts)
	sameState(t, e, r)
	if !biometric.SameState(e, r) {
		t.Fatal("the replayed engine's state differs")
	}
	if !biometric.SameState(e, e.Clone()) {
		t.Fatal("a clone's state differs")
	}
	for _, x := range []*biometric.Engine{e, r} {
		// The next ids, the busy terminal, the slot the orphan keeps.
		_, _, err := x.StartEnrolment(biometric.Request{CRN: "Y654321", Finger: "left-index", Terminal: front, By: staff, At: at(3000)}, nil, 0)
		wantErr(t, err, biometric.ErrBusy)
		en, _ := enrol(t, x, "Y654321", "left-index", desk, []int{0}, at(3000))
		if en.ID != "E-9" || en.Slot != 2 {
			t.Errorf("next enrolment %s in slot %d, want E-9 in slot 2 (0 used, 1 awaiting its deletion)", en.ID, en.Slot)
		}
		ds, err := x.RequestDeletion("Y654321", biometric.WhyStaff, staff, at(3001))
		if err != nil || len(ds) != 2 {
			t.Fatalf("deletion %v, %v: want two abandoned enrolments", types(ds), err)
		}
		if _, err := x.UsedSlots(front, []int{7}, at(3002), at(3002)); err != nil {
			t.Fatal(err)
		}
	}
	sameState(t, e, r)
	if !biometric.SameState(e, r) {
		t.Fatal("the engines went on differently")
	}
}

// TestReplayIgnoresPolicy: a journal is history. Replayed by an engine whose
// configuration has changed (one attempt, a short overdue), it rebuilds the same
// state.
func TestReplayIgnoresPolicy(t *testing.T) {
	e := newEngine(t)
	drafts := scenario(t, e)
	r := replay(t, biometric.Config{MaxAttempts: 1, DeletionOverdue: time.Minute}, drafts)
	if !biometric.SameState(e, r) {
		t.Fatal("the replayed engine's state differs")
	}
}

// edit returns d with its info changed by f.
func edit(t testing.TB, d biometric.Draft, f func(m map[string]any)) biometric.Draft {
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

// TestApplyRefuses: events that do not fit the state, or cannot be read, are
// refused and change nothing.
func TestApplyRefuses(t *testing.T) {
	e := newEngine(t)
	drafts := scenario(t, e)
	find := func(typ, key string) biometric.Draft {
		for _, d := range drafts {
			if d.Type == typ && strings.Contains(d.Key, key) {
				return d
			}
		}
		t.Fatalf("no %s %s in the scenario", typ, key)
		return biometric.Draft{}
	}
	consented := find(biometric.TypeConsent, "X123456")
	started := find(biometric.TypeStarted, "E-8")
	enrolled := find(biometric.TypeEnrolled, "E-1")
	failure := find(biometric.TypeEnrolFailed, "E-2")
	alternative := find(biometric.TypeAlternative, "Z111111")
	requested := find(biometric.TypeDeletionRequested, "D-1")
	proof := find(biometric.TypeDeleted, "D-2/2")
	overdue := find(biometric.TypeDeletionOverdue, "D-1")
	orphan := find(biometric.TypeOrphanSlot, "")
	later := at(5000).Format(time.RFC3339)
	// e8Stored and d1Answer are events that fit the state after the scenario (E-8
	// enrolled; the desk's answer to D-1); each case below spoils one thing of them.
	e8Stored := func(f func(m map[string]any)) biometric.Draft {
		return edit(t, enrolled, func(m map[string]any) {
			m["enrolment"], m["crn"], m["slot"], m["at"] = "E-8", "Y654321", 0, later
			f(m)
		})
	}
	d1Answer := func(f func(m map[string]any)) biometric.Draft {
		return edit(t, proof, func(m map[string]any) {
			m["deletion"], m["terminal"], m["slots"], m["used"], m["attempt"], m["at"] = "D-1", desk, []int{1}, []int{0}, 1, later
			f(m)
		})
	}
	e8Failed := func(f func(m map[string]any)) biometric.Draft {
		return edit(t, failure, func(m map[string]any) {
			m["enrolment"], m["crn"], m["slot"], m["finger"], m["attempt"], m["at"] = "E-8", "Y654321", 0, "right-index", 1, later
			f(m)
		})
	}
	for _, good := range []biometric.Draft{e8Stored(func(map[string]any) {}), d1Answer(func(map[string]any) {}), e8Failed(func(map[string]any) {})} {
		if err := e.Clone().Apply(good); err != nil {
			t.Fatalf("the good version of the edits is refused: %v (%s)", err, good.Info)
		}
	}
	tests := []struct {
		name  string
		draft biometric.Draft
		want  error
	}{
		{"unknown type", biometric.Draft{Type: "biometric.uploaded", Info: consented.Info}, biometric.ErrEvent},
		{"the verifier's alarm", biometric.Draft{Type: biometric.TypeVerificationFailed, Info: []byte(`{}`)}, biometric.ErrEvent},
		{"not JSON", biometric.Draft{Type: biometric.TypeConsent, Info: []byte("{")}, biometric.ErrEvent},
		{"an array", biometric.Draft{Type: biometric.TypeStarted, Info: []byte("[]")}, biometric.ErrEvent},
		{"null", biometric.Draft{Type: biometric.TypeEnrolled, Info: []byte("null")}, biometric.ErrEvent},
		{"no info", biometric.Draft{Type: biometric.TypeDeleted}, biometric.ErrEvent},
		{"too big", biometric.Draft{Type: biometric.TypeConsent, Info: []byte(`{"x":"` + strings.Repeat("a", 1<<20) + `"}`)}, biometric.ErrEvent},
		{"a number where a string goes", edit(t, consented, func(m map[string]any) { m["crn"] = 7 }), biometric.ErrEvent},
		{"a consent by no one", edit(t, consented, func(m map[string]any) { m["by"] = " " }), biometric.ErrInvalid},
		{"a consent of no CRN", edit(t, consented, func(m map[string]any) { m["crn"] = "nobody" }), biometric.ErrInvalid},
		{"an enrolment started twice", started, biometric.ErrDuplicate},
		{"an enrolment on a busy terminal", edit(t, started, func(m map[string]any) { m["enrolment"], m["finger"] = "E-50", "left-ring" }), biometric.ErrBusy},
		{"an enrolment without consent", edit(t, started, func(m map[string]any) {
			m["enrolment"], m["crn"], m["terminal"], m["attempt"] = "E-50", "A000001", desk, 1
		}), biometric.ErrConsent},
		{"an enrolment of no finger", edit(t, started, func(m map[string]any) { m["enrolment"], m["terminal"], m["finger"] = "E-50", desk, "nose" }), biometric.ErrFinger},
		{"an enrolment in a slot held", edit(t, started, func(m map[string]any) { m["enrolment"], m["terminal"], m["slot"] = "E-50", desk, 1 }), biometric.ErrState},
		{"an enrolment's attempt out of order", edit(t, started, func(m map[string]any) { m["enrolment"], m["terminal"], m["attempt"] = "E-50", desk, 5 }), biometric.ErrEvent},
		{"enrolled twice", enrolled, biometric.ErrState},
		{"enrolled in another slot", e8Stored(func(m map[string]any) { m["slot"] = 3 }), biometric.ErrEvent},
		{"enrolled for another resident", e8Stored(func(m map[string]any) { m["crn"] = "X123456" }), biometric.ErrEvent},
		{"enrolled before it started", e8Stored(func(m map[string]any) { m["at"] = t0.Format(time.RFC3339) }), biometric.ErrInvalid},
		{"enrolled for no enrolment", e8Stored(func(m map[string]any) { m["enrolment"] = "E-99" }), biometric.ErrNoEnrolment},
		{"failed twice", failure, biometric.ErrState},
		{"a failure of another attempt", e8Failed(func(m map[string]any) { m["attempt"] = 2 }), biometric.ErrEvent},
		{"a cancellation counted", e8Failed(func(m map[string]any) { m["reason"] = "cancelled" }), biometric.ErrEvent},
		{"a failure for no reason", e8Failed(func(m map[string]any) { m["reason"] = "" }), biometric.ErrEvent},
		{"an alternative for no reason", edit(t, alternative, func(m map[string]any) { m["why"] = "asked" }), biometric.ErrEvent},
		{"an alternative after attempts not recorded", edit(t, alternative, func(m map[string]any) { m["attempts"] = 2 }), biometric.ErrEvent},
		{"a deletion requested twice", requested, biometric.ErrDuplicate},
		{"a deletion of slots no longer enrolled", edit(t, requested, func(m map[string]any) { m["deletion"] = "D-50" }), biometric.ErrState},
		{"a deletion of unsorted slots", edit(t, requested, func(m map[string]any) { m["deletion"], m["slots"] = "D-50", []int{3, 1} }), biometric.ErrInvalid},
		{"an answer to a confirmed deletion", proof, biometric.ErrState},
		{"an answer confirming what the table contradicts", d1Answer(func(m map[string]any) { m["used"] = []int{0, 1} }), biometric.ErrEvent},
		{"an answer of another attempt", d1Answer(func(m map[string]any) { m["attempt"] = 3 }), biometric.ErrEvent},
		{"an answer of other slots", d1Answer(func(m map[string]any) { m["slots"] = []int{2} }), biometric.ErrEvent},
		{"an answer with a slot beyond the capacity", d1Answer(func(m map[string]any) { m["used"], m["capacity"] = []int{0, 1500}, 1000 }), biometric.ErrEvent},
		{"an answer read at no time", d1Answer(func(m map[string]any) { delete(m, "readAt") }), biometric.ErrEvent},
		{"an answer to no deletion", d1Answer(func(m map[string]any) { m["deletion"] = "D-9" }), biometric.ErrNoDeletion},
		{"overdue twice", overdue, biometric.ErrDuplicate},
		{"an orphan twice", orphan, biometric.ErrDuplicate},
		{"an orphan slot an enrolment holds", edit(t, orphan, func(m map[string]any) { m["terminal"], m["slot"] = desk, 1 }), biometric.ErrState},
		{"an orphan of no terminal", edit(t, orphan, func(m map[string]any) { m["terminal"] = "" }), biometric.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := e.Clone()
			wantErr(t, x.Apply(tc.draft), tc.want)
			if !biometric.SameState(e, x) {
				t.Error("a refused event changed the state")
			}
		})
	}
}

// FuzzApply: any bytes as the Info of any event type never panic; an event Apply
// refuses changes nothing, and one it takes is replayed to the same state.
func FuzzApply(f *testing.F) {
	base := newEngine(f)
	drafts := scenario(f, base)
	types := biometric.Types()
	for _, d := range drafts {
		f.Add(uint8(slices.Index(types, d.Type)), []byte(d.Info))
	}
	for i, seed := range []string{"", "{", "null", "[]", `{"enrolment":"E-8","crn":"Y654321","terminal":"fp-front","slot":0,"finger":"right-index","by":"Ann Staff","at":"9999-12-31T23:59:59Z"}`,
		`{"deletion":"D-1","crn":"X123456","terminal":"fp-desk","slots":[1],"used":[],"capacity":1,"readAt":"2026-11-23T00:00:00Z","confirmed":true,"attempt":1,"at":"2026-11-23T00:00:00Z"}`,
		`{"terminal":"fp-desk","slot":9999,"seenAt":"2026-11-23T00:00:00Z","at":"2026-11-23T00:00:00Z"}`} {
		f.Add(uint8(i), []byte(seed))
	}
	for file, typ := range badCorpus(f) {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(slices.Index(types, typ)), b)
	}
	f.Fuzz(func(t *testing.T, typ uint8, b []byte) {
		d := biometric.Draft{Type: types[int(typ)%len(types)], Info: b}
		e := base.Clone()
		if err := e.Apply(d); err != nil {
			if !biometric.SameState(base, e) {
				t.Fatalf("refused %s %q (%v) but changed the state", d.Type, b, err)
			}
			return
		}
		_ = e.Enrolments("")
		_ = e.Pending("")
		_ = e.Orphans()
		_ = e.Fingers("Y654321")
		if _, err := e.Overdue(at(1 << 20)); err != nil {
			t.Fatalf("overdue after %s %q: %v", d.Type, b, err)
		}
		r, err := biometric.New(e.Config())
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range append(slices.Clone(drafts), d) {
			if err := r.Apply(x); err != nil {
				t.Fatalf("replaying %s %q: %v", x.Type, x.Info, err)
			}
		}
		if _, err := r.Overdue(at(1 << 20)); err != nil {
			t.Fatal(err)
		}
		if !biometric.SameState(e, r) {
			t.Fatalf("%s %q: the replay differs", d.Type, b)
		}
	})
}

// badCorpus returns the files of testdata/bad, each with the event type its
// directory names ("biometric." + the directory).
func badCorpus(t testing.TB) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "bad", "*", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad corpus: %v", err)
	}
	out := map[string]string{}
	for _, f := range files {
		out[f] = "biometric." + filepath.Base(filepath.Dir(f))
	}
	return out
}

// TestBadEventCorpus: every event of testdata/bad (one directory per event type,
// each file an Info that must not be applied after the scenario: an id taken, an
// enrolment or deletion that does not exist or is another resident's, a slot not
// the one held, a deletion confirmed that its index table contradicts, a cut-off
// file) is refused with an error, changing nothing; and every event type has its
// directory.
func TestBadEventCorpus(t *testing.T) {
	base := newEngine(t)
	scenario(t, base)
	corpus := badCorpus(t)
	for _, typ := range biometric.Types() {
		if !slices.Contains(slices.Collect(maps.Values(corpus)), typ) {
			t.Errorf("no bad corpus of %s", typ)
		}
	}
	for f, typ := range corpus {
		t.Run(f, func(t *testing.T) {
			if !slices.Contains(biometric.Types(), typ) {
				t.Fatalf("directory of %s names no event type (%s)", f, typ)
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			e := base.Clone()
			if err := e.Apply(biometric.Draft{Type: typ, Info: b}); err == nil {
				t.Fatalf("%s %s applied", typ, b)
			}
			if !biometric.SameState(base, e) {
				t.Fatalf("%s refused but changed the state", typ)
			}
		})
	}
}
