package hiltests

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/central"
	"github.com/apedge/apedge/formats/envelope"
	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/sitekey"
	"github.com/apedge/apedge/formats/uplink"
	"github.com/apedge/apedge/internal/mqttclient"
	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// signed builds event seq of site, chained to prev, signed by key.
func signed(t *testing.T, site string, key *sitekey.Private, seq uint64, prev [32]byte, note string) []byte {
	t.Helper()
	b, err := event.NewBuilder(site)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := json.Marshal(map[string]string{"note": note})
	p, err := b.Build(seq, prev, &event.Draft{Type: "movement.exited", OccurredAt: time.Now(), Info: info})
	if err != nil {
		t.Fatal(err)
	}
	return envelope.Sign(key, p)
}

// alterPayload changes one byte of an envelope's payload, keeps its signature, and
// leaves every other byte of the envelope as it was.
func alterPayload(t *testing.T, env []byte) []byte {
	t.Helper()
	var m struct {
		Payload string `json:"payload"`
	}
	if err := json.Unmarshal(env, &m); err != nil {
		t.Fatal(err)
	}
	p, _ := base64.StdEncoding.DecodeString(m.Payload)
	altered := strings.Replace(string(p), `"front"`, `"frond"`, 1)
	if altered == string(p) {
		t.Fatal("nothing to alter")
	}
	return []byte(strings.Replace(string(env), m.Payload, base64.StdEncoding.EncodeToString([]byte(altered)), 1))
}

// TestInjectedEnvelopes: forged, replayed, altered and out-of-chain envelopes published
// on central's topic are all rejected and alarmed (an identical replay is only a
// duplicate), none is stored, and the site's real traffic is unaffected.
func TestInjectedEnvelopes(t *testing.T) {
	t.Parallel()
	m := startMosquitto(t, "HIL4", "HIL5")
	other, err := sitekey.Generate("HIL5", nil)
	if err != nil {
		t.Fatal(err)
	}
	s := newSite(t, "HIL4", m, siteOptions{extraTrust: []*sitekey.Private{other}, gapAlarm: time.Second})
	startProc(t, s.Dir, "central", "central", "-config", s.CentralYAM)
	agent := startProc(t, s.Dir, "agent", "agent", "-config", s.AgentYAML)
	d := newBusDriver(t, s.Code, m, "front-in")
	warmUp(t, s, d)
	ctx, stop := context.WithCancel(context.Background())
	done := d.run(ctx, 5*time.Millisecond)
	waitFor(t, 60*time.Second, "some events stored", func() (bool, string) {
		n := s.stored(t)
		return n >= 20, fmt.Sprint(n)
	})

	// The attacker holds the sites' uplink certificates (compromised site boxes): the
	// broker lets each publish on its own site's topic, and central's checks must
	// catch what it sends there.
	attackers := map[string]mqtt.Client{
		s.Code:     connect(t, m, "attacker-"+s.Code, "uplink:"+s.Code),
		other.Site: connect(t, m, "attacker-"+other.Site, "uplink:"+other.Site),
	}
	cctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	inject := func(topic string, envs ...[]byte) {
		t.Helper()
		site, _ := uplink.SiteFromTopic(topic)
		if err := mqttclient.Wait(cctx, attackers[site].Publish(topic, 1, false, uplink.EncodeBatch(envs))); err != nil {
			t.Fatal(err)
		}
	}
	entries := s.journalEntries(t)
	stored2 := entries[1].Envelope // a real envelope central has stored
	stranger, _ := sitekey.Generate("HIL4", nil)
	impostor := *stranger
	impostor.ID = s.Key.ID // claims the site's key id, signs with another key
	var zero [32]byte
	const far = 1_000_000

	inject(uplink.EventsTopic(s.Code), alterPayload(t, stored2))                     // altered
	inject(uplink.EventsTopic(s.Code), signed(t, s.Code, &impostor, far, zero, "x")) // forged
	inject(uplink.EventsTopic(s.Code), signed(t, s.Code, stranger, far, zero, "x"))  // unknown key
	inject(uplink.EventsTopic(s.Code), signed(t, s.Code, other, far, zero, "x"))     // another site's key
	inject(uplink.EventsTopic(other.Site), stored2)                                  // replayed to another site
	inject(uplink.EventsTopic(s.Code), stored2)                                      // replayed as is: a duplicate
	inject(uplink.EventsTopic(s.Code), signed(t, s.Code, s.Key, 2, zero, "rewrite")) // other payload, known id
	inject(uplink.EventsTopic(s.Code), signed(t, s.Code, s.Key, far, zero, "gap"))   // out of chain, far ahead

	// Out of chain at the head itself: stop the agent, let central catch up, and offer
	// the next seq with a prevhash that does not follow.
	stop()
	<-done
	if err := agent.Stop(); err != nil {
		t.Fatalf("agent stop: %v", err)
	}
	last := len(s.journalEntries(t))
	waitFor(t, 60*time.Second, "central to catch up", func() (bool, string) {
		n := s.stored(t)
		return n == int64(last), fmt.Sprintf("%d of %d", n, last)
	})
	inject(uplink.EventsTopic(s.Code), signed(t, s.Code, s.Key, uint64(last+1), zero, "break"))

	want := map[central.Reason]int{
		central.ReasonBadSignature: 2, central.ReasonUnknownKey: 1, central.ReasonWrongSite: 2,
		central.ReasonConflict: 1, central.ReasonGap: 1, central.ReasonChainBreak: 1,
	}
	var alarms []central.Alarm
	waitFor(t, 60*time.Second, "every injection to be alarmed", func() (bool, string) {
		var err error
		if alarms, err = central.ReadAlarms(context.Background(), s.CentralDB, ""); err != nil {
			return false, err.Error()
		}
		got := map[central.Reason]int{}
		for _, a := range alarms {
			got[a.Reason]++
		}
		for r, n := range want {
			if got[r] < n {
				return false, fmt.Sprint(got)
			}
		}
		return true, ""
	})
	for _, a := range alarms {
		if a.Reason == central.ReasonMalformed || a.Reason == central.ReasonBadTopic {
			t.Errorf("unexpected alarm %s: %s", a.Reason, a.Detail)
		}
	}

	// Real traffic goes on and everything the agent journaled is stored, exactly as
	// journaled; nothing injected was stored for either site.
	agent.Start()
	d2 := newBusDriver(t, s.Code, m, "front-out")
	for i := 0; i < 50; i++ {
		d2.read(context.Background(), "10001")
	}
	waitFor(t, 60*time.Second, "the agent to journal the new reads", func() (bool, string) {
		n := len(s.journalEntries(t))
		return n >= last+51, fmt.Sprint(n)
	})
	s.checkDelivered(t)
	if n, err := central.StoredCount(context.Background(), s.CentralDB, other.Site); err != nil || n != 0 {
		t.Fatalf("site %s has %d stored events (err %v), want none", other.Site, n, err)
	}
}
