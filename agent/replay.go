package agent

import (
	"context"
	"fmt"

	"github.com/apedge/apedge/formats/envelope"
	"github.com/apedge/apedge/formats/event"
)

// replayJournal reads the journal once, from its start, and gives each event to the
// engines that rebuild their state from it: the curfew engine (its epoch, decisions
// made, presence), the substance engine (every test and reading) and the biometrics
// engine (consents, enrolments, deletions, orphans).
func (a *Agent) replayJournal(ctx context.Context) error {
	var cr curfewRestore
	for from := uint64(1); ; {
		es, err := a.journal.Read(ctx, from, 1000, 8<<20)
		if err != nil {
			return fmt.Errorf("agent: replay: read journal: %w", err)
		}
		if len(es) == 0 {
			break
		}
		for _, e := range es {
			env, err := envelope.Decode(e.Envelope)
			if err != nil {
				return fmt.Errorf("agent: replay: journal seq %d: %w", e.Seq, err)
			}
			ev, err := event.Parse(env.Payload)
			if err != nil {
				return fmt.Errorf("agent: replay: journal seq %d: %w", e.Seq, err)
			}
			a.curfew.restoreEvent(&cr, ev)
			a.subst.replay(e.Seq, ev)
			a.bio.replay(e.Seq, ev)
			a.pat.replay(e.Seq, ev)
			a.bwc.replay(e.Seq, ev)
		}
		from = es[len(es)-1].Seq + 1
	}
	a.curfew.restoreDone(&cr)
	a.subst.replayed()
	a.bio.replayed()
	a.pat.replayed()
	a.bwc.replayed()
	return nil
}
