// Package pgtest starts throwaway PostgreSQL clusters for apedge's tests: initdb in a
// new temporary directory, the postgres server on a free loopback port with its unix
// socket in that directory, a fresh database per test, and everything stopped and
// removed at the end.
//
// PostgreSQL refuses to run as root. Tests run as root here, so as root the cluster is
// made and run as the `postgres` system user (Debian's postgresql package creates it)
// and its directory is handed to that user; as anyone else it runs as the caller. The
// server is a child of the test process that dies with it (a parent-death signal), so a
// test binary killed by a timeout leaves no server behind.
//
// The binaries are looked for in /usr/lib/postgresql/*/bin (Debian's layout; the
// newest version wins) and then on $PATH. Only when they are absent does a test skip
// (ErrUnavailable); `make test` installs them (scripts/test-deps.sh).
package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// ErrUnavailable is returned by Start when PostgreSQL's server binaries are not
// installed.
var ErrUnavailable = errors.New("pgtest: PostgreSQL server binaries (initdb, postgres) not found in /usr/lib/postgresql/*/bin or on $PATH: run `make test`, which installs Debian's postgresql package (scripts/test-deps.sh)")

// StartTimeout bounds how long Start waits for a new cluster to accept connections.
const StartTimeout = 90 * time.Second

// User is the cluster's superuser; it connects without a password over loopback.
const User = "postgres"

// Cluster is a running throwaway PostgreSQL server.
type Cluster struct {
	dir  string // owned by the server's user; removed by Stop
	port int
	bin  string
	cred *syscall.Credential // nil: run as the caller
	cmd  *exec.Cmd
	done chan error // the server's exit
	log  string

	admin *sql.DB // the "postgres" database, for creating and dropping databases

	mu      sync.Mutex
	n       int
	stopped bool
}

// binDir finds the directory holding initdb and postgres.
func binDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	// Newest major version first: 9.6 < 10 < 15 numerically, not as strings.
	version := func(d string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(d)), 64)
		return v
	}
	slices.SortFunc(dirs, func(a, b string) int {
		switch va, vb := version(a), version(b); {
		case va > vb:
			return -1
		case va < vb:
			return 1
		}
		return 0
	})
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if d := filepath.Dir(p); isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", ErrUnavailable
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// serverUser returns the credential to run the server with: the postgres system user
// when the caller is root, nil otherwise.
func serverUser() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgtest: running as root, and PostgreSQL will not run as root; the postgres system user it would run as is missing (%v): install Debian's postgresql package, which creates it", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("pgtest: postgres user has uid %q gid %q", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

// Start makes a new cluster in a temporary directory, starts it on a free loopback
// port and waits, up to StartTimeout or ctx's end, until it accepts connections. It
// returns ErrUnavailable if the binaries are not installed. Stop it with Stop.
func Start(ctx context.Context) (*Cluster, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	cred, err := serverUser()
	if err != nil {
		return nil, err
	}
	// Not t.TempDir(): its parents are private to the caller (root), and the server's
	// user must reach its directory.
	dir, err := os.MkdirTemp("", "apedge-pgtest-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	c := &Cluster{dir: dir, bin: bin, cred: cred, log: filepath.Join(dir, "postgres.log")}
	ok := false
	defer func() {
		if !ok {
			c.Stop()
		}
	}()
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, fmt.Errorf("pgtest: hand %s to the postgres user: %w", dir, err)
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", User,
		"--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync")
	initdb.Dir = dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("pgtest: initdb in %s: %w\n%s", dir, err, tail(string(out), 20))
	}
	if c.port, err = freePort(); err != nil {
		return nil, err
	}
	if err := c.startServer(data); err != nil {
		return nil, err
	}
	if err := c.waitReady(ctx); err != nil {
		return nil, err
	}
	ok = true
	return c, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startServer starts postgres as a child that gets SIGQUIT (immediate shutdown) if
// this process dies. The parent-death signal belongs to the thread that forked the
// child, so that thread is locked to a goroutine that lives as long as the server.
func (c *Cluster) startServer(data string) error {
	logf, err := os.OpenFile(c.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	c.cmd = exec.Command(filepath.Join(c.bin, "postgres"), "-D", data,
		"-p", strconv.Itoa(c.port), "-k", c.dir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "max_connections=200",
		"-c", "logging_collector=off")
	c.cmd.Dir = c.dir
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred, Pdeathsig: syscall.SIGQUIT, Setpgid: true}
	started := make(chan error, 1)
	c.done = make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		err := c.cmd.Start()
		logf.Close()
		started <- err
		if err != nil {
			return
		}
		c.done <- c.cmd.Wait()
	}()
	if err := <-started; err != nil {
		c.cmd = nil
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	return nil
}

