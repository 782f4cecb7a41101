//go:build !linux

package cputime

import (
	"errors"
	"time"
)

var errNoProc = errors.New("another process's CPU time is read from Linux's /proc")

// Process is Linux's only (proc_linux.go).
func Process(pid int) (time.Duration, error) { return 0, errNoProc }

// Group is Linux's only (proc_linux.go).
func Group(pgid int) (time.Duration, error) { return 0, errNoProc }
