// Package tmpfstest mounts small tmpfs filesystems for tests that need a
// real full disk (ENOSPC from the kernel, not from a mock). Mounting needs
// root (CAP_SYS_ADMIN); without it the test is skipped with the reason.
package tmpfstest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Mount mounts a tmpfs of size bytes on a new directory and returns it.
// It is unmounted in t.Cleanup (registered now, so it runs after the
// cleanups the test registers later, e.g. closing files on it). Without
// root, or where mounting is not permitted, the test is skipped and says
// why.
func Mount(t testing.TB, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs as a full disk (CI runs `make test` as root); the injected-failure tests cover the same paths")
	}
	dir := filepath.Join(t.TempDir(), "tmpfs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v): not permitted in this environment", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			// Something still holds a file open: detach, so the test
			// machine is not left with the mount.
			if errors.Is(err, syscall.EBUSY) {
				err = syscall.Unmount(dir, syscall.MNT_DETACH)
			}
			if err != nil {
				t.Errorf("unmounting %s: %v", dir, err)
			}
		}
	})
	return dir
}

// Fill writes a file of zeros to path until the filesystem is full and
// returns how many bytes it wrote. The write that fails must fail with
// ENOSPC.
func Fill(t testing.TB, path string) int64 {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	var n int64
	for i := 0; i < 1<<20; i++ { // bounded: 4 GiB at most
		w, err := f.Write(buf)
		n += int64(w)
		if errors.Is(err, syscall.ENOSPC) {
			return n
		}
		if err != nil {
			t.Fatalf("filling %s: %v", path, err)
		}
	}
	t.Fatalf("filling %s: never ran out of space", path)
	return n
}
