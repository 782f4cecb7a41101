package buffer

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/tandemcc/tandem/command"
)

// Record framing and payload encoding (DESIGN.md, "File format").
//
// Frame:
//
//	uint32 LE  payload length n (1 ≤ n ≤ maxPayload)
//	uint32 LE  CRC32C(length bytes ‖ payload)
//	n bytes    payload
//
// Payload of an event record (kind 1):
//
//	byte     kindEvent
//	uvarint  Index (≥ 1)
//	uvarint  Seq (≤ maxSeq)
//	varint   Time
//	uvarint  len(Type), Type
//	uvarint  len(CommandID), CommandID
//	rest     Data (empty means none)
//
// Payload of a gap record (kind 2), written when Append could not store a
// batch (ErrFull, ErrTooLarge); its position is the last dropped one:
//
//	byte     kindGap
//	uvarint  last.Index, uvarint last.Seq
//	uvarint  first.Index, uvarint first.Seq
//	uvarint  number of events dropped

const (
	headerSize = 8        // length + checksum
	maxPayload = 64 << 20 // sanity bound on one record
	kindEvent  = 1
	kindGap    = 2
	maxSeq     = int(^uint32(0) >> 1) // Seq fits every platform's int
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Decoding failures. errTorn and errChecksum/errLength are what an
// interrupted write leaves behind; errPayload (the checksum matched but the
// bytes do not decode) never comes from a torn write.
var (
	errBad      = errors.New("bad record")
	errTorn     = fmt.Errorf("%w: incomplete record", errBad)
	errLength   = fmt.Errorf("%w: invalid length", errBad)
	errChecksum = fmt.Errorf("%w: checksum mismatch", errBad)
	errPayload  = fmt.Errorf("%w: malformed payload", errBad)
)

// record is a decoded payload. Its byte fields point into the buffer it
// was decoded from and are valid only until that buffer is reused.
type record struct {
	kind             byte
	pos              command.Position // the event's, or a gap's last dropped
	time             int64
	typ, cmdID, data []byte
	gapFirst         command.Position // gap only
	gapEvents        uint64           // gap only
}

// appendEventFrame appends the framed record of ev to dst. The caller has
// checked the position (validPos).
func appendEventFrame(dst []byte, ev *command.Event) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, headerSize)...)
	dst = append(dst, kindEvent)
	dst = binary.AppendUvarint(dst, ev.Index)
	dst = binary.AppendUvarint(dst, uint64(ev.Seq))
	dst = binary.AppendVarint(dst, ev.Time)
	dst = binary.AppendUvarint(dst, uint64(len(ev.Type)))
	dst = append(dst, ev.Type...)
	dst = binary.AppendUvarint(dst, uint64(len(ev.CommandID)))
	dst = append(dst, ev.CommandID...)
	dst = append(dst, ev.Data...)
	return sealFrame(dst, start)
}

// appendGapFrame appends a gap record for the events first..last (count of
// them) that were not stored.
func appendGapFrame(dst []byte, first, last command.Position, count uint64) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, headerSize)...)
	dst = append(dst, kindGap)
	dst = binary.AppendUvarint(dst, last.Index)
	dst = binary.AppendUvarint(dst, uint64(last.Seq))
	dst = binary.AppendUvarint(dst, first.Index)
	dst = binary.AppendUvarint(dst, uint64(first.Seq))
	dst = binary.AppendUvarint(dst, count)
	return sealFrame(dst, start)
}

// sealFrame fills in the header of the frame that starts at dst[start].
func sealFrame(dst []byte, start int) []byte {
	h := dst[start : start+headerSize]
	binary.LittleEndian.PutUint32(h[0:4], uint32(len(dst)-start-headerSize))
	binary.LittleEndian.PutUint32(h[4:8], frameSum(h[0:4], dst[start+headerSize:]))
	return dst
}

func frameSum(length, payload []byte) uint32 {
	return crc32.Update(crc32.Checksum(length, castagnoli), castagnoli, payload)
}

