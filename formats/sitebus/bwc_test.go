package sitebus_test

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/formats/sitekey"
)

// dockGoodFiles returns the files of testdata/good/kind.
func dockGoodFiles(t testing.TB, kind string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "good", kind, "*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no files in testdata/good/%s", kind)
	}
	return files
}

// eventKind is the dock event kind a testdata/*/dockevent file is of: its name up to
// the first '-' or '.'.
func eventKind(path string) string {
	base := filepath.Base(path)
	return base[:strings.IndexAny(base, "-.")]
}

func pct(n int) *int { return &n }

func TestDecodeDockStatus(t *testing.T) {
	st, err := sitebus.DecodeDockStatus(readFile(t, filepath.Join("testdata", "good", "dockstatus", "four-slots.json")))
	if err != nil {
		t.Fatal(err)
	}
	want := &sitebus.DockStatus{Online: true, Serial: "DK4-00417", Model: "sim-dock-4", Firmware: "1.4.2", Slots: []sitebus.DockSlot{
		{Slot: 1, Occupied: true, Camera: "BWC-0001", BatteryPct: pct(100), Offload: &sitebus.DockOffload{State: sitebus.OffloadIdle}, CameraFirmware: "3.2.0"},
		{Slot: 2, Occupied: true, Camera: "BWC-0002", BatteryPct: pct(64), Charging: true, Offload: &sitebus.DockOffload{State: sitebus.OffloadRunning, ProgressPct: 40}, CameraFirmware: "3.2.0"},
		{Slot: 3, Occupied: true, Camera: "BWC-0003", BatteryPct: pct(91), Charging: true,
			Offload:        &sitebus.DockOffload{State: sitebus.OffloadFailed, ProgressPct: 50, Detail: "transfer interrupted: evidence store unreachable"},
			CameraFirmware: "3.2.0", Faults: []string{"lens obstructed"}},
		{Slot: 4},
	}}
	if !reflect.DeepEqual(st, want) {
		t.Errorf("four-slots.json decoded as\n%+v\nwant\n%+v", st, want)
	}

	for _, tc := range []struct {
		name, data string
		wantErr    string // "" for accepted
	}{
		{"offline will, nothing else", `{"online":false}`, ""},
		{"camera at 0%, charging", `{"online":true,"slots":[{"slot":1,"occupied":true,"camera":"C1","batteryPct":0,"charging":true,"offload":{"state":"idle","progressPct":0}}]}`, ""},
		{"64 printable bytes is a serial", `{"online":true,"slots":[{"slot":1,"occupied":true,"camera":"` + strings.Repeat("~", 64) + `","batteryPct":1,"offload":{"state":"idle","progressPct":0}}]}`, ""},
		{"a fault in any script", `{"online":true,"slots":[{"slot":1,"occupied":true,"camera":"C1","batteryPct":1,"offload":{"state":"idle","progressPct":0},"faults":["objectif obstrué"]}]}`, ""},
		{"battery 101", `{"online":true,"slots":[{"slot":1,"occupied":true,"camera":"C1","batteryPct":101,"offload":{"state":"idle","progressPct":0}}]}`, "slot 1: batteryPct"},
		{"slot 2 of 1", `{"online":true,"slots":[{"slot":2,"occupied":false}]}`, "slot 2 out of 1..1"},
		{"same slot twice", `{"online":true,"slots":[{"slot":1,"occupied":false},{"slot":1,"occupied":false}]}`, "slot 1 out of 1..2 or repeated"},
		{"one camera in two slots", `{"online":true,"slots":[{"slot":1,"occupied":true,"camera":"C1","batteryPct":9,"offload":{"state":"idle","progressPct":0}},{"slot":2,"occupied":true,"camera":"C1","batteryPct":9,"offload":{"state":"idle","progressPct":0}}]}`, "camera C1 in slots 1 and 2"},
		{"65-byte serial", `{"online":true,"slots":[{"slot":1,"occupied":true,"camera":"` + strings.Repeat("A", 65) + `","batteryPct":1,"offload":{"state":"idle","progressPct":0}}]}`, "camera serial"},
		{"offload done at 60%", `{"online":true,"slots":[{"slot":1,"occupied":true,"camera":"C1","batteryPct":9,"offload":{"state":"done","progressPct":60}}]}`, "offload done at 60%"},
		{"empty slot charging", `{"online":true,"slots":[{"slot":1,"occupied":false,"charging":true}]}`, "empty, but with a camera's details"},
		{"online, no slots", `{"online":true}`, "online with no slots"},
		{"not JSON", `online`, "dock status: invalid character"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := sitebus.DecodeDockStatus([]byte(tc.data))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.wantErr != "" && (err == nil || !errors.Is(err, sitebus.ErrMessage) || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("DecodeDockStatus = %+v, %v; want a bad-message error saying %q", st, err, tc.wantErr)
			}
		})
	}
}

