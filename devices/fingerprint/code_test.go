package fingerprint

import (
	"errors"
	"strings"
	"testing"
)

// knownCodes returns every code the package names, CodeOK first.
func knownCodes() []Code {
	codes := []Code{CodeOK}
	for c := range 256 {
		if Code(c) != CodeOK && Code(c).Known() {
			codes = append(codes, Code(c))
		}
	}
	return codes
}

// TestCodeErrors: every code but CodeOK has an error of its own, which a
// *ModuleError of it wraps with ErrModule; each has a meaning; codes not known
// wrap ErrUnknownCode.
func TestCodeErrors(t *testing.T) {
	tests := []struct {
		code Code
		err  error
	}{
		{CodePacketReceive, ErrPacketReceive}, {CodeNoFinger, ErrNoFinger}, {CodeImageFail, ErrImageFail},
		{CodeImageDry, ErrImageDry}, {CodeImageWet, ErrImageWet}, {CodeImageMessy, ErrImageMessy},
		{CodeFewFeatures, ErrFewFeatures}, {CodeNoMatch, ErrNotMatched}, {CodeNotFound, ErrNotFound},
		{CodeMergeFailed, ErrMergeFailed}, {CodeBadLocation, ErrBadLocation}, {CodeTemplateRead, ErrTemplateRead},
		{CodeUploadFeature, ErrUploadFeature}, {CodeReceiveData, ErrReceiveData}, {CodeUploadImage, ErrUploadImage},
		{CodeDeleteFailed, ErrDeleteFailed}, {CodeClearFailed, ErrClearFailed}, {CodeLowPower, ErrLowPower},
		{CodeWrongPassword, ErrWrongPassword}, {CodeResetFailed, ErrResetFailed}, {CodeNoImage, ErrNoImage},
		{CodeUpgradeFailed, ErrUpgradeFailed}, {CodeFingerNotMoved, ErrFingerNotMoved}, {CodeFlash, ErrFlash},
		{CodeUndefined, ErrUndefined}, {CodeInvalidRegister, ErrInvalidRegister}, {CodeRegisterContent, ErrRegisterContent},
		{CodeNotepadPage, ErrNotepadPage}, {CodePortOperation, ErrPortOperation}, {CodeEnrollFailed, ErrEnrollFailed},
		{CodeLibraryFull, ErrLibraryFull}, {CodeAddress, ErrAddress}, {CodePasswordRequired, ErrPasswordRequired},
		{CodeTemplateEmpty, ErrTemplateEmpty}, {CodeLibraryEmpty, ErrLibraryEmpty}, {CodeTimeout, ErrModuleTimeout},
		{CodeAlreadyExists, ErrAlreadyExists}, {CodeSensor, ErrSensor}, {CodeUnsupported, ErrUnsupportedCode},
		{CodeHardware, ErrHardware}, {CodeExecutionFailed, ErrExecutionFailed},
	}
	if len(tests) != len(knownCodes())-1 {
		t.Fatalf("%d codes in the table, %d known", len(tests), len(knownCodes())-1)
	}
	for _, tt := range tests {
		me := &ModuleError{Instruction: InstrGenImg, Code: tt.code}
		if !errors.Is(me, tt.err) || !errors.Is(me, ErrModule) || tt.code.Err() != tt.err {
			t.Errorf("code %#02x: %v does not wrap %v", byte(tt.code), me, tt.err)
		}
		for _, other := range tests {
			if other.code != tt.code && errors.Is(me, other.err) {
				t.Errorf("code %#02x is also %v", byte(tt.code), other.err)
			}
		}
		if s := tt.code.String(); s == "" || strings.HasPrefix(s, "confirmation code") || strings.HasPrefix(s, "fingerprint") {
			t.Errorf("code %#02x means %q", byte(tt.code), s)
		}
		if c, ok := CodeOf(me); !ok || c != tt.code {
			t.Errorf("CodeOf(%v) = %#02x, %v", me, byte(c), ok)
		}
		if errors.Is(me, ErrUnsupported) != (tt.code == CodeUnsupported) {
			t.Errorf("code %#02x: ErrUnsupported %v", byte(tt.code), errors.Is(me, ErrUnsupported))
		}
	}
	if CodeOK.Err() != nil || CodeOK.String() != "ok" {
		t.Errorf("CodeOK: %v, %q", CodeOK.Err(), CodeOK)
	}
	me := &ModuleError{Instruction: InstrSearch, Code: 0x23}
	if !errors.Is(me, ErrUnknownCode) || !errors.Is(me, ErrModule) || Code(0x23).Known() {
		t.Errorf("code 0x23: %v", me)
	}
	if got := me.Error(); got != "fingerprint: Search: unknown confirmation code 0x23" {
		t.Errorf("error text %q", got)
	}
	if got := (&ModuleError{Instruction: InstrGenImg, Code: CodeNoFinger}).Error(); got != "fingerprint: GenImg: no finger on the sensor (confirmation code 0x02)" {
		t.Errorf("error text %q", got)
	}
}

// TestEveryCodeThroughTheDriver: each confirmation code, answered by the
// simulated module to a capture, is returned by the Terminal as its error.
func TestEveryCodeThroughTheDriver(t *testing.T) {
	term, sim := rig(t, SimOptions{}, Options{})
	sim.PlaceFinger("X100001/right-index")
	for _, code := range knownCodes()[1:] {
		sim.FailNextCaptures(1, code)
		err := term.CaptureImage(t.Context())
		in := InstrGenImg
		if img2TzCodes[code] {
			if err != nil {
				t.Fatalf("code %#02x: GenImg: %v", byte(code), err)
			}
			err = term.Image2Tz(t.Context(), CharBuffer1)
			in = InstrImg2Tz
		}
		me, ok := errors.AsType[*ModuleError](err)
		if !ok || me.Code != code || me.Instruction != in || !errors.Is(err, code.Err()) {
			t.Errorf("code %#02x: %v", byte(code), err)
		}
	}
	// The failures are used up: a capture works again.
	if err := term.CaptureImage(t.Context()); err != nil {
		t.Fatal(err)
	}
}
