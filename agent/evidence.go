package agent

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/apedge/apedge/formats/event"
	"github.com/apedge/apedge/formats/proof"
)

// CheckpointNow signs a checkpoint of the journal's Merkle tree as it stands, once the
// tree holds every entry journaled so far, and journals it as CheckpointType (once per
// tree size: a checkpoint of the same size, signed before, is the same note). It
// returns the signed note and the tree size it covers, for proof bundles of events up
// to that size.
func (a *Agent) CheckpointNow(ctx context.Context) ([]byte, uint64, error) {
	j := a.journal
	if err := j.WaitTree(ctx, j.Last()); err != nil {
		return nil, 0, fmt.Errorf("agent: checkpoint: %w", err)
	}
	n := j.TreeSize()
	root, err := j.TreeHash(ctx, n)
	if err != nil {
		return nil, 0, fmt.Errorf("agent: checkpoint: %w", err)
	}
	note, err := proof.SignCheckpoint(a.key, proof.Checkpoint{Origin: proof.Origin(a.cfg.Site), Size: n, Root: root})
	if err != nil {
		return nil, 0, fmt.Errorf("agent: checkpoint: %w", err)
	}
	info, _ := json.Marshal(map[string]any{"size": n, "root": base64.StdEncoding.EncodeToString(root[:]), "checkpoint": string(note)})
	if _, err := a.append(context.WithoutCancel(ctx), &event.Draft{Type: CheckpointType, OccurredAt: a.clock.Now(),
		Description: "signed checkpoint of the site's Merkle log", Info: info, Origin: "checkpoint:" + strconv.FormatUint(n, 10)}); err != nil {
		return nil, 0, err
	}
	return note, n, nil
}
