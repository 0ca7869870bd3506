package agent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/apedge/apedge/agent"
	"github.com/apedge/apedge/central"
	"github.com/apedge/apedge/formats/envelope"
	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/formats/sitekey"
	"github.com/apedge/apedge/internal/broker"
	"github.com/apedge/apedge/internal/broker/brokertest"
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

const agentYAML = `site: %s
key: keys/%s.key
database: agent.db
bus:
  broker: %s
central:
  broker: %s
  batch: 64
  window: 8
  resendAfter: 1s
curfew: {clockCheck: none}
disk: {minFreeBytes: 1048576} # the low-disk alarm only where a test asks for it
devices: {bridgeConfig: site-bridge.yaml}
roster:
  - {crn: X100001, noms: A1001AA, name: Resident One, cards: ["12:10001", "12:10011"]}
  - {crn: X100002, name: Resident Two, cards: ["12:10002"]}
  - {crn: X100003, name: Resident Three, cards: ["12:10003"], arrived: "2025-01-01", departed: "2025-03-01"}
  - {kind: staff, id: s-ann, name: Ann, cards: ["12:90001"]}
`

// siteBridgeYAML is the bridge configuration the agent takes the site's devices from:
// doors front, garden, d12 and d34, each with an entry and an exit reader, and the
// cameras front-cam and yard-cam.
const siteBridgeYAML = `site: %s
stateDir: bridge-state
bus: {broker: %s}
osdp:
  - port: /dev/ttyUSB0
    readers:
      - {id: front-in, address: 1, insecure: true}
      - {id: front-out, address: 2, insecure: true}
      - {id: garden-in, address: 3, insecure: true}
      - {id: garden-out, address: 4, insecure: true}
      - {id: r1, address: 5, insecure: true}
      - {id: r2, address: 6, insecure: true}
      - {id: r3, address: 7, insecure: true}
      - {id: r4, address: 8, insecure: true}
doors:
  - {id: front, entryReader: front-in, exitReader: front-out}
  - {id: garden, entryReader: garden-in, exitReader: garden-out}
  - {id: d12, entryReader: r1, exitReader: r2}
  - {id: d34, entryReader: r4, exitReader: r3}
cameras:
  - {id: front-cam, name: "front door, outside", url: "rtsp://192.0.2.10:554/stream1"}
  - {id: yard-cam, name: yard, url: "rtsp://192.0.2.11/stream1"}
substanceTesters:
  - {id: breath-1, kind: breath-alcohol, port: /dev/ttyUSB1}
  - {id: oral-1, kind: oral-fluid, port: /dev/ttyUSB2}
`

// apSite is one AP: an embedded broker shared by the site bus and the uplink, the
// agent's configuration (loaded from YAML as the agent command does), a bridge's
// client on the bus, and central.
type apSite struct {
	t      testing.TB
	log    *slog.Logger
	dir    string
	broker *broker.Broker
	key    *sitekey.Private
	pub    string
	cfg    *config.Agent
	bus    mqtt.Client
	clock  *clocktest.Clock // the agent's clock; noon on a quiet day unless a test sets one
}

func newSite(t testing.TB) *apSite {
	t.Helper()
	s := &apSite{t: t, log: testlog.New(t), dir: t.TempDir(), broker: brokertest.Start(t)}
	var err error
	if s.key, err = sitekey.Generate(site, nil); err != nil {
		t.Fatal(err)
	}
	if _, s.pub, err = sitekey.Write(filepath.Join(s.dir, "keys"), s.key); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "site-bridge.yaml"), []byte(fmt.Sprintf(siteBridgeYAML, site, s.broker.URL())), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(s.dir, "agent.yaml")
	yaml := fmt.Sprintf(agentYAML, site, site, s.broker.URL(), s.broker.URL())
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	if s.cfg, err = config.LoadAgent(path); err != nil {
		t.Fatal(err)
	}
	s.bus = brokertest.Client(t, s.broker.URL(), "bridge")
	// The bridge's retained state: the agent receives it as soon as it has subscribed.
	s.publish(sitebus.BridgeStateTopic(site), true, []byte(`{"status":"online","boot":"boot-a"}`))
	return s
}

// publish puts raw bytes on the site bus as a bridge would, at QoS 1.
func (s *apSite) publish(topic string, retained bool, payload []byte) {
	s.t.Helper()
	if err := mqttclient.WaitTimeout(s.t.Context(), s.bus.Publish(topic, 1, retained, payload), timeout); err != nil {
		s.t.Fatalf("publish %s: %v", topic, err)
	}
}

