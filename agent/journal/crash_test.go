//go:build unix

package journal

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// crashDBEnv names the database a crash child appends to; crashRoundEnv tells it its
// round, to make its origins unique.
const (
	crashDBEnv    = "APEDGE_JOURNAL_CRASH_DB"
	crashRoundEnv = "APEDGE_JOURNAL_CRASH_ROUND"
)

// TestCrashDurability runs a child copy of the test binary that appends from several
// goroutines and prints every seq Append returned, SIGKILLs it mid-stream, and checks
// that everything the child was told is durable survived, contiguous and chained.
// Three rounds share one database, so each recovery is itself recovered from.
func TestCrashDurability(t *testing.T) {
	if path := os.Getenv(crashDBEnv); path != "" {
		crashChild(t, path, os.Getenv(crashRoundEnv))
		return
	}
	if testing.Short() {
		t.Skip("starts child processes")
	}
	key := testKey(t)
	path := filepath.Join(t.TempDir(), "journal.db")
	var prevLast uint64
	for round := 1; round <= 3; round++ {
		printed := runAndKill(t, path, round, 200+100*round)
		j := openTest(t, key, path, Options{})
		last := j.Last()
		verifyChain(t, j, key, last)
		for _, seq := range printed {
			if seq <= prevLast || seq > last {
				t.Fatalf("round %d: child was told seq %d is durable; journal holds %d..%d from this round", round, seq, prevLast+1, last)
			}
		}
		t.Logf("round %d: child printed %d seqs, journal holds 1..%d after SIGKILL", round, len(printed), last)
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
		prevLast = last
	}
}

// runAndKill starts a crash child on path, reads the seqs it prints until it has
// printed at least killAfter, SIGKILLs it, and returns every complete line's seq.
func runAndKill(t *testing.T, path string, round, killAfter int) []uint64 {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashDurability$", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), crashDBEnv+"="+path, crashRoundEnv+"="+strconv.Itoa(round))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan uint64, 1024)
	readDone := make(chan error, 1)
	go func() {
		defer close(lines)
		// A line cut short by the kill has no newline, so bufio.Reader leaves it out.
		r := bufio.NewReader(out)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				if err == io.EOF {
					err = nil
				}
				readDone <- err
				return
			}
			if s, ok := strings.CutPrefix(line, "SEQ "); ok {
				n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
				if err != nil {
					readDone <- fmt.Errorf("child printed %q: %v", line, err)
					return
				}
				lines <- n
			}
		}
	}()
	var printed []uint64
	deadline := time.After(time.Minute)
	killed := false
read:
	for {
		select {
		case n, ok := <-lines:
			if !ok {
				break read
			}
			printed = append(printed, n)
			if !killed && len(printed) >= killAfter {
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				killed = true
			}
		case <-deadline:
			cmd.Process.Kill()
			t.Fatalf("round %d: child printed only %d seqs in a minute", round, len(printed))
		}
	}
	if err := <-readDone; err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("round %d: child exited (%v) after %d seqs before it was killed", round, err, len(printed))
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("round %d: child ended with %v, want SIGKILL", round, err)
	}
	return printed
}

// crashChild appends until killed, printing "SEQ n" for each seq Append returned.
func crashChild(t *testing.T, path, round string) {
	j, err := Open(context.Background(), Options{
		Path:     path,
		Key:      testKey(t),
		Logger:   slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		MaxBatch: 64,
	})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	stop := time.Now().Add(90 * time.Second) // in case the parent is gone
	for g := range 8 {
		wg.Go(func() {
			for i := 0; time.Now().Before(stop); i++ {
				d := typicalDraft(0)
				d.Origin = fmt.Sprintf("crash:%s:%d:%d", round, g, i)
				rec, err := j.Append(context.Background(), d)
				if err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				line := []byte("SEQ " + strconv.FormatUint(rec.Seq, 10) + "\n")
				mu.Lock()
				_, err = os.Stdout.Write(line)
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	j.Close()
	t.Error("crash child ran out of time without being killed")
}
