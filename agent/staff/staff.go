// Package staff is the store of staff accounts for the agent's HTTP console: who may
// sign in, with which role, their argon2id password hashes, backoff after repeated
// failed sign-ins, browser sessions and command-line tokens. It keeps them in a SQLite file
// readable only by its owner.
//
// Secrets are never stored: passwords are kept as argon2id hashes in PHC string form
// (so the parameters can be raised later; a sign-in rehashes with the current ones),
// and session IDs and tokens as their SHA-256. A Store is safe for concurrent use.
//
// Repeated failed sign-ins do not lock an account, which would let anyone lock out
// anyone at will: they slow down the pair of name and address they came from. After
// MaxFailures consecutive failures from one address for one name, that pair must wait
// Backoff before its next attempt, twice as long after each further failure, up to
// MaxBackoff; other addresses are unaffected. Unknown names are treated exactly like
// known ones, so the answers never tell which names exist.
package staff

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/apedge/apedge/internal/clock"
	"github.com/apedge/apedge/internal/sqlitedb"
)

// Role is a member of staff's job on the console; what it may do is its permissions
// in a Policy (permissions.go).
type Role string

// Roles a user may have.
const (
	RoleStaff     Role = "staff"
	RoleKeyworker Role = "keyworker"
	RoleSecurity  Role = "security"
	RoleManager   Role = "manager"
	RoleAdmin     Role = "admin"
)

// Roles lists every role, with the fewest permissions by default first.
func Roles() []Role { return []Role{RoleStaff, RoleKeyworker, RoleSecurity, RoleManager, RoleAdmin} }

// ParseRole returns the role named s (case is ignored).
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	if !r.valid() {
		return "", fmt.Errorf("%w %q (want staff, keyworker, security, manager or admin)", ErrBadRole, s)
	}
	return r, nil
}

func (r Role) valid() bool { return slices.Contains(Roles(), r) }

// Errors the store returns, followed by what it was doing ("staff: no such user: get
// "bob""); test for them with errors.Is.
var (
	// ErrBadCredentials is a sign-in with an unknown name or a wrong password; the two
	// are deliberately indistinguishable.
	ErrBadCredentials = errors.New("staff: wrong name or password")
	// ErrBackedOff is a sign-in refused, unchecked, because of too many failures
	// from the same address for the same name; the error is a *BackoffError saying
	// until when.
	ErrBackedOff = errors.New("staff: too many failed sign-ins for this name from this address")
	// ErrDisabled is a sign-in (with the right password) to a disabled account.
	ErrDisabled = errors.New("staff: account disabled")
	// ErrNoSession is a session ID or token that is unknown, expired or ended.
	ErrNoSession = errors.New("staff: no such session")
	// ErrExists is adding a user whose name is taken.
	ErrExists = errors.New("staff: user already exists")
	// ErrNotFound is a user that does not exist.
	ErrNotFound = errors.New("staff: no such user")
	// ErrWeakPassword is a password shorter than 12 characters.
	ErrWeakPassword = errors.New("staff: a password needs at least 12 characters")
	// ErrLongPassword is a password longer than 1024 bytes.
	ErrLongPassword = errors.New("staff: a password may be at most 1024 bytes long")
	// ErrBadName is a user name that is not 1-64 characters from a-z, 0-9, '.', '_'
	// and '-'.
	ErrBadName = errors.New("staff: a user name needs 1-64 characters from a-z, 0-9, '.', '_' and '-'")
	// ErrBadRole is a role that is not one of Roles.
	ErrBadRole = errors.New("staff: unknown role")
)

// ownErrors are the errors above: an error that is one of them already names the
// package (see wrap).
var ownErrors = []error{ErrBadCredentials, ErrBackedOff, ErrDisabled, ErrNoSession, ErrExists,
	ErrNotFound, ErrWeakPassword, ErrLongPassword, ErrBadName, ErrBadRole}

// wrap says what the store was doing when err happened, naming the package once: one
// of the package's errors (which start "staff: ") comes first, as in
// "staff: no such user: set role of "bob"", and any other error last, as in
// "staff: set role of "bob": database is locked".
func wrap(err error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	for _, own := range ownErrors {
		if errors.Is(err, own) {
			return fmt.Errorf("%w: %s", err, what)
		}
	}
	return fmt.Errorf("staff: %s: %w", what, err)
}

// BackoffError is the error of a sign-in refused because its name and address must
// wait after repeated failures. It matches ErrBackedOff with errors.Is.
type BackoffError struct {
	// Until is when the pair may try again.
	Until time.Time
}

