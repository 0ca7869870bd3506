package proof

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/apedge/apedge/formats/sitekey"
)

func testCheckpoint(size uint64) Checkpoint {
	return Checkpoint{Origin: Origin(goldenSite), Size: size, Root: LeafHash([]byte(fmt.Sprint("root ", size)))}
}

func TestCheckpointBody(t *testing.T) {
	c := Checkpoint{Origin: "apedge/ABC", Size: 20852163, Root: tlog.Hash{0xff}}
	want := "apedge/ABC\n20852163\n/wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
	if got := string(c.Body()); got != want {
		t.Fatalf("Body() = %q, want %q", got, want)
	}
	got, err := ParseCheckpoint([]byte(want))
	if err != nil || got != c {
		t.Fatalf("ParseCheckpoint = %+v, %v", got, err)
	}
	// The example of c2sp.org/tlog-checkpoint parses.
	spec := "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
	if c, err := ParseCheckpoint([]byte(spec)); err != nil || c.Size != 20852163 || string(c.Body()) != spec {
		t.Fatalf("spec example: %+v, %v", c, err)
	}
}

func TestParseCheckpoint(t *testing.T) {
	root := base64.StdEncoding.EncodeToString(make([]byte, 32))
	tests := []struct {
		name, body string
		ok         bool
		size       uint64
	}{
		{"plain", "apedge/ABC\n5\n" + root + "\n", true, 5},
		{"empty tree", "apedge/ABC\n0\n" + root + "\n", true, 0},
		{"largest", fmt.Sprintf("apedge/ABC\n%d\n%s\n", MaxTreeSize, root), true, MaxTreeSize},
		{"extension lines ignored", "apedge/ABC\n5\n" + root + "\nsome extension\nanother\n", true, 5},
		{"empty", "", false, 0},
		{"no final newline", "apedge/ABC\n5\n" + root, false, 0},
		{"two lines", "apedge/ABC\n5\n", false, 0},
		{"empty origin", "\n5\n" + root + "\n", false, 0},
		{"origin with space", "apedge ABC\n5\n" + root + "\n", false, 0},
		{"origin with plus", "apedge+ABC\n5\n" + root + "\n", false, 0},
		{"leading zero", "apedge/ABC\n05\n" + root + "\n", false, 0},
		{"double zero", "apedge/ABC\n00\n" + root + "\n", false, 0},
		{"sign", "apedge/ABC\n+5\n" + root + "\n", false, 0},
		{"negative", "apedge/ABC\n-5\n" + root + "\n", false, 0},
		{"empty size", "apedge/ABC\n\n" + root + "\n", false, 0},
		{"hex size", "apedge/ABC\n0x5\n" + root + "\n", false, 0},
		{"size with space", "apedge/ABC\n5 \n" + root + "\n", false, 0},
		{"too large", fmt.Sprintf("apedge/ABC\n%d\n%s\n", MaxTreeSize+1, root), false, 0},
		{"uint64 overflow", "apedge/ABC\n18446744073709551616\n" + root + "\n", false, 0},
		{"huge", "apedge/ABC\n" + strings.Repeat("9", 100) + "\n" + root + "\n", false, 0},
		{"short root", "apedge/ABC\n5\n" + base64.StdEncoding.EncodeToString(make([]byte, 31)) + "\n", false, 0},
		{"long root", "apedge/ABC\n5\n" + base64.StdEncoding.EncodeToString(make([]byte, 33)) + "\n", false, 0},
		{"unpadded root", "apedge/ABC\n5\n" + strings.TrimSuffix(root, "=") + "\n", false, 0},
		{"url base64 root", "apedge/ABC\n5\n" + base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32)) + "\n", false, 0},
		{"non-canonical root", "apedge/ABC\n5\n" + root[:42] + "B=\n", false, 0},
		{"not base64", "apedge/ABC\n5\n" + strings.Repeat("!", 43) + "=\n", false, 0},
		{"empty extension line", "apedge/ABC\n5\n" + root + "\n\next\n", false, 0},
		{"blank line at end", "apedge/ABC\n5\n" + root + "\n\n", false, 0},
		{"crlf", "apedge/ABC\r\n5\r\n" + root + "\r\n", false, 0},
		{"cr in root", "apedge/ABC\n5\n" + root[:20] + "\r" + root[20:] + "\n", false, 0},
		{"nul", "apedge/ABC\x00\n5\n" + root + "\n", false, 0},
		{"invalid UTF-8", "apedge/\xff\n5\n" + root + "\n", false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseCheckpoint([]byte(tc.body))
			if !tc.ok {
				if err == nil || !errors.Is(err, ErrMalformedCheckpoint) || !errors.Is(err, ErrCheckpoint) {
					t.Fatalf("accepted %q: %+v, %v", tc.body, c, err)
				}
				return
			}
			if err != nil || c.Size != tc.size || c.Origin != "apedge/ABC" {
				t.Fatalf("%+v, %v", c, err)
			}
		})
	}
}

