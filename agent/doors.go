package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/apedge/apedge/agent/curfew"
	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/internal/config"
)

// credentialList is the access list the agent gives the bridge: the cards of everyone
// at the AP today (arrived and not departed) open every door; a departed person's
// cards open nothing. A resident's cards carry the slots of their enrolled fingers on
// each terminal, and whether the alternative is in force for them.
func (a *Agent) credentialList() *sitebus.CredentialList {
	now := a.clock.Now()
	a.mu.Lock()
	version := a.listVersion
	a.mu.Unlock()
	l := &sitebus.CredentialList{Version: version, Time: now.UTC(), Credentials: []sitebus.Allowed{}}
	a.rosterMu.RLock()
	ids := slices.Collect(maps.Keys(a.cards))
	a.rosterMu.RUnlock()
	for _, id := range ids {
		if r := a.holder(id, now); r != nil {
			al := sitebus.Allowed{ID: id}
			if r.IsResident() {
				al.Fingers, al.Alternative = a.bio.credential(r.CRN) // biometrics.go
			}
			l.Credentials = append(l.Credentials, al)
		}
	}
	slices.SortFunc(l.Credentials, func(x, y sitebus.Allowed) int { return strings.Compare(x.ID, y.ID) })
	return l
}

// holder returns who holds credential at instant t: nobody once they have departed
// (or before they arrived), so that nothing is attributed to them.
func (a *Agent) holder(credential string, t time.Time) *config.Resident {
	a.rosterMu.RLock()
	r := a.cards[credential]
	a.rosterMu.RUnlock()
	if r == nil || !r.PresentOn(t.In(curfew.London()).Format(time.DateOnly)) {
		return nil
	}
	return r
}

// publishCredentials sends the credential list, signed with the site key and retained,
// so that a bridge that starts later gets it too.
func (a *Agent) publishCredentials(c mqtt.Client) {
	b, err := a.signedCredentials()
	if err != nil {
		a.log.Error("credential list", "err", err)
		return
	}
	tok := c.Publish(sitebus.CredentialsTopic(a.cfg.Site), 1, true, b)
	go func() {
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			a.log.Error("credential list not published", "err", tok.Error())
		}
	}()
}

// ErrNoAnswer is returned by UnlockDoor when the bridge did not answer by the deadline.
var ErrNoAnswer = errors.New("agent: no answer from the bridge")

// UnlockDoor orders a momentary unlock of door on behalf of staff member by, for the
// door's own unlock time when d is 0, and waits for the bridge's answer until ctx ends
// or 10 seconds pass. The command is signed with the site key for that door: the bridge
// carries out no other. Whatever the outcome, the order and its result are journaled as
// door.unlock-ordered, signed and sent to central: a staff action is always audited.
func (a *Agent) UnlockDoor(ctx context.Context, door, by, reason string, d time.Duration) (sitebus.Result, error) {
	if !sitebus.ValidDeviceID(door) {
		return sitebus.Result{}, fmt.Errorf("agent: unlock: %q is not a door id", door)
	}
	if by == "" {
		return sitebus.Result{}, fmt.Errorf("agent: unlock %s: no staff member named", door)
	}
	ordered := a.clock.Now()
	cmd := sitebus.Command{Action: sitebus.ActionUnlock, By: by, ForMs: d.Milliseconds()}
	res, err := a.order(ctx, door, &cmd, ordered)
	if errors.Is(err, errSign) {
		return res, err
	}
	status := res.Status
	if err != nil {
		status = "no-answer"
	}
	info, _ := json.Marshal(map[string]any{"door": door, "by": by, "reason": reason, "forMs": d.Milliseconds(),
		"command": cmd.ID, "result": status, "error": res.Error, "orderedAt": ordered.UTC()})
	if _, jerr := a.append(context.WithoutCancel(ctx), &event.Draft{Type: "door.unlock-ordered", OccurredAt: ordered,
		Description: "staff ordered a momentary unlock", Info: info}); jerr != nil {
		return res, jerr
	}
	if err != nil {
		return res, fmt.Errorf("agent: unlock %s: %w", door, err)
	}
	if res.Status != sitebus.ResultDone {
		return res, fmt.Errorf("agent: unlock %s: %s: %s", door, res.Status, res.Error)
	}
	return res, nil
}

// errSign marks an order that could not be signed, and so was not sent.
var errSign = errors.New("agent: command not signed")

// order sends cmd (given its id and deadline here: 10 seconds from ordered) to door,
// signed with the site key for that door, and waits for the bridge's answer until ctx
// ends or the deadline passes (ErrNoAnswer).
func (a *Agent) order(ctx context.Context, door string, cmd *sitebus.Command, ordered time.Time) (sitebus.Result, error) {
	return a.orderTo(ctx, sitebus.ClassDoor, door, cmd, ordered)
}

