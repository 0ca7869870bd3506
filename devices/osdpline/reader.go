package osdpline

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/apedge/apedge/devices/device"
	"github.com/apedge/apedge/devices/osdp"
	"github.com/apedge/apedge/devices/reader"
	"github.com/apedge/apedge/internal/config"
)

// readerRef returns the Ref of reader id.
func readerRef(id string) device.Ref { return device.Ref{Class: reader.Class, ID: id} }

// readerDevice is one OSDP reader on a line.
type readerDevice struct {
	ref   device.Ref
	place config.ReaderPlace
	addr  int
	line  *line
	log   *slog.Logger
	// decide decides its card reads off the line's polling loop (line.run runs it).
	decide *device.Decider

	mu      sync.Mutex
	state   reader.Status
	stopErr error // the line stopped
}

func newReader(rc config.OSDPReader, place config.ReaderPlace, secure string, l *line) *readerDevice {
	log := l.env.Log.With("reader", rc.ID)
	return &readerDevice{
		ref: readerRef(rc.ID), place: place, addr: rc.Address, line: l, log: log, decide: device.NewDecider(l.env.Access, log),
		state: reader.Status{Interface: "osdp", Door: place.Door, Direction: place.Direction, Address: rc.Address,
			SecureChannel: secure, Simulated: l.sim != nil},
	}
}

// Ref names the reader.
func (r *readerDevice) Ref() device.Ref { return r.ref }

// Command carries out reader.ActionIndicate: the grant or deny pattern on the
// reader's LED and buzzer.
func (r *readerDevice) Command(ctx context.Context, cmd device.Command) error {
	if cmd.Action != reader.ActionIndicate {
		return device.Unsupported(r.ref, cmd.Action)
	}
	var args struct {
		Pattern string `json:"pattern"`
	}
	if err := json.Unmarshal(cmd.Body, &args); err != nil {
		return fmt.Errorf("osdpline: reader %s: indicate: %w", r.ref.ID, err)
	}
	return r.indicate(ctx, args.Pattern == reader.PatternGrant)
}

// Health is down while the reader does not answer, degraded while it answers
// without the secure channel it should have, or with its tamper switch open or a
// power fault.
func (r *readerDevice) Health() device.Health {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.state
	switch {
	case r.stopErr != nil:
		return device.Health{Status: device.HealthDown, Detail: "line stopped: " + r.stopErr.Error()}
	case !st.Online:
		d := "not answering"
		if st.LastError != "" {
			d += ": " + st.LastError
		}
		return device.Health{Status: device.HealthDown, Detail: d}
	case st.SecureChannel == "off":
		return device.Health{Status: device.HealthDegraded, Detail: "secure channel off by configuration"}
	case !st.Secure:
		return device.Health{Status: device.HealthDegraded, Detail: "secure channel not up"}
	case st.Tamper:
		return device.Health{Status: device.HealthDegraded, Detail: "tamper switch open"}
	case st.PowerFault:
		return device.Health{Status: device.HealthDegraded, Detail: "power fault"}
	}
	return device.Health{Status: device.HealthOK}
}

func (r *readerDevice) stopped(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopErr = err
}

// update changes the reader's state with f and publishes it.
func (r *readerDevice) update(at time.Time, f func(*reader.Status)) {
	r.mu.Lock()
	f(&r.state)
	st := r.state
	r.mu.Unlock()
	r.line.env.Sink.State(r.ref, reader.StatusKind, st, at)
}

func (r *readerDevice) event(at time.Time, kind string, data any) {
	r.line.env.Sink.Event(r.ref, kind, data, at)
}

