package osdp

import (
	"errors"
	"testing"
	"time"
)

// fastRetry makes a panel back off from 20 ms to 80 ms, so that tests see several
// retries in well under a second.
func fastRetry(c *PanelConfig) { c.RetryMin, c.RetryMax = 20*time.Millisecond, 80*time.Millisecond }

// A reader that refuses a step of its initialisation is reported offline once, with
// the step and the NAK code (or the secure channel failure); it is retried with a
// doubling backoff, and failing the same way again is not a new event.
func TestInitRefused(t *testing.T) {
	tests := []struct {
		name     string
		reader   ReaderConfig
		faults   Faults
		panelKey []byte
		step     string
		nak      byte // 0: not a NAK
		secure   bool // the failure is a secure channel failure
	}{
		{"ID NAKed", ReaderConfig{Address: 1}, Faults{NakCommands: map[byte]byte{CmdID: NakUnknownCmd}}, nil, StepID, NakUnknownCmd, false},
		{"CAP NAKed", ReaderConfig{Address: 1}, Faults{NakCommands: map[byte]byte{CmdCAP: NakRecord}}, nil, StepCap, NakRecord, false},
		{"LSTAT NAKed", ReaderConfig{Address: 1}, Faults{NakCommands: map[byte]byte{CmdLSTAT: NakUnknownCmd}}, nil, StepLStat, NakUnknownCmd, false},
		{"LSTAT NAKed on a secure reader", ReaderConfig{Address: 1, SCBK: testKey(1)}, Faults{NakCommands: map[byte]byte{CmdLSTAT: NakUnknownCmd}}, testKey(1), StepLStat, NakUnknownCmd, false},
		{"wrong key", ReaderConfig{Address: 1, SCBK: testKey(1)}, Faults{}, testKey(2), StepSecure, 0, true},
		{"no secure channel", ReaderConfig{Address: 1}, Faults{}, testKey(2), StepSecure, NakSCBUnsup, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(tc.reader)
			r.SetFaults(tc.faults)
			b := newBus(t, 0, []PDConfig{{Address: 1, SCBK: tc.panelKey}}, []*Reader{r}, nil, fastRetry)
			waitFor(t, "offline report", func() bool { return b.log.count(1, EventOffline) > 0 })
			var got Event
			b.log.find(1, EventOffline, func(e Event) bool { got = e; return true })
			ie, ok := errors.AsType[*InitError](got.Err)
			if !ok || ie.Step != tc.step || ie.Addr != 1 {
				t.Fatalf("offline event error %v, want an InitError at step %s", got.Err, tc.step)
			}
			nak, isNak := errors.AsType[*NakError](got.Err)
			if (tc.nak != 0) != isNak || (isNak && nak.Reason != tc.nak) {
				t.Errorf("offline event error %v, want NAK %#02x", got.Err, tc.nak)
			}
			// Several more probes, each failing the same way: no more events, and
			// the wait between probes doubles up to RetryMax.
			polls := b.panel.Status(1).Polls
			waitFor(t, "retries", func() bool { return b.panel.Status(1).Polls >= polls+4 })
			waitFor(t, "backoff at its maximum", func() bool { return b.panel.Status(1).RetryIn == 80*time.Millisecond })
			st := b.panel.Status(1)
			if st.Online || st.Fault == "" {
				t.Errorf("status %+v, want offline with a fault", st)
			}
			wantSecure := 0
			if tc.secure {
				wantSecure = 1
			}
			if n, s, on := b.log.count(1, EventOffline), b.log.count(1, EventSecureFailed), b.log.count(1, EventOnline); n != 1 || s != wantSecure || on != 0 {
				t.Errorf("%d offline, %d secure-failed, %d online events; want 1, %d, 0", n, s, on, wantSecure)
			}
		})
	}
}

// Each change of state is one event: refusing LSTAT (offline), then answering it
// (online), then refusing it again after a reboot (offline), then not answering at
// all (offline again, for a new cause), then answering (online).
func TestInitRefusedStateChanges(t *testing.T) {
	r := NewReader(ReaderConfig{Address: 4})
	nakLSTAT := Faults{NakCommands: map[byte]byte{CmdLSTAT: NakUnknownCmd}}
	r.SetFaults(nakLSTAT)
	b := newBus(t, 0, []PDConfig{{Address: 4}}, []*Reader{r}, nil, fastRetry)
	counts := func(off, on int) func() bool {
		return func() bool { return b.log.count(4, EventOffline) == off && b.log.count(4, EventOnline) == on }
	}
	waitFor(t, "refused LSTAT", counts(1, 0))
	r.SetFaults(Faults{})
	waitFor(t, "online", counts(1, 1))
	r.SetFaults(nakLSTAT)
	r.Reboot()
	waitFor(t, "refused LSTAT again", counts(2, 1))
	polls := b.panel.Status(4).Polls
	waitFor(t, "retries", func() bool { return b.panel.Status(4).Polls >= polls+3 })
	r.PowerOff(true)
	waitFor(t, "no reply", func() bool {
		return b.log.find(4, EventOffline, func(e Event) bool { return errors.Is(e.Err, ErrTimeout) })
	})
	if st := b.panel.Status(4); st.RetryIn != 4*DefaultReplyTimeout {
		t.Errorf("retry in %v for a silent reader, want %v", st.RetryIn, 4*DefaultReplyTimeout)
	}
	r.SetFaults(Faults{})
	r.PowerOff(false)
	waitFor(t, "online again", counts(3, 2))
	if n := b.log.count(4, EventSecureFailed); n != 0 {
		t.Errorf("%d secure-failed events on a plain reader", n)
	}
}

// With the default backoff a reader with the wrong key is probed again after
// DefaultRetryMin, not every 4 reply timeouts.
func TestWrongKeyDefaultBackoff(t *testing.T) {
	r := NewReader(ReaderConfig{Address: 3, SCBK: testKey(1)})
	b := newBus(t, 0, []PDConfig{{Address: 3, SCBK: testKey(2)}}, []*Reader{r}, nil)
	waitFor(t, "secure failure", func() bool { return b.log.count(3, EventSecureFailed) > 0 })
	if st := b.panel.Status(3); st.RetryIn != DefaultRetryMin {
		t.Errorf("retry in %v, want %v", st.RetryIn, DefaultRetryMin)
	}
}
