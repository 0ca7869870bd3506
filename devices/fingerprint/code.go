package fingerprint

import (
	"errors"
	"fmt"
)

// Code is a confirmation code: the first byte of every acknowledgement, what
// became of the command. The package doc says where each comes from and where
// the sources disagree; a code not listed here is reported by its number and
// wraps ErrUnknownCode.
type Code byte

// The confirmation codes.
const (
	CodeOK               Code = 0x00 // the command was carried out
	CodePacketReceive    Code = 0x01 // error when receiving the packet
	CodeNoFinger         Code = 0x02 // no finger on the sensor
	CodeImageFail        Code = 0x03 // failed to take the finger's image
	CodeImageDry         Code = 0x04 // image too dry or faint for features (AS608)
	CodeImageWet         Code = 0x05 // image too wet or smudged for features (AS608)
	CodeImageMessy       Code = 0x06 // image too messy for features
	CodeFewFeatures      Code = 0x07 // too few feature points, or too small an image
	CodeNoMatch          Code = 0x08 // the fingers do not match
	CodeNotFound         Code = 0x09 // no matching finger in the library
	CodeMergeFailed      Code = 0x0A // failed to combine the character files
	CodeBadLocation      Code = 0x0B // page id beyond the library
	CodeTemplateRead     Code = 0x0C // error reading the template, or it is not valid
	CodeUploadFeature    Code = 0x0D // error uploading the template
	CodeReceiveData      Code = 0x0E // the module cannot receive the following data packets
	CodeUploadImage      Code = 0x0F // error uploading the image
	CodeDeleteFailed     Code = 0x10 // failed to delete the templates
	CodeClearFailed      Code = 0x11 // failed to clear the library
	CodeLowPower         Code = 0x12 // cannot enter low-power mode (AS608)
	CodeWrongPassword    Code = 0x13 // wrong password
	CodeResetFailed      Code = 0x14 // system reset failed (AS608)
	CodeNoImage          Code = 0x15 // no valid primary image in the image buffer
	CodeUpgradeFailed    Code = 0x16 // online upgrade failed (AS608)
	CodeFingerNotMoved   Code = 0x17 // residual print, or the finger did not move between captures (AS608)
	CodeFlash            Code = 0x18 // error reading or writing flash
	CodeUndefined        Code = 0x19 // undefined error
	CodeInvalidRegister  Code = 0x1A // invalid register number
	CodeRegisterContent  Code = 0x1B // incorrect content for the register
	CodeNotepadPage      Code = 0x1C // wrong notepad page number
	CodePortOperation    Code = 0x1D // failed to operate the communication port
	CodeEnrollFailed     Code = 0x1E // automatic enrolment failed (AS608)
	CodeLibraryFull      Code = 0x1F // the library is full
	CodeAddress          Code = 0x20 // the address code is wrong
	CodePasswordRequired Code = 0x21 // the password must be verified first
	CodeTemplateEmpty    Code = 0x22 // the template is empty (R503)
	CodeLibraryEmpty     Code = 0x24 // the library is empty (R503)
	CodeTimeout          Code = 0x26 // the module timed out (R503)
	CodeAlreadyExists    Code = 0x27 // the fingerprint is already enrolled (R503)
	CodeSensor           Code = 0x29 // sensor hardware error (R503)
	CodeUnsupported      Code = 0xFC // the module does not have the instruction (R503)
	CodeHardware         Code = 0xFD // hardware error (R503)
	CodeExecutionFailed  Code = 0xFE // the command failed (R503)
)

