package cluster

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/hashicorp/raft"
)

// writtenBytes is this process's bytes passed to write syscalls so far
// (/proc/self/io wchar), or -1 where that file cannot be read.
func writtenBytes() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	for line := range bytes.Lines(b) {
		if v, ok := bytes.CutPrefix(line, []byte("wchar:")); ok {
			n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

// BenchmarkBoltStoreLogs appends one entry a commit to the bbolt log, as
// the leader and each follower do for every mail batch, and reports the
// bytes written per byte of entry. bbolt rewrites a modified leaf whole,
// and splits a leaf only when it holds more than four keys: entries larger
// than a page share the last leaf three to five at a time, so each commit
// writes several of them again (bench/README.md, "Mail ingestion").
//
//	go test -run '^$' -bench BenchmarkBoltStoreLogs ./cluster/
func BenchmarkBoltStoreLogs(b *testing.B) {
	for _, size := range []int{1_000, 20_000, 200_000} {
		b.Run(fmt.Sprintf("entry=%d", size), func(b *testing.B) {
			s, err := openBoltLogFile(filepath.Join(b.TempDir(), "raft.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			data := bytes.Repeat([]byte("abcdefghijklmnopqrstuvwxyz"), size/26+1)[:size]
			b.SetBytes(int64(size))
			w0 := writtenBytes()
			index := uint64(0)
			for b.Loop() {
				index++
				if err := s.StoreLogs([]*raft.Log{{Index: index, Term: 1, Type: raft.LogCommand, Data: data}}); err != nil {
					b.Fatal(err)
				}
			}
			if w1 := writtenBytes(); w0 >= 0 && w1 >= 0 && index > 0 {
				b.ReportMetric(float64(w1-w0)/float64(index)/float64(size), "written/entry-byte")
			}
		})
	}
}
