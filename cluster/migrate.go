package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
	"github.com/hashicorp/raft-wal/migrate"
)

// MigrateResult says what MigrateLog copied.
type MigrateResult struct {
	First, Last uint64 // log indexes copied ([0, 0] for an empty log)
	Kept        string // where the old raft-wal directory now is
}

// MigrateLog copies a stopped node's Raft log and stable store from the
// raft-wal format of earlier builds into the bbolt store this build uses
// (`tandemctl cluster migrate-log`). Snapshots are left where they are: the
// format of the snapshot store did not change. The old directory is kept,
// renamed, never deleted. progress, when not nil, receives a line per step.
//
// A raft-wal directory damaged by raft-wal's tail-truncation bug (a sealed
// segment without its index block) cannot be read; MigrateLog then says
// how to rebuild the node from the cluster instead.
func MigrateLog(ctx context.Context, dataDir string, progress io.Writer) (MigrateResult, error) {
	var res MigrateResult
	if _, err := ReadIdentity(dataDir); err != nil {
		return res, fmt.Errorf("%s does not hold a Tandem node: %w", dataDir, err)
	}
	raftDir := filepath.Join(dataDir, raftDirName)
	src := filepath.Join(raftDir, legacyWALName)
	dst := filepath.Join(raftDir, logFileName)
	if _, err := os.Stat(dst); err == nil {
		return res, fmt.Errorf("%s already holds a raft log in the current format (%s); nothing to migrate", dataDir, dst)
	}
	if err := checkLegacyLog(dataDir); !errors.Is(err, ErrLegacyLog) {
		if err != nil {
			return res, err
		}
		return res, fmt.Errorf("%s holds no raft-wal log (%s); nothing to migrate", dataDir, src)
	}
	if err := checkUnlocked(filepath.Join(src, "wal-meta.db")); err != nil {
		return res, err
	}
	say := func(format string, args ...any) {
		if progress != nil {
			fmt.Fprintf(progress, format+"\n", args...)
		}
	}

	old, err := openWAL(src)
	if err != nil {
		return res, err
	}
	defer func() {
		if old != nil {
			old.Close()
		}
	}()
	tmp := dst + ".migrating"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return res, fmt.Errorf("removing an earlier attempt %s: %w", tmp, err)
	}
	next, err := openBoltLogFile(tmp)
	if err != nil {
		return res, err
	}
	if res.First, err = old.FirstIndex(); err == nil {
		res.Last, err = old.LastIndex()
	}
	if err != nil {
		next.Close()
		return res, fmt.Errorf("reading the raft-wal log in %s: %w", src, err)
	}
	say("copying log entries %d..%d from %s", res.First, res.Last, src)
	if err := copyLog(ctx, next, old); err != nil {
		next.Close()
		os.Remove(tmp)
		return res, err
	}
	if err := next.Close(); err != nil {
		os.Remove(tmp)
		return res, fmt.Errorf("closing %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return res, fmt.Errorf("installing %s: %w", dst, err)
	}
	if err := syncDir(raftDir); err != nil {
		return res, err
	}
	old.Close()
	old = nil
	res.Kept = fmt.Sprintf("%s.migrated-%s", src, time.Now().UTC().Format("20060102T150405Z"))
	if err := os.Rename(src, res.Kept); err != nil {
		return res, fmt.Errorf("keeping the old log as %s: %w", res.Kept, err)
	}
	if err := syncDir(raftDir); err != nil {
		return res, err
	}
	say("log and stable store copied to %s; the old log is kept in %s", dst, res.Kept)
	return res, nil
}

// legacyWAL is a raft-wal store together with its metadata database:
// raft-wal's own Close leaves that database (and its file lock) open.
type legacyWAL struct {
	*wal.WAL
	meta *metadb.BoltMetaDB
}

func (w *legacyWAL) Close() error {
	err := w.WAL.Close()
	if merr := w.meta.Close(); err == nil {
		err = merr
	}
	return err
}

// openWAL opens a raft-wal directory. raft-wal panics on a directory that
// its tail-truncation bug left behind; that becomes an error here.
func openWAL(dir string) (w *legacyWAL, err error) {
	meta := &metadb.BoltMetaDB{}
	defer func() {
		if err != nil {
			meta.Close()
		}
	}()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("the raft-wal log in %s cannot be read (%v): it was damaged by raft-wal's tail-truncation bug. "+
				"Rebuild this node from the cluster: move %s aside and start tandemd with the same --node-id and --join ADMIN_ADDR of a member; "+
				"or restore a backup", dir, p, filepath.Dir(dir))
		}
	}()
	lw, err := wal.Open(dir, wal.WithLogger(hclog.NewNullLogger()), wal.WithMetaStore(meta))
	if err != nil {
		return nil, fmt.Errorf("opening the raft-wal log in %s: %w", dir, err)
	}
	return &legacyWAL{WAL: lw, meta: meta}, nil
}

// copyLog copies the stable store and every log entry from old to next.
// raft-wal panics while reading a damaged segment; that becomes an error.
func copyLog(ctx context.Context, next logStore, old *legacyWAL) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("reading the raft-wal log: %v", p)
		}
	}()
	if err := migrate.CopyStable(ctx, next, old, nil, nil, nil); err != nil {
		return fmt.Errorf("copying the stable store: %w", err)
	}
	if err := migrate.CopyLogs(ctx, next, old, 1<<20, nil); err != nil {
		return fmt.Errorf("copying the log: %w", err)
	}
	return nil
}

// checkUnlocked fails when a running process holds the bbolt file lock on
// path (a tandemd of an earlier build still running on the data dir).
func checkUnlocked(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("opening %s: %w", path, err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return fmt.Errorf("%s is locked (%v): stop the tandemd running on this data dir first", path, err)
	}
	return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}
