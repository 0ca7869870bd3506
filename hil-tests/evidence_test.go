package hiltests

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apedge/apedge/central"
	"github.com/apedge/apedge/formats/envelope"
	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/proof"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/formats/uplink"
	"github.com/apedge/apedge/internal/mqttclient"
)

// apedgeRun runs the apedge binary once in dir and returns its exit code and output.
func apedgeRun(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(apedgeBin, args...)
	cmd.Dir = dir
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("apedge %v: %v", args, err)
	}
	return code, out.String(), errb.String()
}

// TestProofOfYesterdaysEvent: an event from the day before is proved, after 10,000 more
// events, with a bundle that `apedge verify` checks offline with nothing but the site's
// public key; the whole export checks against the site's latest signed checkpoint; and
// a bundle with a byte changed fails, naming what is wrong. Real Mosquitto, the agent
// and central as their own processes, checkpoints made by the agent as it runs.
func TestProofOfYesterdaysEvent(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 events through real processes")
	}
	t.Parallel()
	const n = 10000
	m := startMosquitto(t, "HIL7")
	s := newSite(t, "HIL7", m, siteOptions{})
	f, err := os.OpenFile(s.AgentYAML, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, "checkpoints: {every: 1000, interval: 2s}")
	f.Close()
	startCentrals(t, s, siteOptions{})
	startProc(t, s.Dir, "agent", "agent", "-config", s.AgentYAML)
	d := newBusDriver(t, s.Code, m, "front-in")
	warmUp(t, s, d)

	yesterday := time.Now().Add(-24 * time.Hour).UTC().Truncate(time.Second)
	ctx := context.Background()
	if _, err := d.pub.PublishAt(ctx, yesterday, sitebus.ClassReader, d.reader, sitebus.KindEvent, "card-read", sitebus.CardRead{
		Door: "front", Direction: "entry", Credential: sitebus.Credential{Kind: "card", Number: "10001", Format: "raw"}, Granted: true,
	}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range n / 8 {
				if !d.read(ctx, "10001") {
					t.Error("broker refused a read")
					return
				}
			}
		})
	}
	wg.Wait()

	// The seq of yesterday's event, from the agent's journal.
	var seq uint64
	waitFor(t, 5*time.Minute, "yesterday's read and 10,000 more journaled", func() (bool, string) {
		es := s.journalEntries(t)
		for _, e := range es {
			env, err := envelope.Decode(e.Envelope)
			if err != nil {
				t.Fatal(err)
			}
			ev, err := event.Parse(env.Payload)
			if err != nil {
				t.Fatal(err)
			}
			if at, _ := time.Parse(time.RFC3339Nano, ev.Data.OccurredAt); at.Equal(yesterday) {
				seq = ev.Seq
			}
		}
		return seq > 0 && uint64(len(es)) > seq+n, fmt.Sprintf("yesterday's at seq %d; %d entries", seq, len(es))
	})
	waitFor(t, 5*time.Minute, "central to verify a checkpoint covering 10,000 events after it", func() (bool, string) {
		_, size, err := central.LatestCheckpoint(ctx, s.CentralDB, s.Code)
		return err == nil && size >= seq+n, fmt.Sprintf("latest checkpoint %d (%v)", size, err)
	})

	bundle := filepath.Join(s.Dir, "bundle.json")
	code, _, stderr := apedgeRun(t, s.Dir, "central", "prove", "-config", s.CentralYAM, "-site", s.Code, "-seq", fmt.Sprint(seq), "-o", bundle)
	if code != 0 {
		t.Fatalf("central prove: exit %d: %s", code, stderr)
	}
	code, stdout, stderr := apedgeRun(t, s.Dir, "verify", "-pubkey", s.PubPath, "-bundle", bundle)
	if code != 0 || !strings.Contains(stdout, fmt.Sprintf("OK: event %s-%d", s.Code, seq)) {
		t.Fatalf("verify -bundle: exit %d\n%s%s", code, stdout, stderr)
	}
	t.Logf("%s", strings.TrimSpace(stdout))

	// Any byte changed in the signed event fails, naming what is wrong.
	b, err := os.ReadFile(bundle)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(s.Dir, "bad.json")
	i := strings.Index(string(b), `"payload":"`) + len(`"payload":"`) + 40
	altered := append([]byte(nil), b...)
	altered[i] ^= 1
	os.WriteFile(bad, altered, 0o644)
	if code, stdout, stderr := apedgeRun(t, s.Dir, "verify", "-pubkey", s.PubPath, "-bundle", bad); code != 1 || !strings.Contains(stderr, "FAILED") {
		t.Errorf("verify of an altered bundle: exit %d\n%s%s", code, stdout, stderr)
	}

	// The whole export against the latest checkpoint.
	export, cp := filepath.Join(s.Dir, "export.jsonl"), filepath.Join(s.Dir, "checkpoint.txt")
	if code, _, stderr := apedgeRun(t, s.Dir, "central", "export", "-config", s.CentralYAM, "-site", s.Code, "-o", export); code != 0 {
		t.Fatalf("central export: %s", stderr)
	}
	if code, _, stderr := apedgeRun(t, s.Dir, "central", "checkpoint", "-config", s.CentralYAM, "-site", s.Code, "-o", cp); code != 0 {
		t.Fatalf("central checkpoint: %s", stderr)
	}
	if code, stdout, stderr := apedgeRun(t, s.Dir, "verify", "-pubkey", s.PubPath, "-checkpoint", cp, export); code != 0 || !strings.Contains(stdout, "hash to the checkpoint's root") {
		t.Fatalf("verify -checkpoint: exit %d\n%s%s", code, stdout, stderr)
	}
}

