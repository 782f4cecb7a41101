//go:build unix

package cputime

import (
	"syscall"
	"time"
)

// Self is the CPU time this process has used (user + system, all threads,
// GC included); 0 when the system cannot say.
func Self() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
