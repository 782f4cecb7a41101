package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// journalManifest is what these tests read of an incremental's manifest
// beyond backupManifest.
type journalManifest struct {
	Source     string `json:"source"`
	Note       string `json:"note"`
	Checkpoint *struct {
		Index uint64 `json:"index"`
	} `json:"checkpoint"`
}

// caughtUp waits until n has applied what the leader has.
func caughtUp(t *testing.T, n, leader *node) {
	t.Helper()
	waitFor(t, waitCluster, n.name()+" to apply what the leader has", func() (bool, string) {
		_, li, err := engineHash(leader)
		if err != nil {
			return false, err.Error()
		}
		_, ni, err := engineHash(n)
		if err != nil {
			return false, err.Error()
		}
		return ni >= li, fmt.Sprintf("leader at %d, %s at %d", li, n.name(), ni)
	})
}

// TestBackupIncrementalBeyondCompaction (issue 14): on a 3-node cluster
// under load whose nodes snapshot every 32 entries and keep 32 behind a
// snapshot, the member that backs up takes a full backup, is killed
// (SIGKILL: its journal loses what it had not written) and restarted,
// more load follows and a snapshot compacts its log far past the full's
// index; the incremental is still an incremental, read from the journal,
// with exactly the entries since the full, and the restored node's
// engine hashes as the member's did at the incremental's index (the
// restore also reproducing the member's own snapshot at its checkpoint).
func TestBackupIncrementalBeyondCompaction(t *testing.T) {
	besideTheBurst(t)
	backups := filepath.Join(t.TempDir(), "backups")
	small := []string{"--snapshot-threshold", "32"}
	opts := map[int][]nodeOpt{0: {withArgs(append([]string{"--backup-dir", backups}, small...)...)},
		1: {withArgs(small...)}, 2: {withArgs(small...)}}
	nodes := startCluster(t, "bj", 3, opts)
	member := nodes[0]
	load := startConfigLoad(t, "jr", nodes, 4)
	load.wait(t, 20)
	fullID := backupNow(t, member, 0)
	full := readBackupManifest(t, backups, fullID)
	load.wait(t, load.applied.Load()+40)
	load.halt()

	// A crash and a restart between the full and the incremental, the
	// load paused so the member catches up from the leader's log.
	member.kill()
	member.start()
	leader := waitLeader(t, nodes, 3)
	caughtUp(t, member, leader)

	load = startConfigLoad(t, "jr2", nodes, 4)
	defer func() {
		select {
		case <-load.stop:
		default:
			load.halt()
		}
	}()
	load.wait(t, 150)
	r := member.ctl("cluster", "snapshot").ok(t)
	mm := regexp.MustCompile(`taken at index (\d+)`).FindStringSubmatch(r.stdout)
	if mm == nil {
		t.Fatalf("tandemctl cluster snapshot: %q", r.stdout)
	}
	snapAt, _ := strconv.ParseUint(mm[1], 10, 64)
	if snapAt < full.Index+32+100 {
		t.Fatalf("snapshot at %d: the log (32 entries kept) is not compacted well past the full's index %d", snapAt, full.Index)
	}
	load.wait(t, load.applied.Load()+20)
	load.halt()
	leader = waitLeader(t, nodes, 3)
	caughtUp(t, member, leader)

	var incr backupManifest
	var jm journalManifest
	var want string
	for attempt := 0; ; attempt++ { // a command of the cluster's own may land between the reads
		h1, a1, err := engineHash(member)
		if err != nil {
			t.Fatal(err)
		}
		id := backupNow(t, member, 1)
		h2, a2, err := engineHash(member)
		if err != nil {
			t.Fatal(err)
		}
		incr = readBackupManifest(t, backups, id)
		b, err := os.ReadFile(filepath.Join(backups, id, "manifest.json"))
		if err != nil || json.Unmarshal(b, &jm) != nil {
			t.Fatalf("manifest of %s: %v", id, err)
		}
		if h1 == h2 && a1 == a2 && incr.Index == a1 {
			want = h1
			break
		}
		if attempt == 3 {
			t.Fatalf("the member kept applying: %s at %d, %s at %d, incremental at %d", h1, a1, h2, a2, incr.Index)
		}
	}
	if incr.Level != 1 || incr.Base != fullID || jm.Source != "journal" || jm.Note != "" || incr.Entries != incr.Index-full.Index {
		t.Fatalf("incremental %+v %+v on full %+v: want one read from the journal", incr, jm, full)
	}
	if jm.Checkpoint == nil || jm.Checkpoint.Index < snapAt {
		t.Fatalf("incremental checkpoint %+v, the member's snapshot at %d", jm.Checkpoint, snapAt)
	}
	t.Logf("full %s at %d (%d bytes); incremental %s at %d: %d entries, %d bytes, checkpoint at %d",
		fullID, full.Index, full.Size, incr.ID, incr.Index, incr.Entries, incr.Size, jm.Checkpoint.Index)
	member.ctl("backup", "verify", incr.ID).ok(t)
	var status struct {
		Backup struct {
			Journal struct {
				State string `json:"state"`
				Full  string `json:"full"`
			} `json:"journal"`
		} `json:"backup"`
	}
	st := member.ctl("status", "-o", "json").ok(t)
	if err := json.Unmarshal([]byte(st.stdout), &status); err != nil || status.Backup.Journal.State != "recording" || status.Backup.Journal.Full != fullID {
		t.Fatalf("status backup.journal: %v %s", err, st.stdout)
	}

	for _, n := range nodes {
		n.kill()
	}
	fresh := newNode(t, member.id)
	res := runCtl(fresh.cwd, "backup", "restore", "--from", filepath.Join(backups, incr.ID), "--data-dir", fresh.dataDir,
		"--raft-addr", fresh.raftAddr, "--yes")
	if res.code != 0 || !strings.Contains(res.stdout, fmt.Sprintf("restored at index %d", incr.Index)) || !strings.Contains(res.stdout, want) ||
		!strings.Contains(res.stdout, fmt.Sprintf("reproduced the node's own snapshot at index %d", jm.Checkpoint.Index)) {
		t.Fatalf("restore: %v (want hash %s)", res, want)
	}
	fresh.start()
	waitLeader(t, []*node{fresh}, 1)
	if h, applied, err := engineHash(fresh); err != nil || h != want || applied < incr.Index {
		t.Fatalf("restored node: engine hash %s at %d (%v), want %s at ≥ %d", h, applied, err, want, incr.Index)
	}
}

