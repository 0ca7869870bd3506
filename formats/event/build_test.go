package event_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/apedge/apedge/formats/event"
)

// BenchmarkBuild measures building one typical payload, the sequential step of a
// journal append.
func BenchmarkBuild(b *testing.B) {
	bl, err := event.NewBuilder("BENCH1")
	if err != nil {
		b.Fatal(err)
	}
	d := &event.Draft{Type: "movement.entered", OccurredAt: time.Now(),
		Person: &event.PersonReference{Identifiers: []event.Identifier{{Type: "CRN", Value: "X123456"}}},
		Info:   json.RawMessage(`{"door":"front","reader":"front-in","direction":"entry","credential":{"kind":"card","number":"10001","format":"raw"}}`)}
	var prev [32]byte
	b.ReportAllocs()
	for b.Loop() {
		p, err := bl.Build(1, prev, d)
		if err != nil {
			b.Fatal(err)
		}
		prev = event.Hash(p)
	}
}

// FuzzBuildParses holds Build and Parse in step: whatever Build accepts, Parse (and so
// central) accepts too, with the same seq, type and person.
func FuzzBuildParses(f *testing.F) {
	f.Add("movement.entered", int64(1774746000), "CRN", "X123456", "desc", []byte(`{"door":"front"}`), uint64(1))
	f.Add("agent.started", int64(-62135596800), "NOMS", "A1234BC", "", []byte(nil), uint64(2147483647))
	f.Add("x", int64(253402300799), "PNC", "1", "\u2028<>&\x00", []byte(`{}`), uint64(5))
	f.Fuzz(func(t *testing.T, typ string, unix int64, idType, idValue, desc string, info []byte, seq uint64) {
		b, err := event.NewBuilder("FUZZ1")
		if err != nil {
			t.Fatal(err)
		}
		d := &event.Draft{Type: typ, OccurredAt: time.Unix(unix, 0), Description: desc, Info: info,
			Person: &event.PersonReference{Identifiers: []event.Identifier{{Type: idType, Value: idValue}}}}
		p, err := b.Build(seq, event.GenesisHash, d)
		if err != nil {
			return
		}
		e, err := event.Parse(p)
		if err != nil {
			t.Fatalf("Build made a payload Parse refuses: %v\n%s", err, p)
		}
		if e.Seq != seq || e.Type != event.TypePrefix+typ || e.Data.PersonReference.Identifiers[0].Value != idValue {
			t.Fatalf("round trip changed the event: %s", p)
		}
	})
}
