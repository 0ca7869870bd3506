package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/apedge/apedge/cmd/apedge/internal/clitest"
	"github.com/apedge/apedge/formats/sitekey"
)

// runDemo runs `apedge demo -dir dir` for a few seconds with a card read every 20ms
// and checks that it stopped cleanly.
func runDemo(t *testing.T, dir string) {
	t.Helper()
	r := apedge(t, "demo", "-dir", dir, "-for", "4s", "-every", "20ms", "-console", "127.0.0.1:0")
	if r.Code != 0 || !strings.Contains(r.Stdout, "apedge demo: stopped cleanly\n") {
		t.Fatalf("demo did not stop cleanly\n%v", r)
	}
	for _, want := range []string{"apedge demo: site DEMO1 is running", "central stored"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("demo stdout does not say %q\n%v", want, r)
		}
	}
}

// exportDemo exports the demo's site DEMO1 to out and returns its lines.
func exportDemo(t *testing.T, dir, out string) []string {
	t.Helper()
	r := apedge(t, "central", "export", "-config", filepath.Join(dir, "central.yaml"), "-site", "DEMO1", "-o", out)
	if r.Code != 0 || r.Stdout != "" {
		t.Fatalf("export failed\n%v", r)
	}
	ls := readLines(t, out)
	if want := []string{"exported " + strconv.Itoa(len(ls)) + " events of DEMO1 to " + out}; !slices.Equal(clitest.Lines(r.Stderr), want) {
		t.Errorf("export stderr %q, want %q", r.Stderr, want)
	}
	return ls
}

// TestDemo runs the demo site twice on one directory and checks the evidence it leaves
// with the other commands, as the README tells a user to.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo site for 8s")
	}
	// Read what the test needs from its own directory before leaving it.
	foreign := readLines(t, otherDemoExport)[3]
	work, out := t.TempDir(), t.TempDir()
	t.Chdir(work) // a relative -dir, and a place to see that nothing is made outside it
	const dir = "site"

	runDemo(t, dir)

	files := []string{"agent.yaml", "bridge.yaml", "central.yaml", "keys/DEMO1.key", "keys/DEMO1.pub", "agent.db", "central.db"}
	for _, name := range files {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("demo did not make %s: %v", name, err)
			continue
		}
		if name == "keys/DEMO1.key" && st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %04o, want 0600", name, st.Mode().Perm())
		}
	}
	if ents, _ := os.ReadDir(work); len(ents) != 1 || ents[0].Name() != dir {
		t.Errorf("demo made files outside -dir: %v", ents)
	}
	privPath, pubPath := sitekey.Paths(filepath.Join(dir, "keys"), "DEMO1")
	key := mustRead(t, privPath)
	for _, cmd := range []string{"agent", "bridge", "central"} {
		path := filepath.Join(dir, cmd+".yaml")
		if r := apedge(t, cmd, "-config", path, "-check-config"); r.Code != 0 || r.Stdout != path+": ok\n" {
			t.Errorf("the demo's %s does not check\n%v", path, r)
		}
	}

	export1 := filepath.Join(out, "export1.jsonl")
	ls1 := exportDemo(t, dir, export1)
	if len(ls1) < 6 {
		t.Fatalf("demo stored only %d events in 4s of a read every 20ms", len(ls1))
	}
	wantVerified(t, pubPath, export1, len(ls1))

	// Without -o the export goes to stdout, byte for byte the same.
	r := apedge(t, "central", "export", "-config", filepath.Join(dir, "central.yaml"), "-site", "DEMO1")
	if r.Code != 0 || r.Stderr != "" || r.Stdout != mustRead(t, export1) {
		t.Errorf("export to stdout differs from export to a file\n%v", r)
	}
	// A site central knows nothing of: one line, and no empty file left to verify.
	none := filepath.Join(out, "none.jsonl")
	r = apedge(t, "central", "export", "-config", filepath.Join(dir, "central.yaml"), "-site", "MAN1", "-o", none)
	clitest.WantOneLine(t, r, 1, "apedge central: ", "no stored events for site MAN1")
	if _, err := os.Stat(none); err == nil {
		t.Errorf("failed export left %s", none)
	}

	t.Run("tamper", func(t *testing.T) {
		testTamper(t, pubPath, ls1, foreign)
	})

	// A second run on the same directory keeps the key and continues the chain.
	runDemo(t, dir)
	if mustRead(t, privPath) != key {
		t.Errorf("second demo run replaced the site key")
	}
	export2 := filepath.Join(out, "export2.jsonl")
	ls2 := exportDemo(t, dir, export2)
	if len(ls2) <= len(ls1) {
		t.Fatalf("export after the second run has %d events, after the first %d", len(ls2), len(ls1))
	}
	if !slices.Equal(ls2[:len(ls1)], ls1) {
		t.Errorf("the second run changed events of the first")
	}
	if got, want := eventID(t, ls2[len(ls1)]), "DEMO1-"+strconv.Itoa(len(ls1)+1); got != want {
		t.Errorf("first event of the second run is %s, want %s", got, want)
	}
	// Each run's agent journals agent.started first.
	var started []string
	for _, l := range ls2 {
		if bytes.Contains(payload(t, l), []byte(`"type":"approved-premises.agent.started"`)) {
			started = append(started, eventID(t, l))
		}
	}
	if len(started) != 2 || started[0] != "DEMO1-1" {
		t.Errorf("agent.started events %v, want DEMO1-1 and one of the second run", started)
	}
	wantVerified(t, pubPath, export2, len(ls2))
}
