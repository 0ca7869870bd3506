package console_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/apedge/apedge/agent/register"
	"github.com/apedge/apedge/internal/config"
)

// refusal is the body of a refused register change.
type refusal struct {
	Error    string
	Field    string
	Resident *struct {
		CRN, NOMS, Name, Room, Arrived, ExpectedDeparture, Departed string
		Cards                                                       []string
	}
}

// rosterEntry returns the agent's roster entry for crn.
func (s *consoleSite) rosterEntry(crn string) (config.Resident, bool) {
	for _, r := range s.agent.Roster() {
		if r.CRN == crn {
			return r, true
		}
	}
	return config.Resident{}, false
}

// TestResidentUpdate: PATCH /api/v1/residents/{crn} sets the details given, keeps the
// others, answers what changes and is journaled (and audited) as resident.updated
// with each field's old and new value and who made it; the same update again changes
// nothing and is refused.
func TestResidentUpdate(t *testing.T) {
	t.Parallel()
	s := newConsoleSite(t)
	c := s.browser("staff-1")
	body := map[string]any{"noms": "a1001ab ", "room": "7", "cards": []string{"12:10001", "012:010021"}}
	var res struct {
		Change  int64
		Action  string
		CRN     string
		Changes []register.FieldChange
	}
	if code := c.do("PATCH", "/api/v1/residents/x100001", body, &res); code != http.StatusAccepted {
		t.Fatalf("update: %d %+v", code, res)
	}
	want := []register.FieldChange{{Field: "noms", Old: "A1001AA", New: "A1001AB"}, {Field: "room", Old: "", New: "7"},
		{Field: "cards", Old: "12:10001", New: "12:10001, 12:10021"}}
	if res.Change == 0 || res.Action != "update" || res.CRN != "X100001" || !slices.Equal(res.Changes, want) {
		t.Errorf("update answered %+v, want change, action update, crn X100001 and changes %+v", res, want)
	}
	ev := s.waitEvent("resident.updated")
	var info struct {
		Change     int64
		Changes    []register.FieldChange
		RecordedBy string
		Name, Room string
	}
	if err := json.Unmarshal(ev.Data, &info); err != nil {
		t.Fatal(err)
	}
	if ev.CRN != "X100001" || info.Change != res.Change || !slices.Equal(info.Changes, want) || info.RecordedBy != "staff-1" || info.Name != "Resident One" || info.Room != "7" {
		t.Errorf("resident.updated: crn %s, %s", ev.CRN, ev.Data)
	}
	s.waitFor("the update applied", func() (bool, string) {
		r, _ := s.rosterEntry("X100001")
		return r.Room == "7" && r.NOMS == "A1001AB" && slices.Equal(r.Cards, []string{"12:10001", "12:10021"}) && r.Name == "Resident One", fmt.Sprintf("%+v", r)
	})
	var audit struct{ Events []struct{ Type string } }
	c.do("GET", "/api/v1/audit", nil, &audit)
	if !slices.ContainsFunc(audit.Events, func(e struct{ Type string }) bool { return e.Type == "resident.updated" }) {
		t.Errorf("resident.updated not in the audit log: %+v", audit)
	}

	var ref refusal
	if code := c.do("PATCH", "/api/v1/residents/X100001", map[string]any{"room": "7"}, &ref); code != http.StatusConflict ||
		!strings.Contains(ref.Error, "nothing to change: the details given for X100001 (Resident One) are those on record") || ref.Resident == nil || ref.Resident.Room != "7" {
		t.Errorf("the same update again: %d %+v", code, ref)
	}

	// A lost card: every card taken away, and an expected departure cleared.
	if code := c.do("PATCH", "/api/v1/residents/X100002", map[string]any{"cards": []string{}, "expectedDeparture": ""}, &res); code != http.StatusAccepted ||
		len(res.Changes) != 1 || res.Changes[0] != (register.FieldChange{Field: "cards", Old: "12:10002", New: ""}) {
		t.Errorf("cards taken away: %d %+v", code, res)
	}
	s.waitFor("X100002's card revoked", func() (bool, string) {
		r, _ := s.rosterEntry("X100002")
		return len(r.Cards) == 0 && r.Name == "Resident Two", fmt.Sprintf("%+v", r)
	})
}

