package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandemcc/tandem/internal/tmpfstest"
)

// TestBackupFailedTrap: a backup that cannot be written (its directory on
// a full tmpfs) fails with a clear line, shows as failed in the MIB's
// backup table, and snmptrapd receives tandemBackupFailed from the node
// whose backup it was — with the level, the result and the error, so the
// NOC knows what to fix without polling — and nothing of the backup's
// secrets (the admin token).
func TestBackupFailedTrap(t *testing.T) {
	snmpTool(t, "snmpget")
	recv := startTrapReceiver(t)
	dir := tmpfstest.Mount(t, 1<<20)
	tmpfstest.Fill(t, filepath.Join(dir, "filler"))
	n := newNode(t, "b1")
	addr := loopback(t)
	n.extra = append(n.extra, snmpFlags(addr, "--snmp-trap-to", recv.addr, "--snmp-trap-profile", "noc",
		"--backup-dir", filepath.Join(dir, "backups"))...)
	n.start()
	waitLeader(t, []*node{n}, 1)
	n.apply(nocDoc()).ok(t)

	r := n.ctl("backup", "now", "--level", "0", "--poll", "100ms")
	if r.code == 0 || !strings.Contains(r.stdout+r.stderr, "no space left") {
		t.Fatalf("backup now on a full disk: want a failure naming the lack of space\n%v", r)
	}
	var fails []trap
	waitFor(t, waitShort, "tandemBackupFailed", func() (bool, string) {
		fails = named(recv.traps(t), "TANDEM-MIB::tandemBackupFailed")
		return len(fails) > 0, fmt.Sprintf("%d traps", len(recv.traps(t)))
	})
	if len(fails) != 1 {
		t.Fatalf("%d tandemBackupFailed, want 1:\n%v", len(fails), fails)
	}
	f := fails[0]
	if got := f.vars["TANDEM-MIB::tandemNodeId.0"]; got != "STRING: b1" {
		t.Errorf("tandemNodeId = %q, want b1\n%s", got, f.line)
	}
	if got := f.vars["TANDEM-MIB::tandemBackupLastResult.full"]; got != "INTEGER: failed(3)" {
		t.Errorf("tandemBackupLastResult.full = %q, want failed(3)\n%s", got, f.line)
	}
	if !strings.Contains(f.vars["TANDEM-MIB::tandemBackupLastError.full"], "no space left") {
		t.Errorf("tandemBackupLastError.full does not say why:\n%s", f.line)
	}
	if strings.Contains(f.line, n.tokenValue()) {
		t.Errorf("the notification carries the admin token:\n%s", f.line)
	}
	got, _ := snmpLines(t, snmp(t, "snmpget", snmpCommunity, addr, "TANDEM-MIB::tandemBackupLastResult.full"))
	if got["tandemBackupLastResult.full"] != "INTEGER: failed(3)" {
		t.Errorf("the MIB's tandemBackupLastResult.full = %q, want failed(3)", got["tandemBackupLastResult.full"])
	}
}
