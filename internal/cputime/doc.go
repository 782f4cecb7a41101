// Package cputime measures the CPU time a process has used, for the
// benchmarks that report work per CPU-second beside wall-clock figures (a
// shared, loaded machine inflates the latter). It owns nothing else.
package cputime
