package cluster

import (
	"bytes"
	"context"
	"encoding/binary"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/tandemcc/tandem/command"
)

func TestPackEntry(t *testing.T) {
	small := encode(t, "kv.set", "s", kv{"a", "1"})
	large := encode(t, "kv.set", "l", kv{"a", strings.Repeat("customer@example.org ", 2000)})
	var scratch sync.Pool // one, as a Store has: each entry compresses in the buffer the last used
	for _, tc := range []struct {
		name     string
		data     []byte
		compress bool
		packed   bool
	}{
		{"small, compression allowed", small, true, false},
		{"large, compression not allowed", large, false, false},
		{"large, compression allowed", large, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := packEntry(tc.data, tc.compress, &scratch)
			if packed := got[0] == entryS2; packed != tc.packed {
				t.Fatalf("packed %v, want %v (first byte %q)", packed, tc.packed, got[0])
			}
			if tc.packed && len(got) >= len(tc.data)/4 {
				t.Errorf("packed %d bytes into %d", len(tc.data), len(got))
			}
			if tc.packed && cap(got) != len(got) {
				t.Errorf("a packed entry of %d bytes keeps an array of %d (Raft's log cache holds it)", len(got), cap(got))
			}
			back, err := unpackLog(cmdLog(1, got))
			if err != nil || !bytes.Equal(back, tc.data) {
				t.Fatalf("unpacked %.40q, %v: want the envelope back", back, err)
			}
		})
	}
	// An entry is its own memory, not the scratch buffer's: packing
	// another leaves it as it was.
	first := packEntry(large, true, &scratch)
	other := encode(t, "kv.set", "o", kv{"b", strings.Repeat("agent@example.org ", 3000)})
	if second := packEntry(other, true, &scratch); bytes.Equal(first, second) {
		t.Fatal("two different envelopes packed alike")
	}
	if back, err := unpackLog(cmdLog(1, first)); err != nil || !bytes.Equal(back, large) {
		t.Fatalf("the first entry after packing another: %.40q, %v", back, err)
	}
	corrupt := packEntry(large, true, &scratch)
	corrupt = corrupt[:len(corrupt)/2]
	if _, err := unpackLog(cmdLog(1, corrupt)); err == nil {
		t.Error("a truncated compressed entry unpacked without an error")
	}
	// A damaged length: refused before anything that large is allocated.
	huge := append([]byte{entryS2}, binary.AppendUvarint(nil, 1<<30)...)
	if _, err := unpackLog(cmdLog(1, huge)); err == nil || !strings.Contains(err.Error(), "more than an envelope may hold") {
		t.Errorf("an entry stating 1 GiB decompressed: %v, want a refusal", err)
	}
	// Only commands are packed: other entries' data is Raft's own.
	conf := &raft.Log{Type: raft.LogConfiguration, Data: []byte{entryS2, 0, 0}}
	if got, err := unpackLog(conf); err != nil || !bytes.Equal(got, conf.Data) {
		t.Errorf("a configuration entry was unpacked: %q, %v", got, err)
	}
}

// An FSM applies a compressed entry as the envelope it holds, hands its
// entry sinks (the backup journal) the envelope, not the compressed
// bytes, and refuses a corrupt one alike on every member, changing
// nothing.
func TestFSMAppliesCompressedEntries(t *testing.T) {
	plainSink, packedSink := &entrySink{}, &entrySink{}
	plain := mustFSM(t, []Machine{newFake("kv")}, plainSink)
	packed := mustFSM(t, []Machine{newFake("kv")}, packedSink)
	cmds := [][]byte{
		encode(t, "kv.set", "c1", kv{"a", strings.Repeat("x", 3*compressAbove)}),
		encode(t, "kv.set", "c2", kv{"b", "small"}),
	}
	for i, c := range cmds {
		mustApply(t, plain, uint64(i+1), c)
		mustApply(t, packed, uint64(i+1), packEntry(c, true, &sync.Pool{}))
	}
	if a, b := stateOf(t, plain), stateOf(t, packed); a != b {
		t.Fatalf("states differ:\nplain  %.200s\npacked %.200s", a, b)
	}
	for i, e := range packedSink.entries {
		if !bytes.Equal(e.Data, cmds[i]) {
			t.Errorf("entry %d reached the sink as %.40q, want the envelope", e.Index, e.Data)
		}
	}
	before := stateOf(t, packed)
	bad := packEntry(encode(t, "kv.set", "c3", kv{"c", strings.Repeat("y", 3*compressAbove)}), true, &sync.Pool{})
	r := applyOne(t, packed, 3, bad[:len(bad)-10])
	if r.err == nil || !strings.Contains(r.err.Error(), "decompressing") {
		t.Fatalf("a corrupt compressed entry: %v, want a refusal", r.err)
	}
	if after := stateOf(t, packed); after != before {
		t.Errorf("a refused entry changed the state")
	}
}

func TestReadsCompressed(t *testing.T) {
	servers := func(ids ...string) []raft.Server {
		var out []raft.Server
		for _, id := range ids {
			out = append(out, raft.Server{ID: raft.ServerID(id), Suffrage: raft.Voter})
		}
		return out
	}
	formats := &map[string]int{"n1": LogFormat, "n2": LogFormat, "old": 0}
	for _, tc := range []struct {
		name    string
		formats *map[string]int
		servers []raft.Server
		want    bool
	}{
		{"every member reads them", formats, servers("n1", "n2"), true},
		{"a member of an older build", formats, servers("n1", "n2", "old"), false},
		{"a member not recorded yet", formats, servers("n1", "n3"), false},
		{"no configuration", formats, nil, false},
		{"nothing recorded", nil, servers("n1"), false},
	} {
		if got := readsCompressed(tc.formats, tc.servers); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// A node writes a large command to its Raft log compressed once its own
// metadata says it reads compressed entries, and reads it back (ReadLog,
// as backups do) as the envelope.
func TestStoreCompressesLargeCommands(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := Open(ctx, Config{
		NodeID: "n1", RaftAddr: freeRaftAddr(t), AdminURL: "http://127.0.0.1:1", DataDir: t.TempDir(), Token: "t",
		Machines: []Machine{timeMachine{}}, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(context.Background())
	waitLeading(t, st, 20*time.Second)
	for deadline := time.Now().Add(20 * time.Second); !st.compressible(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the node never recorded its log format")
		}
	}
	payload := map[string]string{"text": strings.Repeat("a mail batch, say ", 2000)}
	r, err := st.Propose(ctx, TypeNoop, payload)
	if err != nil {
		t.Fatal(err)
	}
	var l raft.Log
	if err := st.logs.GetLog(r.Index, &l); err != nil {
		t.Fatal(err)
	}
	if l.Data[0] != entryS2 || len(l.Data) > 4096 {
		t.Fatalf("the log holds %d bytes beginning %q: want the entry compressed", len(l.Data), l.Data[0])
	}
	var read []byte
	if err := st.ReadLog(ctx, r.Index, r.Index, func(e LogEntry) error { read = append(read, e.Data...); return nil }); err != nil {
		t.Fatal(err)
	}
	env, err := command.Decode(read)
	if err != nil || env.Type != TypeNoop || !strings.Contains(string(env.Payload), payload["text"]) {
		t.Fatalf("ReadLog gave %.60q (%v): want the envelope", read, err)
	}
}
