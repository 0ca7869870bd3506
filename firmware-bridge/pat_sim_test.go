package bridge_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	bridge "github.com/apedge/apedge/firmware-bridge"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/internal/broker/brokertest"
	"github.com/apedge/apedge/internal/config"
	"github.com/apedge/apedge/internal/testlog"
	"github.com/apedge/apedge/internal/wait"
)

// TestPATTesterSim: a bridge whose site has a simulated PAT tester runs the class
// from its table and exposes the simulator as Sim().PATTester; the tester's
// status and a test it sends reach the bus as sitebus decodes them.
func TestPATTesterSim(t *testing.T) {
	t.Parallel()
	brk := brokertest.Start(t)
	dir := t.TempDir()
	writeSiteKey(t, dir)
	if err := os.WriteFile(filepath.Join(dir, "front-in.scbk"), []byte("00112233445566778899aabbccddeeff\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "bridge.yaml")
	yaml := siteYAML + "patTesters:\n  - {id: pat-1, port: simulated, name: maintenance office}\n"
	if err := os.WriteFile(path, fmt.Appendf(nil, yaml, brk.URL()), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadBridge(path)
	if err != nil {
		t.Fatal(err)
	}
	bus := record(t, brk.URL(), "watcher")
	b := bridge.New(cfg, testlog.New(t))
	run(t, b)
	sim := b.Sim().PATTester("pat-1")
	if sim == nil {
		t.Fatal("no simulated PAT tester pat-1")
	}
	if b.Sim().PATTester("pat-2") != nil {
		t.Error("a simulated PAT tester pat-2 that is not configured")
	}
	wait.For(t, timeout, "pat-1 online on the bus", func() (bool, string) {
		st := bus.device(t, sitebus.ClassPATTester, "pat-1", sitebus.KindState)
		if len(st) == 0 {
			return false, "no state"
		}
		s, err := sitebus.DecodePATTesterStatus(st[len(st)-1].Data)
		return err == nil && s.Online && s.Serial == sim.Serial() && s.Simulated, fmt.Sprintf("%s %v", st[len(st)-1].Data, err)
	})
	if _, err := sim.Test(sim.Passing("AP-00123", "J Smith")); err != nil {
		t.Fatal(err)
	}
	wait.For(t, timeout, "pat-1's test on the bus", func() (bool, string) {
		evs := bus.device(t, sitebus.ClassPATTester, "pat-1", sitebus.KindEvent)
		if len(evs) == 0 {
			return false, "no event"
		}
		e, err := sitebus.DecodePATTest(evs[0].Data)
		return err == nil && evs[0].Kind == sitebus.PATTestKind && e.Device == "pat-1" && e.Record.AssetID == "AP-00123" &&
			e.Record.InstrumentSerial == sim.Serial(), fmt.Sprintf("%s %s %v", evs[0].Kind, evs[0].Data, err)
	})
}