// fence returns once everything the bridge published before has been queued for the
// broker's subscribers. (mochi acknowledges a QoS 1 publish before it queues it, but
// handles one client's publishes in order.) A persistent session taken over by a new
// connection before then would lose the message with its old connection.
func (s *apSite) fence() {
	s.t.Helper()
	w := brokertest.Client(s.t, s.broker.URL(), "fence-watcher")
	defer w.Disconnect(0)
	got := brokertest.Subscribe(s.t, w, "apedge/test/fence")
	s.publish("apedge/test/fence", false, []byte("fence"))
	brokertest.Receive(s.t, timeout, "fence", got)
}

// startCentral runs the reference central server on the broker, trusting the site key.
func (s *apSite) startCentral() *central.Server {
	s.t.Helper()
	srv, err := central.NewServer(context.Background(), &config.Central{
		Database: filepath.Join(s.dir, "central.db"),
		Broker:   config.MQTT{Broker: s.broker.URL(), ClientID: "apedge-central"},
		Trust:    []config.TrustedSite{{Site: site, PubKey: s.pub}},
	}, s.log)
	if err != nil {
		s.t.Fatal(err)
	}
	start(s.t, "central", srv.Run)
	return srv
}

// start runs f with a context canceled by the returned stop, which waits for f's
// result (and is also called at the end of the test).
func start(t testing.TB, name string, f func(context.Context) error) (stop func() error, done <-chan error) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan error, 1)
	result := make(chan error, 1)
	go func() {
		err := f(ctx)
		ch <- err
		result <- err
	}()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-ch:
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
	return stop, result
}

// startAgent makes and runs an agent; stop cancels it and returns Run's result. The
// agent is closed at the end of the test.
func (s *apSite) startAgent() (a *agent.Agent, stop func() error, done <-chan error) {
	s.t.Helper()
	if s.clock == nil {
		s.clock = clocktest.New(noon) // curfew decisions only where a test asks for them
	}
	a, err := agent.New(context.Background(), s.cfg, s.log, agent.WithClock(s.clock))
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { a.Close() })
	stop, done = start(s.t, "agent", a.Run)
	return a, stop, done
}

// subscribed waits until a has received the bridge's retained state, and so has
// subscribed to the site bus.
func subscribed(t testing.TB, a *agent.Agent) {
	t.Helper()
	wait.For(t, timeout, "the agent to subscribe", func() (bool, string) {
		return a.Stats().BusMessages >= 1, fmt.Sprintf("%+v", a.Stats())
	})
}

// journaled waits until a has journaled n events and counted dups duplicates and bad
// malformed messages.
func journaled(t testing.TB, a *agent.Agent, n, dups, bad uint64) {
	t.Helper()
	wait.For(t, timeout, fmt.Sprintf("%d events journaled, %d duplicates, %d bad messages", n, dups, bad), func() (bool, string) {
		st := a.Stats()
		return st.Journaled == n && st.Duplicates == dups && st.BadMessages == bad, fmt.Sprintf("%+v", st)
	})
}

// events reads, verifies and parses the whole journal of a.
func (s *apSite) events(a *agent.Agent) []*event.Event {
	s.t.Helper()
	entries, err := a.Journal().Read(s.t.Context(), 1, 10000, 0)
	if err != nil {
		s.t.Fatal(err)
	}
	var out []*event.Event
	prevSeq, prevHash := uint64(0), event.GenesisHash
	for _, e := range entries {
		env, err := envelope.Decode(e.Envelope)
		if err != nil {
			s.t.Fatalf("seq %d: %v", e.Seq, err)
		}
		if err := env.Verify(s.key.Public()); err != nil {
			s.t.Fatalf("seq %d: %v", e.Seq, err)
		}
		ev, err := event.Parse(env.Payload)
		if err != nil {
			s.t.Fatalf("seq %d: %v", e.Seq, err)
		}
		if err := ev.Follows(prevSeq, prevHash); err != nil {
			s.t.Fatalf("seq %d: %v", e.Seq, err)
		}
		prevSeq, prevHash = ev.Seq, event.Hash(env.Payload)
		out = append(out, ev)
	}
	return out
}