// orderTo is order to device id of class (a door, a fingerprint terminal).
func (a *Agent) orderTo(ctx context.Context, class, id string, cmd *sitebus.Command, ordered time.Time) (sitebus.Result, error) {
	idb := make([]byte, 8)
	rand.Read(idb)
	cmd.ID, cmd.Deadline = hex.EncodeToString(idb), ordered.Add(10*time.Second).UTC()
	ch := make(chan sitebus.Result, 1)
	a.mu.Lock()
	a.waiting[cmd.ID] = ch
	a.mu.Unlock()
	defer a.forgetOrder(cmd.ID, ch) // a late answer is still to an order
	body, err := a.signedCommand(class, id, cmd)
	if err != nil {
		return sitebus.Result{}, fmt.Errorf("%w: %w", errSign, err)
	}
	var res sitebus.Result
	wctx, cancel := context.WithTimeout(ctx, cmd.Deadline.Sub(ordered))
	defer cancel()
	tok := a.out.Publish(sitebus.DeviceTopic(a.cfg.Site, class, id, sitebus.KindCmd), 1, false, body)
	select {
	case <-tok.Done():
		err = tok.Error()
	case <-wctx.Done():
		err = wctx.Err()
	}
	if err == nil {
		select {
		case res = <-ch:
		case <-wctx.Done():
			err = ErrNoAnswer
		}
	}
	return res, err
}

// result hands a command result to whoever waits for it, and raises the alarm
// command.unordered for one the agent never ordered.
func (a *Agent) result(data []byte) {
	r, err := sitebus.DecodeResult(data)
	if err != nil {
		a.log.Warn("bad command result", "err", err)
		return
	}
	a.mu.Lock()
	ch, ordered := a.waiting[r.ID]
	a.mu.Unlock()
	if !ordered {
		a.unorderedResult(r)
		return
	}
	select {
	case ch <- *r:
	default: // answered already, or a repeat
	}
}

// doorEvents maps door and reader events from the bridge to domain events.
var doorEvents = map[string]struct{ typ, desc string }{
	sitebus.ClassDoor + "/forced":                  {"door.forced", "door opened while locked, with no exit request"},
	sitebus.ClassDoor + "/held-open":               {"door.held-open", "door open past its limit"},
	sitebus.ClassDoor + "/tailgate":                {"door.tailgate", "door opened again on one unlock: a passage without a credential"},
	sitebus.ClassReader + "/offline":               {"reader.offline", "reader stopped answering"},
	sitebus.ClassReader + "/online":                {"reader.online", "reader answering"},
	sitebus.ClassReader + "/tamper":                {"door.tampered", "reader tamper switch"},
	sitebus.ClassReader + "/secure-channel-failed": {"reader.secure-channel-failed", "reader secure channel could not be opened"},
}

// translateDoor turns a door or reader event into its domain event, or nil.
func (a *Agent) translateDoor(tp sitebus.Topic, m *sitebus.Message) (*event.Draft, error) {
	if tp.Class == sitebus.ClassDoor && m.Kind == sitebus.DoorHoldEnded {
		return a.holdRanOut(tp, m)
	}
	de, ok := doorEvents[tp.Class+"/"+m.Kind]
	if !ok {
		return nil, nil
	}
	info := map[string]any{"device": map[string]any{"class": tp.Class, "id": tp.ID, "boot": m.Boot, "seq": m.Seq, "time": m.Time}}
	if tp.Class == sitebus.ClassDoor {
		info["door"] = tp.ID
	} else {
		info["reader"] = tp.ID
	}
	if len(m.Data) > 0 {
		info["detail"] = m.Data
	}
	if tp.Class == sitebus.ClassReader && m.Kind == "tamper" {
		var t struct {
			Tamper bool `json:"tamper"`
		}
		if err := json.Unmarshal(m.Data, &t); err != nil {
			return nil, err
		}
		if !t.Tamper {
			return nil, nil // tamper cleared: shown as the reader's state, not an event
		}
	}
	b, err := json.Marshal(info)
	if err != nil {
		return nil, err
	}
	return &event.Draft{Type: de.typ, OccurredAt: m.Time, Description: de.desc, Info: b}, nil
}

// Movement bases: what a movement event rests on.
const (
	// basisOpened: a granted read, then the door opening on that grant.
	basisOpened = "read-then-door-opened"
	// basisRead: a granted read at a door with no position switch, which cannot
	// confirm the passage.
	basisRead = "card-read"
	// basisExitButton: the door opened from inside by the exit button, with no read.
	basisExitButton = "exit-button"
)

