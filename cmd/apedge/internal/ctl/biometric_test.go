package ctl

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/apedge/apedge/cmd/apedge/internal/clitest"
	"github.com/apedge/apedge/devices/fingerprint"
	"github.com/apedge/apedge/internal/wait"
)

// The responses ctl biometric decodes (registered beside the command, so that
// TestCtlReadsOnlyTheContract checks them).
func init() {
	ctlContract["biometric"] = []decodes{
		{method: "GET", path: "/api/v1/biometrics", status: 200, doc: biometricsDoc{}},
		{method: "GET", path: "/api/v1/biometrics/residents/{crn}", status: 200, doc: residentBioDoc{}},
		{method: "POST", path: "/api/v1/biometrics/residents/{crn}/consent", status: 200, doc: residentBioDoc{}},
		{method: "POST", path: "/api/v1/biometrics/residents/{crn}/deletion", status: 202, doc: deletionsDoc{}},
		{method: "POST", path: "/api/v1/biometrics/enrolments", status: 201, doc: enrolmentDoc{}},
		{method: "GET", path: "/api/v1/biometrics/enrolments/{id}", status: 200, doc: enrolmentDoc{}},
		{method: "POST", path: "/api/v1/biometrics/enrolments/{id}/cancel", status: 200, doc: enrolmentDoc{}},
		{method: "GET", path: "/api/v1/biometrics/deletions", status: 200, doc: deletionsDoc{}},
	}
}

// ctlBiometricsJSON is GET /api/v1/biometrics with what a quiet site rarely shows at
// once: an enrolment under way with its step, a terminal offline holding a deletion
// overdue, one never reported, a resident with fingers on two terminals (one being
// deleted), one who declined, one never asked, a failed enrolment, a departed
// resident's deletion the terminal's answer did not prove, and an orphan slot.
const ctlBiometricsJSON = `{
 "enhancedSecurity":true,
 "fingers":["left-thumb","left-index","left-middle","left-ring","left-little","right-thumb","right-index","right-middle","right-ring","right-little"],
 "maxAttempts":3,"deletionOverdueHours":24,
 "terminals":[
  {"id":"desk-1","name":"office enrolment desk","reported":true,
   "status":{"online":true,"capacity":200,"templates":3,"securityLevel":3,"packetSize":128,"baud":57600,"used":[0,5,9],"enrolling":"E-7","badFrames":0,"simulated":true},
   "updatedAt":"2026-06-10T11:00:00Z",
   "enrolling":{"id":"E-7","crn":"X100002","terminal":"desk-1","slot":1,"finger":"left-index","by":"kim","attempt":2,"state":"enrolling","startedAt":"2026-06-10T11:01:00Z",
    "step":{"step":"place-again","at":"2026-06-10T11:01:05Z"}},
   "pendingDeletions":1},
  {"id":"front-fp","door":"front","name":"front door","reported":true,
   "status":{"online":false,"templates":1,"used":[3],"lastError":"fingerprint: terminal front-fp: no reply"},"updatedAt":"2026-06-09T10:00:00Z","pendingDeletions":1},
  {"id":"garden-fp","door":"garden","reported":false,"pendingDeletions":0}],
 "residents":[
  {"crn":"X100001","person":{"crn":"X100001","name":"Brian Baker","room":"5","label":"Brian Baker (room 5)"},"consent":"given","consentBy":"kim","consentAt":"2026-06-10T10:00:00Z",
   "attempts":0,"fingers":[
    {"enrolment":"E-1","finger":"right-index","terminal":"desk-1","slot":0,"state":"enrolled"},
    {"enrolment":"E-3","finger":"right-index","terminal":"front-fp","slot":3,"state":"deleting"},
    {"enrolment":"E-2","finger":"left-index","terminal":"desk-1","slot":5,"state":"enrolled"}],
   "pendingDeletions":1},
  {"crn":"X100002","person":{"crn":"X100002","name":"","room":"","label":"X100002"},"consent":"given","consentBy":"sam","consentAt":"2026-06-10T11:00:00Z",
   "attempts":1,"fingers":[],"enrolling":"E-7","pendingDeletions":0},
  {"crn":"X100003","person":{"crn":"X100003","name":"Cara Cole","room":"","label":"Cara Cole"},"consent":"declined","consentBy":"kim","consentAt":"2026-06-10T09:00:00Z",
   "alternative":{"crn":"X100003","why":"declined","attempts":0,"by":"kim","at":"2026-06-10T09:00:00Z"},"attempts":0,"fingers":[],"pendingDeletions":0},
  {"crn":"X100004","person":{"crn":"X100004","name":"Dee Day","room":"2","label":"Dee Day (room 2)"},"consent":"none","attempts":0,"fingers":[],"pendingDeletions":0}],
 "recent":[
  {"id":"E-6","crn":"X100002","terminal":"desk-1","slot":1,"finger":"left-index","by":"kim","attempt":1,"state":"failed","startedAt":"2026-06-10T10:58:00Z",
   "endedAt":"2026-06-10T10:59:00Z","reason":"fingers-do-not-match","detail":"the fingers do not match"},
  {"id":"E-1","crn":"X100001","terminal":"desk-1","slot":0,"finger":"right-index","by":"kim","attempt":1,"state":"enrolled","startedAt":"2026-06-10T10:01:00Z","endedAt":"2026-06-10T10:02:00Z"}],
 "pending":[
  {"id":"D-2","crn":"X100001","terminal":"front-fp","slots":[3],"why":"staff","by":"kim","requestedAt":"2026-06-09T10:00:00Z","attempts":0,"overdueRaised":true,
   "waitedSeconds":90060,"overdue":true,"terminalOnline":false,"sentAt":"2026-06-09T10:00:01Z"},
  {"id":"D-3","crn":"X100009","terminal":"desk-1","slots":[7,8],"why":"departed","by":"agent","requestedAt":"2026-06-10T10:58:55Z","attempts":1,
   "waitedSeconds":65,"overdue":false,"terminalOnline":true}],
 "orphans":[{"terminal":"desk-1","slot":9,"seenAt":"2026-06-10T10:30:00Z","at":"2026-06-10T10:30:01Z","stillUsed":true}]}`

