package sitebus_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/formats/sitekey"
)

// corpusKey is the site key testdata/bad/signed* was signed with (a fixed seed), so
// that the corpus holds genuine signatures over bad content as well as forgeries.
func corpusKey(t testing.TB) *sitekey.Private {
	t.Helper()
	k, err := sitekey.FromSeed("MAN1", []byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// alter returns env with one byte of its signed payload changed, signature kept.
func alter(t testing.TB, env []byte) []byte {
	t.Helper()
	var d struct {
		PayloadType string            `json:"payloadType"`
		Payload     []byte            `json:"payload"`
		Signatures  []json.RawMessage `json:"signatures"`
	}
	if err := json.Unmarshal(env, &d); err != nil {
		t.Fatal(err)
	}
	d.Payload = []byte(strings.Replace(string(d.Payload), `"version":3`, `"version":9`, 1))
	d.Payload = []byte(strings.Replace(string(d.Payload), `"forMs":3000`, `"forMs":3000000`, 1))
	d.Payload = []byte(strings.Replace(string(d.Payload), `"version":7`, `"version":9`, 1))
	out, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var deadline = time.Date(2026, 6, 10, 11, 0, 10, 0, time.UTC)

func TestSignedCredentialList(t *testing.T) {
	k := corpusKey(t)
	other, _ := sitekey.Generate("MAN1", nil)
	l := &sitebus.CredentialList{Version: 7, Time: deadline, Credentials: []sitebus.Allowed{{ID: "12:10001"}, {ID: "12:10002", Doors: []string{"side"}}}}
	raw, err := sitebus.SignCredentialList(k, l)
	if err != nil {
		t.Fatal(err)
	}
	got, err := sitebus.VerifyCredentialList(raw, k.Public())
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 7 || len(got.Credentials) != 2 || got.Credentials[1].Doors[0] != "side" || !got.Time.Equal(l.Time) {
		t.Errorf("verified list %+v, want %+v", got, l)
	}
	var env struct{ PayloadType string }
	if err := json.Unmarshal(raw, &env); err != nil || env.PayloadType != sitebus.CredentialsPayloadType {
		t.Errorf("envelope payloadType %q (%v), want %s", env.PayloadType, err, sitebus.CredentialsPayloadType)
	}
	bare, _ := json.Marshal(l)
	tests := []struct {
		name string
		raw  []byte
		pub  *sitekey.Public
		want error
	}{
		{"unsigned", bare, k.Public(), sitebus.ErrUnsigned},
		{"other key", raw, other.Public(), sitebus.ErrBadSignature},
		{"no key", raw, nil, sitebus.ErrBadSignature},
		{"payload altered", alter(t, raw), k.Public(), sitebus.ErrBadSignature},
		{"signed as a command", []byte(strings.Replace(string(raw), sitebus.CredentialsPayloadType, sitebus.CommandPayloadType, 1)), k.Public(), sitebus.ErrUnsigned},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := sitebus.VerifyCredentialList(tc.raw, tc.pub)
			if !errors.Is(err, tc.want) || !errors.Is(err, sitebus.ErrMessage) {
				t.Errorf("VerifyCredentialList = %+v, %v; want %v (and ErrMessage)", l, err, tc.want)
			}
		})
	}
}

func TestSignedCommand(t *testing.T) {
	k := corpusKey(t)
	other, _ := sitekey.Generate("MAN1", nil)
	c := &sitebus.Command{ID: "c1", Action: sitebus.ActionUnlock, Deadline: deadline, By: "s-ann", ForMs: 3000}
	raw, err := sitebus.SignCommand(k, "MAN1", sitebus.ClassDoor, "front", c)
	if err != nil {
		t.Fatal(err)
	}
	got, body, err := sitebus.VerifyCommand(raw, k.Public(), "MAN1", sitebus.ClassDoor, "front")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Errorf("verified command %+v, want %+v", got, c)
	}
	var args struct{ ForMs int64 }
	if err := json.Unmarshal(body, &args); err != nil || args.ForMs != 3000 {
		t.Errorf("signed body %s: forMs %d (%v), want 3000", body, args.ForMs, err)
	}
	if id := sitebus.ClaimedCommandID(raw); id != "c1" {
		t.Errorf("ClaimedCommandID(signed) = %q, want c1", id)
	}
	bare, _ := json.Marshal(c)
	if id := sitebus.ClaimedCommandID(bare); id != "c1" {
		t.Errorf("ClaimedCommandID(bare) = %q, want c1", id)
	}
	if id := sitebus.ClaimedCommandID([]byte(`{"id":""}`)); id != "" {
		t.Errorf("ClaimedCommandID(no id) = %q, want none", id)
	}
	tests := []struct {
		name             string
		raw              []byte
		pub              *sitekey.Public
		site, class, dev string
		want             error
	}{
		{"unsigned", bare, k.Public(), "MAN1", "door", "front", sitebus.ErrUnsigned},
		{"other key", raw, other.Public(), "MAN1", "door", "front", sitebus.ErrBadSignature},
		{"payload altered", alter(t, raw), k.Public(), "MAN1", "door", "front", sitebus.ErrBadSignature},
		{"other door", raw, k.Public(), "MAN1", "door", "side", sitebus.ErrNotForDevice},
		{"other class", raw, k.Public(), "MAN1", "reader", "front", sitebus.ErrNotForDevice},
		{"other site", raw, k.Public(), "MAN2", "door", "front", sitebus.ErrNotForDevice},
		{"signed as a list", []byte(strings.Replace(string(raw), sitebus.CommandPayloadType, sitebus.CredentialsPayloadType, 1)), k.Public(), "MAN1", "door", "front", sitebus.ErrUnsigned},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := sitebus.VerifyCommand(tc.raw, tc.pub, tc.site, tc.class, tc.dev)
			if !errors.Is(err, tc.want) || !errors.Is(err, sitebus.ErrMessage) {
				t.Errorf("VerifyCommand = %+v, %v; want %v (and ErrMessage)", c, err, tc.want)
			}
		})
	}
}

