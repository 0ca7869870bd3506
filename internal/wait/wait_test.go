package wait_test

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apedge/apedge/internal/wait"
)

func TestFor(t *testing.T) {
	var n atomic.Int32
	wait.For(t, 10*time.Second, "three polls", func() (bool, string) {
		return n.Add(1) >= 3, fmt.Sprint(n.Load())
	})
}

// fatalTB records the first Fatalf and ends the goroutine, as testing.T does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestForTimesOut(t *testing.T) {
	for _, tc := range []struct{ seen, want string }{
		{"", "timed out after 20ms waiting for never"},
		{"nothing yet", "timed out after 20ms waiting for never (last seen: nothing yet)"},
	} {
		ft := &fatalTB{TB: t}
		done := make(chan struct{})
		start := time.Now()
		go func() {
			defer close(done)
			wait.For(ft, 20*time.Millisecond, "never", func() (bool, string) { return false, tc.seen })
		}()
		<-done
		if elapsed := time.Since(start); elapsed < 20*time.Millisecond {
			t.Errorf("For gave up after %v, before its timeout", elapsed)
		}
		if ft.msg != tc.want {
			t.Errorf("For failed with %q, want %q", ft.msg, tc.want)
		}
	}
}
