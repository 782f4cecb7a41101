package buffer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/tandemcc/tandem/command"
	"github.com/tandemcc/tandem/replication/internal/recio"
)

// A cursor file (cursor-<name>) holds two fixed slots, each in its own
// 512-byte sector. A write goes to the slot the older state is in, with one
// pwrite and one fdatasync, so a torn write damages at most the slot being
// written and the other still holds the previous state. Open picks the
// valid slot with the highest generation.
//
// Slot (32 bytes):
//
//	[0:4)   magic "TBC1"
//	[4:12)  generation, uint64 LE (≥ 1)
//	[12:20) Index, uint64 LE
//	[20:24) Seq, uint32 LE
//	[24]    flags: 1 attached, 2 gap
//	[25:28) zero
//	[28:32) CRC32C of [0:28)

const (
	cursorSlotSpan = 512
	cursorSlotLen  = 32
	cursorMagic    = "TBC1"
	flagAttached   = 1
	flagGap        = 2
)

// cursorState is what a cursor file records for one consumer.
type cursorState struct {
	Pos      command.Position
	Attached bool
	Gap      bool
}

func cursorFileName(name string) string { return "cursor-" + name }

// cursorFile is an open cursor file.
type cursorFile struct {
	f   *os.File
	gen uint64 // generation of the newest valid slot
}

func encodeSlot(gen uint64, st cursorState) []byte {
	b := make([]byte, cursorSlotLen)
	copy(b[0:4], cursorMagic)
	binary.LittleEndian.PutUint64(b[4:12], gen)
	binary.LittleEndian.PutUint64(b[12:20], st.Pos.Index)
	binary.LittleEndian.PutUint32(b[20:24], uint32(st.Pos.Seq))
	if st.Attached {
		b[24] |= flagAttached
	}
	if st.Gap {
		b[24] |= flagGap
	}
	binary.LittleEndian.PutUint32(b[28:32], recio.Checksum(b[0:28]))
	return b
}

func decodeSlot(b []byte) (uint64, cursorState, bool) {
	if len(b) < cursorSlotLen || string(b[0:4]) != cursorMagic ||
		binary.LittleEndian.Uint32(b[28:32]) != recio.Checksum(b[0:28]) {
		return 0, cursorState{}, false
	}
	gen := binary.LittleEndian.Uint64(b[4:12])
	seq := binary.LittleEndian.Uint32(b[20:24])
	if gen == 0 || seq > uint32(command.MaxSeq) || b[24]&^(flagAttached|flagGap) != 0 {
		return 0, cursorState{}, false
	}
	return gen, cursorState{
		Pos:      command.Position{Index: binary.LittleEndian.Uint64(b[12:20]), Seq: int(seq)},
		Attached: b[24]&flagAttached != 0,
		Gap:      b[24]&flagGap != 0,
	}, true
}

// openCursor opens dir/cursor-<name>; found is false when it does not
// exist. Both slots damaged is ErrCorrupt.
func openCursor(dir, name string) (cf *cursorFile, st cursorState, found bool, err error) {
	path := filepath.Join(dir, cursorFileName(name))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil, st, false, nil
	}
	if err != nil {
		return nil, st, false, fmt.Errorf("opening cursor of %s: %w", name, err)
	}
	buf := make([]byte, 2*cursorSlotSpan)
	n, err := f.ReadAt(buf, 0)
	if err != nil && err != io.EOF {
		f.Close()
		return nil, st, false, fmt.Errorf("reading cursor of %s: %w", name, err)
	}
	buf = buf[:n]
	var best uint64
	for i := 0; i < 2; i++ {
		if len(buf) < i*cursorSlotSpan+cursorSlotLen {
			continue
		}
		if gen, s, ok := decodeSlot(buf[i*cursorSlotSpan:]); ok && gen > best {
			best, st = gen, s
		}
	}
	if best == 0 {
		f.Close()
		return nil, st, false, fmt.Errorf("%w: %s: no valid cursor slot", ErrCorrupt, path)
	}
	return &cursorFile{f: f, gen: best}, st, true, nil
}

// createCursor creates dir/cursor-<name> holding st, atomically and
// durably.
func createCursor(dir, name string, st cursorState) (*cursorFile, error) {
	data := make([]byte, 2*cursorSlotSpan)
	copy(data[1%2*cursorSlotSpan:], encodeSlot(1, st)) // generation g lives in slot g%2
	if err := writeFileAtomic(dir, cursorFileName(name), data); err != nil {
		return nil, fmt.Errorf("creating cursor of %s: %w", name, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, cursorFileName(name)), os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("opening cursor of %s: %w", name, err)
	}
	return &cursorFile{f: f, gen: 1}, nil
}

// write records st durably: when it returns nil, a crash at any later
// moment reopens to st (or to a later state).
func (cf *cursorFile) write(st cursorState) error {
	gen := cf.gen + 1
	if _, err := cf.f.WriteAt(encodeSlot(gen, st), int64(gen%2)*cursorSlotSpan); err != nil {
		return fmt.Errorf("writing cursor: %w", err)
	}
	if err := datasync(cf.f); err != nil {
		return fmt.Errorf("syncing cursor: %w", err)
	}
	cf.gen = gen
	return nil
}

func (cf *cursorFile) close() error { return cf.f.Close() }
