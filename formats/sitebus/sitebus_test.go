package sitebus_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/formats/sitebus"
)

var (
	allClasses = []string{
		sitebus.ClassReader, sitebus.ClassDoor, sitebus.ClassBiometric, sitebus.ClassBWCDock,
		sitebus.ClassCamera, sitebus.ClassPATTester, sitebus.ClassSubstanceTester,
	}
	allKinds = []string{sitebus.KindState, sitebus.KindEvent, sitebus.KindCmd, sitebus.KindCmdResult}
)

func TestConstants(t *testing.T) {
	// These strings are the wire: the bridge firmware and other tools depend on them.
	got := append(append([]string(nil), allClasses...), allKinds...)
	want := []string{"reader", "door", "biometric", "bwc-dock", "camera", "pat-tester", "substance-tester",
		"state", "event", "cmd", "cmd/result"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("classes and kinds = %q, want %q", got, want)
	}
	if got := sitebus.BridgeStateTopic("MAN1"); got != "apedge/v1/MAN1/bridge/state" {
		t.Errorf("BridgeStateTopic = %q", got)
	}
}

func TestParseTopicValid(t *testing.T) {
	for _, class := range allClasses {
		for _, kind := range allKinds {
			for _, id := range []string{"r1", "front-door_IN", strings.Repeat("z", 64)} {
				topic := sitebus.DeviceTopic("AP-MAN-02", class, id, kind)
				t.Run(topic, func(t *testing.T) {
					got, err := sitebus.ParseTopic(topic)
					if err != nil {
						t.Fatal(err)
					}
					want := sitebus.Topic{Site: "AP-MAN-02", Class: class, ID: id, Kind: kind}
					if got != want {
						t.Errorf("ParseTopic = %+v, want %+v", got, want)
					}
				})
			}
		}
	}
	// The literal form, so that DeviceTopic and ParseTopic cannot drift together.
	got, err := sitebus.ParseTopic("apedge/v1/MAN1/dev/reader/front-in/cmd/result")
	if want := (sitebus.Topic{Site: "MAN1", Class: "reader", ID: "front-in", Kind: "cmd/result"}); err != nil || got != want {
		t.Errorf("ParseTopic(literal) = %+v, %v, want %+v", got, err, want)
	}
	if got := sitebus.DeviceTopic("MAN1", "door", "d1", "state"); got != "apedge/v1/MAN1/dev/door/d1/state" {
		t.Errorf("DeviceTopic = %q", got)
	}
}

