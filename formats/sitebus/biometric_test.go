package sitebus_test

import (
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/apedge/apedge/formats/sitebus"
)

// Good biometric payloads, as a terminal's bridge class sends them.
var goodBiometric = map[string]string{
	sitebus.BiometricEnrolStep:   `{"enrolment":"E-7","step":"place-again"}`,
	sitebus.BiometricEnrolled:    `{"enrolment":"E-7","slot":12}`,
	sitebus.BiometricEnrolFailed: `{"enrolment":"E-7","slot":12,"reason":"fingers-do-not-match","detail":"the two captures are not the same finger"}`,
	sitebus.BiometricDeleted:     `{"command":"c-9","slots":[12,13],"used":[0,4],"capacity":200,"readAt":"2026-06-10T12:00:00Z","confirmed":true}`,
	sitebus.BiometricIndex:       `{"command":"c-10","used":[0,4,12],"capacity":200,"readAt":"2026-06-10T12:00:00Z"}`,
}

// TestBiometricEvents decodes each good event to what it says, and refuses a kind
// it does not know.
func TestBiometricEvents(t *testing.T) {
	at := time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC)
	want := map[string]any{
		sitebus.BiometricEnrolStep: &sitebus.EnrolStep{Enrolment: "E-7", Step: sitebus.StepPlaceAgain},
		sitebus.BiometricEnrolled:  &sitebus.Enrolled{Enrolment: "E-7", Slot: 12},
		sitebus.BiometricEnrolFailed: &sitebus.EnrolFailed{Enrolment: "E-7", Slot: 12, Reason: "fingers-do-not-match",
			Detail: "the two captures are not the same finger"},
		sitebus.BiometricDeleted: &sitebus.TemplatesDeleted{Command: "c-9", Slots: []int{12, 13}, Used: []int{0, 4}, Capacity: 200, ReadAt: at, Confirmed: true},
		sitebus.BiometricIndex:   &sitebus.IndexTable{Command: "c-10", Used: []int{0, 4, 12}, Capacity: 200, ReadAt: at},
	}
	for kind, b := range goodBiometric {
		got, err := sitebus.DecodeBiometricEvent(kind, []byte(b))
		if err != nil {
			t.Errorf("%s: %v", kind, err)
			continue
		}
		if !reflect.DeepEqual(got, want[kind]) {
			t.Errorf("%s: %+v, want %+v", kind, got, want[kind])
		}
	}
	if _, err := sitebus.DecodeBiometricEvent("template", []byte(`{}`)); !errors.Is(err, sitebus.ErrMessage) {
		t.Errorf("kind template: %v, want ErrMessage", err)
	}
	st, err := sitebus.DecodeBiometricStatus([]byte(`{"online":true,"capacity":200,"templates":2,"securityLevel":3,"packetSize":128,"baud":57600,"used":[0,4]}`))
	if err != nil || st.Capacity != 200 || len(st.Used) != 2 {
		t.Errorf("status %+v, %v", st, err)
	}
}

// TestBadBiometricCorpus checks that every file in testdata/bad/{biometricstatus,
// enrolstep, enrolled, enrolfailed, templatesdeleted, indextable} is refused with
// ErrMessage: among them a deletion that says it is confirmed while the index table
// read back still holds the slot.
func TestBadBiometricCorpus(t *testing.T) {
	for dir, decode := range map[string]func([]byte) (any, error){
		"biometricstatus":  func(b []byte) (any, error) { return sitebus.DecodeBiometricStatus(b) },
		"enrolstep":        func(b []byte) (any, error) { return sitebus.DecodeBiometricEvent(sitebus.BiometricEnrolStep, b) },
		"enrolled":         func(b []byte) (any, error) { return sitebus.DecodeBiometricEvent(sitebus.BiometricEnrolled, b) },
		"enrolfailed":      func(b []byte) (any, error) { return sitebus.DecodeBiometricEvent(sitebus.BiometricEnrolFailed, b) },
		"templatesdeleted": func(b []byte) (any, error) { return sitebus.DecodeBiometricEvent(sitebus.BiometricDeleted, b) },
		"indextable":       func(b []byte) (any, error) { return sitebus.DecodeBiometricEvent(sitebus.BiometricIndex, b) },
	} {
		for _, f := range badFiles(t, dir) {
			t.Run(dir+"/"+filepath.Base(f), func(t *testing.T) {
				v, err := decode(readFile(t, f))
				if err == nil {
					t.Fatalf("accepted as %+v", v)
				}
				if !errors.Is(err, sitebus.ErrMessage) {
					t.Fatalf("error %v is not ErrMessage", err)
				}
			})
		}
	}
}

func FuzzDecodeBiometricEvent(f *testing.F) {
	kinds := []string{sitebus.BiometricEnrolStep, sitebus.BiometricEnrolled, sitebus.BiometricEnrolFailed, sitebus.BiometricDeleted, sitebus.BiometricIndex}
	for i, k := range kinds {
		f.Add(uint8(i), []byte(goodBiometric[k]))
	}
	for i, dir := range []string{"enrolstep", "enrolled", "enrolfailed", "templatesdeleted", "indextable"} {
		for _, p := range badFiles(f, dir) {
			f.Add(uint8(i), readFile(f, p))
		}
	}
	f.Fuzz(func(t *testing.T, k uint8, data []byte) {
		v, err := sitebus.DecodeBiometricEvent(kinds[int(k)%len(kinds)], data)
		if err != nil && !errors.Is(err, sitebus.ErrMessage) {
			t.Fatalf("error %v is not ErrMessage", err)
		}
		if err == nil && v == nil {
			t.Fatal("nil event without an error")
		}
		if d, ok := v.(*sitebus.TemplatesDeleted); ok && d.Confirmed {
			for _, s := range d.Slots {
				for _, u := range d.Used {
					if s == u {
						t.Fatalf("confirmed a deletion of slot %d that the index table still holds", s)
					}
				}
			}
		}
	})
}

func FuzzDecodeBiometricStatus(f *testing.F) {
	f.Add([]byte(`{"online":true,"capacity":200,"templates":2,"used":[0,4]}`))
	for _, p := range badFiles(f, "biometricstatus") {
		f.Add(readFile(f, p))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := sitebus.DecodeBiometricStatus(data); err != nil && !errors.Is(err, sitebus.ErrMessage) {
			t.Fatalf("error %v is not ErrMessage", err)
		}
	})
}