// info is the additionalInformation of a card-read movement event.
type info struct {
	Door       string `json:"door"`
	Reader     string `json:"reader"`
	Direction  string `json:"direction"`
	Basis      string `json:"basis"`
	Attributed *bool  `json:"attributed"`
	Credential struct {
		Kind   string `json:"kind"`
		ID     string `json:"id"`
		Format string `json:"format"`
	} `json:"credential"`
	Device struct {
		Boot string    `json:"boot"`
		Seq  uint64    `json:"seq"`
		Time time.Time `json:"time"`
	} `json:"device"`
}

func cardRead(door, direction, number string) sitebus.CardRead {
	return sitebus.CardRead{Door: door, Direction: direction,
		Credential: sitebus.Credential{Kind: "card", Number: number, Format: "wiegand-26", Bits: 26, Facility: 12}, Granted: true}
}

func TestMovementEvents(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	srv := s.startCentral()
	a, stop, _ := s.startAgent()
	subscribed(t, a)

	pub := sitebus.NewPublisher(s.bus, site, "boot-a", s.clock)
	tests := []struct {
		reader   string
		read     sitebus.CardRead
		wantType string
		wantIDs  []event.Identifier // nil: not attributed
	}{
		{"front-in", cardRead("front", "entry", "10001"), "movement.entered",
			[]event.Identifier{{Type: "CRN", Value: "X100001"}, {Type: "NOMS", Value: "A1001AA"}}},
		{"front-out", cardRead("front", "exit", "10011"), "movement.exited", // the same resident's second card
			[]event.Identifier{{Type: "CRN", Value: "X100001"}, {Type: "NOMS", Value: "A1001AA"}}},
		{"garden-out", cardRead("garden", "exit", "10002"), "movement.exited",
			[]event.Identifier{{Type: "CRN", Value: "X100002"}}}, // no NOMS on the roster
		{"front-in", cardRead("front", "entry", "99999"), "movement.entered", nil},
	}
	sent := map[string]*sitebus.Message{} // by card number
	for _, tc := range tests {
		m, err := pub.Publish(t.Context(), sitebus.ClassReader, tc.reader, sitebus.KindEvent, "card-read", tc.read)
		if err != nil {
			t.Fatal(err)
		}
		sent[tc.read.Credential.ID()] = m
	}
	journaled(t, a, uint64(1+len(tests)), 0, 0)
	if err := stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}
	st := a.Stats()
	if st.UnknownCards != 1 || st.SeqGaps != 0 || st.Overflow != 0 {
		t.Errorf("stats %+v, want 1 unknown card, no gaps, no overflow", st)
	}
	// A clean stop waited for central to acknowledge everything.
	if acked, last := a.Forwarder().Stats().Acked, a.Journal().Last(); acked != last || last != uint64(1+len(tests)) {
		t.Errorf("after stop: central acked %d, journal last %d, want both %d", acked, last, 1+len(tests))
	}
	if head := srv.Heads()[site]; head != a.Journal().Last() {
		t.Errorf("central head %d, want %d", head, a.Journal().Last())
	}

	evs := s.events(a)
	if len(evs) != 1+len(tests) {
		t.Fatalf("journal holds %d events, want %d", len(evs), 1+len(tests))
	}
	if evs[0].Type != event.TypePrefix+"agent.started" {
		t.Errorf("seq 1 is %s, want agent.started", evs[0].Type)
	}
	byCard := map[string]*event.Event{}
	for _, ev := range evs[1:] {
		var in info
		if err := json.Unmarshal(ev.Data.AdditionalInformation, &in); err != nil {
			t.Fatalf("seq %d: %v", ev.Seq, err)
		}
		byCard[in.Credential.ID] = ev
	}
	for _, tc := range tests {
		num := tc.read.Credential.ID()
		ev := byCard[num]
		if ev == nil {
			t.Errorf("no event for card %s", num)
			continue
		}
		if ev.Type != event.TypePrefix+tc.wantType {
			t.Errorf("card %s: type %s, want %s", num, ev.Type, tc.wantType)
		}
		m := sent[num]
		if want := m.Time.UTC().Format(time.RFC3339Nano); ev.Data.OccurredAt != want {
			t.Errorf("card %s: occurredAt %s, want the reader's time %s", num, ev.Data.OccurredAt, want)
		}
		var in info
		json.Unmarshal(ev.Data.AdditionalInformation, &in)
		if in.Door != tc.read.Door || in.Reader != tc.reader || in.Direction != tc.read.Direction || in.Basis != "card-read" ||
			in.Credential.Kind != "card" || in.Credential.Format != "wiegand-26" {
			t.Errorf("card %s: additionalInformation %s", num, ev.Data.AdditionalInformation)
		}
		if in.Device.Boot != "boot-a" || in.Device.Seq != m.Seq || !in.Device.Time.Equal(m.Time) {
			t.Errorf("card %s: device %+v, want boot-a seq %d time %v", num, in.Device, m.Seq, m.Time)
		}
		if tc.wantIDs == nil {
			if ev.Data.PersonReference != nil {
				t.Errorf("card %s: personReference %+v for an unknown card", num, ev.Data.PersonReference)
			}
			if in.Attributed == nil || *in.Attributed {
				t.Errorf("card %s: additionalInformation %s, want \"attributed\":false", num, ev.Data.AdditionalInformation)
			}
			continue
		}
		if ev.Data.PersonReference == nil || !slices.Equal(ev.Data.PersonReference.Identifiers, tc.wantIDs) {
			t.Errorf("card %s: personReference %+v, want %v", num, ev.Data.PersonReference, tc.wantIDs)
		}
		if in.Attributed != nil {
			t.Errorf("card %s: attributed %v on a known card", num, *in.Attributed)
		}
	}
}

