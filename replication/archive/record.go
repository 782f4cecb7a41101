package archive

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/tandemcc/tandem/command"
)

// Record framing (DESIGN.md, "Files"):
//
//	uint32 LE  payload length n (1 ≤ n ≤ maxPayload)
//	uint32 LE  CRC32C(length bytes ‖ payload)
//	n bytes    payload
//
// Event payload (kind 1):
//
//	byte kindEvent | uvarint Index | uvarint Seq | varint Time |
//	uvarint len, Type | uvarint len, CommandID | Data (rest)
//
// Hole payload (kind 2), events this node never received (a snapshot
// installed from the leader, or a hole recorded by hand):
//
//	byte kindHole | uvarint last.Index, last.Seq | uvarint first.Index, first.Seq
const (
	headerSize = 8
	maxPayload = 64 << 20
	kindEvent  = 1
	kindHole   = 2
	// MaxSeq is the largest Seq a position may carry.
	MaxSeq = int(^uint32(0) >> 1)
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var (
	errBad      = errors.New("bad archive record")
	errTorn     = fmt.Errorf("%w: incomplete record", errBad)
	errLength   = fmt.Errorf("%w: invalid length", errBad)
	errChecksum = fmt.Errorf("%w: checksum mismatch", errBad)
	errPayload  = fmt.Errorf("%w: malformed payload", errBad)
)

// record is a decoded payload; its byte fields alias the decoded buffer.
type record struct {
	kind             byte
	pos              command.Position // the event's, or a hole's last
	first            command.Position // hole only
	time             int64
	typ, cmdID, data []byte
}

func (r *record) event() command.Event {
	ev := command.Event{Index: r.pos.Index, Seq: r.pos.Seq, Time: r.time,
		Type: string(r.typ), CommandID: string(r.cmdID)}
	if len(r.data) > 0 {
		ev.Data = append([]byte(nil), r.data...)
	}
	return ev
}

func validPos(p command.Position) bool { return p.Index > 0 && p.Seq >= 0 && p.Seq <= MaxSeq }

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

func appendHoleFrame(dst []byte, first, last command.Position) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, headerSize)...)
	dst = append(dst, kindHole)
	dst = binary.AppendUvarint(dst, last.Index)
	dst = binary.AppendUvarint(dst, uint64(last.Seq))
	dst = binary.AppendUvarint(dst, first.Index)
	dst = binary.AppendUvarint(dst, uint64(first.Seq))
	return sealFrame(dst, start)
}

func sealFrame(dst []byte, start int) []byte {
	h := dst[start : start+headerSize]
	binary.LittleEndian.PutUint32(h[0:4], uint32(len(dst)-start-headerSize))
	binary.LittleEndian.PutUint32(h[4:8], frameSum(h[0:4], dst[start+headerSize:]))
	return dst
}

func frameSum(length, payload []byte) uint32 {
	return crc32.Update(crc32.Checksum(length, castagnoli), castagnoli, payload)
}

// frameLength validates a header and returns the payload length.
func frameLength(h []byte) (int, error) {
	n := binary.LittleEndian.Uint32(h[0:4])
	if n == 0 || n > maxPayload {
		return 0, errLength
	}
	return int(n), nil
}

// decodeRecord decodes the frame at the start of b, returning the record
// and the frame's length. errTorn means b ends inside the frame. It never
// panics (FuzzDecodeRecord).
func decodeRecord(b []byte) (record, int, error) {
	if len(b) < headerSize {
		return record{}, 0, errTorn
	}
	n, err := frameLength(b[:headerSize])
	if err != nil {
		return record{}, 0, err
	}
	if len(b)-headerSize < n {
		return record{}, 0, errTorn
	}
	payload := b[headerSize : headerSize+n]
	if binary.LittleEndian.Uint32(b[4:8]) != frameSum(b[0:4], payload) {
		return record{}, 0, errChecksum
	}
	r, err := decodePayload(payload)
	return r, headerSize + n, err
}

func decodePayload(p []byte) (record, error) {
	var r record
	if len(p) == 0 {
		return r, errPayload
	}
	r.kind, p = p[0], p[1:]
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
	case kindHole:
		if r.first, p, ok = cutPos(p); !ok || r.first.After(r.pos) || len(p) != 0 {
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
	if n <= 0 || seq > uint64(MaxSeq) {
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
