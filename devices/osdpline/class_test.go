package osdpline_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apedge/apedge/devices/device"
	"github.com/apedge/apedge/devices/device/devicetest"
	"github.com/apedge/apedge/devices/osdp"
	"github.com/apedge/apedge/devices/osdpline"
	"github.com/apedge/apedge/devices/reader"
	"github.com/apedge/apedge/devices/wiegand"
	"github.com/apedge/apedge/internal/config"
	"github.com/apedge/apedge/internal/wait"
)

const timeout = 20 * time.Second

var (
	secureRef = device.Ref{Class: reader.Class, ID: "front-in"}
	clearRef  = device.Ref{Class: reader.Class, ID: "front-out"}
)

// site is a simulated line with a reader on secure channel outside the front door
// and one in clear inside, as config.LoadBridge would leave it.
func site(t *testing.T) *config.Bridge {
	t.Helper()
	key := filepath.Join(t.TempDir(), "front-in.scbk")
	if err := os.WriteFile(key, []byte("00112233445566778899aabbccddeeff\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return &config.Bridge{Site: "MAN1", Simulate: &config.Simulate{Quiet: true},
		OSDP: []config.OSDPBus{{Port: config.SimulatedPort, Baud: 115200, ReplyTimeout: 200 * time.Millisecond, OfflineAfter: 3,
			PollInterval: 20 * time.Millisecond, Readers: []config.OSDPReader{
				{ID: "front-in", Address: 1, SCBKFile: key}, {ID: "front-out", Address: 2, Insecure: true}}}},
		Doors: []config.Door{{ID: "front", EntryReader: "front-in", ExitReader: "front-out"}}}
}

// TestLineAgainstItsSimulator: the class on a pseudo-terminal to its simulated
// readers, with no bridge: readers come online (one on secure channel), a card read
// goes to Access and the reader shows its decision, commands drive the LED, and
// health follows the reader.
func TestLineAgainstItsSimulator(t *testing.T) {
	rec := new(devicetest.Recorder)
	var mu sync.Mutex
	var reads []device.Read
	access := device.AccessFunc(func(_ context.Context, r device.Read) device.Decision {
		mu.Lock()
		defer mu.Unlock()
		reads = append(reads, r)
		return device.Decision{Granted: r.Card.ID() == "12:10001"}
	})
	env := devicetest.Env(t, site(t), nil, rec, access)
	drv, err := osdpline.Class{}.Open(t.Context(), env)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- drv.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}()
	devs := map[device.Ref]device.Device{}
	for _, d := range drv.Devices() {
		devs[d.Ref()] = d
	}
	if len(devs) != 2 || devs[secureRef] == nil || devs[clearRef] == nil {
		t.Fatalf("devices %v", devs)
	}
	online := func(secure bool) func(json.RawMessage) bool {
		return func(d json.RawMessage) bool {
			var s reader.Status
			json.Unmarshal(d, &s)
			return s.Online && s.Secure == secure
		}
	}
	rec.LastState(t, timeout, secureRef, online(true))
	st := rec.LastState(t, timeout, clearRef, online(false))
	if !strings.Contains(string(st.Data), `"door":"front","direction":"exit","interface":"osdp","address":2,"secureChannel":"off"`) {
		t.Errorf("front-out state %s", st.Data)
	}
	if h := devs[secureRef].Health(); h.Status != device.HealthOK {
		t.Errorf("secure reader's health %+v", h)
	}
	if h := devs[clearRef].Health(); h.Status != device.HealthDegraded {
		t.Errorf("reader in clear: health %+v, want degraded", h)
	}

	sim := env.Sims.Get(secureRef).(*osdp.Reader)
	card, _ := wiegand.Decode(wiegand.Encode26(12, 10001), 26)
	env.Sims.Get(secureRef).(device.SimReader).Swipe(card)
	wait.For(t, timeout, "green LED", func() (bool, string) {
		led := sim.LED()
		return led.Count > 0 && led.Last.Temporary.OnColor == osdp.ColorGreen, ""
	})
	mu.Lock()
	if len(reads) != 1 || reads[0].Reader != secureRef || reads[0].Door != "front" || reads[0].Direction != "entry" || reads[0].Card.ID() != "12:10001" {
		t.Errorf("reads %+v", reads)
	}
	mu.Unlock()

	cctx, ccancel := context.WithTimeout(ctx, timeout)
	defer ccancel()
	if err := devs[secureRef].Command(cctx, device.Command{ID: "c1", Action: reader.ActionIndicate, Body: json.RawMessage(`{"pattern":"deny"}`)}); err != nil {
		t.Errorf("indicate: %v", err)
	}
	if led := sim.LED(); led.Last.Temporary.OnColor != osdp.ColorRed {
		t.Errorf("LED %+v after deny, want red", led)
	}
	if err := devs[secureRef].Command(cctx, device.Command{ID: "c2", Action: "unlock"}); !errors.Is(err, device.ErrUnsupported) {
		t.Errorf("unlock at a reader: %v", err)
	}

	sim.SetTamper(true)
	rec.WaitEvents(t, timeout, secureRef, "tamper")
	wait.For(t, timeout, "degraded by tamper", func() (bool, string) {
		h := devs[secureRef].Health()
		return h.Status == device.HealthDegraded, h.Detail
	})
	sim.PowerOff(true)
	rec.WaitEvents(t, timeout, secureRef, "tamper", "offline")
	if h := devs[secureRef].Health(); h.Status != device.HealthDown {
		t.Errorf("reader off: health %+v, want down", h)
	}
}