func TestAgentStarted(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.startCentral()
	a, stop, _ := s.startAgent()
	journaled(t, a, 1, 0, 0)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	evs := s.events(a)
	if len(evs) != 1 || evs[0].Seq != 1 || evs[0].Type != event.TypePrefix+"agent.started" {
		t.Fatalf("journal %+v, want agent.started as seq 1 only", evs)
	}
	var in struct{ Version, KeyID, Boot string }
	if err := json.Unmarshal(evs[0].Data.AdditionalInformation, &in); err != nil {
		t.Fatal(err)
	}
	if in.Version != agent.Version || in.KeyID != s.key.ID || len(in.Boot) != 16 {
		t.Errorf("agent.started says %+v, want version %s, key %s and a boot id", in, agent.Version, s.key.ID)
	}
	if evs[0].Data.PersonReference != nil {
		t.Error("agent.started names a person")
	}
}

// TestBadMessages: malformed bus messages are counted and journal nothing; the agent
// goes on.
func TestBadMessages(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.startCentral()
	a, stop, _ := s.startAgent()
	subscribed(t, a)

	good := func(seq uint64, kind string, data string) []byte {
		m := sitebus.Message{Time: s.clock.Now().UTC(), Boot: "boot-a", Seq: seq, Kind: kind}
		if data != "" {
			m.Data = json.RawMessage(data)
		}
		return m.Encode()
	}
	goodRead := `{"door":"front","direction":"entry","credential":{"kind":"card","number":"10001"},"granted":true}`
	reader := func(id, kind string) string { return sitebus.DeviceTopic(site, sitebus.ClassReader, id, kind) }
	bad := []struct {
		name    string
		topic   string
		payload []byte
	}{
		{"not JSON", reader("r1", sitebus.KindEvent), []byte(`{"time":`)},
		{"no seq", reader("r1", sitebus.KindEvent), []byte(`{"time":"2026-03-29T01:00:00Z","boot":"boot-a","kind":"card-read"}`)},
		{"data not an object", reader("r1", sitebus.KindEvent), []byte(`{"time":"2026-03-29T01:00:00Z","boot":"boot-a","seq":9,"kind":"card-read","data":[1]}`)},
		{"unknown class", sitebus.DeviceTopic(site, "toaster", "t1", sitebus.KindEvent), good(1, "card-read", goodRead)},
		{"bad device id", "apedge/v1/" + site + "/dev/reader/r.1/event", good(1, "card-read", goodRead)},
		{"card read with no direction", reader("r2", sitebus.KindEvent), good(1, "card-read", `{"door":"front","credential":{"number":"10001"}}`)},
		{"card read with no data", reader("r3", sitebus.KindEvent), good(1, "card-read", "")},
		{"state not JSON", reader("r1", sitebus.KindState), []byte(`online`)},
		{"bridge state not JSON", sitebus.BridgeStateTopic(site), []byte(`online`)},
		{"reader status of no interface", reader("r1", sitebus.KindState), good(2, "status", `{"online":true}`)},
	}
	for _, b := range bad {
		s.publish(b.topic, false, b.payload)
	}
	// Well-formed messages are not bad: a state that makes no event, and an event of
	// a camera this site has not configured, which is refused as from an unknown device
	// (an alarm, not what it claims).
	s.publish(reader("r1", sitebus.KindState), false, good(1, "status", `{"online":true,"interface":"osdp"}`))
	s.publish(sitebus.DeviceTopic(site, sitebus.ClassCamera, "c1", sitebus.KindEvent), false, good(1, "motion", ""))
	// And the agent still journals a good read after all that.
	s.publish(reader("r4", sitebus.KindEvent), false, good(1, "card-read", goodRead))

	journaled(t, a, 3, 0, uint64(len(bad)))
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if st := a.Stats(); st.BusMessages != uint64(1+len(bad)+3) {
		t.Errorf("BusMessages %d, want %d", st.BusMessages, 1+len(bad)+3)
	}
	evs := s.events(a)
	// The refusal and the read are journaled concurrently (they share a group commit):
	// in either order.
	if len(evs) == 3 && evs[1].Type == event.TypePrefix+"movement.entered" {
		evs[1], evs[2] = evs[2], evs[1]
	}
	if len(evs) != 3 || evs[1].Type != event.TypePrefix+agent.RefusedType || evs[2].Type != event.TypePrefix+"movement.entered" {
		t.Fatalf("journal holds %d events, want agent.started, the camera refused and the one good read", len(evs))
	}
	if !strings.Contains(string(evs[1].Data.AdditionalInformation), `"cause":"unknown-device"`) {
		t.Errorf("camera refused: %s, want cause unknown-device", evs[1].Data.AdditionalInformation)
	}
	var in info
	json.Unmarshal(evs[2].Data.AdditionalInformation, &in)
	if in.Reader != "r4" {
		t.Errorf("journaled read from %q, want r4", in.Reader)
	}
}

