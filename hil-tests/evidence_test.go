package hiltests

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apedge/apedge/central"
	"github.com/apedge/apedge/envelope"
	"github.com/apedge/apedge/event"
	"github.com/apedge/apedge/sitebus"
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
	const n = 10000
	m := startMosquitto(t)
	s := newSite(t, "HIL7", m.URL(), siteOptions{})
	f, err := os.OpenFile(s.AgentYAML, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, "checkpoints: {every: 1000, interval: 2s}")
	f.Close()
	startCentrals(t, s, siteOptions{})
	startProc(t, s.Dir, "agent", "agent", "-config", s.AgentYAML)
	d := newBusDriver(t, s.Code, m.URL(), "front-in")
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
	waitFor(t, 120*time.Second, "yesterday's read and 10,000 more journaled", func() (bool, string) {
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
	waitFor(t, 120*time.Second, "central to verify a checkpoint covering 10,000 events after it", func() (bool, string) {
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
