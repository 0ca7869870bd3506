package forwarder_test

import (
	"context"
	"encoding/json"
	"errors"
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
	"github.com/apedge/apedge/internal/clock"
	"github.com/apedge/apedge/internal/clock/clocktest"
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

// reports records what a forwarder reports of refused acks.
type reports struct {
	mu sync.Mutex
	rs []forwarder.AckRefusal
}

func (r *reports) add(_ context.Context, a forwarder.AckRefusal) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rs = append(r.rs, a)
	return nil
}

func (r *reports) get() []forwarder.AckRefusal {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]forwarder.AckRefusal(nil), r.rs...)
}

// startReporting runs a forwarder of e's journal over link that reports refused acks to
// the returned recorder, dating them by clk.
func (e *env) startReporting(link config.Forward, clk clock.Clock) (*forwarder.Forwarder, *reports, func() error) {
	e.t.Helper()
	rep := &reports{}
	f, err := forwarder.New(forwarder.Options{Site: site, Journal: e.j, Link: link, Logger: e.log, InitialAckWait: 200 * time.Millisecond,
		Clock: clk, OnAckRefused: rep.add})
	if err != nil {
		e.t.Fatal(err)
	}
	return f, rep, start(e.t, "forwarder", f.Run)
}

// testDay is the tests' clock: far from any day they run.
var testDay = time.Date(2031, 5, 6, 22, 0, 0, 0, time.UTC)

func publishAck(t *testing.T, c mqtt.Client, retained bool, payload []byte) {
	t.Helper()
	if err := mqttclient.WaitTimeout(t.Context(), c.Publish(uplink.AckTopic(site), 1, retained, payload), timeout); err != nil {
		t.Fatal(err)
	}
}

