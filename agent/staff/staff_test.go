package staff_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apedge/apedge/agent/staff"
	"github.com/apedge/apedge/internal/sqlitedb"
)

var start = time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)

// tiny makes hashing fast in tests; production uses the defaults.
var tiny = staff.Hashing{Time: 1, MemoryKiB: 64, Threads: 1}

const pw = "correct horse battery"

// addr is where the tests' sign-ins come from, unless they say otherwise.
const addr = "192.0.2.1"

// clock is a settable time source; tests move it rather than sleep.
// clock is a test clock that, unlike clocktest's, can be set back: the table tests
// of expiry try each time from the same start.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time                     { return c.t }
func (c *clock) Until(t time.Time) <-chan time.Time { return make(chan time.Time) }
func (c *clock) set(d time.Duration)                { c.t = start.Add(d) }
func (c *clock) advance(d time.Duration)            { c.t = c.t.Add(d) }

func open(t testing.TB, path string, c *clock) *staff.Store {
	t.Helper()
	s, err := staff.Open(t.Context(), path, staff.Options{Clock: c, Hashing: tiny})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newStore(t *testing.T) (*staff.Store, *clock, string) {
	t.Helper()
	c := &clock{t: start}
	path := filepath.Join(t.TempDir(), "staff.db")
	return open(t, path, c), c, path
}

func add(t *testing.T, s *staff.Store, name string, role staff.Role) staff.User {
	t.Helper()
	u, err := s.Add(t.Context(), name, role, pw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestAddGetList(t *testing.T) {
	s, c, _ := newStore(t)
	ctx := t.Context()
	if n, err := s.Count(ctx); n != 0 || err != nil {
		t.Fatalf("Count of a new store = %d, %v", n, err)
	}
	u := add(t, s, "zoe", staff.RoleStaff)
	if want := (staff.User{Name: "zoe", Role: staff.RoleStaff, CreatedAt: start}); u != want {
		t.Errorf("Add = %+v, want %+v", u, want)
	}
	c.advance(time.Minute)
	add(t, s, "alice", staff.RoleAdmin)
	add(t, s, "mo.k-1_x", staff.RoleSecurity)
	if n, err := s.Count(ctx); n != 3 || err != nil {
		t.Errorf("Count = %d, %v, want 3", n, err)
	}
	if _, err := s.Add(ctx, "zoe", staff.RoleManager, pw+"!"); !errors.Is(err, staff.ErrExists) {
		t.Errorf("Add of a taken name = %v, want ErrExists", err)
	}
	if _, err := s.Add(ctx, "bob", "janitor", pw); !errors.Is(err, staff.ErrBadRole) {
		t.Errorf("Add with an unknown role = %v, want ErrBadRole", err)
	}
	got, err := s.Get(ctx, "alice")
	if want := (staff.User{Name: "alice", Role: staff.RoleAdmin, CreatedAt: start.Add(time.Minute)}); err != nil || got != want {
		t.Errorf("Get = %+v, %v, want %+v", got, err, want)
	}
	if _, err := s.Get(ctx, "nobody"); !errors.Is(err, staff.ErrNotFound) {
		t.Errorf("Get of an unknown user = %v, want ErrNotFound", err)
	}
	if err := s.SetRole(ctx, "zoe", staff.RoleManager); err != nil {
		t.Fatal(err)
	}
	if err := s.SetDisabled(ctx, "mo.k-1_x", true); err != nil {
		t.Fatal(err)
	}
	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range list {
		names = append(names, u.Name)
	}
	if strings.Join(names, " ") != "alice mo.k-1_x zoe" || list[2].Role != staff.RoleManager || !list[1].Disabled || list[0].Disabled {
		t.Errorf("List = %+v", list)
	}
	for _, err := range []error{
		s.SetRole(ctx, "nobody", staff.RoleAdmin),
		s.SetDisabled(ctx, "nobody", true),
		s.SetPassword(ctx, "nobody", pw),
	} {
		if !errors.Is(err, staff.ErrNotFound) {
			t.Errorf("changing an unknown user = %v, want ErrNotFound", err)
		}
	}
	if err := s.SetRole(ctx, "zoe", "root"); !errors.Is(err, staff.ErrBadRole) {
		t.Errorf("SetRole(root) = %v, want ErrBadRole", err)
	}
}

func TestRoles(t *testing.T) {
	if got := staff.Roles(); len(got) != 5 || got[0] != staff.RoleStaff || got[4] != staff.RoleAdmin {
		t.Errorf("Roles() = %v", got)
	}
	for _, tt := range []struct {
		in   string
		want staff.Role
		ok   bool
	}{
		{"staff", staff.RoleStaff, true},
		{"keyworker", staff.RoleKeyworker, true},
		{"security", staff.RoleSecurity, true},
		{"manager", staff.RoleManager, true},
		{"admin", staff.RoleAdmin, true},
		{" Admin ", staff.RoleAdmin, true},
		{"", "", false},
		{"root", "", false},
		{"admins", "", false},
	} {
		got, err := staff.ParseRole(tt.in)
		if got != tt.want || (err == nil) != tt.ok || (err != nil && !errors.Is(err, staff.ErrBadRole)) {
			t.Errorf("ParseRole(%q) = %q, %v, want %q (ok %v)", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestRules(t *testing.T) {
	s, _, _ := newStore(t)
	for _, tt := range []struct {
		name, password string
		want           error
		msg            string
	}{
		{"bob", "twelve chars", nil, ""},
		{"a", pw, nil, ""},
		{"j.o-n_e5", pw, nil, ""},
		{strings.Repeat("x", 64), pw, nil, ""},
		{"long", strings.Repeat("p", 1024), nil, ""},
		{"unicode", "ééééééééééé€", nil, ""}, // 12 characters, 25 bytes
		{"", pw, staff.ErrBadName, "1-64 characters"},
		{strings.Repeat("y", 65), pw, staff.ErrBadName, "1-64 characters"},
		{"Bob", pw, staff.ErrBadName, `"Bob"`},
		{"bob smith", pw, staff.ErrBadName, "a-z"},
		{"bob@site", pw, staff.ErrBadName, "a-z"},
		{"bób", pw, staff.ErrBadName, "a-z"},
		{"short", "eleven char", staff.ErrWeakPassword, "at least 12 characters"},
		{"short2", "ééééééééééé", staff.ErrWeakPassword, "at least 12 characters"}, // 11 characters, 22 bytes
		{"empty", "", staff.ErrWeakPassword, "at least 12 characters"},
		{"toolong", strings.Repeat("p", 1025), staff.ErrLongPassword, "at most 1024 bytes"},
	} {
		_, err := s.Add(t.Context(), tt.name, staff.RoleStaff, tt.password)
		if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) || (err != nil && !strings.Contains(err.Error(), tt.msg)) {
			t.Errorf("Add(%q, %d-byte password) = %v, want %v mentioning %s", tt.name, len(tt.password), err, tt.want, tt.msg)
		}
		if tt.want == nil {
			if _, err := s.Authenticate(t.Context(), tt.name, tt.password, addr); err != nil {
				t.Errorf("Authenticate(%q) after Add = %v", tt.name, err)
			}
		}
	}
	if err := s.SetPassword(t.Context(), "bob", "too short"); !errors.Is(err, staff.ErrWeakPassword) {
		t.Errorf("SetPassword(short) = %v, want ErrWeakPassword", err)
	}
	if err := staff.CheckPassword("short"); !errors.Is(err, staff.ErrWeakPassword) {
		t.Errorf("CheckPassword(short) = %v, want ErrWeakPassword", err)
	}
	if err := staff.CheckName("Bob"); !errors.Is(err, staff.ErrBadName) {
		t.Errorf("CheckName(Bob) = %v, want ErrBadName", err)
	}
}

func TestAuthenticate(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := t.Context()
	add(t, s, "bob", staff.RoleManager)
	add(t, s, "gone", staff.RoleStaff)
	if err := s.SetDisabled(ctx, "gone", true); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, password string
		want           error
	}{
		{"bob", pw, nil},
		{"bob", pw + " ", staff.ErrBadCredentials},
		{"bob", "", staff.ErrBadCredentials},
		{"bob", strings.Repeat("x", 5000), staff.ErrBadCredentials},
		{"Bob", pw, staff.ErrBadCredentials},
		{"nobody", pw, staff.ErrBadCredentials},
		{"", pw, staff.ErrBadCredentials},
		{"gone", pw, staff.ErrDisabled},
		{"gone", "wrong password", staff.ErrBadCredentials}, // no telling it is disabled without the password
	} {
		u, err := s.Authenticate(ctx, tt.name, tt.password, addr)
		if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
			t.Errorf("Authenticate(%q, %q) = %+v, %v, want %v", tt.name, tt.password, u, err, tt.want)
		}
		if err == nil && (u.Name != "bob" || u.Role != staff.RoleManager) {
			t.Errorf("Authenticate(%q) = %+v", tt.name, u)
		}
		if err != nil && u != (staff.User{}) {
			t.Errorf("Authenticate(%q) failed with %v but returned %+v", tt.name, err, u)
		}
	}
	// An unknown name and a wrong password read the same, name aside.
	_, e1 := s.Authenticate(ctx, "bob", "wrong password", addr)
	_, e2 := s.Authenticate(ctx, "bod", "wrong password", addr)
	if strings.Replace(e1.Error(), "bob", "bod", 1) != e2.Error() {
		t.Errorf("errors differ: %q and %q", e1, e2)
	}
}

// TestBackoff: failed sign-ins slow down the pair of name and address they came from,
// exponentially up to 15 minutes; they lock nobody out. (This replaces the old test of
// a hard 15-minute account lock after five failures.)
func TestBackoff(t *testing.T) {
	s, c, path := newStore(t)
	ctx := t.Context()
	add(t, s, "bob", staff.RoleStaff)
	add(t, s, "eve", staff.RoleStaff)
	signIn := func(name, password, from string) error {
		t.Helper()
		_, err := s.Authenticate(ctx, name, password, from)
		return err
	}
	fail := func(name, from string, n int) {
		t.Helper()
		for i := range n {
			if err := signIn(name, "wrong password", from); !errors.Is(err, staff.ErrBadCredentials) {
				t.Fatalf("%s from %s: failure %d: %v, want ErrBadCredentials", name, from, i+1, err)
			}
			c.advance(time.Second)
		}
	}
	waitUntil := func(name, from string) time.Time {
		t.Helper()
		var b *staff.BackoffError
		if err := signIn(name, pw, from); !errors.Is(err, staff.ErrBackedOff) || !errors.As(err, &b) {
			t.Fatalf("%s from %s: %v, want a backoff", name, from, err)
		}
		return b.Until
	}

	// A success resets the count.
	fail("bob", addr, 4)
	if err := signIn("bob", pw, addr); err != nil {
		t.Fatalf("sign-in after 4 failures: %v", err)
	}
	fail("bob", addr, 4)
	if err := signIn("bob", pw, addr); err != nil {
		t.Fatalf("sign-in after another 4 failures: %v", err)
	}

	// The fifth consecutive failure from one address makes that pair wait 30s, and
	// only that pair.
	c.set(time.Hour)
	fail("bob", addr, 4)
	if err := signIn("bob", "wrong password", addr); !errors.Is(err, staff.ErrBadCredentials) {
		t.Fatalf("fifth failure: %v", err)
	}
	last := c.t
	if got := waitUntil("bob", addr); !got.Equal(last.Add(30 * time.Second)) {
		t.Fatalf("wait after 5 failures until %v, want %v", got, last.Add(30*time.Second))
	}
	for _, tc := range []struct{ name, from string }{{"bob", "192.0.2.2"}, {"eve", addr}} {
		if err := signIn(tc.name, pw, tc.from); err != nil {
			t.Errorf("%s from %s is held back by another pair's failures: %v", tc.name, tc.from, err)
		}
	}

	// It survives reopening the store.
	s.Close()
	s = open(t, path, c)
	for _, tt := range []struct {
		at       time.Duration
		password string
		want     error
	}{
		{29 * time.Second, pw, staff.ErrBackedOff},
		{29 * time.Second, "wrong password", staff.ErrBackedOff}, // refused unchecked, not extending the wait
		{30 * time.Second, pw, nil},
	} {
		c.t = last.Add(tt.at)
		if err := signIn("bob", tt.password, addr); !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
			t.Fatalf("sign-in %v after the last failure = %v, want %v", tt.at, err, tt.want)
		}
	}

	// Once a wait has run out, the count is still there: each further failure makes the
	// pair wait twice as long as the last, up to 15 minutes.
	fail("bob", addr, 5)
	for _, want := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 15 * time.Minute, 15 * time.Minute} {
		c.t = waitUntil("bob", addr)
		fail("bob", addr, 1)
		if got := waitUntil("bob", addr).Sub(c.t.Add(-time.Second)); got != want {
			t.Errorf("wait %v, want %v", got, want)
		}
	}
	// A day without failures forgets them.
	c.advance(25 * time.Hour)
	fail("bob", "192.0.2.9", 1) // any failure prunes
	fail("bob", addr, 4)
	if err := signIn("bob", pw, addr); err != nil {
		t.Errorf("sign-in a day later after 4 failures: %v", err)
	}
	// A new password forgets them too.
	fail("bob", addr, 5)
	if err := s.SetPassword(ctx, "bob", "a new password here"); err != nil {
		t.Fatal(err)
	}
	if err := signIn("bob", "a new password here", addr); err != nil {
		t.Errorf("sign-in after a new password = %v", err)
	}
	if err := signIn("bob", pw, addr); !errors.Is(err, staff.ErrBadCredentials) {
		t.Errorf("sign-in with the old password = %v", err)
	}
}

// TestUnknownNamesAnswerAlike: for an unknown name every answer, backoff included, is
// the one a known name with a wrong password gets.
func TestUnknownNamesAnswerAlike(t *testing.T) {
	s, c, _ := newStore(t)
	add(t, s, "bob", staff.RoleStaff)
	for i := range 7 {
		_, known := s.Authenticate(t.Context(), "bob", "wrong password", addr)
		_, unknown := s.Authenticate(t.Context(), "bod", "wrong password", addr)
		if known == nil || unknown == nil || strings.Replace(known.Error(), "bob", "bod", 1) != unknown.Error() ||
			errors.Is(known, staff.ErrBackedOff) != errors.Is(unknown, staff.ErrBackedOff) {
			t.Errorf("attempt %d: %q and %q differ", i+1, known, unknown)
		}
		c.advance(time.Second)
	}
}

// Parallel guesses cannot outrun the backoff: exactly MaxFailures of them are checked.
func TestParallelGuesses(t *testing.T) {
	s, _, _ := newStore(t)
	add(t, s, "bob", staff.RoleStaff)
	var mu sync.Mutex
	counts := map[error]int{}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			_, err := s.Authenticate(t.Context(), "bob", "wrong password", addr)
			for _, e := range []error{staff.ErrBadCredentials, staff.ErrBackedOff} {
				if errors.Is(err, e) {
					err = e
				}
			}
			mu.Lock()
			counts[err]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if counts[staff.ErrBadCredentials] != 5 || counts[staff.ErrBackedOff] != 15 {
		t.Errorf("20 parallel guesses: %v, want 5 bad credentials and 15 backed off", counts)
	}
}

func TestSessions(t *testing.T) {
	s, c, _ := newStore(t)
	ctx := t.Context()
	u := add(t, s, "bob", staff.RoleStaff)
	other := add(t, s, "eve", staff.RoleStaff)

	sess, err := s.NewSession(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if len(sess.ID) != 43 || len(sess.CSRF) != 43 || sess.ID == sess.CSRF || sess.User.Name != "bob" || !sess.Expires.Equal(start.Add(12*time.Hour)) {
		t.Fatalf("NewSession = %+v", sess)
	}
	got, err := s.Session(ctx, sess.ID)
	if err != nil || got.ID != sess.ID || got.CSRF != sess.CSRF || got.User != u {
		t.Fatalf("Session = %+v, %v, want %+v", got, err, sess)
	}
	if !got.CheckCSRF(sess.CSRF) || got.CheckCSRF(sess.CSRF[1:]) || got.CheckCSRF("") || (staff.Session{}).CheckCSRF("") {
		t.Error("CheckCSRF is wrong")
	}
	if err := s.SetRole(ctx, "bob", staff.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Session(ctx, sess.ID); err != nil || got.User.Role != staff.RoleAdmin {
		t.Errorf("Session after a role change = %+v, %v", got, err)
	}
	for _, id := range []string{"", "nonsense", sess.CSRF, sess.ID[1:]} {
		if _, err := s.Session(ctx, id); !errors.Is(err, staff.ErrNoSession) {
			t.Errorf("Session(%q) = %v, want ErrNoSession", id, err)
		}
	}

	// Sliding idle timeout, under a hard maximum.
	for _, tt := range []struct {
		at      time.Duration
		ok      bool
		expires time.Duration
	}{
		{11*time.Hour + 59*time.Minute, true, 23*time.Hour + 59*time.Minute},
		{23*time.Hour + 58*time.Minute, true, 24 * time.Hour}, // capped by the maximum
		{23*time.Hour + 59*time.Minute, true, 24 * time.Hour},
		{24 * time.Hour, false, 0},
		{24*time.Hour + time.Minute, false, 0},
	} {
		c.set(tt.at)
		got, err := s.Session(ctx, sess.ID)
		if tt.ok && (err != nil || !got.Expires.Equal(start.Add(tt.expires))) || !tt.ok && !errors.Is(err, staff.ErrNoSession) {
			t.Errorf("Session at +%v = %+v, %v, want ok %v expiring at +%v", tt.at, got, err, tt.ok, tt.expires)
		}
	}

	c.set(0)
	idle, err := s.NewSession(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		at time.Duration
		ok bool
	}{
		{6 * time.Hour, true},
		{18*time.Hour - time.Nanosecond, true},
		{30 * time.Hour, false}, // idle 12 hours
	} {
		c.set(tt.at)
		if _, err := s.Session(ctx, idle.ID); (err == nil) != tt.ok || !tt.ok && !errors.Is(err, staff.ErrNoSession) {
			t.Errorf("idle session at +%v = %v, want ok %v", tt.at, err, tt.ok)
		}
	}
	c.set(0)
	idle2, err := s.NewSession(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	c.set(12 * time.Hour)
	if _, err := s.Session(ctx, idle2.ID); !errors.Is(err, staff.ErrNoSession) {
		t.Errorf("session unused for exactly 12h = %v, want ErrNoSession", err)
	}

	// Signing out.
	c.set(48 * time.Hour)
	s1, err := s.NewSession(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := s.NewSession(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.EndSession(ctx, s1.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.EndSession(ctx, s1.ID); err != nil {
		t.Errorf("ending an ended session: %v", err)
	}
	if _, err := s.Session(ctx, s1.ID); !errors.Is(err, staff.ErrNoSession) {
		t.Errorf("ended session = %v, want ErrNoSession", err)
	}
	if _, err := s.Session(ctx, s2.ID); err != nil {
		t.Errorf("another session of the same user ended too: %v", err)
	}

	// Disabling ends sessions, and a disabled user gets none.
	if err := s.SetDisabled(ctx, "bob", true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, s2.ID); !errors.Is(err, staff.ErrNoSession) {
		t.Errorf("session of a disabled user = %v, want ErrNoSession", err)
	}
	if _, err := s.NewSession(ctx, u); !errors.Is(err, staff.ErrDisabled) {
		t.Errorf("NewSession for a disabled user = %v, want ErrDisabled", err)
	}
	if _, err := s.NewSession(ctx, staff.User{Name: "nobody"}); !errors.Is(err, staff.ErrNotFound) {
		t.Errorf("NewSession for an unknown user = %v, want ErrNotFound", err)
	}
	if err := s.SetDisabled(ctx, "bob", false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, s2.ID); !errors.Is(err, staff.ErrNoSession) {
		t.Errorf("re-enabling brought a session back: %v", err)
	}

	// A new password ends sessions.
	s3, err := s.NewSession(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetPassword(ctx, "bob", "another good password"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, s3.ID); !errors.Is(err, staff.ErrNoSession) {
		t.Errorf("session after a password change = %v, want ErrNoSession", err)
	}
}

func TestTokens(t *testing.T) {
	s, c, _ := newStore(t)
	ctx := t.Context()
	u := add(t, s, "bob", staff.RoleSecurity)
	newToken := func() string {
		t.Helper()
		tok, err := s.NewToken(ctx, u, "laptop")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(tok, "apt_") || len(tok) != 4+43 {
			t.Fatalf("NewToken = %q", tok)
		}
		return tok
	}
	check := func(what, tok string, want error) {
		t.Helper()
		got, err := s.TokenUser(ctx, tok)
		if !errors.Is(err, want) || (err == nil) != (want == nil) || err == nil && got.Name != "bob" {
			t.Errorf("%s: TokenUser = %+v, %v, want %v", what, got, err, want)
		}
	}

	tok := newToken()
	check("new token", tok, nil)
	c.advance(1000 * 24 * time.Hour)
	check("token after 1000 days", tok, nil)
	for _, bad := range []string{"", "apt_", tok[4:], tok + "x", "apt_" + strings.Repeat("A", 43)} {
		check("bad token "+bad, bad, staff.ErrNoSession)
	}
	tok2 := newToken()
	if err := s.RevokeToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeToken(ctx, tok); err != nil {
		t.Errorf("revoking a revoked token: %v", err)
	}
	check("revoked token", tok, staff.ErrNoSession)
	check("the other token", tok2, nil)

	if err := s.SetPassword(ctx, "bob", "another good password"); err != nil {
		t.Fatal(err)
	}
	check("token after a password change", tok2, staff.ErrNoSession)

	tok3 := newToken()
	if err := s.SetDisabled(ctx, "bob", true); err != nil {
		t.Fatal(err)
	}
	check("token of a disabled user", tok3, staff.ErrNoSession)
	if _, err := s.NewToken(ctx, u, "x"); !errors.Is(err, staff.ErrDisabled) {
		t.Errorf("NewToken for a disabled user = %v, want ErrDisabled", err)
	}
	if err := s.SetDisabled(ctx, "bob", false); err != nil {
		t.Fatal(err)
	}
	check("token after re-enabling", tok3, staff.ErrNoSession)
	if _, err := s.NewToken(ctx, staff.User{Name: "nobody"}, "x"); !errors.Is(err, staff.ErrNotFound) {
		t.Errorf("NewToken for an unknown user = %v, want ErrNotFound", err)
	}
	if _, err := s.NewToken(ctx, u, strings.Repeat("l", 201)); err == nil {
		t.Error("NewToken accepted a 201-byte label")
	}
}

func TestFileMode(t *testing.T) {
	for _, existing := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "staff.db")
		if existing {
			if err := os.WriteFile(path, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		s := open(t, path, &clock{t: start})
		add(t, s, "bob", staff.RoleStaff)
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			fi, err := os.Stat(p)
			if p != path && errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("existing %v: %s: mode %v, %v, want 0600", existing, filepath.Base(p), fi.Mode().Perm(), err)
			}
		}
	}
}

// The password hash is a PHC argon2id string, and no secret is stored as itself.
func TestStorage(t *testing.T) {
	s, _, path := newStore(t)
	ctx := t.Context()
	u := add(t, s, "bob", staff.RoleStaff)
	sess, err := s.NewSession(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.NewToken(ctx, u, "laptop")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	hash := storedHash(t, path, "bob")
	phc := regexp.MustCompile(`^\$argon2id\$v=19\$m=64,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !phc.MatchString(hash) {
		t.Errorf("stored hash %q is not a PHC argon2id string", hash)
	}

	var data []byte
	for _, p := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(p)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		data = append(data, b...)
	}
	if !bytes.Contains(data, []byte("bob")) {
		t.Fatal("the file does not even hold the user's name; is this the right file?")
	}
	for what, secret := range map[string]string{"password": pw, "session ID": sess.ID, "token": tok, "token body": tok[4:]} {
		if bytes.Contains(data, []byte(secret)) {
			t.Errorf("the %s is stored as itself", what)
		}
	}
}

func storedHash(t *testing.T, path, name string) string {
	t.Helper()
	db, err := sqlitedb.OpenReadOnly(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var hash string
	if err := db.QueryRowContext(t.Context(), `SELECT hash FROM users WHERE name = ?`, name).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	return hash
}

// Hashes keep their parameters, so they can be raised: a sign-in rehashes with the
// current ones.
func TestRehash(t *testing.T) {
	s, c, path := newStore(t)
	add(t, s, "bob", staff.RoleStaff)
	s.Close()

	s, err := staff.Open(t.Context(), path, staff.Options{Clock: c, Hashing: staff.Hashing{Time: 2, MemoryKiB: 128, Threads: 2}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Authenticate(t.Context(), "bob", pw, addr); err != nil {
		t.Fatalf("sign-in with an old-parameter hash: %v", err)
	}
	if h := storedHash(t, path, "bob"); !strings.HasPrefix(h, "$argon2id$v=19$m=128,t=2,p=2$") {
		t.Errorf("hash after sign-in = %q, want the new parameters", h)
	}
	if _, err := s.Authenticate(t.Context(), "bob", pw, addr); err != nil {
		t.Fatalf("sign-in with the rehashed password: %v", err)
	}
}

func TestOpenOptions(t *testing.T) {
	for _, h := range []staff.Hashing{
		{Time: 0, MemoryKiB: 64, Threads: 1},
		{Time: 1, MemoryKiB: 64, Threads: 0},
		{Time: 1, MemoryKiB: 7, Threads: 1},
		{Time: 1, MemoryKiB: 1 << 30, Threads: 1},
	} {
		if s, err := staff.Open(t.Context(), filepath.Join(t.TempDir(), "staff.db"), staff.Options{Hashing: h}); err == nil {
			s.Close()
			t.Errorf("Open with hashing %+v succeeded", h)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := staff.Open(ctx, filepath.Join(t.TempDir(), "staff.db"), staff.Options{Hashing: tiny}); err == nil {
		t.Error("Open with a cancelled context succeeded")
	}
}

// BenchmarkAuthenticate measures a sign-in with the production hashing parameters.
func BenchmarkAuthenticate(b *testing.B) {
	s, err := staff.Open(b.Context(), filepath.Join(b.TempDir(), "staff.db"), staff.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Add(b.Context(), "bob", staff.RoleStaff, pw); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.Authenticate(b.Context(), "bob", pw, addr); err != nil {
			b.Fatal(err)
		}
	}
}
