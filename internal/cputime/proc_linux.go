//go:build linux

package cputime

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Process is the CPU time another process has used: the sum of its
// threads' time on a CPU (/proc/<pid>/task/*/schedstat, in nanoseconds;
// a thread that has exited is not counted, and the Go runtime keeps its
// threads).
func Process(pid int) (time.Duration, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("reading the threads of process %d: %w", pid, err)
	}
	var sum time.Duration
	for _, task := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, task.Name(), "schedstat"))
		if err != nil {
			continue // exited since the listing
		}
		f := bytes.Fields(b)
		if len(f) == 0 {
			return 0, fmt.Errorf("process %d's schedstat %q", pid, b)
		}
		v, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("process %d's schedstat %q: %w", pid, b, err)
		}
		sum += time.Duration(v)
	}
	return sum, nil
}

// Group is the CPU time the processes of process group pgid now running
// have used (Process of each): a server that forks a process a session,
// started in a group of its own. A process that has exited is not
// counted.
func Group(pgid int) (time.Duration, error) {
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, fmt.Errorf("listing processes: %w", err)
	}
	var sum time.Duration
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", p.Name(), "stat"))
		if err != nil {
			continue // exited since the listing
		}
		// pid (comm) state ppid pgrp …: comm may hold spaces and
		// parentheses, so the fields are counted after its last ')'.
		i := bytes.LastIndexByte(b, ')')
		f := bytes.Fields(b[i+1:])
		if i < 0 || len(f) < 3 {
			return 0, fmt.Errorf("process %d's stat %q", pid, b)
		}
		if g, err := strconv.Atoi(string(f[2])); err != nil || g != pgid {
			continue
		}
		d, err := Process(pid)
		if err != nil {
			continue // exited since its stat was read
		}
		sum += d
	}
	return sum, nil
}
