package cluster

import (
	"fmt"
	"sync"

	"github.com/hashicorp/raft"
	"github.com/klauspost/compress/s2"

	"github.com/tandemcc/tandem/command"
)

// A command's Raft log entry is its envelope as command.Encode writes it,
// or, for a large one, that envelope compressed: entryS2 and an S2 block
// (klauspost/compress). Envelopes are JSON objects and begin with '{', so
// the two cannot be confused. A mail batch of 1,000 messages is ~220 KB
// of JSON and ~40 KB compressed: every member's log writes (bbolt
// rewrites the last leaf whole, several entries at a time), the
// transport's copies and the leader's sends shrink with it, for ~0.1 ms
// of compression on the leader and ~0.05 ms of decompression on each
// member (bench/README.md, "Mail ingestion").
//
// Only the Raft log and its transport carry the compressed form: the FSM
// decompresses before it decodes (the payload read in place in the new
// buffer: command.DecodeOwned), and the entries it hands on (the backup
// journal) and the log a backup reads are the envelopes themselves, as
// before.
const entryS2 = 0x01

// LogFormat is the highest entry format this build reads: 1, envelopes
// and S2-compressed envelopes. Each member records it in its NodeMeta;
// the leader compresses only when every server of the configuration has
// recorded at least 1, so a member of an older build (which would refuse
// what it cannot decode, and diverge) is never sent a new one. A member
// of an earlier build that joins, or one downgraded, after compressed
// entries were written refuses those still in the log as it refuses any
// command of a newer build; the state check finds it.
const LogFormat = 1

// compressAbove is the envelope size from which the leader compresses an
// entry: below it the saving is a few hundred bytes, not worth a second
// buffer.
const compressAbove = 8 << 10

// packEntry returns the log entry of an encoded envelope: data itself,
// or data compressed when it is large and compress allows it. It
// compresses into a buffer from scratch (sized for the worst case,
// reused) and returns an exact copy: Raft's log cache holds the last 512
// entries, and a buffer of the worst case's size would keep about three
// times what a mail batch compresses to (bench/README.md, "Mail
// ingestion").
func packEntry(data []byte, compress bool, scratch *sync.Pool) []byte {
	need := s2.MaxEncodedLen(len(data))
	if !compress || len(data) < compressAbove || need < 0 {
		return data
	}
	bp, _ := scratch.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	if cap(*bp) < need {
		*bp = make([]byte, need)
	}
	enc := s2.Encode((*bp)[:need], data)
	out := make([]byte, 1+len(enc))
	out[0] = entryS2
	copy(out[1:], enc)
	scratch.Put(bp)
	return out
}

// isPacked reports whether a command entry's data is compressed (its
// envelope, unpacked, is a new buffer).
func isPacked(data []byte) bool { return len(data) > 0 && data[0] == entryS2 }

// unpackEntry returns the envelope of a command entry's data.
func unpackEntry(data []byte) ([]byte, error) {
	if !isPacked(data) {
		return data, nil
	}
	// The block states its decoded length first: bounded before anything
	// is allocated, so a damaged entry cannot ask for gigabytes.
	n, err := s2.DecodedLen(data[1:])
	if err != nil {
		return nil, fmt.Errorf("decompressing a log entry: %w", err)
	}
	if n > maxUnpacked {
		return nil, fmt.Errorf("decompressing a log entry: %d bytes, more than an envelope may hold (%d)", n, maxUnpacked)
	}
	out, err := s2.Decode(nil, data[1:])
	if err != nil {
		return nil, fmt.Errorf("decompressing a log entry: %w", err)
	}
	return out, nil
}

// maxUnpacked bounds a decompressed entry: an envelope is its payload
// (at most command.MaxPayload) and a few short fields.
const maxUnpacked = 2 * command.MaxPayload

// unpackLog returns l's data as the FSM and the entry sinks read it: a
// command's envelope, decompressed; any other entry's data as it is.
func unpackLog(l *raft.Log) ([]byte, error) {
	if l.Type != raft.LogCommand {
		return l.Data, nil
	}
	return unpackEntry(l.Data)
}

// compressible reports whether every server of the current configuration
// has recorded that it reads compressed entries.
func (s *Store) compressible() bool {
	return readsCompressed(s.fsm.formats.Load(), s.raft.GetConfiguration().Configuration().Servers)
}

// readsCompressed reports whether formats (NodeMeta.LogFormat by member)
// has every one of servers at LogFormat or above.
func readsCompressed(formats *map[string]int, servers []raft.Server) bool {
	if formats == nil || len(servers) == 0 {
		return false
	}
	for _, srv := range servers {
		if (*formats)[string(srv.ID)] < LogFormat {
			return false
		}
	}
	return true
}

// noteFormats publishes the members' recorded log formats for
// compressible, after st.Nodes changed (under f.mu).
func (f *fsm) noteFormats() {
	m := make(map[string]int, len(f.st.Nodes))
	for id, n := range f.st.Nodes {
		m[id] = n.LogFormat
	}
	f.formats.Store(&m)
}