// Error says that the sign-in must wait, and until when.
func (e *BackoffError) Error() string {
	return ErrBackedOff.Error() + ": wait until " + e.Until.Format(time.RFC3339)
}

// Is reports whether target is ErrBackedOff.
func (e *BackoffError) Is(target error) bool { return target == ErrBackedOff }

// Password and name limits.
const (
	MinPasswordChars = 12
	MaxPasswordBytes = 1024
	MaxNameChars     = 64
	maxLabelBytes    = 200
)

// CheckName reports whether name is a valid user name: 1-64 characters from a-z, 0-9,
// '.', '_' and '-'.
func CheckName(name string) error {
	if name == "" || len(name) > MaxNameChars {
		return fmt.Errorf("%w: %q", ErrBadName, name)
	}
	for _, c := range []byte(name) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: %q", ErrBadName, name)
		}
	}
	return nil
}

// CheckPassword reports whether password is acceptable: at least 12 characters and at
// most 1024 bytes.
func CheckPassword(password string) error {
	return checkPassword(password)
}

func checkPassword(password string) error {
	switch {
	case len(password) > MaxPasswordBytes:
		return ErrLongPassword
	case utf8.RuneCountInString(password) < MinPasswordChars:
		return ErrWeakPassword
	}
	return nil
}

// User is a staff account as the console sees it; the password hash never leaves
// the store.
type User struct {
	Name      string
	Role      Role
	Disabled  bool
	CreatedAt time.Time
}

// Session is a signed-in browser.
type Session struct {
	// ID is the session's secret (the cookie value): 32 random bytes, base64url. The
	// store keeps only its SHA-256.
	ID string
	// CSRF is the session's anti-forgery token, to be echoed in forms; compare with
	// CheckCSRF.
	CSRF string
	// User is the signed-in user as they are now (a role change applies at once).
	User User
	// Expires is when the session ends unless used again before.
	Expires time.Time
}

// CheckCSRF reports, in constant time, whether token is the session's CSRF token.
func (s Session) CheckCSRF(token string) bool {
	return s.CSRF != "" && subtle.ConstantTimeCompare([]byte(s.CSRF), []byte(token)) == 1
}

// TokenPrefix begins every command-line token.
const TokenPrefix = "apt_"

// Options tune a Store. The zero value of a field means its default.
type Options struct {
	// Clock dates sign-ins, sessions and backoffs; nil means the system clock.
	Clock clock.Clock
	// MaxFailures consecutive failed sign-ins for one name from one address make that
	// pair wait Backoff from the last of them; default 5. Each further failure doubles
	// the wait, up to MaxBackoff. The count is reset by a successful sign-in from that
	// address, by a new password, or by a day without failures, so once a wait ends a
	// further failure makes the pair wait again, longer.
	MaxFailures int
	// Backoff is the first wait; default 30 seconds.
	Backoff time.Duration
	// MaxBackoff caps the wait; default 15 minutes.
	MaxBackoff time.Duration
	// SessionIdle ends a session not used for this long; default 12 hours.
	SessionIdle time.Duration
	// SessionMax ends a session this long after it began, however used; default 24
	// hours.
	SessionMax time.Duration
	// Hashing is the argon2id cost of new hashes; the zero value means RFC 9106's
	// second recommended option (t=3, 64 MiB, p=4).
	Hashing Hashing
	// HashConcurrency bounds how many hashes are computed at once, each taking
	// Hashing.MemoryKiB of memory; default 2. Callers beyond it wait.
	HashConcurrency int
}

// Store is an open staff accounts file.
type Store struct {
	db      *sql.DB
	now     func() time.Time
	maxFail int
	backoff time.Duration
	maxWait time.Duration
	idle    time.Duration
	max     time.Duration
	hashing Hashing
	slots   chan struct{}
}