// The error of each confirmation code but CodeOK, as a *ModuleError wraps it.
var (
	ErrPacketReceive    = errors.New("fingerprint: error when receiving the packet")
	ErrNoFinger         = errors.New("fingerprint: no finger on the sensor")
	ErrImageFail        = errors.New("fingerprint: failed to take the finger's image")
	ErrImageDry         = errors.New("fingerprint: image too dry or faint for features")
	ErrImageWet         = errors.New("fingerprint: image too wet or smudged for features")
	ErrImageMessy       = errors.New("fingerprint: image too messy for features")
	ErrFewFeatures      = errors.New("fingerprint: too few feature points")
	ErrNotMatched       = errors.New("fingerprint: the fingers do not match")
	ErrNotFound         = errors.New("fingerprint: no matching finger in the library")
	ErrMergeFailed      = errors.New("fingerprint: failed to combine the character files")
	ErrBadLocation      = errors.New("fingerprint: page id beyond the library")
	ErrTemplateRead     = errors.New("fingerprint: error reading the template, or it is not valid")
	ErrUploadFeature    = errors.New("fingerprint: error uploading the template")
	ErrReceiveData      = errors.New("fingerprint: the module cannot receive the following data packets")
	ErrUploadImage      = errors.New("fingerprint: error uploading the image")
	ErrDeleteFailed     = errors.New("fingerprint: failed to delete the templates")
	ErrClearFailed      = errors.New("fingerprint: failed to clear the library")
	ErrLowPower         = errors.New("fingerprint: cannot enter low-power mode")
	ErrWrongPassword    = errors.New("fingerprint: wrong password")
	ErrResetFailed      = errors.New("fingerprint: system reset failed")
	ErrNoImage          = errors.New("fingerprint: no valid primary image")
	ErrUpgradeFailed    = errors.New("fingerprint: online upgrade failed")
	ErrFingerNotMoved   = errors.New("fingerprint: residual print, or the finger did not move")
	ErrFlash            = errors.New("fingerprint: error reading or writing flash")
	ErrUndefined        = errors.New("fingerprint: undefined error")
	ErrInvalidRegister  = errors.New("fingerprint: invalid register number")
	ErrRegisterContent  = errors.New("fingerprint: incorrect content for the register")
	ErrNotepadPage      = errors.New("fingerprint: wrong notepad page number")
	ErrPortOperation    = errors.New("fingerprint: failed to operate the communication port")
	ErrEnrollFailed     = errors.New("fingerprint: automatic enrolment failed")
	ErrLibraryFull      = errors.New("fingerprint: the library is full")
	ErrAddress          = errors.New("fingerprint: the address code is wrong")
	ErrPasswordRequired = errors.New("fingerprint: the password must be verified first")
	ErrTemplateEmpty    = errors.New("fingerprint: the template is empty")
	ErrLibraryEmpty     = errors.New("fingerprint: the library is empty")
	ErrModuleTimeout    = errors.New("fingerprint: the module timed out")
	ErrAlreadyExists    = errors.New("fingerprint: the fingerprint is already enrolled")
	ErrSensor           = errors.New("fingerprint: sensor hardware error")
	ErrUnsupportedCode  = errors.New("fingerprint: the module does not have the instruction")
	ErrHardware         = errors.New("fingerprint: hardware error")
	ErrExecutionFailed  = errors.New("fingerprint: the command failed")
)

// ErrModule marks an error the module reported with a confirmation code: every
// *ModuleError wraps it, whatever the code.
var ErrModule = errors.New("fingerprint: the module refused the command")

// ErrUnknownCode marks a confirmation code this package does not know.
var ErrUnknownCode = errors.New("fingerprint: unknown confirmation code")

// ErrUnsupported marks a command the module does not have: one Options says it
// lacks (the Terminal sends nothing), or one it answered with CodeUnsupported.
var ErrUnsupported = errors.New("fingerprint: not supported by the module")

