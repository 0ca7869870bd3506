package console_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"
)

// TestHoldRoles: holding a door is for security, managers and admins, as an unlock
// is; a lockdown and its release are for managers and admins only; every signed-in
// role may see the lockdown. Refused requests are journaled as nothing.
func TestHoldRoles(t *testing.T) {
	t.Parallel()
	s := newConsoleSite(t)
	s.waitFor("front reported", func() (bool, string) { return len(s.agent.Devices().Doors) == 1, "" })
	routes := []struct {
		method, path string
		body         any
		allowed      []string
	}{
		{"POST", "/api/v1/doors/front/hold", map[string]any{"mode": "nonsense", "reason": "r"}, []string{"security", "manager", "admin"}},
		{"POST", "/api/v1/site/lockdown", map[string]any{}, []string{"manager", "admin"}},
		{"POST", "/api/v1/site/release", map[string]any{}, []string{"manager", "admin"}},
		{"GET", "/api/v1/site/lockdown", nil, []string{"staff", "security", "manager", "admin"}},
	}
	clients := map[string]*client{}
	for _, role := range []string{"staff", "security", "manager", "admin"} {
		clients[role] = s.bearer(role + "-1")
	}
	for _, r := range routes {
		for role, c := range clients {
			code := c.do(r.method, r.path, r.body, nil)
			if allowed := slices.Contains(r.allowed, role); allowed == (code == http.StatusForbidden) {
				t.Errorf("%s %s as %s: %d (allowed %v)", r.method, r.path, role, code, allowed)
			}
		}
		if code := s.anonymous().do(r.method, r.path, r.body, nil); code != http.StatusUnauthorized {
			t.Errorf("%s %s anonymous: %d, want 401", r.method, r.path, code)
		}
	}
	for _, typ := range s.journalTypes() {
		if typ == "door.held" || typ == "site.lockdown" || typ == "site.lockdown-released" {
			t.Errorf("%s journaled for a refused or invalid request", typ)
		}
	}
}

