package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandemcc/tandem/internal/tmpfstest"
)

// TestRaftDiskFull: a node whose data filesystem (Raft log, snapshots)
// is full refuses writes with one clear line — `no space left on <dir>:
// free space and retry`, 507 no_space — instead of failing inside Raft:
// it keeps its leadership, status and /metrics say why, and once space is
// freed it serves writes again without a restart; every write it
// acknowledged is there (issue 12.1). snmptrapd receives one
// tandemNoSpace naming the Raft log's directory, so the NOC knows which
// disk to free (issue 13.4). Real tmpfs, as root.
func TestRaftDiskFull(t *testing.T) {
	recv := startTrapReceiver(t)
	mnt := tmpfstest.Mount(t, 48<<20)
	n := newNode(t, "df1", func(n *node) { n.dataDir = filepath.Join(mnt, "data") })
	n.extra = append(n.extra, snmpFlags(loopback(t), "--snmp-trap-to", recv.addr, "--snmp-trap-profile", "noc")...)
	n.start()
	waitLeader(t, []*node{n}, 1)
	acked := 0
	post := func(i int) (int, []byte) {
		t.Helper()
		doc := fmt.Sprintf("queues:\n  - {id: q%04d, name: \"Queue %d\"}\n", i, i)
		code, body, err := n.do(http.MethodPost, "/v1/config", true, []byte(doc), "application/yaml")
		if err != nil {
			t.Fatalf("config apply %d: %v", i, err)
		}
		if code == http.StatusOK {
			acked++
		}
		return code, body
	}
	for i := 0; i < 20; i++ {
		if code, body := post(i); code != http.StatusOK {
			t.Fatalf("config apply %d with space: HTTP %d %s", i, code, body)
		}
	}
	filler := filepath.Join(mnt, "filler")
	tmpfstest.Fill(t, filler)

	// Writes now refuse, each with one clear line, and the node stays
	// leader. A few may still fit in what the filesystem had left.
	refused := ""
	for i := 20; i < 80 && refused == ""; i++ {
		if code, body := post(i); code != http.StatusOK {
			if code != http.StatusInsufficientStorage || !strings.Contains(string(body), `"code":"no_space"`) ||
				!strings.Contains(string(body), "no space left on "+filepath.Join(mnt, "data")) ||
				!strings.Contains(string(body), "free space and retry") {
				t.Fatalf("config apply %d on a full disk: HTTP %d %s; want 507 no_space naming the directory", i, code, body)
			}
			refused = string(body)
		}
	}
	if refused == "" {
		t.Fatal("60 writes on a full filesystem all acknowledged")
	}
	t.Logf("refused: %s", strings.TrimSpace(refused))
	time.Sleep(2 * time.Second) // elections would start within one
	st, err := n.status()
	if err != nil || st.Role != "leader" {
		t.Fatalf("after refusing writes for lack of space: role %q (%v); want leader", st.Role, err)
	}
	if code, body, _ := n.get("/v1/status", true); code != http.StatusOK || !strings.Contains(string(body), `"no_space"`) {
		t.Errorf("status does not say the disk is full: HTTP %d %s", code, body)
	}
	if code, body, _ := n.get("/metrics", false); code != http.StatusOK || !strings.Contains(string(body), "tandem_raft_disk_no_space 1") {
		t.Errorf("/metrics does not say the disk is full (tandem_raft_disk_no_space 1)")
	}

	var full []trap
	waitFor(t, waitShort, "tandemNoSpace", func() (bool, string) {
		full = named(recv.traps(t), "TANDEM-MIB::tandemNoSpace")
		return len(full) > 0, fmt.Sprintf("%d traps", len(recv.traps(t)))
	})
	f := full[0]
	if got := f.vars["TANDEM-MIB::tandemNotifyStore.0"]; got != "INTEGER: raftLog(3)" {
		t.Errorf("tandemNotifyStore = %q, want raftLog(3)\n%s", got, f.line)
	}
	if got := f.vars["TANDEM-MIB::tandemNotifyPath.0"]; !strings.Contains(got, filepath.Join(mnt, "data")) {
		t.Errorf("tandemNotifyPath = %q, want the data directory %s\n%s", got, filepath.Join(mnt, "data"), f.line)
	}
	if got := f.vars["TANDEM-MIB::tandemNodeId.0"]; got != "STRING: df1" {
		t.Errorf("tandemNodeId = %q, want df1\n%s", got, f.line)
	}

	// Space again: writes succeed without a restart.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitFor(t, waitShort, "a write to succeed once space is free", func() (bool, string) {
		code, body := post(1000)
		return code == http.StatusOK, fmt.Sprintf("HTTP %d %s", code, body)
	})
	if code, body, _ := n.get("/metrics", false); code != http.StatusOK || !strings.Contains(string(body), "tandem_raft_disk_no_space 0") {
		t.Errorf("/metrics still says the disk is full")
	}
	if full = named(recv.traps(t), "TANDEM-MIB::tandemNoSpace"); len(full) != 1 {
		t.Errorf("%d tandemNoSpace for one episode, want 1:\n%v", len(full), full)
	}
	cfg := n.mustConfig("")
	got := strings.Count(cfg, "Queue ")
	if got != acked {
		t.Fatalf("%d writes acknowledged, the configuration holds %d queues", acked, got)
	}
}
