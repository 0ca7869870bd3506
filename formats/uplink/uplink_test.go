package uplink_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/formats/uplink"
)

// envA and envB look like the envelopes the journal stores: compact JSON, exactly as
// signed.
const (
	envA = `{"payloadType":"application/vnd.apedge.event.v1+json","payload":"eyJzcGVjdmVyc2lvbiI6IjEuMCJ9","signatures":[{"keyid":"21fe31df","sig":"AAAA"}]}`
	envB = `{"payloadType":"application/vnd.apedge.event.v1+json","payload":"e30=","signatures":[{"keyid":"21fe31df","sig":"BBBB"}]}`
)

func envs(ss ...string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

// nEnvs returns n distinct small envelopes.
func nEnvs(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, `{"n":%d}`, i)
	}
	return out
}

func TestBatchRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		envs [][]byte
	}{
		{"one", envs(envA)},
		{"two", envs(envA, envB)},
		{"same envelope twice", envs(envA, envA)},
		{"HTML characters kept", envs(`{"a":"<b>&amp;</b>"}`)},
		{"escapes kept as written", envs(`{"a":"\u003cb\u003e","b":"\/","c":"\u00e9","d":"\ud83d\ude00"}`)},
		{"line and paragraph separators kept", envs("{\"a\":\"\u2028\u2029\"}")},
		{"non-ASCII kept", envs(`{"a":"Zoë 🚪"}`)},
		{"numbers kept as written", envs(`{"a":1.0,"b":1e2,"c":-0,"d":12345678901234567890123}`)},
		{"duplicate keys kept", envs(`{"a":1,"a":2}`)},
		{"non-object values", envs(`[]`, `"s"`, `0`, `true`, `null`)},
		{"MaxBatchEnvelopes", nEnvs(uplink.MaxBatchEnvelopes)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msg := uplink.EncodeBatch(tc.envs)
			if !json.Valid(msg) {
				t.Fatalf("EncodeBatch made invalid JSON: %.200s", msg)
			}
			var b uplink.Batch
			if err := json.Unmarshal(msg, &b); err != nil || b.V != uplink.Version {
				t.Fatalf("batch version = %d, %v, want %d", b.V, err, uplink.Version)
			}
			got, err := uplink.DecodeBatch(msg)
			if err != nil {
				t.Fatalf("DecodeBatch: %v", err)
			}
			if !equalEnvs(got, tc.envs) {
				t.Fatalf("DecodeBatch(EncodeBatch(envs)) changed the envelopes:\n got %q\nwant %q", got, tc.envs)
			}
		})
	}
}