// TestCtlBiometricStatus: the overview's tables and the pending deletions, each
// figure in its column, in UK time; -json prints the agent's document (and, for
// pending, its list).
func TestCtlBiometricStatus(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/biometrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Bearer "+ctlTestToken {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"sign in first: no session"}`)
			return
		}
		io.WriteString(w, ctlBiometricsJSON)
	})
	srv := httptest.NewServer(contractChecker(t, mux, nil))
	t.Cleanup(srv.Close)
	tok := clitest.WriteFile(t, t.TempDir(), "token", ctlTestToken+"\n", 0o600)
	flags := []string{"-url", srv.URL, "-token-file", tok}
	pending := []string{
		"PENDING DELETION|RESIDENT|TERMINAL|SLOTS|WHY|BY|REQUESTED|WAITED|TERMINAL NOW|LAST SENT|UNPROVEN ANSWERS",
		"D-2|Brian Baker (room 5), X100001|front-fp|3|staff|kim|2026-06-09 11:00|1d 1h OVERDUE|OFFLINE|2026-06-09 11:00|0",
		"D-3|X100009|desk-1|7, 8|departed|agent|2026-06-10 11:58|1m|online|-|1",
	}

	for _, args := range [][]string{{"biometric"}, {"biometric", "status"}} {
		r := ctl(t, "", append(args, flags...)...)
		if r.Code != 0 || r.Stderr != "" {
			t.Fatalf("%v: exit %d\n%s%s", args, r.Code, r.Stdout, r.Stderr)
		}
		got := columns(r.Stdout)
		for _, want := range append([]string{
			"TERMINAL|NAME|AT|STATUS|TEMPLATES|ENROLLING|PENDING DELETIONS",
			"desk-1|office enrolment desk|enrolment desk|online (simulated)|3/200|E-7 left-index of X100002: place-again|1",
			"front-fp|front door|door front|OFFLINE: fingerprint: terminal front-fp: no reply|1|-|1",
			"garden-fp|-|door garden|not reported|-|-|0",
			"RESIDENT|CONSENT|FINGERS|FAILED ATTEMPTS|ALTERNATIVE|ENROLLING|PENDING DELETIONS",
			// BST in June: 10:00Z is 11:00 in London.
			"Brian Baker (room 5), X100001|given by kim at 2026-06-10 11:00|desk-1: right-index (slot 0), left-index (slot 5); front-fp: right-index (slot 3, deleting)|0 of 3|-|-|1",
			"X100002|given by sam at 2026-06-10 12:00|-|1 of 3|-|E-7|0",
			"Cara Cole, X100003|declined by kim at 2026-06-10 10:00|-|0 of 3|offered: declined|-|0",
			"Dee Day (room 2), X100004|not asked|-|0 of 3|-|-|0",
			"ENDED ENROLMENT|RESIDENT|FINGER|TERMINAL|SLOT|STATE|BY|ENDED|WHY IT FAILED",
			"E-6|X100002|left-index|desk-1|1|failed|kim|2026-06-10 11:59|fingers-do-not-match",
			"E-1|Brian Baker (room 5), X100001|right-index|desk-1|0|enrolled|kim|2026-06-10 11:02|-",
			"ORPHAN SLOT ON|SLOT|SEEN|REPORTED|NOW",
			"desk-1|9|2026-06-10 11:30|2026-06-10 11:30|STILL USED",
			"Enhanced Security ON: a card at a door with a terminal needs the holder's finger on it too",
			"the alternative is offered after 3 failed attempts; a deletion not proven within 24 h raises biometric.deletion-overdue",
			"fingers: left-thumb, left-index, left-middle, left-ring, left-little, right-thumb, right-index, right-middle, right-ring, right-little",
		}, pending...) {
			if !contains(got, want) {
				t.Errorf("%v: no line %q in\n%s", args, want, strings.Join(got, "\n"))
			}
		}
	}

	r := ctl(t, "", append([]string{"biometric", "pending"}, flags...)...)
	if got := columns(r.Stdout); r.Code != 0 || !reflect.DeepEqual(got, pending) {
		t.Errorf("pending: exit %d\n%s\nwant\n%s", r.Code, strings.Join(got, "\n"), strings.Join(pending, "\n"))
	}

	var sent map[string]any
	json.Unmarshal([]byte(ctlBiometricsJSON), &sent)
	for _, tc := range []struct {
		args []string
		want any
	}{{[]string{"biometric", "-json"}, sent}, {[]string{"biometric", "pending", "-json"}, sent["pending"]}} {
		r := ctl(t, "", append(tc.args, flags...)...)
		if r.Code != 0 || len(clitest.Lines(r.Stdout)) != 1 {
			t.Fatalf("%v: exit %d\n%s%s", tc.args, r.Code, r.Stdout, r.Stderr)
		}
		var got any
		if err := json.Unmarshal([]byte(r.Stdout), &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%v printed %s, want the agent's document", tc.args, r.Stdout)
		}
	}
}

