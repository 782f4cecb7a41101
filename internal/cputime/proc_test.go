//go:build linux

package cputime

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// TestProcessAndGroup: a child spinning in a process group of its own
// shows as CPU time used, by its pid and by its group; this process is
// not in that group.
func TestProcessAndGroup(t *testing.T) {
	self, err := Process(os.Getpid())
	if err != nil || self <= 0 {
		t.Fatalf("Process(self) = %v, %v", self, err)
	}
	cmd := exec.Command("sh", "-c", `end=$(($(date +%s) + 2)); while [ "$(date +%s)" -lt "$end" ]; do :; done`)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	pid := cmd.Process.Pid
	deadline := time.Now().Add(5 * time.Second)
	for {
		p, perr := Process(pid)
		g, gerr := Group(pid)
		if perr != nil || gerr != nil {
			t.Fatalf("Process %v %v, Group %v %v", p, perr, g, gerr)
		}
		if p > 10*time.Millisecond && g >= p {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the spinning child used %v (its group %v) after 5 s", p, g)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if g, err := Group(syscall.Getpgrp()); err != nil || g < self {
		t.Fatalf("this process's own group used %v (%v), itself %v before", g, err, self)
	}
	if _, err := Process(1 << 30); err == nil {
		t.Fatal("Process of no process: no error")
	}
}
