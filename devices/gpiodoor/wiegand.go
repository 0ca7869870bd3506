package gpiodoor

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/apedge/apedge/devices/device"
	"github.com/apedge/apedge/devices/doorio"
	"github.com/apedge/apedge/devices/reader"
	"github.com/apedge/apedge/devices/wiegand"
	"github.com/apedge/apedge/internal/config"
)

// wiegandReader is a card reader on a door's D0/D1 inputs. It has no LED or buzzer
// the bridge drives.
type wiegandReader struct {
	ref   device.Ref
	place config.ReaderPlace
	w     *doorio.Wiegand
	env   device.Env
	log   *slog.Logger
	state reader.Status // only run touches it

	mu     sync.Mutex
	health device.Health
}

func newWiegandReader(id string, place config.ReaderPlace, w *doorio.Wiegand, simulated bool, env device.Env) *wiegandReader {
	return &wiegandReader{
		ref:    readerRef(id),
		place:  place,
		w:      w,
		env:    env,
		log:    env.Log.With("reader", id),
		state:  reader.Status{Online: true, Interface: "wiegand", Door: place.Door, Direction: place.Direction, Simulated: simulated},
		health: device.Health{Status: device.HealthOK},
	}
}

// Ref names the reader.
func (r *wiegandReader) Ref() device.Ref { return r.ref }

// Command refuses everything: the reader's LED and buzzer are its own.
func (r *wiegandReader) Command(ctx context.Context, cmd device.Command) error {
	if cmd.Action == reader.ActionIndicate {
		return fmt.Errorf("gpiodoor: reader %s has no LED or buzzer the bridge drives", r.ref.ID)
	}
	return device.Unsupported(r.ref, cmd.Action)
}

// Health is down once the inputs cannot be read.
func (r *wiegandReader) Health() device.Health {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.health
}

// run reads cards until ctx ends, handing each read to the bridge to decide.
func (r *wiegandReader) run(ctx context.Context) {
	r.env.Sink.State(r.ref, reader.StatusKind, r.state, r.env.Clock.Now())
	// Reads are decided off the wires' loop: a decision may wait for a finger.
	decide := device.NewDecider(r.env.Access, r.log)
	var deciding sync.WaitGroup
	defer deciding.Wait()
	dctx, stop := context.WithCancel(ctx)
	defer stop()
	deciding.Go(func() { decide.Run(dctx) })
	err := r.w.Run(ctx, func(c wiegand.Card, err error) {
		at := r.env.Clock.Now()
		if err != nil {
			r.log.Warn("bad wiegand read", "err", err)
			r.env.Sink.Event(r.ref, reader.BadRead, map[string]any{"reason": err.Error()}, at)
			return
		}
		decide.Add(device.Read{Reader: r.ref, Door: r.place.Door, Direction: r.place.Direction, Card: c, At: at}, nil)
	})
	if err != nil && ctx.Err() == nil {
		r.log.Error("wiegand reader stopped", "err", err)
		r.mu.Lock()
		r.health = device.Health{Status: device.HealthDown, Detail: "stopped: " + err.Error()}
		r.mu.Unlock()
	}
}
