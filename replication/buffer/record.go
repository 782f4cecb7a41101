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

// Record framing and the binary encoding of an event.
//
// Payload layout (version 1):
//
//	byte     format version (1)
//	uvarint  Index
//	uvarint  Seq
//	varint   Time
//	uvarint  len(Type), Type
//	uvarint  len(CommandID), CommandID
//	rest     Data (empty means none)

const (
	headerSize    = 8        // length + checksum
	maxPayload    = 64 << 20 // sanity bound on one record
	formatVersion = 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errBad marks bytes that are not a valid record (short, bad length,
// checksum mismatch, malformed payload, out of order). It is internal:
// callers see ErrCorrupt, or a truncation at Open.
var errBad = errors.New("bad record")

func bad(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBad, fmt.Sprintf(format, args...))
}

// appendFrame appends the framed record of ev to dst.
func appendFrame(dst []byte, ev command.Event) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, headerSize)...)
	dst = append(dst, formatVersion)
	dst = binary.AppendUvarint(dst, ev.Index)
	dst = binary.AppendUvarint(dst, uint64(ev.Seq))
	dst = binary.AppendVarint(dst, ev.Time)
	dst = binary.AppendUvarint(dst, uint64(len(ev.Type)))
	dst = append(dst, ev.Type...)
	dst = binary.AppendUvarint(dst, uint64(len(ev.CommandID)))
	dst = append(dst, ev.CommandID...)
	dst = append(dst, ev.Data...)
	h := dst[start : start+headerSize]
	binary.LittleEndian.PutUint32(h[0:4], uint32(len(dst)-start-headerSize))
	binary.LittleEndian.PutUint32(h[4:8], frameSum(h[0:4], dst[start+headerSize:]))
	return dst
}

func frameSum(length, payload []byte) uint32 {
	return crc32.Update(crc32.Checksum(length, castagnoli), castagnoli, payload)
}

// eventView is a decoded payload whose byte fields still point into it.
type eventView struct {
	pos              command.Position
	time             int64
	typ, cmdID, data []byte
}

var errMalformed = bad("malformed event payload")

// parseEvent decodes a payload without allocating.
func parseEvent(p []byte) (eventView, error) {
	var v eventView
	if len(p) == 0 || p[0] != formatVersion {
		return v, errMalformed
	}
	p = p[1:]
	idx, n := binary.Uvarint(p)
	if n <= 0 || idx == 0 {
		return v, errMalformed
	}
	p = p[n:]
	seq, n := binary.Uvarint(p)
	if n <= 0 || seq > uint64(maxSeq) {
		return v, errMalformed
	}
	p = p[n:]
	v.pos = command.Position{Index: idx, Seq: int(seq)}
	if v.time, n = binary.Varint(p); n <= 0 {
		return v, errMalformed
	}
	p = p[n:]
	var ok bool
	if v.typ, p, ok = cutBytes(p); !ok {
		return v, errMalformed
	}
	if v.cmdID, p, ok = cutBytes(p); !ok {
		return v, errMalformed
	}
	v.data = p
	return v, nil
}

const maxSeq = int(^uint32(0) >> 1) // Seq fits every platform's int

func cutBytes(p []byte) (field, rest []byte, ok bool) {
	l, n := binary.Uvarint(p)
	if n <= 0 || l > uint64(len(p)-n) {
		return nil, nil, false
	}
	p = p[n:]
	return p[:l], p[l:], true
}

// event copies the view into a command.Event.
func (v eventView) event() command.Event {
	ev := command.Event{
		Index: v.pos.Index, Seq: v.pos.Seq, Time: v.time,
		Type: string(v.typ), CommandID: string(v.cmdID),
	}
	if len(v.data) > 0 {
		ev.Data = append([]byte(nil), v.data...)
	}
	return ev
}

// frameReader reads records from a byte range of a segment.
type frameReader struct {
	r         *bufio.Reader
	remaining int64 // bytes left in the range
	buf       []byte
}

func newFrameReader(r io.Reader, size int64) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(r, int(min(max(size, 16), 64<<10))), remaining: size}
}

// next returns the next record (its byte fields valid until the following
// call) and its framed length. It returns io.EOF at a clean end of the
// range, an errBad error for bad bytes, or an I/O error.
func (fr *frameReader) next() (eventView, int64, error) {
	if fr.remaining == 0 {
		return eventView{}, 0, io.EOF
	}
	if fr.remaining < headerSize {
		return eventView{}, 0, bad("short header")
	}
	var h [headerSize]byte
	if _, err := io.ReadFull(fr.r, h[:]); err != nil {
		return eventView{}, 0, readErr(err)
	}
	n := binary.LittleEndian.Uint32(h[0:4])
	switch {
	case n == 0 || n > maxPayload:
		return eventView{}, 0, bad("length %d", n)
	case int64(n) > fr.remaining-headerSize:
		return eventView{}, 0, bad("short record")
	}
	if cap(fr.buf) < int(n) {
		fr.buf = make([]byte, n)
	}
	p := fr.buf[:n]
	if _, err := io.ReadFull(fr.r, p); err != nil {
		return eventView{}, 0, readErr(err)
	}
	if frameSum(h[0:4], p) != binary.LittleEndian.Uint32(h[4:8]) {
		return eventView{}, 0, bad("checksum mismatch")
	}
	v, err := parseEvent(p)
	if err != nil {
		return eventView{}, 0, err
	}
	size := int64(headerSize) + int64(n)
	fr.remaining -= size
	return v, size, nil
}

// readErr maps an end of file inside a record (the file is shorter than
// its size said) to a bad record.
func readErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return bad("short read")
	}
	return fmt.Errorf("reading record: %w", err)
}