// TestAckRefusals: an ack moves the cursor only if it names this site and claims no
// more than the journal holds; one below the cursor changes nothing. Each refused ack
// is counted and reported with its cause; within a minute of a report, further refusals
// of that cause are counted but not reported until the minute is out.
func TestAckRefusals(t *testing.T) {
	const n = 50
	e := newEnv(t)
	e.append(n)
	clk := clocktest.New(testDay)
	f, rep, _ := e.startReporting(e.link(16, 4, time.Minute), clk)
	c := brokertest.Client(t, e.broker.URL(), "forger")
	defer c.Disconnect(0)
	// Each case is followed by this malformed message: once it is counted, the forwarder
	// has handled the case (messages are handled in order).
	sentinel := []byte(`sentinel`)
	// Retained, so that the forwarder finds it whenever it subscribes.
	publishAck(t, c, true, uplink.EncodeAck(site, 30, testDay))
	wait.For(t, timeout, "central's ack of 30", func() (bool, string) {
		return f.Stats().Acked == 30, fmt.Sprintf("%+v", f.Stats())
	})

	tests := []struct {
		name      string
		ack       []byte
		wantCause string // "" if taken
		wantSite  string // what the report says the ack claims
		wantSeq   uint64
		wantAcked uint64
	}{
		{"below the cursor", uplink.EncodeAck(site, 10, testDay), "", "", 0, 30},
		{"at the cursor", uplink.EncodeAck(site, 30, testDay), "", "", 0, 30},
		{"one beyond the journal", uplink.EncodeAck(site, n+1, testDay), forwarder.RefusedBeyondJournal, site, n + 1, 30},
		{"2^63", uplink.EncodeAck(site, 1<<63, testDay), forwarder.RefusedBeyondJournal, site, 1 << 63, 30},
		{"2^64-1", []byte(`{"v":1,"site":"MAN1","seq":18446744073709551615}`), forwarder.RefusedBeyondJournal, site, 1<<64 - 1, 30},
		{"another site's, within the journal", uplink.EncodeAck("LDS2", 40, testDay), forwarder.RefusedOtherSite, "LDS2", 40, 30},
		{"another site's, beyond the journal", uplink.EncodeAck("LDS2", 1<<63, testDay), forwarder.RefusedOtherSite, "LDS2", 1 << 63, 30},
		{"seq beyond uint64", []byte(`{"v":1,"site":"MAN1","seq":18446744073709551616}`), forwarder.RefusedMalformed, "", 0, 30},
		{"negative seq", []byte(`{"v":1,"site":"MAN1","seq":-1}`), forwarder.RefusedMalformed, "", 0, 30},
		{"another version", []byte(`{"v":2,"site":"MAN1","seq":40}`), forwarder.RefusedMalformed, "", 0, 30},
		{"empty", []byte{}, forwarder.RefusedMalformed, "", 0, 30},
		{"within the journal", uplink.EncodeAck(site, 45, testDay), "", "", 0, 45},
		{"at the journal's last", uplink.EncodeAck(site, n, testDay), "", "", 0, n},
	}
	prevMalformed := false
	for _, tc := range tests {
		// A malformed case's sentinel is held back and counted in the next malformed
		// report.
		wantRefused := uint64(1)
		if prevMalformed && tc.wantCause == forwarder.RefusedMalformed {
			wantRefused = 2
		}
		prevMalformed = tc.wantCause == forwarder.RefusedMalformed
		t.Run(tc.name, func(t *testing.T) {
			at := clk.Add(time.Minute) // every refusal in this case is reported
			before, reported := f.Stats(), len(rep.get())
			want, wantReports := before.AcksRefused+1, reported+1 // the sentinel
			// A malformed case is reported, and its malformed sentinel within the same
			// minute only counted.
			if tc.wantCause != "" {
				want++
			}
			if tc.wantCause != "" && tc.wantCause != forwarder.RefusedMalformed {
				wantReports++
			}
			publishAck(t, c, false, tc.ack)
			publishAck(t, c, false, sentinel)
			wait.For(t, timeout, "the case and its sentinel handled and reported", func() (bool, string) {
				return f.Stats().AcksRefused >= want && len(rep.get()) >= wantReports, fmt.Sprintf("%+v, reports %+v", f.Stats(), rep.get())
			})
			if s := f.Stats(); s.AcksRefused != want || s.Acked != tc.wantAcked {
				t.Errorf("forwarder %+v, want %d refused and acked %d", s, want, tc.wantAcked)
			}
			rs := rep.get()
			if len(rs) != wantReports {
				t.Fatalf("%d reports, want %d: %+v", len(rs), wantReports, rs[reported:])
			}
			if s := rs[len(rs)-1]; s.Cause != forwarder.RefusedMalformed || s.Err == "" {
				t.Errorf("last report %+v, want the sentinel's or the case's, malformed", s)
			}
			if tc.wantCause == "" {
				return
			}
			got := rs[len(rs)-1]
			if tc.wantCause != forwarder.RefusedMalformed {
				got = rs[len(rs)-2]
			}
			if (got.Err != "") != (tc.wantCause == forwarder.RefusedMalformed) {
				t.Errorf("report's Err %q for cause %s", got.Err, got.Cause)
			}
			got.Err = ""
			wantR := forwarder.AckRefusal{Cause: tc.wantCause, Topic: uplink.AckTopic(site), Site: tc.wantSite, Seq: tc.wantSeq,
				Last: n, Acked: before.Acked, At: at, Refused: wantRefused}
			if got != wantR {
				t.Errorf("report\n got %+v\nwant %+v", got, wantR)
			}
		})
	}
	wait.For(t, timeout, "the journal's delivery cursor", func() (bool, string) {
		return e.j.Delivered() == n, fmt.Sprintf("delivered %d", e.j.Delivered())
	})

	// The first of two refusals of a cause is reported; the second, within the minute
	// of that report, only counted.
	reported, refused := len(rep.get()), f.Stats().AcksRefused
	publishAck(t, c, false, uplink.EncodeAck(site, 1<<63, testDay))
	publishAck(t, c, false, uplink.EncodeAck(site, 1<<63-1, testDay))
	wait.For(t, timeout, "two more refusals, one reported", func() (bool, string) {
		return f.Stats().AcksRefused == refused+2 && len(rep.get()) == reported+1, fmt.Sprintf("%+v, reports %+v", f.Stats(), rep.get()[reported:])
	})
	if r := rep.get()[reported]; r.Seq != 1<<63 || r.Refused != 1 {
		t.Errorf("report %+v, want the first of the two", r)
	}
	// A minute on, the next is reported with the count of those held back.
	at := clk.Add(time.Minute)
	publishAck(t, c, false, uplink.EncodeAck(site, 1<<62, testDay))
	wait.For(t, timeout, "a report a minute on", func() (bool, string) { return len(rep.get()) == reported+2, fmt.Sprintf("%+v", rep.get()[reported:]) })
	r := rep.get()[reported+1]
	if r.Cause != forwarder.RefusedBeyondJournal || r.Seq != 1<<62 || r.Refused != 2 || !r.At.Equal(at) || r.Acked != n {
		t.Errorf("report a minute on: %+v, want beyond-journal, seq 2^62, 2 refused (one held back), at %v, acked %d", r, at, n)
	}
	if s := f.Stats(); s.Acked != n {
		t.Errorf("forwarder %+v, want acked %d", s, n)
	}
}

