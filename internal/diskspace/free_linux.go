//go:build linux

package diskspace

import (
	"fmt"
	"syscall"
)

// Free returns the bytes available to an unprivileged process on the
// filesystem holding path (statfs(2): f_bavail × f_bsize). Blocks reserved
// for root are not counted, so the check is the same whoever runs tandemd.
func Free(path string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", path, err)
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}
