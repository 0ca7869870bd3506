package forwarder_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/apedge/apedge/agent/forwarder"
	"github.com/apedge/apedge/agent/journal"
	"github.com/apedge/apedge/central"
	"github.com/apedge/apedge/formats/envelope"
	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/sitekey"
	"github.com/apedge/apedge/formats/uplink"
	"github.com/apedge/apedge/internal/broker"
	"github.com/apedge/apedge/internal/broker/brokertest"
	"github.com/apedge/apedge/internal/config"
	"github.com/apedge/apedge/internal/mqttclient"
	"github.com/apedge/apedge/internal/testlog"
	"github.com/apedge/apedge/internal/wait"
)

const (
	site    = "MAN1"
	timeout = 30 * time.Second
)

// env is one site: an embedded broker, the site key and a journal.
type env struct {
	t      *testing.T
	log    *slog.Logger
	dir    string
	broker *broker.Broker
	key    *sitekey.Private
	pub    string // public key file
	j      *journal.Journal
	n      atomic.Uint64 // drafts appended, for unique origins
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, log: testlog.New(t), dir: t.TempDir(), broker: brokertest.Start(t)}
	var err error
	if e.key, err = sitekey.Generate(site, nil); err != nil {
		t.Fatal(err)
	}
	if _, e.pub, err = sitekey.Write(filepath.Join(e.dir, "keys"), e.key); err != nil {
		t.Fatal(err)
	}
	e.j, err = journal.Open(t.Context(), journal.Options{Path: filepath.Join(e.dir, "agent.db"), Key: e.key, Logger: e.log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.j.Close() })
	return e
}

// append journals n events, concurrently so that they share commits.
func (e *env) append(n int) {
	e.t.Helper()
	want := e.j.Last() + uint64(n)
	const workers = 8
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				k := e.n.Add(1)
				info, _ := json.Marshal(map[string]any{"door": "front", "reader": "front-in", "n": k})
				_, err := e.j.Append(context.Background(), &event.Draft{
					Type:       "movement.entered",
					OccurredAt: time.Now(),
					Person:     &event.PersonReference{Identifiers: []event.Identifier{{Type: "CRN", Value: "X123456"}}},
					Info:       info,
					Origin:     fmt.Sprintf("test:%d", k),
				})
				if err != nil {
					e.t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if got := e.j.Last(); got != want {
		e.t.Fatalf("journal last %d after appending, want %d", got, want)
	}
}

func (e *env) link(batch, window int, resendAfter time.Duration) config.Forward {
	return config.Forward{
		MQTT:        config.MQTT{Broker: e.broker.URL(), ClientID: "apedge-agent-" + site + "-uplink"},
		Batch:       batch,
		Window:      window,
		ResendAfter: resendAfter,
	}
}

// start runs f with a context canceled by the returned stop, which waits for f (and is
// also called at the end of the test).
func start(t *testing.T, name string, f func(context.Context) error) func() error {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	var once sync.Once
	var err error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(timeout):
				err = fmt.Errorf("%s did not stop within %v", name, timeout)
			}
		})
		return err
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	})
	return stop
}

// startForwarder runs a forwarder of e's journal over link.
func (e *env) startForwarder(link config.Forward) (*forwarder.Forwarder, func() error) {
	e.t.Helper()
	f, err := forwarder.New(forwarder.Options{Site: site, Journal: e.j, Link: link, Logger: e.log, InitialAckWait: 200 * time.Millisecond})
	if err != nil {
		e.t.Fatal(err)
	}
	return f, start(e.t, "forwarder", f.Run)
}

// startCentral runs the reference central server, trusting e's key, on e's broker. It
// announces itself online on the status topic when it connects.
func (e *env) startCentral() (*central.Server, func() error) {
	e.t.Helper()
	cfg := &config.Central{
		Database: filepath.Join(e.dir, "central.db"),
		Broker:   config.MQTT{Broker: e.broker.URL(), ClientID: "apedge-central"},
		Trust:    []config.TrustedSite{{Site: site, PubKey: e.pub}},
	}
	srv, err := central.NewServer(context.Background(), cfg, e.log)
	if err != nil {
		e.t.Fatal(err)
	}
	return srv, start(e.t, "central", srv.Run)
}

