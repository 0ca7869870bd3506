package central

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/apedge/apedge/formats/envelope"
	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/uplink"
)

// badCase is one file of testdata/bad: a message the receiver must refuse, sent after
// the preamble (ABC events 1..3) to a receiver with MaxHeld 1.
type badCase struct {
	Note    string `json:"note"`
	Topic   string `json:"topic"`
	Want    Reason `json:"want"`
	Message string `json:"message"` // the raw message, byte for byte
}

// preamble is what the receiver stores before each bad case: ABC events 1..3.
func preamble(t testing.TB) [][]byte { return makeChain(t, testKey(t, "ABC"), 3) }

// genBad builds the bad corpus deterministically from the test keys.
func genBad(t testing.TB) map[string]badCase {
	abcKey, xyzKey, rogue := testKey(t, "ABC"), testKey(t, "XYZ"), testKey(t, "ROGUE")
	abc := makeChain(t, abcKey, 12)
	topic := uplink.EventsTopic("ABC")
	batch := func(envs ...[]byte) string { return string(uplink.EncodeBatch(envs)) }
	decoded := func(env []byte) *envelope.Envelope {
		d, err := envelope.Decode(env)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	// Envelopes built by hand around a signed payload.
	raw := func(payloadType, payload string, sigs ...string) []byte {
		s := fmt.Sprintf(`{"payloadType":%q,"payload":%q,"signatures":[%s]}`, payloadType, payload, strings.Join(sigs, ","))
		return []byte(s)
	}
	b64 := base64.StdEncoding.EncodeToString
	sig := func(d *envelope.Envelope) string {
		return fmt.Sprintf(`{"keyid":%q,"sig":%q}`, d.Signatures[0].KeyID, b64(d.Signatures[0].Sig))
	}
	env4 := decoded(abc[3])

	// Payload of seq 4 altered after signing.
	altered := *env4
	altered.Payload = bytes.Replace(env4.Payload, []byte(`"front"`), []byte(`"fr0nt"`), 1)
	// Seq 4 with its id changed, then signed: a valid signature over a bad event.
	badID := envelope.Sign(abcKey, bytes.Replace(env4.Payload, []byte(`"ABC-4"`), []byte(`"ABC-5"`), 1))
	// Seq 4 whose prevhash is not the hash of seq 3.
	breaker := newChain(t, abcKey)
	breaker.tag = "break"
	brokenPayload := breaker.payload(4, event.Hash([]byte("not seq 3")))
	// Seq 2 with a different payload, properly chained to seq 1.
	fork := newChain(t, abcKey)
	fork.tag = "fork"
	forked := fork.take(2)
	// Seq 4 validly signed, in an envelope with the signature's fields swapped.
	notCanonical := []byte(fmt.Sprintf(`{"payloadType":%q,"payload":%q,"signatures":[{"sig":%q,"keyid":%q}]}`,
		env4.PayloadType, b64(env4.Payload), b64(env4.Signatures[0].Sig), env4.Signatures[0].KeyID))
	// An event of XYZ signed by ABC's key.
	xyzEvent := newChain(t, xyzKey).payload(4, event.GenesisHash)

	return map[string]badCase{
		"malformed-not-json":         {"batch is cut short", topic, ReasonMalformed, `{"v":1,"envelopes":[` + string(abc[3])},
		"malformed-batch-version":    {"batch of an unknown version", topic, ReasonMalformed, strings.Replace(batch(abc[3]), `"v":1`, `"v":2`, 1)},
		"malformed-no-envelopes":     {"empty batch", topic, ReasonMalformed, `{"v":1,"envelopes":[]}`},
		"malformed-envelope-number":  {"an envelope that is a number", topic, ReasonMalformed, `{"v":1,"envelopes":[42]}`},
		"malformed-payload-type":     {"wrong DSSE payloadType", topic, ReasonMalformed, batch(raw("text/plain", b64(env4.Payload), sig(env4)))},
		"malformed-payload-base64":   {"payload is not base64", topic, ReasonMalformed, batch(raw(envelope.PayloadType, "!!notbase64!!", sig(env4)))},
		"malformed-no-signature":     {"no signatures", topic, ReasonMalformed, batch(raw(envelope.PayloadType, b64(env4.Payload)))},
		"malformed-five-signatures":  {"too many signatures", topic, ReasonMalformed, batch(raw(envelope.PayloadType, b64(env4.Payload), sig(env4), sig(env4), sig(env4), sig(env4), sig(env4)))},
		"malformed-not-canonical":    {"a valid signature in a re-encoded envelope (sig before keyid)", topic, ReasonMalformed, batch(notCanonical)},
		"malformed-event-not-event":  {"signed payload that is not an event", topic, ReasonMalformed, batch(envelope.Sign(abcKey, []byte(`{"hello":"world"}`)))},
		"malformed-event-id":         {"signed event whose id does not match its seq", topic, ReasonMalformed, batch(badID)},
		"unknown-key":                {"seq 4 signed by a key not in the trust store", topic, ReasonUnknownKey, batch(envelope.Sign(rogue, env4.Payload))},
		"bad-signature-payload":      {"seq 4 changed after signing", topic, ReasonBadSignature, batch(envelope.Encode(&altered))},
		"bad-signature-sig":          {"seq 4 with a bit of its signature flipped", topic, ReasonBadSignature, batch(tamperSig(t, abc[3]))},
		"wrong-site-key":             {"XYZ's event signed by XYZ's key on ABC's topic", topic, ReasonWrongSite, batch(makeChain(t, xyzKey, 1)[0])},
		"wrong-site-event":           {"XYZ's event signed by ABC's key", topic, ReasonWrongSite, batch(envelope.Sign(abcKey, xyzEvent))},
		"conflict":                   {"a different seq 2, properly signed and chained", topic, ReasonConflict, batch(forked[1])},
		"chain-break":                {"seq 4 whose prevhash is not seq 3's hash", topic, ReasonChainBreak, batch(envelope.Sign(abcKey, brokenPayload))},
		"held-overflow":              {"seqs 10 and 11 with MaxHeld 1: 10 held, 11 refused", topic, ReasonHeldOverflow, batch(abc[9], abc[10])},
		"bad-topic-ack":              {"a batch on the ack topic", uplink.AckTopic("ABC"), ReasonBadTopic, batch(abc[3])},
		"bad-topic-other":            {"a batch on an unrelated topic", "apedge/v1/ABC/dev/door/1/event", ReasonBadTopic, batch(abc[3])},
		"bad-topic-site-code":        {"a topic whose site is not a site code", "apedge/v1/central/A_B/events", ReasonBadTopic, batch(abc[3])},
		"malformed-envelope-too-big": {"an envelope over envelope.MaxSize", topic, ReasonMalformed, batch([]byte(`{"payloadType":"` + strings.Repeat("x", envelope.MaxSize) + `"}`))},
	}
}

func badCorpus(t testing.TB) map[string]badCase {
	return genBad(t)
}

// TestGenerateTestdata rewrites testdata/bad and the fuzz seed corpus with -update, and
// otherwise checks that they are what the generators make.
func TestGenerateTestdata(t *testing.T) {
	cases := badCorpus(t)
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range cases {
			if !yield(n) {
				return
			}
		}
	})
	files := map[string][]byte{}
	for _, name := range names {
		b, err := json.MarshalIndent(cases[name], "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Join("testdata", "bad", name+".json")] = append(b, '\n')
		// The oversized envelope would only slow the fuzzer down.
		if cases[name].Topic == uplink.EventsTopic("ABC") && name != "malformed-envelope-too-big" {
			files[filepath.Join("testdata", "fuzz", "FuzzBatch", name)] = fuzzFile([]byte(cases[name].Message))
		}
	}
	abc := makeChain(t, testKey(t, "ABC"), 8)
	files[filepath.Join("testdata", "fuzz", "FuzzBatch", "good-1-3")] = fuzzFile(uplink.EncodeBatch(abc[:3]))
	files[filepath.Join("testdata", "fuzz", "FuzzBatch", "good-4-8")] = fuzzFile(uplink.EncodeBatch(abc[3:]))
	files[filepath.Join("testdata", "fuzz", "FuzzBatch", "gap-5-6")] = fuzzFile(uplink.EncodeBatch(abc[4:6]))
	for path, want := range files {
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -run TestGenerateTestdata -update)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run go test -run TestGenerateTestdata -update", path)
		}
	}
}