// TestSecondArrivalRefused: an arrival of a resident in residence is refused (409),
// saying in staff's words what to do and giving their record, and nothing of the
// first arrival is lost; identifiers are recorded upper case and cards as readers
// report them.
func TestSecondArrivalRefused(t *testing.T) {
	t.Parallel()
	s := newConsoleSite(t)
	c := s.bearer("staff-1")
	var ref refusal
	code := c.do("POST", "/api/v1/residents", map[string]any{"crn": " x100001", "name": "Someone Else", "room": "9", "cards": []string{"12:30001"}}, &ref)
	if code != http.StatusConflict || ref.Error != "X100001 (Resident One) is already in residence: use update to change their details, or record their departure first" ||
		ref.Field != "crn" || ref.Resident == nil || ref.Resident.NOMS != "A1001AA" || !slices.Equal(ref.Resident.Cards, []string{"12:10001"}) {
		t.Errorf("second arrival: %d %+v", code, ref)
	}

	var res struct {
		Change int64
		CRN    string
	}
	if code := c.do("POST", "/api/v1/residents", map[string]any{"crn": "x400009", "noms": "a4009aa", "name": "New One", "room": "4",
		"cards": []string{"12:040009"}}, &res); code != http.StatusAccepted || res.CRN != "X400009" {
		t.Fatalf("arrival: %d %+v", code, res)
	}
	s.waitFor("the arrival on the roster, written the one way", func() (bool, string) {
		r, ok := s.rosterEntry("X400009")
		return ok && r.NOMS == "A4009AA" && slices.Equal(r.Cards, []string{"12:40009"}), fmt.Sprintf("%+v", r)
	})
	s.waitEvent("resident.arrived")
	// Now with its arrival date: the refusal says since when, and the room.
	code = c.do("POST", "/api/v1/residents", map[string]any{"crn": "X400009", "cards": []string{"12:40010"}}, &ref)
	if code != http.StatusConflict || !strings.HasPrefix(ref.Error, "X400009 (New One) is already in residence since 10 Jun 2026, room 4: use update") {
		t.Errorf("second arrival of X400009: %d %+v", code, ref)
	}
	if r, _ := s.rosterEntry("X100001"); r.Name != "Resident One" || r.NOMS != "A1001AA" || !slices.Equal(r.Cards, []string{"12:10001"}) {
		t.Errorf("the refused arrival changed X100001: %+v", r)
	}
	for _, typ := range s.journalTypes() {
		if typ == "resident.updated" {
			t.Error("a refused arrival was journaled as an update")
		}
	}
}

