package bridge_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bridge "github.com/apedge/apedge/firmware-bridge"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/formats/sitekey"
	"github.com/apedge/apedge/internal/broker/brokertest"
	"github.com/apedge/apedge/internal/clock/clocktest"
	"github.com/apedge/apedge/internal/mqttclient"
	"github.com/apedge/apedge/internal/testlog"
	"github.com/apedge/apedge/internal/wait"
)

// publishList puts raw on the credentials topic, retained, as the agent does.
func publishList(t *testing.T, h *harness, raw []byte) {
	t.Helper()
	if err := mqttclient.WaitTimeout(t.Context(), h.agt.Publish(sitebus.CredentialsTopic(site), 1, true, raw), timeout); err != nil {
		t.Fatal(err)
	}
}

// readAt presents card 12:cn at front-in, the n-th read there (from 0), and returns
// the decision.
func readAt(t *testing.T, h *harness, n int, cn uint16) *sitebus.CardRead {
	t.Helper()
	h.sim.Present("front-in", card(t, 12, cn))
	return decodeCardRead(t, h.bus.waitEvents(t, sitebus.ClassReader, "front-in", n, "card-read")[0])
}

// reads counts the card reads front-in has reported.
func reads(t *testing.T, h *harness) int {
	t.Helper()
	n := 0
	for _, m := range h.bus.device(t, sitebus.ClassReader, "front-in", sitebus.KindEvent) {
		if m.Kind == "card-read" {
			n++
		}
	}
	return n
}

// TestForgedListRefused: a credential list not signed by the site key changes
// nothing, whatever its version (2^64-1 here); a genuine list with a newer version
// than the one held still applies afterwards, and is the one the bridge keeps across a
// restart.
func TestForgedListRefused(t *testing.T) {
	t.Parallel()
	h := start(t)
	stranger, err := sitekey.Generate(site, nil)
	if err != nil {
		t.Fatal(err)
	}
	const huge = 1<<64 - 1
	forged, err := sitebus.SignCredentialList(stranger, list(huge, "12:6666"))
	if err != nil {
		t.Fatal(err)
	}
	bare, _ := json.Marshal(list(huge, "12:6666"))
	for i, raw := range [][]byte{forged, bare} {
		publishList(t, h, raw)
		wait.For(t, timeout, "the forged list refused", func() (bool, string) {
			lists, _ := h.b.Refused()
			return lists >= uint64(i+1), fmt.Sprint(lists)
		})
	}
	if cr := readAt(t, h, 0, 6666); cr.Granted || cr.Reason != "not-listed" || cr.ListVersion != 1 {
		t.Errorf("card of the forged lists: %+v, want refused by the genuine list 1", cr)
	}
	if !h.sim.Door("front").LockEnergised() {
		t.Error("lock released by a forged list")
	}

	publishList(t, h, credentials(t, h.key, 2, "12:6666"))
	wait.For(t, timeout, "the genuine list 2 used", func() (bool, string) {
		cr := readAt(t, h, reads(t, h), 6666) // nothing to poll but the decision itself
		return cr.Granted && cr.ListVersion == 2, fmt.Sprintf("%+v", cr)
	})

	// The kept list is the genuine one, signature and all, and verifies at load.
	kept, err := os.ReadFile(filepath.Join(h.cfg.StateDir, "credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	if l, err := sitebus.VerifyCredentialList(kept, h.key.Public()); err != nil || l.Version != 2 {
		t.Errorf("kept list: %+v, %v; want the genuine list 2, signed", l, err)
	}
}

// TestKeptListVerifiedAtLoad: a bridge that starts with no list from the agent uses
// the list it kept only if the site key verifies it: an unsigned one (as older bridges
// kept), one signed by another key, or one altered on disk is not used.
func TestKeptListVerifiedAtLoad(t *testing.T) {
	t.Parallel()
	stranger, err := sitekey.Generate(site, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		kept func(k *sitekey.Private) []byte
		want string // the decision on card 12:10001: granted, or why not
	}{
		{"genuine", func(k *sitekey.Private) []byte { return credentials(t, k, 5) }, "granted"},
		{"unsigned", func(*sitekey.Private) []byte { b, _ := json.Marshal(list(5)); return b }, "no-list"},
		{"another key", func(*sitekey.Private) []byte { return credentials(t, stranger, 5) }, "no-list"},
		{"altered", func(k *sitekey.Private) []byte {
			var env map[string]any
			json.Unmarshal(credentials(t, k, 5), &env)
			p, _ := json.Marshal(list(5, "12:6666"))
			env["payload"] = p // encoding/json writes []byte as base64: a new payload, the old signature
			b, _ := json.Marshal(env)
			return b
		}, "no-list"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			brk := brokertest.Start(t)
			h := &harness{cfg: newConfig(t, brk.URL()), bus: record(t, brk.URL(), "watcher")}
			h.key = siteKey(t, h.cfg)
			if err := os.MkdirAll(h.cfg.StateDir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(h.cfg.StateDir, "credentials.json"), tc.kept(h.key), 0o600); err != nil {
				t.Fatal(err)
			}
			h.b = bridge.New(h.cfg, testlog.New(t))
			run(t, h.b)
			h.sim = h.b.Sim()
			h.waitOnline(t, "front-in", true)
			cr := readAt(t, h, 0, 10001)
			got := cr.Reason
			if cr.Granted {
				got = "granted"
			}
			if got != tc.want || cr.Granted && cr.ListVersion != 5 {
				t.Errorf("card read with the kept list %s: %+v, want %s", tc.name, cr, tc.want)
			}
		})
	}
}

