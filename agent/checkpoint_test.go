package agent_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/apedge/apedge/agent"
	"github.com/apedge/apedge/formats/proof"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/formats/sitekey"
)

// TestCheckpoints: with checkpoints every 5 entries, the agent journals signed
// checkpoints of its Merkle log as entries come; each opens with the site's public
// key and names the root of the journal's tree at its size.
func TestCheckpoints(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.cfg.Checkpoints.Every = 5
	s.startCentral()
	a, _, _ := s.startAgent()
	subscribed(t, a)
	reads := func(from, n int) {
		for i := range n {
			m := sitebus.Message{Time: s.clock.Now().UTC(), Boot: "boot-c", Seq: uint64(from + i), Kind: "card-read",
				Data: json.RawMessage(`{"door":"front","direction":"entry","credential":{"kind":"card","number":"10001"},"granted":true}`)}
			s.publish(sitebus.DeviceTopic(site, sitebus.ClassReader, "r1", sitebus.KindEvent), false, m.Encode())
		}
	}
	reads(1, 6)
	s.waitTypes(a, agent.CheckpointType)
	reads(7, 6)
	pub, err := sitekey.LoadPublic(s.pub, site)
	if err != nil {
		t.Fatal(err)
	}
	var cps []proof.Checkpoint
	s.waitFor("two checkpoints", func() (bool, string) {
		cps = cps[:0]
		for _, ev := range s.events(a) {
			if ev.Type != "approved-premises."+agent.CheckpointType {
				continue
			}
			var info struct {
				Size       uint64
				Root       string
				Checkpoint string
			}
			if err := json.Unmarshal(ev.Data.AdditionalInformation, &info); err != nil {
				t.Fatal(err)
			}
			cp, key, err := proof.OpenCheckpoint([]byte(info.Checkpoint), site, []*sitekey.Public{pub})
			if err != nil {
				t.Fatalf("checkpoint at seq %d: %v", ev.Seq, err)
			}
			if key.ID != pub.ID || cp.Size != info.Size || cp.Size >= ev.Seq {
				t.Errorf("checkpoint at seq %d covers %d entries, signed by %s", ev.Seq, cp.Size, key.ID)
			}
			root, err := a.Journal().TreeHash(t.Context(), cp.Size)
			if err != nil || root != cp.Root {
				t.Errorf("checkpoint of size %d: root %v, the journal's %v (%v)", cp.Size, cp.Root, root, err)
			}
			var zero tlog.Hash
			if cp.Root == zero {
				t.Errorf("empty root")
			}
			cps = append(cps, cp)
		}
		return len(cps) >= 2, fmt.Sprint(len(cps), " checkpoints; last ", a.Journal().Last(), " tree ", a.Journal().TreeSize())
	})
	if cps[1].Size <= cps[0].Size {
		t.Errorf("checkpoint sizes %d then %d", cps[0].Size, cps[1].Size)
	}
}