// TestRedelivery: the same device message twice (same boot and seq) is journaled once;
// the same seq under a new boot is a new message.
func TestRedelivery(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.startCentral()
	a, stop, _ := s.startAgent()
	subscribed(t, a)

	topic := sitebus.DeviceTopic(site, sitebus.ClassReader, "front-in", sitebus.KindEvent)
	msg := func(boot string, seq uint64) []byte {
		data, _ := json.Marshal(cardRead("front", "entry", "10001"))
		// Dated by the agent's clock: a read from months ago is refused (too old).
		m := sitebus.Message{Time: noon.Add(-time.Second), Boot: boot, Seq: seq, Kind: "card-read", Data: data}
		return m.Encode()
	}
	s.publish(topic, false, msg("boot-a", 1))
	s.publish(topic, false, msg("boot-a", 1))
	journaled(t, a, 2, 1, 0)
	s.publish(topic, false, msg("boot-a", 1)) // and again, after the first is durable
	journaled(t, a, 2, 2, 0)
	s.publish(topic, false, msg("boot-b", 1)) // the bridge restarted: a new read
	s.publish(topic, false, msg("boot-b", 3)) // a gap: seq 2 never came
	journaled(t, a, 4, 2, 0)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if st := a.Stats(); st.SeqGaps != 1 {
		t.Errorf("SeqGaps %d, want 1", st.SeqGaps)
	}
	evs := s.events(a)
	var origins []string
	for _, ev := range evs[1:] {
		var in info
		json.Unmarshal(ev.Data.AdditionalInformation, &in)
		origins = append(origins, fmt.Sprintf("%s/%d", in.Device.Boot, in.Device.Seq))
	}
	slices.Sort(origins)
	if want := []string{"boot-a/1", "boot-b/1", "boot-b/3"}; !slices.Equal(origins, want) {
		t.Errorf("journaled reads %v, want %v", origins, want)
	}
}

// TestCleanStopWaitsForAck: stopped while central is down, the agent takes no more
// device messages but does not return until central, once back, has acknowledged every
// journaled event.
func TestCleanStopWaitsForAck(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	a, stop, done := s.startAgent()
	subscribed(t, a)
	pub := sitebus.NewPublisher(s.bus, site, "boot-a", s.clock)
	for _, card := range []string{"10001", "10002", "10003"} {
		if _, err := pub.Publish(t.Context(), sitebus.ClassReader, "front-in", sitebus.KindEvent, "card-read", cardRead("front", "entry", card)); err != nil {
			t.Fatal(err)
		}
	}
	journaled(t, a, 4, 0, 0)

	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	select {
	case err := <-done:
		t.Fatalf("Run returned %v with central never having acknowledged anything", err)
	default:
	}
	srv := s.startCentral()
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(timeout):
		t.Fatal("agent did not stop")
	}
	if acked, last := a.Forwarder().Stats().Acked, a.Journal().Last(); acked != last || last != 4 {
		t.Errorf("after stop: central acked %d, journal last %d, want both 4", acked, last)
	}
	if head := srv.Heads()[site]; head != 4 {
		t.Errorf("central head %d, want 4", head)
	}
}

