package backup

import (
	"fmt"
	"os"
	"path/filepath"
)

// retain keeps this node's newest KeepFull full backups and deletes older
// ones with every incremental that applies to them — incrementals first,
// so that no incremental is ever left without its full backup, and a
// full backup an incremental kept needs is never deleted. Other nodes'
// backups (a shared directory) and damaged directories are not touched.
func (m *Manager) retain() error {
	return retain(m.cfg.Dir, m.cfg.NodeID, m.cfg.KeepFull, func(id string) {
		m.log.Info("backup deleted by retention", "id", id, "keep_full", m.cfg.KeepFull)
	})
}

func retain(dir, node string, keep int, deleted func(id string)) error {
	if keep <= 0 {
		return nil
	}
	l, err := List(dir)
	if err != nil {
		return err
	}
	var mine []Chain
	for _, c := range l.Chains {
		if c.Full.Node.ID == node {
			mine = append(mine, c)
		}
	}
	for i := 0; i < len(mine)-keep; i++ { // oldest first
		c := mine[i]
		for j := len(c.Incrementals) - 1; j >= 0; j-- {
			if err := remove(dir, c.Incrementals[j].ID); err != nil {
				return err
			}
			deleted(c.Incrementals[j].ID)
		}
		if err := remove(dir, c.Full.ID); err != nil {
			return err
		}
		deleted(c.Full.ID)
	}
	return nil
}

// remove deletes backup id: renamed out of the listing first, so that a
// crash midway leaves no half backup that looks whole.
func remove(dir, id string) error {
	gone := filepath.Join(dir, delPrefix+id)
	if err := os.Rename(filepath.Join(dir, id), gone); err != nil {
		return fmt.Errorf("deleting backup %s: %w", id, err)
	}
	if err := os.RemoveAll(gone); err != nil {
		return fmt.Errorf("deleting backup %s: %w", id, err)
	}
	return nil
}