// waitReady polls a connection until the server answers, the server exits, or the
// deadline passes.
func (c *Cluster) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, StartTimeout)
	defer cancel()
	db, err := sql.Open("pgx", c.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	c.admin = db
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		err := db.PingContext(pctx)
		pcancel()
		if err == nil {
			return nil
		}
		select {
		case exit := <-c.done:
			c.done <- exit // for Stop
			return fmt.Errorf("pgtest: postgres exited before accepting connections (%v):\n%s", exit, c.logTail(30))
		case <-ctx.Done():
			return fmt.Errorf("pgtest: postgres on port %d not accepting connections after %v (last: %v):\n%s", c.port, StartTimeout, err, c.logTail(30))
		case <-tick.C:
		}
	}
}

// Port is the server's TCP port on 127.0.0.1.
func (c *Cluster) Port() int { return c.port }

// Dir is the cluster's directory (data, log, unix socket).
func (c *Cluster) Dir() string { return c.dir }

// DSN returns the URL of database on this cluster, as User over loopback TCP without
// TLS (loopback needs none).
func (c *Cluster) DSN(database string) string {
	u := url.URL{Scheme: "postgres", User: url.User(User), Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)),
		Path: "/" + database, RawQuery: "sslmode=disable"}
	return u.String()
}

// CreateDatabase creates a new, empty database and returns its name and URL.
func (c *Cluster) CreateDatabase(ctx context.Context) (name, dsn string, err error) {
	c.mu.Lock()
	c.n++
	name = fmt.Sprintf("apedge_test_%d", c.n)
	c.mu.Unlock()
	if _, err := c.admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return "", "", fmt.Errorf("pgtest: create database %s: %w", name, err)
	}
	return name, c.DSN(name), nil
}

// DropDatabase drops a database made by CreateDatabase, closing its connections.
func (c *Cluster) DropDatabase(ctx context.Context, name string) error {
	if _, err := c.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("pgtest: drop database %s: %w", name, err)
	}
	return nil
}

// Log returns the last n lines of the server's log.
func (c *Cluster) logTail(n int) string {
	b, _ := os.ReadFile(c.log)
	return tail(string(b), n)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Stop shuts the server down (fast shutdown: connections are closed, nothing is
// waited for), waits for it to exit, and removes its directory. It may be called more
// than once.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return nil
	}
	c.stopped = true
	c.mu.Unlock()
	if c.admin != nil {
		c.admin.Close()
	}
	var err error
	if c.cmd != nil && c.cmd.Process != nil {
		c.cmd.Process.Signal(syscall.SIGINT) // fast shutdown
		select {
		case err = <-c.done:
		case <-time.After(30 * time.Second):
			c.cmd.Process.Signal(syscall.SIGQUIT) // immediate shutdown
			err = <-c.done
			err = fmt.Errorf("pgtest: postgres did not stop within 30s of SIGINT: %v", err)
		}
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.ExitCode() == 0 {
			err = nil
		}
	}
	if rerr := os.RemoveAll(c.dir); rerr != nil && err == nil {
		err = fmt.Errorf("pgtest: %w", rerr)
	}
	return err
}

// Shared is one cluster for a whole test binary, started on first use: declare one in
// the test package, use Database in tests, and call Stop from TestMain after m.Run.
type Shared struct {
	once sync.Once
	c    *Cluster
	err  error
}

// Cluster returns the shared cluster, starting it on first use. It skips t if
// PostgreSQL is not installed and fails t if it cannot start.
func (s *Shared) Cluster(t testing.TB) *Cluster {
	t.Helper()
	s.once.Do(func() { s.c, s.err = Start(context.Background()) })
	switch {
	case errors.Is(s.err, ErrUnavailable):
		t.Skip(s.err.Error())
	case s.err != nil:
		t.Fatal(s.err)
	}
	return s.c
}

// Database creates a fresh database on the shared cluster for t, dropped when t ends,
// and returns its URL. It skips t if PostgreSQL is not installed.
func (s *Shared) Database(t testing.TB) string {
	t.Helper()
	c := s.Cluster(t)
	name, dsn, err := c.CreateDatabase(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.DropDatabase(ctx, name); err != nil {
			t.Error(err)
		}
	})
	return dsn
}

// Stop stops the shared cluster if it was started.
func (s *Shared) Stop() error {
	if s.c == nil {
		return nil
	}
	return s.c.Stop()
}
