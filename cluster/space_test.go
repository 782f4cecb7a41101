package cluster

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tandemcc/tandem/internal/apierr"
)

func TestSpaceGuard(t *testing.T) {
	now := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	free := int64(100 << 20)
	g := newSpaceGuard("/data/raft", func(string) (int64, error) { return free, nil },
		func() int64 { return 16 << 20 }, func() time.Time { return now })
	if err := g.check(); err != nil || g.status() != nil {
		t.Fatalf("with 100 MiB free: %v %+v", err, g.status())
	}
	free = 1 << 20
	if err := g.check(); err != nil {
		t.Fatalf("measured again within %v: %v", spaceCheckEvery, err)
	}
	now = now.Add(spaceCheckEvery)
	err := g.check()
	if e := apierr.From(err); e.Code != apierr.NoSpace || e.Status() != 507 || e.Message != "no space left on /data/raft: free space and retry" {
		t.Fatalf("short of space: %v (%+v)", err, e)
	}
	since := now
	now = now.Add(time.Second)
	st := g.status()
	if st == nil || st.FreeBytes != 1<<20 || st.Reserve != 16<<20 || !st.Since.Equal(since) || !strings.Contains(st.Message, "free space and retry") {
		t.Fatalf("status while short: %+v", st)
	}
	free = 64 << 20
	now = now.Add(time.Second)
	if err := g.check(); err != nil || g.status() != nil {
		t.Fatalf("space again: %v %+v", err, g.status())
	}
	// Raft failing to write (the disk filled between two measures)
	// refuses at once, until a measure finds space.
	g.full()
	if g.check() == nil {
		t.Fatal("a full disk reported by Raft was not refused")
	}
	now = now.Add(spaceCheckEvery)
	if err := g.check(); err != nil {
		t.Fatalf("measured space after a failed write: %v", err)
	}
	// Where free space is not measured, writes go on.
	g = newSpaceGuard("/data/raft", func(string) (int64, error) { return 0, errors.ErrUnsupported },
		func() int64 { return 16 << 20 }, func() time.Time { return now })
	if err := g.check(); err != nil {
		t.Fatalf("unmeasured: %v", err)
	}
}

func TestIsNoSpace(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("write raft.db: %w", syscall.ENOSPC), true},
		{syscall.EDQUOT, true},
		{errors.New(`unable to store logs within log store, err: "write /d/raft/raft.db: no space left on device"`), true},
		{errors.New("leadership lost"), false},
		{nil, false},
	} {
		if got := isNoSpace(tc.err); got != tc.want {
			t.Errorf("isNoSpace(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
