package snmp

import (
	"math"
	"slices"
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
	// its rows (in any order).
	columns []uint32
	rows    func(*snapshot) []row
}

// entries are the object's instances in OID order.
func (o *object) entries(s *snapshot) []varbind {
	if o.scalar != nil {
		return []varbind{{oid: o.root.Append(0), val: o.scalar(s)}}
	}
	rows := o.rows(s)
	slices.SortFunc(rows, func(a, b row) int { return a.index.Compare(b.index) })
	out := make([]varbind, 0, len(rows)*len(o.columns))
	for c, col := range o.columns {
		prefix := o.root.Append(1, col)
		for _, r := range rows {
			out = append(out, varbind{oid: append(prefix[:len(prefix):len(prefix)], r.index...), val: r.vals[c]})
		}
	}
	return out
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

// entriesOf returns an object's entries, computed once per snapshot.
func (s *snapshot) entriesOf(i int, o *object) []varbind {
	if e, ok := s.cache[i]; ok {
		return e
	}
	e := o.entries(s)
	s.cache[i] = e
	return e
}

// get answers a GET of one OID.
func (t *tree) get(s *snapshot, oid OID) value {
	for i, o := range t.objects {
		if !oid.HasPrefix(o.root) {
			continue
		}
		es := s.entriesOf(i, o)
		if j, ok := slices.BinarySearchFunc(es, oid, func(e varbind, k OID) int { return e.oid.Compare(k) }); ok {
			return es[j].val
		}
		if o.knows(oid) {
			return noSuchInstance
		}
		return noSuchObject
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
		es := s.entriesOf(i, o)
		j, found := slices.BinarySearchFunc(es, oid, func(e varbind, k OID) int { return e.oid.Compare(k) })
		if found {
			j++
		}
		if j < len(es) {
			return es[j], true
		}
	}
	return varbind{}, false
}