// fuzzFile encodes one []byte input in the go test fuzz corpus format.
func fuzzFile(b []byte) []byte {
	return []byte("go test fuzz v1\n[]byte(" + strconv.Quote(string(b)) + ")\n")
}

// TestBadCorpus sends each committed bad message after a good preamble and checks that
// it is refused for the expected reason, alarmed with evidence, and stores nothing.
func TestBadCorpus(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "bad", "*.json"))
	if err != nil || len(paths) < 20 {
		t.Fatalf("testdata/bad: %d files, %v", len(paths), err)
	}
	eachStore(t, func(t *testing.T, newStore func() string) {
		for _, path := range paths {
			name := strings.TrimSuffix(filepath.Base(path), ".json")
			t.Run(name, func(t *testing.T) {
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				var c badCase
				if err := json.Unmarshal(b, &c); err != nil {
					t.Fatal(err)
				}
				dbPath := newStore()
				r, err := Open(context.Background(), Options{Path: dbPath, Trust: testTrust(t), MaxHeld: 1, Logger: testLogger(t)})
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				pre := preamble(t)
				r.processSync(uplink.EventsTopic("ABC"), uplink.EncodeBatch(pre))
				r.processSync(c.Topic, []byte(c.Message))

				s := r.Stats()
				for reason, n := range s.Rejected {
					want := uint64(0)
					if reason == c.Want {
						want = 1
					}
					if n != want {
						t.Errorf("rejected %s = %d, want %d (%s)", reason, n, want, c.Note)
					}
				}
				if s.Stored != 3 || r.Heads()["ABC"] != 3 {
					t.Errorf("stored %d, head %d: want 3", s.Stored, r.Heads()["ABC"])
				}
				alarms, err := r.Alarms(context.Background(), "")
				if err != nil || len(alarms) != 1 {
					t.Fatalf("alarms: %+v, %v", alarms, err)
				}
				a := alarms[0]
				if a.Reason != c.Want || len(a.Evidence) == 0 || a.Detail == "" {
					t.Errorf("alarm %+v", a)
				}
				if !bytes.Contains([]byte(c.Message), a.Evidence) {
					t.Errorf("alarm evidence is not from the message")
				}
				if strings.HasPrefix(c.Topic, "apedge/v1/central/ABC/events") && a.Site != "ABC" {
					t.Errorf("alarm site %q", a.Site)
				}
				checkStored(t, dbPath, "ABC", pre)
			})
		}
	})
}
