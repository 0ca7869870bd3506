package console_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/apedge/apedge/agent/console"
	"github.com/apedge/apedge/internal/config"
)

// alarmOut is an alarm as GET /api/v1/alarms answers it.
type alarmOut struct {
	Seq          uint64 `json:"seq"`
	Type         string `json:"type"`
	Subject      string `json:"subject"`
	Priority     int    `json:"priority"`
	PriorityName string `json:"priorityName"`
	Group        string `json:"group"`
	Instructions string `json:"instructions"`
}

// TestAlarmPriorityAndGroups: alarms come most urgent first, then newest; repeats of
// one cause at one door share a group; and a group is acknowledged with one note, each
// alarm journaled as acknowledged once, a repeat of the request changing nothing.
func TestAlarmPriorityAndGroups(t *testing.T) {
	s := newConsoleSite(t)
	tail := []uint64{}
	for i := range 3 {
		tail = append(tail, s.journal(t, "door.tailgate", fmt.Sprintf("t%d", i), map[string]any{"door": "front"}))
	}
	held := s.journal(t, "door.held-open", "h", map[string]any{"door": "front"})
	forced := s.journal(t, "door.forced", "f", map[string]any{"door": "front"})
	tail = append(tail, s.journal(t, "door.tailgate", "t3", map[string]any{"door": "front"}))

	sec := s.bearer("security-1")
	var got []alarmOut
	if code := sec.do("GET", "/api/v1/alarms", nil, &got); code != http.StatusOK {
		t.Fatalf("alarms: %d", code)
	}
	var order []string
	for _, a := range got {
		order = append(order, fmt.Sprintf("%d:%s:%s", a.Seq, a.PriorityName, a.Group))
	}
	want := []string{
		fmt.Sprintf("%d:urgent:door.forced|front", forced),
		fmt.Sprintf("%d:high:door.held-open|front", held),
		fmt.Sprintf("%d:normal:door.tailgate|front", tail[3]),
		fmt.Sprintf("%d:normal:door.tailgate|front", tail[2]),
		fmt.Sprintf("%d:normal:door.tailgate|front", tail[1]),
		fmt.Sprintf("%d:normal:door.tailgate|front", tail[0]),
	}
	if strings.Join(order, " ") != strings.Join(want, " ") {
		t.Errorf("alarms in order\n%v\nwant\n%v", order, want)
	}

	var res struct {
		Acknowledged int `json:"acknowledged"`
		Results      []struct {
			Seq    uint64 `json:"seq"`
			Result string `json:"result"`
		} `json:"results"`
	}
	body := map[string]any{"seqs": append(tail, 999999), "note": "checked on camera"}
	if code := sec.do("POST", "/api/v1/alarms/ack", body, &res); code != http.StatusOK || res.Acknowledged != 4 {
		t.Fatalf("group ack: %d %+v, want 4 acknowledged", code, res)
	}
	if r := res.Results[len(res.Results)-1]; r.Seq != 999999 || r.Result != "not-an-alarm" {
		t.Errorf("the seq that is no alarm: %+v", r)
	}
	if code := sec.do("POST", "/api/v1/alarms/ack", body, &res); code != http.StatusOK || res.Acknowledged != 0 || res.Results[0].Result != "already-acknowledged" {
		t.Errorf("the same group again: %d %+v, want nothing acknowledged twice", code, res)
	}
	n := 0
	for _, typ := range s.journalTypes() {
		if typ == "alarm.acknowledged" {
			n++
		}
	}
	if n != 4 {
		t.Errorf("%d alarm.acknowledged journaled, want 4", n)
	}
	if code := sec.do("POST", "/api/v1/alarms/ack", map[string]any{"seqs": []uint64{forced}, "note": " "}, nil); code != http.StatusBadRequest {
		t.Errorf("a group ack with no note: %d, want 400", code)
	}
	if code := s.bearer("staff-1").do("POST", "/api/v1/alarms/ack", map[string]any{"seqs": []uint64{forced}, "note": "x"}, nil); code != http.StatusForbidden {
		t.Errorf("staff acknowledging: %d, want 403", code)
	}
}

// TestAlarmPolicies: console.alarms changes a type's priority and gives its
// instructions; a type that is no alarm is refused at start, naming the alarm types.
func TestAlarmPolicies(t *testing.T) {
	s := newConsoleSite(t, withAlarms(map[string]config.AlarmPolicy{
		"door.tailgate": {Priority: 1, Instructions: "Check the camera: who came in behind whom?"},
	}))
	seq := s.journal(t, "door.tailgate", "t", map[string]any{"door": "front"})
	var got []alarmOut
	s.bearer("security-1").do("GET", "/api/v1/alarms", nil, &got)
	if len(got) != 1 || got[0].Seq != seq || got[0].Priority != 1 || got[0].Instructions != "Check the camera: who came in behind whom?" {
		t.Errorf("alarms %+v, want the tailgate urgent with its instructions", got)
	}
	_, err := console.New(console.Options{Site: s.agent, Index: s.index, Staff: s.staff,
		Alarms: map[string]config.AlarmPolicy{"door.opened": {Priority: 1}}})
	if err == nil || !strings.Contains(err.Error(), "door.opened") || !strings.Contains(err.Error(), "door.forced") {
		t.Errorf("a policy for a type that is no alarm: %v", err)
	}
}
