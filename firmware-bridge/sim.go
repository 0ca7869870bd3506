package bridge

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/creack/pty"

	"github.com/apedge/apedge/devices/doorio"
	"github.com/apedge/apedge/devices/osdp"
	"github.com/apedge/apedge/devices/wiegand"
	"github.com/apedge/apedge/internal/config"
)

// Sim returns the bridge's simulated site, or nil if it has none. It is set once Ready
// is closed.
func (b *Bridge) Sim() *Sim { return b.sim }

// Reader returns the simulated OSDP reader id, or nil.
func (s *Sim) Reader(id string) *osdp.Reader {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.osdp[id]
}

// Door returns the simulated door id's pins, or nil.
func (s *Sim) Door(id string) *doorio.SimDoor {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.doors {
		if d.cfg.ID == id {
			return d.io
		}
	}
	return nil
}

// Present shows card c at reader id (OSDP or Wiegand), as a person would; false if
// there is no such simulated reader.
func (s *Sim) Present(id string, c wiegand.Card) bool { return s.present(id, c) }

// Sim is a bridge's simulated site, for tests and demonstrations to drive: OSDP
// readers on the far end of pseudo-terminals, doors on fake GPIO pins, and people using them. The bridge runs its real drivers against
// it, byte for byte and pin for pin as it would against hardware.
type Sim struct {
	cfg *config.Simulate
	log *slog.Logger

	mu      sync.Mutex
	doors   []*simDoor
	osdp    map[string]*osdp.Reader // by reader id
	wieg    map[string]*doorio.SimDoor
	closers []func() error
}

// simDoor is one simulated door and how to use it.
type simDoor struct {
	cfg config.Door
	io  *doorio.SimDoor
}

func newSimSite(cfg *config.Simulate, log *slog.Logger) *Sim {
	return &Sim{cfg: cfg, log: log.With("simulated", true), osdp: map[string]*osdp.Reader{}, wieg: map[string]*doorio.SimDoor{}}
}

func (s *Sim) addDoor(cfg config.Door, io *doorio.SimDoor) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.doors = append(s.doors, &simDoor{cfg: cfg, io: io})
	s.closers = append(s.closers, io.Close)
}

func (s *Sim) addWiegand(id string, io *doorio.SimDoor) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wieg[id] = io
}

// addBus makes a pseudo-terminal pair, runs the bus's readers as simulated PDs on
// one end and returns the other end's device name for the panel to open.
func (s *Sim) addBus(ctx context.Context, wg *sync.WaitGroup, bus config.OSDPBus) (string, error) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		return "", fmt.Errorf("simulated line: %w", err)
	}
	var rs []*osdp.Reader
	for _, rc := range bus.Readers {
		cfg := osdp.ReaderConfig{Address: rc.Address, AcceptDefaultKey: rc.Install}
		if rc.SCBKFile != "" && !rc.Install {
			key, err := config.ReadHexKey(rc.SCBKFile, osdp.KeyLen)
			if err != nil {
				ptmx.Close()
				tty.Close()
				return "", err
			}
			cfg.SCBK = key
		}
		r := osdp.NewReader(cfg)
		rs = append(rs, r)
		s.mu.Lock()
		s.osdp[rc.ID] = r
		s.mu.Unlock()
	}
	s.mu.Lock()
	// The far end stays open for the simulation's life, so the line never hangs up.
	s.closers = append(s.closers, tty.Close)
	s.mu.Unlock()
	wg.Go(func() {
		defer ptmx.Close()
		if err := osdp.ServeBus(ctx, osdp.Paced(ptmx, bus.Baud), rs...); err != nil && ctx.Err() == nil {
			s.log.Error("simulated osdp line stopped", "err", err)
		}
	})
	return tty.Name(), nil
}

func (s *Sim) close() {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.closers {
		c()
	}
	s.closers = nil
}

// present shows card c at reader id.
func (s *Sim) present(id string, c wiegand.Card) bool {
	s.mu.Lock()
	r, w := s.osdp[id], s.wieg[id]
	s.mu.Unlock()
	switch {
	case r != nil:
		r.Swipe(c)
	case w != nil:
		w.SendWiegand(c.Raw, c.Bits)
	default:
		return false
	}
	return true
}

// run sends simulated people through the doors until ctx ends.
func (s *Sim) run(ctx context.Context, b *Bridge) {
	defer s.close()
	var cards []wiegand.Card
	for _, id := range s.cfg.Cards {
		c, _ := wiegand.Parse(id, 26) // checked by config.LoadBridge
		cards = append(cards, c)
	}
	if s.cfg.Quiet || len(s.doors) == 0 {
		<-ctx.Done()
		return
	}
	// People come to each door on their own, so that a visit to one door (a few
	// seconds) does not hold up the others; together they arrive every Every.
	var wg sync.WaitGroup
	for i, d := range s.doors {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(i)))
			every := s.cfg.Every * time.Duration(len(s.doors))
			for {
				wait := time.Duration(rng.ExpFloat64() * float64(every))
				if sleep(ctx, wait); ctx.Err() != nil {
					return
				}
				card := cards[rng.IntN(len(cards))]
				s.visit(ctx, b, rng, d, card, rng.Float64() < s.cfg.Incidents)
			}
		})
	}
	wg.Wait()
}

// walk is how long a person holds the door open: shorter when people come faster.
func (s *Sim) walk() time.Duration {
	return min(max(s.cfg.Every/2, 100*time.Millisecond), 1500*time.Millisecond)
}

// visit is one person at a door.
func (s *Sim) visit(ctx context.Context, b *Bridge, rng *rand.Rand, d *simDoor, card wiegand.Card, incident bool) {
	out := rng.IntN(2) == 1
	rd := d.cfg.EntryReader
	if out {
		rd = d.cfg.ExitReader
	}
	kind := "walk"
	if incident {
		kind = []string{"forced", "held", "tailgate", "stranger"}[rng.IntN(4)]
	}
	s.log.Debug("simulated visit", "door", d.cfg.ID, "out", out, "kind", kind)
	if kind == "forced" {
		s.pass(ctx, d, s.walk())
		return
	}
	if kind == "stranger" {
		card, _ = wiegand.Decode(wiegand.Encode26(uint8(rng.IntN(256)), uint16(rng.IntN(65536))), 26)
	}
	switch {
	case rd != "" && s.present(rd, card):
	case out:
		d.io.PressExit()
		sleep(ctx, 200*time.Millisecond)
		d.io.ReleaseExit()
	default:
		return // no way in at this door
	}
	if !s.waitUnlocked(ctx, b, d, 3*time.Second) {
		return // refused: the person walks away
	}
	switch kind {
	case "held":
		s.pass(ctx, d, d.cfg.HeldOpenAfter+2*time.Second)
	case "tailgate":
		s.pass(ctx, d, s.walk())
		s.pass(ctx, d, s.walk())
	default:
		s.pass(ctx, d, s.walk())
	}
}

// pass opens the door, holds it open for d and closes it.
func (s *Sim) pass(ctx context.Context, d *simDoor, open time.Duration) {
	d.io.Open()
	sleep(ctx, open)
	d.io.Shut()
	sleep(ctx, 300*time.Millisecond)
}

// waitUnlocked waits, as a person at the door would, for the lock to release.
func (s *Sim) waitUnlocked(ctx context.Context, b *Bridge, d *simDoor, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	failSecure := d.cfg.Lock != nil && d.cfg.Lock.Mode == "fail-secure"
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if d.io.LockEnergised() == failSecure {
			return true
		}
		sleep(ctx, 50*time.Millisecond)
	}
	return false
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
