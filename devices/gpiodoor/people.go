package gpiodoor

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/apedge/apedge/devices/device"
	"github.com/apedge/apedge/devices/doorio"
	"github.com/apedge/apedge/devices/wiegand"
	"github.com/apedge/apedge/internal/config"
)

// people are the simulated people of a simulated site: they come to the doors,
// present cards at the doors' readers (whatever their class), press exit buttons and
// walk through, now and then forcing a door, holding it open, tailgating or
// presenting a card nobody knows.
type people struct {
	cfg   *config.Simulate
	sims  *device.Sims
	log   *slog.Logger
	cards []wiegand.Card
	doors []simDoor
}

// simDoor is one simulated door and how to use it.
type simDoor struct {
	cfg config.Door
	io  *doorio.SimDoor
}

func newPeople(cfg *config.Simulate, env device.Env) (*people, error) {
	p := &people{cfg: cfg, sims: env.Sims, log: env.Log.With("simulated", true)}
	for _, id := range cfg.Cards {
		c, err := wiegand.Parse(id, 26) // checked by config.LoadBridge
		if err != nil {
			return nil, fmt.Errorf("gpiodoor: simulate.cards: %w", err)
		}
		p.cards = append(p.cards, c)
	}
	return p, nil
}

// run sends simulated people through the doors until ctx ends.
func (p *people) run(ctx context.Context) {
	if len(p.doors) == 0 || len(p.cards) == 0 {
		return
	}
	// People come to each door on their own, so that a visit to one door (a few
	// seconds) does not hold up the others; together they arrive every Every.
	var wg sync.WaitGroup
	for i, d := range p.doors {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(rand.Uint64(), uint64(i)))
			every := p.cfg.Every * time.Duration(len(p.doors))
			for {
				wait := time.Duration(rng.ExpFloat64() * float64(every))
				if sleep(ctx, wait); ctx.Err() != nil {
					return
				}
				card := p.cards[rng.IntN(len(p.cards))]
				p.visit(ctx, rng, d, card, rng.Float64() < p.cfg.Incidents)
			}
		})
	}
	wg.Wait()
}

// walk is how long a person holds the door open: shorter when people come faster.
func (p *people) walk() time.Duration {
	return min(max(p.cfg.Every/2, 100*time.Millisecond), 1500*time.Millisecond)
}

// present shows card c at reader id; false if it is not a simulated reader.
func (p *people) present(id string, c wiegand.Card) bool {
	r, ok := p.sims.Get(readerRef(id)).(device.SimReader)
	if ok {
		r.Swipe(c)
	}
	return ok
}

// visit is one person at a door.
func (p *people) visit(ctx context.Context, rng *rand.Rand, d simDoor, card wiegand.Card, incident bool) {
	out := rng.IntN(2) == 1
	rd := d.cfg.EntryReader
	if out {
		rd = d.cfg.ExitReader
	}
	kind := "walk"
	if incident {
		kind = []string{"forced", "held", "tailgate", "stranger"}[rng.IntN(4)]
	}
	p.log.Debug("simulated visit", "door", d.cfg.ID, "out", out, "kind", kind)
	if kind == "forced" {
		p.pass(ctx, d, p.walk())
		return
	}
	if kind == "stranger" {
		card, _ = wiegand.Decode(wiegand.Encode26(uint8(rng.IntN(256)), uint16(rng.IntN(65536))), 26)
	}
	switch {
	case rd != "" && p.present(rd, card):
	case out:
		d.io.PressExit()
		sleep(ctx, 200*time.Millisecond)
		d.io.ReleaseExit()
	default:
		return // no way in at this door
	}
	if !p.waitUnlocked(ctx, d, 3*time.Second) {
		return // refused: the person walks away
	}
	switch kind {
	case "held":
		p.pass(ctx, d, d.cfg.HeldOpenAfter+2*time.Second)
	case "tailgate":
		p.pass(ctx, d, p.walk())
		p.pass(ctx, d, p.walk())
	default:
		p.pass(ctx, d, p.walk())
	}
}

// pass opens the door, holds it open for open and closes it.
func (p *people) pass(ctx context.Context, d simDoor, open time.Duration) {
	d.io.Open()
	sleep(ctx, open)
	d.io.Shut()
	sleep(ctx, 300*time.Millisecond)
}

// waitUnlocked waits, as a person at the door would, up to limit for the lock to
// release.
func (p *people) waitUnlocked(ctx context.Context, d simDoor, limit time.Duration) bool {
	failSecure := d.cfg.Lock != nil && d.cfg.Lock.Mode == "fail-secure"
	giveUp := time.NewTimer(limit)
	defer giveUp.Stop()
	look := time.NewTicker(50 * time.Millisecond)
	defer look.Stop()
	for {
		if d.io.LockEnergised() == failSecure {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-giveUp.C:
			return false
		case <-look.C:
		}
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
