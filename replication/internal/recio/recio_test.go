package recio

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tandemcc/tandem/command"
)

var faults = Faults{Torn: errors.New("torn"), Length: errors.New("length"), Checksum: errors.New("checksum")}

// TestEventFrameBytes: the first record of replication/buffer's
// testdata/v1, written before this package existed.
func TestEventFrameBytes(t *testing.T) {
	want, _ := hex.DecodeString("06000000e200d184010100000000")
	got := AppendEventFrame([]byte("x"), &command.Event{Index: 1})
	if !bytes.Equal(got[1:], want) || got[0] != 'x' {
		t.Fatalf("got %x, want x‖%x", got, want)
	}
	p, n, err := faults.Split(append(got[1:], 0xAA))
	if err != nil || n != len(want) || !bytes.Equal(p, want[HeaderSize:]) {
		t.Fatalf("Split: %x %d %v", p, n, err)
	}
	kind, pos, rest, ok := CutHead(p)
	if !ok || kind != KindEvent || pos != (command.Position{Index: 1}) {
		t.Fatalf("CutHead: %d %v %v", kind, pos, ok)
	}
	if tm, typ, id, data, ok := CutEvent(rest); !ok || tm != 0 || len(typ)+len(id)+len(data) != 0 {
		t.Fatalf("CutEvent: %v", ok)
	}
}

func TestSplitFaults(t *testing.T) {
	good := AppendEventFrame(nil, &command.Event{Index: 5, Seq: 1, Type: "a", CommandID: "c", Data: []byte("{}")})
	bad := func(f func(b []byte)) []byte { b := bytes.Clone(good); f(b); return b }
	for _, tt := range []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, faults.Torn},
		{"short header", good[:HeaderSize-1], faults.Torn},
		{"short payload", good[:len(good)-1], faults.Torn},
		{"zero length", make([]byte, 16), faults.Length},
		{"huge length", bad(func(b []byte) { b[3] = 0x10 }), faults.Length},
		{"flipped payload bit", bad(func(b []byte) { b[len(b)-1] ^= 1 }), faults.Checksum},
		{"flipped crc bit", bad(func(b []byte) { b[5] ^= 1 }), faults.Checksum},
	} {
		if _, _, err := faults.Split(tt.in); err != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestFieldCodecs(t *testing.T) {
	if a, b := AppendBytes(nil, "call"), AppendBytes(nil, []byte("call")); !bytes.Equal(a, b) {
		t.Fatalf("string %x, bytes %x", a, b)
	}
	b := AppendPos(nil, command.Position{Index: 1<<64 - 1, Seq: command.MaxSeq})
	b = AppendBytes(b, "xyz")
	pos, rest, ok := CutPos(b)
	if !ok || pos != (command.Position{Index: 1<<64 - 1, Seq: command.MaxSeq}) {
		t.Fatalf("CutPos: %v %v", pos, ok)
	}
	if f, rest, ok := CutBytes(rest); !ok || string(f) != "xyz" || len(rest) != 0 || cap(f) != 3 {
		t.Fatalf("CutBytes: %q %v", f, ok)
	}
	for _, in := range [][]byte{nil, {0, 0}, {1}, {1, 0x80}, binary.AppendUvarint([]byte{1}, uint64(command.MaxSeq)+1)} {
		if _, _, ok := CutPos(in); ok {
			t.Errorf("CutPos(%x) decoded", in)
		}
	}
	for _, in := range [][]byte{nil, {0x80}, {2, 'a'}} {
		if _, _, ok := CutBytes(in); ok {
			t.Errorf("CutBytes(%x) decoded", in)
		}
	}
}

func TestReplaceFile(t *testing.T) {
	dir := t.TempDir()
	for _, data := range []string{"one\n", "two\n"} {
		if err := ReplaceFile(dir, "f.json", []byte(data)); err != nil {
			t.Fatal(err)
		}
		if err := SyncDir(dir); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "f.json")); string(b) != data {
			t.Fatalf("got %q, want %q", b, data)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "f.json.tmp")); !os.IsNotExist(err) {
		t.Fatalf("temporary file left: %v", err)
	}
	if err := ReplaceFile(filepath.Join(dir, "missing"), "f", nil); err == nil {
		t.Fatal("no error for a missing directory")
	}
	if err := SyncDir(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("no error for a missing directory")
	}
}