// TestRestart: a second run journals agent.started after what the first journaled, and
// gets the device messages published while no agent ran (its bus session persists).
func TestRestart(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	srv := s.startCentral()
	a1, stop1, _ := s.startAgent()
	subscribed(t, a1)
	if err := stop1(); err != nil {
		t.Fatal(err)
	}
	if err := a1.Close(); err != nil {
		t.Fatal(err)
	}

	const away = 20
	pub := sitebus.NewPublisher(s.bus, site, "boot-a", s.clock)
	// A staff member's card, a second apart: staff are never under curfew, so the
	// journal holds the movements alone.
	for range away {
		s.clock.Add(time.Second)
		if _, err := pub.Publish(t.Context(), sitebus.ClassReader, "front-in", sitebus.KindEvent, "card-read", cardRead("front", "entry", "90001")); err != nil {
			t.Fatal(err)
		}
	}
	s.fence()
	// They reach the new agent as soon as it connects, before it has subscribed again.
	a2, stop2, _ := s.startAgent()
	journaled(t, a2, 1+away, 0, 0)
	if err := stop2(); err != nil {
		t.Fatal(err)
	}
	evs := s.events(a2)
	p := event.TypePrefix
	want := []string{p + "agent.started", p + "agent.started"}
	for range away {
		want = append(want, p+"movement.entered")
	}
	var types []string
	for _, ev := range evs {
		types = append(types, ev.Type)
	}
	if !slices.Equal(types, want) {
		t.Errorf("journal %v, want %v", types, want)
	}
	if acked, head := a2.Forwarder().Stats().Acked, srv.Heads()[site]; acked != 2+away || head != 2+away {
		t.Errorf("central acked %d, head %d, want %d", acked, head, 2+away)
	}
}

// TestRosterHolders: staff are named as holders, never as a person under curfew; a
// departed resident's card opens nothing and is attributed to nobody.
func TestRosterHolders(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	lists := brokertest.Subscribe(t, brokertest.Client(t, s.broker.URL(), "bridge-lists"), sitebus.CredentialsTopic(site))
	a, _, _ := s.startAgent()
	subscribed(t, a)
	l, err := sitebus.VerifyCredentialList(brokertest.Receive(t, timeout, "credential list", lists).Payload(), s.key.Public())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range l.Credentials {
		ids = append(ids, c.ID)
	}
	if want := []string{"12:10001", "12:10002", "12:10011", "12:90001"}; !slices.Equal(ids, want) {
		t.Errorf("credential list %v, want %v (not the departed resident's card)", ids, want)
	}

	pub := sitebus.NewPublisher(s.bus, site, "boot-h", s.clock)
	for _, card := range []string{"90001", "10003"} {
		if _, err := pub.Publish(t.Context(), sitebus.ClassReader, "front-in", sitebus.KindEvent, "card-read", cardRead("front", "entry", card)); err != nil {
			t.Fatal(err)
		}
	}
	journaled(t, a, 3, 0, 0)
	evs := s.events(a)
	for _, ev := range evs[1:] {
		var info struct {
			Credential struct{ ID string }
			Holder     *struct{ Kind, ID string }
			Attributed *bool
		}
		json.Unmarshal(ev.Data.AdditionalInformation, &info)
		if ev.Data.PersonReference != nil {
			t.Errorf("%s: personReference %+v, want none", info.Credential.ID, ev.Data.PersonReference)
		}
		switch info.Credential.ID {
		case "12:90001":
			if info.Holder == nil || info.Holder.Kind != "staff" || info.Holder.ID != "s-ann" {
				t.Errorf("staff card: %s, want holder staff s-ann", ev.Data.AdditionalInformation)
			}
		case "12:10003":
			if info.Holder != nil || info.Attributed == nil || *info.Attributed {
				t.Errorf("departed resident's card: %s, want unattributed", ev.Data.AdditionalInformation)
			}
		default:
			t.Errorf("unexpected movement %s", ev.Data.AdditionalInformation)
		}
	}
}

// noon is a quiet hour: no curfew window of the tests' roster is near.
var noon = time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)
