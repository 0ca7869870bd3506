package device_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/apedge/apedge/devices/device"
)

func TestCommandErrors(t *testing.T) {
	ref := device.Ref{Class: "door", ID: "front"}
	if ref.String() != "door/front" {
		t.Errorf("ref %s", ref)
	}
	u := device.Unsupported(ref, "indicate")
	if !errors.Is(u, device.ErrUnsupported) || errors.Is(u, device.ErrExpired) || u.Error() != "indicate is not a command for a door" {
		t.Errorf("Unsupported = %q", u)
	}
	e := fmt.Errorf("wrapped: %w", device.Expired("door busy until the deadline"))
	if !errors.Is(e, device.ErrExpired) || errors.Is(e, device.ErrUnsupported) || e.Error() != "wrapped: door busy until the deadline" {
		t.Errorf("Expired = %q", e)
	}
}

func TestSims(t *testing.T) {
	s := device.NewSims()
	ref := device.Ref{Class: "reader", ID: "r"}
	if s.Get(ref) != nil {
		t.Error("empty Sims has a simulator")
	}
	s.Add(ref, 7)
	if s.Get(ref) != 7 || s.Get(device.Ref{Class: "door", ID: "r"}) != nil {
		t.Error("Get does not return what Add kept, by class and id")
	}
	var n int
	a := device.AccessFunc(func(context.Context, device.Read) device.Decision { n++; return device.Decision{Granted: true} })
	if !a.Decide(t.Context(), device.Read{}).Granted || n != 1 {
		t.Error("AccessFunc")
	}
}
