package snmp

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// OID is an object identifier as its sub-identifiers.
type OID []uint32

// maxSubIDs is SMI's limit on the length of an OID.
const maxSubIDs = 128

// ParseOID reads "1.3.6.1" or ".1.3.6.1".
func ParseOID(s string) (OID, error) {
	s = strings.TrimPrefix(s, ".")
	if s == "" {
		return nil, errors.New("empty OID")
	}
	parts := strings.Split(s, ".")
	if len(parts) > maxSubIDs {
		return nil, fmt.Errorf("OID of %d sub-identifiers (at most %d)", len(parts), maxSubIDs)
	}
	o := make(OID, len(parts))
	for i, p := range parts {
		v, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("OID %q: sub-identifier %d: %w", s, i+1, err)
		}
		o[i] = uint32(v)
	}
	return o, nil
}

func mustOID(s string) OID {
	o, err := ParseOID(s)
	if err != nil {
		panic(err)
	}
	return o
}

// String is the dotted form with a leading dot, as gosnmp writes it.
func (o OID) String() string {
	var b strings.Builder
	for _, v := range o {
		b.WriteByte('.')
		b.WriteString(strconv.FormatUint(uint64(v), 10))
	}
	return b.String()
}

// Compare orders OIDs lexicographically (SNMP's order): -1, 0 or 1.
func (o OID) Compare(p OID) int {
	for i := 0; i < len(o) && i < len(p); i++ {
		switch {
		case o[i] < p[i]:
			return -1
		case o[i] > p[i]:
			return 1
		}
	}
	switch {
	case len(o) < len(p):
		return -1
	case len(o) > len(p):
		return 1
	}
	return 0
}

// HasPrefix reports whether p is o or one of its ancestors.
func (o OID) HasPrefix(p OID) bool {
	if len(p) > len(o) {
		return false
	}
	for i := range p {
		if o[i] != p[i] {
			return false
		}
	}
	return true
}

// Append returns o followed by subs, in a new slice.
func (o OID) Append(subs ...uint32) OID {
	out := make(OID, 0, len(o)+len(subs))
	return append(append(out, o...), subs...)
}

// stringIndex is the index encoding of a variable-length OCTET STRING
// (not IMPLIED): its length, then one sub-identifier per octet.
func stringIndex(s string) OID {
	out := make(OID, 0, len(s)+1)
	out = append(out, uint32(len(s)))
	for i := 0; i < len(s); i++ {
		out = append(out, uint32(s[i]))
	}
	return out
}
