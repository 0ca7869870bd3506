package agent

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/sitebus"
)

// RefusedType is the alarm journaled when device messages are refused: not from a
// configured device of their class, or dated outside what the agent accepts.
const RefusedType = "device.refused"

// Why a device message is refused.
const (
	// causeUnknownDevice: no configured device of the topic's class has the id.
	causeUnknownDevice = "unknown-device"
	// causeWrongClass: the id is a configured device of another class.
	causeWrongClass = "wrong-class"
	// causeUnknownReader: a door opening names a reader that is not on that door.
	causeUnknownReader = "unknown-reader"
	// causeAhead: dated more than maxAhead after the agent's clock.
	causeAhead = "dated-ahead"
	// causeTooOld: dated more than devices.maxLate before the agent's clock.
	causeTooOld = "too-old"
)

// refusalAlarmEvery is how often one cause at one device may raise an alarm (and a
// warning in the log); the refusals between are counted in the next alarm.
const refusalAlarmEvery = time.Minute

// refusalKeys bounds the devices (by cause) the agent remembers alarming for: ids are
// the sender's choice, so past this many, refusals of the same cause at devices not
// yet remembered share one alarm a minute.
const refusalKeys = 1024

// refusedError is a device message refused by policy (not malformed): alarmed and
// acknowledged, never journaled as what it claims.
type refusedError struct{ cause, detail string }

func (e *refusedError) Error() string { return "agent: refused: " + e.cause + ": " + e.detail }

// refusals limits device.refused alarms to one per cause per device per minute, with
// bounded memory.
type refusals struct {
	mu   sync.Mutex
	keys map[string]*refusalKey
}

type refusalKey struct {
	alarmed    time.Time // when the last alarm for this key was raised
	suppressed uint64    // refusals since then that raised none
}

// allow says whether a refusal of key at now raises an alarm, and how many refusals of
// key raised none since the last alarm.
func (r *refusals) allow(key, cause string, now time.Time) (bool, uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.keys == nil {
		r.keys = map[string]*refusalKey{}
	}
	k := r.keys[key]
	if k == nil && len(r.keys) >= refusalKeys {
		for name, old := range r.keys {
			if now.Sub(old.alarmed) >= refusalAlarmEvery {
				delete(r.keys, name)
			}
		}
		if len(r.keys) >= refusalKeys {
			key = "overflow/" + cause // one more key per cause at most
			k = r.keys[key]
		}
	}
	if k == nil {
		r.keys[key] = &refusalKey{alarmed: now}
		return true, 0
	}
	if now.Sub(k.alarmed) < refusalAlarmEvery && !now.Before(k.alarmed) {
		k.suppressed++
		return false, 0
	}
	n := k.suppressed
	k.alarmed, k.suppressed = now, 0
	return true, n
}

// checkDevice refuses a message on a device topic whose id is not a configured
// device of that class: a door, a reader, a camera, a substance tester or a
// fingerprint terminal of the bridge's configuration.
// It returns nil for a configured device.
func (a *Agent) checkDevice(tp sitebus.Topic) *refusedError {
	d := &a.cfg.Devices
	_, isReader := d.Readers[tp.ID]
	_, isCamera := d.Cameras[tp.ID]
	_, isTester := d.SubstanceTesters[tp.ID]
	_, isTerminal := d.Biometrics[tp.ID]
	_, isPATTester := d.PATTesters[tp.ID]
	is := [...]struct {
		class string
		ok    bool
	}{{sitebus.ClassDoor, d.Doors[tp.ID]}, {sitebus.ClassReader, isReader}, {sitebus.ClassCamera, isCamera},
		{sitebus.ClassSubstanceTester, isTester}, {sitebus.ClassBiometric, isTerminal}, {sitebus.ClassPATTester, isPATTester},
		{sitebus.ClassBWCDock, a.cfg.Dock(tp.ID) != nil}}
	for _, c := range is {
		if c.class == tp.Class && c.ok {
			return nil
		}
	}
	for _, c := range is {
		if c.ok {
			return &refusedError{causeWrongClass, tp.ID + " is a " + c.class + ", not a " + tp.Class}
		}
	}
	return &refusedError{causeUnknownDevice, "no configured " + tp.Class + " is " + tp.ID}
}

