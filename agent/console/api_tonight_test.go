package console_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/agent/eventindex"
	"github.com/apedge/apedge/devices/wiegand"
	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/proof"
	"github.com/apedge/apedge/formats/sitekey"
	"github.com/apedge/apedge/internal/openapi"
)

// swipe shows card facility:number at reader, waits for the door to unlock, passes and
// waits for it to relock.
func (s *consoleSite) swipe(reader string, facility uint8, number uint16) {
	s.t.Helper()
	front := s.bridge.Sim().Door("front")
	s.waitFor("the front door locked", func() (bool, string) { return front.LockEnergised(), "" })
	card, _ := wiegand.Decode(wiegand.Encode26(facility, number), 26)
	before := s.movements()
	if !s.bridge.Sim().Present(reader, card) {
		s.t.Fatalf("card not shown at %s", reader)
	}
	s.waitFor("the lock released", func() (bool, string) { return !front.LockEnergised(), "" })
	front.Open()
	s.waitFor("the movement journaled", func() (bool, string) { return s.movements() > before, "" })
	front.Shut()
}

// movements counts the movements journaled.
func (s *consoleSite) movements() int {
	n := 0
	for _, typ := range s.journalTypes() {
		if strings.HasPrefix(typ, "movement.") {
			n++
		}
	}
	return n
}

