// Package cputime measures the CPU time a process has used, for the
// benchmarks that report work per CPU-second beside wall-clock figures (a
// shared, loaded machine inflates the latter): this process's (Self),
// and on Linux another's or a process group's, read from /proc (Process,
// Group: the e2e benchmarks' nodes and the real servers beside them). It
// owns nothing else.
package cputime
