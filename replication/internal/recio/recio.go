// Package recio owns what the on-disk formats of replication/buffer and
// replication/archive have in common, byte for byte:
//
//   - the record frame: uint32 LE payload length n (1 ≤ n ≤ MaxPayload),
//     uint32 LE CRC32C(length bytes ‖ payload), n bytes of payload;
//   - the head of every payload: a kind byte and the record's position
//     (uvarint Index ≥ 1, uvarint Seq ≤ command.MaxSeq);
//   - the field codecs (positions, length-prefixed bytes);
//   - the event record (KindEvent): head, varint Time, uvarint len and
//     Type, uvarint len and CommandID, Data (the rest);
//   - the file-system primitives both use to make a file or a directory
//     entry durable (SyncDir, ReplaceFile).
//
// It must not know about buffers, archives, cursors, consumers or
// targets: kinds other than KindEvent, what a file holds, when a damaged
// record is a torn tail and the errors a caller reports all belong to the
// format that uses it. Changing anything here changes both formats on
// disk.
package recio

import (
	"encoding/binary"
	"hash/crc32"

	"github.com/tandemcc/tandem/command"
)

const (
	// HeaderSize is the frame header: length and checksum.
	HeaderSize = 8
	// MaxPayload bounds one record's payload (a sanity bound).
	MaxPayload = 64 << 20
	// KindEvent is the kind byte of an event record.
	KindEvent = 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Checksum is the CRC32C of b.
func Checksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// frameSum is the checksum a frame header carries.
func frameSum(length, payload []byte) uint32 {
	return crc32.Update(crc32.Checksum(length, castagnoli), castagnoli, payload)
}

// ValidPos reports whether p can be stored: Index ≥ 1, 0 ≤ Seq ≤ command.MaxSeq.
func ValidPos(p command.Position) bool {
	return p.Index > 0 && p.Seq >= 0 && p.Seq <= command.MaxSeq
}

// Begin starts a frame at the end of dst: room for the header, then the
// payload's head (kind, pos). The caller appends the rest of the payload
// and calls Seal with start.
func Begin(dst []byte, kind byte, pos command.Position) (frame []byte, start int) {
	start = len(dst)
	dst = append(dst, make([]byte, HeaderSize)...)
	dst = append(dst, kind)
	return AppendPos(dst, pos), start
}

// Seal fills in the header of the frame that starts at dst[start] and runs
// to the end of dst.
func Seal(dst []byte, start int) []byte {
	h := dst[start : start+HeaderSize]
	binary.LittleEndian.PutUint32(h[0:4], uint32(len(dst)-start-HeaderSize))
	binary.LittleEndian.PutUint32(h[4:8], frameSum(h[0:4], dst[start+HeaderSize:]))
	return dst
}

// Faults are the errors a format reports for bytes that are not an intact
// frame; they are returned as given, so each format keeps its own
// messages and error hierarchy.
type Faults struct {
	Torn     error // the bytes end inside the frame
	Length   error // the length is 0 or more than MaxPayload
	Checksum error // the checksum does not match
}

// PayloadLen validates the header h (HeaderSize bytes) and returns the
// payload length.
func (f *Faults) PayloadLen(h []byte) (int, error) {
	n := binary.LittleEndian.Uint32(h[0:4])
	if n == 0 || n > MaxPayload {
		return 0, f.Length
	}
	return int(n), nil
}

// Verify checks the checksum in header h against payload.
func (f *Faults) Verify(h, payload []byte) error {
	if frameSum(h[0:4], payload) != binary.LittleEndian.Uint32(h[4:8]) {
		return f.Checksum
	}
	return nil
}

// Split takes the frame at the start of b apart: its payload (aliasing b)
// and its length. It never panics; what follows the frame in b is
// ignored.
func (f *Faults) Split(b []byte) (payload []byte, n int, err error) {
	if len(b) < HeaderSize {
		return nil, 0, f.Torn
	}
	if n, err = f.PayloadLen(b[:HeaderSize]); err != nil {
		return nil, 0, err
	}
	if len(b)-HeaderSize < n {
		return nil, 0, f.Torn
	}
	payload = b[HeaderSize : HeaderSize+n]
	if err := f.Verify(b[:HeaderSize], payload); err != nil {
		return nil, 0, err
	}
	return payload, HeaderSize + n, nil
}

// CutHead decodes the head of a payload: its kind and position. ok is
// false when the payload is empty or the position does not decode.
func CutHead(p []byte) (kind byte, pos command.Position, rest []byte, ok bool) {
	if len(p) == 0 {
		return 0, command.Position{}, nil, false
	}
	kind = p[0]
	pos, rest, ok = CutPos(p[1:])
	return kind, pos, rest, ok
}

// AppendPos appends p as uvarint Index, uvarint Seq.
func AppendPos(dst []byte, p command.Position) []byte {
	dst = binary.AppendUvarint(dst, p.Index)
	return binary.AppendUvarint(dst, uint64(p.Seq))
}

// CutPos decodes a position written by AppendPos; ok is false for Index 0
// or a Seq above command.MaxSeq.
func CutPos(p []byte) (pos command.Position, rest []byte, ok bool) {
	idx, n := binary.Uvarint(p)
	if n <= 0 || idx == 0 {
		return command.Position{}, nil, false
	}
	p = p[n:]
	seq, n := binary.Uvarint(p)
	if n <= 0 || seq > uint64(command.MaxSeq) {
		return command.Position{}, nil, false
	}
	return command.Position{Index: idx, Seq: int(seq)}, p[n:], true
}

// AppendBytes appends b with a uvarint length prefix.
func AppendBytes[T ~string | ~[]byte](dst []byte, b T) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// CutBytes decodes a field written by AppendBytes; field aliases p and is
// capped.
func CutBytes(p []byte) (field, rest []byte, ok bool) {
	l, n := binary.Uvarint(p)
	if n <= 0 || l > uint64(len(p)-n) {
		return nil, nil, false
	}
	p = p[n:]
	return p[:l:l], p[l:], true
}

// AppendEventFrame appends the framed event record of ev to dst. The
// caller has checked the position (ValidPos).
func AppendEventFrame(dst []byte, ev *command.Event) []byte {
	dst, start := Begin(dst, KindEvent, ev.Pos())
	dst = binary.AppendVarint(dst, ev.Time)
	dst = AppendBytes(dst, ev.Type)
	dst = AppendBytes(dst, ev.CommandID)
	dst = append(dst, ev.Data...)
	return Seal(dst, start)
}

// CutEvent decodes the rest of an event record's payload after its head.
// The byte fields alias p.
func CutEvent(p []byte) (time int64, typ, cmdID, data []byte, ok bool) {
	time, n := binary.Varint(p)
	if n <= 0 {
		return 0, nil, nil, nil, false
	}
	p = p[n:]
	if typ, p, ok = CutBytes(p); !ok {
		return 0, nil, nil, nil, false
	}
	if cmdID, p, ok = CutBytes(p); !ok {
		return 0, nil, nil, nil, false
	}
	return time, typ, cmdID, p, true
}
