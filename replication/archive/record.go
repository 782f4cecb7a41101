package archive

import (
	"errors"
	"fmt"

	"github.com/tandemcc/tandem/command"
	"github.com/tandemcc/tandem/replication/internal/recio"
)

// Record framing (DESIGN.md, "Files"); the frame, the payload's head
// (kind, position) and the event record are replication/internal/recio's,
// shared with the replication buffer; the hole record is this package's.
//
//	uint32 LE  payload length n (1 ≤ n ≤ 64 MiB)
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
	headerSize = recio.HeaderSize
	kindEvent  = recio.KindEvent
	kindHole   = 2
)

var (
	errBad      = errors.New("bad archive record")
	errTorn     = fmt.Errorf("%w: incomplete record", errBad)
	errLength   = fmt.Errorf("%w: invalid length", errBad)
	errChecksum = fmt.Errorf("%w: checksum mismatch", errBad)
	errPayload  = fmt.Errorf("%w: malformed payload", errBad)
)

// faults are the framing errors recio reports.
var faults = recio.Faults{Torn: errTorn, Length: errLength, Checksum: errChecksum}

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

func validPos(p command.Position) bool { return recio.ValidPos(p) }

func appendEventFrame(dst []byte, ev *command.Event) []byte {
	return recio.AppendEventFrame(dst, ev)
}

func appendHoleFrame(dst []byte, first, last command.Position) []byte {
	dst, start := recio.Begin(dst, kindHole, last)
	dst = recio.AppendPos(dst, first)
	return recio.Seal(dst, start)
}

// decodeRecord decodes the frame at the start of b, returning the record
// and the frame's length. errTorn means b ends inside the frame. It never
// panics (FuzzDecodeRecord).
func decodeRecord(b []byte) (record, int, error) {
	payload, n, err := faults.Split(b)
	if err != nil {
		return record{}, 0, err
	}
	r, err := decodePayload(payload)
	return r, n, err
}

func decodePayload(p []byte) (record, error) {
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
	case kindHole:
		if r.first, p, ok = recio.CutPos(p); !ok || r.first.After(r.pos) || len(p) != 0 {
			return r, errPayload
		}
	default:
		return r, errPayload
	}
	return r, nil
}
