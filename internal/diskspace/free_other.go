//go:build !linux

package diskspace

// Free is not measured on this platform.
func Free(path string) (int64, error) { return 0, ErrUnsupported }