// TestCurfewTonightFireRollAndHistory runs a night: at 22:59:50 BST Resident One and Ann
// (staff) come in and Resident Two does not; the 23:00 curfew starts. Curfew tonight says
// who is in and who is absent and how late, with each window and where it comes from; the
// fire roll lists exactly Resident One and Ann (Resident Two apart, never seen) and is
// journaled; Resident One then leaves during curfew, and each resident's history matches
// the journal, in words; the history exported as a signed bundle verifies offline with
// the site's public key, and fails once an event in it is altered.
func TestCurfewTonightFireRollAndHistory(t *testing.T) {
	t.Parallel()
	s := newConsoleSite(t)
	s.waitFor("the bridge to keep the agent's credential list", func() (bool, string) {
		_, err := os.Stat(filepath.Join(s.dir, "bridge-state", "credentials.json"))
		return err == nil, fmt.Sprint(err)
	})
	s.waitFor("both readers online", func() (bool, string) {
		n := 0
		for _, typ := range s.journalTypes() {
			if typ == "reader.online" {
				n++
			}
		}
		return n == 2, fmt.Sprint(s.journalTypes())
	})
	s.clock.Set(time.Date(2026, 6, 10, 21, 59, 50, 0, time.UTC))
	s.swipe("front-in", 12, 10001)
	// Ann's card (12:90001) is beyond what a 26-bit card holds: her entry is journaled
	// as the agent journals a staff member's movement.
	ann, _ := json.Marshal(map[string]any{"door": "front", "reader": "front-in", "direction": "entry", "basis": "read-then-door-opened",
		"holder": map[string]any{"kind": "staff", "id": "s-ann"}})
	rec, err := s.agent.Journal().Append(t.Context(), &event.Draft{Type: "movement.entered", OccurredAt: s.clock.Now(), Info: ann})
	if err != nil {
		t.Fatal(err)
	}
	s.waitFor("Ann's entry indexed", func() (bool, string) { return s.index.Indexed() >= rec.Seq, "" })
	s.waitFor("Resident One in", func() (bool, string) {
		for _, r := range s.agent.Residents() {
			if r.CRN == "X100001" {
				return r.Presence == "in", r.Presence + s.dump()
			}
		}
		return false, "not on the roster"
	})
	if absent := s.waitEvent("curfew.absent"); absent.CRN != "X100002" {
		t.Fatalf("curfew.absent for %s, want X100002", absent.CRN)
	}
	s.waitEvent("curfew.roll")
	staff := s.bearer("staff-1")
	api, err := openapi.Load("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// call makes a request, checks the answer against the OpenAPI document and decodes it.
	call := func(c *client, method, path string, body, out any) int {
		t.Helper()
		code, b := c.raw(method, path, body, nil)
		if err := api.CheckResponse(method, strings.Split(path, "?")[0], code, b); err != nil {
			t.Errorf("%s %s: the answer is not what openapi.yaml says: %v", method, path, err)
		}
		if out != nil {
			if err := json.Unmarshal(b, out); err != nil {
				t.Fatalf("%s %s: %d %s: %v", method, path, code, b, err)
			}
		}
		return code
	}

	var tn struct {
		Night, NightLocal string
		Counts            map[string]int
		In, Unknown       []string
		NextRoll          struct{ At time.Time }
		LastRoll          *struct{ In, Unknown int }
		Absences          []struct {
			CRN, Label, Late string
			Open             bool
			MinutesLate      int
			Window           struct{ Times, SourceText string }
		}
		Residents []struct {
			CRN, Presence, Sentence string
			Absent, InCurfew        bool
			Windows                 []struct {
				Times, Source, SourceText string
				InForce                   bool
			}
		}
	}
	if code := call(staff, "GET", "/api/v1/curfew/tonight", nil, &tn); code != http.StatusOK {
		t.Fatalf("curfew tonight: %d", code)
	}
	if tn.Night != "2026-06-10" || tn.NightLocal != "10 Jun 2026" {
		t.Errorf("night %q %q, want 2026-06-10, 10 Jun 2026", tn.Night, tn.NightLocal)
	}
	if tn.Counts["in"] != 1 || tn.Counts["unknown"] != 1 || !slices.Equal(tn.In, []string{"X100001"}) || !slices.Equal(tn.Unknown, []string{"X100002"}) {
		t.Errorf("counts %v, in %v, unknown %v: want X100001 in, X100002 unknown", tn.Counts, tn.In, tn.Unknown)
	}
	if want := time.Date(2026, 6, 11, 22, 0, 0, 0, time.UTC); !tn.NextRoll.At.Equal(want) {
		t.Errorf("next roll %s, want %s (23:00 BST tomorrow)", tn.NextRoll.At, want)
	}
	if tn.LastRoll == nil || tn.LastRoll.In != 1 || tn.LastRoll.Unknown != 1 {
		t.Errorf("last roll %+v, want 1 in, 1 unknown", tn.LastRoll)
	}
	if len(tn.Absences) != 1 || tn.Absences[0].CRN != "X100002" || !tn.Absences[0].Open || tn.Absences[0].Window.Times != "23:00–06:00" ||
		tn.Absences[0].Window.SourceText != "AP rule" || tn.Absences[0].MinutesLate < 0 || !strings.HasSuffix(tn.Absences[0].Late, "late") {
		t.Errorf("absences %+v: want Resident Two's open absence from the AP rule's 23:00–06:00", tn.Absences)
	}
	for _, r := range tn.Residents {
		if len(r.Windows) != 1 || r.Windows[0].Times != "23:00–06:00" || r.Windows[0].Source != "ap-rule" || !r.Windows[0].InForce || !r.InCurfew {
			t.Errorf("%s's windows %+v: want the AP rule's 23:00–06:00, in force", r.CRN, r.Windows)
		}
		if r.Absent != (r.CRN == "X100002") {
			t.Errorf("%s absent %v", r.CRN, r.Absent)
		}
	}
	if len(tn.Residents) == 2 && !strings.HasPrefix(tn.Residents[0].Sentence, "Resident One is in since 22:59 on 10 Jun 2026; curfew tonight 23:00–06:00 (AP rule)") {
		t.Errorf("Resident One's sentence %q", tn.Residents[0].Sentence)
	}

	// The fire roll: exactly Resident One and Ann in; Resident Two apart; journaled.
	var roll struct {
		Seq     uint64
		TakenBy string
		Counts  map[string]int
		People  []struct {
			Kind, ID, Label, Certainty, Seen string
			LastMovement                     *struct{ Door, DoorName, Direction string }
		}
		Unknown []struct{ ID string }
	}
	if code := call(staff, "POST", "/api/v1/roll/fire", map[string]any{"note": "drill"}, &roll); code != http.StatusOK {
		t.Fatalf("fire roll: %d", code)
	}
	var got []string
	for _, p := range roll.People {
		got = append(got, p.Kind+":"+p.ID)
		if p.LastMovement == nil || p.LastMovement.Door != "front" || p.LastMovement.DoorName != "the front door" || p.LastMovement.Direction != "entry" ||
			p.Certainty != "high" || !strings.HasPrefix(p.Seen, "seen just now coming in by the front door (at 22:59 on 10 Jun 2026)") {
			t.Errorf("fire roll entry %+v %+v", p, p.LastMovement)
		}
	}
	if !slices.Equal(got, []string{"resident:X100001", "staff:s-ann"}) || len(roll.Unknown) != 1 || roll.Unknown[0].ID != "X100002" ||
		roll.Counts["total"] != 2 || roll.TakenBy != "staff-1" {
		t.Errorf("fire roll %v, unknown %v, counts %v, by %q: want Resident One and Ann in, Resident Two unknown, by staff-1", got, roll.Unknown, roll.Counts, roll.TakenBy)
	}
	taken := s.waitEvent("fire-roll.taken")
	if taken.Seq != roll.Seq || !bytes.Contains(taken.Data, []byte(`"by":"staff-1"`)) || !bytes.Contains(taken.Data, []byte(`"staff:s-ann"`)) {
		t.Errorf("fire-roll.taken seq %d (roll says %d): %s", taken.Seq, roll.Seq, taken.Data)
	}

	// Resident One leaves during the curfew: a breach, in words, on their page.
	s.swipe("front-out", 12, 10001)
	breach := s.waitEvent("curfew.breached")
	type history struct {
		CRN, Label string
		OnRoster   bool
		Counts     map[string]int
		Events     []struct {
			Seq        uint64
			Type, Kind string
			Sentence   string
			Alarm      bool
		}
	}
	var h1 history
	var journal []eventindex.Summary
	if code := call(staff, "GET", "/api/v1/residents/X100001/history?from=2026-06-10", nil, &h1); code != http.StatusOK {
		t.Fatalf("history: %d", code)
	}
	journal, _, err = s.index.Search(t.Context(), eventindex.Query{CRN: "X100001", Limit: eventindex.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	var want, have []uint64
	for _, e := range journal {
		want = append(want, e.Seq)
	}
	sentences := map[string]string{}
	for _, e := range h1.Events {
		have = append(have, e.Seq)
		sentences[e.Type] = e.Sentence
	}
	if !slices.Equal(have, want) || !h1.OnRoster || h1.Label != "Resident One" {
		t.Errorf("history of X100001: seqs %v, journal %v; on roster %v, label %q", have, want, h1.OnRoster, h1.Label)
	}
	if s := sentences["curfew.breached"]; !strings.HasPrefix(s, "Resident One left by the front door at 23:0") || !strings.HasSuffix(s, " on 10 Jun 2026, during curfew 23:00–06:00") {
		t.Errorf("breach sentence %q", s)
	}
	if s := sentences["movement.entered"]; !strings.HasPrefix(s, "Resident One came in by the front door at 22:59 on 10 Jun 2026") {
		t.Errorf("entry sentence %q", s)
	}
	if h1.Counts["movement"] != 2 || h1.Counts["curfew"] != 1 {
		t.Errorf("counts %v, want 2 movements and 1 curfew decision", h1.Counts)
	}
	_ = breach

	var h2 history
	call(staff, "GET", "/api/v1/residents/x100002/history", nil, &h2)
	if len(h2.Events) != 1 || h2.Events[0].Type != "curfew.absent" || h2.Events[0].Kind != "absence" || !h2.Events[0].Alarm ||
		h2.Events[0].Sentence != "Resident Two was not in at 23:00 on 10 Jun 2026, when curfew 23:00–06:00 began; no movement of theirs has been seen" {
		t.Errorf("history of X100002: %+v", h2.Events)
	}
	if code, body := staff.raw("GET", "/api/v1/residents/X100001/history?from=2026-06-11&to=2026-06-10", nil, nil); code != http.StatusBadRequest {
		t.Errorf("from after to: %d %s", code, body)
	}

	// The signed bundle: managers only; it verifies offline, and not once altered.
	if code, _ := staff.raw("GET", "/api/v1/residents/X100001/bundle", nil, nil); code != http.StatusForbidden {
		t.Errorf("bundle as staff: %d, want 403", code)
	}
	code, b := s.bearer("manager-1").raw("GET", "/api/v1/residents/X100001/bundle?from=2026-06-10", nil, nil)
	if code != http.StatusOK {
		t.Fatalf("bundle: %d %s", code, b)
	}
	if err := api.CheckResponse("GET", "/api/v1/residents/X100001/bundle", code, b); err != nil {
		t.Errorf("the bundle is not what openapi.yaml says: %v", err)
	}
	pub, err := sitekey.LoadPublic(s.pub, site)
	if err != nil {
		t.Fatal(err)
	}
	res, err := proof.VerifySet(b, []*sitekey.Public{pub})
	if err != nil {
		t.Fatalf("the bundle does not verify: %v", err)
	}
	var proved []uint64
	for _, v := range res.Events {
		proved = append(proved, v.Seq)
	}
	if !slices.Equal(proved, want) || res.Subject != "X100001" {
		t.Errorf("bundle proves %v of %s, want %v of X100001", proved, res.Subject, want)
	}
	// An altered payload (one base64 character of the first envelope changed).
	i := bytes.Index(b, []byte(`"payload":"`)) + len(`"payload":"`) + 40
	bad := bytes.Clone(b)
	bad[i] ^= 1
	if _, err := proof.VerifySet(bad, []*sitekey.Public{pub}); err == nil ||
		!(errors.Is(err, proof.ErrSignature) || errors.Is(err, proof.ErrEnvelope) || errors.Is(err, proof.ErrBundleFormat)) {
		t.Errorf("an altered bundle: %v, want a signature or envelope failure", err)
	}
	s.waitEvent("staff.resident-bundle-exported")
}

func (s *consoleSite) dump() string {
	ss, _, _ := s.index.Search(s.t.Context(), eventindex.Query{Limit: eventindex.MaxLimit})
	var b strings.Builder
	for _, e := range ss {
		fmt.Fprintf(&b, "\n%d %s %s %s %s", e.Seq, e.Type, e.OccurredAt, e.CRN, e.Data)
	}
	return b.String()
}