func TestParseTopicInvalid(t *testing.T) {
	tests := []struct {
		name, topic string
	}{
		{"empty", ""},
		{"too short", "apedge/v1/MAN1/dev/reader/r1"},
		{"too long", "apedge/v1/MAN1/dev/reader/r1/cmd/result/x"},
		{"trailing slash", "apedge/v1/MAN1/dev/reader/r1/event/"},
		{"leading slash", "/apedge/v1/MAN1/dev/reader/r1/event"},
		{"bridge state", sitebus.BridgeStateTopic("MAN1")},
		{"wrong root", "apedge2/v1/MAN1/dev/reader/r1/event"},
		{"wrong version", "apedge/v2/MAN1/dev/reader/r1/event"},
		{"not dev", "apedge/v1/MAN1/bus/reader/r1/event"},
		{"central topic", "apedge/v1/central/MAN1/events"},
		{"site empty", "apedge/v1//dev/reader/r1/event"},
		{"site space", "apedge/v1/MAN 1/dev/reader/r1/event"},
		{"site leading dash", "apedge/v1/-MAN1/dev/reader/r1/event"},
		{"site wildcard", "apedge/v1/+/dev/reader/r1/event"},
		{"site too long", "apedge/v1/" + strings.Repeat("A", 33) + "/dev/reader/r1/event"},
		{"class unknown", "apedge/v1/MAN1/dev/lock/r1/event"},
		{"class uppercase", "apedge/v1/MAN1/dev/Reader/r1/event"},
		{"class empty", "apedge/v1/MAN1/dev//r1/event"},
		{"class wildcard", "apedge/v1/MAN1/dev/+/r1/event"},
		{"id empty", "apedge/v1/MAN1/dev/reader//event"},
		{"id dot", "apedge/v1/MAN1/dev/reader/r.1/event"},
		{"id space", "apedge/v1/MAN1/dev/reader/r 1/event"},
		{"id wildcard", "apedge/v1/MAN1/dev/reader/+/event"},
		{"id non-ASCII", "apedge/v1/MAN1/dev/reader/rë/event"},
		{"id too long", "apedge/v1/MAN1/dev/reader/" + strings.Repeat("z", 65) + "/event"},
		{"kind unknown", "apedge/v1/MAN1/dev/reader/r1/status"},
		{"kind empty", "apedge/v1/MAN1/dev/reader/r1/"},
		{"kind plural", "apedge/v1/MAN1/dev/reader/r1/events"},
		{"kind result alone", "apedge/v1/MAN1/dev/reader/r1/result"},
		{"kind cmd/other", "apedge/v1/MAN1/dev/reader/r1/cmd/other"},
		{"kind event/result", "apedge/v1/MAN1/dev/reader/r1/event/result"},
		{"kind state/x", "apedge/v1/MAN1/dev/reader/r1/state/x"},
		{"kind wildcard", "apedge/v1/MAN1/dev/reader/r1/#"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sitebus.ParseTopic(tc.topic)
			if err == nil {
				t.Fatalf("ParseTopic(%q) = %+v, want an error", tc.topic, got)
			}
			if got != (sitebus.Topic{}) {
				t.Errorf("ParseTopic returned %+v with its error", got)
			}
		})
	}
}

func TestValidDeviceID(t *testing.T) {
	tests := []struct {
		id string
		ok bool
	}{
		{"r1", true},
		{"A-b_9", true},
		{strings.Repeat("x", 64), true},
		{"", false},
		{strings.Repeat("x", 65), false},
		{"a/b", false},
		{"a.b", false},
		{"+", false},
		{"#", false},
		{"é", false},
	}
	for _, tc := range tests {
		if got := sitebus.ValidDeviceID(tc.id); got != tc.ok {
			t.Errorf("ValidDeviceID(%q) = %v, want %v", tc.id, got, tc.ok)
		}
	}
}

// matches reports whether MQTT topic filter f (with + wildcards only) matches topic.
func matches(f, topic string) bool {
	fp, tp := strings.Split(f, "/"), strings.Split(topic, "/")
	if len(fp) != len(tp) {
		return false
	}
	for i := range fp {
		if fp[i] != "+" && fp[i] != tp[i] {
			return false
		}
	}
	return true
}

func TestDeviceFilter(t *testing.T) {
	if got, want := sitebus.DeviceFilter("MAN1", sitebus.KindEvent), "apedge/v1/MAN1/dev/+/+/event"; got != want {
		t.Errorf("DeviceFilter = %q, want %q", got, want)
	}
	if got, want := sitebus.DeviceFilter("MAN1", sitebus.KindCmdResult), "apedge/v1/MAN1/dev/+/+/cmd/result"; got != want {
		t.Errorf("DeviceFilter = %q, want %q", got, want)
	}
	for _, fkind := range allKinds {
		f := sitebus.DeviceFilter("MAN1", fkind)
		for _, class := range allClasses {
			for _, kind := range allKinds {
				for _, site := range []string{"MAN1", "LDS2"} {
					topic := sitebus.DeviceTopic(site, class, "d1", kind)
					want := kind == fkind && site == "MAN1"
					if got := matches(f, topic); got != want {
						t.Errorf("filter %q matches %q = %v, want %v", f, topic, got, want)
					}
				}
			}
		}
		if matches(f, sitebus.BridgeStateTopic("MAN1")) {
			t.Errorf("filter %q matches the bridge state topic", f)
		}
	}
}

