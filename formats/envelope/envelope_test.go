package envelope_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/apedge/apedge/formats/envelope"
	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/sitekey"
)

var update = flag.Bool("update", false, "rewrite the golden vectors in testdata/")

// goldenSeed is the RFC 8032 seed of the golden-vector site key: bytes 0x00..0x1f.
func goldenKey(t testing.TB) *sitekey.Private {
	seed := make([]byte, 32)
	for i := range seed {
		seed[i] = byte(i)
	}
	k, err := sitekey.FromSeed("GOLD1", seed)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// goldenChain builds the golden vectors' two events.
func goldenChain(t testing.TB) (payloads, envs [][]byte) {
	k := goldenKey(t)
	b, err := event.NewBuilder("GOLD1")
	if err != nil {
		t.Fatal(err)
	}
	drafts := []*event.Draft{
		{Type: "agent.started", OccurredAt: time.Date(2026, 3, 29, 0, 59, 59, 0, time.UTC), Info: json.RawMessage(`{"version":"0.1.0"}`)},
		{Type: "movement.exited", OccurredAt: time.Date(2026, 3, 29, 1, 0, 0, 500_000_000, time.UTC),
			Person: &event.PersonReference{Identifiers: []event.Identifier{{Type: "CRN", Value: "X123456"}, {Type: "NOMS", Value: "A1234BC"}}},
			Info:   json.RawMessage(`{"door":"front","reader":"front-out","credential":{"kind":"card"}}`)},
	}
	prev := event.GenesisHash
	for i, d := range drafts {
		p, err := b.Build(uint64(i+1), prev, d)
		if err != nil {
			t.Fatal(err)
		}
		prev = event.Hash(p)
		payloads = append(payloads, p)
		envs = append(envs, envelope.Sign(k, p))
	}
	return payloads, envs
}

// TestGolden pins the event and envelope bytes so that another implementation can check
// itself against testdata/: golden.key (PEM PKCS #8 private key), golden.pub, and
// golden.jsonl (one envelope per line, a two-event chain).
func TestGolden(t *testing.T) {
	k := goldenKey(t)
	payloads, envs := goldenChain(t)
	der, _ := os.ReadFile(filepath.Join("testdata", "golden.pub"))
	var lines, events bytes.Buffer
	for i, e := range envs {
		lines.Write(e)
		lines.WriteByte('\n')
		events.Write(payloads[i])
		events.WriteByte('\n')
	}
	pub := sitekey.EncodePublic(k.Public())
	if *update {
		dir := t.TempDir()
		if _, _, err := sitekey.Write(dir, k); err != nil {
			t.Fatal(err)
		}
		priv, _ := os.ReadFile(filepath.Join(dir, "GOLD1.key"))
		os.WriteFile(filepath.Join("testdata", "golden.key"), priv, 0o600)
		os.WriteFile(filepath.Join("testdata", "golden.pub"), pub, 0o644)
		os.WriteFile(filepath.Join("testdata", "golden.jsonl"), lines.Bytes(), 0o644)
		os.WriteFile(filepath.Join("testdata", "golden-events.jsonl"), events.Bytes(), 0o644)
		der = pub
	}
	if !bytes.Equal(der, pub) {
		t.Errorf("golden.pub differs from the key made from the golden seed:\n%s\nwant\n%s", der, pub)
	}
	want, err := os.ReadFile(filepath.Join("testdata", "golden.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(want, lines.Bytes()) {
		t.Errorf("envelopes differ from testdata/golden.jsonl (run go test -update if the format changed on purpose):\n got %s\nwant %s", lines.Bytes(), want)
	}
	privFile, err := os.ReadFile(filepath.Join("testdata", "golden.key"))
	if err != nil {
		t.Fatal(err)
	}
	pk, err := sitekey.ParsePrivate(privFile)
	if err != nil || pk.ID != k.ID {
		t.Fatalf("golden.key: %v (id %v, want %s)", err, pk, k.ID)
	}
	wantEvents, err := os.ReadFile(filepath.Join("testdata", "golden-events.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(wantEvents, events.Bytes()) {
		t.Errorf("event payloads differ from testdata/golden-events.jsonl:\n got %s\nwant %s", events.Bytes(), wantEvents)
	}
}

func TestSignVerify(t *testing.T) {
	k := goldenKey(t)
	other, _ := sitekey.Generate("OTHER", nil)
	payloads, envs := goldenChain(t)
	tests := []struct {
		name   string
		raw    []byte
		key    *sitekey.Public
		wantIs error
	}{
		{"valid", envs[0], k.Public(), nil},
		{"other key", envs[0], other.Public(), envelope.ErrUnknownKey},
		{"payload byte changed", bytes.Replace(envs[0], []byte(`"payload":"ey`), []byte(`"payload":"fy`), 1), k.Public(), envelope.ErrBadSignature},
		{"signature changed", flipSig(t, envs[1]), k.Public(), envelope.ErrBadSignature},
		{"url base64 refused", []byte(`{"payloadType":"application/vnd.apedge.event.v1+json","payload":"-_8=","signatures":[{"keyid":"x","sig":"AA=="}]}`), k.Public(), envelope.ErrMalformed},
		{"wrong type", []byte(`{"payloadType":"text/plain","payload":"","signatures":[{"keyid":"x","sig":""}]}`), k.Public(), envelope.ErrPayloadType},
		{"no signatures", []byte(`{"payloadType":"application/vnd.apedge.event.v1+json","payload":"","signatures":[]}`), k.Public(), envelope.ErrMalformed},
		{"not json", []byte(`{`), k.Public(), envelope.ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := envelope.Decode(tc.raw)
			if err == nil {
				err = e.Verify(tc.key)
			}
			if tc.wantIs == nil {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				if !bytes.Equal(e.Payload, payloads[0]) {
					t.Fatal("payload bytes changed in transit")
				}
				return
			}
			if !errors.Is(err, tc.wantIs) {
				t.Fatalf("err = %v, want %v", err, tc.wantIs)
			}
		})
	}
}

func flipSig(t *testing.T, env []byte) []byte {
	var m map[string]any
	if err := json.Unmarshal(env, &m); err != nil {
		t.Fatal(err)
	}
	sigs := m["signatures"].([]any)
	s := sigs[0].(map[string]any)
	sig := []byte(s["sig"].(string))
	if sig[0] == 'A' {
		sig[0] = 'B'
	} else {
		sig[0] = 'A'
	}
	s["sig"] = string(sig)
	b, _ := json.Marshal(m)
	return b
}

func TestTrustStore(t *testing.T) {
	k := goldenKey(t)
	_, envs := goldenChain(t)
	ts := envelope.TrustStore{}
	e, _ := envelope.Decode(envs[0])
	if _, err := ts.Verify(e); !errors.Is(err, envelope.ErrUnknownKey) {
		t.Fatalf("empty store: %v", err)
	}
	ts.Add(k.Public())
	p, err := ts.Verify(e)
	if err != nil || p.Site != "GOLD1" {
		t.Fatalf("Verify = %v, %v", p, err)
	}
	if hex.EncodeToString(k.Public().Key) == "" {
		t.Fatal("empty key")
	}
}

// FuzzDecode feeds arbitrary bytes to the envelope decoder and verifier: no panic, and
// nothing but the golden key's own envelopes verifies.
func FuzzDecode(f *testing.F) {
	_, envs := goldenChain(f)
	for _, e := range envs {
		f.Add(e)
	}
	bad, _ := filepath.Glob(filepath.Join("testdata", "bad", "*"))
	for _, p := range bad {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	k := goldenKey(f)
	pub := k.Public()
	valid := map[string]bool{}
	for _, e := range envs {
		d, _ := envelope.Decode(e)
		valid[string(d.Payload)] = true
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := envelope.Decode(b)
		if err != nil {
			return
		}
		if e.Verify(pub) == nil && !valid[string(e.Payload)] {
			t.Fatalf("forged envelope verified: %q", b)
		}
	})
}

// TestBadCorpus checks that every envelope in testdata/bad is refused.
func TestBadCorpus(t *testing.T) {
	k := goldenKey(t)
	bad, _ := filepath.Glob(filepath.Join("testdata", "bad", "*"))
	if len(bad) == 0 {
		t.Fatal("no bad corpus")
	}
	for _, p := range bad {
		b, _ := os.ReadFile(p)
		e, err := envelope.Decode(b)
		if err == nil {
			err = e.Verify(k.Public())
		}
		if err == nil {
			t.Errorf("%s: accepted", p)
		}
	}
}