var schema = []string{`
CREATE TABLE users (
	name         TEXT PRIMARY KEY,
	role         TEXT NOT NULL,
	hash         TEXT NOT NULL,
	disabled     INTEGER NOT NULL DEFAULT 0,
	failures     INTEGER NOT NULL DEFAULT 0,
	locked_until TEXT NOT NULL,
	created_at   TEXT NOT NULL
);
CREATE TABLE sessions (
	id_hash   BLOB PRIMARY KEY,
	name      TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
	csrf      TEXT NOT NULL,
	created   TEXT NOT NULL,
	last_used TEXT NOT NULL
);
CREATE INDEX sessions_name ON sessions(name);
CREATE TABLE tokens (
	id_hash   BLOB PRIMARY KEY,
	name      TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
	label     TEXT NOT NULL,
	created   TEXT NOT NULL,
	last_used TEXT NOT NULL
);
CREATE INDEX tokens_name ON tokens(name);`, `
ALTER TABLE users DROP COLUMN failures;
ALTER TABLE users DROP COLUMN locked_until;
CREATE TABLE failures (
	name  TEXT NOT NULL,
	addr  TEXT NOT NULL,
	count INTEGER NOT NULL,
	last  TEXT NOT NULL,
	until TEXT NOT NULL,
	PRIMARY KEY (name, addr)
) WITHOUT ROWID;
CREATE INDEX failures_last ON failures(last);`}

// forgetFailuresAfter is how long a pair's failures are remembered without another.
const forgetFailuresAfter = 24 * time.Hour

// maxKeyBytes bounds the name and address a failure is recorded under: they come
// from whoever is signing in.
const maxKeyBytes = 128

// Open opens (creating if needed) the store at path, readable and writable only by
// its owner.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	s := &Store{
		now: clock.Or(opts.Clock).Now, maxFail: opts.MaxFailures, backoff: opts.Backoff, maxWait: opts.MaxBackoff,
		idle: opts.SessionIdle, max: opts.SessionMax, hashing: opts.Hashing,
	}
	s.maxFail = orDefault(s.maxFail, 5)
	s.backoff = orDefault(s.backoff, 30*time.Second)
	s.maxWait = max(orDefault(s.maxWait, 15*time.Minute), s.backoff)
	s.idle = orDefault(s.idle, 12*time.Hour)
	s.max = orDefault(s.max, 24*time.Hour)
	if s.hashing == (Hashing{}) {
		s.hashing = Hashing{Time: defaultTime, MemoryKiB: defaultMemoryKiB, Threads: defaultThreads}
	}
	if err := s.hashing.check(); err != nil {
		return nil, fmt.Errorf("staff: open %s: %w", path, err)
	}
	s.slots = make(chan struct{}, orDefault(opts.HashConcurrency, 2))

	// sqlitedb makes the file (and so its journal files) readable by its owner only.
	var err error
	if s.db, err = sqlitedb.Open(ctx, path, schema); err != nil {
		return nil, fmt.Errorf("staff: %w", err)
	}
	return s, nil
}

func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// Close closes the store.
func (s *Store) Close() error { return s.db.Close() }

// Times are stored as fixed-width UTC text, so they sort and compare as strings.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

func fmtTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func parseTime(s string) (time.Time, error) { return time.Parse(timeLayout, s) }

// Count returns the number of users, disabled ones included.
func (s *Store) Count(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("staff: count: %w", err)
	}
	return n, nil
}

// Add adds a user with a password.
func (s *Store) Add(ctx context.Context, name string, role Role, password string) (User, error) {
	if err := CheckName(name); err != nil {
		return User{}, err
	}
	if !role.valid() {
		return User{}, fmt.Errorf("%w %q: add %q", ErrBadRole, role, name)
	}
	if err := checkPassword(password); err != nil {
		return User{}, wrap(err, "add %q", name)
	}
	hash, err := s.hash(ctx, password)
	if err != nil {
		return User{}, wrap(err, "add %q", name)
	}
	now := s.now()
	res, err := s.db.ExecContext(ctx, `INSERT INTO users (name, role, hash, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (name) DO NOTHING`, name, string(role), hash, fmtTime(now))
	if err != nil {
		return User{}, wrap(err, "add %q", name)
	}
	if n, err := res.RowsAffected(); err != nil {
		return User{}, wrap(err, "add %q", name)
	} else if n == 0 {
		return User{}, wrap(ErrExists, "add %q", name)
	}
	return User{Name: name, Role: role, CreatedAt: parsedNow(now)}, nil
}

// parsedNow is t as it reads back from the database.
func parsedNow(t time.Time) time.Time {
	p, _ := parseTime(fmtTime(t))
	return p
}

const userColumns = `u.name, u.role, u.disabled, u.created_at`

type scanner interface{ Scan(...any) error }

// scanUser scans userColumns followed by extra.
func (s *Store) scanUser(row scanner, extra ...any) (User, error) {
	var u User
	var role, created string
	if err := row.Scan(append([]any{&u.Name, &role, &u.Disabled, &created}, extra...)...); err != nil {
		return User{}, err
	}
	u.Role = Role(role)
	var err error
	if u.CreatedAt, err = parseTime(created); err != nil {
		return User{}, err
	}
	return u, nil
}