func equalEnvs(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func TestEncodeBatchExact(t *testing.T) {
	got := uplink.EncodeBatch(envs(`{"a":1}`, `{"b":2}`))
	if want := `{"v":1,"envelopes":[{"a":1},{"b":2}]}`; string(got) != want {
		t.Errorf("EncodeBatch = %s, want %s", got, want)
	}
}

// TestEncodeBatchSize pins EncodeBatch's framing: a sender that bounds a batch by
// MaxBatchBytes must count 22 bytes plus one comma between envelopes.
func TestEncodeBatchSize(t *testing.T) {
	for _, n := range []int{0, 1, 2, 100, uplink.MaxBatchEnvelopes} {
		e := nEnvs(n)
		sum := 0
		for _, b := range e {
			sum += len(b)
		}
		want := 22 + sum + max(n-1, 0)
		if got := len(uplink.EncodeBatch(e)); got != want {
			t.Errorf("%d envelopes of %d bytes in all: EncodeBatch is %d bytes, want %d", n, sum, got, want)
		}
	}
}

// TestDecodeBatchKeepsBytes: envelopes come back exactly as received, whitespace and
// all (central refuses any not in envelope.Encode's one encoding).
func TestDecodeBatchKeepsBytes(t *testing.T) {
	tests := []struct {
		name, msg string
		want      [][]byte
	}{
		{"whitespace around and inside", "{ \"v\" : 1 ,\n\t\"envelopes\" : [ { \"a\" : [ 1 , 2 ] } , {\"b\":\"x y\"} ] }\n", envs(`{ "a" : [ 1 , 2 ] }`, `{"b":"x y"}`)},
		{"fields in other order", `{"envelopes":[{"a":1}],"v":1}`, envs(`{"a":1}`)},
		{"unknown field ignored", `{"v":1,"envelopes":[{"a":1}],"extra":true}`, envs(`{"a":1}`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := uplink.DecodeBatch([]byte(tc.msg))
			if err != nil {
				t.Fatal(err)
			}
			if !equalEnvs(got, tc.want) {
				t.Errorf("DecodeBatch = %q, want %q", got, tc.want)
			}
		})
	}
}

// padded returns a valid one-envelope batch padded with whitespace to exactly n bytes.
func padded(t testing.TB, n int) []byte {
	t.Helper()
	msg := uplink.EncodeBatch(envs(envA))
	if n < len(msg) {
		t.Fatalf("cannot pad %d bytes to %d", len(msg), n)
	}
	return append(msg, bytes.Repeat([]byte(" "), n-len(msg))...)
}

func TestDecodeBatchSizeLimit(t *testing.T) {
	if _, err := uplink.DecodeBatch(padded(t, uplink.MaxBatchBytes)); err != nil {
		t.Errorf("batch of exactly MaxBatchBytes: %v", err)
	}
	if _, err := uplink.DecodeBatch(padded(t, uplink.MaxBatchBytes+1)); !errors.Is(err, uplink.ErrBatch) {
		t.Errorf("batch of MaxBatchBytes+1: %v, want ErrBatch", err)
	}
}

func TestDecodeBatchRejects(t *testing.T) {
	tests := []struct {
		name string
		msg  []byte
	}{
		{"too big", padded(t, uplink.MaxBatchBytes+1)},
		{"too many envelopes", uplink.EncodeBatch(nEnvs(uplink.MaxBatchEnvelopes + 1))},
		{"version 0", []byte(`{"v":0,"envelopes":[{}]}`)},
		{"version 2", []byte(`{"v":2,"envelopes":[{}]}`)},
		{"version missing", []byte(`{"envelopes":[{}]}`)},
		{"version string", []byte(`{"v":"1","envelopes":[{}]}`)},
		{"version fraction", []byte(`{"v":1.5,"envelopes":[{}]}`)},
		{"zero envelopes", uplink.EncodeBatch(nil)},
		{"envelopes null", []byte(`{"v":1,"envelopes":null}`)},
		{"envelopes missing", []byte(`{"v":1}`)},
		{"envelopes not an array", []byte(`{"v":1,"envelopes":{}}`)},
		{"envelope invalid", uplink.EncodeBatch(envs(`{"a":}`))},
		{"not JSON", []byte(`not JSON`)},
		{"empty", nil},
		{"JSON array", []byte(`[{"v":1,"envelopes":[{}]}]`)},
		{"JSON null", []byte(`null`)},
		{"truncated", uplink.EncodeBatch(envs(envA))[:40]},
		{"trailing data", append(uplink.EncodeBatch(envs(envA)), `{}`...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := uplink.DecodeBatch(tc.msg)
			if !errors.Is(err, uplink.ErrBatch) {
				t.Fatalf("DecodeBatch = %q, %v, want ErrBatch", got, err)
			}
			if got != nil {
				t.Errorf("DecodeBatch returned envelopes with its error")
			}
		})
	}
}

func TestTopics(t *testing.T) {
	if got, want := uplink.EventsTopic("MAN1"), "apedge/v1/central/MAN1/events"; got != want {
		t.Errorf("EventsTopic = %q, want %q", got, want)
	}
	if got, want := uplink.AckTopic("MAN1"), "apedge/v1/central/MAN1/ack"; got != want {
		t.Errorf("AckTopic = %q, want %q", got, want)
	}
	if got := uplink.EventsTopic("+"); got != uplink.EventsFilter {
		t.Errorf("EventsFilter = %q, want %q", uplink.EventsFilter, got)
	}
	if uplink.StatusTopic != "apedge/v1/central/status" {
		t.Errorf("StatusTopic = %q", uplink.StatusTopic)
	}
	// central's status topic must not look like a site's topic.
	if site, err := uplink.SiteFromTopic(uplink.StatusTopic); err == nil {
		t.Errorf("SiteFromTopic(StatusTopic) = %q", site)
	}
}

func TestSiteFromTopic(t *testing.T) {
	tests := []struct {
		topic string
		want  string // "" for an error
	}{
		{uplink.EventsTopic("MAN1"), "MAN1"},
		{uplink.AckTopic("MAN1"), "MAN1"},
		{uplink.EventsTopic("AP-MAN-02"), "AP-MAN-02"},
		{"apedge/v1/central/MAN1/events", "MAN1"},
		{"apedge/v1/central/MAN1/ack", "MAN1"},
		{"apedge/v1/central/MAN1/status", ""},
		{"apedge/v1/central/MAN1/events/", ""},
		{"apedge/v1/central/MAN1", ""},
		{"apedge/v1/central/MAN1/events/x", ""},
		{"/apedge/v1/central/MAN1/events", ""},
		{"apedge/v2/central/MAN1/events", ""},
		{"apedge/v1/centre/MAN1/events", ""},
		{"APEDGE/v1/central/MAN1/events", ""},
		{"apedge/v1/central//events", ""},
		{"apedge/v1/central/+/events", ""},
		{"apedge/v1/central/#/events", ""},
		{"apedge/v1/central/MAN 1/events", ""},
		{"apedge/v1/central/-MAN1/events", ""},
		{"apedge/v1/central/" + strings.Repeat("A", 33) + "/events", ""},
		{"apedge/v1/central/MAN1/EVENTS", ""},
		{"apedge/v1/MAN1/dev/reader/r1/event", ""},
		{"", ""},
	}
	for _, tc := range tests {
		t.Run(tc.topic, func(t *testing.T) {
			got, err := uplink.SiteFromTopic(tc.topic)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("SiteFromTopic(%q) = %q, want an error", tc.topic, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("SiteFromTopic(%q) = %q, %v, want %q", tc.topic, got, err, tc.want)
			}
		})
	}
}

func TestAckRoundTrip(t *testing.T) {
	bst := time.FixedZone("BST", 3600)
	tests := []struct {
		name string
		site string
		seq  uint64
		now  time.Time
	}{
		{"nothing stored yet", "MAN1", 0, time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)},
		{"first", "MAN1", 1, time.Date(2026, 3, 29, 1, 0, 0, 123_456_789, time.UTC)},
		{"local time stored as UTC", "AP-MAN-02", 42, time.Date(2026, 7, 1, 13, 0, 0, 0, bst)},
		{"MaxInt32", "MAN1", math.MaxInt32, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"MaxUint64", "MAN1", math.MaxUint64, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"monotonic reading dropped", "MAN1", 3, time.Now()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msg := uplink.EncodeAck(tc.site, tc.seq, tc.now)
			a, err := uplink.DecodeAck(msg)
			if err != nil {
				t.Fatalf("DecodeAck(%s): %v", msg, err)
			}
			if a.V != uplink.Version || a.Site != tc.site || a.Seq != tc.seq || !a.Time.Equal(tc.now) {
				t.Errorf("DecodeAck(EncodeAck) = %+v, want site %s seq %d time %s", a, tc.site, tc.seq, tc.now)
			}
			if a.Time.Location() != time.UTC {
				t.Errorf("ack time in %s, want UTC: %s", a.Time.Location(), msg)
			}
			if want := fmt.Sprintf(`"seq":%d`, tc.seq); !bytes.Contains(msg, []byte(want)) {
				t.Errorf("ack %s lacks %s (seq must be an exact JSON integer)", msg, want)
			}
		})
	}
}

