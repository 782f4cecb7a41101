//go:build !unix

package buffer

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// Where flock is not available the lock only guards against a second Open
// in the same process.
var (
	lockMu sync.Mutex
	locked = map[string]bool{}
)

func lockDir(dir string) (*os.File, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	lockMu.Lock()
	defer lockMu.Unlock()
	if locked[abs] {
		return nil, fmt.Errorf("%w: %s is locked by another Open", ErrLocked, dir)
	}
	f, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening lock file: %w", err)
	}
	locked[abs] = true
	return f, nil
}

func unlockDir(dir string) {
	if abs, err := filepath.Abs(dir); err == nil {
		lockMu.Lock()
		delete(locked, abs)
		lockMu.Unlock()
	}
}