// Get returns the user called name.
func (s *Store) Get(ctx context.Context, name string) (User, error) {
	u, err := s.scanUser(s.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users u WHERE u.name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return User{}, wrap(err, "get %q", name)
	}
	return u, nil
}

// List returns every user, sorted by name.
func (s *Store) List(ctx context.Context) ([]User, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+userColumns+` FROM users u ORDER BY u.name`)
	if err != nil {
		return nil, fmt.Errorf("staff: list: %w", err)
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, err := s.scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("staff: list: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("staff: list: %w", err)
	}
	return out, nil
}

// SetPassword gives a user a new password. It also forgets the failed sign-ins for
// their name, and ends the user's sessions and tokens.
func (s *Store) SetPassword(ctx context.Context, name, password string) error {
	if err := checkPassword(password); err != nil {
		return wrap(err, "set password of %q", name)
	}
	hash, err := s.hash(ctx, password)
	if err != nil {
		return wrap(err, "set password of %q", name)
	}
	err = s.update(ctx, name, true, `UPDATE users SET hash = ? WHERE name = ?`, hash, name)
	if err != nil {
		return wrap(err, "set password of %q", name)
	}
	return nil
}

// SetRole changes a user's role. It applies at once to their sessions and tokens.
func (s *Store) SetRole(ctx context.Context, name string, role Role) error {
	if !role.valid() {
		return fmt.Errorf("%w %q: set role of %q", ErrBadRole, role, name)
	}
	if err := s.update(ctx, name, false, `UPDATE users SET role = ? WHERE name = ?`, string(role), name); err != nil {
		return wrap(err, "set role of %q", name)
	}
	return nil
}

// SetDisabled disables or re-enables a user. Disabling ends their sessions and tokens
// at once; re-enabling does not bring them back.
func (s *Store) SetDisabled(ctx context.Context, name string, disabled bool) error {
	if err := s.update(ctx, name, disabled, `UPDATE users SET disabled = ? WHERE name = ?`, disabled, name); err != nil {
		return wrap(err, "set disabled of %q", name)
	}
	return nil
}

// update runs an UPDATE of one user, failing with ErrNotFound if there is none, and
// if endAll also deletes their sessions and tokens, all in one transaction.
func (s *Store) update(ctx context.Context, name string, endAll bool, query string, args ...any) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return ErrNotFound
	}
	if endAll {
		if _, err := tx.ExecContext(ctx, `DELETE FROM failures WHERE name = ?`, name); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE name = ?`, name); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM tokens WHERE name = ?`, name); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Authenticate checks a sign-in by name with password, made from the address from