// TestCtlBiometricUsage: what is refused before anything is sent.
func TestCtlBiometricUsage(t *testing.T) {
	tok := clitest.WriteFile(t, t.TempDir(), "token", ctlTestToken+"\n", 0o600)
	flags := []string{"-url", "http://127.0.0.1:1", "-token-file", tok} // nothing is sent
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"biometric", "scan"}, `apedge ctl biometric: unknown subcommand "scan"`},
		{[]string{"biometric", "consent", "X100001"}, "apedge ctl biometric consent: say the resident's answer: -given or -declined, one of them"},
		{[]string{"biometric", "consent", "X100001", "-given", "-declined"}, "apedge ctl biometric consent: say the resident's answer"},
		{[]string{"biometric", "consent", "-given"}, "apedge ctl biometric consent: name the resident's CRN: apedge ctl biometric consent X100001 -given"},
		{[]string{"biometric", "consent", "X100001", "X100002", "-given"}, `apedge ctl biometric consent: unexpected argument "X100002"`},
		{[]string{"biometric", "enrol", "X100001", "-terminal", "desk-1"}, "apedge ctl biometric enrol: -finger is required"},
		{[]string{"biometric", "enrol", "-finger", "right-index", "X100001"}, "apedge ctl biometric enrol: -terminal is required"},
		{[]string{"biometric", "cancel"}, "apedge ctl biometric cancel: name the enrolment: apedge ctl biometric cancel E-12"},
		{[]string{"biometric", "delete", "X100001"}, "apedge ctl biometric delete: this deletes every fingerprint template of X100001's from every terminal that holds one"},
		{[]string{"biometric", "pending", "now"}, `apedge ctl biometric pending: unexpected argument "now"`},
	} {
		r := ctl(t, "", append(tc.args, flags...)...)
		if r.Code != 2 || !strings.Contains(r.Stderr, tc.want) || r.Stdout != "" {
			t.Errorf("%v: exit %d %q %q, want usage error with %q", tc.args, r.Code, r.Stdout, r.Stderr, tc.want)
		}
	}
	if r := ctl(t, "", "biometric", "-h"); r.Code != 0 || !strings.Contains(r.Stdout, "apedge ctl biometric enrol CRN -finger FINGER -terminal ID [-no-wait]") {
		t.Errorf("biometric -h: exit %d %q", r.Code, r.Stdout)
	}
	for secs, want := range map[int64]string{0: "0s", 59: "59s", 60: "1m", 3599: "59m", 3600: "1h 00m", 86399: "23h 59m", 90060: "1d 1h"} {
		if got := waitedFor(secs); got != want {
			t.Errorf("waitedFor(%d) = %q, want %q", secs, got, want)
		}
	}
}

