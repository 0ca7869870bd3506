package agent_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/apedge/apedge/agent"
	"github.com/apedge/apedge/internal/config"
)

// TestDescriberSentences checks the words each kind of event is put into: names and
// rooms from the roster, doors and readers by name, UK dates in Europe/London time.
func TestDescriberSentences(t *testing.T) {
	d := agent.NewDescriber([]config.Resident{
		{CRN: "X123456", NOMS: "A1234BC", Name: "Brian Baker", Room: "5"},
		{CRN: "X222222"},
		{Kind: config.KindStaff, ID: "s-ann", Name: "Ann Smith"},
		{Kind: config.KindContractor, ID: "c-bob", Name: "Bob Jones"},
	}, map[string]config.ReaderPlace{"garden-in": {Door: "garden", Direction: "entry"}})
	// 02:04 GMT on 2 December 2026; 23:00 BST on 10 June.
	winter := time.Date(2026, 12, 2, 2, 4, 0, 0, time.UTC)
	summer := time.Date(2026, 6, 10, 22, 0, 0, 0, time.UTC)
	window := `"window":{"startLocal":"2026-12-01T23:00:00Z","endLocal":"2026-12-02T06:00:00Z","source":"ap-rule"}`
	for _, tt := range []struct {
		name string
		f    agent.Fact
		want string
	}{
		{"breach", agent.Fact{Type: "curfew.breached", At: winter, CRN: "X123456", Info: json.RawMessage(`{` + window + `}`), Door: "garden"},
			"Brian Baker (room 5) left by the garden door at 02:04 on 2 Dec 2026, during curfew 23:00–06:00"},
		{"breach by NOMS", agent.Fact{Type: "curfew.breached", At: winter, CRN: "A1234BC", Info: json.RawMessage(`{` + window + `}`)},
			"Brian Baker (room 5) left at 02:04 on 2 Dec 2026, during curfew 23:00–06:00"},
		{"entry, summer time", agent.Fact{Type: "movement.entered", At: summer, CRN: "X123456", Info: json.RawMessage(`{"door":"front","basis":"read-then-door-opened"}`)},
			"Brian Baker (room 5) came in by the front door at 23:00 on 10 Jun 2026"},
		{"entry on a read alone", agent.Fact{Type: "movement.entered", At: summer, CRN: "X222222", Info: json.RawMessage(`{"door":"door-2","basis":"card-read"}`)},
			"X222222 came in by door 2 at 23:00 on 10 Jun 2026 (card read; the door has no switch to confirm it opened)"},
		{"staff exit", agent.Fact{Type: "movement.exited", At: winter, Info: json.RawMessage(`{"door":"front","holder":{"kind":"staff","id":"s-ann"}}`)},
			"Ann Smith left by the front door at 02:04 on 2 Dec 2026"},
		{"contractor entry", agent.Fact{Type: "movement.entered", At: winter, Info: json.RawMessage(`{"door":"front","holder":{"kind":"contractor","id":"c-bob"}}`)},
			"Bob Jones (contractor) came in by the front door at 02:04 on 2 Dec 2026"},
		{"unknown card", agent.Fact{Type: "movement.entered", At: winter, Info: json.RawMessage(`{"door":"front","attributed":false,"credential":{"id":"12:999"}}`)},
			"An unknown card (12:999) came in by the front door at 02:04 on 2 Dec 2026"},
		{"exit button", agent.Fact{Type: "movement.exited", At: winter, Info: json.RawMessage(`{"door":"garden","basis":"exit-button"}`)},
			"Someone left by the garden door with the exit button, no card shown, at 02:04 on 2 Dec 2026"},
		{"absent, never seen", agent.Fact{Type: "curfew.absent", At: winter, CRN: "X123456", Info: json.RawMessage(`{"presence":"unknown","lastSeen":null,` + window + `}`)},
			"Brian Baker (room 5) was not in at 02:04 on 2 Dec 2026, when curfew 23:00–06:00 began; no movement of theirs has been seen"},
		{"absent, seen going out", agent.Fact{Type: "curfew.absent", At: winter, CRN: "X123456",
			Info: json.RawMessage(`{"presence":"out","lastSeen":{"atLocal":"2026-12-01T21:40:00Z","direction":"exit"},` + window + `}`)},
			"Brian Baker (room 5) was not in at 02:04 on 2 Dec 2026, when curfew 23:00–06:00 began; last seen going out at 21:40 on 1 Dec 2026"},
		{"returned late, licence", agent.Fact{Type: "curfew.returned-late", At: winter, CRN: "X123456", Door: "front",
			Info: json.RawMessage(`{"minutesLate":65,"window":{"startLocal":"2026-12-01T19:00:00Z","endLocal":"2026-12-02T07:00:00Z","source":"licence"}}`)},
			"Brian Baker (room 5) came back by the front door at 02:04 on 2 Dec 2026, 65 minutes late for licence curfew 19:00–07:00"},
		{"roll", agent.Fact{Type: "curfew.roll", At: winter, Info: json.RawMessage(`{"in":["a","b"],"out":[],"unknown":["c"]}`)},
			"Curfew roll at 02:04 on 2 Dec 2026: 2 in, 0 out, 1 unknown"},
		{"held unlocked", agent.Fact{Type: "door.held", At: winter, Info: json.RawMessage(`{"door":"front","by":"jo","mode":"unlocked","until":"2026-12-02T04:04:00Z","reason":"furniture delivery","result":"done"}`)},
			"jo held the front door unlocked until 04:04 on 2 Dec 2026, from 02:04 on 2 Dec 2026 (“furniture delivery”)"},
		{"hold ran out", agent.Fact{Type: "door.hold-ended", At: winter, Info: json.RawMessage(`{"door":"front","ranOut":true}`)},
			"The hold on the front door ran out at 02:04 on 2 Dec 2026: the door is back to normal"},
		{"lockdown", agent.Fact{Type: "site.lockdown", At: winter, Info: json.RawMessage(`{"by":"mo","reason":"police request","doors":[{"door":"front","result":"done"},{"door":"garden","result":"no-answer"}]}`)},
			"mo locked the site down (entry refused at every door; exit still open) at 02:04 on 2 Dec 2026 (“police request”); the garden door answered no-answer"},
		{"updated", agent.Fact{Type: "resident.updated", At: winter, CRN: "X123456", Info: json.RawMessage(`{"recordedBy":"jo","changes":[{"field":"room","old":"5","new":"7"},{"field":"noms","old":"","new":"A1234BC"}]}`)},
			"jo changed the details of Brian Baker (room 5) at 02:04 on 2 Dec 2026: room 5 → 7; noms none → A1234BC"},
		{"forced", agent.Fact{Type: "door.forced", At: winter, Info: json.RawMessage(`{"door":"garden"}`)},
			"The garden door was forced open at 02:04 on 2 Dec 2026: opened while locked, with no exit request"},
		{"reader offline", agent.Fact{Type: "reader.offline", At: winter, Info: json.RawMessage(`{"reader":"garden-in"}`)},
			"The garden door's entry reader (garden-in) stopped answering at 02:04 on 2 Dec 2026"},
		{"unplaced reader", agent.Fact{Type: "reader.offline", At: winter, Info: json.RawMessage(`{"reader":"r9"}`)},
			"Reader r9 stopped answering at 02:04 on 2 Dec 2026"},
		{"ack", agent.Fact{Type: "alarm.acknowledged", At: winter, Info: json.RawMessage(`{"alarm":17,"alarmType":"door.forced","by":"ann","note":"checked"}`)},
			"ann acknowledged alarm 17 (door.forced) at 02:04 on 2 Dec 2026: “checked”"},
		{"unlock", agent.Fact{Type: "door.unlock-ordered", At: winter, Info: json.RawMessage(`{"door":"front","by":"ann","reason":"delivery","result":"done"}`)},
			"ann unlocked the front door from the console at 02:04 on 2 Dec 2026 (“delivery”)"},
		{"arrival", agent.Fact{Type: "resident.arrived", At: winter, CRN: "X123456", Info: json.RawMessage(`{"recordedBy":"ann"}`)},
			"ann recorded the arrival of Brian Baker (room 5) at 02:04 on 2 Dec 2026"},
		{"fire roll", agent.Fact{Type: "fire-roll.taken", At: winter, Info: json.RawMessage(`{"by":"ann","people":12}`)},
			"ann took a fire roll at 02:04 on 2 Dec 2026: 12 believed in the building"},
		{"other, with its description", agent.Fact{Type: "agent.started", At: winter, Description: "the agent started"},
			"The agent started, at 02:04 on 2 Dec 2026"},
		{"bad info", agent.Fact{Type: "door.forced", At: winter, Info: json.RawMessage(`[1,2]`)},
			"A door was forced open at 02:04 on 2 Dec 2026: opened while locked, with no exit request"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := d.Sentence(tt.f); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}