// startQuietCentral runs a central receiver that stores and acks like the reference
// server but never announces itself on the status topic, so that the forwarder learns
// of it only by resending.
func (e *env) startQuietCentral() *central.Receiver {
	e.t.Helper()
	c := brokertest.Client(e.t, e.broker.URL(), "quiet-central")
	trust := envelope.TrustStore{}
	trust.Add(e.key.Public())
	r, err := central.Open(context.Background(), central.Options{
		Path:   filepath.Join(e.dir, "quiet-central.db"),
		Trust:  trust,
		Logger: e.log,
		Publish: func(site string, seq uint64) {
			c.Publish(uplink.AckTopic(site), 1, true, uplink.EncodeAck(site, seq, time.Now()))
		},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	start(e.t, "quiet central", func(ctx context.Context) error {
		err := r.Run(ctx)
		c.Disconnect(250)
		if cerr := r.Close(); err == nil {
			err = cerr
		}
		return err
	})
	tok := c.Subscribe(uplink.EventsFilter, 1, func(_ mqtt.Client, m mqtt.Message) { r.Handle(m.Topic(), m.Payload()) })
	if err := mqttclient.WaitTimeout(e.t.Context(), tok, timeout); err != nil {
		e.t.Fatal(err)
	}
	return r
}

// delivered waits until the forwarder has central's ack of want, and the journal's
// cursor has followed it.
func delivered(t *testing.T, e *env, f *forwarder.Forwarder, want uint64) {
	t.Helper()
	wait.For(t, timeout, fmt.Sprintf("delivery of %d events", want), func() (bool, string) {
		s := f.Stats()
		return s.Acked == want && e.j.Delivered() == want, fmt.Sprintf("journal delivered %d, forwarder %+v", e.j.Delivered(), s)
	})
}

// checkCentral checks that central holds exactly 1..want of the site and refused nothing.
func checkCentral(t *testing.T, r *central.Receiver, want uint64) central.Stats {
	t.Helper()
	if got := r.Heads()[site]; got != want {
		t.Errorf("central head %d, want %d", got, want)
	}
	s := r.Stats()
	if s.Stored != want {
		t.Errorf("central stored %d, want %d", s.Stored, want)
	}
	for reason, n := range s.Rejected {
		if n != 0 {
			t.Errorf("central rejected %d envelopes as %s", n, reason)
		}
	}
	if s.HeldNow != 0 {
		t.Errorf("central still holds %d envelopes after a gap", s.HeldNow)
	}
	return s
}

func TestDeliverEverything(t *testing.T) {
	const n, more = 500, 37
	e := newEnv(t)
	srv, _ := e.startCentral()
	e.append(n)
	link := e.link(32, 4, 5*time.Second)
	f, stop := e.startForwarder(link)
	delivered(t, e, f, n)
	checkCentral(t, srv.Receiver, n)

	// Events journaled while it runs follow.
	e.append(more)
	delivered(t, e, f, n+more)
	s := checkCentral(t, srv.Receiver, n+more)
	if s.Duplicates != 0 {
		t.Errorf("central received %d duplicates on a steady link", s.Duplicates)
	}
	fs := f.Stats()
	if minBatches := uint64((n + more + link.Batch - 1) / link.Batch); fs.Published < minBatches || fs.Sent != n+more {
		t.Errorf("forwarder %+v, want at least %d batches and %d envelopes sent once each", fs, minBatches, n+more)
	}
	if err := stop(); err != nil {
		t.Errorf("Run = %v, want nil on cancel", err)
	}
	stored, err := central.StoredCount(t.Context(), filepath.Join(e.dir, "central.db"), site)
	if err != nil {
		t.Fatal(err)
	}
	if stored != n+more {
		t.Errorf("central.db holds %d events, want %d", stored, n+more)
	}
}

// TestBacklog: central comes up after the forwarder has sent a window to nobody. Its
// online status makes the forwarder start again from the ack at once, long before
// ResendAfter.
func TestBacklog(t *testing.T) {
	const n = 400
	e := newEnv(t)
	e.append(n)
	link := e.link(32, 4, time.Minute)
	f, _ := e.startForwarder(link)
	window := uint64(link.Batch * link.Window)
	wait.For(t, timeout, "a window sent to nobody", func() (bool, string) {
		return f.Stats().Sent >= window, fmt.Sprintf("%+v", f.Stats())
	})
	if s := f.Stats(); s.Sent != window || s.Acked != 0 || e.j.Delivered() != 0 {
		t.Fatalf("with no central: forwarder %+v, delivered %d; want one window sent and nothing acked", s, e.j.Delivered())
	}

	srv, _ := e.startCentral()
	delivered(t, e, f, n)
	checkCentral(t, srv.Receiver, n)
	if s := f.Stats(); s.Resends != 0 || s.Rewinds == 0 {
		t.Errorf("forwarder %+v: want central's online status to rewind it, with no resend after silence", s)
	}
}

// TestRestartResumesFromAck: a new forwarder on the same journal starts from central's
// retained ack, not from the beginning.
func TestRestartResumesFromAck(t *testing.T) {
	const n1, n2 = 400, 100
	e := newEnv(t)
	srv, _ := e.startCentral()
	e.append(n1)
	link := e.link(32, 4, 5*time.Second)
	f1, stop1 := e.startForwarder(link)
	delivered(t, e, f1, n1)
	if err := stop1(); err != nil {
		t.Fatal(err)
	}
	before := checkCentral(t, srv.Receiver, n1)

	e.append(n2)
	f2, _ := e.startForwarder(link)
	delivered(t, e, f2, n1+n2)
	after := checkCentral(t, srv.Receiver, n1+n2)
	if dups := after.Duplicates - before.Duplicates; dups > uint64(link.Batch) {
		t.Errorf("central received %d duplicates after the restart, want at most a batch (%d) of %d events", dups, link.Batch, n1+n2)
	}
	if s := f2.Stats(); s.Sent > n2+uint64(link.Batch) {
		t.Errorf("restarted forwarder sent %d envelopes for %d new events: it did not resume from the ack", s.Sent, n2)
	}
}

// TestResendAfterSilence: central comes up without saying so, after the forwarder sent a
// window to nobody. Only the resend of the oldest unacknowledged batch after ResendAfter
// can get things moving again.
func TestResendAfterSilence(t *testing.T) {
	const n = 200
	e := newEnv(t)
	e.append(n)
	link := e.link(16, 4, 200*time.Millisecond)
	f, _ := e.startForwarder(link)
	window := uint64(link.Batch * link.Window)
	wait.For(t, timeout, "a window sent to nobody", func() (bool, string) {
		return f.Stats().Sent >= window, fmt.Sprintf("%+v", f.Stats())
	})

	r := e.startQuietCentral()
	delivered(t, e, f, n)
	s := checkCentral(t, r, n)
	fs := f.Stats()
	if fs.Resends == 0 {
		t.Errorf("forwarder %+v: delivered without a resend", fs)
	}
	// Each resend is of the oldest batch only, not of the whole window.
	if extra := fs.Sent - n; extra > (fs.Resends+uint64(link.Window))*uint64(link.Batch) {
		t.Errorf("forwarder sent %d envelopes for %d events with %d resends", fs.Sent, n, fs.Resends)
	}
	if s.Duplicates > fs.Resends*uint64(link.Batch) {
		t.Errorf("central received %d duplicates, more than %d resends of a batch of %d", s.Duplicates, fs.Resends, link.Batch)
	}
}

// TestIgnoresBadAcks: acks that are not central's ack of this site move nothing.
func TestIgnoresBadAcks(t *testing.T) {
	const n = 100
	e := newEnv(t)
	e.append(n)
	c := brokertest.Client(t, e.broker.URL(), "forger")
	defer c.Disconnect(0)
	for _, bad := range [][]byte{
		uplink.EncodeAck("LDS2", 5000, time.Now()), // another site's ack on this site's topic
		[]byte(`{"v":2,"site":"MAN1","seq":5000}`),
		[]byte(`not json`),
	} {
		// Retained, so each is what the forwarder finds when it subscribes; and live.
		if err := mqttclient.WaitTimeout(t.Context(), c.Publish(uplink.AckTopic(site), 1, true, bad), timeout); err != nil {
			t.Fatal(err)
		}
	}
	link := e.link(16, 4, time.Minute)
	f, _ := e.startForwarder(link)
	wait.For(t, timeout, "a window sent", func() (bool, string) {
		return f.Stats().Sent >= uint64(link.Batch*link.Window), fmt.Sprintf("%+v", f.Stats())
	})
	if s := f.Stats(); s.Acked != 0 || e.j.Delivered() != 0 {
		t.Fatalf("after forged acks: forwarder %+v, delivered %d; want nothing acknowledged", s, e.j.Delivered())
	}
	// Were this one taken, the forwarder's ack would never again equal n.
	if err := mqttclient.WaitTimeout(t.Context(), c.Publish(uplink.AckTopic(site), 1, false, uplink.EncodeAck("LDS2", 5000, time.Now())), timeout); err != nil {
		t.Fatal(err)
	}
	// The real central then delivers everything, and its ack replaces the forgeries.
	srv, _ := e.startCentral()
	delivered(t, e, f, n)
	checkCentral(t, srv.Receiver, n)
}
