package snmp

import (
	"math"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/gosnmp/gosnmp"
)

// value is an encoded SNMP value: gosnmp's type tag and Go value.
type value struct {
	typ gosnmp.Asn1BER
	v   any
}

// varbind is one instance and its value.
type varbind struct {
	oid OID
	val value
}

func (vb varbind) pdu() gosnmp.SnmpPDU {
	return gosnmp.SnmpPDU{Name: vb.oid.String(), Type: vb.val.typ, Value: vb.val.v}
}

var (
	noSuchObject   = value{typ: gosnmp.NoSuchObject}
	noSuchInstance = value{typ: gosnmp.NoSuchInstance}
	endOfMibView   = value{typ: gosnmp.EndOfMibView}
)

// maxText is the longest string served (DisplayString, TandemUTF8String).
const maxText = 255

// text is an OCTET STRING, cut at maxText octets on a character boundary.
func text(s string) value {
	if len(s) > maxText {
		cut := maxText
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return value{typ: gosnmp.OctetString, v: []byte(s)}
}

// integer is an INTEGER or Integer32, clamped to 32 bits.
func integer(n int64) value {
	n = max(math.MinInt32, min(n, math.MaxInt32))
	return value{typ: gosnmp.Integer, v: int(n)}
}

// gauge is a Gauge32 or Unsigned32 (the same tag), clamped.
func gauge[T int | int64 | uint64](n T) value {
	var u uint32
	switch {
	case n <= 0:
	case uint64(n) > math.MaxUint32:
		u = math.MaxUint32
	default:
		u = uint32(n)
	}
	return value{typ: gosnmp.Gauge32, v: u}
}

// counter32 is a Counter32: it wraps at 2^32, as SNMP counters do.
func counter32(n uint64) value { return value{typ: gosnmp.Counter32, v: uint32(n)} }

// dateAndTime is SNMPv2-TC's DateAndTime in UTC (11 octets), or eight
// zero octets for a time never reached.
func dateAndTime(t time.Time) value {
	if t.IsZero() {
		return value{typ: gosnmp.OctetString, v: make([]byte, 8)}
	}
	t = t.UTC()
	return value{typ: gosnmp.OctetString, v: []byte{byte(t.Year() >> 8), byte(t.Year()), byte(t.Month()), byte(t.Day()),
		byte(t.Hour()), byte(t.Minute()), byte(t.Second()), byte(t.Nanosecond() / 100_000_000), '+', 0, 0}}
}

// truth is a TruthValue: true(1), false(2).
func truth(b bool) value {
	if b {
		return integer(1)
	}
	return integer(2)
}

// percentTenths is a TandemPercentTenths: 42.54 % is 425.
func percentTenths(p float64) value {
	if math.IsNaN(p) {
		p = 0
	}
	return gauge(int64(math.Round(max(0, min(p, 100)) * 10)))
}

// row is one row of a table: its index and one value per column, in
// the table's column order.
type row struct {
	index OID
	vals  []value
}

// object is one subtree of the MIB the agent serves: a scalar (one
// instance, .0) or a table (columns × rows).
type object struct {
	root OID // the scalar's OID, or the table's
	// scalar reads the value.
	scalar func(*snapshot) value
	// columns are the table's column numbers, ascending; rows reads
	// its rows (in any order), or set its rows already sorted.
	columns []uint32
	rows    func(*snapshot) []row
	set     func(*snapshot) *rowSet
}

// rowSet is a table's rows sorted by index; value reads column ci (the
// position in the object's columns) of row i, when it is answered.
type rowSet struct {
	index []OID
	value func(i, ci int) value
}

func (rs *rowSet) len() int { return len(rs.index) }

// sortedRows is the rowSet of rows.
func sortedRows(rows []row) *rowSet {
	slices.SortFunc(rows, func(a, b row) int { return a.index.Compare(b.index) })
	rs := &rowSet{index: make([]OID, len(rows)), value: func(i, ci int) value { return rows[i].vals[ci] }}
	for i, r := range rows {
		rs.index[i] = r.index
	}
	return rs
}

// knows reports whether oid names an instance of one of o's objects
// (the scalar, or a defined column): a missing instance there is
// noSuchInstance rather than noSuchObject.
func (o *object) knows(oid OID) bool {
	if o.scalar != nil {
		return oid.HasPrefix(o.root)
	}
	for _, c := range o.columns {
		if oid.HasPrefix(o.root.Append(1, c)) {
			return true
		}
	}
	return false
}

// tree is the agent's MIB view: objects sorted by root, none inside
// another.
type tree struct{ objects []*object }

func newTree(objs []*object) *tree {
	slices.SortFunc(objs, func(a, b *object) int { return a.root.Compare(b.root) })
	for i := 1; i < len(objs); i++ {
		if objs[i].root.HasPrefix(objs[i-1].root) {
			panic("snmp: object " + objs[i].root.String() + " inside " + objs[i-1].root.String())
		}
	}
	return &tree{objects: objs}
}

// rowsOf returns a table's rows, read once per snapshot. Instances are
// not built ahead: a request pays for the rows it reads and the
// instances it answers.
func (s *snapshot) rowsOf(i int, o *object) *rowSet {
	if r, ok := s.cache[i]; ok {
		return r
	}
	var r *rowSet
	if o.set != nil {
		r = o.set(s)
	} else {
		r = sortedRows(o.rows(s))
	}
	s.cache[i] = r
	return r
}

// instance is column ci of row i of table o.
func (o *object) instance(rs *rowSet, ci, i int) varbind {
	idx := rs.index[i]
	oid := make(OID, 0, len(o.root)+2+len(idx))
	oid = append(append(append(oid, o.root...), 1, o.columns[ci]), idx...)
	return varbind{oid: oid, val: rs.value(i, ci)}
}

// column is the position of column c in o.columns: the first one not
// below it, and whether it is c.
func (o *object) column(c uint32) (int, bool) {
	return slices.BinarySearch(o.columns, c)
}

// rowAt finds index among rows: the first row not below it, and whether
// it is that row.
func rowAt(rows *rowSet, index OID) (int, bool) {
	return slices.BinarySearchFunc(rows.index, index, OID.Compare)
}

// get answers a GET of one OID.
func (t *tree) get(s *snapshot, oid OID) value {
	for i, o := range t.objects {
		if !oid.HasPrefix(o.root) {
			continue
		}
		if o.scalar != nil {
			if len(oid) == len(o.root)+1 && oid[len(o.root)] == 0 {
				return o.scalar(s)
			}
			return noSuchInstance
		}
		rest := oid[len(o.root):]
		if len(rest) < 2 || rest[0] != 1 {
			return noSuchObject
		}
		ci, ok := o.column(rest[1])
		if !ok {
			return noSuchObject
		}
		rows := s.rowsOf(i, o)
		if j, ok := rowAt(rows, rest[2:]); ok {
			return rows.value(j, ci)
		}
		return noSuchInstance
	}
	return noSuchObject
}

// next answers a GETNEXT of one OID: the first instance after it, or
// false at the end of the MIB view.
func (t *tree) next(s *snapshot, oid OID) (varbind, bool) {
	for i, o := range t.objects {
		// Every instance under a root that sorts before oid, and is
		// not one of oid's ancestors, sorts before oid too.
		if o.root.Compare(oid) < 0 && !oid.HasPrefix(o.root) {
			continue
		}
		if o.scalar != nil {
			inst := o.root.Append(0)
			if inst.Compare(oid) > 0 {
				return varbind{oid: inst, val: o.scalar(s)}, true
			}
			continue
		}
		if vb, ok := o.nextIn(s.rowsOf(i, o), oid); ok {
			return vb, true
		}
	}
	return varbind{}, false
}

// nextIn is the first instance of table o after oid, which is under o's
// root or sorts before it.
func (o *object) nextIn(rows *rowSet, oid OID) (varbind, bool) {
	if rows.len() == 0 {
		return varbind{}, false
	}
	if !oid.HasPrefix(o.root) {
		return o.instance(rows, 0, 0), true // the root sorts after oid
	}
	rest := oid[len(o.root):]
	switch {
	case len(rest) == 0 || rest[0] < 1 || (rest[0] == 1 && len(rest) == 1):
		return o.instance(rows, 0, 0), true
	case rest[0] > 1:
		return varbind{}, false
	}
	ci, exact := o.column(rest[1])
	if ci == len(o.columns) {
		return varbind{}, false
	}
	if !exact {
		return o.instance(rows, ci, 0), true
	}
	j, found := rowAt(rows, rest[2:])
	if found {
		j++
	}
	if j < rows.len() {
		return o.instance(rows, ci, j), true
	}
	if ci+1 < len(o.columns) {
		return o.instance(rows, ci+1, 0), true
	}
	return varbind{}, false
}

// berLen is the length of a TLV of n content octets (definite length).
func berLen(n int) int {
	switch {
	case n < 0x80:
		return 2 + n
	case n < 0x100:
		return 3 + n
	case n < 0x10000:
		return 4 + n
	}
	return 5 + n
}

// maxEncodedLen bounds the octets vb takes in a message's varbind list
// (the encoder may write less: integers take at most five octets here).
func (vb varbind) maxEncodedLen() int {
	oid := 0
	for i, sub := range vb.oid {
		v := uint64(sub)
		switch i {
		case 0:
			v *= 40 // the first two sub-identifiers share octets
			if len(vb.oid) > 1 {
				v += uint64(vb.oid[1])
			}
		case 1:
			continue
		}
		for oid++; v >= 0x80; v >>= 7 {
			oid++
		}
	}
	val := 2 // the null types: noSuchObject, noSuchInstance, endOfMibView
	switch v := vb.val.v.(type) {
	case []byte:
		val = berLen(len(v))
	case int, uint32:
		val = berLen(5)
	}
	return berLen(berLen(oid) + val)
}
