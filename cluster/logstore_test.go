package cluster

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

// truncCase is one life of a log store: entries appended in batches, an
// optional head compaction (a snapshot), a tail range deleted (a new
// leader clearing a follower's uncommitted suffix), new entries of a later
// term appended after it, then close and reopen.
type truncCase struct {
	name      string
	n         uint64 // entries appended first: 1..n
	batch     int    // entries per StoreLogs
	size      int    // bytes of data per entry (crosses bbolt pages when large)
	head      uint64 // delete [1, head] before the tail (0: none)
	tail      uint64 // delete [tail, n]
	reappend  uint64 // then append this many entries from tail on, term 2
	reopenMid bool   // close and reopen between the deletion and the re-append
}

func (c truncCase) String() string {
	return fmt.Sprintf("n=%d batch=%d size=%d head=%d tail=%d reappend=%d reopen-mid=%v",
		c.n, c.batch, c.size, c.head, c.tail, c.reappend, c.reopenMid)
}

// entryData is the deterministic content of entry (index, term).
func entryData(index, term uint64, size int) []byte {
	b := make([]byte, size)
	binary.LittleEndian.PutUint64(b, index)
	binary.LittleEndian.PutUint64(b[8:], term)
	for i := 16; i < size; i++ {
		b[i] = byte(index*31 + term*7 + uint64(i))
	}
	return b
}

func storeRange(t *testing.T, s logStore, from, to, term uint64, batch, size int) {
	t.Helper()
	for i := from; i <= to; {
		var logs []*raft.Log
		for ; i <= to && len(logs) < batch; i++ {
			logs = append(logs, &raft.Log{Index: i, Term: term, Type: raft.LogCommand, Data: entryData(i, term, size)})
		}
		if err := s.StoreLogs(logs); err != nil {
			t.Fatalf("StoreLogs up to %d: %v", i-1, err)
		}
	}
}

// runTruncCase plays c against the store that open returns and checks,
// after the last reopen, the range and every entry in it.
func runTruncCase(t *testing.T, open func(dir string) (logStore, error), c truncCase) {
	t.Helper()
	dir := t.TempDir()
	s, err := open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	reopen := func() {
		t.Helper()
		if err := s.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		if s, err = open(dir); err != nil {
			t.Fatalf("reopen: %v", err)
		}
	}
	if err := s.SetUint64([]byte("CurrentTerm"), 2); err != nil {
		t.Fatal(err)
	}
	if err := s.Set([]byte("LastVoteCand"), []byte("n2")); err != nil {
		t.Fatal(err)
	}
	storeRange(t, s, 1, c.n, 1, c.batch, c.size)
	first := uint64(1)
	if c.head > 0 {
		if err := s.DeleteRange(1, c.head); err != nil {
			t.Fatalf("DeleteRange head [1, %d]: %v", c.head, err)
		}
		first = c.head + 1
	}
	if err := s.DeleteRange(c.tail, c.n); err != nil {
		t.Fatalf("DeleteRange tail [%d, %d]: %v", c.tail, c.n, err)
	}
	if c.reopenMid {
		reopen()
	}
	last := c.tail - 1
	if c.reappend > 0 {
		storeRange(t, s, c.tail, c.tail+c.reappend-1, 2, c.batch, c.size)
		last = c.tail + c.reappend - 1
	}
	reopen()

	if last < first { // everything deleted
		first, last = 0, 0
	}
	if got, err := s.FirstIndex(); err != nil || got != first {
		t.Fatalf("FirstIndex = %d, %v; want %d", got, err, first)
	}
	if got, err := s.LastIndex(); err != nil || got != last {
		t.Fatalf("LastIndex = %d, %v; want %d", got, err, last)
	}
	for i := first; i <= last && i > 0; i++ {
		var l raft.Log
		if err := s.GetLog(i, &l); err != nil {
			t.Fatalf("GetLog(%d): %v", i, err)
		}
		term := uint64(1)
		if i >= c.tail {
			term = 2
		}
		if l.Index != i || l.Term != term || !bytes.Equal(l.Data, entryData(i, term, c.size)) {
			t.Fatalf("GetLog(%d) = index %d term %d, %d bytes; want term %d and its data", i, l.Index, l.Term, len(l.Data), term)
		}
	}
	for _, i := range []uint64{last + 1, max(c.n, last) + 1} {
		var l raft.Log
		if err := s.GetLog(i, &l); !errors.Is(err, raft.ErrLogNotFound) {
			t.Fatalf("GetLog(%d) past the end = %v; want ErrLogNotFound", i, err)
		}
	}
	if first > 1 {
		var l raft.Log
		if err := s.GetLog(first-1, &l); !errors.Is(err, raft.ErrLogNotFound) {
			t.Fatalf("GetLog(%d) before the start = %v; want ErrLogNotFound", first-1, err)
		}
	}
	if v, err := s.GetUint64([]byte("CurrentTerm")); err != nil || v != 2 {
		t.Fatalf("CurrentTerm = %d, %v after reopen; want 2", v, err)
	}
	if v, err := s.Get([]byte("LastVoteCand")); err != nil || string(v) != "n2" {
		t.Fatalf("LastVoteCand = %q, %v after reopen; want n2", v, err)
	}
}