// biometricTerminalsYAML is the site's fingerprint terminals, as the console's
// withFingerprints gives its test site: one at the front door, one at an enrolment
// desk, Enhanced Security off.
const biometricTerminalsYAML = `fingerprintTerminals:
  - {id: front-fp, port: simulated, door: front, name: front door}
  - {id: desk-1, port: simulated, name: office enrolment desk}
`

// newBiometricSite is newSubstanceSite with the two fingerprint terminals of
// biometricTerminalsYAML.
func newBiometricSite(t *testing.T) *substanceSite {
	t.Helper()
	return newSubstanceSiteWith(t, biometricTerminalsYAML)
}

// signIn signs user in to s with ctl login and returns the flags that use the token.
func (s *substanceSite) signIn(t *testing.T, user string) []string {
	t.Helper()
	flags := []string{"-url", s.url, "-token-file", filepath.Join(t.TempDir(), "token")}
	if r := ctl(t, substancePassword+"\n", append([]string{"login", "-user", user}, flags...)...); r.Code != 0 {
		t.Fatalf("login as %s\n%v", user, r)
	}
	return flags
}

// enrolLive runs ctl biometric enrol args (with flags) under ctx until it ends, and
// calls prompt with each line it prints as it prints it: the test plays the
// resident at the terminal, or presses Ctrl-C.
func enrolLive(t *testing.T, ctx context.Context, flags []string, prompt func(line string), args ...string) clitest.Result {
	t.Helper()
	full := append(append([]string{"biometric", "enrol"}, args...), flags...)
	var stdout, stderr clitest.LockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, full, Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr})
	}()
	seen, code := 0, 0
	wait.For(t, substanceSiteTimeout, "ctl biometric enrol to end", func() (bool, string) {
		select {
		case code = <-done:
			return true, ""
		default:
		}
		lines := clitest.Lines(stdout.String())
		for ; seen < len(lines); seen++ {
			prompt(lines[seen])
		}
		return false, stdout.String() + stderr.String()
	})
	return clitest.Result{Args: append([]string{"ctl"}, full...), Code: code, Stdout: stdout.String(), Stderr: stderr.String()}
}

