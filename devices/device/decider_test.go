package device_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"

	"github.com/apedge/apedge/devices/device"
	"github.com/apedge/apedge/devices/wiegand"
)

// TestDeciderDecidesInOrderOffTheReadLoop holds the first decision (as a finger
// awaited at the door would) and checks that Add does not wait for it, that the
// reads queued behind it are decided in the order read, each answered with its
// own decision, and that a read finding the queue full is dropped and counted.
func TestDeciderDecidesInOrderOffTheReadLoop(t *testing.T) {
	taking, release := make(chan struct{}), make(chan struct{})
	access := device.AccessFunc(func(ctx context.Context, r device.Read) device.Decision {
		if r.Card.Number == 1 {
			close(taking)
			<-release
		}
		return device.Decision{Granted: r.Card.Number%2 == 1}
	})
	d := device.NewDecider(access, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go d.Run(ctx)
	type answer struct {
		n       uint32
		granted bool
	}
	answers := make(chan answer, 2*device.DeciderQueue)
	add := func(n uint32) bool {
		return d.Add(device.Read{Card: wiegand.Card{Number: n}}, func(dec device.Decision) { answers <- answer{n, dec.Granted} })
	}
	if !add(1) {
		t.Fatal("the first read was refused")
	}
	<-taking // read 1 is being decided, and waits
	for n := uint32(2); n < 2+device.DeciderQueue; n++ {
		if !add(n) {
			t.Fatalf("read %d refused with %d reads queued; want %d queued behind a decision", n, n-2, device.DeciderQueue)
		}
	}
	if add(100) || d.Dropped.Load() != 1 {
		t.Errorf("a read beyond the queue: dropped %d; want it refused and counted", d.Dropped.Load())
	}
	close(release)
	var got []uint32
	for range 1 + device.DeciderQueue {
		a := <-answers
		if a.granted != (a.n%2 == 1) {
			t.Errorf("read %d answered granted %v: another read's decision", a.n, a.granted)
		}
		got = append(got, a.n)
	}
	if want := []uint32{1, 2, 3, 4, 5}; !slices.Equal(got, want) {
		t.Errorf("decided %v, want %v: in the order read", got, want)
	}
}
