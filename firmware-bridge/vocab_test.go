package bridge

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/apedge/apedge/devices/camera"
	"github.com/apedge/apedge/devices/door"
	"github.com/apedge/apedge/devices/fingerprint"
	"github.com/apedge/apedge/devices/gpiodoor"
	"github.com/apedge/apedge/devices/reader"
	"github.com/apedge/apedge/devices/substance"
	"github.com/apedge/apedge/devices/wiegand"
	"github.com/apedge/apedge/formats/sitebus"
)

// The device classes speak the site-bus vocabulary without importing it (devices do
// not depend on the bus): these tests hold their copies to package sitebus.

func TestClassVocabulary(t *testing.T) {
	for _, p := range [][2]string{
		{gpiodoor.DoorClass, sitebus.ClassDoor},
		{reader.Class, sitebus.ClassReader},
		{gpiodoor.ActionUnlock, sitebus.ActionUnlock},
		{reader.ActionIndicate, sitebus.ActionIndicate},
		{gpiodoor.StatusKind, "status"},
		{reader.StatusKind, "status"},
		{door.EventOpened, sitebus.DoorOpened},
		{string(door.ByCredential), string(sitebus.UnlockByCredential)},
	} {
		if p[0] != p[1] {
			t.Errorf("class vocabulary %q, site bus says %q", p[0], p[1])
		}
	}
	for _, pattern := range []string{reader.PatternGrant, reader.PatternDeny} {
		cmd, err := sitebus.DecodeCommand([]byte(`{"id":"c","action":"indicate","deadline":"2026-11-22T23:30:00Z","pattern":"` + pattern + `"}`))
		if err != nil || cmd.Pattern != pattern {
			t.Errorf("indicate %s: %+v, %v", pattern, cmd, err)
		}
	}
}

// sameJSON checks that ours and bus, the same values in a class's type and the site
// bus's, encode alike and that ours decodes as bus.
func sameJSON[B any](t *testing.T, ours any, bus B) {
	t.Helper()
	a, _ := json.Marshal(ours)
	b, _ := json.Marshal(bus)
	if string(a) != string(b) {
		t.Errorf("class encodes\n%s\nsite bus\n%s", a, b)
	}
	var got B
	if err := json.Unmarshal(a, &got); err != nil || !reflect.DeepEqual(got, bus) {
		t.Errorf("decoded as %+v (%v), want %+v", got, err, bus)
	}
}

func TestDoorStatusIsSiteBus(t *testing.T) {
	until := time.Date(2026, 11, 22, 23, 30, 5, 0, time.UTC)
	sameJSON(t, gpiodoor.Status{}, sitebus.DoorStatus{})
	sameJSON(t, gpiodoor.Status{State: door.State{Locked: true, Open: true, Known: true, Forced: true, HeldOpen: true, UnlockedUntil: until},
		Lock: "fail-safe", EntryReader: "front-in", ExitReader: "front-out"},
		sitebus.DoorStatus{Locked: true, Open: true, PositionKnown: true, Forced: true, HeldOpen: true, UnlockedUntil: until,
			Lock: "fail-safe", EntryReader: "front-in", ExitReader: "front-out"})
	if got, want := reflect.TypeFor[gpiodoor.Status]().NumField()-1+reflect.TypeFor[door.State]().NumField(), reflect.TypeFor[sitebus.DoorStatus]().NumField(); got != want {
		t.Errorf("door status has %d fields, site bus %d", got, want)
	}
}

func TestReaderStatusIsSiteBus(t *testing.T) {
	sameJSON(t, reader.Status{}, sitebus.ReaderStatus{})
	sameJSON(t, reader.Status{Online: true, Door: "front", Direction: "entry", Interface: "osdp", Address: 3, SecureChannel: "on",
		Secure: true, Tamper: true, PowerFault: true, Vendor: "0A0B0C", Serial: "01020304", Firmware: "1.2.3", LastError: "x", Simulated: true},
		sitebus.ReaderStatus{Online: true, Door: "front", Direction: "entry", Interface: "osdp", Address: 3, SecureChannel: "on",
			Secure: true, Tamper: true, PowerFault: true, Vendor: "0A0B0C", Serial: "01020304", Firmware: "1.2.3", LastError: "x", Simulated: true})
	rt, bt := reflect.TypeFor[reader.Status](), reflect.TypeFor[sitebus.ReaderStatus]()
	if rt.NumField() != bt.NumField() {
		t.Fatalf("reader status has %d fields, site bus %d", rt.NumField(), bt.NumField())
	}
	for i := range bt.NumField() {
		if r, b := rt.Field(i), bt.Field(i); r.Name != b.Name || r.Type != b.Type || r.Tag != b.Tag {
			t.Errorf("reader status field %s %v `%s`, site bus %s %v `%s`", r.Name, r.Type, r.Tag, b.Name, b.Type, b.Tag)
		}
	}
}

