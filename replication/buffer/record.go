package buffer

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/tandemcc/tandem/command"
	"github.com/tandemcc/tandem/replication/internal/recio"
)

// Record framing and payload encoding (DESIGN.md, "File format"). The
// frame, the payload's head (kind, position) and the event record are
// replication/internal/recio's, shared with the archive; the gap record
// is this package's.
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
//	uvarint  Seq (≤ command.MaxSeq)
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
	headerSize = recio.HeaderSize // length + checksum
	maxPayload = recio.MaxPayload // sanity bound on one record
	kindEvent  = recio.KindEvent
	kindGap    = 2
)

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

// faults are the framing errors recio reports.
var faults = recio.Faults{Torn: errTorn, Length: errLength, Checksum: errChecksum}

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
	return recio.AppendEventFrame(dst, ev)
}

// appendGapFrame appends a gap record for the events first..last (count of
// them) that were not stored.
func appendGapFrame(dst []byte, first, last command.Position, count uint64) []byte {
	dst, start := recio.Begin(dst, kindGap, last)
	dst = recio.AppendPos(dst, first)
	dst = binary.AppendUvarint(dst, count)
	return recio.Seal(dst, start)
}

func validPos(p command.Position) bool { return recio.ValidPos(p) }

// decodeRecord decodes the frame at the start of b. It returns the record
// and the frame's length, or errTorn when b ends inside the frame, or
// another errBad error. It never panics on any input (FuzzDecodeRecord).
func decodeRecord(b []byte) (record, int, error) {
	p, n, err := faults.Split(b)
	if err != nil {
		return record{}, 0, err
	}
	r, err := parsePayload(p)
	if err != nil {
		return record{}, 0, err
	}
	return r, n, nil
}

// parsePayload decodes a payload whose checksum matched, without
// allocating.
func parsePayload(p []byte) (record, error) {
	var r record
	var ok bool
	if r.kind, r.pos, p, ok = recio.CutHead(p); !ok {
		return r, errPayload
	}
	switch r.kind {
	case kindEvent:
		if r.time, r.typ, r.cmdID, r.data, ok = recio.CutEvent(p); !ok {
			return r, errPayload
		}
	case kindGap:
		if r.gapFirst, p, ok = recio.CutPos(p); !ok || r.gapFirst.After(r.pos) {
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
	n, err := faults.PayloadLen(fr.hdr[:])
	if err != nil {
		return record{}, 0, err
	}
	if int64(n) > fr.remaining-headerSize {
		return record{}, 0, errTorn
	}
	if cap(fr.buf) < n {
		fr.buf = make([]byte, n)
	}
	p := fr.buf[:n]
	if _, err := io.ReadFull(fr.br, p); err != nil {
		return record{}, 0, readErr(err)
	}
	if err := faults.Verify(fr.hdr[:], p); err != nil {
		return record{}, 0, err
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
