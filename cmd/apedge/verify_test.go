package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/cmd/apedge/internal/clitest"
	"github.com/apedge/apedge/formats/envelope"
	"github.com/apedge/apedge/formats/proof"
	"github.com/apedge/apedge/formats/sitekey"
)

// otherDemo is a real export of another demo site (see testdata/otherdemo/README.md):
// site DEMO1 under a key of its own.
var (
	otherDemoExport = filepath.Join("testdata", "otherdemo", "export.jsonl")
	otherDemoPub    = filepath.Join("testdata", "otherdemo", "DEMO1.pub")
)

// readLines returns the lines of a file, without their newlines.
func readLines(t *testing.T, path string) []string {
	t.Helper()
	return clitest.Lines(mustRead(t, path))
}

// writeLines writes lines, each ending in a newline, to a new file under dir.
func writeLines(t *testing.T, dir, name string, ls []string) string {
	t.Helper()
	return clitest.WriteFile(t, dir, name, strings.Join(ls, "\n")+"\n", 0o644)
}

// envelopeJSON is the wire form of an envelope, to read a line without verifying it.
type envelopeJSON struct {
	Payload    string `json:"payload"`
	Signatures []struct {
		KeyID string `json:"keyid"`
		Sig   string `json:"sig"`
	} `json:"signatures"`
}

// payload returns the signed payload of an export line.
func payload(t *testing.T, line string) []byte {
	t.Helper()
	var e envelopeJSON
	if err := json.Unmarshal([]byte(line), &e); err != nil {
		t.Fatalf("line is not an envelope: %v", err)
	}
	p, err := base64.StdEncoding.DecodeString(e.Payload)
	if err != nil {
		t.Fatalf("payload is not base64: %v", err)
	}
	return p
}

// eventID returns the id of the event of an export line, or "" if the payload does not
// decode.
func eventID(t *testing.T, line string) string {
	t.Helper()
	var e envelopeJSON
	if json.Unmarshal([]byte(line), &e) != nil {
		return ""
	}
	p, err := base64.StdEncoding.DecodeString(e.Payload)
	if err != nil {
		return ""
	}
	var ev struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(p, &ev) != nil {
		return ""
	}
	return ev.ID
}

const b64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// otherB64 returns a base64 character other than c.
func otherB64(c byte) byte {
	i := strings.IndexByte(b64Alphabet, c)
	return b64Alphabet[(i+1)%len(b64Alphabet)]
}

// changePayload changes one base64 character of line's payload, at a place where the
// payload still decodes to JSON naming the same event, so that only the signature can
// tell.
func changePayload(t *testing.T, line string) string {
	t.Helper()
	const key = `"payload":"`
	start := strings.Index(line, key) + len(key)
	end := start + strings.IndexByte(line[start:], '"')
	if start < len(key) || end < start {
		t.Fatalf("no payload in %q", line)
	}
	id := eventID(t, line)
	// Not the last quantum: its padding bits would make the change non-canonical.
	for i := (start + end) / 2; i < end-4; i++ {
		b := []byte(line)
		b[i] = otherB64(b[i])
		if changed := string(b); eventID(t, changed) == id {
			return changed
		}
	}
	t.Fatalf("found no byte of the payload to change in %q", line)
	return ""
}

// changeSignature changes one base64 character in the middle of line's signature.
func changeSignature(t *testing.T, line string) string {
	t.Helper()
	const key = `"sig":"`
	i := strings.Index(line, key)
	if i < 0 {
		t.Fatalf("no signature in %q", line)
	}
	b := []byte(line)
	i += len(key) + 20
	b[i] = otherB64(b[i])
	return string(b)
}

// splice returns a copy of ls with the elements of in put before index i and del
// elements removed from there.
func splice(ls []string, i, del int, in ...string) []string {
	out := append([]string(nil), ls[:i]...)
	out = append(out, in...)
	return append(out, ls[i+del:]...)
}

var verifyOK = regexp.MustCompile(`^(.+): OK: (\d+) events of site (\S+), seq (\d+)\.\.(\d+), every signature valid \(key ([0-9a-f]{64})\), chain unbroken\n$`)

