package cluster

import (
	"crypto/sha256"

	"github.com/hashicorp/raft"
)

// What a node's backup journal (package backup, backup/journal.go)
// needs of the apply path, beside the events every sink gets: the
// committed entries themselves, and the hash of each snapshot document
// the node persists. Both are optional interfaces of an EventSink, so a
// node without backups pays nothing.

// EntrySink is an EventSink that keeps every entry the FSM applies
// (LogCommand and LogConfiguration: Raft hands the FSM no other kind).
// PublishEntries is called after every batch, outside the FSM lock,
// in log order and before the batch's events are published; the
// entries' Data must not be kept after it returns. Indexes the FSM never
// sees (Raft's no-op and barrier entries, which change no state) are
// gaps between batches. A state replaced by a snapshot is told through
// RestoreSink.
type EntrySink interface {
	EventSink
	PublishEntries(entries []LogEntry)
}

// CheckpointSink is an EventSink that hears the SHA-256 of every
// snapshot document this node persists, with the applied index it is
// at: Rebuild reproduces the same document from the entries up to that
// index (RebuildInput.Checkpoints). It is called from Raft's snapshot
// goroutine, after the snapshot is stored, while entries after index
// may already be applying.
type CheckpointSink interface {
	EventSink
	Checkpoint(index uint64, sum [sha256.Size]byte)
}

// publishEntries hands the batch's entries to the entry sinks, with data[i]
// as logs[i]'s data (a command's envelope, decompressed: entry.go).
func publishEntries(sinks []EventSink, logs []*raft.Log, data [][]byte) {
	var entries []LogEntry
	for _, s := range sinks {
		es, ok := s.(EntrySink)
		if !ok {
			continue
		}
		if entries == nil {
			entries = make([]LogEntry, 0, len(logs))
			for i, l := range logs {
				if l.Type == raft.LogCommand || l.Type == raft.LogConfiguration {
					entries = append(entries, LogEntry{Index: l.Index, Term: l.Term, Type: l.Type, Data: data[i]})
				}
			}
		}
		es.PublishEntries(entries)
	}
}

func checkpoint(sinks []EventSink, index uint64, doc []byte) {
	var sum *[sha256.Size]byte
	for _, s := range sinks {
		cs, ok := s.(CheckpointSink)
		if !ok || index == 0 {
			continue
		}
		if sum == nil {
			h := sha256.Sum256(doc)
			sum = &h
		}
		cs.Checkpoint(index, *sum)
	}
}