// TestCredential: the bridge reports a card as the credential the site bus names by
// the card's id, for every format.
func TestCredential(t *testing.T) {
	c26, _ := wiegand.Decode(wiegand.Encode26(12, 10001), 26)
	c34, _ := wiegand.Decode(wiegand.Encode34(1000, 65535), 34)
	raw, _ := wiegand.Decode([]byte{0x01, 0x23, 0x45, 0x67, 0x89}, 37)
	for _, tc := range []struct {
		card wiegand.Card
		want sitebus.Credential
		id   string
	}{
		{c26, sitebus.Credential{Kind: "card", Number: "10001", Format: "wiegand-26", Bits: 26, Facility: 12}, "12:10001"},
		{c34, sitebus.Credential{Kind: "card", Number: "65535", Format: "wiegand-34", Bits: 34, Facility: 1000}, "1000:65535"},
		{raw, sitebus.Credential{Kind: "card", Number: "0123456788", Format: "raw", Bits: 37}, "0123456788"},
	} {
		got := credential(tc.card)
		if got != tc.want || got.ID() != tc.id || tc.card.ID() != tc.id {
			t.Errorf("credential(%+v) = %+v id %q, card id %q; want %+v id %q", tc.card, got, got.ID(), tc.card.ID(), tc.want, tc.id)
		}
	}
}

// sameFields checks that class type O and site-bus type B have the same fields, names,
// types and tags, in order.
func sameFields[O, B any](t *testing.T) {
	t.Helper()
	ot, bt := reflect.TypeFor[O](), reflect.TypeFor[B]()
	if ot.NumField() != bt.NumField() {
		t.Fatalf("%s has %d fields, site bus's %s %d", ot, ot.NumField(), bt, bt.NumField())
	}
	for i := range bt.NumField() {
		o, b := ot.Field(i), bt.Field(i)
		if o.Name != b.Name || o.Tag != b.Tag || o.Type.Kind() != b.Type.Kind() {
			t.Errorf("%s field %d is %s %s %s, site bus %s %s %s", ot, i, o.Name, o.Type, o.Tag, b.Name, b.Type, b.Tag)
		}
	}
}

func TestCameraIsSiteBus(t *testing.T) {
	for _, p := range [][2]string{
		{camera.ClassName, sitebus.ClassCamera},
		{camera.StatusKind, sitebus.CameraStatusKind},
		{camera.ThumbnailKind, sitebus.CameraThumbnailKind},
		{camera.Online, sitebus.CameraOnline}, {camera.Offline, sitebus.CameraOffline},
		{camera.AuthFailed, sitebus.CameraAuthFailed}, {camera.Stalled, sitebus.CameraStalled},
		{camera.Degraded, sitebus.CameraDegraded}, {camera.Frozen, sitebus.CameraFrozen},
		{camera.Unknown, sitebus.CameraUnknown},
		{camera.PictureNone, sitebus.PictureNone}, {camera.PictureOK, sitebus.PictureOK},
		{camera.PictureBlack, sitebus.PictureBlack}, {camera.PictureCovered, sitebus.PictureCovered},
		{camera.PictureFrozen, sitebus.PictureFrozen},
	} {
		if p[0] != p[1] {
			t.Errorf("camera vocabulary %q, site bus says %q", p[0], p[1])
		}
	}
	sameFields[camera.Status, sitebus.CameraStatus](t)
	sameFields[camera.StatusPicture, sitebus.CameraPicture](t)
	sameFields[camera.ThumbnailData, sitebus.CameraThumbnail](t)
	sameFields[camera.Event, sitebus.CameraEvent](t)
	at := time.Date(2026, 11, 22, 23, 30, 5, 0, time.UTC)
	sameJSON(t, camera.Status{Name: "front", Verdict: camera.Degraded, Reason: "r", Since: at, Seen: camera.Online, Repeats: 2,
		CheckedAt: at, Transport: "tcp", Codec: "h264", Profile: "Main", Level: "3.1", Width: 640, Height: 480, FPS: 9.5,
		BitrateKbps: 250, LossPct: 1.5, KeyframeIntervalS: 1, FirstFrameMs: 120, LastKeyframe: at,
		Picture: camera.StatusPicture{State: camera.PictureOK, At: at, Mean: 100, Spread: 40, Change: 12}, Simulated: true},
		sitebus.CameraStatus{Name: "front", Verdict: sitebus.CameraDegraded, Reason: "r", Since: at, Seen: sitebus.CameraOnline, Repeats: 2,
			CheckedAt: at, Transport: "tcp", Codec: "h264", Profile: "Main", Level: "3.1", Width: 640, Height: 480, FPS: 9.5,
			BitrateKbps: 250, LossPct: 1.5, KeyframeIntervalS: 1, FirstFrameMs: 120, LastKeyframe: at,
			Picture: sitebus.CameraPicture{State: sitebus.PictureOK, At: at, Mean: 100, Spread: 40, Change: 12}, Simulated: true})
	sameJSON(t, camera.Event{Previous: camera.Online, Reason: "r", Since: at, Repeats: 1, Codec: "h265", Width: 1, Height: 2, FPS: 3, BitrateKbps: 4, LossPct: 5},
		sitebus.CameraEvent{Previous: sitebus.CameraOnline, Reason: "r", Since: at, Repeats: 1, Codec: "h265", Width: 1, Height: 2, FPS: 3, BitrateKbps: 4, LossPct: 5})
	sameJSON(t, camera.ThumbnailData{At: at, JPEG: []byte{0xFF, 0xD8, 0xFF, 0xD9}}, sitebus.CameraThumbnail{At: at, JPEG: []byte{0xFF, 0xD8, 0xFF, 0xD9}})
}

