package proof

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/formats/sitekey"
)

// goldenSet is a set of the golden events seq 1, 3 and 5, each proved in the golden
// checkpoint's tree.
func goldenSet(t *testing.T) (*Set, *golden) {
	t.Helper()
	g := makeGolden(t)
	tree := buildTree(t, g.payloads)
	s := &Set{Format: SetFormat, Site: goldenSite, Title: "Events of X1 <&> “quoted”", Subject: "X1",
		From: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC),
		CreatedAt: time.Date(2026, 12, 2, 2, 0, 0, 0, time.UTC), CreatedBy: "ann", TreeSize: goldenSize}
	for _, seq := range []uint64{1, 3, 5} {
		p, err := tree.ProveRecord(goldenSize, seq-1)
		if err != nil {
			t.Fatal(err)
		}
		b, err := EncodeBundle(NewBundle(goldenSite, seq, g.envs[seq-1], p, goldenSize, g.checkpoint))
		if err != nil {
			t.Fatal(err)
		}
		s.Events = append(s.Events, SetEvent{Seq: seq, Sentence: "event <" + string(rune('0'+seq)) + ">", Bundle: b})
	}
	return s, g
}

func TestSetRoundTrip(t *testing.T) {
	s, _ := goldenSet(t)
	b, err := EncodeSet(s)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"title":"Events of X1 <&> “quoted”"`) {
		t.Errorf("the set's words were escaped: %s", b[:200])
	}
	res, err := VerifySet(b, goldenKeys(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Events) != 3 || res.Events[0].Seq != 1 || res.Events[2].Seq != 5 || res.Subject != "X1" || res.Site != goldenSite {
		t.Errorf("verified %+v", res)
	}
	// Each bundle, cut out of the set, is a bundle VerifyBundle checks on its own.
	if _, err := VerifyBundle(s.Events[1].Bundle, goldenKeys(t)); err != nil {
		t.Errorf("bundle 3 alone: %v", err)
	}
}

func TestBadSets(t *testing.T) {
	other, err := sitekey.Generate(goldenSite, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		change func(s *Set)
		keys   []*sitekey.Public
		want   error
	}{
		{"wrong format", func(s *Set) { s.Format = "apedge-proof-set/v0" }, nil, ErrBundleFormat},
		{"seq the bundle does not prove", func(s *Set) { s.Events[1].Seq = 4 }, nil, ErrSeq},
		{"out of order", func(s *Set) { s.Events[0], s.Events[1] = s.Events[1], s.Events[0] }, nil, ErrSeq},
		{"twice", func(s *Set) { s.Events[1] = s.Events[0] }, nil, ErrSeq},
		{"another site", func(s *Set) { s.Site = "LDN9" }, nil, ErrEvent},
		{"wrong type", func(s *Set) { s.Events[0].Type = "door.forced" }, nil, ErrEvent},
		{"another key", func(s *Set) {}, []*sitekey.Public{other.Public()}, ErrSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := goldenSet(t)
			tc.change(s)
			b, err := EncodeSet(s)
			if err != nil {
				t.Fatal(err)
			}
			keys := tc.keys
			if keys == nil {
				keys = goldenKeys(t)
			}
			if _, err := VerifySet(b, keys); !errors.Is(err, tc.want) {
				t.Errorf("VerifySet: %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := VerifySet([]byte(`{"format":"apedge-proof-set/v1","extra":1}`), goldenKeys(t)); !errors.Is(err, ErrBundleFormat) {
		t.Errorf("unknown field: %v", err)
	}
}
