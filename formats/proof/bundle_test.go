package proof

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/formats/envelope"
	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/sitekey"
)

// Golden vectors: the golden site's first goldenSize events, all signed by the golden
// key, a checkpoint of them, and the bundle proving event goldenSeq.
const (
	goldenSize = 5
	goldenSeq  = 3
)

// golden holds the golden vectors and the files they are written to.
type golden struct {
	payloads, envs [][]byte
	checkpoint     []byte
	bundle         []byte
	files          map[string][]byte
}

func makeGolden(t testing.TB) *golden {
	t.Helper()
	key := goldenKey(t)
	g := &golden{payloads: makePayloads(t, goldenSite, goldenSize)}
	g.envs = signAll([]*sitekey.Private{key}, g.payloads)
	tree := buildTree(t, g.payloads)
	g.checkpoint = checkpointOf(t, key, g.payloads, goldenSize)
	p, err := tree.ProveRecord(goldenSize, goldenSeq-1)
	if err != nil {
		t.Fatal(err)
	}
	g.bundle, err = EncodeBundle(NewBundle(goldenSite, goldenSeq, g.envs[goldenSeq-1], p, goldenSize, g.checkpoint))
	if err != nil {
		t.Fatal(err)
	}
	var tx strings.Builder
	fmt.Fprintf(&tx, "# RFC 6962 tree of the payloads in golden-export.jsonl; leaf i is seq i+1. Hashes in hex.\n")
	for i, pl := range g.payloads {
		h := LeafHash(pl)
		fmt.Fprintf(&tx, "leaf %d %x\n", i, h[:])
	}
	for n := 1; n <= goldenSize; n++ {
		r, _ := tree.RootAt(uint64(n))
		fmt.Fprintf(&tx, "root %d %x\n", n, r[:])
	}
	for i, h := range p {
		fmt.Fprintf(&tx, "proof seq %d in %d: %d %x\n", goldenSeq, goldenSize, i, h[:])
	}
	vk, err := VerifierKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&tx, "verifier-key %s\n", vk)
	g.files = map[string][]byte{
		"golden.pub":          sitekey.EncodePublic(key.Public()),
		"golden-export.jsonl": joinLines(g.envs),
		"golden.checkpoint":   g.checkpoint,
		"golden-bundle.json":  g.bundle,
		"golden-tree.txt":     []byte(tx.String()),
	}
	return g
}