// codeErrors is each known code's error, and so the list of known codes.
var codeErrors = map[Code]error{
	CodePacketReceive: ErrPacketReceive, CodeNoFinger: ErrNoFinger, CodeImageFail: ErrImageFail,
	CodeImageDry: ErrImageDry, CodeImageWet: ErrImageWet, CodeImageMessy: ErrImageMessy,
	CodeFewFeatures: ErrFewFeatures, CodeNoMatch: ErrNotMatched, CodeNotFound: ErrNotFound,
	CodeMergeFailed: ErrMergeFailed, CodeBadLocation: ErrBadLocation, CodeTemplateRead: ErrTemplateRead,
	CodeUploadFeature: ErrUploadFeature, CodeReceiveData: ErrReceiveData, CodeUploadImage: ErrUploadImage,
	CodeDeleteFailed: ErrDeleteFailed, CodeClearFailed: ErrClearFailed, CodeLowPower: ErrLowPower,
	CodeWrongPassword: ErrWrongPassword, CodeResetFailed: ErrResetFailed, CodeNoImage: ErrNoImage,
	CodeUpgradeFailed: ErrUpgradeFailed, CodeFingerNotMoved: ErrFingerNotMoved, CodeFlash: ErrFlash,
	CodeUndefined: ErrUndefined, CodeInvalidRegister: ErrInvalidRegister, CodeRegisterContent: ErrRegisterContent,
	CodeNotepadPage: ErrNotepadPage, CodePortOperation: ErrPortOperation, CodeEnrollFailed: ErrEnrollFailed,
	CodeLibraryFull: ErrLibraryFull, CodeAddress: ErrAddress, CodePasswordRequired: ErrPasswordRequired,
	CodeTemplateEmpty: ErrTemplateEmpty, CodeLibraryEmpty: ErrLibraryEmpty, CodeTimeout: ErrModuleTimeout,
	CodeAlreadyExists: ErrAlreadyExists, CodeSensor: ErrSensor, CodeUnsupported: ErrUnsupportedCode,
	CodeHardware: ErrHardware, CodeExecutionFailed: ErrExecutionFailed,
}

// Known says the package knows c: CodeOK or one with an error of its own.
func (c Code) Known() bool {
	_, ok := codeErrors[c]
	return ok || c == CodeOK
}

// Err returns c's error (ErrNoFinger for CodeNoFinger), nil for CodeOK, or for
// a code this package does not know an error wrapping ErrUnknownCode.
func (c Code) Err() error {
	if c == CodeOK {
		return nil
	}
	if err, ok := codeErrors[c]; ok {
		return err
	}
	return fmt.Errorf("%w %#02x", ErrUnknownCode, byte(c))
}

// String returns what c means ("no finger on the sensor"), or for a code this
// package does not know "confirmation code 0xNN".
func (c Code) String() string {
	if c == CodeOK {
		return "ok"
	}
	if err, ok := codeErrors[c]; ok {
		return err.Error()[len("fingerprint: "):]
	}
	return fmt.Sprintf("confirmation code %#02x", byte(c))
}

// ModuleError is a command the module answered with a confirmation code other
// than CodeOK. errors.Is finds in it its code's error (Code.Err), ErrModule,
// and for CodeUnsupported ErrUnsupported.
type ModuleError struct {
	Instruction Instruction
	Code        Code
}

// Error returns "fingerprint: GenImg: no finger on the sensor (confirmation
// code 0x02)", or for a code not known "fingerprint: GenImg: unknown
// confirmation code 0x23".
func (e *ModuleError) Error() string {
	if !e.Code.Known() {
		return fmt.Sprintf("fingerprint: %s: unknown confirmation code %#02x", e.Instruction, byte(e.Code))
	}
	return fmt.Sprintf("fingerprint: %s: %s (confirmation code %#02x)", e.Instruction, e.Code, byte(e.Code))
}

// Unwrap returns the code's error and ErrModule (and ErrUnsupported).
func (e *ModuleError) Unwrap() []error {
	errs := []error{e.Code.Err(), ErrModule}
	if e.Code == CodeUnsupported {
		errs = append(errs, ErrUnsupported)
	}
	return errs
}

// CodeOf returns the confirmation code of a *ModuleError in err's chain, and
// whether there is one.
func CodeOf(err error) (Code, bool) {
	if me, ok := errors.AsType[*ModuleError](err); ok {
		return me.Code, true
	}
	return 0, false
}
