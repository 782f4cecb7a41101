package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"reflect"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/tandemcc/tandem/command"
)

// entrySink records what an EntrySink and CheckpointSink are given.
type entrySink struct {
	entries []LogEntry
	cps     map[uint64][sha256.Size]byte
}

func (s *entrySink) Publish([]command.Event) {}
func (s *entrySink) Sync() error             { return nil }

func (s *entrySink) PublishEntries(es []LogEntry) {
	for _, e := range es {
		e.Data = append([]byte(nil), e.Data...)
		s.entries = append(s.entries, e)
	}
}
func (s *entrySink) Checkpoint(index uint64, sum [sha256.Size]byte) {
	if s.cps == nil {
		s.cps = map[uint64][sha256.Size]byte{}
	}
	s.cps[index] = sum
}

// An EntrySink gets every entry the FSM applies — commands refused,
// duplicated or of the cluster's own family included, configuration
// entries too — and a CheckpointSink the hash of each persisted
// snapshot document at its index; Rebuild from those entries
// reproduces the document at the checkpoint, and refuses another hash.
func TestEntryAndCheckpointSinks(t *testing.T) {
	sink := &entrySink{}
	m := newFake("kv")
	f, err := newFSM([]Machine{m}, nil, []EventSink{sink}, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := snapshotBytes(t, f) // the state the replay starts from, at index 0
	conf := raft.EncodeConfiguration(raft.Configuration{Servers: []raft.Server{{ID: "n1", Address: "a", Suffrage: raft.Voter}}})
	f.ApplyBatch([]*raft.Log{
		{Index: 1, Term: 1, Type: raft.LogConfiguration, Data: conf},
		cmdLog(2, encode(t, "kv.set", "c1", kv{"a", "1"})),
	})
	mustApply(t, f, 4, encode(t, "kv.set", "c2", kv{"b", "2"})) // 3 was Raft's own
	applyOne(t, f, 5, encode(t, "kv.refuse", "c3", nil))
	mustApply(t, f, 6, encode(t, "kv.set", "c1", kv{"a", "dup"}))
	mustApply(t, f, 7, encode(t, TypeNoop, "c4", nil))
	doc := snapshotBytes(t, f)
	mustApply(t, f, 8, encode(t, "kv.set", "c5", kv{"c", "3"}))

	var idx []uint64
	for _, e := range sink.entries {
		idx = append(idx, e.Index)
	}
	if want := []uint64{1, 2, 4, 5, 6, 7, 8}; !reflect.DeepEqual(idx, want) {
		t.Fatalf("entries %v, want %v", idx, want)
	}
	sum, ok := sink.cps[7]
	if !ok || sum != sha256.Sum256(doc) || len(sink.cps) != 1 {
		t.Fatalf("checkpoints %v: want the snapshot document's hash at 7", sink.cps)
	}
	rebuild := func(want string) (*Rebuilt, error) {
		return Rebuild(context.Background(), RebuildInput{State: start, Index: 0, Term: 1, Machines: []Machine{newFake("kv")},
			Checkpoints: map[uint64]string{7: want},
			Entries: func(fn func(LogEntry) error) error {
				next := uint64(1)
				for _, e := range sink.entries {
					for ; next < e.Index; next++ { // the gaps, as the backup journal fills them
						if err := fn(LogEntry{Index: next, Term: e.Term, Type: raft.LogNoop}); err != nil {
							return err
						}
					}
					next++
					if err := fn(e); err != nil {
						return err
					}
				}
				return nil
			}})
	}
	r, err := rebuild(hex.EncodeToString(sum[:]))
	if err != nil || !reflect.DeepEqual(r.Checked, []uint64{7}) || r.Index != 8 {
		t.Fatalf("rebuild: %v, checked %v", err, r)
	}
	if _, err := rebuild(hex.EncodeToString(make([]byte, 32))); !errors.Is(err, ErrReplayDiffers) {
		t.Fatalf("rebuild against another hash: %v", err)
	}
}
