package bridge

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/apedge/apedge/devices/door"
	"github.com/apedge/apedge/devices/gpiodoor"
	"github.com/apedge/apedge/devices/reader"
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