// (the client's IP address, as the console sees it). A wrong password or an unknown
// name is ErrBadCredentials, indistinguishably (an unknown name costs a hash too, and
// its failures are counted the same way). A disabled account with the right password
// is ErrDisabled.
//
// MaxFailures consecutive failures for name from from make that pair wait: until the
// wait ends its sign-ins are refused with a *BackoffError (matching ErrBackedOff)
// whatever the password, without a hash, without counting a failure and without
// extending the wait; the same name from another address is not affected. A success
// from that address resets its count. Failures are counted in the database before the
// password is checked, so parallel guesses cannot outrun the backoff.
func (s *Store) Authenticate(ctx context.Context, name, password, from string) (User, error) {
	fail := func(err error) (User, error) { return User{}, wrap(err, "sign in %q", name) }
	if err := s.acquire(ctx); err != nil {
		return fail(err)
	}
	defer s.release()
	now := s.now()
	kName, kAddr := clipKey(name), clipKey(from)
	u, stored, err := s.countFailure(ctx, name, kName, kAddr, now)
	if err != nil {
		return fail(err)
	}
	if stored == "" || len(password) > MaxPasswordBytes {
		// An unknown name (or a password no account can have) costs a hash all
		// the same.
		s.hashing.key(password[:min(len(password), MaxPasswordBytes)], make([]byte, saltBytes), keyBytes)
		return fail(ErrBadCredentials)
	}
	h, ok, err := verify(stored, password)
	if err != nil {
		return fail(err)
	}
	if !ok {
		return fail(ErrBadCredentials)
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM failures WHERE name = ? AND addr = ?`, kName, kAddr); err != nil {
		return fail(err)
	}
	if u.Disabled {
		return fail(ErrDisabled)
	}
	if h != s.hashing {
		// Rehash with the current parameters. This is best effort: the sign-in has
		// succeeded, and the next one will try again. The WHERE keeps a password
		// changed meanwhile.
		if newHash, err := s.hashing.phc(password); err == nil {
			s.db.ExecContext(ctx, `UPDATE users SET hash = ? WHERE name = ? AND hash = ?`, newHash, name, stored)
		}
	}
	return u, nil
}

// clipKey bounds a name or address that failures are recorded under.
func clipKey(s string) string {
	if len(s) > maxKeyBytes {
		return s[:maxKeyBytes]
	}
	return s
}

// countFailure returns the user called name and their stored hash (both empty if
// there is no such user), having counted a failed sign-in at now for the pair kName,
// kAddr, and made the pair wait if it has failed too often; a success undoes it. It
// fails with a *BackoffError if the pair is waiting. It also forgets the failures of
// pairs quiet for a day.
func (s *Store) countFailure(ctx context.Context, name, kName, kAddr string, now time.Time) (User, string, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return User{}, "", err
	}
	defer tx.Rollback()
	var count int
	var until string
	err = tx.QueryRowContext(ctx, `SELECT count, until FROM failures WHERE name = ? AND addr = ?`, kName, kAddr).Scan(&count, &until)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return User{}, "", err
	default:
		t, err := parseTime(until)
		if err != nil {
			return User{}, "", err
		}
		if t.After(now) {
			return User{}, "", &BackoffError{Until: t}
		}
	}
	var hash string
	u, err := s.scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+`, u.hash FROM users u WHERE u.name = ?`, name), &hash)
	if errors.Is(err, sql.ErrNoRows) {
		u, hash, err = User{}, "", nil
	}
	if err != nil {
		return User{}, "", err
	}
	count++
	wait := time.Time{}
	if count >= s.maxFail {
		wait = now.Add(s.wait(count))
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO failures (name, addr, count, last, until) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (name, addr) DO UPDATE SET count = excluded.count, last = excluded.last, until = excluded.until`,
		kName, kAddr, count, fmtTime(now), fmtTime(wait)); err != nil {
		return User{}, "", err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM failures WHERE last < ?`, fmtTime(now.Add(-forgetFailuresAfter))); err != nil {
		return User{}, "", err
	}
	return u, hash, tx.Commit()
}

// wait is how long a pair waits after its count-th consecutive failure (count >=
// maxFail): Backoff, doubled for each failure beyond maxFail, up to MaxBackoff.
func (s *Store) wait(count int) time.Duration {
	d := s.backoff
	for range count - s.maxFail {
		if d >= s.maxWait {
			break
		}
		d *= 2
	}
	return min(d, s.maxWait)
}

func (s *Store) acquire(ctx context.Context) error {
	select {
	case s.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Store) release() { <-s.slots }

func (s *Store) hash(ctx context.Context, password string) (string, error) {
	if err := s.acquire(ctx); err != nil {
		return "", err
	}
	defer s.release()
	return s.hashing.phc(password)
}

// NewSession begins a browser session for u, who must exist and not be disabled. It
// also forgets sessions that have expired.
func (s *Store) NewSession(ctx context.Context, u User) (Session, error) {
	fail := func(err error) (Session, error) {
		return Session{}, wrap(err, "new session for %q", u.Name)
	}
	id, err := randomString(32)
	if err != nil {
		return fail(err)
	}
	csrf, err := randomString(32)
	if err != nil {
		return fail(err)
	}
	now := s.now()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	cur, err := s.scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users u WHERE u.name = ?`, u.Name))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fail(ErrNotFound)
	case err != nil:
		return fail(err)
	case cur.Disabled:
		return fail(ErrDisabled)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE last_used <= ? OR created <= ?`,
		fmtTime(now.Add(-s.idle)), fmtTime(now.Add(-s.max))); err != nil {
		return fail(err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO sessions (id_hash, name, csrf, created, last_used) VALUES (?, ?, ?, ?, ?)`,
		digest(id), cur.Name, csrf, fmtTime(now), fmtTime(now)); err != nil {
		return fail(err)
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	return Session{ID: id, CSRF: csrf, User: cur, Expires: s.expires(now, now)}, nil
}

func (s *Store) expires(created, lastUsed time.Time) time.Time {
	idle, hard := lastUsed.Add(s.idle), created.Add(s.max)
	if idle.Before(hard) {
		return idle
	}
	return hard
}

