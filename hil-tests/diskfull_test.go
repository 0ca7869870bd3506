package hiltests

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/sitebus"
)

// mountTmpfs mounts a tmpfs of size bytes on a new folder, unmounted at the end of
// the test. It skips the test where this machine does not let the tests mount (they
// are not root): a full disk cannot be made otherwise without filling the real one.
func mountTmpfs(t *testing.T, dir string, size int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		if errors.Is(err, syscall.EPERM) {
			t.Skipf("cannot mount a small tmpfs to fill (%v): run as root, as CI does", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
}

// fill writes zeros to dir/filler until the file system is full, and returns the
// filler's path.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = io.Copy(f, zeros{})
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("filling %s: %v, want no space left", dir, err)
	}
	return path
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestDiskFullDoorsWork: the bridge's state folder is on a small file system that
// fills up while residents come and go. The doors go on deciding (each read is decided
// when it is made, by the kept list), the bridge says on its state that it holds
// messages it cannot write, and once there is room again every door event it held is
// written, sent and journaled, in order and dated when it happened; none is lost, so
// no messages-lost alarm is raised, and central ends with exactly the journal.
func TestDiskFullDoorsWork(t *testing.T) {
	t.Parallel()
	const code, swipes = "HIL9", 12
	mq := startMosquitto(t, code)
	s := newSite(t, code, mq, siteOptions{})
	state := filepath.Join(s.Dir, "bridge-state")
	mountTmpfs(t, state, 4<<20)
	sim := startSimPD(t, "-addr", "1,2", "-baud", "115200")
	bridgeYAML := filepath.Join(s.Dir, "bridge.yaml")
	body := fmt.Sprintf(`site: %s
stateDir: bridge-state
bus: %s
osdp:
  - port: %s
    baud: 115200
    readers:
      - {id: front-in, address: 1, insecure: true}
      - {id: front-out, address: 2, insecure: true}
doors:
  - {id: front, entryReader: front-in, exitReader: front-out}
`, code, link(mq, "bridge"), sim.TTY)
	if err := os.WriteFile(bridgeYAML, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	w := watch(t, mq, code)
	var mu sync.Mutex
	var states []sitebus.BridgeState
	c := connect(t, mq, "hil-bridge-state", "monitor")
	c.Subscribe(sitebus.BridgeStateTopic(code), 1, func(_ mqtt.Client, m mqtt.Message) {
		if st, err := sitebus.DecodeBridgeState(m.Payload()); err == nil {
			mu.Lock()
			states = append(states, *st)
			mu.Unlock()
		}
	}).Wait()
	startProc(t, s.Dir, "central", "central", "-config", s.CentralYAM)
	startProc(t, s.Dir, "agent", "agent", "-config", s.AgentYAML)
	startProc(t, s.Dir, "bridge", "bridge", "-config", bridgeYAML)
	waitFor(t, 60*time.Second, "the agent's credential list kept by the bridge", func() (bool, string) {
		_, err := os.Stat(filepath.Join(state, "credentials.json"))
		return err == nil, fmt.Sprint(err)
	})
	waitFor(t, 30*time.Second, "both readers online", func() (bool, string) {
		online := func(id string) bool {
			st := w.find(sitebus.ClassReader, id, sitebus.KindState, "status")
			var s struct{ Online bool }
			return len(st) > 0 && json.Unmarshal(st[len(st)-1].Data, &s) == nil && s.Online
		}
		return online("front-in") && online("front-out"), ""
	})

	filler := fill(t, state)
	full := time.Now()
	for i := range swipes {
		sim.Do("@%d swipe 12:10001", 1+i%2) // in, out, in, ...
	}
	// The bridge says how many messages it holds, on its state, every few seconds.
	waitFor(t, 60*time.Second, "every read decided and held", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		if len(states) == 0 {
			return false, "no bridge state"
		}
		st := states[len(states)-1]
		return st.Outbox == "degraded" && st.Held >= swipes, fmt.Sprintf("%+v", st)
	})
	if n := len(w.find(sitebus.ClassReader, "front-in", sitebus.KindEvent, "card-read")); n != 0 {
		t.Fatalf("%d reads sent while the outbox could not write them; they are to be held", n)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	room := time.Now()

	var moves []*event.Event
	waitFor(t, 90*time.Second, "every held read journaled once there is room", func() (bool, string) {
		moves = moves[:0]
		for _, e := range s.journalEntries(t) {
			if ev := parseEntry(t, e); strings.HasPrefix(ev.Type, event.TypePrefix+"movement.") {
				moves = append(moves, ev)
			}
		}
		return len(moves) >= swipes, fmt.Sprintf("%d movements", len(moves))
	})
	// Quiet: the bridge has written and sent all it held, and central has all of it.
	waitFor(t, 60*time.Second, "the bridge's outbox no longer degraded", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		last := states[len(states)-1]
		return last.Outbox == "" && last.Held == 0, fmt.Sprintf("%+v", last)
	})
	entries := s.checkDelivered(t)
	if len(moves) != swipes {
		t.Errorf("%d movements journaled for %d swipes", len(moves), swipes)
	}
	kinds := map[string]int{}
	for _, ev := range moves {
		kinds[strings.TrimPrefix(ev.Type, event.TypePrefix)]++
		if at, _ := time.Parse(time.RFC3339Nano, ev.Data.OccurredAt); at.Before(full) || !at.Before(room) {
			t.Errorf("%s at %s; want it dated when it happened, between the disk filling (%s) and room again (%s)",
				ev.Type, ev.Data.OccurredAt, full.Format(time.RFC3339Nano), room.Format(time.RFC3339Nano))
		}
	}
	if kinds["movement.entered"] != swipes/2 || kinds["movement.exited"] != swipes/2 {
		t.Errorf("movements %v, want %d entered and %d exited", kinds, swipes/2, swipes/2)
	}
	for _, e := range entries {
		if ev := parseEntry(t, e); ev.Type == event.TypePrefix+"bridge.messages-lost" {
			info, _ := json.Marshal(ev.Data.AdditionalInformation)
			t.Errorf("messages lost though fewer were held than the bound: %s", info)
		}
	}
	mu.Lock()
	last := states[len(states)-1]
	mu.Unlock()
	if last.Lost != 0 {
		t.Errorf("bridge state after recovery %+v, want nothing lost", last)
	}
}
