package snmp

import (
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// mibDef is one definition of TANDEM-MIB.txt.
type mibDef struct {
	name, macro, access string
	parent              string
	sub                 uint32
}

var (
	defRE    = regexp.MustCompile(`(?m)^([a-z][A-Za-z0-9]*)\s+(OBJECT IDENTIFIER|OBJECT-TYPE|MODULE-IDENTITY|NOTIFICATION-TYPE|OBJECT-GROUP|NOTIFICATION-GROUP|MODULE-COMPLIANCE)\b`)
	assignRE = regexp.MustCompile(`::=\s*\{\s*([A-Za-z][A-Za-z0-9-]*)((?:\s+\d+)+)\s*\}`)
	accessRE = regexp.MustCompile(`MAX-ACCESS\s+([a-z-]+)`)
)

// readMIB extracts every OID assignment of the MIB file (its text, not
// smilint's parse: the e2e test runs smilint and net-snmp on it).
func readMIB(t *testing.T) []mibDef {
	t.Helper()
	b, err := os.ReadFile("TANDEM-MIB.txt")
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	var defs []mibDef
	locs := defRE.FindAllStringSubmatchIndex(src, -1)
	for i, l := range locs {
		end := len(src)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		body := src[l[1]:end]
		m := assignRE.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("%s: no ::= { parent n }", src[l[2]:l[3]])
		}
		nums := strings.Fields(m[2])
		parent := m[1]
		if len(nums) > 1 {
			parent += "." + strings.Join(nums[:len(nums)-1], ".")
		}
		sub, _ := strconv.ParseUint(nums[len(nums)-1], 10, 32)
		d := mibDef{name: src[l[2]:l[3]], macro: src[l[4]:l[5]], parent: parent, sub: uint32(sub)}
		if a := accessRE.FindStringSubmatch(body); a != nil && d.macro == "OBJECT-TYPE" {
			d.access = a[1]
		}
		defs = append(defs, d)
	}
	return defs
}

// TestMIBFileMatches: mibNodes assigns every name the MIB file assigns,
// to the same place; every readable object is served; every notification
// is known to the sender.
func TestMIBFileMatches(t *testing.T) {
	defs := readMIB(t)
	got := map[string]mibNode{}
	for _, d := range defs {
		got[d.name] = mibNode{d.name, d.parent, d.sub}
	}
	want := map[string]mibNode{}
	for _, n := range mibNodes {
		want[n.name] = n
	}
	for name, n := range want {
		if g, ok := got[name]; !ok || g != n {
			t.Errorf("%s: Go says { %s %d }, the MIB file %+v (found %v)", name, n.parent, n.sub, g, ok)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s is in the MIB file but not in mibNodes", name)
		}
	}
	a := newTestAgent(t)
	var notifs []string
	for _, d := range defs {
		switch {
		case d.macro == "NOTIFICATION-TYPE":
			notifs = append(notifs, d.name)
		case d.access == "read-only":
			o := a.oids[d.name]
			served := false
			for _, obj := range a.tree.objects {
				if obj.knows(o.Append(0)) && (obj.scalar == nil || obj.root.Compare(o) == 0) {
					served = true
				}
			}
			if !served {
				t.Errorf("read-only %s (%s) is not served", d.name, o)
			}
		}
	}
	if !slices.Equal(notifs, notificationNames) {
		t.Errorf("notifications in the MIB %v, in the sender %v", notifs, notificationNames)
	}
	for name := range nocProfile {
		if !slices.Contains(notifs, name) {
			t.Errorf("noc profile names %s, not a notification", name)
		}
	}
}