// TestHoldAndLockdownJournaled: a hold and a lockdown ordered through the API reach
// the door and are journaled with who ordered them, why, the mode and until when;
// bad requests are refused with what to fix.
func TestHoldAndLockdownJournaled(t *testing.T) {
	t.Parallel()
	s := newConsoleSite(t)
	s.waitFor("front reported", func() (bool, string) { return len(s.agent.Devices().Doors) == 1, "" })
	sec, mgr := s.bearer("security-1"), s.browser("manager-1")

	for _, tc := range []struct {
		path string
		body any
		want int
	}{
		{"/api/v1/doors/cellar/hold", map[string]any{"mode": "locked", "minutes": 10, "reason": "x"}, http.StatusNotFound},
		{"/api/v1/doors/front/hold", map[string]any{"mode": "open", "minutes": 10, "reason": "x"}, http.StatusBadRequest},
		{"/api/v1/doors/front/hold", map[string]any{"mode": "locked", "minutes": 10}, http.StatusBadRequest},
		{"/api/v1/doors/front/hold", map[string]any{"mode": "locked", "reason": "x"}, http.StatusBadRequest},
		{"/api/v1/doors/front/hold", map[string]any{"mode": "locked", "minutes": 13 * 60, "reason": "x"}, http.StatusBadRequest},
		{"/api/v1/doors/front/hold", map[string]any{"mode": "locked", "until": noon.Add(-time.Hour), "reason": "x"}, http.StatusBadRequest},
		{"/api/v1/doors/front/hold", map[string]any{"mode": "locked", "minutes": 5, "until": noon.Add(time.Hour), "reason": "x"}, http.StatusBadRequest},
		{"/api/v1/doors/front/hold", map[string]any{"mode": "none", "minutes": 5, "reason": "x"}, http.StatusBadRequest},
		{"/api/v1/doors/front/hold", map[string]any{"mode": "locked", "minutes": 5, "reason": "x", "extra": 1}, http.StatusBadRequest},
		{"/api/v1/site/lockdown", map[string]any{"reason": "  "}, http.StatusBadRequest},
	} {
		if code := mgr.do("POST", tc.path, tc.body, nil); code != tc.want {
			t.Errorf("POST %s %v: %d, want %d", tc.path, tc.body, code, tc.want)
		}
	}

	var held struct {
		Door, Mode, Result, Detail string
		Until                      time.Time
	}
	code := sec.do("POST", "/api/v1/doors/front/hold", map[string]any{"mode": "unlocked", "minutes": 90, "reason": "contractors in the garden"}, &held)
	if code != http.StatusOK || held.Result != "done" {
		t.Fatalf("hold: %d %+v", code, held)
	}
	if d := held.Until.Sub(noon); held.Door != "front" || held.Mode != "unlocked" || held.Result == "" || d < 90*time.Minute || d > 91*time.Minute {
		t.Errorf("hold answered %+v", held)
	}
	ev := s.waitEvent("door.held")
	var info map[string]any
	json.Unmarshal(ev.Data, &info)
	if info["door"] != "front" || info["by"] != "security-1" || info["reason"] != "contractors in the garden" || info["mode"] != "unlocked" ||
		info["result"] != held.Result || info["until"] != held.Until.UTC().Format(time.RFC3339Nano) {
		t.Errorf("door.held journaled as %v; the API answered %+v", info, held)
	}

	var ld struct {
		Order struct {
			Type, By, Reason string
			Until            time.Time
			Doors            []struct{ Door, Result string }
		}
		Detail string
	}
	code = mgr.do("POST", "/api/v1/site/lockdown", map[string]any{"reason": "police: incident in the street"}, &ld)
	if code != http.StatusOK {
		t.Fatalf("lockdown: %d %+v", code, ld)
	}
	if ld.Order.Type != "site.lockdown" || ld.Order.By != "manager-1" || len(ld.Order.Doors) != 1 || ld.Order.Doors[0].Door != "front" ||
		(code == http.StatusOK) != (ld.Order.Doors[0].Result == "done") {
		t.Errorf("lockdown: %d %+v", code, ld)
	}
	ev = s.waitEvent("site.lockdown")
	info = nil
	json.Unmarshal(ev.Data, &info)
	if info["by"] != "manager-1" || info["reason"] != "police: incident in the street" || info["until"] == nil {
		t.Errorf("site.lockdown journaled as %v", info)
	}
	s.waitFor("lockdown shown", func() (bool, string) {
		var st struct {
			Active bool
			By     string
			Doors  []string
		}
		var ds []struct{ ID, Hold, HoldBy, HoldReason string }
		sec.do("GET", "/api/v1/site/lockdown", nil, &st)
		sec.do("GET", "/api/v1/doors", nil, &ds)
		return st.Active && st.By == "manager-1" && len(ds) == 1 && ds[0].Hold == "lockdown" && ds[0].HoldReason == "police: incident in the street", fmt.Sprint(st, ds)
	})
	var rel struct{ Order struct{ Type, By string } }
	if code := mgr.do("POST", "/api/v1/site/release", map[string]any{"reason": "all clear"}, &rel); (code != http.StatusOK && code != http.StatusBadGateway) || rel.Order.Type != "site.lockdown-released" {
		t.Errorf("release: %d %+v", code, rel)
	}
	ev = s.waitEvent("site.lockdown-released")
	info = nil
	json.Unmarshal(ev.Data, &info)
	if info["by"] != "manager-1" || info["reason"] != "all clear" {
		t.Errorf("site.lockdown-released journaled as %v", info)
	}
	var state struct {
		Active    bool
		Doors     []string
		NotLocked []string
	}
	if code := sec.do("GET", "/api/v1/site/lockdown", nil, &state); code != http.StatusOK || state.Doors == nil || state.NotLocked == nil {
		t.Errorf("lockdown state: %d %+v", code, state)
	}
}
