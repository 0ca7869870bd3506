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
		{"camera back online", agent.Fact{Type: "camera.online", At: winter, Info: json.RawMessage(`{"camera":"front-cam","name":"front door, outside",` +
			`"verdict":"online","previous":"offline","since":"2026-12-02T02:03:00Z","repeats":0,"figures":{"codec":"h264","width":1280,"height":720,"fps":25,"bitrateKbps":2100,"lossPct":0}}`)},
			"Camera front-cam (front door, outside) is back online (H.264 1280x720, 25 fps), since 02:03 on 2 Dec 2026"},
		{"camera online at first", agent.Fact{Type: "camera.online", At: summer, Info: json.RawMessage(`{"camera":"yard","name":"yard",` +
			`"previous":"unknown","since":"2026-06-10T21:59:30Z","figures":{"codec":"h265","width":640,"height":480,"fps":9.96,"lossPct":0}}`)},
			"Camera yard (yard) is online (H.265 640x480, 10 fps), since 22:59 on 10 Jun 2026"},
		{"camera offline, flapping", agent.Fact{Type: "camera.offline", At: winter, Info: json.RawMessage(`{"camera":"front-cam","name":"front door, outside",` +
			`"previous":"online","reason":"connection refused","since":"2026-12-02T02:03:40Z","repeats":3,"figures":{"lossPct":0}}`)},
			"Camera front-cam (front door, outside) is offline: connection refused, since 02:03 on 2 Dec 2026; flapping: 3 repeats in the last hour"},
		{"camera refuses its password", agent.Fact{Type: "camera.auth-failed", At: winter, Info: json.RawMessage(`{"camera":"gate","name":"side gate",` +
			`"previous":"online","reason":"401 Unauthorized (Digest)","since":"2026-12-02T02:00:00Z","repeats":1}`)},
			"Camera gate (side gate) refuses the configured user and password: 401 Unauthorized (Digest), since 02:00 on 2 Dec 2026; flapping: 1 repeat in the last hour"},
		{"camera stalled, no reason", agent.Fact{Type: "camera.stalled", At: winter, Info: json.RawMessage(`{"camera":"gate","previous":"online","since":"2026-12-02T02:04:00Z"}`)},
			"Camera gate is stalled: the session is up but no picture comes, since 02:04 on 2 Dec 2026"},
		{"camera degraded", agent.Fact{Type: "camera.degraded", At: winter, Info: json.RawMessage(`{"camera":"yard","name":"yard","previous":"online",` +
			`"reason":"fps 3 under its minimum 10","since":"2026-12-02T02:01:00Z","figures":{"codec":"h264","width":640,"height":480,"fps":3,"bitrateKbps":180.4,"lossPct":7.25}}`)},
			"Camera yard (yard) is degraded: fps 3 under its minimum 10 (H.264 640x480, 3 fps, 180 kbps, 7.3% loss), since 02:01 on 2 Dec 2026"},
		{"camera frozen", agent.Fact{Type: "camera.frozen", At: winter, Info: json.RawMessage(`{"camera":"yard","name":"yard","previous":"online","reason":"the picture is black","since":"2026-12-02T01:59:00Z"}`)},
			"Camera yard (yard) is frozen: the picture is black, since 01:59 on 2 Dec 2026"},
		{"camera event without info", agent.Fact{Type: "camera.offline", At: winter},
			"A camera is offline, since 02:04 on 2 Dec 2026"},
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