func crc32c(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

func validPos(p command.Position) bool {
	return p.Index > 0 && p.Seq >= 0 && p.Seq <= maxSeq
}

// decodeRecord decodes the frame at the start of b. It returns the record
// and the frame's length, or errTorn when b ends inside the frame, or
// another errBad error. It never panics on any input (FuzzDecodeRecord).
func decodeRecord(b []byte) (record, int, error) {
	if len(b) < headerSize {
		return record{}, 0, errTorn
	}
	n, err := frameLength(b[:headerSize])
	if err != nil {
		return record{}, 0, err
	}
	if uint64(len(b)-headerSize) < uint64(n) {
		return record{}, 0, errTorn
	}
	p := b[headerSize : headerSize+int(n)]
	if frameSum(b[0:4], p) != binary.LittleEndian.Uint32(b[4:8]) {
		return record{}, 0, errChecksum
	}
	r, err := parsePayload(p)
	if err != nil {
		return record{}, 0, err
	}
	return r, headerSize + int(n), nil
}

func frameLength(h []byte) (uint32, error) {
	n := binary.LittleEndian.Uint32(h[0:4])
	if n == 0 || n > maxPayload {
		return 0, errLength
	}
	return n, nil
}

// parsePayload decodes a payload whose checksum matched, without
// allocating.
func parsePayload(p []byte) (record, error) {
	var r record
	if len(p) == 0 {
		return r, errPayload
	}
	r.kind = p[0]
	p = p[1:]
	var ok bool
	if r.pos, p, ok = cutPos(p); !ok {
		return r, errPayload
	}
	switch r.kind {
	case kindEvent:
		var n int
		if r.time, n = binary.Varint(p); n <= 0 {
			return r, errPayload
		}
		p = p[n:]
		if r.typ, p, ok = cutBytes(p); !ok {
			return r, errPayload
		}
		if r.cmdID, p, ok = cutBytes(p); !ok {
			return r, errPayload
		}
		r.data = p
	case kindGap:
		if r.gapFirst, p, ok = cutPos(p); !ok || r.gapFirst.After(r.pos) {
			return r, errPayload
		}
		var n int
		if r.gapEvents, n = binary.Uvarint(p); n <= 0 || r.gapEvents == 0 || n != len(p) {
			return r, errPayload
		}
	default:
		return r, errPayload
	}
	return r, nil
}

func cutPos(p []byte) (command.Position, []byte, bool) {
	idx, n := binary.Uvarint(p)
	if n <= 0 || idx == 0 {
		return command.Position{}, nil, false
	}
	p = p[n:]
	seq, n := binary.Uvarint(p)
	if n <= 0 || seq > uint64(maxSeq) {
		return command.Position{}, nil, false
	}
	return command.Position{Index: idx, Seq: int(seq)}, p[n:], true
}

func cutBytes(p []byte) (field, rest []byte, ok bool) {
	l, n := binary.Uvarint(p)
	if n <= 0 || l > uint64(len(p)-n) {
		return nil, nil, false
	}
	p = p[n:]
	return p[:l:l], p[l:], true
}

// eventAlloc turns records into command.Events for one reader with few
// allocations: Type strings are interned (a handful of values), the
// CommandID shared by the events of one command is reused, and small Data
// is carved from 64 KiB chunks. A chunk stays alive while an event that
// points into it does; each Data slice is capped, so appending to one
// never touches another.
type eventAlloc struct {
	types map[string]string
	cmdID string
	chunk []byte
}

const (
	allocChunk    = 64 << 10
	allocMaxCarve = 4 << 10 // larger Data gets its own allocation
)

func newEventAlloc() *eventAlloc { return &eventAlloc{types: map[string]string{}} }

// event copies an event record into a command.Event.
func (a *eventAlloc) event(r *record) command.Event {
	ev := command.Event{Index: r.pos.Index, Seq: r.pos.Seq, Time: r.time}
	if t, ok := a.types[string(r.typ)]; ok {
		ev.Type = t
	} else {
		ev.Type = string(r.typ)
		if len(a.types) < 1024 {
			a.types[ev.Type] = ev.Type
		}
	}
	if a.cmdID != string(r.cmdID) {
		a.cmdID = string(r.cmdID)
	}
	ev.CommandID = a.cmdID
	switch n := len(r.data); {
	case n == 0:
	case n > allocMaxCarve:
		ev.Data = append([]byte(nil), r.data...)
	default:
		if cap(a.chunk)-len(a.chunk) < n {
			a.chunk = make([]byte, 0, allocChunk)
		}
		start := len(a.chunk)
		a.chunk = append(a.chunk, r.data...)
		ev.Data = a.chunk[start:len(a.chunk):len(a.chunk)]
	}
	return ev
}

// frameReader streams the records of a byte range with bounded memory: a
// fixed read buffer plus one payload buffer as large as the largest record.
type frameReader struct {
	br        *bufio.Reader
	remaining int64 // bytes left in the range
	hdr       [headerSize]byte
	buf       []byte
}

const readBufSize = 64 << 10

func newFrameReader() *frameReader {
	return &frameReader{br: bufio.NewReaderSize(nil, readBufSize)}
}

// reset points the reader at r, which holds size bytes.
func (fr *frameReader) reset(r io.Reader, size int64) {
	fr.br.Reset(r)
	fr.remaining = size
}

// next returns the next record and its framed length; io.EOF at a clean
// end of the range; an errBad error for bytes that are not a record (the
// reader must not be used after); or an I/O error.
func (fr *frameReader) next() (record, int64, error) {
	if fr.remaining == 0 {
		return record{}, 0, io.EOF
	}
	if fr.remaining < headerSize {
		return record{}, 0, errTorn
	}
	if _, err := io.ReadFull(fr.br, fr.hdr[:]); err != nil {
		return record{}, 0, readErr(err)
	}
	n, err := frameLength(fr.hdr[:])
	if err != nil {
		return record{}, 0, err
	}
	if int64(n) > fr.remaining-headerSize {
		return record{}, 0, errTorn
	}
	if cap(fr.buf) < int(n) {
		fr.buf = make([]byte, n)
	}
	p := fr.buf[:n]
	if _, err := io.ReadFull(fr.br, p); err != nil {
		return record{}, 0, readErr(err)
	}
	if frameSum(fr.hdr[0:4], p) != binary.LittleEndian.Uint32(fr.hdr[4:8]) {
		return record{}, 0, errChecksum
	}
	r, err := parsePayload(p)
	if err != nil {
		return record{}, 0, err
	}
	size := int64(headerSize) + int64(n)
	fr.remaining -= size
	if cap(fr.buf) > 1<<20 && n < 1<<20 {
		fr.buf = nil // do not keep one huge record's buffer for ever
	}
	return r, size, nil
}

// readErr maps an end of file inside the range (the file is shorter than
// the index says) to a torn record.
func readErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errTorn
	}
	return fmt.Errorf("reading record: %w", err)
}