// TestRewrittenHistoryCaught: a site whose key is used to rewrite its history (an old
// event altered and re-signed, the chain rebuilt after it, and a checkpoint signed over
// the altered log) is caught by central on real Mosquitto: the re-signed event is a
// conflict, the checkpoint does not match the events central stored and is refused;
// both are alarms, and neither is stored.
func TestRewrittenHistoryCaught(t *testing.T) {
	t.Parallel()
	m := startMosquitto(t, "HIL8")
	s := newSite(t, "HIL8", m, siteOptions{})
	f, err := os.OpenFile(s.AgentYAML, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, "checkpoints: {every: 20, interval: 1s}")
	f.Close()
	startCentrals(t, s, siteOptions{})
	agent := startProc(t, s.Dir, "agent", "agent", "-config", s.AgentYAML)
	d := newBusDriver(t, s.Code, m, "front-in")
	warmUp(t, s, d)
	for range 50 {
		d.read(context.Background(), "10001")
	}
	ctx := context.Background()
	waitFor(t, 60*time.Second, "a checkpoint of 40 events verified", func() (bool, string) {
		_, size, err := central.LatestCheckpoint(ctx, s.CentralDB, s.Code)
		return err == nil && size >= 40, fmt.Sprint(size, err)
	})
	if err := agent.Stop(); err != nil {
		t.Fatal(err)
	}
	entries := s.checkDelivered(t)
	last := len(entries)
	_, before, _ := central.LatestCheckpoint(ctx, s.CentralDB, s.Code)

	// The attacker has the site key: it rebuilds the log from seq 5 with an altered
	// event 5, then signs a checkpoint over that history, chained on as the next event.
	var tree proof.Tree
	var payloads [][]byte
	for _, e := range entries {
		env, err := envelope.Decode(e.Envelope)
		if err != nil {
			t.Fatal(err)
		}
		payloads = append(payloads, env.Payload)
	}
	b, _ := event.NewBuilder(s.Code)
	prev := event.GenesisHash
	var forged [][]byte
	for i, p := range payloads {
		if i >= 4 { // from seq 5: re-signed, altered where it starts
			ev, err := event.Parse(p)
			if err != nil {
				t.Fatal(err)
			}
			at, _ := time.Parse(time.RFC3339Nano, ev.Data.OccurredAt)
			info := ev.Data.AdditionalInformation
			if i == 4 {
				info = json.RawMessage(`{"door":"garden","altered":true}`)
			}
			if p, err = b.Build(ev.Seq, prev, &event.Draft{Type: strings.TrimPrefix(ev.Type, event.TypePrefix), OccurredAt: at, Info: info}); err != nil {
				t.Fatal(err)
			}
			forged = append(forged, envelope.Sign(s.Key, p))
		}
		tree.Append(p)
		prev = event.Hash(p)
	}
	note, err := proof.SignCheckpoint(s.Key, proof.Checkpoint{Origin: proof.Origin(s.Code), Size: uint64(last), Root: tree.Root()})
	if err != nil {
		t.Fatal(err)
	}
	info, _ := json.Marshal(map[string]any{"size": last, "checkpoint": string(note)})
	// Chained to central's real head, so that only the checkpoint's root is wrong.
	realHead := event.Hash(payloads[last-1])
	cpPayload, err := b.Build(uint64(last+1), realHead, &event.Draft{Type: "log.checkpoint", OccurredAt: time.Now(), Info: info})
	if err != nil {
		t.Fatal(err)
	}
	// The attacker holds the site's own uplink certificate (a compromised site box):
	// central's checks, not the broker's ACL, must catch this.
	attacker, err := mqttclient.New(mqttclient.Options{Link: mqttLink(m, "attacker", "uplink:"+s.Code), CleanSession: true})
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := mqttclient.Connect(cctx, attacker); err != nil {
		t.Fatal(err)
	}
	defer attacker.Disconnect(100)
	for _, batch := range [][][]byte{forged[:1], {envelope.Sign(s.Key, cpPayload)}} {
		if err := mqttclient.Wait(cctx, attacker.Publish(uplink.EventsTopic(s.Code), 1, false, uplink.EncodeBatch(batch))); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 60*time.Second, "the re-signed event and the checkpoint alarmed", func() (bool, string) {
		al, err := central.ReadAlarms(ctx, s.CentralDB, s.Code)
		if err != nil {
			return false, err.Error()
		}
		var conflict, checkpoint bool
		for _, a := range al {
			conflict = conflict || a.Reason == central.ReasonConflict && a.Seq == 5
			checkpoint = checkpoint || a.Reason == central.ReasonCheckpoint && strings.Contains(a.Detail, "rewritten")
		}
		return conflict && checkpoint, fmt.Sprintf("%+v", al)
	})
	if got := s.stored(t); got != int64(last) {
		t.Errorf("central stores %d events, want %d: nothing forged stored", got, last)
	}
	if _, size, _ := central.LatestCheckpoint(ctx, s.CentralDB, s.Code); size != before {
		t.Errorf("latest verified checkpoint %d, want %d: the forged one must not be stored", size, before)
	}
}
