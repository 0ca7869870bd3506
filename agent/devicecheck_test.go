package agent_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/agent"
	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/internal/wait"
)

// refusedInfo is the additionalInformation of a device.refused alarm.
type refusedInfo struct {
	Cause  string `json:"cause"`
	Detail string `json:"detail"`
	Device struct {
		Class, ID, Kind string
		Time            time.Time
	} `json:"device"`
	ReceivedAt            time.Time `json:"receivedAt"`
	RefusedSinceLastAlarm uint64    `json:"refusedSinceLastAlarm"`
}

// deviceMsg encodes a device message dated at, with data marshalled.
func deviceMsg(t *testing.T, at time.Time, seq uint64, kind string, data any) []byte {
	t.Helper()
	b, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	return (&sitebus.Message{Time: at.UTC(), Boot: "boot-f", Seq: seq, Kind: kind, Data: b}).Encode()
}

// TestDeviceChecks: the agent journals a device message only from a configured device
// of the right class, dated within what it accepts; anything else is refused and
// journaled as a device.refused alarm, never as a movement.
func TestDeviceChecks(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.cfg.Devices.MaxLate = 24 * time.Hour // a day ago is beyond it
	a, _, _ := s.startAgent()
	subscribed(t, a)
	now := s.clock.Now()
	reader := func(id string) string { return sitebus.DeviceTopic(site, sitebus.ClassReader, id, sitebus.KindEvent) }
	door := func(id string) string { return sitebus.DeviceTopic(site, sitebus.ClassDoor, id, sitebus.KindEvent) }
	camera := func(id, kind string) string { return sitebus.DeviceTopic(site, sitebus.ClassCamera, id, kind) }
	offline := sitebus.CameraEvent{Previous: sitebus.CameraOnline, Reason: "connect: connection refused", Since: now.Add(-20 * time.Second)}
	status := sitebus.CameraStatus{Verdict: sitebus.CameraOnline, Picture: sitebus.CameraPicture{State: sitebus.PictureOK}}
	opened := func(reader string) sitebus.DoorEvent {
		return sitebus.DoorEvent{Reason: sitebus.UnlockByCredential, Reader: reader, Direction: "entry", Credential: "12:10001",
			Authorised: true, Passages: 1, UnlockedAt: now.Add(-2 * time.Second)}
	}
	tests := []struct {
		name        string
		topic       string
		at          time.Time
		kind        string
		data        any
		wantCause   string // "": journaled as a movement
		wantID      string // the device the alarm names
		wantLate    bool
		wantDoor    string // of an accepted movement
		wantDirType string // of an accepted movement
		wantDetail  string // of a refusal, if set
	}{
		{name: "card read from a reader that does not exist", topic: reader("ghost"), at: now, kind: "card-read",
			data: cardRead("front", "entry", "10001"), wantCause: "unknown-device", wantID: "ghost"},
		{name: "card read on a door's topic from a reader id", topic: door("front-in"), at: now, kind: "card-read",
			data: cardRead("front", "entry", "10001"), wantCause: "wrong-class", wantID: "front-in"},
		{name: "card read from a door id on a reader's topic", topic: reader("front"), at: now, kind: "card-read",
			data: cardRead("front", "entry", "10001"), wantCause: "wrong-class", wantID: "front"},
		{name: "door opened at a door that does not exist", topic: door("cellar"), at: now, kind: sitebus.DoorOpened,
			data: opened("front-in"), wantCause: "unknown-device", wantID: "cellar"},
		{name: "door opened by a reader of another door", topic: door("front"), at: now, kind: sitebus.DoorOpened,
			data: opened("garden-in"), wantCause: "unknown-reader", wantID: "front"},
		{name: "door opened by a reader that does not exist", topic: door("garden"), at: now, kind: sitebus.DoorOpened,
			data: opened("ghost"), wantCause: "unknown-reader", wantID: "garden"},
		{name: "camera event from a camera that does not exist", topic: camera("ghost-cam", sitebus.KindEvent), at: now, kind: sitebus.CameraOffline,
			data: offline, wantCause: "unknown-device", wantID: "ghost-cam", wantDetail: "no configured camera is ghost-cam"},
		{name: "camera status from a camera that does not exist", topic: camera("ghost-cam-2", sitebus.KindState), at: now, kind: sitebus.CameraStatusKind,
			data: status, wantCause: "unknown-device", wantID: "ghost-cam-2"},
		{name: "camera event on a camera's topic from a door id", topic: camera("front", sitebus.KindEvent), at: now, kind: sitebus.CameraOffline,
			data: offline, wantCause: "wrong-class", wantID: "front", wantDetail: "front is a door, not a camera"},
		{name: "door event from a camera id", topic: door("front-cam"), at: now, kind: "forced",
			data: map[string]any{}, wantCause: "wrong-class", wantID: "front-cam", wantDetail: "front-cam is a camera, not a door"},
		{name: "card read from a camera id", topic: reader("yard-cam"), at: now, kind: "card-read",
			data: cardRead("front", "entry", "10001"), wantCause: "wrong-class", wantID: "yard-cam", wantDetail: "yard-cam is a camera, not a reader"},
		{name: "card read dated a day ago", topic: reader("front-in"), at: now.Add(-25 * time.Hour), kind: "card-read",
			data: cardRead("front", "entry", "10001"), wantCause: "too-old", wantID: "front-in"},
		{name: "card read dated an hour ahead", topic: reader("front-in"), at: now.Add(time.Hour), kind: "card-read",
			data: cardRead("front", "entry", "10001"), wantCause: "dated-ahead", wantID: "front-in"},
		{name: "card read dated 10 minutes ago: late", topic: reader("front-in"), at: now.Add(-10 * time.Minute), kind: "card-read",
			data: cardRead("front", "entry", "10001"), wantLate: true, wantDoor: "front", wantDirType: "movement.entered"},
		{name: "card read dated 30 seconds ago: on time", topic: reader("garden-out"), at: now.Add(-30 * time.Second), kind: "card-read",
			data: cardRead("front", "entry", "10002"), wantDoor: "garden", wantDirType: "movement.exited"}, // place from the configuration
		{name: "door opened by its own reader", topic: door("front"), at: now, kind: sitebus.DoorOpened,
			data: opened("front-out"), wantDoor: "front", wantDirType: "movement.exited"}, // direction from the configuration
	}
	var refused uint64
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s.publish(tc.topic, false, deviceMsg(t, tc.at, uint64(i+1), tc.kind, tc.data))
			journaled(t, a, uint64(2+i), 0, 0) // each makes one event: its alarm or its movement
			evs := s.events(a)
			ev := evs[len(evs)-1]
			if tc.wantCause != "" {
				refused++
				if ev.Type != event.TypePrefix+agent.RefusedType {
					t.Fatalf("journaled %s %s, want %s", ev.Type, ev.Data.AdditionalInformation, agent.RefusedType)
				}
				var in refusedInfo
				if err := json.Unmarshal(ev.Data.AdditionalInformation, &in); err != nil {
					t.Fatal(err)
				}
				tp, _ := sitebus.ParseTopic(tc.topic)
				if in.Cause != tc.wantCause || in.Device.ID != tc.wantID || in.Device.Class != tp.Class || in.Device.Kind != tc.kind ||
					!in.Device.Time.Equal(tc.at) || !in.ReceivedAt.Equal(now) || in.Detail == "" {
					t.Errorf("alarm %s, want cause %s for %s/%s dated %v", ev.Data.AdditionalInformation, tc.wantCause, tp.Class, tc.wantID, tc.at)
				}
				if got := occurredAt(ev); !got.Equal(now) {
					t.Errorf("alarm occurredAt %v, want the agent's clock %v", got, now)
				}
				if tc.wantDetail != "" && in.Detail != tc.wantDetail {
					t.Errorf("alarm detail %q, want %q", in.Detail, tc.wantDetail)
				}
				if st := a.Stats(); st.Refused != refused || st.RefusalAlarms != refused {
					t.Errorf("stats %+v, want %d refused and alarmed", st, refused)
				}
				return
			}
			if ev.Type != event.TypePrefix+tc.wantDirType {
				t.Fatalf("journaled %s %s, want %s", ev.Type, ev.Data.AdditionalInformation, tc.wantDirType)
			}
			var in struct {
				Door, Direction string
				Late            *struct {
					DeviceTime, ReceivedAt time.Time
				}
			}
			if err := json.Unmarshal(ev.Data.AdditionalInformation, &in); err != nil {
				t.Fatal(err)
			}
			if in.Door != tc.wantDoor {
				t.Errorf("door %q, want the configured %q: %s", in.Door, tc.wantDoor, ev.Data.AdditionalInformation)
			}
			if got := occurredAt(ev); !got.Equal(tc.at) {
				t.Errorf("occurredAt %v, want the device's time %v", got, tc.at)
			}
			switch {
			case tc.wantLate && (in.Late == nil || !in.Late.DeviceTime.Equal(tc.at) || !in.Late.ReceivedAt.Equal(now)):
				t.Errorf("late read: %s, want late with deviceTime %v and receivedAt %v", ev.Data.AdditionalInformation, tc.at, now)
			case !tc.wantLate && in.Late != nil:
				t.Errorf("on-time read marked late: %s", ev.Data.AdditionalInformation)
			}
		})
	}
	if st := a.Stats(); st.RefusedTime != 2 || st.Late != 1 || st.BadMessages != 0 {
		t.Errorf("stats %+v, want 2 refused for their time, 1 late, none bad", st)
	}
}

