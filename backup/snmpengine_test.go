package backup

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const testEngineID = "80007ed905010203040506070809101112"

func writeEngine(t *testing.T, dir, id string, boots uint32) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(snmpEngineDoc{EngineID: id, Boots: boots})
	if err := os.WriteFile(filepath.Join(dir, snmpEngineFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func readEngine(t *testing.T, dir string) *snmpEngineDoc {
	t.Helper()
	d, err := readSNMPEngine(dir)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// SNMP engine boots never go back across a restore (RFC 3414 2.2): a
// full backup keeps the node's snmp-engine.json; a restore --replace
// keeps the file of the data dir it replaces (the larger boots when
// both name the engine), and restores the backup's only without one,
// its boots raised; a new cluster gets no engine of the backup's. A
// data dir holding anything else is still refused.
func TestRestoreKeepsSNMPEngineBoots(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir, freeAddr(t), "n1", quietTiming)
	writeEngine(t, dir, testEngineID, 7)
	bdir := t.TempDir()
	m := n.manager(bdir, nil, 0, &steppingClock{t: time.Date(2026, 5, 1, 2, 0, 0, 0, time.UTC)})
	n.configure(0, 2)
	full := take(t, m, Full)
	n.close()

	cases := []struct {
		name     string
		replace  bool
		id       string // the target's engine file ("": none)
		boots    uint32
		wantID   string // "": no file
		wantBoot uint32
	}{
		{"replace, the data dir's boots larger", true, testEngineID, 12, testEngineID, 12},
		{"replace, the backup's boots larger", true, testEngineID, 3, testEngineID, 7},
		{"replace, another engine in the data dir", true, "80007ed905aa", 2, "80007ed905aa", 2},
		{"replace, no file left", true, "", 0, testEngineID, 7 + snmpBootsMargin},
		{"new cluster, the data dir's kept", false, "80007ed905bb", 5, "80007ed905bb", 5},
		{"new cluster, none", false, "", 0, "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			target := filepath.Join(t.TempDir(), "data")
			if tc.id != "" {
				writeEngine(t, target, tc.id, tc.boots)
			}
			req := restoreReq(filepath.Join(bdir, full.ID), target, nil)
			req.Replace = tc.replace
			_, r := restore(t, req)
			got := readEngine(t, target)
			switch {
			case tc.wantID == "" && got != nil:
				t.Fatalf("engine file %+v, want none", got)
			case tc.wantID != "" && (got == nil || got.EngineID != tc.wantID || got.Boots != tc.wantBoot):
				t.Fatalf("engine file %+v, want %s boots %d (%s)", got, tc.wantID, tc.wantBoot, r.SNMPEngine)
			case tc.wantID != "" && !strings.Contains(r.SNMPEngine, tc.wantID):
				t.Fatalf("restore says %q", r.SNMPEngine)
			}
			if _, err := os.Stat(filepath.Join(target, "node.json")); err != nil {
				t.Fatalf("not restored: %v", err)
			}
		})
	}
	// The engine file and anything else: refused.
	target := filepath.Join(t.TempDir(), "data")
	writeEngine(t, target, testEngineID, 9)
	if err := os.WriteFile(filepath.Join(target, "other"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	req := restoreReq(filepath.Join(bdir, full.ID), target, nil)
	req.Replace = true
	if _, err := PlanRestore(req); err == nil || !strings.Contains(err.Error(), "is not empty") {
		t.Fatalf("restore into a data dir with more than the engine file: %v", err)
	}
	if got := readEngine(t, target); got.Boots != 9 {
		t.Fatalf("a refused restore changed the engine file: %+v", got)
	}
}