// TestCommandsRefused: the bridge carries out only a command the site key signed for
// the door it arrives for, once, and no unlock longer than maxUnlock (30s by
// default); anything else is answered "failed" with the reason and counted, and the
// door stays locked.
func TestCommandsRefused(t *testing.T) {
	t.Parallel()
	h := start(t)
	stranger, err := sitekey.Generate(site, nil)
	if err != nil {
		t.Fatal(err)
	}
	soon := time.Now().Add(time.Minute)
	unlock := func(id string, forMs int64) *sitebus.Command {
		return &sitebus.Command{ID: id, Action: sitebus.ActionUnlock, Deadline: soon, By: "staff-7", ForMs: forMs}
	}
	signed := func(k *sitekey.Private, door string, c *sitebus.Command) []byte {
		b, err := sitebus.SignCommand(k, site, sitebus.ClassDoor, door, c)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	bare, _ := json.Marshal(unlock("u1", 3000))
	tests := []struct {
		name, id string
		raw      []byte
		want     string
	}{
		{"unsigned", "u1", bare, "refused: unsigned"},
		{"another key", "u2", signed(stranger, "front", unlock("u2", 3000)), "refused: bad-signature"},
		{"signed for another door", "u3", signed(h.key, "side", unlock("u3", 3000)), "refused: signed-for-another-device"},
		{"longer than maxUnlock", "u4", signed(h.key, "front", unlock("u4", 31_000)), "refused: unlock-too-long"},
		{"an hour", "u5", signed(h.key, "front", unlock("u5", 3600_000)), "refused: unlock-too-long"},
		{"deadline too far ahead", "u6", signed(h.key, "front", &sitebus.Command{ID: "u6", Action: sitebus.ActionUnlock, Deadline: time.Now().Add(time.Hour)}), "refused: deadline-too-far-ahead"},
	}
	for _, tc := range tests {
		res := send(t, h, sitebus.ClassDoor, "front", tc.id, tc.raw)
		if res.Status != sitebus.ResultFailed || !strings.HasPrefix(res.Error, tc.want) {
			t.Errorf("%s: %+v, want failed, %q", tc.name, res, tc.want)
		}
	}
	if _, cmds := h.b.Refused(); cmds != uint64(len(tests)) {
		t.Errorf("Refused() commands = %d, want %d", cmds, len(tests))
	}
	if !h.sim.Door("front").LockEnergised() || len(h.bus.device(t, sitebus.ClassDoor, "front", sitebus.KindEvent)) != 0 {
		t.Fatal("front unlocked by a refused command")
	}

	// The genuine unlock is done; the same bytes again are refused.
	genuine := signed(h.key, "front", unlock("g1", 3000))
	if res := send(t, h, sitebus.ClassDoor, "front", "g1", genuine); res.Status != sitebus.ResultDone {
		t.Fatalf("genuine unlock: %+v", res)
	}
	h.bus.waitEvents(t, sitebus.ClassDoor, "front", 0, "unlocked")
	if res := send(t, h, sitebus.ClassDoor, "front", "g1", genuine); res.Status != sitebus.ResultFailed || !strings.HasPrefix(res.Error, "refused: replayed") {
		t.Errorf("replayed unlock: %+v, want failed, refused: replayed", res)
	}
	// A garbled command names no id to answer by: counted, not answered.
	if err := mqttclient.WaitTimeout(t.Context(), h.agt.Publish(sitebus.DeviceTopic(site, sitebus.ClassDoor, "front", sitebus.KindCmd), 1, false, []byte("{")), timeout); err != nil {
		t.Fatal(err)
	}
	wait.For(t, timeout, "the garbled command counted", func() (bool, string) {
		_, cmds := h.b.Refused()
		return cmds == uint64(len(tests))+2, fmt.Sprint(cmds)
	})
	if got := h.bus.waitEvents(t, sitebus.ClassDoor, "front", 0, "unlocked"); len(got) != 1 {
		t.Errorf("unlocked %d times, want once", len(got))
	}
}

// TestDoorUnlockForOverMaxUnlock: a signed unlock for the door's own time (forMs 0)
// is refused when that time is longer than maxUnlock.
func TestDoorUnlockForOverMaxUnlock(t *testing.T) {
	t.Parallel()
	brk := brokertest.Start(t)
	h := &harness{cfg: newConfig(t, brk.URL()), bus: record(t, brk.URL(), "watcher"), agt: brokertest.Client(t, brk.URL(), "agent")}
	h.key = siteKey(t, h.cfg)
	h.cfg.MaxUnlock = time.Second // front's own unlockFor is 2s
	h.b = bridge.New(h.cfg, testlog.New(t))
	run(t, h.b)
	h.sim = h.b.Sim()
	h.waitOnline(t, "front-in", true) // subscribed to commands
	res := command(t, h, sitebus.ClassDoor, "front", sitebus.Command{ID: "own", Action: sitebus.ActionUnlock, Deadline: time.Now().Add(time.Minute)})
	if res.Status != sitebus.ResultFailed || !strings.HasPrefix(res.Error, "refused: unlock-too-long") {
		t.Errorf("unlock for the door's own 2s with maxUnlock 1s: %+v, want refused", res)
	}
	res = command(t, h, sitebus.ClassDoor, "front", sitebus.Command{ID: "short", Action: sitebus.ActionUnlock, Deadline: time.Now().Add(time.Minute), ForMs: 1000})
	if res.Status != sitebus.ResultDone {
		t.Errorf("unlock for 1s: %+v, want done", res)
	}
}

// waitNewBoot waits until reader id says online under a boot other than old: the
// bridge that restarted has subscribed to its commands. It returns the new boot.
func (h *harness) waitNewBoot(t *testing.T, id, old string) string {
	t.Helper()
	var boot string
	wait.For(t, timeout, id+" online after the restart", func() (bool, string) {
		for _, m := range h.bus.device(t, sitebus.ClassReader, id, sitebus.KindState) {
			var s struct{ Online bool }
			json.Unmarshal(m.Data, &s)
			if m.Boot != old && s.Online {
				boot = m.Boot
				return true, ""
			}
		}
		return false, ""
	})
	return boot
}

// TestReplayAfterRestart: a signed command the bridge carried out, captured off the
// bus and replayed after the bridge restarts, within its deadline, is refused as
// replayed: the ledger of commands taken is kept in the state directory.
func TestReplayAfterRestart(t *testing.T) {
	t.Parallel()
	brk := brokertest.Start(t)
	h := &harness{cfg: newConfig(t, brk.URL()), bus: record(t, brk.URL(), "watcher"), agt: brokertest.Client(t, brk.URL(), "agent")}
	h.key = siteKey(t, h.cfg)
	h.b = bridge.New(h.cfg, testlog.New(t))
	stop := run(t, h.b)
	h.sim = h.b.Sim()
	h.waitOnline(t, "front-in", true)
	captured, err := sitebus.SignCommand(h.key, site, sitebus.ClassDoor, "front",
		&sitebus.Command{ID: "g1", Action: sitebus.ActionUnlock, Deadline: time.Now().Add(time.Minute), By: "staff-7", ForMs: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if res := send(t, h, sitebus.ClassDoor, "front", "g1", captured); res.Status != sitebus.ResultDone {
		t.Fatalf("genuine unlock: %+v", res)
	}
	first := h.bus.waitEvents(t, sitebus.ClassDoor, "front", 0, "unlocked")[0].Boot
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	h.b = bridge.New(h.cfg, testlog.New(t))
	run(t, h.b)
	h.sim = h.b.Sim()
	h.waitNewBoot(t, "front-in", first)
	if res := send(t, h, sitebus.ClassDoor, "front", "g1", captured); res.Status != sitebus.ResultFailed || !strings.HasPrefix(res.Error, "refused: replayed") {
		t.Errorf("unlock replayed after a restart: %+v, want failed, refused: replayed", res)
	}
	if _, cmds := h.b.Refused(); cmds != 1 {
		t.Errorf("Refused() commands = %d after the replay, want 1", cmds)
	}
	// A new command is still carried out.
	if res := command(t, h, sitebus.ClassDoor, "front", sitebus.Command{ID: "g2", Action: sitebus.ActionUnlock, Deadline: time.Now().Add(time.Minute), ForMs: 1000}); res.Status != sitebus.ResultDone {
		t.Errorf("new unlock after the restart: %+v, want done", res)
	}
	n := 0
	for _, m := range h.bus.device(t, sitebus.ClassDoor, "front", sitebus.KindEvent) {
		if m.Kind == "unlocked" && m.Boot != first {
			n++
		}
	}
	if n != 1 {
		t.Errorf("after the restart front unlocked %d times, want once (g2 only)", n)
	}
}

// TestLedgerLostFailsClosed: a bridge whose kept command ledger is corrupt still runs
// its doors, warns once, and refuses the commands that might have been accepted
// before it started (due within maxAhead, 5 minutes, of its first command); once that
// has passed, commands are carried out and the ledger is kept again.
func TestLedgerLostFailsClosed(t *testing.T) {
	t.Parallel()
	brk := brokertest.Start(t)
	h := &harness{cfg: newConfig(t, brk.URL()), bus: record(t, brk.URL(), "watcher"), agt: brokertest.Client(t, brk.URL(), "agent")}
	h.key = siteKey(t, h.cfg)
	if err := os.MkdirAll(h.cfg.StateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(h.cfg.StateDir, "commands.json")
	if err := os.WriteFile(path, []byte(`{"version":1,"commands":[{"id":"g1","dead`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := mqttclient.WaitTimeout(t.Context(), h.agt.Publish(sitebus.CredentialsTopic(site), 1, true, credentials(t, h.key, 1)), timeout); err != nil {
		t.Fatal(err)
	}
	log, warned := testlog.Count(testlog.New(t), slog.LevelDebug, "command ledger")
	clk := clocktest.Running(time.Date(2026, 6, 10, 11, 0, 0, 0, time.UTC))
	h.b = bridge.New(h.cfg, log, bridge.WithClock(clk))
	run(t, h.b)
	h.sim = h.b.Sim()
	h.waitOnline(t, "front-in", true)

	for _, id := range []string{"g1", "g2"} {
		res := command(t, h, sitebus.ClassDoor, "front", sitebus.Command{ID: id, Action: sitebus.ActionUnlock, Deadline: clk.Now().Add(10 * time.Second), ForMs: 1000})
		if res.Status != sitebus.ResultFailed || !strings.HasPrefix(res.Error, "refused: replay-ledger-lost") {
			t.Errorf("%s with the ledger lost: %+v, want failed, refused: replay-ledger-lost", id, res)
		}
	}
	// The doors work meanwhile.
	if cr := readAt(t, h, 0, 10001); !cr.Granted {
		t.Errorf("card read with the ledger lost: %+v, want granted", cr)
	}
	h.waitLock(t, "front", false)

	clk.Add(5 * time.Minute)
	res := command(t, h, sitebus.ClassDoor, "front", sitebus.Command{ID: "g3", Action: sitebus.ActionUnlock, Deadline: clk.Now().Add(10 * time.Second), ForMs: 1000})
	if res.Status != sitebus.ResultDone {
		t.Errorf("unlock 5 minutes on: %+v, want done", res)
	}
	if n := warned.Load(); n != 1 {
		t.Errorf("ledger loss logged %d times, want once", n)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var kept struct {
		Commands []struct{ ID string } `json:"commands"`
	}
	if err := json.Unmarshal(b, &kept); err != nil || len(kept.Commands) != 1 || kept.Commands[0].ID != "g3" {
		t.Errorf("ledger file after g3: %s (%v), want it written anew with g3", b, err)
	}
}