// truncCases are the fixed edge cases and seeded random ones.
func truncCases(random int, seed uint64) []truncCase {
	cases := []truncCase{
		{name: "last entry only", n: 100, batch: 10, size: 64, tail: 100},
		{name: "everything", n: 100, batch: 10, size: 64, tail: 1},
		{name: "everything after compaction", n: 100, batch: 10, size: 64, head: 50, tail: 51},
		{name: "one batch boundary", n: 100, batch: 10, size: 64, tail: 41, reappend: 5},
		{name: "mid batch, reopen between", n: 100, batch: 10, size: 64, tail: 37, reappend: 30, reopenMid: true},
		{name: "overflow pages", n: 60, batch: 7, size: 9000, tail: 20, reappend: 10},
		{name: "one entry a batch", n: 300, batch: 1, size: 200, head: 120, tail: 250, reappend: 3},
	}
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	sizes := []int{16, 100, 1000, 4000, 5000, 20000}
	for i := 0; i < random; i++ {
		c := truncCase{name: fmt.Sprintf("random %d", i)}
		c.n = 1 + r.Uint64N(1500)
		c.batch = 1 + r.IntN(256)
		c.size = sizes[r.IntN(len(sizes))]
		if c.size >= 4000 && c.n > 200 {
			c.n = 1 + r.Uint64N(200)
		}
		if r.IntN(3) == 0 && c.n > 2 {
			c.head = 1 + r.Uint64N(c.n-1)
		}
		c.tail = c.head + 1 + r.Uint64N(c.n-c.head)
		if r.IntN(4) != 0 {
			c.reappend = r.Uint64N(400)
		}
		c.reopenMid = r.IntN(2) == 0
		cases = append(cases, c)
	}
	return cases
}

// TestLogStoreTruncateReopen: a log store whose tail was deleted (a new
// leader clearing an uncommitted suffix) reopens and reads every entry.
// raft-wal v0.4.0 fails it (issue 9); the store this build uses must not.
func TestLogStoreTruncateReopen(t *testing.T) {
	random := 40
	if testing.Short() {
		random = 8
	}
	for _, c := range truncCases(random, 20261203) {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			t.Log(c)
			runTruncCase(t, openBoltLog, c)
		})
	}
}

// TestLegacyLogRefused: a data dir whose log is still in raft-wal format is
// refused, never opened as an empty log; an empty or absent wal directory
// is no state, and a migrated dir (raft.db present) opens.
func TestLegacyLogRefused(t *testing.T) {
	dir := t.TempDir()
	walDir := filepath.Join(dir, raftDirName, legacyWALName)
	if err := checkLegacyLog(dir); err != nil {
		t.Fatalf("no raft dir: %v", err)
	}
	if err := os.MkdirAll(walDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := checkLegacyLog(dir); err != nil {
		t.Fatalf("empty wal dir: %v", err)
	}
	if err := os.WriteFile(filepath.Join(walDir, "wal-meta.db"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := checkLegacyLog(dir)
	if !errors.Is(err, ErrLegacyLog) || !strings.Contains(err.Error(), "tandemctl cluster migrate-log --data-dir "+dir) {
		t.Fatalf("legacy dir: %v; want ErrLegacyLog naming the migrate command", err)
	}
	if err := os.WriteFile(filepath.Join(dir, raftDirName, logFileName), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := checkLegacyLog(dir); err != nil {
		t.Fatalf("migrated dir: %v", err)
	}
}