func TestDecodeAckRejects(t *testing.T) {
	valid := string(uplink.EncodeAck("MAN1", 7, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
	tests := []struct {
		name, msg string
	}{
		{"too long", valid[:len(valid)-1] + strings.Repeat(" ", 4097) + "}"},
		{"version 0", `{"v":0,"site":"MAN1","seq":7}`},
		{"version 2", `{"v":2,"site":"MAN1","seq":7}`},
		{"version missing", `{"site":"MAN1","seq":7}`},
		{"site missing", `{"v":1,"seq":7}`},
		{"site empty", `{"v":1,"site":"","seq":7}`},
		{"site invalid", `{"v":1,"site":"MAN 1","seq":7}`},
		{"site wildcard", `{"v":1,"site":"+","seq":7}`},
		{"site number", `{"v":1,"site":1,"seq":7}`},
		{"seq negative", `{"v":1,"site":"MAN1","seq":-1}`},
		{"seq string", `{"v":1,"site":"MAN1","seq":"7"}`},
		{"seq too big", `{"v":1,"site":"MAN1","seq":18446744073709551616}`},
		{"seq fraction", `{"v":1,"site":"MAN1","seq":7.5}`},
		{"time not RFC 3339", `{"v":1,"site":"MAN1","seq":7,"time":"yesterday"}`},
		{"not JSON", `ack 7`},
		{"empty", ``},
		{"JSON null", `null`},
		{"JSON array", `[` + valid + `]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if a, err := uplink.DecodeAck([]byte(tc.msg)); err == nil {
				t.Fatalf("DecodeAck(%.80s) = %+v, want an error", tc.msg, a)
			}
		})
	}
}

func TestDecodeStatus(t *testing.T) {
	at := time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		msg  string
		want *uplink.Status // nil for an error
	}{
		{"online", `{"status":"online"}`, &uplink.Status{Status: "online"}},
		{"offline", `{"status":"offline"}`, &uplink.Status{Status: "offline"}},
		{"with id and time", `{"status":"online","id":"central-1","time":"2026-03-29T01:00:00Z"}`, &uplink.Status{Status: "online", ID: "central-1", Time: at}},
		{"unknown field ignored", `{"status":"offline","why":"shutdown"}`, &uplink.Status{Status: "offline"}},
		{"unknown status", `{"status":"starting"}`, nil},
		{"uppercase", `{"status":"ONLINE"}`, nil},
		{"status missing", `{"id":"central-1"}`, nil},
		{"status empty", `{"status":""}`, nil},
		{"status not a string", `{"status":true}`, nil},
		{"bad time", `{"status":"online","time":"now"}`, nil},
		{"too long", `{"status":"online","id":"` + strings.Repeat("x", 4096) + `"}`, nil},
		{"not JSON", `online`, nil},
		{"empty", ``, nil},
		{"JSON null", `null`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := uplink.DecodeStatus([]byte(tc.msg))
			if tc.want == nil {
				if err == nil {
					t.Fatalf("DecodeStatus = %+v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tc.want.Status || got.ID != tc.want.ID || !got.Time.Equal(tc.want.Time) {
				t.Errorf("DecodeStatus = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// badFiles returns the files of testdata/bad/{kind}.
func badFiles(t testing.TB, kind string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "bad", kind, "*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no files in testdata/bad/%s", kind)
	}
	return files
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBadCorpus checks that every file in testdata/bad/{batch,ack,status} is refused by
// its decoder.
func TestBadCorpus(t *testing.T) {
	decoders := []struct {
		kind   string
		decode func([]byte) (any, error)
	}{
		{"batch", func(b []byte) (any, error) { return uplink.DecodeBatch(b) }},
		{"ack", func(b []byte) (any, error) { return uplink.DecodeAck(b) }},
		{"status", func(b []byte) (any, error) { return uplink.DecodeStatus(b) }},
	}
	for _, d := range decoders {
		for _, f := range badFiles(t, d.kind) {
			t.Run(d.kind+"/"+filepath.Base(f), func(t *testing.T) {
				if v, err := d.decode(readFile(t, f)); err == nil {
					t.Fatalf("accepted as %+v", v)
				}
			})
		}
	}
}

func FuzzDecodeBatch(f *testing.F) {
	f.Add(uplink.EncodeBatch(envs(envA)))
	f.Add(uplink.EncodeBatch(envs(envA, envB)))
	f.Add(uplink.EncodeBatch(envs(`{"a":"\u003c\u2028"}`, `[]`, `null`)))
	f.Add([]byte("{ \"v\" : 1 , \"envelopes\" : [ { \"a\" : 1 } ] }"))
	for _, p := range badFiles(f, "batch") {
		f.Add(readFile(f, p))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		got, err := uplink.DecodeBatch(msg)
		if err != nil {
			if !errors.Is(err, uplink.ErrBatch) {
				t.Fatalf("error %v is not ErrBatch", err)
			}
			return
		}
		if len(got) < 1 || len(got) > uplink.MaxBatchEnvelopes {
			t.Fatalf("accepted %d envelopes", len(got))
		}
		for i, e := range got {
			if !json.Valid(e) || !bytes.Contains(msg, e) {
				t.Fatalf("envelope %d is not valid JSON taken from the message: %q", i, e)
			}
		}
		again, err := uplink.DecodeBatch(uplink.EncodeBatch(got))
		if err != nil {
			t.Fatalf("re-encoded batch refused: %v", err)
		}
		if !equalEnvs(again, got) {
			t.Fatalf("re-encoded batch changed:\n got %q\nwant %q", again, got)
		}
	})
}

func FuzzDecodeAck(f *testing.F) {
	f.Add(uplink.EncodeAck("MAN1", 0, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
	f.Add(uplink.EncodeAck("AP-MAN-02", math.MaxUint64, time.Date(2026, 7, 1, 0, 0, 0, 1, time.UTC)))
	for _, p := range badFiles(f, "ack") {
		f.Add(readFile(f, p))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		a, err := uplink.DecodeAck(msg)
		if err != nil {
			return
		}
		if a.V != uplink.Version {
			t.Fatalf("accepted version %d", a.V)
		}
		if _, err := uplink.SiteFromTopic(uplink.AckTopic(a.Site)); err != nil {
			t.Fatalf("accepted site %q that names no topic: %v", a.Site, err)
		}
		// What central would retain for this ack reads back the same.
		b, err := uplink.DecodeAck(uplink.EncodeAck(a.Site, a.Seq, a.Time))
		if err != nil {
			if y := a.Time.UTC().Year(); y < 0 || y > 9999 {
				return // such a time cannot be written as RFC 3339
			}
			t.Fatalf("re-encoded ack refused: %v", err)
		}
		if b.Site != a.Site || b.Seq != a.Seq || !b.Time.Equal(a.Time) {
			t.Fatalf("re-encoded ack = %+v, want %+v", b, a)
		}
	})
}

func FuzzDecodeStatus(f *testing.F) {
	f.Add([]byte(`{"status":"online","id":"central-1","time":"2026-03-29T01:00:00Z"}`))
	f.Add([]byte(`{"status":"offline"}`))
	for _, p := range badFiles(f, "status") {
		f.Add(readFile(f, p))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		s, err := uplink.DecodeStatus(msg)
		if err != nil {
			return
		}
		if s.Status != "online" && s.Status != "offline" {
			t.Fatalf("accepted status %q", s.Status)
		}
	})
}
