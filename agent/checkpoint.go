package agent

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/proof"
)

// CheckpointType is the event that carries a signed checkpoint of the site's Merkle
// log (package proof): the tree of the entries before it, its size and root hash,
// signed with the site key in the C2SP tlog-checkpoint note format. Journaled like
// any event, it reaches central through the same acknowledged path, and central
// checks it against the entries it has stored.
const CheckpointType = "log.checkpoint"

// checkpoints journals a signed checkpoint of the journal's Merkle tree whenever
// cfg.Checkpoints.Every entries have been journaled since the last, or its Interval
// has passed with entries journaled since, until ctx ends.
func (a *Agent) checkpoints(ctx context.Context) error {
	j := a.journal
	every, interval := uint64(a.cfg.Checkpoints.Every), a.cfg.Checkpoints.Interval
	var covered uint64 // tree size of the last checkpoint this process made
	var ownSeq uint64  // its seq: an entry that needs no checkpoint of its own
	last := time.Now()
	timer := time.NewTimer(interval)
	defer timer.Stop()
	for {
		// Wait for a batch's worth of entries, or for the interval.
		wctx, cancel := context.WithCancel(ctx)
		grown := make(chan error, 1)
		go func() { grown <- j.WaitTree(wctx, covered+every) }()
		select {
		case <-ctx.Done():
			cancel()
			<-grown
			return nil
		case <-timer.C:
			cancel()
			<-grown
		case <-grown:
			cancel()
		}
		size := j.TreeSize()
		// The entries no checkpoint covers yet, but for the last checkpoint's own
		// event: it may have been journaled after others that it does not cover.
		uncovered := size - min(covered, size)
		if ownSeq > covered && ownSeq <= size {
			uncovered--
		}
		due := uncovered >= every || time.Since(last) >= interval
		if uncovered > 0 && due {
			rec, err := a.checkpoint(ctx, size)
			if err != nil {
				return err
			}
			covered, ownSeq, last = size, rec, time.Now()
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(max(time.Until(last.Add(interval)), time.Second))
	}
}

// checkpoint signs the tree of size n and journals it, returning the event's seq.
func (a *Agent) checkpoint(ctx context.Context, n uint64) (uint64, error) {
	root, err := a.journal.TreeHash(ctx, n)
	if err != nil {
		return 0, fmt.Errorf("agent: checkpoint: %w", err)
	}
	note, err := proof.SignCheckpoint(a.key, proof.Checkpoint{Origin: proof.Origin(a.cfg.Site), Size: n, Root: root})
	if err != nil {
		return 0, fmt.Errorf("agent: checkpoint: %w", err)
	}
	info, _ := json.Marshal(map[string]any{"size": n, "root": base64.StdEncoding.EncodeToString(root[:]), "checkpoint": string(note)})
	rec, err := a.append(context.WithoutCancel(ctx), &event.Draft{Type: CheckpointType, OccurredAt: a.clock.Now(),
		Description: "signed checkpoint of the site's Merkle log", Info: info, Origin: "checkpoint:" + strconv.FormatUint(n, 10)})
	if err != nil {
		return 0, err
	}
	a.log.Debug("checkpoint", "size", n, "seq", rec.Seq)
	return rec.Seq, nil
}
