package agent

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/apedge/apedge/agent/curfew"
	"github.com/apedge/apedge/agent/register"
	"github.com/apedge/apedge/formats/sitebus"
	"github.com/apedge/apedge/internal/config"
)

// BridgeView is the firmware bridge's status as the agent last heard it.
type BridgeView struct {
	// Status is "online", "offline" or "unknown" (nothing heard since the agent started).
	Status string    `json:"status"`
	Boot   string    `json:"boot,omitempty"`
	Since  time.Time `json:"since,omitzero"`
}

// DoorView is a door's last reported status.
type DoorView struct {
	ID string `json:"id"`
	sitebus.DoorStatus
	UpdatedAt time.Time `json:"updatedAt"`
}

// SubstanceTesterView is a substance tester's last reported status.
type SubstanceTesterView struct {
	ID string `json:"id"`
	sitebus.SubstanceTesterStatus
	UpdatedAt time.Time `json:"updatedAt"`
}

// BiometricView is a fingerprint terminal's last reported status, with where it is
// (its door, none for an enrolment desk, and its name) as the site's configuration
// says.
type BiometricView struct {
	ID   string `json:"id"`
	Door string `json:"door,omitempty"`
	Name string `json:"name,omitempty"`
	sitebus.BiometricStatus
	UpdatedAt time.Time `json:"updatedAt"`
}

// ReaderView is a reader's last reported status.
type ReaderView struct {
	ID string `json:"id"`
	sitebus.ReaderStatus
	UpdatedAt time.Time `json:"updatedAt"`
}

// Devices is a snapshot of the site's devices, each list sorted by id.
type Devices struct {
	Bridge  BridgeView   `json:"bridge"`
	Doors   []DoorView   `json:"doors"`
	Readers []ReaderView `json:"readers"`
	// Cameras are every configured camera, reported on or not (cameras.go).
	Cameras []CameraView `json:"cameras"`
	// SubstanceTesters are the substance testers that have reported; the console
	// does not show them yet.
	SubstanceTesters []SubstanceTesterView `json:"substanceTesters"`
	// Biometrics are the fingerprint terminals that have reported (Biometrics.Terminals
	// lists every configured one, with its enrolment under way).
	Biometrics []BiometricView `json:"biometrics"`
}

// deviceState holds the devices' last reported status, from their retained state
// messages on the site bus.
type deviceState struct {
	mu      sync.Mutex
	bridge  BridgeView
	doors   map[string]DoorView
	readers map[string]ReaderView
	cameras map[string]*cameraState        // by id: configured cameras only
	testers map[string]SubstanceTesterView // by id: configured substance testers only
	bio     map[string]BiometricView       // by id: configured fingerprint terminals only
}

// changes tells watchers that something they may show has changed: each Wait returns
// a channel closed at the next Fire.
type changes struct {
	mu sync.Mutex
	ch chan struct{}
}

func (c *changes) wait() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ch == nil {
		c.ch = make(chan struct{})
	}
	return c.ch
}

func (c *changes) fire() {
	c.mu.Lock()
	if c.ch != nil {
		close(c.ch)
		c.ch = nil
	}
	c.mu.Unlock()
}

// Changed returns a channel closed at the next change of device status, presence or
// the roster (journaled events are announced by the journal itself).
func (a *Agent) Changed() <-chan struct{} { return a.changes.wait() }

