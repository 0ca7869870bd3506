package verify

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/formats/envelope"
	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/sitekey"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// testKey returns site's deterministic test key, so that testdata is reproducible.
func testKey(t testing.TB, site string) *sitekey.Private {
	t.Helper()
	seed := sha256.Sum256([]byte("apedge verify test key " + site))
	k, err := sitekey.FromSeed(site, seed[:])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// makeChain returns the envelopes of events 1..n of key's site; tag varies the
// payloads to make a fork.
func makeChain(t testing.TB, key *sitekey.Private, n int, tag string) [][]byte {
	t.Helper()
	b, err := event.NewBuilder(key.Site)
	if err != nil {
		t.Fatal(err)
	}
	prev := event.GenesisHash
	out := make([][]byte, n)
	for i := range out {
		seq := uint64(i + 1)
		info, _ := json.Marshal(map[string]string{"door": "front", "tag": tag})
		p, err := b.Build(seq, prev, &event.Draft{
			Type:       "curfew.breached",
			OccurredAt: time.Date(2025, 10, 26, 0, 0, 0, 0, time.UTC).Add(time.Duration(seq) * time.Minute),
			Person:     &event.PersonReference{Identifiers: []event.Identifier{{Type: "NOMS", Value: "A1234BC"}}},
			Info:       info,
		})
		if err != nil {
			t.Fatal(err)
		}
		prev = event.Hash(p)
		out[i] = envelope.Sign(key, p)
	}
	return out
}

func join(lines ...[]byte) []byte {
	var b bytes.Buffer
	for _, l := range lines {
		b.Write(l)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func TestExportValid(t *testing.T) {
	key := testKey(t, "ABC")
	envs := makeChain(t, key, 20, "")
	tests := []struct {
		name  string
		input []byte
		count int
	}{
		{"one", join(envs[0]), 1},
		{"twenty", join(envs...), 20},
		{"no final newline", bytes.TrimSuffix(join(envs[:3]...), []byte("\n")), 3},
		{"blank trailing lines", append(join(envs[:3]...), "\n\n"...), 3},
		{"shorter prefix", join(envs[:7]...), 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Export(bytes.NewReader(tt.input), key.Public())
			if err != nil {
				t.Fatal(err)
			}
			want := Result{Count: tt.count, FirstSeq: 1, LastSeq: uint64(tt.count), Site: "ABC"}
			if res != want {
				t.Fatalf("result %+v, want %+v", res, want)
			}
		})
	}
}

// edit returns a copy of lines with f applied.
func edit(lines [][]byte, f func([][]byte) [][]byte) []byte {
	c := make([][]byte, len(lines))
	for i := range lines {
		c[i] = bytes.Clone(lines[i])
	}
	return join(f(c)...)
}

func TestExportRefuses(t *testing.T) {
	key := testKey(t, "ABC")
	pub := key.Public()
	envs := makeChain(t, key, 20, "")
	fork := makeChain(t, key, 20, "fork")
	other := makeChain(t, testKey(t, "XYZ"), 3, "")
	rogue := makeChain(t, testKey(t, "ABC-ROGUE"), 3, "")
	decoded := func(env []byte) *envelope.Envelope {
		d, err := envelope.Decode(env)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	resign := func(k *sitekey.Private, env []byte, from, to string) []byte {
		return envelope.Sign(k, bytes.Replace(decoded(env).Payload, []byte(from), []byte(to), 1))
	}
	xyzPub := *pub
	xyzPub.Site = "XYZ"

	tests := []struct {
		name  string
		input []byte
		pub   *sitekey.Public
		want  string
		is    error
	}{
		{"empty", nil, pub, "verify: export holds no events", ErrEmpty},
		{"only blank lines", []byte("\n\n"), pub, "verify: export holds no events", ErrEmpty},
		{"payload changed", edit(envs[:20], func(l [][]byte) [][]byte {
			d := decoded(l[16])
			d.Payload = bytes.Replace(d.Payload, []byte("front"), []byte("frOnt"), 1)
			l[16] = envelope.Encode(d)
			return l
		}), pub, "line 17 (ABC-17): envelope: bad signature", envelope.ErrBadSignature},
		{"signature changed", edit(envs[:3], func(l [][]byte) [][]byte {
			d := decoded(l[1])
			d.Signatures[0].Sig[0] ^= 0x80
			l[1] = envelope.Encode(d)
			return l
		}), pub, "line 2 (ABC-2): envelope: bad signature", envelope.ErrBadSignature},
		{"removed from the middle", edit(envs[:20], func(l [][]byte) [][]byte {
			return append(l[:18], l[19:]...)
		}), pub, "line 19 (ABC-20): event: chain broken: seq 20 after 18", event.ErrChain},
		{"reordered", edit(envs[:5], func(l [][]byte) [][]byte {
			l[2], l[3] = l[3], l[2]
			return l
		}), pub, "line 3 (ABC-4): event: chain broken: seq 4 after 2", event.ErrChain},
		{"repeated", edit(envs[:5], func(l [][]byte) [][]byte {
			return append(l[:3], append([][]byte{l[2]}, l[3:]...)...)
		}), pub, "line 4 (ABC-3): event: chain broken: seq 3 after 3", event.ErrChain},
		{"forked event inserted in place", edit(envs[:5], func(l [][]byte) [][]byte {
			l[2] = fork[2]
			return l
		}), pub, "line 3 (ABC-3): event: chain broken: prevhash", event.ErrChain},
		{"does not start at 1", join(envs[1:4]...), pub, "line 1 (ABC-2): event: chain broken: export starts at seq 2, want 1", event.ErrChain},
		{"first prevhash not genesis", join(resign(key, envs[0], `"prevhash":"00`, `"prevhash":"01`)), pub, "line 1 (ABC-1): event: chain broken: prevhash 01", event.ErrChain},
		{"another site's event inserted", edit(envs[:3], func(l [][]byte) [][]byte {
			return append(l[:2], append([][]byte{other[2]}, l[2:]...)...)
		}), pub, "line 3 (XYZ-3): envelope: no signature by a trusted key: no signature by key", envelope.ErrUnknownKey},
		{"signed by another key", join(envs[0], rogue[1]), pub, "line 2 (ABC-ROGUE-2): envelope: no signature by a trusted key", envelope.ErrUnknownKey},
		{"key of another site", join(envs[:2]...), &xyzPub, "line 1 (ABC-1): verify: wrong site: event of site ABC, key of site XYZ", ErrWrongSite},
		{"not an envelope", []byte("hello\n"), pub, "line 1: envelope: malformed envelope", envelope.ErrMalformed},
		{"signed payload not an event", join(envs[0], envelope.Sign(key, []byte(`{"id":"ABC-2","seq":2}`))), pub, "line 2 (ABC-2): verify: malformed event", ErrMalformedEvent},
		{"re-encoded with spaces", edit(envs[:2], func(l [][]byte) [][]byte {
			l[1] = bytes.Replace(l[1], []byte(`","payload":"`), []byte(`", "payload":"`), 1)
			return l
		}), pub, "line 2 (ABC-2): verify: envelope is not canonically encoded", ErrNotCanonical},
		{"field renamed in another case", edit(envs[:2], func(l [][]byte) [][]byte {
			l[1] = bytes.Replace(l[1], []byte(`"keyid"`), []byte(`"KeyID"`), 1)
			return l
		}), pub, "line 2 (ABC-2): verify: envelope is not canonically encoded", ErrNotCanonical},
		{"CRLF line ends", bytes.ReplaceAll(join(envs[:2]...), []byte("\n"), []byte("\r\n")), pub, "line 1 (ABC-1): verify: envelope is not canonically encoded", ErrNotCanonical},
		{"blank line inside", append(append(join(envs[0]), '\n'), join(envs[1])...), pub, "line 2: verify: blank line inside the export", ErrBlankLine},
		{"line too long", []byte(strings.Repeat("x", envelope.MaxSize+10)), pub, "line 1: verify: line too long", ErrTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Export(bytes.NewReader(tt.input), tt.pub)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error %q\n  want prefix %q", err, tt.want)
			}
			if !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
		})
	}
	if _, err := Export(bytes.NewReader(join(envs[0])), &sitekey.Public{Key: pub.Key, ID: pub.ID}); err == nil {
		t.Error("accepted a key without a site")
	}
}

// TestEveryByteChangeFails changes each byte of a small export in turn, flipping each
// low, middle and high bit, and checks that no changed export verifies.
func TestEveryByteChangeFails(t *testing.T) {
	key := testKey(t, "ABC")
	export := join(makeChain(t, key, 3, "")...)
	n := 0
	for i := range export {
		for _, x := range []byte{0x01, 0x20, 0x80} {
			b := bytes.Clone(export)
			b[i] ^= x
			if _, err := Export(bytes.NewReader(b), key.Public()); err == nil {
				t.Fatalf("byte %d ^ %#x (%q -> %q) still verifies", i, x, export[i], b[i])
			}
			n++
		}
	}
	t.Logf("%d changed exports all refused", n)
}

// TestGolden checks testdata/export.jsonl against testdata/ABC.pub and each
// testdata/bad/*.jsonl against the error in its .err file (-update rewrites them).
func TestGolden(t *testing.T) {
	key := testKey(t, "ABC")
	envs := makeChain(t, key, 5, "")
	if *update {
		writeGolden(t, key, envs)
	}
	pub, err := sitekey.LoadPublic(filepath.Join("testdata", "ABC.pub"), "")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join("testdata", "export.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if res, err := Export(f, pub); err != nil || res.Count != 5 || res.Site != "ABC" {
		t.Fatalf("golden export: %+v, %v", res, err)
	}
	bad, _ := filepath.Glob(filepath.Join("testdata", "bad", "*.jsonl"))
	if len(bad) == 0 {
		t.Fatal("no testdata/bad/*.jsonl")
	}
	for _, path := range bad {
		t.Run(filepath.Base(path), func(t *testing.T) {
			in, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(strings.TrimSuffix(path, ".jsonl") + ".err")
			if err != nil {
				t.Fatal(err)
			}
			_, err = Export(bytes.NewReader(in), pub)
			if err == nil || err.Error() != strings.TrimSpace(string(want)) {
				t.Fatalf("error %v\n want %s", err, want)
			}
		})
	}
}

func writeGolden(t *testing.T, key *sitekey.Private, envs [][]byte) {
	t.Helper()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join("testdata", "bad"), 0o755))
	must(os.WriteFile(filepath.Join("testdata", "ABC.pub"), sitekey.EncodePublic(key.Public()), 0o644))
	good := join(envs...)
	must(os.WriteFile(filepath.Join("testdata", "export.jsonl"), good, 0o644))
	d, _ := envelope.Decode(envs[3])
	d.Payload = bytes.Replace(d.Payload, []byte(`"door":"front"`), []byte(`"door":"back"`), 1)
	bad := map[string][]byte{
		"tampered-payload": join(envs[0], envs[1], envs[2], envelope.Encode(d), envs[4]),
		"removed-event":    join(envs[0], envs[1], envs[3], envs[4]),
		"reordered":        join(envs[0], envs[2], envs[1], envs[3], envs[4]),
		"duplicated":       join(envs[0], envs[1], envs[1], envs[2]),
		"starts-late":      join(envs[2:]...),
		"empty":            nil,
	}
	fuzzDir := filepath.Join("testdata", "fuzz", "FuzzExport")
	must(os.MkdirAll(fuzzDir, 0o755))
	must(os.WriteFile(filepath.Join(fuzzDir, "good"), fuzzFile(good), 0o644))
	for name, in := range bad {
		_, err := Export(bytes.NewReader(in), key.Public())
		if err == nil {
			t.Fatalf("%s verifies", name)
		}
		must(os.WriteFile(filepath.Join("testdata", "bad", name+".jsonl"), in, 0o644))
		must(os.WriteFile(filepath.Join("testdata", "bad", name+".err"), []byte(err.Error()+"\n"), 0o644))
		must(os.WriteFile(filepath.Join(fuzzDir, name), fuzzFile(in), 0o644))
	}
}