// resident plays a resident at terminal sim: finger placed when the prompt says
// to, lifted when it says so.
func resident(sim *fingerprint.Sim, finger string) func(string) {
	return func(line string) {
		switch line {
		case "place the finger on the sensor", "place the same finger again":
			sim.PlaceFinger(finger)
		case "lift the finger":
			sim.LiftFinger()
		}
	}
}

// slotOf is the slot of sim's library holding finger, or -1.
func slotOf(sim *fingerprint.Sim, finger string) int {
	for slot, f := range sim.Slots() {
		if f == finger {
			return slot
		}
	}
	return -1
}

// lowestFree is the lowest slot of sim's library holding no template.
func lowestFree(sim *fingerprint.Sim) int {
	used := sim.Slots()
	n := 0
	for used[n] != "" {
		n++
	}
	return n
}

// TestCtlBiometricOnASite works a real agent's enrolment desk with ctl as a
// keyworker, against the bridge's simulated terminals: consent (its absence
// refused), an enrolment followed prompt by prompt to the slot that holds the
// finger on the terminal, the overview showing it; three failed enrolments, the
// third offering the alternative; an enrolment cancelled by Ctrl-C and one by
// cancel; a deletion while the terminal is silent, pending until it answers again
// and then proven by its index table. A security user is refused with the agent's
// words.
func TestCtlBiometricOnASite(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a site")
	}
	s := newBiometricSite(t)
	flags := s.signIn(t, "keyworker-1")
	kw := func(args ...string) clitest.Result {
		t.Helper()
		return ctl(t, "", append(args, flags...)...)
	}
	sec := s.as(t, "security-1")
	desk, front := s.bridge.Sim().Fingerprint("desk-1"), s.bridge.Sim().Fingerprint("front-fp")
	capacity := strconv.Itoa(fingerprint.SimCapacity)
	wait.For(t, substanceSiteTimeout, "the terminals online", func() (bool, string) {
		r := kw("biometric")
		got := columns(r.Stdout)
		return contains(got, "desk-1|office enrolment desk|enrolment desk|online (simulated)|0/"+capacity+"|-|0") &&
			contains(got, "front-fp|front door|door front|online (simulated)|0/"+capacity+"|-|0"), r.Stdout
	})
	wantLines(t, kw("biometric"),
		"Resident One, X100001|not asked|-|0 of 3|-|-|0",
		"Resident Two, X100002|not asked|-|0 of 3|-|-|0",
		"no deletions pending: every one requested is proven by its terminal's index table",
		"Enhanced Security off: a card alone opens the doors")
	clitest.WantOneLine(t, sec("biometric"), 1, "apedge ctl: 403: role security may not GET /api/v1/biometrics")
	clitest.WantOneLine(t, kw("biometric", "enrol", "X100001", "-finger", "right-index", "-terminal", "desk-1"), 1,
		"apedge ctl: 422: ", "no consent recorded", "X100001")
	clitest.WantOneLine(t, kw("biometric", "enrol", "X100001", "-finger", "left-toe", "-terminal", "desk-1"), 1, "apedge ctl: 400: ", "left-toe")

	// Consent, then the enrolment, prompt by prompt.
	r := kw("biometric", "consent", "X100001", "-given")
	if r.Code != 0 || r.Stdout != "consent of X100001 recorded: given, taken by keyworker-1 at 2026-06-10 12:00\n" {
		t.Fatalf("consent\n%v", r)
	}
	slot := lowestFree(desk)
	r = enrolLive(t, t.Context(), flags, resident(desk, "X100001/right-index"), "X100001", "-finger", "right-index", "-terminal", "desk-1")
	lines := clitest.Lines(r.Stdout)
	want := []string{
		fmt.Sprintf("enrolment E-1 started: right-index of X100001 on desk-1, slot %d, attempt 1", slot),
		"place the finger on the sensor", "lift the finger", "place the same finger again",
	}
	if r.Code != 0 || r.Stderr != "" || len(lines) < 5 || !reflect.DeepEqual(lines[:4], want) ||
		lines[len(lines)-1] != fmt.Sprintf("enrolled: right-index on desk-1, slot %d", slot) ||
		(len(lines) == 6 && lines[4] != "storing") || len(lines) > 6 {
		t.Fatalf("enrol: want %q, perhaps storing, then enrolled in slot %d\n%v", want, slot, r)
	}
	if got := slotOf(desk, "X100001/right-index"); got != slot {
		t.Errorf("the terminal holds the finger in slot %d, ctl said %d: %v", got, slot, desk.Slots())
	}
	wantLines(t, kw("biometric"),
		"desk-1|office enrolment desk|enrolment desk|online (simulated)|1/"+capacity+"|-|0",
		fmt.Sprintf("Resident One, X100001|given by keyworker-1 at 2026-06-10 12:00|desk-1: right-index (slot %d)|0 of 3|-|-|0", slot),
		fmt.Sprintf("E-1|Resident One, X100001|right-index|desk-1|%d|enrolled|keyworker-1|2026-06-10 12:00|-", slot))
	r = kw("biometric", "-json")
	var v biometricsDoc
	if err := json.Unmarshal([]byte(r.Stdout), &v); r.Code != 0 || err != nil {
		t.Fatalf("biometric -json: %v\n%v", err, r)
	}
	if f := v.Residents[0].Fingers; len(f) != 1 || f[0].Terminal != "desk-1" || f[0].Slot != slot || f[0].Finger != "right-index" || f[0].State != "enrolled" {
		t.Errorf("-json: X100001's fingers %+v, want right-index on desk-1 in slot %d", f, slot)
	}
	clitest.WantOneLine(t, kw("biometric", "enrol", "X100001", "-finger", "right-index", "-terminal", "desk-1"), 1, "apedge ctl: 409: ")

	// Three captures that fail: each a failed attempt, the third offers the alternative.
	if r := kw("biometric", "consent", "X100002", "-given"); r.Code != 0 {
		t.Fatalf("consent of X100002\n%v", r)
	}
	failSlot := lowestFree(desk)
	for attempt := 1; attempt <= 3; attempt++ {
		desk.LiftFinger() // the last resident's finger off the sensor: the prompt is to come first
		desk.FailNextCaptures(1, fingerprint.CodeImageMessy)
		id := fmt.Sprintf("E-%d", attempt+1)
		r := enrolLive(t, t.Context(), flags, resident(desk, "X100002/left-index"), "X100002", "-finger", "left-index", "-terminal", "desk-1")
		want := fmt.Sprintf("apedge ctl: enrolment %s failed: image-too-messy (attempt %d of 3)", id, attempt)
		if attempt == 3 {
			want += "; the alternative is now offered: card plus a member of staff's confirmation at the door"
		}
		started := fmt.Sprintf("enrolment %s started: left-index of X100002 on desk-1, slot %d, attempt %d\nplace the finger on the sensor\n", id, failSlot, attempt)
		if r.Code != 1 || r.Stdout != started || strings.TrimSuffix(r.Stderr, "\n") != want {
			t.Errorf("failing enrolment %d: want %q then %q\n%v", attempt, started, want, r)
		}
	}
	wantLines(t, kw("biometric"),
		"Resident Two, X100002|given by keyworker-1 at 2026-06-10 12:00|-|0 of 3|offered: failed-enrolment|-|0",
		fmt.Sprintf("E-4|Resident Two, X100002|left-index|desk-1|%d|failed|keyworker-1|2026-06-10 12:00|image-too-messy", failSlot))

	// Ctrl-C while following cancels the enrolment; so does cancel.
	ctx, interrupt := context.WithCancel(t.Context())
	defer interrupt()
	r = enrolLive(t, ctx, flags, func(line string) {
		if line == "place the finger on the sensor" {
			interrupt()
		}
	}, "X100001", "-finger", "left-index", "-terminal", "front-fp")
	if r.Code != 1 || strings.TrimSuffix(r.Stderr, "\n") != "apedge ctl: interrupted: enrolment E-5 cancelled" {
		t.Errorf("Ctrl-C\n%v", r)
	}
	r = kw("biometric", "enrol", "X100001", "-finger", "left-thumb", "-terminal", "desk-1", "-no-wait")
	thumb := lowestFree(desk)
	if r.Code != 0 || !strings.HasPrefix(r.Stdout, fmt.Sprintf("enrolment E-6 started: left-thumb of X100001 on desk-1, slot %d, attempt 1\n", thumb)) {
		t.Fatalf("enrol -no-wait\n%v", r)
	}
	r = kw("biometric", "cancel", "E-6")
	if r.Code != 0 || r.Stdout != fmt.Sprintf("enrolment E-6 cancelled: left-thumb of X100001 on desk-1, slot %d, now failed (cancelled)\n", thumb) {
		t.Errorf("cancel\n%v", r)
	}
	clitest.WantOneLine(t, kw("biometric", "cancel", "E-6"), 1, "apedge ctl: 409: ")
	clitest.WantOneLine(t, kw("biometric", "cancel", "E-99"), 1, "apedge ctl: 404: ")
	wantLines(t, kw("biometric"),
		"E-5|Resident One, X100001|left-index|front-fp|0|failed|keyworker-1|2026-06-10 12:00|cancelled",
		fmt.Sprintf("E-6|Resident One, X100001|left-thumb|desk-1|%d|failed|keyworker-1|2026-06-10 12:00|cancelled", thumb))
	if len(front.Slots()) != 0 {
		t.Errorf("front-fp holds %v after its enrolment was cancelled", front.Slots())
	}

	// A deletion sent to a terminal that does not answer waits for it, then is
	// proven by its index table read back.
	desk.Silent(true)
	r = kw("biometric", "delete", "X100001", "-yes")
	wantLines(t, r, "DELETION REQUESTED|TERMINAL|SLOTS", fmt.Sprintf("D-1|desk-1|%d", slot),
		"each counts only once its terminal's index table, read back, shows the slots free: apedge ctl biometric pending lists those still waiting")
	row := regexp.MustCompile(fmt.Sprintf(`^D-1\|Resident One, X100001\|desk-1\|%d\|staff\|keyworker-1\|2026-06-10 12:00\|\d+s\|OFFLINE\|2026-06-10 12:00\|0$`, slot))
	wait.For(t, substanceSiteTimeout, "the deletion pending at desk-1, offline", func() (bool, string) {
		r := kw("biometric", "pending")
		for _, l := range columns(r.Stdout) {
			if row.MatchString(l) {
				return true, ""
			}
		}
		return false, r.Stdout
	})
	if got := slotOf(desk, "X100001/right-index"); got != slot {
		t.Errorf("the silent terminal's slot %d: %q; want the finger still there", slot, desk.Slots()[slot])
	}
	desk.Silent(false)
	wait.For(t, substanceSiteTimeout, "the deletion proven", func() (bool, string) {
		r := kw("biometric", "pending")
		return r.Code == 0 && r.Stdout == "no deletions pending: every one requested is proven by its terminal's index table\n", r.Stdout
	})
	r = kw("biometric", "deletions")
	proven := regexp.MustCompile(fmt.Sprintf(`^D-1\|X100001\|desk-1\|%d\|staff\|keyworker-1\|2026-06-10 12:00\|`+
		`proven: the index table read at 2026-06-10 12:0\d shows them free \(0 of %s slots used\)$`, slot, capacity))
	if got := columns(r.Stdout); r.Code != 0 || len(got) != 2 || got[0] != "DELETION|RESIDENT|TERMINAL|SLOTS|WHY|BY|REQUESTED|PROOF" || !proven.MatchString(got[1]) {
		t.Errorf("deletions: want D-1 proven by an empty index table\n%v", r)
	}
	if len(desk.Slots()) != 0 {
		t.Errorf("desk-1 still holds %v after the proven deletion", desk.Slots())
	}
	wantLines(t, kw("biometric"), "Resident One, X100001|given by keyworker-1 at 2026-06-10 12:00|-|0 of 3|-|-|0")
	clitest.WantOneLine(t, kw("biometric", "delete", "X100001", "-yes"), 1, "apedge ctl: 409: ")
}