// deviceStatus records a device's state message. Bad ones are refused as bad messages.
func (a *Agent) deviceStatus(tp sitebus.Topic, m *sitebus.Message) error {
	if tp.Class == sitebus.ClassCamera {
		changed, err := a.cameraStatus(tp, m)
		if changed {
			a.changes.fire()
		}
		return err
	}
	if m.Kind != "status" {
		return nil
	}
	at := m.Time
	s := &a.devices
	switch tp.Class {
	case sitebus.ClassDoor:
		st, err := sitebus.DecodeDoorStatus(m.Data)
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.doors[tp.ID] = DoorView{ID: tp.ID, DoorStatus: *st, UpdatedAt: at}
		s.mu.Unlock()
	case sitebus.ClassReader:
		st, err := sitebus.DecodeReaderStatus(m.Data)
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.readers[tp.ID] = ReaderView{ID: tp.ID, ReaderStatus: *st, UpdatedAt: at}
		s.mu.Unlock()
	case sitebus.ClassSubstanceTester:
		st, err := sitebus.DecodeSubstanceTesterStatus(m.Data)
		if err != nil {
			return err
		}
		s.mu.Lock()
		if s.testers == nil {
			s.testers = map[string]SubstanceTesterView{}
		}
		s.testers[tp.ID] = SubstanceTesterView{ID: tp.ID, SubstanceTesterStatus: *st, UpdatedAt: at}
		s.mu.Unlock()
	case sitebus.ClassBiometric:
		st, err := sitebus.DecodeBiometricStatus(m.Data)
		if err != nil {
			return err
		}
		place := a.cfg.Devices.Biometrics[tp.ID]
		s.mu.Lock()
		if s.bio == nil {
			s.bio = map[string]BiometricView{}
		}
		s.bio[tp.ID] = BiometricView{ID: tp.ID, Door: place.Door, Name: place.Name, BiometricStatus: *st, UpdatedAt: at}
		s.mu.Unlock()
	default:
		return nil
	}
	a.changes.fire()
	return nil
}

func (a *Agent) bridgeStatus(st *sitebus.BridgeState) {
	s := &a.devices
	s.mu.Lock()
	since := st.Time
	if since.IsZero() {
		since = a.clock.Now()
	}
	s.bridge = BridgeView{Status: st.Status, Boot: st.Boot, Since: since.UTC()}
	s.mu.Unlock()
	a.changes.fire()
}

// Devices returns the devices' last reported status.
func (a *Agent) Devices() Devices {
	s := &a.devices
	s.mu.Lock()
	defer s.mu.Unlock()
	d := Devices{Bridge: s.bridge, Doors: []DoorView{}, Readers: []ReaderView{}, Cameras: a.cameraViews(), SubstanceTesters: []SubstanceTesterView{},
		Biometrics: []BiometricView{}}
	for _, v := range s.doors {
		d.Doors = append(d.Doors, v)
	}
	for _, v := range s.readers {
		d.Readers = append(d.Readers, v)
	}
	for _, v := range s.testers {
		d.SubstanceTesters = append(d.SubstanceTesters, v)
	}
	for _, v := range s.bio {
		v.Used = slices.Clone(v.Used)
		d.Biometrics = append(d.Biometrics, v)
	}
	slices.SortFunc(d.Doors, func(x, y DoorView) int { return cmp.Compare(x.ID, y.ID) })
	slices.SortFunc(d.Readers, func(x, y ReaderView) int { return cmp.Compare(x.ID, y.ID) })
	slices.SortFunc(d.SubstanceTesters, func(x, y SubstanceTesterView) int { return cmp.Compare(x.ID, y.ID) })
	slices.SortFunc(d.Biometrics, func(x, y BiometricView) int { return cmp.Compare(x.ID, y.ID) })
	return d
}

// biometricStatus returns fingerprint terminal id's last reported status.
func (a *Agent) biometricStatus(id string) (BiometricView, bool) {
	s := &a.devices
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.bio[id]
	v.Used = slices.Clone(v.Used)
	return v, ok
}

// ResidentView is a current resident with their presence and curfew state.
type ResidentView struct {
	CRN               string `json:"crn"`
	NOMS              string `json:"noms,omitempty"`
	Name              string `json:"name,omitempty"`
	Room              string `json:"room,omitempty"`
	Arrived           string `json:"arrived,omitempty"`
	ExpectedDeparture string `json:"expectedDeparture,omitempty"`
	Cards             int    `json:"cards"`
	// Presence is in, out or unknown; PresenceSince is the last movement's time.
	Presence      string    `json:"presence"`
	PresenceSince time.Time `json:"presenceSince,omitzero"`
	// Inconsistent says the last movement contradicted the one before it.
	Inconsistent bool `json:"inconsistent"`
	// Window is the curfew window in force now, if any (the earliest-ending when
	// windows overlap).
	Window *WindowView `json:"window"`
}

