package eventindex

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"

	"github.com/apedge/apedge/formats/event"
)

// TestTrustAlarmSummaries: the trust-boundary alarms get a summary line naming the seq
// or device when their event has no description, and keep their own when it has one.
func TestTrustAlarmSummaries(t *testing.T) {
	loc := london(t)
	dev := map[string]any{"class": "reader", "id": "ghost-reader", "boot": "b1", "seq": 4}
	tests := []struct {
		name        string
		typ         string
		desc        string
		info        json.RawMessage
		wantSubject string
		wantLine    string
	}{
		{"forged ack", AckRefusedType, "", json.RawMessage(`{"cause":"beyond-journal","topic":"apedge/v1/central/AP-LDN-01/ack","site":"AP-LDN-01","seq":18446744073709551615,"last":120}`),
			"", "ack on central's topic refused (beyond-journal): it claims seq 18446744073709551615, the journal's last is 120, for site AP-LDN-01"},
		{"foreign ack", AckRefusedType, "", info("cause", "other-site", "site", "LDS2", "seq", 40, "last", 120),
			"", "ack on central's topic refused (other-site): it claims seq 40, the journal's last is 120, for site LDS2"},
		{"unreadable ack", AckRefusedType, "", info("cause", "malformed", "error", "uplink: ack: bad"), "", "ack on central's topic refused (malformed)"},
		{"ack, own description", AckRefusedType, "ack refused: seq 9", info("seq", 9), "", "ack refused: seq 9"},
		{"device by object", DeviceRefusedType, "", info("device", dev, "reason", "no such reader"), "ghost-reader", "message refused from ghost-reader: no such reader"},
		{"device by name, cause", DeviceRefusedType, "", info("device", "side", "cause", "time far in the future"), "side", "message refused from side: time far in the future"},
		{"device unnamed", DeviceRefusedType, "", nil, "", "message refused from an unnamed device"},
		{"device, own description", DeviceRefusedType, "card read from an unknown reader", info("device", dev), "ghost-reader", "card read from an unknown reader"},
		{"unordered command", CommandUnorderedType, "", info("door", "side", "command", "unlock"), "side",
			"result of a command the agent never ordered, from side: unlock"},
		{"unordered command by id", CommandUnorderedType, "", info("device", map[string]any{"class": "door", "id": "side"}, "id", "c-77"), "side",
			"result of a command the agent never ordered, from side: c-77"},
		{"other types get no line", "door.forced", "", info("door", "back"), "back", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := signed(t, 3, &event.Draft{Type: tc.typ, OccurredAt: t0, Description: tc.desc, Info: tc.info})
			s, err := summarize(3, raw, loc)
			if err != nil {
				t.Fatal(err)
			}
			if s.Type != tc.typ || s.Subject != tc.wantSubject || s.Description != tc.wantLine {
				t.Errorf("summary type %q subject %q line %q, want %q %q %q", s.Type, s.Subject, s.Description, tc.typ, tc.wantSubject, tc.wantLine)
			}
		})
	}
}

// TestTrustAlarmsListed: the trust-boundary alarms are alarms: the console lists them
// with their summary lines.
func TestTrustAlarmsListed(t *testing.T) {
	for _, typ := range []string{AckRefusedType, DeviceRefusedType, CommandUnorderedType} {
		if !slices.Contains(AlarmTypes, typ) {
			t.Errorf("AlarmTypes has no %s", typ)
		}
	}
	db := filepath.Join(t.TempDir(), "journal.db")
	j := openJournal(t, db, 7)
	first := appendAll(t, j,
		draft(AckRefusedType, 1, nil, info("cause", "beyond-journal", "seq", uint64(1)<<63, "last", 1)),
		draft("movement.entered", 2, nil, info("door", "front")),
		draft(DeviceRefusedType, 3, nil, info("device", "ghost-reader", "reason", "no such reader")),
	) - 2
	last := appendAll(t, j, draft(CommandUnorderedType, 4, nil, info("door", "side", "command", "unlock")))
	x := openIndex(t, Path(db), j)
	run(t, x)
	waitIndexed(t, x, last)
	as, err := x.Alarms(context.Background(), true, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := alarmSeqs(as), []uint64{last, first + 2, first}; !slices.Equal(got, want) {
		t.Fatalf("open alarms %v, want %v", got, want)
	}
	want := []string{
		"result of a command the agent never ordered, from side: unlock",
		"message refused from ghost-reader: no such reader",
		"ack on central's topic refused (beyond-journal): it claims seq 9223372036854775808, the journal's last is 1",
	}
	for i, a := range as {
		if a.Description != want[i] {
			t.Errorf("alarm %d summary %q, want %q", a.Seq, a.Description, want[i])
		}
	}
}