// TestBackupOnApply (backup.md: "an option that takes an incremental
// after each apply"): with --backup-on-apply, a configuration applied
// through tandemctl is followed by an incremental that holds it.
func TestBackupOnApply(t *testing.T) {
	backups := filepath.Join(t.TempDir(), "backups")
	n := newNode(t, "ap1", withArgs("--backup-dir", backups, "--backup-on-apply"))
	n.start()
	waitLeader(t, []*node{n}, 1)
	fullID := backupNow(t, n, 0)
	cfg := filepath.Join(t.TempDir(), "on-apply.yaml")
	if err := os.WriteFile(cfg, []byte("queues:\n  - {id: on-apply, name: On apply}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The apply's own index: the node commits other things meanwhile
	// (its metadata as leader), which need no incremental.
	var res struct {
		Index uint64 `json:"index"`
	}
	if r := n.ctl("-o", "json", "apply", "-f", cfg).ok(t); json.Unmarshal([]byte(r.stdout), &res) != nil || res.Index == 0 {
		t.Fatalf("apply -o json: %s", r.stdout)
	}
	applied := res.Index
	var last struct {
		ID      string `json:"id"`
		Level   int    `json:"level"`
		Trigger string `json:"trigger"`
		Index   uint64 `json:"index"`
		Result  string `json:"result"`
	}
	waitFor(t, waitShort, "an incremental after the apply", func() (bool, string) {
		var st struct {
			Backup struct {
				LastIncremental json.RawMessage `json:"last_incremental"`
			} `json:"backup"`
		}
		r := n.ctl("status", "-o", "json")
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &st) != nil {
			return false, r.String()
		}
		if json.Unmarshal(st.Backup.LastIncremental, &last) != nil {
			return false, string(st.Backup.LastIncremental)
		}
		return last.Trigger == "apply" && last.Index >= applied, string(st.Backup.LastIncremental)
	})
	m := readBackupManifest(t, backups, last.ID)
	if last.Result != "ok" || last.Level != 1 || m.Base != fullID {
		t.Fatalf("incremental on apply: %+v, manifest %+v", last, m)
	}
}