// TestForgedAckKeepsDelivering: a retained ack claiming seq 2^63, published on central's
// ack topic while events are journaled and delivered, does not stop delivery; nor does
// it, still retained, stop a forwarder that starts after it.
func TestForgedAckKeepsDelivering(t *testing.T) {
	const n1, n2, n3 = 200, 300, 100
	e := newEnv(t)
	srv, _ := e.startCentral()
	e.append(n1)
	link := e.link(16, 4, 5*time.Second)
	f1, rep1, stop1 := e.startReporting(link, clocktest.New(testDay))
	c := brokertest.Client(t, e.broker.URL(), "forger")
	defer c.Disconnect(0)
	forged := uplink.EncodeAck(site, 1<<63, testDay)

	// Forge while more is journaled and sent.
	appended := make(chan struct{})
	go func() {
		defer close(appended)
		for range n2 / 50 {
			e.append(50)
		}
	}()
	for range 5 {
		publishAck(t, c, true, forged)
	}
	<-appended
	delivered(t, e, f1, n1+n2)
	checkCentral(t, srv.Receiver, n1+n2)
	if s := f1.Stats(); s.Acked != e.j.Last() || s.AcksRefused < 1 {
		t.Errorf("forwarder %+v, journal last %d: want acked = last and the forgery refused", s, e.j.Last())
	}
	rs := rep1.get()
	if len(rs) != 1 || rs[0].Cause != forwarder.RefusedBeyondJournal || rs[0].Seq != 1<<63 || rs[0].Topic != uplink.AckTopic(site) || rs[0].Last > n1+n2 {
		t.Errorf("reports %+v, want one: beyond the journal, seq 2^63", rs)
	}
	if err := stop1(); err != nil {
		t.Fatal(err)
	}

	// The forgery is now what the broker retains: a new forwarder finds it on subscribe,
	// refuses it, starts from the journal's cursor and delivers the rest.
	publishAck(t, c, true, forged)
	e.append(n3)
	f2, rep2, _ := e.startReporting(link, clocktest.New(testDay))
	delivered(t, e, f2, n1+n2+n3)
	checkCentral(t, srv.Receiver, n1+n2+n3)
	if s := f2.Stats(); s.Acked != e.j.Last() || s.AcksRefused != 1 {
		t.Errorf("restarted forwarder %+v, journal last %d: want acked = last and one refusal", s, e.j.Last())
	}
	if rs := rep2.get(); len(rs) != 1 || !rs[0].Retained || rs[0].Seq != 1<<63 {
		t.Errorf("restarted forwarder's reports %+v, want the retained forgery", rs)
	}
}

// TestAckRefusedHookFails: when the report of a refused ack cannot be journaled, Run
// stops with that error.
func TestAckRefusedHookFails(t *testing.T) {
	e := newEnv(t)
	e.append(10)
	errFull := errors.New("disk full")
	f, err := forwarder.New(forwarder.Options{Site: site, Journal: e.j, Link: e.link(16, 4, time.Minute), Logger: e.log,
		InitialAckWait: 100 * time.Millisecond, Clock: clocktest.New(testDay),
		OnAckRefused: func(context.Context, forwarder.AckRefusal) error { return errFull }})
	if err != nil {
		t.Fatal(err)
	}
	c := brokertest.Client(t, e.broker.URL(), "forger")
	defer c.Disconnect(0)
	publishAck(t, c, true, uplink.EncodeAck(site, 1<<63, testDay))
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { done <- f.Run(ctx) }()
	select {
	case err := <-done:
		if !errors.Is(err, errFull) {
			t.Errorf("Run = %v, want %v", err, errFull)
		}
	case <-time.After(timeout):
		t.Fatal("Run did not stop when the report failed")
	}
}
