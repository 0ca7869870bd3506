package pgtest

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

func TestClusterLifecycle(t *testing.T) {
	ctx := context.Background()
	c, err := Start(ctx)
	if errors.Is(err, ErrUnavailable) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()

	// Two databases, each its own namespace.
	names := map[string]string{}
	for range 2 {
		name, dsn, err := c.CreateDatabase(ctx)
		if err != nil {
			t.Fatal(err)
		}
		names[name] = dsn
	}
	if len(names) != 2 {
		t.Fatalf("database names %v", names)
	}
	for name, dsn := range names {
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `CREATE TABLE t (n INTEGER)`); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var got string
		if err := db.QueryRowContext(ctx, `SELECT current_database()`).Scan(&got); err != nil || got != name {
			t.Fatalf("current_database %q, %v; want %q", got, err, name)
		}
		db.Close()
		if err := c.DropDatabase(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	dir := c.Dir()
	if err := c.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("cluster directory left behind: %v", err)
	}
	if err := c.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	db, _ := sql.Open("pgx", c.DSN("postgres"))
	defer db.Close()
	if err := db.PingContext(ctx); err == nil {
		t.Fatal("server still answers after Stop")
	}
}

func TestSharedDatabase(t *testing.T) {
	var s Shared
	defer func() {
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
	}()
	for _, name := range []string{"a", "b"} {
		t.Run(name, func(t *testing.T) {
			db, err := sql.Open("pgx", s.Database(t))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			// Each test's database starts empty.
			if _, err := db.ExecContext(t.Context(), `CREATE TABLE only_here (n INTEGER)`); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestServerDiesWithTestProcess runs a cluster in a child test process, kills that
// process with SIGKILL (as a test timeout would, with no cleanup run), and checks that
// the server goes with it.
func TestServerDiesWithTestProcess(t *testing.T) {
	if os.Getenv("PGTEST_CHILD") == "1" {
		c, err := Start(context.Background())
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		fmt.Printf("PORT %d %s\n", c.Port(), c.Dir())
		select {} // until killed
	}
	if _, err := binDir(); err != nil {
		t.Skip(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestServerDiesWithTestProcess$")
	cmd.Env = append(os.Environ(), "PGTEST_CHILD=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var (
		port int
		dir  string
	)
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if _, err := fmt.Sscanf(sc.Text(), "PORT %d %s", &port, &dir); err == nil {
			// The killed process cannot remove its cluster's directory.
			t.Cleanup(func() { os.RemoveAll(dir) })
			break
		}
		t.Log(sc.Text())
	}
	if port == 0 {
		t.Fatal("child did not start a cluster")
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if c, err := net.Dial("tcp", addr); err != nil {
		t.Fatalf("cluster not listening: %v", err)
	} else {
		c.Close()
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			break
		}
		c.Close()
		select {
		case <-deadline.C:
			t.Fatal("postgres still listening 30s after its test process was killed")
		case <-tick.C:
		}
	}
}
