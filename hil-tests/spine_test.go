package hiltests

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// warmUp waits until the agent has subscribed to the site bus and journals reads: from
// then on, every read the broker accepts is queued for the agent's persistent session.
// Warm-up reads published before the agent's first subscription reach no one (no session
// existed for the broker to queue them in), so they are not counted as accepted.
func warmUp(t *testing.T, s *Site, d *busDriver) {
	t.Helper()
	waitFor(t, 60*time.Second, "the agent to journal a first read", func() (bool, string) {
		d.read(context.Background(), "10001")
		n := len(deviceSeqs(t, s.journalEntries(t)))
		return n > 0, fmt.Sprintf("%d reads journaled", n)
	})
	d.mu.Lock()
	clear(d.accepted)
	d.mu.Unlock()
}

// spineSetup is one configuration of central the exactly-once tests run against.
type spineSetup struct {
	central centralSetup
	// killReceiver: one of the receivers is killed with SIGKILL mid-stream, and stays
	// down; the others carry on.
	killReceiver bool
}

func (c spineSetup) name() string {
	if c.killReceiver {
		return c.central.name + "-one-killed"
	}
	return c.central.name
}

// spineSetups: SQLite with one receiver, as a single central runs; PostgreSQL with
// three receivers sharing the subscription ($share/apedge-central/...); and the same
// with one of them killed mid-stream.
var spineSetups = []spineSetup{
	{central: centralSetups[0]},
	{central: centralSetups[1]},
	{central: centralSetups[1], killReceiver: true},
}

// killOneMidStream kills the first receiver with SIGKILL once central has stored at
// least from of the site's events, and reports how many it had stored then.
func killOneMidStream(t *testing.T, s *Site, cs Centrals, from int64) {
	t.Helper()
	waitFor(t, 120*time.Second, "central to store some of the stream", func() (bool, string) {
		n := s.stored(t)
		return n >= from, fmt.Sprint(n)
	})
	cs[0].Kill()
	t.Logf("%s killed with SIGKILL with %d events stored", cs[0].name, s.stored(t))
}

// checkShared stops the receivers and checks, from what each logged as it stopped, that
// more than one of them took batches: the subscription was shared, not copied to each.
func checkShared(t *testing.T, cs Centrals) {
	t.Helper()
	if len(cs) < 2 {
		return
	}
	busy := 0
	for _, c := range cs {
		if c.cmd == nil {
			continue // killed
		}
		if err := c.Stop(); err != nil {
			t.Errorf("%s did not stop cleanly: %v", c.name, err)
		}
		line := ""
		for _, l := range strings.Split(c.Log(), "\n") {
			if strings.Contains(l, "stopped receiving") {
				line = l
			}
		}
		if line == "" {
			t.Errorf("%s logged no stop", c.name)
			continue
		}
		t.Logf("%s: %s", c.name, line[strings.Index(line, "batches="):])
		if !strings.Contains(line, "batches=0 ") {
			busy++
		}
	}
	if busy < 2 {
		t.Errorf("%d receivers took batches; a shared subscription deals them to each", busy)
	}
}

// TestBacklogWhileCentralDown: 10,000 events journaled while central is down, then
// central starts: all stored exactly once, in order.
func TestBacklogWhileCentralDown(t *testing.T) {
	t.Parallel()
	for _, setup := range spineSetups {
		t.Run(setup.name(), func(t *testing.T) { t.Parallel(); backlogWhileCentralDown(t, setup) })
	}
}