func TestSignOpenCheckpoint(t *testing.T) {
	key, rot, other := goldenKey(t), rotatedKey(t), otherKey(t)
	c := testCheckpoint(5)
	msg, err := SignCheckpoint(key, c)
	if err != nil {
		t.Fatal(err)
	}
	keys := goldenKeys(t)
	got, by, err := OpenCheckpoint(msg, goldenSite, keys)
	if err != nil || got != c || by.ID != key.ID {
		t.Fatalf("OpenCheckpoint = %+v, %v, %v", got, by, err)
	}
	// The note is the body, a blank line and one signature line by apedge/GOLD1.
	body, sig, ok := bytes.Cut(msg, []byte("\n\n"))
	if !ok || string(body)+"\n" != string(c.Body()) || !bytes.HasPrefix(sig, []byte("— apedge/GOLD1 ")) || bytes.Count(sig, []byte("\n")) != 1 {
		t.Fatalf("signed note:\n%s", msg)
	}

	rotMsg, err := SignCheckpoint(rot, c)
	if err != nil {
		t.Fatal(err)
	}
	forged := forgeNote(t, other, Origin(goldenSite), c.Body())
	wrongOrigin := forgeNote(t, key, Origin(goldenSite), Checkpoint{Origin: Origin("OTHER"), Size: 5, Root: c.Root}.Body())
	otherMsg, err := SignCheckpoint(other, Checkpoint{Origin: Origin("OTHER"), Size: 5, Root: c.Root})
	if err != nil {
		t.Fatal(err)
	}
	witness := witnessSign(t, msg)
	replace := func(old, new string) []byte { return bytes.Replace(msg, []byte(old), []byte(new), 1) }
	rootB64 := c.Root.String()
	flipped := c.Root
	flipped[7] ^= 0x10

	tests := []struct {
		name   string
		msg    []byte
		site   string
		keys   []*sitekey.Public
		want   error
		signer string
	}{
		{"rotated key listed", rotMsg, goldenSite, keys, nil, rot.ID},
		{"rotated key listed first", rotMsg, goldenSite, []*sitekey.Public{keys[1], keys[0]}, nil, rot.ID},
		{"keys of other sites ignored", msg, goldenSite, []*sitekey.Public{other.Public(), nil, keys[0]}, nil, key.ID},
		{"key listed twice", msg, goldenSite, []*sitekey.Public{keys[0], keys[0]}, nil, key.ID},
		{"witness cosignature ignored", witness, goldenSite, keys, nil, key.ID},
		{"rotated key not listed", rotMsg, goldenSite, keys[:1], ErrUnknownSigner, ""},
		{"no keys", msg, goldenSite, nil, ErrUnknownSigner, ""},
		{"only another site's key", msg, goldenSite, []*sitekey.Public{other.Public()}, ErrUnknownSigner, ""},
		{"signed by another site", otherMsg, goldenSite, append(keys, other.Public()), ErrUnknownSigner, ""},
		{"forged under the site's name", forged, goldenSite, append(keys, other.Public()), ErrUnknownSigner, ""},
		{"opened as another site", msg, "OTHER", append(keys, other.Public()), ErrUnknownSigner, ""},
		{"wrong origin", wrongOrigin, goldenSite, keys, ErrWrongOrigin, ""},
		{"tampered size", replace("\n5\n", "\n6\n"), goldenSite, keys, ErrCheckpointSignature, ""},
		{"tampered root", replace(rootB64, flipped.String()), goldenSite, keys, ErrCheckpointSignature, ""},
		{"tampered origin", replace("apedge/GOLD1\n", "apedge/GOLD2\n"), goldenSite, keys, ErrCheckpointSignature, ""},
		{"tampered signature", tamperSig(t, msg, 10), goldenSite, keys, ErrCheckpointSignature, ""},
		{"non-canonical signature", tamperSig(t, msg, -1), goldenSite, keys, ErrMalformedCheckpoint, ""},
		{"extension line added", replace(rootB64+"\n", rootB64+"\next\n"), goldenSite, keys, ErrCheckpointSignature, ""},
		{"no signature", c.Body(), goldenSite, keys, ErrMalformedCheckpoint, ""},
		{"truncated", msg[:len(msg)-5], goldenSite, keys, ErrMalformedCheckpoint, ""},
		{"too large", append(bytes.Repeat([]byte("x"), MaxCheckpointSize), msg...), goldenSite, keys, ErrMalformedCheckpoint, ""},
		{"bad site code", msg, "apedge/GOLD1", keys, ErrCheckpoint, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, by, err := OpenCheckpoint(tc.msg, tc.site, tc.keys)
			if tc.want != nil {
				if !errors.Is(err, tc.want) || !errors.Is(err, ErrCheckpoint) || by != nil {
					t.Fatalf("got %+v by %v, %v; want %v", got, by, err, tc.want)
				}
				if !strings.HasPrefix(err.Error(), "proof: ") {
					t.Errorf("error %q lacks the package prefix", err)
				}
				t.Log(err)
				return
			}
			if err != nil || got != c || by.ID != tc.signer {
				t.Fatalf("got %+v by %v, %v", got, by, err)
			}
		})
	}
}

