package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	neturl "net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apedge/apedge/cmd/apedge/internal/clitest"
	"github.com/apedge/apedge/formats/sitekey"
	"github.com/apedge/apedge/internal/openapi"
	"github.com/apedge/apedge/internal/wait"
)

// contractProxy returns the URL of a reverse proxy to the console at console that
// checks every response ctl gets against the OpenAPI document the console serves
// (GET /openapi.yaml); each mismatch fails the test at its end.
func contractProxy(t *testing.T, console string) string {
	t.Helper()
	resp, err := http.Get(console + "/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /openapi.yaml: %d %v", resp.StatusCode, err)
	}
	doc, err := openapi.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	target, err := neturl.Parse(console)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[string]bool{}
	srv := httptest.NewServer(doc.Handler(httputil.NewSingleHostReverseProxy(target), func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if !seen[err.Error()] {
			seen[err.Error()] = true
			t.Errorf("the console's answer to ctl is not what its OpenAPI document says: %v", err)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestCtlAgainstDemo runs `apedge ctl` against the demo site's real console, as the
// README tells a new user to: sign in with the printed password, look at the site,
// record an arrival, acknowledge an alarm, export the journal and verify it.
func TestCtlAgainstDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo site")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errs clitest.LockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- testSys("").cmdDemo(ctx, []string{"-dir", dir, "-every", "50ms", "-console", "127.0.0.1:0"}, &out, &errs)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo: %v\n%s", err, errs.String())
		}
	}()
	banner := regexp.MustCompile(`dashboard +(http://\S+)\n +sign in as demo with password (\S+)`)
	var m []string
	wait.For(t, 30*time.Second, "the demo's dashboard URL and password", func() (bool, string) {
		m = banner.FindStringSubmatch(out.String())
		return m != nil, out.String()
	})
	url, password := contractProxy(t, m[1]), m[2]
	tokenFile := filepath.Join(t.TempDir(), "token")
	ctlIn := func(stdin string, args ...string) clitest.Result {
		t.Helper()
		return apedgeIn(t, stdin, append([]string{"ctl", "-url", url, "-token-file", tokenFile}, args...)...)
	}
	ctl := func(args ...string) clitest.Result {
		t.Helper()
		return ctlIn("", args...)
	}

	r := ctlIn(password+"\n", "login", "-user", "demo")
	if r.Code != 0 || !strings.Contains(r.Stdout, "as demo (admin)") {
		t.Fatalf("login\n%v", r)
	}
	wait.For(t, 30*time.Second, "the demo's doors and an alarm", func() (bool, string) {
		r = ctl("status")
		return r.Code == 0 && strings.Contains(r.Stdout, "bridge     online") && !strings.Contains(r.Stdout, "alarms     0 open"), r.Stdout
	})
	for _, want := range []string{"site       DEMO1", "clock      synced", "bus        connected"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("status lacks %q\n%v", want, r)
		}
	}
	// delivery says what status says of central (it once read a field the API does not send).
	central := regexp.MustCompile(`(?m)^central +(connected|DISCONNECTED)`).FindStringSubmatch(r.Stdout)
	if d := ctl("delivery"); d.Code != 0 || central == nil || !regexp.MustCompile(`(?m)^central +`+central[1]+`$`).MatchString(d.Stdout) {
		t.Errorf("delivery disagrees with status on central\n%v\n%v", r, d)
	}
	if r = ctl("doors"); r.Code != 0 || !strings.Contains(r.Stdout, "front") || !strings.Contains(r.Stdout, "side") {
		t.Errorf("doors\n%v", r)
	}
	if r = ctl("devices"); r.Code != 0 || !regexp.MustCompile(`front-in +front +entry +online +up`).MatchString(r.Stdout) {
		t.Errorf("devices\n%v", r)
	}

	// Acknowledge the newest open alarm.
	r = ctl("alarms")
	seq := regexp.MustCompile(`(?m)^(\d+) `).FindStringSubmatch(r.Stdout)
	if r.Code != 0 || seq == nil {
		t.Fatalf("alarms\n%v", r)
	}
	if r = ctl("ack", "-alarm", seq[1], "-note", "seen on camera"); r.Code != 0 {
		t.Errorf("ack\n%v", r)
	}
	if r = ctl("alarms", "-all", "-json"); r.Code != 0 || !strings.Contains(r.Stdout, `"note":"seen on camera"`) {
		t.Errorf("alarms -all -json after the ack\n%v", r)
	}

	if r = ctl("arrive", "-crn", "X100009", "-card", "12:10009", "-name", "Nine"); r.Code != 0 {
		t.Fatalf("arrive\n%v", r)
	}
	wait.For(t, 30*time.Second, "the arrival on the residents list", func() (bool, string) {
		r = ctl("residents")
		return strings.Contains(r.Stdout, "X100009"), r.Stdout
	})
	if r = ctl("journal", "-type", "resident.arrived"); r.Code != 0 || !strings.Contains(r.Stdout, "X100009") {
		t.Errorf("journal -type resident.arrived\n%v", r)
	}
	// A second arrival is refused in the staff's words; an update says what changed.
	if r = ctl("arrive", "-crn", "X100009", "-card", "12:10009"); r.Code == 0 || !strings.Contains(r.Stderr, "already in residence") {
		t.Errorf("a second arrival\n%v", r)
	}
	if r = ctl("update", "-crn", "X100009", "-room", "9"); r.Code != 0 || !strings.Contains(r.Stdout, "room: none -> 9") {
		t.Errorf("update\n%v", r)
	}
	if r = ctl("audit"); r.Code != 0 || !strings.Contains(r.Stdout, "staff.signed-in") || !strings.Contains(r.Stdout, "alarm.acknowledged") {
		t.Errorf("audit\n%v", r)
	}

	export := filepath.Join(t.TempDir(), "journal.jsonl")
	if r = ctl("export", "-o", export); r.Code != 0 {
		t.Fatalf("export\n%v", r)
	}
	_, pub := sitekey.Paths(filepath.Join(dir, "keys"), "DEMO1")
	wantVerified(t, pub, export, len(readLines(t, export)))

	// An admin adds a staff account; staff may not unlock doors, and are told so.
	r = ctlIn("a long enough password\n", "user", "add", "-name", "sam", "-role", "staff")
	if r.Code != 0 {
		t.Fatalf("user add\n%v", r)
	}
	samToken := filepath.Join(t.TempDir(), "token")
	r = apedgeIn(t, "a long enough password\n", "ctl", "-url", url, "-token-file", samToken, "login", "-user", "sam")
	if r.Code != 0 {
		t.Fatalf("login as sam\n%v", r)
	}
	r = apedge(t, "ctl", "-url", url, "-token-file", samToken, "unlock", "-door", "front", "-reason", "test")
	if r.Code != 1 || !strings.Contains(r.Stderr, "403: role staff may not") {
		t.Errorf("unlock as staff\n%v", r)
	}
	if r = ctl("users"); r.Code != 0 || !strings.Contains(r.Stdout, "sam") {
		t.Errorf("users\n%v", r)
	}

	// The rest of the commands, for the contract check of what the console answers.
	if r = ctl("curfew-roll"); r.Code != 0 || !regexp.MustCompile(`^(no curfew roll has been taken yet|curfew roll at .*)\n`).MatchString(r.Stdout) {
		t.Errorf("roll\n%v", r)
	}
	if r = ctl("absence", "-crn", "X100009", "-id", "a1", "-from", "2030-01-01 10:00", "-to", "2030-01-01 18:00", "-approved-by", "Jo Manager"); r.Code != 0 ||
		!strings.Contains(r.Stdout, "absence a1 of X100009 recorded") {
		t.Errorf("absence\n%v", r)
	}
	if r = ctl("depart", "-crn", "X100009"); r.Code != 0 || !strings.Contains(r.Stdout, "departure of X100009 recorded") {
		t.Errorf("depart\n%v", r)
	}
	if r = ctl("logout"); r.Code != 0 || !strings.Contains(r.Stdout, "token revoked") {
		t.Errorf("logout\n%v", r)
	}
}