// checkTime refuses an event dated more than maxAhead ahead of the agent's clock now,
// or more than devices.maxLate behind it.
func (a *Agent) checkTime(at, now time.Time) *refusedError {
	switch {
	case at.After(now.Add(maxAhead)):
		return &refusedError{causeAhead, fmt.Sprintf("dated %s ahead of the agent's clock (at most %s)", at.Sub(now).Round(time.Second), maxAhead)}
	case now.Sub(at) > a.cfg.Devices.MaxLate:
		return &refusedError{causeTooOld, fmt.Sprintf("dated %s before the agent's clock (at most %s)", now.Sub(at).Round(time.Second), a.cfg.Devices.MaxLate)}
	}
	return nil
}

// readerPlace returns the configured door and direction of reader id, or a refusal
// when it is on no door (or, if door is set, on another door).
func (a *Agent) readerPlace(id, door string) (string, string, error) {
	p, ok := a.cfg.Devices.Readers[id]
	switch {
	case !ok:
		return "", "", &refusedError{causeUnknownReader, "no configured reader is " + id}
	case p.Door == "":
		return "", "", &refusedError{causeUnknownReader, "reader " + id + " is on no door"}
	case door != "" && p.Door != door:
		return "", "", &refusedError{causeUnknownReader, "reader " + id + " is on door " + p.Door + ", not " + door}
	}
	return p.Door, p.Direction, nil
}

// refuse counts a refused device message and returns the device.refused alarm to
// journal, or nil when this cause at this device has already alarmed within the
// minute.
func (a *Agent) refuse(tp sitebus.Topic, m *sitebus.Message, r *refusedError) *event.Draft {
	a.refused.Add(1)
	if r.cause == causeAhead || r.cause == causeTooOld {
		a.refusedTime.Add(1)
	}
	now := a.clock.Now()
	ok, suppressed := a.refusals.allow(r.cause+"/"+tp.Class+"/"+tp.ID, r.cause, now)
	if !ok {
		a.log.Debug("device message refused", "cause", r.cause, "class", tp.Class, "id", tp.ID, "detail", r.detail)
		return nil
	}
	a.log.Warn("device message refused", "cause", r.cause, "class", tp.Class, "id", tp.ID, "kind", m.Kind,
		"detail", r.detail, "time", m.Time, "refusedSinceLastAlarm", suppressed)
	info, err := json.Marshal(map[string]any{
		"cause": r.cause, "detail": r.detail,
		"device":                map[string]any{"class": tp.Class, "id": tp.ID, "kind": m.Kind, "boot": m.Boot, "seq": m.Seq, "time": m.Time},
		"receivedAt":            now.UTC(),
		"refusedSinceLastAlarm": suppressed,
	})
	if err != nil {
		a.log.Error("device.refused", "err", err)
		return nil
	}
	a.refusalAlarms.Add(1)
	return &event.Draft{Type: RefusedType, OccurredAt: now, Description: "device message refused: " + r.cause, Info: info,
		Origin: fmt.Sprintf("refused:%s/%s/%s/%d", tp.Class, tp.ID, m.Boot, m.Seq)}
}

// markLate adds to d's additional information, when the device dated the message it
// came from more than devices.lateAfter before the agent received it, both times.
func (a *Agent) markLate(d *event.Draft, deviceTime, now time.Time) error {
	late := now.Sub(deviceTime)
	if late <= a.cfg.Devices.LateAfter {
		return nil
	}
	info := map[string]json.RawMessage{}
	if len(d.Info) > 0 {
		if err := json.Unmarshal(d.Info, &info); err != nil {
			return fmt.Errorf("agent: mark late: %w", err)
		}
	}
	b, err := json.Marshal(map[string]any{"deviceTime": deviceTime, "receivedAt": now.UTC(), "lateMs": late.Milliseconds()})
	if err != nil {
		return fmt.Errorf("agent: mark late: %w", err)
	}
	info["late"] = b
	if d.Info, err = json.Marshal(info); err != nil {
		return fmt.Errorf("agent: mark late: %w", err)
	}
	a.late.Add(1)
	return nil
}
