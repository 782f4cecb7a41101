//go:build unix

package cluster_test

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time this process has used (user + system, all
// threads, GC included). Benchmarks report decisions per CPU-second
// beside the wall-clock figure, which a shared, loaded machine inflates.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
