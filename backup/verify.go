package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/tandemcc/tandem/cluster"
)

// Report is what verifying a backup found.
type Report struct {
	ID     string   `json:"id"`
	Level  int      `json:"level"`
	Index  uint64   `json:"index"`
	Base   string   `json:"base,omitempty"`
	Checks []string `json:"checks"` // what was checked, in order
}

// Verify checks the backup id in dir without restoring it: the manifest
// and every file against their checksums, that each file decrypts (with
// key) and decodes — a full's state document and node identity, an
// incremental's entries from its base's index + 1 to its own, without a
// gap — and, for an incremental, that its full backup is present and
// whole. The first problem is the error.
func Verify(ctx context.Context, dir, id string, key *Key) (*Report, error) {
	if !ValidID(id) {
		return nil, fmt.Errorf("%q is not a backup ID (see tandemctl backup list)", id)
	}
	bdir := filepath.Join(dir, id)
	if _, err := os.Stat(bdir); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("backup %s is not in %s", id, dir)
	}
	m, err := readManifest(bdir)
	if err != nil {
		return nil, err
	}
	r := &Report{ID: id, Level: m.Level, Index: m.Index, Base: m.Base}
	r.Checks = append(r.Checks, "manifest matches "+sumsName)
	for _, f := range m.Files {
		if err := checkFile(bdir, id, f); err != nil {
			return r, err
		}
	}
	r.Checks = append(r.Checks, fmt.Sprintf("%d files match their checksums", len(m.Files)))
	if err := key.matches(m); err != nil {
		return r, err
	}
	switch {
	case m.Encryption != EncNone && !key.CanDecrypt():
		r.Checks = append(r.Checks, "not decrypted: key file "+key.path+" holds only the public key")
	default:
		if err := decodeAll(ctx, bdir, m, key); err != nil {
			return r, err
		}
		if m.Encryption != EncNone {
			r.Checks = append(r.Checks, "decrypts with "+key.path)
		}
		switch {
		case m.Level == Full:
			r.Checks = append(r.Checks, fmt.Sprintf("state (snapshot at index %d), %d log entries after it and node identity decode", m.SnapshotIndex, m.Tail))
		case m.Entries == 0:
			r.Checks = append(r.Checks, fmt.Sprintf("no log entries: nothing was committed after the full backup's index %d", m.BaseIndex))
		default:
			r.Checks = append(r.Checks, fmt.Sprintf("%d log entries decode, %d to %d without a gap", m.Entries, m.BaseIndex+1, m.Index))
		}
	}
	if m.Level == Full {
		return r, nil
	}
	base, err := baseOf(dir, m)
	if err != nil {
		return r, err
	}
	for _, f := range base.Files {
		if err := checkFile(filepath.Join(dir, base.ID), base.ID, f); err != nil {
			return r, fmt.Errorf("the full backup of incremental %s: %w", id, err)
		}
	}
	r.Checks = append(r.Checks, "full backup "+base.ID+" is present and matches its checksums")
	return r, nil
}

// baseOf reads the full backup incremental m applies to, from dir.
func baseOf(dir string, m *Manifest) (*Manifest, error) {
	bdir := filepath.Join(dir, m.Base)
	if !ValidID(m.Base) || !exists(bdir) {
		return nil, fmt.Errorf("incremental %s needs full backup %s, which is not in %s", m.ID, m.Base, dir)
	}
	base, err := readManifest(bdir)
	if err != nil {
		return nil, fmt.Errorf("incremental %s needs full backup %s: %w", m.ID, m.Base, err)
	}
	if base.Level != Full || base.Index != m.BaseIndex || base.Term != m.BaseTerm || base.Node.ID != m.Node.ID {
		return nil, fmt.Errorf("incremental %s: %s is not its full backup (index %d term %d of node %s, want index %d term %d of node %s)",
			m.ID, base.ID, base.Index, base.Term, base.Node.ID, m.BaseIndex, m.BaseTerm, m.Node.ID)
	}
	return base, nil
}

// decodeAll decrypts and decodes every file of the backup m in bdir.
func decodeAll(ctx context.Context, bdir string, m *Manifest, key *Key) error {
	if m.Level == Incremental {
		f, _ := m.file(logName)
		return readFile(bdir, m.ID, f, key, func(r io.Reader) error {
			return checkEntries(ctx, r, m.BaseIndex, m.Index, nil)
		})
	}
	if _, err := readIdentity(bdir, m, key); err != nil {
		return err
	}
	f, _ := m.file(stateName)
	err := readFile(bdir, m.ID, f, key, func(r io.Reader) error {
		var doc struct {
			Format   int                        `json:"format"`
			Index    uint64                     `json:"index"`
			Sections map[string]json.RawMessage `json:"sections"`
		}
		if err := json.NewDecoder(r).Decode(&doc); err != nil {
			return fmt.Errorf("decoding the state: %w", err)
		}
		if doc.Index > m.SnapshotIndex {
			return fmt.Errorf("the state is at index %d, after the snapshot's %d", doc.Index, m.SnapshotIndex)
		}
		for name := range m.Sections {
			if _, ok := doc.Sections[name]; !ok {
				return fmt.Errorf("the state lacks section %s", name)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	f, _ = m.file(tailName)
	return readFile(bdir, m.ID, f, key, func(r io.Reader) error {
		return checkEntries(ctx, r, m.SnapshotIndex, m.Index, nil)
	})
}

// checkEntries reads a log file and checks that it holds exactly the
// entries after..to; each is handed to fn (if not nil).
func checkEntries(ctx context.Context, r io.Reader, after, to uint64, fn func(cluster.LogEntry) error) error {
	next := after + 1
	err := readLog(r, func(e cluster.LogEntry) error {
		if e.Index != next {
			return fmt.Errorf("entry %d where %d was expected", e.Index, next)
		}
		next++
		if e.Index%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if fn != nil {
			return fn(e)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if next-1 != to {
		return fmt.Errorf("entries up to index %d, the manifest says %d", next-1, to)
	}
	return nil
}

// readIdentity decodes a full backup's node file.
func readIdentity(bdir string, m *Manifest, key *Key) (*identityDoc, error) {
	f, _ := m.file(nodeName)
	var d identityDoc
	err := readFile(bdir, m.ID, f, key, func(r io.Reader) error {
		if err := json.NewDecoder(r).Decode(&d); err != nil {
			return fmt.Errorf("decoding the node identity: %w", err)
		}
		if d.NodeID != m.Node.ID {
			return fmt.Errorf("the node identity names %q, the manifest %q", d.NodeID, m.Node.ID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &d, nil
}