func TestSubstanceIsSiteBus(t *testing.T) {
	for _, p := range [][2]string{
		{substance.ClassName, sitebus.ClassSubstanceTester},
		{substance.StatusKind, sitebus.SubstanceStatusKind},
		{substance.ReadingKind, sitebus.SubstanceReadingKind},
		{substance.KindBreathAlcohol, sitebus.TesterBreathAlcohol}, {substance.KindOralFluid, sitebus.TesterOralFluid},
		{substance.ResultNegative, sitebus.ResultNegative}, {substance.ResultNonNegative, sitebus.ResultNonNegative},
		{substance.ResultInvalid, sitebus.ResultInvalid},
	} {
		if p[0] != p[1] {
			t.Errorf("substance vocabulary %q, site bus says %q", p[0], p[1])
		}
	}
	if got, want := append(substance.DrugPanels(), sitebus.PanelAlcohol), sitebus.Panels; !reflect.DeepEqual(got, want) {
		t.Errorf("panels %v, site bus %v", got, want)
	}
	sameFields[substance.Status, sitebus.SubstanceTesterStatus](t)
	sameFields[substance.Reading, sitebus.SubstanceReading](t)
	sameFields[substance.PanelResult, sitebus.PanelResult](t)
	at := time.Date(2026, 11, 22, 23, 0, 0, 0, time.UTC)
	ug, temp := 9.5, 21.0
	sameJSON(t, substance.Reading{Kind: substance.KindBreathAlcohol, Serial: "BA-1", Firmware: "2.1", CalibrationDue: "2027-03-01", SelfCheck: "pass",
		TestNumber: 12, TestID: "T-1", MeasuredAt: at, AlcoholUg: &ug, TemperatureC: &temp},
		sitebus.SubstanceReading{Kind: sitebus.TesterBreathAlcohol, Serial: "BA-1", Firmware: "2.1", CalibrationDue: "2027-03-01", SelfCheck: "pass",
			TestNumber: 12, TestID: "T-1", MeasuredAt: at, AlcoholUg: &ug, TemperatureC: &temp})
	sameJSON(t, substance.Reading{Kind: substance.KindOralFluid, Serial: "DT-1", CalibrationDue: "2027-03-01", SelfCheck: "fail", MeasuredAt: at,
		CassetteLot: "L1", CassetteExpiry: "2027-01-31", Panels: []substance.PanelResult{{Panel: "cocaine", Result: substance.ResultNonNegative, CutoffNgMl: 15}}, DeviceError: "E1"},
		sitebus.SubstanceReading{Kind: sitebus.TesterOralFluid, Serial: "DT-1", CalibrationDue: "2027-03-01", SelfCheck: "fail", MeasuredAt: at,
			CassetteLot: "L1", CassetteExpiry: "2027-01-31", Panels: []sitebus.PanelResult{{Panel: "cocaine", Result: sitebus.ResultNonNegative, CutoffNgMl: 15}}, DeviceError: "E1"})
	sameJSON(t, substance.Status{Online: true, Kind: substance.KindBreathAlcohol, Serial: "BA-1", Firmware: "2.1", CalibrationDue: "2027-03-01", SelfCheck: "pass", BadRecords: 3, LastError: "x", Simulated: true},
		sitebus.SubstanceTesterStatus{Online: true, Kind: sitebus.TesterBreathAlcohol, Serial: "BA-1", Firmware: "2.1", CalibrationDue: "2027-03-01", SelfCheck: "pass", BadRecords: 3, LastError: "x", Simulated: true})
}

