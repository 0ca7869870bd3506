package bridge

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/apedge/apedge/devices/osdp"
	"github.com/apedge/apedge/devices/wiegand"
	"github.com/apedge/apedge/firmware-bridge/door"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/internal/config"
)

// reader is one reader, OSDP or Wiegand, and where it is.
type reader struct {
	id    string
	place config.ReaderPlace
	door  *doorRun // nil if on no door
	// panel and addr reach an OSDP reader; nil for Wiegand.
	panel *osdp.Panel
	addr  int
	// secure says how its secure channel is configured: "on", "install" or "off".
	secure string

	mu    sync.Mutex
	state sitebus.ReaderStatus
}

// readers is every reader of the bridge by id.
type readers struct {
	b  *Bridge
	by map[string]*reader
}

// cardRead handles a card presented at r: it decides by the credential list, tells the
// door, reports the read and shows the reader's grant or deny pattern.
func (rs *readers) cardRead(ctx context.Context, r *reader, at time.Time, c wiegand.Card) {
	cred := c.Credential()
	cr := sitebus.CardRead{Door: r.place.Door, Direction: r.place.Direction, Credential: cred}
	if r.door != nil {
		cr.Granted, cr.Reason, cr.ListVersion = rs.b.access.decide(cred.ID(), r.place.Door)
		cr.DoorContact = r.door.m.Config().HasContact
		if cr.Granted {
			r.door.send(ctx, at, door.Grant{Reader: r.id, Direction: r.place.Direction, Credential: cred.ID()})
		}
	} else {
		cr.Reason = "reader-on-no-door"
	}
	rs.b.out.put(outMsg{at: at, class: sitebus.ClassReader, id: r.id, kind: sitebus.KindEvent, msgKind: "card-read", data: cr})
	rs.b.log.Debug("card read", "reader", r.id, "granted", cr.Granted, "reason", cr.Reason)
	if r.panel != nil {
		go func() {
			ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			if err := indicate(ictx, r.panel, r.addr, cr.Granted); err != nil && ctx.Err() == nil {
				rs.b.log.Warn("reader feedback", "reader", r.id, "err", err)
			}
		}()
	}
}

// indicate shows grant (green, one short beep) or deny (red, three beeps) on a reader.
func indicate(ctx context.Context, p *osdp.Panel, addr int, grant bool) error {
	led, buz := grantLED, grantBuzzer
	if !grant {
		led, buz = denyLED, denyBuzzer
	}
	if _, err := p.Send(ctx, addr, led); err != nil {
		return fmt.Errorf("led: %w", err)
	}
	if _, err := p.Send(ctx, addr, buz); err != nil {
		return fmt.Errorf("buzzer: %w", err)
	}
	return nil
}

// update changes r's state with f and publishes it.
func (rs *readers) update(r *reader, at time.Time, f func(*sitebus.ReaderStatus)) {
	r.mu.Lock()
	f(&r.state)
	st := r.state
	r.mu.Unlock()
	rs.b.out.put(outMsg{at: at, class: sitebus.ClassReader, id: r.id, kind: sitebus.KindState, msgKind: "status", data: st})
}

func (rs *readers) event(r *reader, at time.Time, kind string, data any) {
	rs.b.out.put(outMsg{at: at, class: sitebus.ClassReader, id: r.id, kind: sitebus.KindEvent, msgKind: kind, data: data})
}

// onOSDP handles one event of an OSDP panel.
func (rs *readers) onOSDP(ctx context.Context, byAddr map[int]*reader, ev osdp.Event) {
	r := byAddr[ev.Addr]
	if r == nil {
		rs.b.log.Warn("osdp event from an unconfigured address", "addr", ev.Addr, "kind", ev.Kind)
		return
	}
	at := ev.Time
	if at.IsZero() {
		at = rs.b.clock.Now()
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
			rs.b.log.Warn("bad card read", "reader", r.id, "err", ev.Err)
			rs.event(r, at, "bad-read", map[string]any{"reason": errText()})
			return
		}
		rs.cardRead(ctx, r, at, *ev.Card)
	case osdp.EventKeypad:
		// Keys may be a PIN: report that keys were pressed, never which.
		rs.event(r, at, "keypad", map[string]any{"keys": len(ev.Keys)})
	case osdp.EventOnline:
		st := r.panel.Status(ev.Addr)
		rs.update(r, at, func(s *sitebus.ReaderStatus) {
			s.Online, s.LastError = true, ""
			s.Secure = st.Secure
			s.Vendor, s.Serial, s.Firmware = pdIdentity(st.ID)
		})
		rs.event(r, at, "online", nil)
		rs.b.log.Info("reader online", "reader", r.id, "secure", st.Secure)
	case osdp.EventOffline:
		missed := r.panel.Status(ev.Addr).Missed
		rs.update(r, at, func(s *sitebus.ReaderStatus) { s.Online, s.Secure, s.LastError = false, false, errText() })
		rs.event(r, at, "offline", map[string]any{"reason": errText(), "missedReplies": missed})
		rs.b.log.Warn("reader offline", "reader", r.id, "err", ev.Err)
	case osdp.EventTamper:
		rs.update(r, at, func(s *sitebus.ReaderStatus) { s.Tamper = ev.Tamper })
		rs.event(r, at, "tamper", map[string]any{"tamper": ev.Tamper})
		if ev.Tamper {
			rs.b.log.Warn("reader tamper", "reader", r.id)
		}
	case osdp.EventPower:
		rs.update(r, at, func(s *sitebus.ReaderStatus) { s.PowerFault = ev.Power })
		rs.event(r, at, "power", map[string]any{"fault": ev.Power})
	case osdp.EventSecure:
		rs.update(r, at, func(s *sitebus.ReaderStatus) { s.Secure = true })
	case osdp.EventSecureFailed:
		rs.update(r, at, func(s *sitebus.ReaderStatus) { s.Secure, s.LastError = false, errText() })
		rs.event(r, at, "secure-channel-failed", map[string]any{"reason": errText()})
		rs.b.log.Error("reader secure channel failed", "reader", r.id, "err", ev.Err)
	default:
		rs.b.log.Debug("osdp event", "reader", r.id, "kind", ev.Kind)
	}
}

func pdIdentity(id osdp.PDID) (vendor, serial, firmware string) {
	return fmt.Sprintf("%06X", id.Vendor), fmt.Sprintf("%08X", id.Serial),
		fmt.Sprintf("%d.%d.%d", id.Firmware[0], id.Firmware[1], id.Firmware[2])
}

// logInsecure says loudly, at start, which readers run without secure channel.
func logInsecure(log *slog.Logger, cfg *config.Bridge) {
	for _, id := range cfg.Insecure() {
		log.Error("SECURE CHANNEL OFF: card numbers cross the wire in clear and the reader can be impersonated; give it scbkFile", "reader", id)
	}
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