func TestDecodeDockEvent(t *testing.T) {
	for _, tc := range []struct {
		kind, data string
		want       *sitebus.DockEvent
		wantErr    string
	}{
		{sitebus.DockEventDocked, `{"slot":2,"serial":"BWC-0002"}`, &sitebus.DockEvent{Slot: 2, Serial: "BWC-0002"}, ""},
		{sitebus.DockEventUndocked, `{"slot":64,"serial":"BWC-0002"}`, &sitebus.DockEvent{Slot: 64, Serial: "BWC-0002"}, ""},
		{sitebus.DockEventOffload, `{"slot":1,"serial":"C1","result":"done","bytes":1099511627776}`, &sitebus.DockEvent{Slot: 1, Serial: "C1", Result: "done", Bytes: 1 << 40}, ""},
		{sitebus.DockEventOffload, `{"slot":1,"serial":"C1","result":"failed","detail":"no space"}`, &sitebus.DockEvent{Slot: 1, Serial: "C1", Result: "failed", Detail: "no space"}, ""},
		{sitebus.DockEventBadge, `{"card":"12:10001"}`, &sitebus.DockEvent{Card: "12:10001"}, ""},
		{sitebus.DockEventDocked, `{"slot":65,"serial":"C1"}`, nil, `dock "docked" event: slot 65 out of 1..64`},
		{sitebus.DockEventUndocked, `{"slot":1}`, nil, "camera serial"},
		{sitebus.DockEventDocked, `{"slot":1,"serial":"C1","bytes":3}`, nil, "an offload's result, detail or bytes"},
		{sitebus.DockEventOffload, `{"slot":1,"serial":"C1","result":"failed"}`, nil, "failed with no detail"},
		{sitebus.DockEventOffload, `{"slot":1,"serial":"C1","result":"done","bytes":-1}`, nil, "bytes -1"},
		{sitebus.DockEventBadge, `{"card":""}`, nil, "card"},
		{sitebus.DockEventBadge, `{"card":"12:1","serial":"C1"}`, nil, "a slot or camera on a badge"},
		{"low-battery", `{"slot":1,"serial":"C1"}`, nil, "unknown kind"},
		{sitebus.DockEventDocked, `[]`, nil, "dock event: json"},
	} {
		t.Run(tc.kind+" "+tc.data, func(t *testing.T) {
			ev, err := sitebus.DecodeDockEvent(tc.kind, []byte(tc.data))
			if tc.wantErr != "" {
				if err == nil || !errors.Is(err, sitebus.ErrMessage) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("DecodeDockEvent = %+v, %v; want a bad-message error saying %q", ev, err, tc.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(ev, tc.want) {
				t.Fatalf("DecodeDockEvent = %+v, %v; want %+v", ev, err, tc.want)
			}
		})
	}
}

// TestDockCorpus checks that every file in testdata/good/dock* is accepted and every
// file in testdata/bad/dock* refused with a bad-message error that says which
// payload it is; a dockevent file is decoded as the kind its name begins with.
func TestDockCorpus(t *testing.T) {
	decoders := []struct {
		dir    string
		decode func(path string, b []byte) (any, error)
	}{
		{"dockstatus", func(_ string, b []byte) (any, error) { return sitebus.DecodeDockStatus(b) }},
		{"dockevent", func(p string, b []byte) (any, error) { return sitebus.DecodeDockEvent(eventKind(p), b) }},
		{"dockcommand", func(_ string, b []byte) (any, error) { return sitebus.DecodeDockCommand(b) }},
	}
	for _, d := range decoders {
		for _, f := range dockGoodFiles(t, d.dir) {
			t.Run("good/"+d.dir+"/"+filepath.Base(f), func(t *testing.T) {
				if v, err := d.decode(f, readFile(t, f)); err != nil {
					t.Fatalf("%+v, %v", v, err)
				}
			})
		}
		for _, f := range badFiles(t, d.dir) {
			t.Run("bad/"+d.dir+"/"+filepath.Base(f), func(t *testing.T) {
				v, err := d.decode(f, readFile(t, f))
				if !errors.Is(err, sitebus.ErrMessage) || !strings.Contains(err.Error(), "dock ") {
					t.Fatalf("%+v, %v: want a bad-message error naming the dock payload", v, err)
				}
			})
		}
	}
	// The wire examples: whole messages, with the data their kind says.
	for _, f := range dockGoodFiles(t, "dockmessage") {
		t.Run("good/dockmessage/"+filepath.Base(f), func(t *testing.T) {
			m, err := sitebus.Decode(readFile(t, f))
			if err != nil {
				t.Fatal(err)
			}
			if m.Kind == sitebus.DockStatusKind {
				_, err = sitebus.DecodeDockStatus(m.Data)
			} else {
				_, err = sitebus.DecodeDockEvent(m.Kind, m.Data)
			}
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestDockWillIsFirst(t *testing.T) {
	will, err := sitebus.Decode(readFile(t, filepath.Join("testdata", "good", "dockmessage", "will.json")))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sitebus.DecodeDockStatus(will.Data)
	if err != nil || st.Online || len(st.Slots) != 0 || will.Seq != 1 || will.Kind != sitebus.DockStatusKind {
		t.Fatalf("will %+v: %+v, %v; want seq 1, status offline with no slots", will, st, err)
	}
	online, err := sitebus.Decode(readFile(t, filepath.Join("testdata", "good", "dockmessage", "status.json")))
	if err != nil || online.Boot != will.Boot || online.Seq != 2 {
		t.Fatalf("status %+v, %v; want seq 2 of the will's boot", online, err)
	}
}

func TestVerifyDockCommand(t *testing.T) {
	k := corpusKey(t)
	other, _ := sitekey.Generate("MAN1", nil)
	slot := 3
	c := &sitebus.Command{ID: "c-1", Action: sitebus.ActionIndicate, Deadline: deadline, By: "keyworker-1",
		Slot: &slot, Pattern: sitebus.PatternRefused, Reason: "battery 64%, under 80%"}
	raw, err := sitebus.SignCommand(k, "MAN1", sitebus.ClassBWCDock, "dock-1", c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := sitebus.VerifyDockCommand(raw, k.Public(), "MAN1", "dock-1")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Errorf("verified %+v, want %+v", got, c)
	}
	if id := sitebus.ClaimedCommandID(raw); id != "c-1" {
		t.Errorf("claimed id %q", id)
	}
	bare, _ := json.Marshal(c)
	reader, _ := sitebus.SignCommand(k, "MAN1", sitebus.ClassReader, "dock-1", c)
	grant := *c
	grant.Pattern = "grant"
	grantRaw, _ := sitebus.SignCommand(k, "MAN1", sitebus.ClassBWCDock, "dock-1", &grant)
	for _, tc := range []struct {
		name    string
		raw     []byte
		pub     *sitekey.Public
		site    string
		id      string
		wantErr error
	}{
		{"unsigned", bare, k.Public(), "MAN1", "dock-1", sitebus.ErrUnsigned},
		{"another key", raw, other.Public(), "MAN1", "dock-1", sitebus.ErrBadSignature},
		{"no key", raw, nil, "MAN1", "dock-1", sitebus.ErrBadSignature},
		{"another dock", raw, k.Public(), "MAN1", "dock-2", sitebus.ErrNotForDevice},
		{"another site", raw, k.Public(), "LDN2", "dock-1", sitebus.ErrNotForDevice},
		{"signed for a reader", reader, k.Public(), "MAN1", "dock-1", sitebus.ErrNotForDevice},
		{"a reader's pattern, genuinely signed", grantRaw, k.Public(), "MAN1", "dock-1", sitebus.ErrMessage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sitebus.VerifyDockCommand(tc.raw, tc.pub, tc.site, tc.id)
			if !errors.Is(err, sitebus.ErrMessage) || !errors.Is(err, tc.wantErr) {
				t.Fatalf("VerifyDockCommand = %+v, %v; want %v", got, err, tc.wantErr)
			}
		})
	}
}

func FuzzDecodeDockStatus(f *testing.F) {
	for _, p := range append(dockGoodFiles(f, "dockstatus"), badFiles(f, "dockstatus")...) {
		f.Add(readFile(f, p))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := sitebus.DecodeDockStatus(data)
		if err != nil {
			if !errors.Is(err, sitebus.ErrMessage) {
				t.Fatalf("error %v is not ErrMessage", err)
			}
			return
		}
		seen := map[int]bool{}
		for _, s := range st.Slots {
			if s.Slot < 1 || s.Slot > len(st.Slots) || seen[s.Slot] {
				t.Fatalf("accepted slot %d of %d: %+v", s.Slot, len(st.Slots), st)
			}
			seen[s.Slot] = true
			if s.Occupied && (s.BatteryPct == nil || *s.BatteryPct < 0 || *s.BatteryPct > 100 || s.Camera == "" || len(s.Camera) > 64 || s.Offload == nil) {
				t.Fatalf("accepted slot %+v", s)
			}
		}
		roundTrip(t, st, func(b []byte) (any, error) { return sitebus.DecodeDockStatus(b) })
	})
}

func FuzzDecodeDockEvent(f *testing.F) {
	for _, p := range append(dockGoodFiles(f, "dockevent"), badFiles(f, "dockevent")...) {
		f.Add(eventKind(p), readFile(f, p))
	}
	f.Fuzz(func(t *testing.T, kind string, data []byte) {
		ev, err := sitebus.DecodeDockEvent(kind, data)
		if err != nil {
			if !errors.Is(err, sitebus.ErrMessage) {
				t.Fatalf("error %v is not ErrMessage", err)
			}
			return
		}
		if kind == sitebus.DockEventBadge && ev.Card == "" || kind != sitebus.DockEventBadge && (ev.Slot < 1 || ev.Slot > sitebus.MaxDockSlots || ev.Serial == "") {
			t.Fatalf("accepted %s %+v", kind, ev)
		}
		roundTrip(t, ev, func(b []byte) (any, error) { return sitebus.DecodeDockEvent(kind, b) })
	})
}

func FuzzDecodeDockCommand(f *testing.F) {
	for _, p := range append(dockGoodFiles(f, "dockcommand"), badFiles(f, "dockcommand")...) {
		f.Add(readFile(f, p))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := sitebus.DecodeDockCommand(data)
		if err != nil {
			if !errors.Is(err, sitebus.ErrMessage) {
				t.Fatalf("error %v is not ErrMessage", err)
			}
			return
		}
		if c.Slot == nil || *c.Slot < 1 || *c.Slot > sitebus.MaxDockSlots || c.Deadline.Equal(time.Time{}) {
			t.Fatalf("accepted %+v", c)
		}
		roundTrip(t, c, func(b []byte) (any, error) { return sitebus.DecodeDockCommand(b) })
	})
}
