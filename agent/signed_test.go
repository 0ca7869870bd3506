package agent_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/internal/testlog"
)

// unorderedInfo is the additionalInformation of a command.unordered alarm.
type unorderedInfo struct {
	Command  string `json:"command"`
	Result   string `json:"result"`
	HeldBack uint64 `json:"unorderedSinceLastAlarm"`
}

// TestUnorderedFlood: results for many distinct commands the agent never ordered
// (forged ids) raise one command.unordered alarm a minute, by the agent's clock, and
// one warning each; the result of the alarmed command sent again is the same event;
// a minute on, the next alarm says how many results were held back; every result is
// counted in Stats.
func TestUnorderedFlood(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.startCentral() // a clean stop waits for central's ack
	var warned *atomic.Int64
	s.log, warned = testlog.Count(s.log, slog.LevelWarn, "command result for a command this agent never ordered")
	a, _, _ := s.startAgent()
	subscribed(t, a)
	topic := sitebus.DeviceTopic(site, sitebus.ClassDoor, "front", sitebus.KindCmdResult)
	result := func(seq uint64, id string) []byte {
		res, _ := json.Marshal(sitebus.Result{ID: id, Status: sitebus.ResultFailed, Error: "refused: bad-signature"})
		return (&sitebus.Message{Time: s.clock.Now(), Boot: "boot-a", Seq: seq, Kind: sitebus.ResultFailed, Data: res}).Encode()
	}
	alarms := func() []unorderedInfo {
		var out []unorderedInfo
		for _, ev := range s.events(a) {
			switch ev.Type {
			case event.TypePrefix + "command.unordered":
				var in unorderedInfo
				if err := json.Unmarshal(ev.Data.AdditionalInformation, &in); err != nil {
					t.Fatal(err)
				}
				out = append(out, in)
			case event.TypePrefix + "agent.started":
			default:
				t.Errorf("unexpected %s in the journal", ev.Type)
			}
		}
		return out
	}

	const flood = 200
	for i := range flood {
		s.publish(topic, false, result(uint64(1+i), fmt.Sprint("forged-", i)))
	}
	s.publish(topic, false, result(1, "forged-0")) // the alarmed one, sent again
	s.waitFor("every forged result counted", func() (bool, string) {
		st := a.Stats()
		return st.Unordered == flood+1 && st.UnorderedAlarms == 1 && st.Duplicates == 1, fmt.Sprintf("%+v", st)
	})
	got := alarms()
	if len(got) != 1 || got[0].Command != "forged-0" || got[0].HeldBack != 0 || got[0].Result != sitebus.ResultFailed {
		t.Fatalf("alarms in the first minute: %+v, want one, for forged-0, holding none back", got)
	}
	if n := warned.Load(); n != 1 {
		t.Errorf("%d warnings in the first minute, want 1", n)
	}

	// Not quite a minute on: still held back.
	s.clock.Add(time.Minute - time.Millisecond)
	s.publish(topic, false, result(flood+1, "forged-late"))
	s.waitFor("the result just under a minute on counted", func() (bool, string) {
		st := a.Stats()
		return st.Unordered == flood+2, fmt.Sprintf("%+v", st)
	})
	if st := a.Stats(); st.UnorderedAlarms != 1 {
		t.Errorf("alarms just under a minute on: %+v, want still 1", st)
	}

	// A minute on, the next forged id alarms and counts those held back: forged-1 to
	// forged-199 and forged-late.
	s.clock.Add(time.Millisecond)
	s.publish(topic, false, result(flood+2, "forged-next"))
	s.waitFor("the alarm a minute on", func() (bool, string) {
		st := a.Stats()
		return st.UnorderedAlarms == 2 && st.Unordered == flood+3, fmt.Sprintf("%+v", st)
	})
	got = alarms()
	if len(got) != 2 || got[1].Command != "forged-next" || got[1].HeldBack != flood {
		t.Fatalf("alarms: %+v, want a second, for forged-next, holding %d back", got, flood)
	}
	if n := warned.Load(); n != 2 {
		t.Errorf("%d warnings, want 2 (one per alarm)", n)
	}
}