// TestRegisterRefusals: every refusal is JSON the page can show: a sentence for staff
// (never the roster's internals), the field at fault, and the right status.
func TestRegisterRefusals(t *testing.T) {
	t.Parallel()
	s := newConsoleSite(t)
	c := s.bearer("manager-1")
	if code := c.do("POST", "/api/v1/residents/X100002/departure", map[string]any{}, nil); code != http.StatusAccepted {
		t.Fatalf("departure: %d", code)
	}
	s.waitFor("X100002 departed", func() (bool, string) {
		r, _ := s.rosterEntry("X100002")
		return r.Departed != "", r.Departed
	})
	for _, tc := range []struct {
		name, method, path string
		body               any
		code               int
		field, says        string
	}{
		{"card without facility", "POST", "/api/v1/residents", map[string]any{"crn": "X400001", "cards": []string{"1234"}}, 400,
			"cards", `"1234" is not a card: write a card as facility:number, e.g. 12:10001`},
		{"no card", "POST", "/api/v1/residents", map[string]any{"crn": "X400001"}, 400, "cards", "an arriving resident needs at least one card"},
		{"no CRN", "POST", "/api/v1/residents", map[string]any{"cards": []string{"12:40001"}}, 400, "crn", "give the resident's CRN"},
		{"bad CRN", "POST", "/api/v1/residents", map[string]any{"crn": "400001", "cards": []string{"12:40001"}}, 400, "crn",
			`"400001" is not a CRN: a CRN is a letter and six digits, e.g. X123456`},
		{"bad NOMS", "POST", "/api/v1/residents", map[string]any{"crn": "X400001", "noms": "1234ABC", "cards": []string{"12:40001"}}, 400, "noms",
			"a NOMS number is a letter, four digits and two letters, e.g. A1234BC"},
		{"a card someone holds", "POST", "/api/v1/residents", map[string]any{"crn": "X400001", "cards": []string{"12:90001"}}, 400, "cards",
			"card 12:90001 belongs to s-ann (Ann): give each card to one person"},
		{"bad expected departure", "POST", "/api/v1/residents", map[string]any{"crn": "X400001", "cards": []string{"12:40001"}, "expectedDeparture": "1/9/2026"}, 400,
			"expectedDeparture", `"1/9/2026" is not a date: write a date as 2026-11-22`},
		{"update of nobody", "PATCH", "/api/v1/residents/X999999", map[string]any{"room": "1"}, 404, "crn", "X999999 is not on the roster: check the CRN"},
		{"update with nothing", "PATCH", "/api/v1/residents/X100001", map[string]any{}, 400, "", "say what to change"},
		{"update with only nulls", "PATCH", "/api/v1/residents/X100001", map[string]any{"room": nil}, 400, "", "say what to change"},
		{"update to a card someone holds", "PATCH", "/api/v1/residents/X100001", map[string]any{"cards": []string{"12:90001"}}, 400, "cards", "card 12:90001 belongs to s-ann"},
		{"update to a bad card", "PATCH", "/api/v1/residents/X100001", map[string]any{"cards": []string{"12:"}}, 400, "cards", "is not a card"},
		{"update with an unknown field", "PATCH", "/api/v1/residents/X100001", map[string]any{"colour": "red"}, 400, "", "colour"},
		{"update of a resident who has left", "PATCH", "/api/v1/residents/X100002", map[string]any{"room": "1"}, 409, "crn",
			"X100002 (Resident Two) left on 10 Jun 2026: record a new arrival if they are back"},
		{"departure twice", "POST", "/api/v1/residents/X100002/departure", map[string]any{}, 409, "crn", "left on 10 Jun 2026: their departure is already recorded"},
		{"absence of a resident who has left", "POST", "/api/v1/residents/X100002/absences",
			map[string]any{"id": "a", "from": "2026-06-12 10:00", "to": "2026-06-13 10:00", "approvedBy": "M"}, 409, "crn", "left on 10 Jun 2026"},
		{"absence without approval", "POST", "/api/v1/residents/X100001/absences",
			map[string]any{"id": "a", "from": "2026-06-12 10:00", "to": "2026-06-13 10:00"}, 400, "approvedBy", "say who approved the absence"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, b := c.raw(tc.method, tc.path, tc.body, nil)
			var ref refusal
			if err := json.Unmarshal(b, &ref); err != nil {
				t.Fatalf("%d %q is not JSON: %v", code, b, err)
			}
			if code != tc.code || ref.Field != tc.field || !strings.Contains(ref.Error, tc.says) {
				t.Errorf("%s %s: %d %s, want %d field %q saying %q", tc.method, tc.path, code, b, tc.code, tc.field, tc.says)
			}
			for _, internal := range []string{"roster[", "register:", "problem(s)"} {
				if strings.Contains(ref.Error, internal) {
					t.Errorf("the refusal %q shows internals (%s)", ref.Error, internal)
				}
			}
		})
	}
}