// onEvent handles one event of the panel for this reader.
func (r *readerDevice) onEvent(ctx context.Context, ev osdp.Event) {
	env, panel := r.line.env, r.line.panel
	at := ev.Time
	if at.IsZero() {
		at = env.Clock.Now()
	}
	errText := func() string {
		if ev.Err == nil {
			return ""
		}
		return ev.Err.Error()
	}
	switch ev.Kind {
	case osdp.EventCard:
		if ev.Card == nil {
			r.log.Warn("bad card read", "err", ev.Err)
			r.event(at, reader.BadRead, map[string]any{"reason": errText()})
			return
		}
		// Decided off the polling loop: a decision may wait for a finger.
		r.decide.Add(device.Read{Reader: r.ref, Door: r.place.Door, Direction: r.place.Direction, Card: *ev.Card, At: at}, func(d device.Decision) {
			go func() {
				ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
				defer cancel()
				if err := r.indicate(ictx, d.Granted); err != nil && ctx.Err() == nil {
					r.log.Warn("reader feedback", "err", err)
				}
			}()
		})
	case osdp.EventKeypad:
		// Keys may be a PIN: report that keys were pressed, never which.
		r.event(at, "keypad", map[string]any{"keys": len(ev.Keys)})
	case osdp.EventOnline:
		st := panel.Status(ev.Addr)
		r.update(at, func(s *reader.Status) {
			s.Online, s.LastError = true, ""
			s.Secure = st.Secure
			s.Vendor, s.Serial, s.Firmware = pdIdentity(st.ID)
		})
		r.event(at, "online", nil)
		r.log.Info("reader online", "secure", st.Secure)
	case osdp.EventOffline:
		missed := panel.Status(ev.Addr).Missed
		r.update(at, func(s *reader.Status) { s.Online, s.Secure, s.LastError = false, false, errText() })
		r.event(at, "offline", map[string]any{"reason": errText(), "missedReplies": missed})
		r.log.Warn("reader offline", "err", ev.Err)
	case osdp.EventTamper:
		r.update(at, func(s *reader.Status) { s.Tamper = ev.Tamper })
		r.event(at, "tamper", map[string]any{"tamper": ev.Tamper})
		if ev.Tamper {
			r.log.Warn("reader tamper")
		}
	case osdp.EventPower:
		r.update(at, func(s *reader.Status) { s.PowerFault = ev.Power })
		r.event(at, "power", map[string]any{"fault": ev.Power})
	case osdp.EventSecure:
		r.update(at, func(s *reader.Status) { s.Secure = true })
	case osdp.EventSecureFailed:
		r.update(at, func(s *reader.Status) { s.Secure, s.LastError = false, errText() })
		r.event(at, "secure-channel-failed", map[string]any{"reason": errText()})
		r.log.Error("reader secure channel failed", "err", ev.Err)
	default:
		r.log.Debug("osdp event", "kind", ev.Kind)
	}
}

// indicate shows grant (green, one short beep) or deny (red, three beeps).
func (r *readerDevice) indicate(ctx context.Context, grant bool) error {
	led, buz := grantLED, grantBuzzer
	if !grant {
		led, buz = denyLED, denyBuzzer
	}
	if _, err := r.line.panel.Send(ctx, r.addr, led); err != nil {
		return fmt.Errorf("osdpline: reader %s: led: %w", r.ref.ID, err)
	}
	if _, err := r.line.panel.Send(ctx, r.addr, buz); err != nil {
		return fmt.Errorf("osdpline: reader %s: buzzer: %w", r.ref.ID, err)
	}
	return nil
}

func pdIdentity(id osdp.PDID) (vendor, serial, firmware string) {
	return fmt.Sprintf("%06X", id.Vendor), fmt.Sprintf("%08X", id.Serial),
		fmt.Sprintf("%d.%d.%d", id.Firmware[0], id.Firmware[1], id.Firmware[2])
}

// The reader feedback patterns: grant is green for 2 s with one short beep; deny is
// red flashing for 2 s with three beeps. Times are in OSDP's units of 100 ms
// (SIA OSDP v2.2, osdp_LED and osdp_BUZ).
var (
	grantLED = osdp.LEDCommand{Temporary: osdp.LEDTemporary{Control: 2, OnTime: 20, OnColor: osdp.ColorGreen, Timer: 20}}
	denyLED  = osdp.LEDCommand{Temporary: osdp.LEDTemporary{Control: 2, OnTime: 3, OffTime: 2, OnColor: osdp.ColorRed,
		OffColor: osdp.ColorBlack, Timer: 20}}
	grantBuzzer = osdp.BuzzerCommand{Tone: 2, OnTime: 1, OffTime: 1, Count: 1}
	denyBuzzer  = osdp.BuzzerCommand{Tone: 2, OnTime: 2, OffTime: 1, Count: 3}
)
