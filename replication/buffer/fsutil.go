package buffer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/tandemcc/tandem/replication/internal/recio"
)

// writeFileAtomic replaces dir/name with data: temp file, fsync, rename,
// fsync of the directory. A crash leaves either the old or the new file
// (and perhaps a *.tmp file, which Open removes).
func writeFileAtomic(dir, name string, data []byte) error {
	if err := recio.ReplaceFile(dir, name, data); err != nil {
		return err
	}
	return syncDir(dir)
}

// writeJSONAtomic is writeFileAtomic of v's JSON encoding.
func writeJSONAtomic(dir, name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", name, err)
	}
	return writeFileAtomic(dir, name, append(b, '\n'))
}

// readJSON decodes dir/name into v; it reports false when the file does
// not exist.
func readJSON(dir, name string, v any) (bool, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", name, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("%w: %s: %v", ErrCorrupt, filepath.Join(dir, name), err)
	}
	return true, nil
}

// syncDir makes creations, renames and removals in dir durable.
func syncDir(dir string) error {
	if err := recio.SyncDir(dir); err != nil {
		return fmt.Errorf("syncing directory: %w", err)
	}
	return nil
}

// allZero reports whether r holds only zero bytes (a preallocated or
// zero-filled tail), reading with a fixed buffer.
func allZero(r io.Reader) (bool, error) {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		for _, c := range buf[:n] {
			if c != 0 {
				return false, nil
			}
		}
		if err == io.EOF {
			return true, nil
		}
		if err != nil {
			return false, err
		}
	}
}
