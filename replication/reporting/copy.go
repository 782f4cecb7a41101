package reporting

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// copyBuf builds one binary COPY stream (PostgreSQL's "COPY … FROM STDIN
// BINARY" format) directly from events: no per-value reflection or
// boxing, so the client spends little CPU beside the server it feeds. The
// encodings must match the column types of the migrations exactly;
// readyLocked checks the catalog once per connection.
type copyBuf struct {
	b    []byte
	rows int
}

var copyHeader = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

// pgEpochMicros is 2000-01-01 00:00:00 UTC in Unix microseconds, the
// epoch of PostgreSQL's binary timestamps.
const pgEpochMicros = 946684800 * 1000000

// maxKeptBuf bounds the memory a copyBuf keeps between batches.
const maxKeptBuf = 32 << 20

func (c *copyBuf) reset() {
	if cap(c.b) > maxKeptBuf {
		c.b = nil
	}
	c.b = append(c.b[:0], copyHeader...)
	c.rows = 0
}

// stream returns the finished stream (with its trailer).
func (c *copyBuf) stream() []byte {
	return binary.BigEndian.AppendUint16(c.b, 0xffff)
}

func (c *copyBuf) startRow(fields int) {
	if len(c.b) == 0 {
		c.reset()
	}
	c.b = binary.BigEndian.AppendUint16(c.b, uint16(fields))
	c.rows++
}

func (c *copyBuf) null() { c.b = binary.BigEndian.AppendUint32(c.b, 0xffffffff) }

func (c *copyBuf) int4(v int32) {
	c.b = binary.BigEndian.AppendUint32(c.b, 4)
	c.b = binary.BigEndian.AppendUint32(c.b, uint32(v))
}

func (c *copyBuf) int8(v int64) {
	c.b = binary.BigEndian.AppendUint32(c.b, 8)
	c.b = binary.BigEndian.AppendUint64(c.b, uint64(v))
}

func (c *copyBuf) float8(v float64) {
	c.b = binary.BigEndian.AppendUint32(c.b, 8)
	c.b = binary.BigEndian.AppendUint64(c.b, math.Float64bits(v))
}

func (c *copyBuf) bool(v bool) {
	c.b = binary.BigEndian.AppendUint32(c.b, 1)
	if v {
		c.b = append(c.b, 1)
	} else {
		c.b = append(c.b, 0)
	}
}

// timestamptz writes Unix nanoseconds as microseconds since 2000.
func (c *copyBuf) timestamptz(unixNanos int64) {
	us := unixNanos / 1000
	if unixNanos%1000 < 0 {
		us-- // floor
	}
	c.int8raw(us - pgEpochMicros)
}

func (c *copyBuf) int8raw(v int64) {
	c.b = binary.BigEndian.AppendUint32(c.b, 8)
	c.b = binary.BigEndian.AppendUint64(c.b, uint64(v))
}

// text writes s, made valid for a text column (UTF-8, no NUL).
func (c *copyBuf) text(s string) {
	if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
		s = cleanText(s)
	}
	c.b = binary.BigEndian.AppendUint32(c.b, uint32(len(s)))
	c.b = append(c.b, s...)
}

func (c *copyBuf) textBytes(p []byte) {
	if !utf8.Valid(p) || bytes.IndexByte(p, 0) >= 0 {
		c.text(string(p))
		return
	}
	c.b = binary.BigEndian.AppendUint32(c.b, uint32(len(p)))
	c.b = append(c.b, p...)
}

// jsonb writes JSON text as a jsonb value (format version 1).
func (c *copyBuf) jsonb(p []byte) {
	c.b = binary.BigEndian.AppendUint32(c.b, uint32(len(p)+1))
	c.b = append(c.b, 1)
	c.b = append(c.b, p...)
}

func (c *copyBuf) cell(v cell) {
	if v.null {
		c.null()
		return
	}
	switch v.kind {
	case Text:
		c.textBytes(v.text)
	case Int, Millis:
		c.int8(v.i)
	case Float:
		c.float8(v.f)
	case Bool:
		c.bool(v.b)
	case Timestamp:
		c.timestamptz(v.t)
	default:
		c.null()
	}
}

// copyIn sends a finished stream into table (qualified, columns in
// order) on tx's connection.
func copyIn(ctx context.Context, tx pgx.Tx, table pgx.Identifier, columns []string, c *copyBuf) error {
	return copyInConn(ctx, tx.Conn().PgConn(), table, columns, c)
}

// copyInConn sends a finished stream into table on conn.
func copyInConn(ctx context.Context, conn *pgconn.PgConn, table pgx.Identifier, columns []string, c *copyBuf) error {
	if c.rows == 0 {
		return nil
	}
	var sql strings.Builder
	sql.WriteString("COPY ")
	sql.WriteString(table.Sanitize())
	sql.WriteString(" (")
	for i, col := range columns {
		if i > 0 {
			sql.WriteString(", ")
		}
		sql.WriteString(pgx.Identifier{col}.Sanitize())
	}
	sql.WriteString(") FROM STDIN BINARY")
	_, err := conn.CopyFrom(ctx, bytes.NewReader(c.stream()), sql.String())
	return err
}