// fuzzFile encodes one []byte input in the go test fuzz corpus format.
func fuzzFile(b []byte) []byte {
	return []byte("go test fuzz v1\n[]byte(" + strconv.Quote(string(b)) + ")\n")
}

// FuzzExport feeds arbitrary input to Export and checks that it never panics and
// accepts only what is genuinely a prefix of the site's chain: since the fuzzer cannot
// sign, an accepted input must be, line for line, the first Count genuine envelopes
// (then blank lines at most). Seeds are in testdata/fuzz/FuzzExport.
func FuzzExport(f *testing.F) {
	key := testKey(f, "ABC")
	envs := makeChain(f, key, 5, "")
	f.Add(join(envs...))
	f.Add(join(envs[0], envs[2]))
	pub := key.Public()
	f.Fuzz(func(t *testing.T, in []byte) {
		res, err := Export(bytes.NewReader(in), pub)
		if err != nil {
			var le *LineError
			if !errors.As(err, &le) && !errors.Is(err, ErrEmpty) {
				t.Fatalf("error is neither a LineError nor ErrEmpty: %v", err)
			}
			return
		}
		if res.Count < 1 || res.Count > len(envs) || res.FirstSeq != 1 || res.LastSeq != uint64(res.Count) || res.Site != "ABC" {
			t.Fatalf("result %+v", res)
		}
		lines := bytes.Split(in, []byte("\n"))
		for i, l := range lines {
			switch {
			case i < res.Count && !bytes.Equal(l, envs[i]):
				t.Fatalf("line %d accepted but is not the genuine envelope: %q", i+1, l)
			case i >= res.Count && len(l) != 0:
				t.Fatalf("line %d after the last event is not blank: %q", i+1, l)
			}
		}
	})
}
