package pattester

import (
	"context"
	"fmt"

	"github.com/creack/pty"

	"github.com/apedge/apedge/devices/device"
	"github.com/apedge/apedge/devices/serialport"
	"github.com/apedge/apedge/internal/config"
)

// Class is the class of PAT testers on serial lines. Its zero value is ready
// to use.
type Class struct {
	tm *timing // nil: defaultTiming; tests set it
}

// Name returns "pat-tester".
func (Class) Name() string { return ClassName }

// Open opens every tester env.Config lists, or returns nil if it lists none. A
// tester whose port is "simulated" (in a simulated site only) gets a
// pseudo-terminal with a simulator (*Sim, added to env.Sims under its Ref) on the
// far end. A real port that cannot be opened now is no error: the tester is
// offline, saying why, and its driver tries the port again every few seconds (a
// USB adapter plugged in late).
func (c Class) Open(ctx context.Context, env device.Env) (device.Driver, error) {
	cfg := env.Config
	if len(cfg.PATTesters) == 0 {
		return nil, nil
	}
	tm := defaultTiming()
	if c.tm != nil {
		tm = *c.tm
	}
	drv := &driver{}
	fail := func(err error) (device.Driver, error) {
		for _, t := range drv.testers {
			t.release()
		}
		return nil, err
	}
	for i, tc := range cfg.PATTesters {
		t := newTester(tc, env, tm)
		if tc.Port == config.SimulatedPort {
			if env.Sims == nil {
				return fail(fmt.Errorf("pattester: patTesters[%d] %s: port %q in a site that is not simulated", i, tc.ID, tc.Port))
			}
			ptmx, tty, err := pty.Open()
			if err != nil {
				return fail(fmt.Errorf("pattester: tester %s: simulated port: %w", tc.ID, err))
			}
			t.sim = &simPort{ptmx: ptmx, tty: tty, sim: NewSim("SIM-"+tc.ID, env.Clock)}
			// The far end stays open for the tester's life, so the line never
			// hangs up.
			t.path = tty.Name()
			t.st.Simulated = true
		}
		drv.testers = append(drv.testers, t)
		conn, err := serialport.Open(t.path, tc.Baud)
		switch {
		case err != nil && t.sim != nil:
			return fail(fmt.Errorf("pattester: tester %s: %w", tc.ID, err))
		case err != nil:
			t.st.LastError = err.Error()
			t.log.Error("tester port cannot be opened; trying again while the bridge runs", "port", t.path, "err", err)
			t.logged["port"] = true
		default:
			t.conn = conn
		}
		if t.sim != nil {
			env.Sims.Add(t.ref, t.sim.sim)
		}
	}
	return drv, nil
}
