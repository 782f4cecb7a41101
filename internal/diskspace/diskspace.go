// Package diskspace measures the free space of a filesystem, for the
// stores that must refuse work before the disk is full (the Raft log,
// the replication buffer). It holds no state.
package diskspace

import "errors"

// ErrUnsupported is returned by Free where free space is not measured;
// callers then accept.
var ErrUnsupported = errors.ErrUnsupported