const validTime = `"time":"2026-03-29T01:00:00.5Z"`

func TestDecodeValid(t *testing.T) {
	at := time.Date(2026, 3, 29, 1, 0, 0, 500_000_000, time.UTC)
	tests := []struct {
		name string
		msg  string
		want sitebus.Message
	}{
		{"minimal", `{` + validTime + `,"boot":"b1","seq":1,"kind":"online"}`,
			sitebus.Message{Time: at, Boot: "b1", Seq: 1, Kind: "online"}},
		{"with data", `{` + validTime + `,"boot":"b1","seq":2,"kind":"card-read","data":{"door":"front"}}`,
			sitebus.Message{Time: at, Boot: "b1", Seq: 2, Kind: "card-read", Data: json.RawMessage(`{"door":"front"}`)}},
		{"empty data object", `{` + validTime + `,"boot":"b1","seq":2,"kind":"k","data":{}}`,
			sitebus.Message{Time: at, Boot: "b1", Seq: 2, Kind: "k", Data: json.RawMessage(`{}`)}},
		{"offset time", `{"time":"2026-03-29T02:00:00.5+01:00","boot":"b1","seq":1,"kind":"k"}`,
			sitebus.Message{Time: at, Boot: "b1", Seq: 1, Kind: "k"}},
		{"unknown field ignored", `{` + validTime + `,"boot":"b1","seq":1,"kind":"k","extra":[1]}`,
			sitebus.Message{Time: at, Boot: "b1", Seq: 1, Kind: "k"}},
		{"64-byte boot and kind", `{` + validTime + `,"boot":"` + strings.Repeat("b", 64) + `","seq":18446744073709551615,"kind":"` + strings.Repeat("k", 64) + `"}`,
			sitebus.Message{Time: at, Boot: strings.Repeat("b", 64), Seq: 18446744073709551615, Kind: strings.Repeat("k", 64)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sitebus.Decode([]byte(tc.msg))
			if err != nil {
				t.Fatal(err)
			}
			if !got.Time.Equal(tc.want.Time) || got.Boot != tc.want.Boot || got.Seq != tc.want.Seq ||
				got.Kind != tc.want.Kind || !bytes.Equal(got.Data, tc.want.Data) {
				t.Errorf("Decode = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// paddedMessage returns a valid message padded with whitespace to exactly n bytes.
func paddedMessage(t testing.TB, n int) []byte {
	t.Helper()
	msg := []byte(`{` + validTime + `,"boot":"b1","seq":1,"kind":"k"}`)
	return append(msg, bytes.Repeat([]byte(" "), n-len(msg))...)
}

func TestDecodeSizeLimit(t *testing.T) {
	if _, err := sitebus.Decode(paddedMessage(t, sitebus.MaxMessage)); err != nil {
		t.Errorf("message of exactly MaxMessage bytes: %v", err)
	}
	if _, err := sitebus.Decode(paddedMessage(t, sitebus.MaxMessage+1)); !errors.Is(err, sitebus.ErrMessage) {
		t.Errorf("message of MaxMessage+1 bytes: %v, want ErrMessage", err)
	}
}

func TestDecodeInvalid(t *testing.T) {
	tests := []struct {
		name string
		msg  []byte
	}{
		{"missing time", []byte(`{"boot":"b1","seq":1,"kind":"k"}`)},
		{"zero time", []byte(`{"time":"0001-01-01T00:00:00Z","boot":"b1","seq":1,"kind":"k"}`)},
		{"time not RFC 3339", []byte(`{"time":"2026-03-29 01:00:00","boot":"b1","seq":1,"kind":"k"}`)},
		{"time number", []byte(`{"time":1774746000,"boot":"b1","seq":1,"kind":"k"}`)},
		{"seq 0", []byte(`{` + validTime + `,"boot":"b1","seq":0,"kind":"k"}`)},
		{"seq missing", []byte(`{` + validTime + `,"boot":"b1","kind":"k"}`)},
		{"seq negative", []byte(`{` + validTime + `,"boot":"b1","seq":-1,"kind":"k"}`)},
		{"seq string", []byte(`{` + validTime + `,"boot":"b1","seq":"1","kind":"k"}`)},
		{"missing boot", []byte(`{` + validTime + `,"seq":1,"kind":"k"}`)},
		{"empty boot", []byte(`{` + validTime + `,"boot":"","seq":1,"kind":"k"}`)},
		{"boot too long", []byte(`{` + validTime + `,"boot":"` + strings.Repeat("b", 65) + `","seq":1,"kind":"k"}`)},
		{"missing kind", []byte(`{` + validTime + `,"boot":"b1","seq":1}`)},
		{"empty kind", []byte(`{` + validTime + `,"boot":"b1","seq":1,"kind":""}`)},
		{"kind too long", []byte(`{` + validTime + `,"boot":"b1","seq":1,"kind":"` + strings.Repeat("k", 65) + `"}`)},
		{"data array", []byte(`{` + validTime + `,"boot":"b1","seq":1,"kind":"k","data":[1]}`)},
		{"data string", []byte(`{` + validTime + `,"boot":"b1","seq":1,"kind":"k","data":"x"}`)},
		{"data number", []byte(`{` + validTime + `,"boot":"b1","seq":1,"kind":"k","data":1}`)},
		{"data null", []byte(`{` + validTime + `,"boot":"b1","seq":1,"kind":"k","data":null}`)},
		{"data invalid", []byte(`{` + validTime + `,"boot":"b1","seq":1,"kind":"k","data":{"a":}}`)},
		{"too big", paddedMessage(t, sitebus.MaxMessage+1)},
		{"not JSON", []byte(`card-read`)},
		{"empty", nil},
		{"JSON null", []byte(`null`)},
		{"JSON array", []byte(`[{` + validTime + `,"boot":"b1","seq":1,"kind":"k"}]`)},
		{"truncated", []byte(`{` + validTime + `,"boot":"b1","seq":1,"ki`)},
		{"trailing data", []byte(`{` + validTime + `,"boot":"b1","seq":1,"kind":"k"}{}`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sitebus.Decode(tc.msg)
			if !errors.Is(err, sitebus.ErrMessage) {
				t.Fatalf("Decode = %+v, %v, want ErrMessage", got, err)
			}
			if got != nil {
				t.Errorf("Decode returned a message with its error")
			}
		})
	}
}

func TestDecodeCardRead(t *testing.T) {
	tests := []struct {
		name string
		data string
		want *sitebus.CardRead // nil for an error
	}{
		{"entry", `{"door":"front","direction":"entry","credential":{"kind":"card","number":"0042","format":"wiegand-26","bits":26}}`,
			&sitebus.CardRead{Door: "front", Direction: "entry", Credential: sitebus.Credential{Kind: "card", Number: "0042", Format: "wiegand-26", Bits: 26}}},
		{"exit, number only", `{"door":"back","direction":"exit","credential":{"number":"7"}}`,
			&sitebus.CardRead{Door: "back", Direction: "exit", Credential: sitebus.Credential{Number: "7"}}},
		{"64-byte door and number", `{"door":"` + strings.Repeat("d", 64) + `","direction":"exit","credential":{"number":"` + strings.Repeat("9", 64) + `"}}`,
			&sitebus.CardRead{Door: strings.Repeat("d", 64), Direction: "exit", Credential: sitebus.Credential{Number: strings.Repeat("9", 64)}}},
		{"door missing", `{"direction":"entry","credential":{"number":"7"}}`, nil},
		{"door empty", `{"door":"","direction":"entry","credential":{"number":"7"}}`, nil},
		{"door too long", `{"door":"` + strings.Repeat("d", 65) + `","direction":"entry","credential":{"number":"7"}}`, nil},
		{"direction missing", `{"door":"front","credential":{"number":"7"}}`, nil},
		{"direction in", `{"door":"front","direction":"in","credential":{"number":"7"}}`, nil},
		{"direction uppercase", `{"door":"front","direction":"ENTRY","credential":{"number":"7"}}`, nil},
		{"credential missing", `{"door":"front","direction":"entry"}`, nil},
		{"number empty", `{"door":"front","direction":"entry","credential":{"kind":"card","number":""}}`, nil},
		{"number too long", `{"door":"front","direction":"entry","credential":{"number":"` + strings.Repeat("9", 65) + `"}}`, nil},
		{"number as a JSON number", `{"door":"front","direction":"entry","credential":{"number":42}}`, nil},
		{"credential a string", `{"door":"front","direction":"entry","credential":"42"}`, nil},
		{"not JSON", `door front`, nil},
		{"empty", ``, nil},
		{"JSON null", `null`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sitebus.DecodeCardRead([]byte(tc.data))
			if tc.want == nil {
				if !errors.Is(err, sitebus.ErrMessage) {
					t.Fatalf("DecodeCardRead = %+v, %v, want ErrMessage", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if *got != *tc.want {
				t.Errorf("DecodeCardRead = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestMessageRoundTrip(t *testing.T) {
	card, err := json.Marshal(sitebus.CardRead{Door: "front", Direction: "entry",
		Credential: sitebus.Credential{Kind: "card", Number: "0042", Format: "wiegand-26", Bits: 26}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		m    sitebus.Message
	}{
		{"no data", sitebus.Message{Time: time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC), Boot: "b1", Seq: 1, Kind: "online"}},
		{"card read", sitebus.Message{Time: time.Date(2026, 10, 25, 1, 0, 0, 123_456_789, time.UTC), Boot: "0f1e2d3c", Seq: 99, Kind: "card-read", Data: card}},
		{"HTML in data", sitebus.Message{Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Boot: "b<1>", Seq: 1, Kind: "note", Data: json.RawMessage(`{"t":"a\u003cb"}`)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.m.Encode()
			got, err := sitebus.Decode(b)
			if err != nil {
				t.Fatalf("Decode(%s): %v", b, err)
			}
			if !got.Time.Equal(tc.m.Time) || got.Boot != tc.m.Boot || got.Seq != tc.m.Seq || got.Kind != tc.m.Kind ||
				!bytes.Equal(got.Data, tc.m.Data) {
				t.Errorf("Decode(Encode(m)) = %+v, want %+v", got, tc.m)
			}
			if tc.m.Data == nil && bytes.Contains(b, []byte(`"data"`)) {
				t.Errorf("Encode wrote empty data: %s", b)
			}
			if len(tc.m.Data) > 0 && tc.m.Kind == "card-read" {
				cr, err := sitebus.DecodeCardRead(got.Data)
				if err != nil || cr.Credential.Number != "0042" {
					t.Errorf("DecodeCardRead(data) = %+v, %v", cr, err)
				}
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

// TestBadCorpus checks that every file in testdata/bad/{topic,message,cardread,command,credentials,ack,agentstate,result,
// bridgestate,doorstatus,readerstatus,messageslost} is
// refused. A topic file holds one topic, with no newline.
func TestBadCorpus(t *testing.T) {
	decoders := []struct {
		kind   string
		decode func([]byte) (any, error)
	}{
		{"topic", func(b []byte) (any, error) { return sitebus.ParseTopic(string(b)) }},
		{"message", func(b []byte) (any, error) { return sitebus.Decode(b) }},
		{"cardread", func(b []byte) (any, error) { return sitebus.DecodeCardRead(b) }},
		{"command", func(b []byte) (any, error) { return sitebus.DecodeCommand(b) }},
		{"credentials", func(b []byte) (any, error) { return sitebus.DecodeCredentialList(b) }},
		{"ack", func(b []byte) (any, error) { return sitebus.DecodeAck(b) }},
		{"agentstate", func(b []byte) (any, error) { return sitebus.DecodeAgentState(b) }},
		{"result", func(b []byte) (any, error) { return sitebus.DecodeResult(b) }},
		{"bridgestate", func(b []byte) (any, error) { return sitebus.DecodeBridgeState(b) }},
		{"doorstatus", func(b []byte) (any, error) { return sitebus.DecodeDoorStatus(b) }},
		{"readerstatus", func(b []byte) (any, error) { return sitebus.DecodeReaderStatus(b) }},
		{"messageslost", func(b []byte) (any, error) { return sitebus.DecodeMessagesLost(b) }},
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

func FuzzParseTopic(f *testing.F) {
	for _, class := range allClasses {
		for _, kind := range allKinds {
			f.Add(sitebus.DeviceTopic("MAN1", class, "d1", kind))
		}
	}
	for _, p := range badFiles(f, "topic") {
		f.Add(string(readFile(f, p)))
	}
	f.Fuzz(func(t *testing.T, topic string) {
		tp, err := sitebus.ParseTopic(topic)
		if err != nil {
			return
		}
		if got := sitebus.DeviceTopic(tp.Site, tp.Class, tp.ID, tp.Kind); got != topic {
			t.Fatalf("ParseTopic(%q) = %+v, which names %q", topic, tp, got)
		}
		if !matches(sitebus.DeviceFilter(tp.Site, tp.Kind), topic) {
			t.Fatalf("%q is not matched by its kind's filter", topic)
		}
	})
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{` + validTime + `,"boot":"b1","seq":1,"kind":"online"}`))
	f.Add([]byte(`{"time":"2026-03-29T02:00:00.5+01:00","boot":"b1","seq":2,"kind":"card-read","data":{"door":"front","direction":"entry","credential":{"kind":"card","number":"0042"}}}`))
	for _, p := range badFiles(f, "message") {
		f.Add(readFile(f, p))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		m, err := sitebus.Decode(msg)
		if err != nil {
			if !errors.Is(err, sitebus.ErrMessage) {
				t.Fatalf("error %v is not ErrMessage", err)
			}
			return
		}
		if m.Time.IsZero() || m.Seq == 0 || m.Boot == "" || m.Kind == "" {
			t.Fatalf("accepted %+v", m)
		}
		// A message the agent accepted encodes to one it accepts again, meaning the same.
		b := m.Encode()
		if len(b) > sitebus.MaxMessage {
			return // HTML escaping can lengthen a message near the limit
		}
		again, err := sitebus.Decode(b)
		if err != nil {
			t.Fatalf("Decode(Encode(m)) for %s: %v", b, err)
		}
		if !again.Time.Equal(m.Time) || again.Boot != m.Boot || again.Seq != m.Seq || again.Kind != m.Kind {
			t.Fatalf("Decode(Encode(m)) = %+v, want %+v", again, m)
		}
		if !sameJSON(t, again.Data, m.Data) {
			t.Fatalf("data changed: %s, want %s", again.Data, m.Data)
		}
	})
}

// sameJSON reports whether a and b hold the same JSON value (or are both empty).
func sameJSON(t *testing.T, a, b []byte) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(va, vb)
}

func FuzzDecodeCardRead(f *testing.F) {
	f.Add([]byte(`{"door":"front","direction":"entry","credential":{"kind":"card","number":"0042","format":"wiegand-26","bits":26}}`))
	f.Add([]byte(`{"door":"back","direction":"exit","credential":{"number":"7"}}`))
	for _, p := range badFiles(f, "cardread") {
		f.Add(readFile(f, p))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := sitebus.DecodeCardRead(data)
		if err != nil {
			if !errors.Is(err, sitebus.ErrMessage) {
				t.Fatalf("error %v is not ErrMessage", err)
			}
			return
		}
		if c.Door == "" || len(c.Door) > 64 || (c.Direction != "entry" && c.Direction != "exit") ||
			c.Credential.Number == "" || len(c.Credential.Number) > 64 {
			t.Fatalf("accepted %+v", c)
		}
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		again, err := sitebus.DecodeCardRead(b)
		if err != nil || *again != *c {
			t.Fatalf("DecodeCardRead(Marshal(c)) = %+v, %v, want %+v", again, err, c)
		}
	})
}

func FuzzDecodeCommand(f *testing.F) {
	f.Add([]byte(`{"id":"c1","action":"unlock","deadline":"2026-11-22T23:00:00Z","by":"staff-1","forMs":5000}`))
	f.Add([]byte(`{"id":"c2","action":"indicate","deadline":"2026-11-22T23:00:00Z","pattern":"deny"}`))
	for _, p := range badFiles(f, "command") {
		f.Add(readFile(f, p))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := sitebus.DecodeCommand(data)
		if err != nil {
			if !errors.Is(err, sitebus.ErrMessage) {
				t.Fatalf("error %v is not ErrMessage", err)
			}
			return
		}
		if c.ID == "" || c.Deadline.IsZero() || c.ForMs < 0 {
			t.Fatalf("accepted %+v", c)
		}
	})
}

func FuzzDecodeCredentialList(f *testing.F) {
	f.Add([]byte(`{"version":1,"time":"2026-11-22T23:00:00Z","credentials":[{"id":"12:3456"},{"id":"7:1","doors":["front"]}]}`))
	for _, p := range badFiles(f, "credentials") {
		f.Add(readFile(f, p))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := sitebus.DecodeCredentialList(data)
		if err != nil {
			if !errors.Is(err, sitebus.ErrMessage) {
				t.Fatalf("error %v is not ErrMessage", err)
			}
			return
		}
		if l.Version == 0 {
			t.Fatalf("accepted %+v", l)
		}
		for _, c := range l.Credentials {
			if c.ID == "" {
				t.Fatalf("accepted an empty id in %+v", l)
			}
		}
	})
}

func TestDecodeCommandValid(t *testing.T) {
	c, err := sitebus.DecodeCommand([]byte(`{"id":"c1","action":"unlock","deadline":"2026-11-22T23:00:00Z","by":"staff-1","forMs":5000}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != "c1" || c.Action != sitebus.ActionUnlock || c.By != "staff-1" || c.ForMs != 5000 || !c.Deadline.Equal(time.Date(2026, 11, 22, 23, 0, 0, 0, time.UTC)) {
		t.Errorf("DecodeCommand = %+v", c)
	}
}

func FuzzDecodeAck(f *testing.F) {
	f.Add([]byte(`{"boot":"b1","done":{"reader/front-in/event":[1,2,3],"door/front/state":[7]}}`))
	for _, p := range badFiles(f, "ack") {
		f.Add(readFile(f, p))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := sitebus.DecodeAck(data)
		if err != nil {
			if !errors.Is(err, sitebus.ErrMessage) {
				t.Fatalf("error %v is not ErrMessage", err)
			}
			return
		}
		if a.Boot == "" {
			t.Fatalf("accepted %+v", a)
		}
		for dev, seqs := range a.Done {
			if _, err := sitebus.ParseTopic("apedge/v1/MAN1/dev/" + dev); err != nil {
				t.Fatalf("accepted device %q: %v", dev, err)
			}
			if slices.Contains(seqs, 0) {
				t.Fatalf("accepted seq 0 in %+v", a)
			}
		}
	})
}

func TestDecodeAckValid(t *testing.T) {
	a, err := sitebus.DecodeAck([]byte(`{"boot":"b1","done":{"reader/front-in/event":[1,2,3],"door/front/state":[7]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if a.Boot != "b1" || !slices.Equal(a.Done["reader/front-in/event"], []uint64{1, 2, 3}) || !slices.Equal(a.Done["door/front/state"], []uint64{7}) {
		t.Errorf("DecodeAck = %+v", a)
	}
}

func FuzzDecodeAgentState(f *testing.F) {
	f.Add([]byte(`{"status":"online","time":"2026-11-22T23:00:00Z"}`))
	for _, p := range badFiles(f, "agentstate") {
		f.Add(readFile(f, p))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := sitebus.DecodeAgentState(data)
		if err != nil {
			if !errors.Is(err, sitebus.ErrMessage) {
				t.Fatalf("error %v is not ErrMessage", err)
			}
			return
		}
		if st.Status != "online" && st.Status != "offline" {
			t.Fatalf("accepted %+v", st)
		}
	})
}

func FuzzDecodeResult(f *testing.F) {
	f.Add([]byte(`{"id":"c1","status":"done"}`))
	f.Add([]byte(`{"id":"c2","status":"failed","error":"no door back"}`))
	for _, p := range badFiles(f, "result") {
		f.Add(readFile(f, p))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := sitebus.DecodeResult(data)
		if err != nil {
			if !errors.Is(err, sitebus.ErrMessage) {
				t.Fatalf("error %v is not ErrMessage", err)
			}
			return
		}
		if r.ID == "" || (r.Status != sitebus.ResultDone && r.Status != sitebus.ResultFailed && r.Status != sitebus.ResultExpired) {
			t.Fatalf("accepted %+v", r)
		}
	})
}

func FuzzDecodeStatus(f *testing.F) {
	f.Add([]byte(`{"status":"online","boot":"b1","time":"2026-11-22T23:00:00Z"}`))
	f.Add([]byte(`{"status":"online","boot":"b1","outbox":"degraded","held":12,"lost":3}`))
	f.Add([]byte(`{"locked":true,"open":false,"positionKnown":true,"lock":"fail-safe","entryReader":"front-out"}`))
	f.Add([]byte(`{"online":true,"door":"front","direction":"entry","interface":"osdp","address":1,"secureChannel":"on","secure":true}`))
	for _, kind := range []string{"bridgestate", "doorstatus", "readerstatus"} {
		for _, p := range badFiles(f, kind) {
			f.Add(readFile(f, p))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if st, err := sitebus.DecodeBridgeState(data); err != nil {
			if !errors.Is(err, sitebus.ErrMessage) {
				t.Fatalf("bridge state error %v is not ErrMessage", err)
			}
		} else if st.Status != "online" && st.Status != "offline" || st.Outbox != "" && st.Outbox != "degraded" {
			t.Fatalf("accepted bridge state %+v", st)
		}
		if st, err := sitebus.DecodeDoorStatus(data); err != nil {
			if !errors.Is(err, sitebus.ErrMessage) {
				t.Fatalf("door status error %v is not ErrMessage", err)
			}
		} else if st.Open && !st.PositionKnown {
			t.Fatalf("accepted door status %+v", st)
		}
		if st, err := sitebus.DecodeReaderStatus(data); err != nil {
			if !errors.Is(err, sitebus.ErrMessage) {
				t.Fatalf("reader status error %v is not ErrMessage", err)
			}
		} else if st.Interface != "osdp" && st.Interface != "wiegand" {
			t.Fatalf("accepted reader status %+v", st)
		}
	})
}

func FuzzDecodeMessagesLost(f *testing.F) {
	f.Add([]byte(`{"count":250,"from":"2026-11-22T23:00:00Z","to":"2026-11-22T23:04:00Z","cause":"disk full"}`))
	for _, p := range badFiles(f, "messageslost") {
		f.Add(readFile(f, p))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := sitebus.DecodeMessagesLost(data)
		if err != nil {
			if !errors.Is(err, sitebus.ErrMessage) {
				t.Fatalf("error %v is not ErrMessage", err)
			}
			return
		}
		if l.Count == 0 || l.To.Before(l.From) || len(l.Cause) > 256 {
			t.Fatalf("accepted %+v", l)
		}
	})
}