// cardRead makes a movement of a granted read at a door with no position switch;
// elsewhere a read is not a movement (the door opening is), and a refused read is none.
func (a *Agent) cardRead(tp sitebus.Topic, m *sitebus.Message) (*event.Draft, error) {
	cr, err := sitebus.DecodeCardRead(m.Data)
	if err != nil {
		return nil, err
	}
	// Where the reader is comes from the site's configuration, not from the message.
	door, direction, err := a.readerPlace(tp.ID, "")
	if err != nil {
		return nil, err
	}
	if cr.Door != door || cr.Direction != direction {
		a.log.Warn("card read says another place than the reader's; the configured one is used", "reader", tp.ID,
			"door", door, "direction", direction, "saidDoor", cr.Door, "saidDirection", cr.Direction)
	}
	cr.Door, cr.Direction = door, direction
	switch {
	case !cr.Granted:
		a.log.Info("card refused", "reader", tp.ID, "door", cr.Door, "reason", cr.Reason)
		// A failed finger is counted; repeated failures are the alarm (biometrics.go).
		return a.bio.verification(tp, m, cr), nil
	case cr.DoorContact:
		a.bio.noteFactor(tp.ID, cr, m.Time) // for the opening that follows
		return nil, nil                     // the movement is the opening that follows, if any
	}
	info := map[string]any{
		"door":        cr.Door,
		"reader":      tp.ID,
		"direction":   cr.Direction,
		"credential":  map[string]any{"kind": cr.Credential.Kind, "id": cr.Credential.ID(), "format": cr.Credential.Format},
		"listVersion": cr.ListVersion,
		"readAt":      m.Time,
	}
	if f := cr.SecondFactor; f != nil {
		info["secondFactor"] = factorInfo(f)
	}
	return a.movement(tp, m, cr.Direction, cr.Credential.ID(), basisRead, info)
}

// doorOpened makes the movement of a door opening: attributed when a granted read
// opened it, unattributed when the exit button did. An opening on a staff command is
// a staff action (audited as door.unlock-ordered), not a resident's movement.
func (a *Agent) doorOpened(tp sitebus.Topic, m *sitebus.Message) (*event.Draft, error) {
	var ev sitebus.DoorEvent
	if err := json.Unmarshal(m.Data, &ev); err != nil {
		return nil, fmt.Errorf("%w: door opened: %v", sitebus.ErrMessage, err)
	}
	info := map[string]any{"door": tp.ID, "openedAt": m.Time}
	if !ev.UnlockedAt.IsZero() {
		info["unlockedAt"] = ev.UnlockedAt
	}
	switch ev.Reason {
	case sitebus.UnlockByCredential:
		if ev.Direction != "entry" && ev.Direction != "exit" || ev.Credential == "" {
			return nil, fmt.Errorf("%w: door opened by a credential with direction %q, credential %q", sitebus.ErrMessage, ev.Direction, ev.Credential)
		}
		// The reader must be one of this door's; its direction is the configured one.
		_, dir, err := a.readerPlace(ev.Reader, tp.ID)
		if err != nil {
			return nil, err
		}
		ev.Direction = dir
		info["reader"], info["direction"] = ev.Reader, ev.Direction
		info["credential"] = map[string]any{"kind": "card", "id": ev.Credential}
		info["readAt"] = ev.UnlockedAt
		if f, ok := a.bio.factorFor(ev.Reader, ev.Credential, ev.UnlockedAt); ok {
			info["secondFactor"] = factorInfo(&f)
		}
		return a.movement(tp, m, ev.Direction, ev.Credential, basisOpened, info)
	case sitebus.UnlockByExitButton:
		info["direction"] = "exit"
		return a.movement(tp, m, "exit", "", basisExitButton, info)
	default:
		return nil, nil
	}
}

// movement builds a movement event, attributed to the holder of credential (none for
// an unattributed passage).
func (a *Agent) movement(tp sitebus.Topic, m *sitebus.Message, direction, credential, basis string, info map[string]any) (*event.Draft, error) {
	typ := "movement.entered"
	if direction == "exit" {
		typ = "movement.exited"
	}
	d := &event.Draft{Type: typ, OccurredAt: m.Time}
	info["basis"] = basis
	info["device"] = map[string]any{"class": tp.Class, "id": tp.ID, "boot": m.Boot, "seq": m.Seq, "time": m.Time}
	if r := a.holder(credential, m.Time); credential != "" && r != nil && r.IsResident() {
		ids := []event.Identifier{{Type: "CRN", Value: r.CRN}}
		if r.NOMS != "" {
			ids = append(ids, event.Identifier{Type: "NOMS", Value: r.NOMS})
		}
		d.Person = &event.PersonReference{Identifiers: ids}
	} else if r != nil {
		// Staff and contractors: named, never a personReference (that is for CRN and
		// NOMS), never subject to curfew.
		info["holder"] = map[string]any{"kind": r.Kind, "id": r.ID}
	} else {
		if credential != "" {
			a.unknownCards.Add(1)
		}
		info["attributed"] = false
	}
	b, err := json.Marshal(info)
	if err != nil {
		return nil, err
	}
	d.Info = b
	return d, nil
}
