package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apedge/apedge/cmd/apedge/internal/clitest"
	"github.com/apedge/apedge/devices/serialport"
	"github.com/apedge/apedge/internal/clock/clocktest"
	"github.com/apedge/apedge/internal/wait"
)

var patPtsLine = regexp.MustCompile(`(?m)^simulated PAT tester \S+ answering on (/dev/pts/\d+)$`)

// TestSimPAT runs apedge sim pat -pty in-process, opens its pseudo-terminal as the
// bridge would, and checks the lines each command sends: the ID record at power-on, a
// passing test, a pass whose earth fails, and nothing while switched off.
func TestSimPAT(t *testing.T) {
	clk := clocktest.New(simTime)
	in, stdin := io.Pipe()
	var stdout, stderr clitest.LockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- sys{stdin: in, clock: clk}.cmdSim(ctx, []string{"pat", "-pty", "-serial", "KT-77-0042"}, &stdout, &stderr)
	}()
	t.Cleanup(func() {
		cancel()
		stdin.Close()
		select {
		case err := <-done:
			if err != nil || stderr.String() != "" {
				t.Errorf("apedge sim pat: %v, stderr %q", err, stderr.String())
			}
		case <-time.After(10 * time.Second):
			t.Errorf("apedge sim pat did not return when its context ended")
		}
	})
	var pts string
	wait.For(t, 10*time.Second, "the pseudo-terminal's name", func() (bool, string) {
		if m := patPtsLine.FindStringSubmatch(stdout.String()); m != nil {
			pts = m[1]
		}
		return pts != "", stdout.String()
	})
	if want := "bridge configuration: patTesters: - {id: pat-1, port: " + pts + "}\n"; !strings.Contains(stdout.String(), want) {
		t.Errorf("output %q lacks %q", stdout.String(), want)
	}
	port, err := serialport.Open(pts, 9600)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var lines []string
	reading := make(chan struct{})
	go func() {
		defer close(reading)
		sc := bufio.NewScanner(port)
		for sc.Scan() {
			mu.Lock()
			lines = append(lines, strings.TrimRight(sc.Text(), "\r"))
			mu.Unlock()
		}
	}()
	t.Cleanup(func() { port.Close(); <-reading })
	line := func(n int, want ...string) {
		t.Helper()
		wait.For(t, 10*time.Second, fmt.Sprintf("line %d", n), func() (bool, string) {
			mu.Lock()
			defer mu.Unlock()
			return len(lines) >= n, fmt.Sprint(lines)
		})
		mu.Lock()
		got := lines[n-1]
		mu.Unlock()
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("line %d %q lacks %q", n, got, w)
			}
		}
	}
	do := func(cmd, want string) {
		t.Helper()
		before := len(clitest.Lines(stdout.String()))
		if _, err := io.WriteString(stdin, cmd+"\n"); err != nil {
			t.Fatal(err)
		}
		wait.For(t, 10*time.Second, "the answer to "+cmd, func() (bool, string) {
			return len(clitest.Lines(stdout.String())) > before, stdout.String()
		})
		if got := clitest.Lines(stdout.String())[before]; got != want {
			t.Errorf("%s answered %q, want %q", cmd, got, want)
		}
	}
	line(1, "$APID,", "serial=KT-77-0042")
	do("test AP-0001", "test 1: AP-0001 passes (Class I, sound figures): PT record sent")
	line(2, "$APPT,", "asset=AP-0001", "class=I", "result=pass", "earth=0.08")
	do("fail earth AP-0002 pass", "test 2: AP-0002 with a failing earth, the tester saying pass: PT record sent")
	line(3, "$APPT,", "asset=AP-0002", "earth=1.5", "result=pass")
	do("power off", "switched off")
	do("test AP-0003", "test: pattester: simulator: switched off")
	do("bogus", "bogus: unknown command (test, fail, calibration, garbage, power, status)")
}