// wantVerified runs verify on export and checks that it accepts the file as count
// events of site, seq 1..count, signed by the key in pubPath.
func wantVerified(t *testing.T, pubPath, export string, count int) {
	t.Helper()
	r := apedge(t, "verify", "-pubkey", pubPath, export)
	m := verifyOK.FindStringSubmatch(r.Stdout)
	if r.Code != 0 || r.Stderr != "" || m == nil {
		t.Fatalf("want exit 0 and OK on stdout\n%v", r)
	}
	pub, err := sitekey.LoadPublic(pubPath, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{export, strconv.Itoa(count), pub.Site, "1", strconv.Itoa(count), pub.ID}
	for i, w := range want {
		if m[i+1] != w {
			t.Errorf("verify printed %q, want %q in place of %q", strings.TrimSpace(r.Stdout), w, m[i+1])
		}
	}
}

// testTamper checks that verify accepts the export ls (at least 6 lines, line k holding
// seq k) and rejects every change to it, naming the first bad line and its event. foreign
// is an envelope of the same site under another key.
func testTamper(t *testing.T, pubPath string, ls []string, foreign string) {
	t.Helper()
	n := len(ls)
	if n < 6 {
		t.Fatalf("export of %d lines is too short to tamper with", n)
	}
	site := strings.TrimSuffix(eventID(t, ls[0]), "-1")
	id := func(seq int) string { return fmt.Sprintf("%s-%d", site, seq) }
	for i, l := range ls {
		if got := eventID(t, l); got != id(i+1) {
			t.Fatalf("line %d holds %s, want %s", i+1, got, id(i+1))
		}
	}
	m := n / 2 // a middle line, 1-based; line m is ls[m-1]
	foreignID := eventID(t, foreign)
	if foreignID == "" {
		t.Fatalf("foreign line names no event")
	}

	tests := []struct {
		name   string
		lines  []string
		line   int    // the first bad line, 0 if the export is valid
		id     string // the event it names
		reason string
	}{
		{"untouched", ls, 0, "", ""},
		// Removing events from the end leaves a shorter valid chain (the count or a
		// checkpoint tells); verify says how far it goes.
		{"last line removed", ls[:n-1], 0, "", ""},
		{"payload byte changed", splice(ls, m-1, 1, changePayload(t, ls[m-1])), m, id(m), "bad signature"},
		{"first payload byte changed", splice(ls, 0, 1, changePayload(t, ls[0])), 1, id(1), "bad signature"},
		{"signature byte changed", splice(ls, m-1, 1, changeSignature(t, ls[m-1])), m, id(m), "bad signature"},
		{"last signature byte changed", splice(ls, n-1, 1, changeSignature(t, ls[n-1])), n, id(n), "bad signature"},
		{"middle line removed", splice(ls, m-1, 1), m, id(m + 1), fmt.Sprintf("chain broken: seq %d after %d", m+1, m-1)},
		{"first line removed", ls[1:], 1, id(2), "chain broken: export starts at seq 2"},
		{"two lines swapped", splice(ls, m-1, 2, ls[m], ls[m-1]), m, id(m + 1), fmt.Sprintf("chain broken: seq %d after %d", m+1, m-1)},
		{"first and last swapped", splice(splice(ls, 0, 1, ls[n-1]), n-1, 1, ls[0]), 1, id(n), "chain broken"},
		{"duplicate line inserted", splice(ls, m, 0, ls[m-1]), m + 1, id(m), fmt.Sprintf("chain broken: seq %d after %d", m, m)},
		{"line of another key inserted", splice(ls, m-1, 0, foreign), m, foreignID, "no signature by a trusted key"},
		{"line of another key first", splice(ls, 0, 0, foreign), 1, foreignID, "no signature by a trusted key"},
		{"line replaced by one of another key", splice(ls, 0, 1, foreign), 1, foreignID, "no signature by a trusted key"},
		{"carriage return added", splice(ls, m-1, 1, ls[m-1]+"\r"), m, id(m), "not canonically encoded"},
		{"re-encoded with a space", splice(ls, m-1, 1, strings.Replace(ls[m-1], `","signatures"`, `", "signatures"`, 1)), m, id(m), "not canonically encoded"},
		{"blank line inside", splice(ls, m, 0, ""), m + 1, "", "blank line inside the export"},
	}
	dir := t.TempDir()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			export := writeLines(t, dir, fmt.Sprintf("export-%d.jsonl", i), tt.lines)
			if tt.line == 0 {
				wantVerified(t, pubPath, export, len(tt.lines))
				return
			}
			where := fmt.Sprintf("line %d", tt.line)
			if tt.id != "" {
				where += " (" + tt.id + ")"
			}
			r := apedge(t, "verify", "-pubkey", pubPath, export)
			clitest.WantOneLine(t, r, 1, "apedge verify: "+export+": FAILED: "+where+": ", tt.reason)
		})
	}
}