func TestBiometricVocabulary(t *testing.T) {
	for _, p := range [][2]string{
		{fingerprint.ClassName, sitebus.ClassBiometric},
		{fingerprint.StatusKind, sitebus.BiometricStatusKind},
		{fingerprint.EnrolStepKind, sitebus.BiometricEnrolStep},
		{fingerprint.EnrolledKind, sitebus.BiometricEnrolled},
		{fingerprint.EnrolFailedKind, sitebus.BiometricEnrolFailed},
		{fingerprint.DeletedKind, sitebus.BiometricDeleted},
		{fingerprint.IndexKind, sitebus.BiometricIndex},
		{fingerprint.StepPlaceFinger, sitebus.StepPlaceFinger}, {fingerprint.StepLiftFinger, sitebus.StepLiftFinger},
		{fingerprint.StepPlaceAgain, sitebus.StepPlaceAgain}, {fingerprint.StepStoring, sitebus.StepStoring},
		{fingerprint.ActionEnrol, sitebus.ActionEnrol}, {fingerprint.ActionCancelEnrol, sitebus.ActionCancelEnrol},
		{fingerprint.ActionDeleteTemplates, sitebus.ActionDeleteTemplates}, {fingerprint.ActionReadIndex, sitebus.ActionReadIndex},
	} {
		if p[0] != p[1] {
			t.Errorf("biometric vocabulary %q, site bus says %q", p[0], p[1])
		}
	}
	sameFields[fingerprint.Status, sitebus.BiometricStatus](t)
	sameFields[fingerprint.EnrolStep, sitebus.EnrolStep](t)
	sameFields[fingerprint.Enrolled, sitebus.Enrolled](t)
	sameFields[fingerprint.EnrolFailed, sitebus.EnrolFailed](t)
	sameFields[fingerprint.TemplatesDeleted, sitebus.TemplatesDeleted](t)
	sameFields[fingerprint.IndexTable, sitebus.IndexTable](t)
	at := time.Date(2026, 11, 22, 23, 30, 0, 0, time.UTC)
	sameJSON(t, fingerprint.Status{Online: true, Capacity: 200, Templates: 2, SecurityLevel: 3, PacketSize: 128, Baud: 57600,
		Used: []int{2, 7}, Enrolling: "e1", BadFrames: 4, LastError: "x", Simulated: true},
		sitebus.BiometricStatus{Online: true, Capacity: 200, Templates: 2, SecurityLevel: 3, PacketSize: 128, Baud: 57600,
			Used: []int{2, 7}, Enrolling: "e1", BadFrames: 4, LastError: "x", Simulated: true})
	sameJSON(t, fingerprint.Status{Used: []int{}}, sitebus.BiometricStatus{Used: []int{}})
	sameJSON(t, fingerprint.EnrolFailed{Enrolment: "e1", Slot: 4, Reason: "fingers-do-not-match", Detail: "d"},
		sitebus.EnrolFailed{Enrolment: "e1", Slot: 4, Reason: "fingers-do-not-match", Detail: "d"})
	sameJSON(t, fingerprint.TemplatesDeleted{Command: "c", Slots: []int{3}, Used: []int{5}, Capacity: 200, ReadAt: at, Confirmed: true},
		sitebus.TemplatesDeleted{Command: "c", Slots: []int{3}, Used: []int{5}, Capacity: 200, ReadAt: at, Confirmed: true})
	sameJSON(t, fingerprint.IndexTable{Command: "c", Used: []int{5}, Capacity: 200, ReadAt: at},
		sitebus.IndexTable{Command: "c", Used: []int{5}, Capacity: 200, ReadAt: at})
	// What the class publishes, the site bus decodes.
	b, _ := json.Marshal(fingerprint.Status{Online: true, Capacity: 200, Used: []int{1}})
	if _, err := sitebus.DecodeBiometricStatus(b); err != nil {
		t.Errorf("status: %v", err)
	}
	for kind, v := range map[string]any{
		fingerprint.EnrolStepKind:   fingerprint.EnrolStep{Enrolment: "e1", Step: fingerprint.StepLiftFinger},
		fingerprint.EnrolledKind:    fingerprint.Enrolled{Enrolment: "e1", Slot: 4},
		fingerprint.EnrolFailedKind: fingerprint.EnrolFailed{Enrolment: "e1", Slot: 4, Reason: fingerprint.ReasonTimeout},
		fingerprint.DeletedKind:     fingerprint.TemplatesDeleted{Command: "c", Slots: []int{3}, Used: []int{}, Capacity: 200, ReadAt: at, Confirmed: true},
		fingerprint.IndexKind:       fingerprint.IndexTable{Command: "c", Used: []int{}, Capacity: 200, ReadAt: at},
	} {
		b, _ := json.Marshal(v)
		if _, err := sitebus.DecodeBiometricEvent(kind, b); err != nil {
			t.Errorf("%s %s: %v", kind, b, err)
		}
	}
}