func backlogWhileCentralDown(t *testing.T, setup spineSetup) {
	const n = 10000
	m := startMosquitto(t, "HIL1")
	o := siteOptions{central: setup.central}
	s := newSite(t, "HIL1", m, o)
	agent := startProc(t, s.Dir, "agent", "agent", "-config", s.AgentYAML)
	d := newBusDriver(t, s.Code, m, "front-in")
	warmUp(t, s, d)

	// Publish from several goroutines, as several readers' traffic would arrive.
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n/8; i++ {
				if !d.read(context.Background(), "10001") {
					t.Error("broker refused a read")
					return
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d reads published", d.count())
	waitFor(t, 120*time.Second, "the agent to journal every read", func() (bool, string) {
		got := len(deviceSeqs(t, s.journalEntries(t)))
		return got >= d.count(), fmt.Sprintf("%d of %d", got, d.count())
	})
	if got := s.stored(t); got != 0 {
		t.Fatalf("central stored %d events before it ran", got)
	}

	t.Logf("journaled; starting central")
	cs := startCentrals(t, s, o)
	if setup.killReceiver {
		killOneMidStream(t, s, cs, 1000)
	}
	entries := s.checkDelivered(t)
	t.Logf("central stored all %d", len(entries))
	d.checkAccepted(t, entries)
	if len(entries) < n {
		t.Fatalf("journal has %d entries, want at least %d", len(entries), n)
	}
	if err := agent.Stop(); err != nil {
		t.Fatalf("agent did not stop cleanly: %v\n%s", err, agent.Log())
	}
	checkShared(t, cs)
}

// TestAgentKilled: the agent is killed with SIGKILL while events flow, then restarted,
// five times: every event whose append returned reaches central, none twice, no holes,
// and every read the broker accepted is journaled exactly once.
func TestAgentKilled(t *testing.T) {
	t.Parallel()
	for _, setup := range spineSetups {
		t.Run(setup.name(), func(t *testing.T) { t.Parallel(); agentKilled(t, setup) })
	}
}

func agentKilled(t *testing.T, setup spineSetup) {
	m := startMosquitto(t, "HIL2")
	o := siteOptions{central: setup.central}
	s := newSite(t, "HIL2", m, o)
	cs := startCentrals(t, s, o)
	agent := startProc(t, s.Dir, "agent", "agent", "-config", s.AgentYAML)
	d := newBusDriver(t, s.Code, m, "front-in")
	warmUp(t, s, d)

	ctx, stop := context.WithCancel(context.Background())
	done := d.run(ctx, 2*time.Millisecond)
	for kill := 1; kill <= 5; kill++ {
		before := len(s.journalEntries(t))
		waitFor(t, 60*time.Second, "the agent to journal more events", func() (bool, string) {
			n := len(s.journalEntries(t))
			return n >= before+200, fmt.Sprintf("%d entries, want %d", n, before+200)
		})
		agent.Kill()
		t.Logf("kill %d: journal had %d entries", kill, len(s.journalEntries(t)))
		agent.Start()
		if kill == 2 && setup.killReceiver {
			killOneMidStream(t, s, cs, 1)
		}
	}
	// Let events flow after the last restart too, then stop the reads.
	before := len(s.journalEntries(t))
	waitFor(t, 60*time.Second, "events after the last restart", func() (bool, string) {
		n := len(s.journalEntries(t))
		return n >= before+100, fmt.Sprintf("%d", n)
	})
	stop()
	<-done
	waitFor(t, 60*time.Second, "the agent to journal every accepted read", func() (bool, string) {
		got := len(deviceSeqs(t, s.journalEntries(t)))
		return got >= d.count(), fmt.Sprintf("%d of %d", got, d.count())
	})
	entries := s.checkDelivered(t)
	d.checkAccepted(t, entries)
	started := 0
	for _, e := range entries {
		if parseEntry(t, e).Type == "approved-premises.agent.started" {
			started++
		}
	}
	if started != 6 {
		t.Errorf("%d agent.started events, want 6 (one per start)", started)
	}
	checkShared(t, cs)
}

// TestBrokerRestart: the broker restarts mid-stream, twice: every journaled event reaches
// central exactly once, in order, with no holes, and no read is journaled twice.
//
// Reads the broker accepted just before a restart are not all guaranteed: Mosquitto
// (2.0, persistence on, SIGTERM) was seen here to lose a QoS 1 message in flight to a
// connected persistent subscriber across a restart (1 of ~400 in 1 of 3 runs, with a
// bare paho publisher and subscriber and no apedge code). This test's publisher stands
// in for the bridge without its outbox, so it only logs such losses; the real bridge
// keeps each message until the agent acknowledges it and sends again what was lost,
// and TestBrokerRestartNothingLost shows that nothing is.
func TestBrokerRestart(t *testing.T) {
	t.Parallel()
	const restarts = 2
	m := startMosquitto(t, "HIL3")
	s := newSite(t, "HIL3", m, siteOptions{})
	startProc(t, s.Dir, "central", "central", "-config", s.CentralYAM)
	startProc(t, s.Dir, "agent", "agent", "-config", s.AgentYAML)
	d := newBusDriver(t, s.Code, m, "front-in")
	warmUp(t, s, d)

	ctx, stop := context.WithCancel(context.Background())
	done := d.run(ctx, 2*time.Millisecond)
	for restart := 1; restart <= restarts; restart++ {
		before := len(s.journalEntries(t))
		waitFor(t, 60*time.Second, "events to flow", func() (bool, string) {
			n := len(s.journalEntries(t))
			return n >= before+300, fmt.Sprintf("%d", n)
		})
		m.Restart()
		t.Logf("broker restart %d", restart)
	}
	before := len(s.journalEntries(t))
	waitFor(t, 60*time.Second, "events after the last restart", func() (bool, string) {
		n := len(s.journalEntries(t))
		return n >= before+300, fmt.Sprintf("%d", n)
	})
	stop()
	<-done
	entries := s.checkDelivered(t)
	lost := d.lostAccepted(t, entries)
	t.Logf("%d reads accepted by the broker, %d of them lost by it across %d restarts (a publisher with no outbox)", d.count(), lost, restarts)
}