// TestBadSignedCorpus checks that every file of testdata/bad/signedcredentials and
// testdata/bad/signedcommand (for door front of MAN1) is refused by the corpus key.
func TestBadSignedCorpus(t *testing.T) {
	pub := corpusKey(t).Public()
	for _, f := range badFiles(t, "signedcredentials") {
		if l, err := sitebus.VerifyCredentialList(readFile(t, f), pub); err == nil || !errors.Is(err, sitebus.ErrMessage) {
			t.Errorf("%s: %+v, %v; want refused with ErrMessage", f, l, err)
		}
	}
	for _, f := range badFiles(t, "signedcommand") {
		if c, _, err := sitebus.VerifyCommand(readFile(t, f), pub, "MAN1", sitebus.ClassDoor, "front"); err == nil || !errors.Is(err, sitebus.ErrMessage) {
			t.Errorf("%s: %+v, %v; want refused with ErrMessage", f, c, err)
		}
	}
}

func FuzzVerifyCredentialList(f *testing.F) {
	k := corpusKey(f)
	good, _ := sitebus.SignCredentialList(k, &sitebus.CredentialList{Version: 1, Time: deadline, Credentials: []sitebus.Allowed{{ID: "12:1"}}})
	f.Add(good)
	for _, p := range badFiles(f, "signedcredentials") {
		f.Add(readFile(f, p))
	}
	pub := k.Public()
	f.Fuzz(func(t *testing.T, raw []byte) {
		l, err := sitebus.VerifyCredentialList(raw, pub)
		if err != nil {
			if !errors.Is(err, sitebus.ErrMessage) {
				t.Fatalf("error %v is not ErrMessage", err)
			}
			return
		}
		if l.Version == 0 {
			t.Fatalf("accepted %+v", l)
		}
		// Only what the key signed verifies: the payload re-signed gives the same list.
		again, err := sitebus.SignCredentialList(k, l)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sitebus.VerifyCredentialList(again, pub); err != nil {
			t.Fatalf("re-signed list refused: %v", err)
		}
	})
}

func FuzzVerifyCommand(f *testing.F) {
	k := corpusKey(f)
	good, _ := sitebus.SignCommand(k, "MAN1", sitebus.ClassDoor, "front", &sitebus.Command{ID: "c1", Action: sitebus.ActionUnlock, Deadline: deadline})
	f.Add(good)
	for _, p := range badFiles(f, "signedcommand") {
		f.Add(readFile(f, p))
	}
	pub := k.Public()
	f.Fuzz(func(t *testing.T, raw []byte) {
		_ = sitebus.ClaimedCommandID(raw) // never panics
		c, _, err := sitebus.VerifyCommand(raw, pub, "MAN1", sitebus.ClassDoor, "front")
		if err != nil {
			if !errors.Is(err, sitebus.ErrMessage) {
				t.Fatalf("error %v is not ErrMessage", err)
			}
			return
		}
		if c.ID == "" || c.Deadline.IsZero() {
			t.Fatalf("accepted %+v", c)
		}
		if id := sitebus.ClaimedCommandID(raw); id != c.ID {
			t.Fatalf("ClaimedCommandID = %q, want %q", id, c.ID)
		}
	})
}