// TestVerifyOtherDemo checks verify against the stored real export, with a line of the
// same site signed by a fresh key as the foreign line.
func TestVerifyOtherDemo(t *testing.T) {
	ls := readLines(t, otherDemoExport)
	wantVerified(t, otherDemoPub, otherDemoExport, len(ls))

	dir := t.TempDir()
	keygen(t, "DEMO1", dir)
	privPath, pubPath := sitekey.Paths(dir, "DEMO1")
	k, err := sitekey.LoadPrivate(privPath)
	if err != nil {
		t.Fatal(err)
	}
	// The same event, signed by another key of the same site.
	foreign := string(envelope.Sign(k, payload(t, ls[2])))
	testTamper(t, otherDemoPub, ls, foreign)

	// The export under that other key: every line fails, and verify names the first.
	r := apedge(t, "verify", "-pubkey", pubPath, otherDemoExport)
	clitest.WantOneLine(t, r, 1, "apedge verify: "+otherDemoExport+": FAILED: line 1 (DEMO1-1): ", "no signature by key "+sitekey.KeyID(k.Public().Key))

	// Under a key of another site.
	keygen(t, "MAN1", dir)
	_, manPub := sitekey.Paths(dir, "MAN1")
	r = apedge(t, "verify", "-pubkey", manPub, otherDemoExport)
	clitest.WantOneLine(t, r, 1, "apedge verify: "+otherDemoExport+": FAILED: line 1 (DEMO1-1): ")
}

func TestVerifyNotAnExport(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, body, want string
	}{
		{"empty", "", "export holds no events"},
		{"blank lines only", "\n\n", "export holds no events"},
		{"not JSON", "hello\n", "FAILED: line 1: "},
		{"JSON but not an envelope", "{}\n", "FAILED: line 1: "},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			export := clitest.WriteFile(t, dir, fmt.Sprintf("export-%d.jsonl", i), tt.body, 0o644)
			clitest.WantOneLine(t, apedge(t, "verify", "-pubkey", otherDemoPub, export), 1, "apedge verify: "+export+": FAILED: ", tt.want)
		})
	}
	// A directory in place of the export.
	r := apedge(t, "verify", "-pubkey", otherDemoPub, dir)
	clitest.WantOneLine(t, r, 1, "apedge verify: ")
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
}

// TestVerifySetOfBundles: `apedge verify -bundle` takes a resident's set of proof
// bundles (the console's export for a hearing) as well as a single bundle: it checks
// every bundle in it and says which events it proved; a set with an altered event fails.
func TestVerifySetOfBundles(t *testing.T) {
	golden := filepath.Join("..", "..", "formats", "proof", "testdata")
	pub := filepath.Join(golden, "golden.pub")
	b, err := os.ReadFile(filepath.Join(golden, "golden-bundle.json"))
	if err != nil {
		t.Fatal(err)
	}
	k, err := sitekey.LoadPublic(pub, "")
	if err != nil {
		t.Fatal(err)
	}
	v, err := proof.VerifyBundle(b, []*sitekey.Public{k})
	if err != nil {
		t.Fatal(err)
	}
	set := &proof.Set{Format: proof.SetFormat, Site: v.Site, Title: "Events of X1", Subject: "X1",
		From: v.OccurredAt.Add(-time.Hour), To: v.OccurredAt.Add(time.Hour), CreatedAt: v.OccurredAt, CreatedBy: "manager-1",
		TreeSize: v.TreeSize, Events: []proof.SetEvent{{Seq: v.Seq, Type: v.Type, OccurredAt: v.OccurredAt, Sentence: "a sentence", Bundle: b}}}
	enc, err := proof.EncodeSet(set)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := clitest.WriteFile(t, dir, "set.json", string(enc), 0o644)
	r := apedge(t, "verify", "-pubkey", pub, "-bundle", path)
	if r.Code != 0 || !strings.HasPrefix(r.Stdout, path+": OK: 1 event of site "+v.Site+"'s log about X1") || !strings.HasSuffix(r.Stdout, fmt.Sprintf("seqs %d\n", v.Seq)) {
		t.Errorf("verify the set:\n%v", r)
	}

	set.Events[0].Seq++ // the set says another event than its bundle proves
	enc, _ = proof.EncodeSet(set)
	bad := clitest.WriteFile(t, dir, "bad.json", string(enc), 0o644)
	r = apedge(t, "verify", "-pubkey", pub, "-bundle", bad)
	clitest.WantOneLine(t, r, 1, "apedge verify: "+bad+": FAILED: ")
}