// TestForgedFlood: a thousand forged messages from ten readers that do not exist and
// one real reader's messages dated ahead make one alarm per cause per device per
// minute and nothing else; all are acknowledged, so none comes again after a restart;
// a minute later the next refusal alarms again, counting those it held back.
func TestForgedFlood(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.startCentral()
	a, stop, _ := s.startAgent()
	subscribed(t, a)
	now := s.clock.Now()
	const ghosts, each = 10, 100
	for i := range ghosts * each {
		id := fmt.Sprintf("ghost-%d", i%ghosts)
		s.publish(sitebus.DeviceTopic(site, sitebus.ClassReader, id, sitebus.KindEvent), false,
			deviceMsg(t, now, uint64(1+i/ghosts), "card-read", cardRead("front", "entry", "10001")))
	}
	for i := range each {
		s.publish(sitebus.DeviceTopic(site, sitebus.ClassReader, "front-in", sitebus.KindEvent), false,
			deviceMsg(t, now.Add(time.Hour), uint64(1+i), "card-read", cardRead("front", "entry", "10001")))
	}
	wait.For(t, timeout, "every forged message refused", func() (bool, string) {
		st := a.Stats()
		return st.Refused == ghosts*each+each && st.Journaled == 1+ghosts+1, fmt.Sprintf("%+v", st)
	})
	alarms := func() map[string]int {
		out := map[string]int{}
		for _, ev := range s.events(a) {
			switch ev.Type {
			case event.TypePrefix + agent.RefusedType:
				var in refusedInfo
				json.Unmarshal(ev.Data.AdditionalInformation, &in)
				out[in.Cause+" "+in.Device.ID]++
			case event.TypePrefix + "agent.started":
			default:
				t.Errorf("forged message journaled as %s: %s", ev.Type, ev.Data.AdditionalInformation)
			}
		}
		return out
	}
	got := alarms()
	if len(got) != ghosts+1 || got["dated-ahead front-in"] != 1 {
		t.Errorf("alarms %v, want one for each of %d ghosts and one for front-in dated ahead", got, ghosts)
	}
	for k, n := range got {
		if n != 1 || !strings.HasPrefix(k, "unknown-device ghost-") && k != "dated-ahead front-in" {
			t.Errorf("%d alarms for %q", n, k)
		}
	}

	// A minute on, the same forgery alarms again and says how many were held back.
	s.clock.Add(time.Minute)
	s.publish(sitebus.DeviceTopic(site, sitebus.ClassReader, "ghost-0", sitebus.KindEvent), false,
		deviceMsg(t, s.clock.Now(), each+1, "card-read", cardRead("front", "entry", "10001")))
	journaled(t, a, 1+ghosts+1+1, 0, 0)
	evs := s.events(a)
	var in refusedInfo
	json.Unmarshal(evs[len(evs)-1].Data.AdditionalInformation, &in)
	if in.Cause != "unknown-device" || in.Device.ID != "ghost-0" || in.RefusedSinceLastAlarm != each-1 {
		t.Errorf("alarm a minute on: %+v, want ghost-0 with %d held back", in, each-1)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	a.Close()

	// Every refused message was acknowledged: a new agent on the same session gets
	// none of them again.
	a2, _, _ := s.startAgent()
	s.publish(sitebus.DeviceTopic(site, sitebus.ClassReader, "front-in", sitebus.KindEvent), false,
		deviceMsg(t, s.clock.Now(), each+1, "card-read", cardRead("front", "entry", "10001")))
	wait.For(t, timeout, "the new agent to journal the real read", func() (bool, string) {
		st := a2.Stats()
		return st.Journaled == 2, fmt.Sprintf("%+v", st)
	})
	if st := a2.Stats(); st.Refused != 0 {
		t.Errorf("after a restart %d refused messages came again: %+v", st.Refused, st)
	}
}