// forgeNote signs body with k under name, whatever the body says.
func forgeNote(t testing.TB, k *sitekey.Private, name string, body []byte) []byte {
	t.Helper()
	s, err := newSigner(k, name)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := note.Sign(&note.Note{Text: string(body)}, s)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// witnessSign adds a cosignature by an unknown witness key to a signed note.
func witnessSign(t testing.TB, msg []byte) []byte {
	t.Helper()
	n, err := note.Open(msg, note.VerifierList())
	var unverified *note.UnverifiedNoteError
	if !errors.As(err, &unverified) {
		t.Fatalf("note.Open: %v, %v", n, err)
	}
	w, err := newSigner(seedKey(t, "WITNESS", 0x60), "witness.example/w1")
	if err != nil {
		t.Fatal(err)
	}
	out, err := note.Sign(unverified.Note, w)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tamperSig changes the signature of a one-signature note: the base64 character at
// index i of the signature is replaced by another, or for i < 0 the unused low bits of
// its last character are flipped, which leaves the decoded signature as it was.
func tamperSig(t testing.TB, msg []byte, i int) []byte {
	t.Helper()
	out := bytes.Clone(msg)
	start := bytes.LastIndexByte(out[:len(out)-1], ' ') + 1
	sig := out[start : len(out)-1]
	if i < 0 {
		i = bytes.IndexByte(sig, '=') - 1
		sig[i] = b64Alphabet[strings.IndexByte(b64Alphabet, sig[i])^1]
		return out
	}
	sig[i] = b64Alphabet[(strings.IndexByte(b64Alphabet, sig[i])+1)%64]
	return out
}

func TestSignCheckpointRefuses(t *testing.T) {
	key := goldenKey(t)
	tests := []struct {
		name string
		k    *sitekey.Private
		c    Checkpoint
	}{
		{"other origin", key, Checkpoint{Origin: Origin("OTHER"), Size: 1}},
		{"bare site", key, Checkpoint{Origin: goldenSite, Size: 1}},
		{"too large", key, Checkpoint{Origin: Origin(goldenSite), Size: MaxTreeSize + 1}},
		{"nil key", nil, testCheckpoint(1)},
		{"short key", &sitekey.Private{Site: goldenSite, Key: key.Key[:10]}, testCheckpoint(1)},
		{"bad site", &sitekey.Private{Site: "a b", Key: key.Key}, Checkpoint{Origin: Origin("a b"), Size: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if msg, err := SignCheckpoint(tc.k, tc.c); err == nil || !strings.HasPrefix(err.Error(), "proof: ") {
				t.Fatalf("signed %q, %v", msg, err)
			}
		})
	}
}

// TestNoteKeys checks that the key hash and signatures are those of the note package's
// own key strings: "PRIVATE+KEY+<name>+<hash>+<base64(0x01||seed)>" and
// "<name>+<hash>+<base64(0x01||pubkey)>".
func TestNoteKeys(t *testing.T) {
	for _, k := range []*sitekey.Private{goldenKey(t), rotatedKey(t), otherKey(t)} {
		name := Origin(k.Site)
		pub := k.Key.Public().(ed25519.PublicKey)
		h := KeyHash(name, pub)
		skey := fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", name, h, base64.StdEncoding.EncodeToString(append([]byte{1}, k.Key.Seed()...)))
		vkey := fmt.Sprintf("%s+%08x+%s", name, h, base64.StdEncoding.EncodeToString(append([]byte{1}, pub...)))
		if got, err := VerifierKey(k.Public()); err != nil || got != vkey {
			t.Fatalf("VerifierKey = %q, %v; want %q", got, err, vkey)
		}
		ns, err := note.NewSigner(skey)
		if err != nil {
			t.Fatalf("note.NewSigner: %v", err)
		}
		nv, err := note.NewVerifier(vkey)
		if err != nil || nv.KeyHash() != h {
			t.Fatalf("note.NewVerifier: %v", err)
		}
		c := Checkpoint{Origin: name, Size: 3, Root: LeafHash([]byte("r"))}
		ours, err := SignCheckpoint(k, c)
		if err != nil {
			t.Fatal(err)
		}
		theirs, err := note.Sign(&note.Note{Text: string(c.Body())}, ns)
		if err != nil || !bytes.Equal(ours, theirs) {
			t.Fatalf("signatures differ:\n%s\n%s", ours, theirs)
		}
		if n, err := note.Open(ours, note.VerifierList(nv)); err != nil || n.Text != string(c.Body()) {
			t.Fatalf("note.Open: %v", err)
		}
	}
	if _, err := VerifierKey(&sitekey.Public{Site: goldenSite, Key: make([]byte, 5)}); err == nil {
		t.Error("VerifierKey of a 5-byte key succeeded")
	}
	if _, err := VerifierKey(nil); err == nil {
		t.Error("VerifierKey(nil) succeeded")
	}
}

// TestBadCheckpoints checks that every file in testdata/bad/checkpoint is refused with
// the error its table entry names, and that the files are what the table makes
// (-update rewrites them).
func TestBadCheckpoints(t *testing.T) {
	cases := badCheckpoints(t)
	dir := filepath.Join("testdata", "bad", "checkpoint")
	if *update {
		writeCorpus(t, dir, cases)
	}
	checkCorpus(t, dir, cases, func(in []byte) error {
		_, _, err := OpenCheckpoint(in, goldenSite, goldenKeys(t))
		return err
	})
}

// badCase is one file of a corpus of bad inputs.
type badCase struct {
	name string
	data []byte
	want error
}

// badCheckpoints are signed checkpoints that OpenCheckpoint must refuse for the golden
// site.
func badCheckpoints(t testing.TB) []badCase {
	key, other := goldenKey(t), otherKey(t)
	payloads := makePayloads(t, goldenSite, 5)
	good := checkpointOf(t, key, payloads, 5)
	root, _ := TreeHashOf(payloads)
	rootB64 := root.String()
	origin := Origin(goldenSite)
	sign := func(body string) []byte { return forgeNote(t, key, origin, []byte(body)) }
	return []badCase{
		{"truncated.txt", good[:len(good)/2], ErrMalformedCheckpoint},
		{"truncated-signature.txt", good[:len(good)-10], ErrMalformedCheckpoint},
		{"no-signature.txt", Checkpoint{Origin: origin, Size: 5, Root: root}.Body(), ErrMalformedCheckpoint},
		{"bad-base64-root.txt", sign(origin + "\n5\n" + strings.Repeat("!", 43) + "=\n"), ErrMalformedCheckpoint},
		{"short-root.txt", sign(origin + "\n5\n" + base64.StdEncoding.EncodeToString(root[:31]) + "\n"), ErrMalformedCheckpoint},
		{"non-canonical-root.txt", sign(origin + "\n5\n" + flipUnusedBit(rootB64) + "\n"), ErrMalformedCheckpoint},
		{"size-leading-zero.txt", sign(origin + "\n05\n" + rootB64 + "\n"), ErrMalformedCheckpoint},
		{"huge-size.txt", sign(origin + "\n18446744073709551616\n" + rootB64 + "\n"), ErrMalformedCheckpoint},
		{"size-over-max.txt", sign(fmt.Sprintf("%s\n%d\n%s\n", origin, MaxTreeSize+1, rootB64)), ErrMalformedCheckpoint},
		{"negative-size.txt", sign(origin + "\n-5\n" + rootB64 + "\n"), ErrMalformedCheckpoint},
		{"empty-extension-line.txt", sign(origin + "\n5\n" + rootB64 + "\n\next\n"), ErrMalformedCheckpoint},
		{"crlf.txt", bytes.ReplaceAll(good, []byte("\n"), []byte("\r\n")), ErrMalformedCheckpoint},
		{"non-canonical-signature.txt", tamperSig(t, good, -1), ErrMalformedCheckpoint},
		{"wrong-origin.txt", sign(Origin("OTHER") + "\n5\n" + rootB64 + "\n"), ErrWrongOrigin},
		{"other-site.txt", checkpointOf(t, other, makePayloads(t, "OTHER", 5), 5), ErrUnknownSigner},
		{"forged-by-other-key.txt", forgeNote(t, other, origin, []byte(origin+"\n5\n"+rootB64+"\n")), ErrUnknownSigner},
		{"tampered-size.txt", bytes.Replace(good, []byte("\n5\n"), []byte("\n6\n"), 1), ErrCheckpointSignature},
		{"tampered-signature.txt", tamperSig(t, good, 20), ErrCheckpointSignature},
	}
}

const b64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// flipUnusedBit flips the lowest bit of the last base64 character before the padding of
// s, which base64 decoders that are not strict ignore.
func flipUnusedBit(s string) string {
	i := strings.IndexByte(s, '=') - 1
	return s[:i] + string(b64Alphabet[strings.IndexByte(b64Alphabet, s[i])^1]) + s[i+1:]
}

// writeCorpus replaces dir's files with cases.
func writeCorpus(t *testing.T, dir string, cases []badCase) {
	t.Helper()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		if err := os.WriteFile(filepath.Join(dir, c.name), c.data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// checkCorpus checks that dir holds exactly cases, each refused by check with its error.
func checkCorpus(t *testing.T, dir string, cases []badCase, check func([]byte) error) {
	t.Helper()
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(cases) {
		t.Errorf("%s holds %d files, the table %d (go test -update rewrites them)", dir, len(files), len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join(dir, c.name))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(in, c.data) {
				t.Errorf("file differs from what the test makes (go test -update rewrites it)")
			}
			err = check(in)
			if !errors.Is(err, c.want) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
			if !strings.HasPrefix(err.Error(), "proof: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			t.Log(err)
		})
	}
}

// checkpointSeeds returns the golden checkpoint and the bad ones, for fuzzing.
func checkpointSeeds(t testing.TB) [][]byte {
	var out [][]byte
	if b, err := os.ReadFile(filepath.Join("testdata", "golden.checkpoint")); err == nil {
		out = append(out, b)
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "bad", "checkpoint", "*"))
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil {
			out = append(out, b)
		}
	}
	if len(out) < 2 {
		t.Fatal("no checkpoint seeds in testdata")
	}
	return out
}

func FuzzParseCheckpoint(f *testing.F) {
	for _, s := range checkpointSeeds(f) {
		body, _, _ := bytes.Cut(s, []byte("\n\n"))
		f.Add(append(body, '\n'))
		f.Add(s)
	}
	f.Add([]byte("apedge/A\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\next\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := ParseCheckpoint(body)
		if err != nil {
			if !errors.Is(err, ErrMalformedCheckpoint) {
				t.Fatalf("error %v is not ErrMalformedCheckpoint", err)
			}
			return
		}
		again, err := ParseCheckpoint(c.Body())
		if err != nil || again != c {
			t.Fatalf("Body() of %+v parses as %+v, %v", c, again, err)
		}
		if bytes.Count(body, []byte("\n")) == 3 && !bytes.Equal(body, c.Body()) {
			t.Fatalf("%q parsed to %+v, whose body is %q", body, c, c.Body())
		}
	})
}

func FuzzOpenCheckpoint(f *testing.F) {
	for _, s := range checkpointSeeds(f) {
		f.Add(s, goldenSite)
	}
	f.Add([]byte("x\n\n— apedge/GOLD1 AAAAAAAA\n"), goldenSite)
	keys := goldenKeys(f)
	f.Fuzz(func(t *testing.T, msg []byte, site string) {
		c, by, err := OpenCheckpoint(msg, site, keys)
		if err != nil {
			if !errors.Is(err, ErrCheckpoint) {
				t.Fatalf("error %v is not ErrCheckpoint", err)
			}
			return
		}
		if c.Origin != Origin(site) || by == nil || by.Site != site {
			t.Fatalf("accepted %+v by %v for site %q", c, by, site)
		}
	})
}

// BenchmarkSignCheckpoint measures signing a checkpoint.
func BenchmarkSignCheckpoint(b *testing.B) {
	key := goldenKey(b)
	c := testCheckpoint(1 << 20)
	for b.Loop() {
		if _, err := SignCheckpoint(key, c); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checkpoints/s")
}