// Session returns the session whose ID is id, and counts this as a use of it: a
// session ends SessionIdle after its last use or SessionMax after it began, whichever
// is sooner. An unknown, expired or ended session, or one whose user is disabled, is
// ErrNoSession.
func (s *Store) Session(ctx context.Context, id string) (Session, error) {
	// The ID is a secret: errors do not quote it.
	fail := func(err error) (Session, error) { return Session{}, wrap(err, "session") }
	now := s.now()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	var csrf, created, lastUsed string
	h := digest(id)
	u, err := s.scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+`, s.csrf, s.created, s.last_used
		FROM sessions s JOIN users u ON u.name = s.name WHERE s.id_hash = ?`, h), &csrf, &created, &lastUsed)
	if errors.Is(err, sql.ErrNoRows) {
		return fail(ErrNoSession)
	}
	if err != nil {
		return fail(err)
	}
	c, err := parseTime(created)
	if err != nil {
		return fail(err)
	}
	l, err := parseTime(lastUsed)
	if err != nil {
		return fail(err)
	}
	if u.Disabled || !now.Before(s.expires(c, l)) {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = ?`, h); err != nil {
			return fail(err)
		}
		if err := tx.Commit(); err != nil {
			return fail(err)
		}
		return fail(ErrNoSession)
	}
	if now.After(l) {
		if _, err := tx.ExecContext(ctx, `UPDATE sessions SET last_used = ? WHERE id_hash = ?`, fmtTime(now), h); err != nil {
			return fail(err)
		}
		l = now
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	return Session{ID: id, CSRF: csrf, User: u, Expires: s.expires(c, l)}, nil
}

// EndSession ends the session whose ID is id (signing out). Ending an unknown or
// already ended session is not an error.
func (s *Store) EndSession(ctx context.Context, id string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = ?`, digest(id)); err != nil {
		return fmt.Errorf("staff: end session: %w", err)
	}
	return nil
}

// NewToken issues a command-line token for u, who must exist and not be disabled,
// and returns its secret: "apt_" and 32 random bytes, base64url. label says what it
// is for (at most 200 bytes). Tokens do not expire with time; they end when revoked,
// when the user's password is changed, or when the user is disabled.
func (s *Store) NewToken(ctx context.Context, u User, label string) (string, error) {
	fail := func(err error) (string, error) { return "", wrap(err, "new token for %q", u.Name) }
	if len(label) > maxLabelBytes {
		return fail(fmt.Errorf("label longer than %d bytes", maxLabelBytes))
	}
	r, err := randomString(32)
	if err != nil {
		return fail(err)
	}
	secret := TokenPrefix + r
	now := fmtTime(s.now())
	res, err := s.db.ExecContext(ctx, `INSERT INTO tokens (id_hash, name, label, created, last_used)
		SELECT ?, name, ?, ?, ? FROM users WHERE name = ? AND NOT disabled`, digest(secret), label, now, now, u.Name)
	if err != nil {
		return fail(err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fail(err)
	} else if n == 0 {
		if _, err := s.Get(ctx, u.Name); errors.Is(err, ErrNotFound) {
			return fail(ErrNotFound)
		}
		return fail(ErrDisabled)
	}
	return secret, nil
}

// TokenUser returns the user a token was issued to, as they are now. An unknown or
// revoked token is ErrNoSession; a disabled user's is refused.
func (s *Store) TokenUser(ctx context.Context, secret string) (User, error) {
	// The secret is not quoted in errors.
	fail := func(err error) (User, error) { return User{}, wrap(err, "token") }
	if !strings.HasPrefix(secret, TokenPrefix) {
		return fail(ErrNoSession)
	}
	now := s.now()
	h := digest(secret)
	u, err := s.scanUser(s.db.QueryRowContext(ctx, `SELECT `+userColumns+`
		FROM tokens t JOIN users u ON u.name = t.name WHERE t.id_hash = ?`, h))
	if errors.Is(err, sql.ErrNoRows) {
		return fail(ErrNoSession)
	}
	if err != nil {
		return fail(err)
	}
	if u.Disabled {
		return fail(ErrDisabled)
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE tokens SET last_used = ? WHERE id_hash = ?`, fmtTime(now), h); err != nil {
		return fail(err)
	}
	return u, nil
}

// RevokeToken ends a token. Revoking an unknown or already revoked token is not an
// error.
func (s *Store) RevokeToken(ctx context.Context, secret string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM tokens WHERE id_hash = ?`, digest(secret)); err != nil {
		return fmt.Errorf("staff: revoke token: %w", err)
	}
	return nil
}

func randomString(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func digest(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}