// WindowView is a curfew window as the console shows it.
type WindowView struct {
	// Key identifies the window occurrence, as curfew events name it.
	Key        string    `json:"key"`
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	StartLocal string    `json:"startLocal"`
	EndLocal   string    `json:"endLocal"`
	Source     string    `json:"source"`
}

// Residents returns the residents at the AP now (arrived and not departed), sorted by
// name then CRN, with their presence and the curfew window in force.
func (a *Agent) Residents() []ResidentView {
	now := a.curfew.clock.Now()
	loc := curfew.London()
	today := now.In(loc).Format(time.DateOnly)
	presence := a.Presence()
	out := []ResidentView{}
	for _, r := range a.rosterNow() {
		if !r.IsResident() || !r.PresentOn(today) {
			continue
		}
		v := ResidentView{CRN: r.CRN, NOMS: r.NOMS, Name: r.Name, Room: r.Room, Arrived: r.Arrived,
			ExpectedDeparture: r.ExpectedDeparture, Cards: len(r.Cards), Presence: string(curfew.PresenceUnknown)}
		if p, ok := presence[r.CRN]; ok {
			v.Presence, v.PresenceSince, v.Inconsistent = string(p.Presence), p.Since, p.Inconsistent
		}
		if s, err := Schedule(&r); err == nil {
			for _, w := range s.At(now) {
				if v.Window == nil || w.End.Before(v.Window.End) {
					v.Window = &WindowView{Key: w.Key(), Start: w.Start, End: w.End, Source: w.Rule.Source,
						StartLocal: w.StartLocal().Format("2006-01-02 15:04"), EndLocal: w.EndLocal().Format("2006-01-02 15:04")}
				}
			}
		}
		out = append(out, v)
	}
	slices.SortFunc(out, func(x, y ResidentView) int { return cmp.Or(cmp.Compare(x.Name, y.Name), cmp.Compare(x.CRN, y.CRN)) })
	return out
}

// Status is the agent's own state.
type Status struct {
	Site        string    `json:"site"`
	Version     string    `json:"version"`
	StartedAt   time.Time `json:"startedAt"`
	ClockSynced bool      `json:"clockSynced"`
	BusUp       bool      `json:"busConnected"`
	CentralUp   bool      `json:"centralConnected"`
	Journaled   uint64    `json:"journaled"`
	Acked       uint64    `json:"acked"`
}

// Status returns the agent's own state.
func (a *Agent) Status() Status {
	a.curfew.mu.Lock()
	synced := a.curfew.synced
	a.curfew.mu.Unlock()
	return Status{Site: a.cfg.Site, Version: Version, StartedAt: a.started, ClockSynced: synced,
		BusUp: a.busUp.Load() && a.subscribed.Load(), CentralUp: a.fwd.Connected(),
		Journaled: a.journal.Last(), Acked: a.fwd.Stats().Acked}
}

// RecordChange records a staff action (an arrival, departure or approved absence) in
// the roster register, refusing one that does not apply to the roster as it stands.
// The agent applies it within a second, journaling it as a signed event naming who
// recorded it; Record returns its number.
func (a *Agent) RecordChange(ctx context.Context, c register.Change) (int64, error) {
	n, err := a.reg.RecordChecked(ctx, a.cfg.Roster, c, curfew.London())
	if err != nil {
		return 0, err
	}
	select {
	case a.regKick <- struct{}{}:
	default:
	}
	return n, nil
}

// Roster returns the roster as the agent holds it: the configured one with the
// register's changes applied.
func (a *Agent) Roster() []config.Resident { return slices.Clone(a.rosterNow()) }
