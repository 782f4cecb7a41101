//go:build !unix

package cputime

import "time"

// Self is 0 where getrusage is missing: benchmarks then print no CPU
// figure.
func Self() time.Duration { return 0 }
