package buffer

import "github.com/tandemcc/tandem/internal/diskspace"

// FreeSpace returns the bytes available to an unprivileged process on the
// filesystem holding path (package diskspace); where that is not
// measured it fails with errors.ErrUnsupported and CheckSpace accepts.
func FreeSpace(path string) (int64, error) { return diskspace.Free(path) }
