package cluster

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// logStore is what Raft keeps on disk besides its snapshots: the log and
// the stable store (current term, vote). One bbolt file holds both
// (DESIGN.md, "Storage").
type logStore interface {
	raft.LogStore
	raft.StableStore
	io.Closer
}

// Paths inside <data-dir>/raft.
const (
	raftDirName   = "raft"
	logFileName   = "raft.db" // raft-boltdb: log + stable store
	legacyWALName = "wal"     // raft-wal, written by builds before issue 9
)

// storageLockWait bounds how long opening the raft log waits for its file
// lock: bbolt's Open waits for the lock while another process (a running
// tandemd) holds it.
var storageLockWait = 5 * time.Second

// ErrLegacyLog means the data dir holds a Raft log in the raft-wal format
// of earlier builds. It is never read as an empty log (that would
// bootstrap a new cluster over the old one's data).
var ErrLegacyLog = errors.New("raft log in the old raft-wal format")

// openBoltLog opens (creating it if needed) the bbolt log store in dir.
func openBoltLog(dir string) (logStore, error) {
	return openBoltLogFile(filepath.Join(dir, logFileName))
}

func openBoltLogFile(path string) (logStore, error) {
	s, err := raftboltdb.New(raftboltdb.Options{
		Path: path,
		BoltOptions: &bolt.Options{
			Timeout: storageLockWait,
			// The map freelist keeps commits cheap as the file's free
			// pages grow with log compaction (Consul and Nomad do the same).
			FreelistType: bolt.FreelistMapType,
		},
		MsgpackUseNewTimeFormat: true,
	})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("opening raft log %s: still locked after %v; is another tandemd running on this data dir? stop it first", path, storageLockWait)
	}
	if err != nil {
		return nil, fmt.Errorf("opening raft log %s: %w", path, err)
	}
	return s, nil
}

// checkLegacyLog refuses a data dir whose Raft log is still in the raft-wal
// format and has not been migrated: starting on it would find no log in the
// new store and bootstrap (or join as) a new, empty node.
func checkLegacyLog(dataDir string) error {
	raftDir := filepath.Join(dataDir, raftDirName)
	if _, err := os.Stat(filepath.Join(raftDir, logFileName)); err == nil {
		return nil // migrated (or new): the bbolt store is authoritative
	}
	entries, err := os.ReadDir(filepath.Join(raftDir, legacyWALName))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("checking %s for an old raft log: %w", raftDir, err)
	}
	if len(entries) == 0 {
		return nil // an empty directory holds no state
	}
	return fmt.Errorf("%w in %s: stop this node and run `tandemctl cluster migrate-log --data-dir %s` once, or restore a backup into a new data dir",
		ErrLegacyLog, filepath.Join(raftDir, legacyWALName), dataDir)
}
