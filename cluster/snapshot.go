package cluster

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/raft"
)

// SnapshotInfo describes a Raft snapshot of this node.
type SnapshotInfo struct {
	ID    string `json:"id"`
	Index uint64 `json:"index"`
	Term  uint64 `json:"term"`
	Size  int64  `json:"size"`
	// Taken is false when nothing was committed since the latest
	// snapshot, which is then the one described.
	Taken   bool   `json:"taken"`
	Message string `json:"message"`
}

// Snapshot takes a Raft snapshot of this node now (`tandemctl cluster
// snapshot`) — the same as raft's thresholds take, sinks made durable
// first — and compacts the log behind it, keeping the trailing entries
// slow followers may still need.
func (s *Store) Snapshot(ctx context.Context) (SnapshotInfo, error) {
	f := s.raft.Snapshot()
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	var err error
	select {
	case <-ctx.Done():
		return SnapshotInfo{}, fmt.Errorf("taking a snapshot: %w", ctx.Err())
	case err = <-done:
	}
	if errors.Is(err, raft.ErrNothingNewToSnapshot) {
		metas, lerr := s.snaps.List()
		if lerr != nil || len(metas) == 0 {
			return SnapshotInfo{}, fmt.Errorf("taking a snapshot: %w", err)
		}
		m := metas[0]
		return SnapshotInfo{ID: m.ID, Index: m.Index, Term: m.Term, Size: m.Size,
			Message: fmt.Sprintf("nothing committed since snapshot %s at index %d", m.ID, m.Index)}, nil
	}
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("taking a snapshot: %w", err)
	}
	meta, rc, err := f.Open()
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("reading the snapshot taken: %w", err)
	}
	rc.Close()
	return SnapshotInfo{ID: meta.ID, Index: meta.Index, Term: meta.Term, Size: meta.Size, Taken: true,
		Message: fmt.Sprintf("snapshot %s taken at index %d (%d bytes)", meta.ID, meta.Index, meta.Size)}, nil
}
