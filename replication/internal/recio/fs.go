package recio

import (
	"fmt"
	"os"
	"path/filepath"
)

// SyncDir makes creations, renames and removals in dir durable. Its error
// is not wrapped: the caller says what it was doing.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// ReplaceFile replaces dir/name with data: it writes dir/name.tmp, fsyncs
// and closes it, and renames it over dir/name; on failure it removes the
// temporary file and returns "writing <name>: …". The rename is durable
// only after SyncDir(dir), which is the caller's: a crash before leaves
// either the old or the new file, and perhaps a *.tmp file to remove at
// the next open.
func ReplaceFile(dir, name string, data []byte) error {
	path := filepath.Join(dir, name)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}