// TestGolden checks the golden vectors in testdata against the code that makes them
// (-update rewrites them) and verifies them as another implementation would get them.
func TestGolden(t *testing.T) {
	g := makeGolden(t)
	if *update {
		for name, b := range g.files {
			if err := os.WriteFile(filepath.Join("testdata", name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, want := range g.files {
		got, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("testdata/%s differs from what the code makes (%v); go test -update rewrites it", name, err)
		}
	}
	pub, err := sitekey.LoadPublic(filepath.Join("testdata", "golden.pub"), "")
	if err != nil {
		t.Fatal(err)
	}
	keys := []*sitekey.Public{pub}
	in, _ := os.ReadFile(filepath.Join("testdata", "golden-bundle.json"))
	v, err := VerifyBundle(in, keys)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := TreeHashOf(g.payloads)
	want := &Verified{
		Site: goldenSite, Seq: goldenSeq, EventID: "GOLD1-3", Type: "approved-premises.movement.left",
		OccurredAt: time.Date(2026, 3, 29, 1, 4, 0, 0, time.UTC), KeyID: pub.ID, CheckpointKeyID: pub.ID,
		TreeSize: goldenSize, Root: root, Payload: g.payloads[goldenSeq-1],
	}
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("VerifyBundle = %+v\nwant %+v", v, want)
	}
	cp, _ := os.ReadFile(filepath.Join("testdata", "golden.checkpoint"))
	export, _ := os.ReadFile(filepath.Join("testdata", "golden-export.jsonl"))
	res, err := CheckExport(bytes.NewReader(export), cp, goldenSite, keys)
	if err != nil || res.Count != goldenSize || res.Root != root || res.ExportRoot != root {
		t.Fatalf("CheckExport = %+v, %v", res, err)
	}
	// The README quotes the verifier key and the root: keep it in step.
	readme, err := os.ReadFile(filepath.Join("testdata", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	vk, _ := VerifierKey(pub)
	for _, s := range []string{vk, root.String(), hex.EncodeToString(root[:]), pub.ID} {
		if !bytes.Contains(readme, []byte(s)) {
			t.Errorf("testdata/README.md does not mention %s", s)
		}
	}
}

func TestBundleRoundTrip(t *testing.T) {
	g := makeGolden(t)
	b, err := DecodeBundle(g.bundle)
	if err != nil {
		t.Fatal(err)
	}
	if b.Format != BundleFormat || b.Site != goldenSite || b.Seq != goldenSeq || b.LeafIndex != goldenSeq-1 || b.TreeSize != goldenSize || len(b.Proof) != 3 || !bytes.Equal(b.Envelope, g.envs[goldenSeq-1]) || b.Checkpoint != string(g.checkpoint) {
		t.Fatalf("decoded %+v", b)
	}
	again, err := EncodeBundle(b)
	if err != nil || !bytes.Equal(again, g.bundle) {
		t.Fatalf("re-encoded:\n%s\n%v", again, err)
	}
	// encoding/json reads the same fields, and whitespace is free.
	var std Bundle
	if err := json.Unmarshal(g.bundle, &std); err != nil || !reflect.DeepEqual(&std, b) {
		t.Fatalf("encoding/json: %+v, %v", std, err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, g.bundle); err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyBundle(compact.Bytes(), goldenKeys(t)); err != nil {
		t.Fatalf("compacted bundle: %v", err)
	}
	marshalled, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyBundle(marshalled, goldenKeys(t)); err != nil {
		t.Fatalf("json.Marshal of the bundle: %v", err)
	}
	// A bundle of a one-leaf tree has an empty proof.
	key := goldenKey(t)
	one, err := EncodeBundle(NewBundle(goldenSite, 1, g.envs[0], nil, 1, checkpointOf(t, key, g.payloads, 1)))
	if err != nil || !bytes.Contains(one, []byte(`"proof": [],`)) {
		t.Fatalf("one-leaf bundle:\n%s\n%v", one, err)
	}
	if _, err := VerifyBundle(one, goldenKeys(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := EncodeBundle(&Bundle{Envelope: json.RawMessage(`"x"`)}); err == nil {
		t.Error("EncodeBundle of a string envelope succeeded")
	}
	if _, err := EncodeBundle(nil); err == nil {
		t.Error("EncodeBundle(nil) succeeded")
	}
	if _, err := (*Bundle)(nil).Verify(goldenKeys(t)); !errors.Is(err, ErrBundleFormat) {
		t.Errorf("nil bundle: %v", err)
	}
	big := append(bytes.Repeat([]byte(" "), MaxBundleSize), g.bundle...)
	if _, err := DecodeBundle(big); !errors.Is(err, ErrBundleFormat) {
		t.Errorf("oversized bundle: %v", err)
	}
}

// TestBundlesAcrossRotation proves events signed before and after a key rotation, with
// checkpoints signed by either key.
func TestBundlesAcrossRotation(t *testing.T) {
	key, rot := goldenKey(t), rotatedKey(t)
	payloads := makePayloads(t, goldenSite, 9)
	envs := signAll([]*sitekey.Private{key, key, key, key, rot}, payloads)
	tree := buildTree(t, payloads)
	for _, cpKey := range []*sitekey.Private{key, rot} {
		cp := checkpointOf(t, cpKey, payloads, 9)
		for seq := uint64(1); seq <= 9; seq++ {
			p, err := tree.ProveRecord(9, seq-1)
			if err != nil {
				t.Fatal(err)
			}
			b, err := EncodeBundle(NewBundle(goldenSite, seq, envs[seq-1], p, 9, cp))
			if err != nil {
				t.Fatal(err)
			}
			v, err := VerifyBundle(b, goldenKeys(t))
			if err != nil {
				t.Fatalf("seq %d: %v", seq, err)
			}
			wantKey := key.ID
			if seq > 4 {
				wantKey = rot.ID
			}
			if v.KeyID != wantKey || v.CheckpointKeyID != cpKey.ID || v.Seq != seq || v.EventID != event.ID(goldenSite, seq) {
				t.Fatalf("seq %d: %+v", seq, v)
			}
			// Without the key that signed the envelope or the checkpoint, it fails.
			if _, err := VerifyBundle(b, []*sitekey.Public{key.Public()}); (err == nil) != (seq <= 4 && cpKey == key) {
				t.Fatalf("seq %d with the first key only: %v", seq, err)
			}
		}
	}
}

// TestBadBundles checks that every file in testdata/bad/bundle is refused with the error
// its table entry names, and that the files are what the table makes (-update rewrites
// them).
func TestBadBundles(t *testing.T) {
	cases := badBundles(t)
	dir := filepath.Join("testdata", "bad", "bundle")
	if *update {
		writeCorpus(t, dir, cases)
	}
	keys := goldenKeys(t)
	checkCorpus(t, dir, cases, func(in []byte) error {
		v, err := VerifyBundle(in, keys)
		if err == nil {
			return fmt.Errorf("accepted: %+v", v)
		}
		return err
	})
}

// badBundles are bundles that VerifyBundle must refuse with the golden site's keys.
func badBundles(t testing.TB) []badCase {
	g := makeGolden(t)
	key, other := goldenKey(t), otherKey(t)
	stranger := seedKey(t, goldenSite, 0x80)
	tree := buildTree(t, g.payloads)
	base := func() *Bundle {
		b, err := DecodeBundle(g.bundle)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	enc := func(f func(b *Bundle)) []byte {
		b := base()
		f(b)
		out, err := EncodeBundle(b)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	rep := func(old, new string) []byte {
		if !bytes.Contains(g.bundle, []byte(old)) {
			t.Fatalf("golden bundle lacks %q", old)
		}
		return bytes.Replace(g.bundle, []byte(old), []byte(new), 1)
	}
	b0 := base()
	h0 := b0.Proof[0].String()
	proofStart := bytes.Index(g.bundle, []byte(`"proof": [`)) + len(`"proof": `)
	proofEnd := proofStart + bytes.IndexByte(g.bundle[proofStart:], ']') + 1
	withProof := func(s string) []byte {
		return append(append(bytes.Clone(g.bundle[:proofStart]), s...), g.bundle[proofEnd:]...)
	}
	envRegion := fieldRegions(t, g.bundle)["envelope"]
	withEnvelope := func(s string) []byte {
		return append(append(bytes.Clone(g.bundle[:envRegion[0]]), s...), g.bundle[envRegion[1]:]...)
	}
	envString, _ := json.Marshal(string(b0.Envelope))
	signed := func(k *sitekey.Private, payload []byte) func(*Bundle) {
		return func(b *Bundle) { b.Envelope = envelope.Sign(k, payload) }
	}
	tampered := func(b *Bundle) {
		e, _ := envelope.Decode(b.Envelope)
		e.Payload = g.payloads[goldenSeq]
		b.Envelope = envelope.Encode(e)
	}
	otherSite := func(b *Bundle) {
		pl := makePayloads(t, "OTHER", goldenSize)
		p, _ := buildTree(t, pl).ProveRecord(goldenSize, goldenSeq-1)
		*b = *NewBundle("OTHER", goldenSeq, envelope.Sign(other, pl[goldenSeq-1]), p, goldenSize, checkpointOf(t, other, pl, goldenSize))
	}
	otherEvent := makePayloads(t, "OTHER", goldenSeq)[goldenSeq-1]
	proof4, _ := tree.ProveRecord(4, goldenSeq-1)
	cp4 := checkpointOf(t, key, g.payloads, 4)
	r5, _ := tree.RootAt(goldenSize)
	wrongOrigin := forgeNote(t, key, Origin(goldenSite), Checkpoint{Origin: Origin("OTHER"), Size: goldenSize, Root: r5}.Body())
	return []badCase{
		{"truncated.json", g.bundle[:len(g.bundle)/2], ErrBundleFormat},
		{"empty.json", nil, ErrBundleFormat},
		{"not-object.json", []byte("[]\n"), ErrBundleFormat},
		{"trailing-data.json", append(bytes.Clone(g.bundle), "{}\n"...), ErrBundleFormat},
		{"bad-base64-proof.json", rep(h0, strings.Repeat("!", 43)+"="), ErrBundleFormat},
		{"non-canonical-proof-hash.json", rep(h0, flipUnusedBit(h0)), ErrBundleFormat},
		{"extra-field.json", rep(`"format":`, "\"comment\": \"x\",\n  \"format\":"), ErrBundleFormat},
		{"field-case.json", rep(`"leafIndex"`, `"LeafIndex"`), ErrBundleFormat},
		{"duplicate-field.json", rep(`"seq": 3,`, "\"seq\": 3,\n  \"seq\": 3,"), ErrBundleFormat},
		{"missing-field.json", rep("\"treeSize\": 5,\n", ""), ErrBundleFormat},
		{"wrong-format.json", enc(func(b *Bundle) { b.Format = "apedge-proof-bundle/v2" }), ErrBundleFormat},
		{"bad-site-code.json", enc(func(b *Bundle) { b.Site = "GOLD 1" }), ErrBundleFormat},
		{"seq-leading-zero.json", rep(`"seq": 3`, `"seq": 03`), ErrBundleFormat},
		{"seq-zero.json", enc(func(b *Bundle) { b.Seq, b.LeafIndex = 0, 0 }), ErrBundleFormat},
		{"seq-float.json", rep(`"seq": 3`, `"seq": 3.0`), ErrBundleFormat},
		{"huge-tree-size.json", rep(`"treeSize": 5`, `"treeSize": 18446744073709551616`), ErrBundleFormat},
		{"tree-size-over-max.json", enc(func(b *Bundle) { b.TreeSize = MaxTreeSize + 1 }), ErrBundleFormat},
		{"negative-leaf-index.json", rep(`"leafIndex": 2`, `"leafIndex": -2`), ErrBundleFormat},
		{"null-proof.json", withProof("null"), ErrBundleFormat},
		{"proof-not-array.json", withProof(`"` + h0 + `"`), ErrBundleFormat},
		{"envelope-as-string.json", withEnvelope(string(envString)), ErrBundleFormat},
		{"invalid-utf8.json", rep(`"GOLD1"`, "\"GOLD\xff\""), ErrBundleFormat},
		{"non-canonical-envelope.json", rep(`"envelope": {"payloadType"`, `"envelope": { "payloadType"`), ErrEnvelope},
		{"wrong-payload-type.json", rep(envelope.PayloadType, "application/json"), ErrEnvelope},
		{"tampered-payload.json", enc(tampered), ErrSignature},
		{"unknown-key.json", enc(signed(stranger, g.payloads[goldenSeq-1])), ErrSignature},
		{"other-site.json", enc(otherSite), ErrSignature},
		{"event-of-other-site.json", enc(signed(key, otherEvent)), ErrEvent},
		{"not-an-event.json", enc(signed(key, []byte(`{"hello":"world"}`))), ErrEvent},
		{"wrong-seq.json", enc(func(b *Bundle) { b.Seq, b.LeafIndex = 4, 3 }), ErrSeq},
		{"leaf-index-mismatch.json", enc(func(b *Bundle) { b.LeafIndex = 3 }), ErrSeq},
		{"leaf-outside-tree.json", enc(func(b *Bundle) { b.TreeSize = 2 }), ErrSeq},
		{"checkpoint-wrong-origin.json", enc(func(b *Bundle) { b.Checkpoint = string(wrongOrigin) }), ErrWrongOrigin},
		{"checkpoint-other-site.json", enc(func(b *Bundle) {
			b.Checkpoint = string(checkpointOf(t, other, makePayloads(t, "OTHER", goldenSize), goldenSize))
		}), ErrUnknownSigner},
		{"checkpoint-tampered.json", enc(func(b *Bundle) {
			b.Checkpoint = strings.Replace(b.Checkpoint, "\n5\n", "\n6\n", 1)
			b.TreeSize = 6
		}), ErrCheckpointSignature},
		{"checkpoint-not-a-note.json", enc(func(b *Bundle) { b.Checkpoint = "hello" }), ErrMalformedCheckpoint},
		{"checkpoint-size-mismatch.json", enc(func(b *Bundle) { b.Checkpoint = string(cp4) }), ErrCheckpoint},
		{"proof-for-other-size.json", enc(func(b *Bundle) { b.TreeSize = 4; b.Checkpoint = string(cp4) }), ErrProof},
		{"proof-of-smaller-tree.json", enc(func(b *Bundle) { b.Proof = proof4 }), ErrProof},
		{"wrong-proof.json", enc(func(b *Bundle) { b.Proof[0] = b.Proof[1] }), ErrProof},
		{"short-proof.json", enc(func(b *Bundle) { b.Proof = b.Proof[:len(b.Proof)-1] }), ErrProof},
		{"long-proof.json", enc(func(b *Bundle) { b.Proof = append(b.Proof, b.Proof[0]) }), ErrProof},
		{"reversed-proof.json", enc(func(b *Bundle) {
			b.Proof[0], b.Proof[len(b.Proof)-1] = b.Proof[len(b.Proof)-1], b.Proof[0]
		}), ErrProof},
	}
}

// fieldRegions returns the byte ranges of the values of an encoded bundle's fields.
func fieldRegions(t testing.TB, data []byte) map[string][2]int {
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	out := map[string][2]int{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			t.Fatal(err)
		}
		end := int(dec.InputOffset())
		out[tok.(string)] = [2]int{end - len(raw), end}
	}
	return out
}

// TestEveryByteChangeFails flips bits of every byte of the golden bundle, one change at
// a time, and checks that no changed bundle verifies unless it decodes to the same
// bundle (a change of whitespace between tokens), and that the error names a failure
// that the changed field can cause.
func TestEveryByteChangeFails(t *testing.T) {
	g := makeGolden(t)
	keys := goldenKeys(t)
	orig, err := DecodeBundle(g.bundle)
	if err != nil {
		t.Fatal(err)
	}
	regions := fieldRegions(t, g.bundle)
	allowed := map[string][]error{
		"format":     {ErrBundleFormat},
		"site":       {ErrBundleFormat, ErrSignature},
		"seq":        {ErrBundleFormat, ErrSeq},
		"envelope":   {ErrBundleFormat, ErrEnvelope, ErrSignature},
		"leafIndex":  {ErrBundleFormat, ErrSeq},
		"treeSize":   {ErrBundleFormat, ErrSeq, ErrCheckpoint},
		"proof":      {ErrBundleFormat, ErrProof},
		"checkpoint": {ErrBundleFormat, ErrCheckpoint},
		"":           {ErrBundleFormat},
	}
	masks := []byte{0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80}
	if testing.Short() {
		masks = []byte{0x01, 0x20, 0x80}
	}
	refused, same := 0, 0
	counts := map[string]int{}
	for i := range g.bundle {
		field := ""
		for name, r := range regions {
			if i >= r[0] && i < r[1] {
				field = name
			}
		}
		for _, m := range masks {
			b := bytes.Clone(g.bundle)
			b[i] ^= m
			v, err := VerifyBundle(b, keys)
			if err == nil {
				if d, _ := DecodeBundle(b); reflect.DeepEqual(d, orig) {
					same++
					continue
				}
				t.Fatalf("byte %d (%s) ^ %#02x (%q -> %q) still verifies: %+v", i, field, m, g.bundle[i], b[i], v)
			}
			ok := false
			for _, want := range allowed[field] {
				ok = ok || errors.Is(err, want)
			}
			if !ok || !strings.HasPrefix(err.Error(), "proof: ") {
				t.Fatalf("byte %d (%s) ^ %#02x (%q -> %q): error %q names nothing %s can cause", i, field, m, g.bundle[i], b[i], err, field)
			}
			for _, s := range []error{ErrBundleFormat, ErrEnvelope, ErrSignature, ErrEvent, ErrSeq, ErrCheckpoint, ErrProof} {
				if errors.Is(err, s) {
					counts[s.Error()]++
				}
			}
			refused++
		}
	}
	t.Logf("%d changed bundles refused, %d decode to the same bundle; by error: %v", refused, same, counts)
}

// bundleSeeds returns the golden bundle and the bad ones, for fuzzing.
func bundleSeeds(t testing.TB) [][]byte {
	var out [][]byte
	if b, err := os.ReadFile(filepath.Join("testdata", "golden-bundle.json")); err == nil {
		out = append(out, b)
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "bad", "bundle", "*"))
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil {
			out = append(out, b)
		}
	}
	if len(out) < 2 {
		t.Fatal("no bundle seeds in testdata")
	}
	return out
}

func FuzzDecodeBundle(f *testing.F) {
	for _, s := range bundleSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		b, err := DecodeBundle(in)
		if err != nil {
			if !errors.Is(err, ErrBundleFormat) {
				t.Fatalf("error %v is not ErrBundleFormat", err)
			}
			return
		}
		enc, err := EncodeBundle(b)
		if err != nil {
			t.Fatalf("decoded bundle does not encode: %v", err)
		}
		again, err := DecodeBundle(enc)
		if err != nil || !reflect.DeepEqual(again, b) {
			t.Fatalf("re-encoded bundle decodes to %+v, %v\nwant %+v", again, err, b)
		}
		enc2, _ := EncodeBundle(again)
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable:\n%s\n%s", enc, enc2)
		}
	})
}

func FuzzVerifyBundle(f *testing.F) {
	for _, s := range bundleSeeds(f) {
		f.Add(s)
	}
	keys := goldenKeys(f)
	sentinels := []error{ErrBundleFormat, ErrEnvelope, ErrSignature, ErrEvent, ErrSeq, ErrCheckpoint, ErrProof}
	f.Fuzz(func(t *testing.T, in []byte) {
		v, err := VerifyBundle(in, keys)
		if err != nil {
			n := 0
			for _, s := range sentinels {
				if errors.Is(err, s) {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("error %v wraps %d of the sentinel errors, want 1", err, n)
			}
			return
		}
		b, err := DecodeBundle(in)
		if err != nil {
			t.Fatalf("verified bundle does not decode: %v", err)
		}
		enc, err := EncodeBundle(b)
		if err != nil {
			t.Fatal(err)
		}
		v2, err := VerifyBundle(enc, keys)
		if err != nil || !reflect.DeepEqual(v, v2) {
			t.Fatalf("re-encoded bundle: %+v, %v\nwant %+v", v2, err, v)
		}
		if v.Site != b.Site || v.Seq != b.Seq || v.TreeSize != b.TreeSize || !bytes.Equal(v.Payload, mustPayload(t, b)) {
			t.Fatalf("verified %+v for bundle %+v", v, b)
		}
	})
}

func mustPayload(t *testing.T, b *Bundle) []byte {
	e, err := envelope.Decode(b.Envelope)
	if err != nil {
		t.Fatal(err)
	}
	return e.Payload
}

// BenchmarkVerifyBundle measures verifying the golden bundle: two Ed25519 signatures,
// JSON decoding and the proof.
func BenchmarkVerifyBundle(b *testing.B) {
	g := makeGolden(b)
	keys := goldenKeys(b)
	for b.Loop() {
		if _, err := VerifyBundle(g.bundle, keys); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "bundles/s")
}
