package backup

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/tandemcc/tandem/cluster"
)

// journalBytes is a journal file: a header, then entries and a
// checkpoint.
func journalBytes(entries []cluster.LogEntry, cp uint64) []byte {
	hb, _ := json.Marshal(journalHeader{Full: "20260501T020000Z-n1-full", Base: 1, BaseTerm: 1, Max: 1 << 20})
	b := appendRecord([]byte(journalMagic), recHeader, hb)
	for _, e := range entries {
		b = appendRecord(b, recEntry, encodeEntry(nil, e))
	}
	return appendRecord(b, recCheckpoint, encodeCheckpoint(cp, sha256.Sum256([]byte("doc"))))
}

// FuzzJournalScan feeds arbitrary bytes to the journal's reader: it
// never panics, every record it hands over decodes as written, and the
// offsets it reports grow and stay within the input. A well-formed file
// reads back exactly.
func FuzzJournalScan(f *testing.F) {
	entries := []cluster.LogEntry{
		{Index: 2, Term: 1, Type: raft.LogCommand, Data: []byte(`{"type":"cluster.noop"}`)},
		{Index: 5, Term: 2, Type: raft.LogConfiguration, Data: []byte{1, 2, 3}},
		{Index: 6, Term: 2, Type: raft.LogCommand},
	}
	good := journalBytes(entries, 5)
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add([]byte(journalMagic))
	f.Add([]byte("garbage"))
	flipped := append([]byte(nil), good...)
	flipped[len(journalMagic)+5] ^= 0x40
	f.Add(flipped)
	f.Fuzz(func(t *testing.T, b []byte) {
		var last int64
		var got []cluster.LogEntry
		err := scanJournal(bufio.NewReader(bytes.NewReader(b)), func(kind byte, p []byte, off int64) error {
			if off <= last || off > int64(len(b)) {
				t.Fatalf("offset %d after %d, input %d bytes", off, last, len(b))
			}
			last = off
			switch kind {
			case recEntry:
				if e, err := decodeEntry(p); err == nil {
					if !bytes.Equal(encodeEntry(nil, e), p) {
						t.Fatalf("entry %+v does not encode back", e)
					}
					got = append(got, e)
				}
			case recCheckpoint:
				decodeCheckpoint(p)
			}
			return nil
		})
		if bytes.Equal(b, good) {
			for i := range got {
				if len(got[i].Data) == 0 {
					got[i].Data = nil
				}
			}
			if err != nil || !reflect.DeepEqual(got, entries) {
				t.Fatalf("the well-formed journal read back %+v, %v", got, err)
			}
		}
	})
}
