//go:build !linux

package buffer

import "errors"

// FreeSpace is not measured on this platform: CheckSpace then accepts.
func FreeSpace(path string) (int64, error) { return 0, errors.ErrUnsupported }
