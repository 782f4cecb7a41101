package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// backupManifest is the part of a backup's manifest.json the tests read.
type backupManifest struct {
	ID          string            `json:"id"`
	Level       int               `json:"level"`
	Base        string            `json:"base"`
	Index       uint64            `json:"index"`
	Entries     uint64            `json:"entries"`
	Size        int64             `json:"size"`
	StateHashes map[string]string `json:"state_hashes"`
	Encryption  string            `json:"encryption"`
}

func readBackupManifest(t *testing.T, dir, id string) backupManifest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, id, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m backupManifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// backupNow runs `tandemctl backup now --level L -o json` on n and
// returns the backup's ID.
func backupNow(t *testing.T, n *node, level int) string {
	t.Helper()
	r := n.ctl("-o", "json", "backup", "now", "--level", fmt.Sprint(level), "--poll", "100ms").ok(t)
	var job struct {
		State  string `json:"state"`
		Result struct {
			ID    string `json:"id"`
			Level int    `json:"level"`
			Note  string `json:"note"`
		} `json:"result"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &job); err != nil || job.State != "done" || job.Result.Level != level {
		t.Fatalf("backup now --level %d: %v %+v\n%s", level, err, job, r)
	}
	return job.Result.ID
}

// configLoad applies configurations (new queues and agents) through the
// nodes, round robin, until stopped: engine commands that keep the log
// and the state growing.
type configLoad struct {
	stop    chan struct{}
	wg      sync.WaitGroup
	applied atomic.Int64
	failed  atomic.Int64
}

func startConfigLoad(t *testing.T, prefix string, nodes []*node, workers int) *configLoad {
	l := &configLoad{stop: make(chan struct{})}
	var seq atomic.Int64
	for w := 0; w < workers; w++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				i := seq.Add(1)
				doc := fmt.Sprintf("queues:\n  - {id: %s-q%d, name: Queue %d}\nagents:\n  - {id: %s-a%d, name: Agent %d, queues: [%s-q%d]}\n",
					prefix, i, i, prefix, i, i, prefix, i)
				n := nodes[int(i)%len(nodes)]
				code, _, err := n.do(http.MethodPost, "/v1/config", true, []byte(doc), "application/yaml")
				if err != nil || code != http.StatusOK {
					l.failed.Add(1)
					time.Sleep(20 * time.Millisecond)
					continue
				}
				l.applied.Add(1)
			}
		}()
	}
	return l
}

func (l *configLoad) wait(t *testing.T, atLeast int64) {
	t.Helper()
	waitFor(t, waitCluster, fmt.Sprintf("%d configurations applied under load", atLeast), func() (bool, string) {
		return l.applied.Load() >= atLeast, fmt.Sprintf("%d applied, %d failed", l.applied.Load(), l.failed.Load())
	})
}

func (l *configLoad) halt() {
	close(l.stop)
	l.wg.Wait()
}

// engineFile is a node's snmp-engine.json.
type engineFile struct {
	EngineID string `json:"engine_id"`
	Boots    uint32 `json:"boots"`
}

func readEngineFile(t *testing.T, dataDir string) engineFile {
	t.Helper()
	var e engineFile
	b, err := os.ReadFile(filepath.Join(dataDir, "snmp-engine.json"))
	if err == nil {
		err = json.Unmarshal(b, &e)
	}
	if err != nil || e.EngineID == "" || e.Boots == 0 {
		t.Fatalf("snmp-engine.json of %s: %v %+v", dataDir, err, e)
	}
	return e
}

// engineHash is the node's engine state hash and applied index.
func engineHash(n *node) (string, uint64, error) {
	st, err := n.standbyState()
	return st.EngineHash, st.AppliedIdx, err
}

// TestBackupRestoreDrill (issue 14): a 3-node cluster under load; a full
// backup, more load, an incremental (both under load, on one member),
// whose restore reproduces the member's own snapshot taken between
// them; the load stops and a last incremental is taken at the member's
// applied index; every node killed and every data directory destroyed;
// full + last incremental restored into a fresh directory; the node
// started there is a one-node cluster whose engine hashes exactly as the
// member's did at that index, and which serves writes.
func TestBackupRestoreDrill(t *testing.T) {
	besideTheBurst(t)
	backups := filepath.Join(t.TempDir(), "backups")
	opts := map[int][]nodeOpt{0: {withArgs("--backup-dir", backups)}}
	nodes := startCluster(t, "bk", 3, opts)
	member := nodes[0] // backs up (leader or follower: every node can)
	load := startConfigLoad(t, "drill", nodes, 4)
	defer func() {
		select {
		case <-load.stop:
		default:
			load.halt()
		}
	}()
	load.wait(t, 30)
	fullID := backupNow(t, member, 0)
	before := load.applied.Load()
	load.wait(t, before+20)
	// A snapshot of the member between the full and the incremental:
	// the incremental records its hash, which a restore must reproduce.
	member.ctl("cluster", "snapshot").ok(t)
	load.wait(t, before+40)
	underLoad := backupNow(t, member, 1)
	load.halt()

	full := readBackupManifest(t, backups, fullID)
	busy := readBackupManifest(t, backups, underLoad)
	if busy.Base != fullID || busy.Index <= full.Index || busy.Entries != busy.Index-full.Index {
		t.Fatalf("incremental %+v on full %+v", busy, full)
	}
	if busy.Size >= full.Size {
		t.Errorf("incremental of %d entries is %d bytes, the full %d", busy.Entries, busy.Size, full.Size)
	}
	scratch := newNode(t, member.id+"-check")
	if r := runCtl(scratch.cwd, "backup", "restore", "--from", filepath.Join(backups, underLoad), "--data-dir", scratch.dataDir,
		"--raft-addr", scratch.raftAddr, "--yes"); r.code != 0 || !strings.Contains(r.stdout, "reproduced the node's own snapshot at index") {
		t.Fatalf("restore of the incremental taken under load: %v", r)
	}
	// The load stopped: the last incremental is at the member's applied
	// index, whose engine hash is the one to get back.
	var incrID, want string
	var incr backupManifest
	for attempt := 0; ; attempt++ { // a command of the cluster's own may land between the reads
		h1, a1, err := engineHash(member)
		if err != nil {
			t.Fatal(err)
		}
		incrID = backupNow(t, member, 1)
		h2, a2, err := engineHash(member)
		if err != nil {
			t.Fatal(err)
		}
		incr = readBackupManifest(t, backups, incrID)
		if h1 == h2 && a1 == a2 && incr.Index == a1 {
			want = h1
			break
		}
		if attempt == 3 {
			t.Fatalf("the member kept applying: %s at %d, %s at %d, incremental at %d", h1, a1, h2, a2, incr.Index)
		}
	}
	t.Logf("full %s at index %d (%d bytes), incremental under load %s at index %d (%d entries, %d bytes), last %s at %d; %d configurations applied under load",
		fullID, full.Index, full.Size, underLoad, busy.Index, busy.Entries, busy.Size, incrID, incr.Index, load.applied.Load())
	member.ctl("backup", "verify", incrID).ok(t)
	if r := member.ctl("backup", "list").ok(t); !strings.Contains(r.stdout, fullID) || !strings.Contains(r.stdout, "└ "+incrID) {
		t.Fatalf("backup list:\n%s", r.stdout)
	}
	var status struct {
		Backup struct {
			LastFull        *struct{ ID, Result string } `json:"last_full"`
			LastIncremental *struct {
				ID     string `json:"id"`
				Index  uint64 `json:"index"`
				Size   int64  `json:"size"`
				Result string `json:"result"`
			} `json:"last_incremental"`
		} `json:"backup"`
	}
	r := member.ctl("status", "-o", "json").ok(t)
	if err := json.Unmarshal([]byte(r.stdout), &status); err != nil || status.Backup.LastIncremental == nil ||
		status.Backup.LastIncremental.ID != incrID || status.Backup.LastIncremental.Index != incr.Index ||
		status.Backup.LastIncremental.Result != "ok" || status.Backup.LastFull == nil || status.Backup.LastFull.ID != fullID {
		t.Fatalf("status backup section: %v %s", err, r.stdout)
	}

	// Lose everything.
	for _, n := range nodes {
		n.kill()
		if err := os.RemoveAll(n.dataDir); err != nil {
			t.Fatal(err)
		}
	}

	// Restore into a fresh directory, as a new one-node cluster.
	fresh := newNode(t, member.id)
	r = runCtl(fresh.cwd, "backup", "restore", "--from", backups, "--data-dir", fresh.dataDir,
		"--raft-addr", fresh.raftAddr, "--yes")
	if r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("restored at index %d", incr.Index)) || !strings.Contains(r.stdout, want) {
		t.Fatalf("restore: %v", r)
	}
	// A second restore into the same directory is refused and changes
	// nothing.
	if r2 := runCtl(fresh.cwd, "backup", "restore", "--from", backups, "--data-dir", fresh.dataDir, "--yes"); r2.code == 0 ||
		!strings.Contains(r2.stderr, "is not empty") || len(nonEmptyLines(r2.stderr)) != 1 {
		t.Errorf("restore into a non-empty directory: %v", r2)
	}
	fresh.start()
	waitLeader(t, []*node{fresh}, 1)
	h, applied, err := engineHash(fresh)
	if err != nil {
		t.Fatal(err)
	}
	if h != want || applied < incr.Index {
		t.Fatalf("restored node: engine hash %s at %d, want %s at ≥ %d", h, applied, want, incr.Index)
	}
	fresh.apply("queues:\n  - {id: after-restore, name: After restore}\n").ok(t)
	if h2, _, _ := engineHash(fresh); h2 == want {
		t.Fatal("a write after the restore did not change the engine")
	}
}

// TestBackupReplaceMember (issue 14): a member of a live cluster is lost
// with its data; its backup (full + incremental) restored with --replace
// takes its identity, rejoins the cluster and catches up with what was
// committed since, ending with the leader's engine state.
func TestBackupReplaceMember(t *testing.T) {
	besideTheBurst(t)
	backups := filepath.Join(t.TempDir(), "backups")
	opts := map[int][]nodeOpt{}
	v3 := v3Files(t) // an SNMPv3 engine on every node: its boots must survive the replace
	for i := 0; i < 3; i++ {
		opts[i] = []nodeOpt{withArgs(append([]string{"--backup-dir", backups}, v3...)...)}
	}
	nodes := startCluster(t, "rp", 3, opts)
	leader := waitLeader(t, nodes, 3)
	lost := followers(nodes, leader)[0]
	load := startConfigLoad(t, "replace", []*node{leader}, 2)
	load.wait(t, 20)
	backupNow(t, lost, 0)
	load.wait(t, load.applied.Load()+10)
	incrID := backupNow(t, lost, 1)
	load.wait(t, load.applied.Load()+20)

	// A restart after the backups: the engine's boots pass the backup's.
	lost.kill()
	lost.start()
	caughtUp(t, lost, leader)
	engine := readEngineFile(t, lost.dataDir)

	lost.kill()
	// The data is lost; the SNMP engine file is kept (RFC 3414: its
	// boots never go back).
	des, err := os.ReadDir(lost.dataDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		if de.Name() != "snmp-engine.json" {
			if err := os.RemoveAll(filepath.Join(lost.dataDir, de.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	r := runCtl(lost.cwd, "backup", "restore", "--from", filepath.Join(backups, incrID), "--data-dir", lost.dataDir, "--replace", "--yes")
	if r.code != 0 || !strings.Contains(r.stdout, "rejoins") ||
		!strings.Contains(r.stdout, fmt.Sprintf("SNMP engine %s kept, boots %d", engine.EngineID, engine.Boots)) {
		t.Fatalf("restore --replace: %v (engine before %+v)", r, engine)
	}
	t.Logf("restored %s: %s", lost.name(), strings.TrimSpace(r.stdout))
	lost.start() // the same flags: its identity, raft address and token
	if got := readEngineFile(t, lost.dataDir); got.EngineID != engine.EngineID || got.Boots != engine.Boots+1 {
		t.Fatalf("SNMP engine after the restore and a start: %+v, before %+v", got, engine)
	}
	load.wait(t, load.applied.Load()+10)
	load.halt()
	waitLeader(t, nodes, 3)
	waitFor(t, waitCluster, lost.name()+" to catch up with the leader", func() (bool, string) {
		lh, li, err := engineHash(leader)
		if err != nil {
			return false, err.Error()
		}
		h, i, err := engineHash(lost)
		if err != nil {
			return false, err.Error()
		}
		return h == lh && i >= li, fmt.Sprintf("leader %s at %d, %s %s at %d", lh, li, lost.name(), h, i)
	})
	waitFor(t, waitShort, "the leader to see every member up", func() (bool, string) {
		st, err := leader.status()
		if err != nil {
			return false, err.Error()
		}
		for _, m := range st.Nodes {
			if m.State != "up" {
				return false, fmt.Sprintf("%s is %s", m.ID, m.State)
			}
		}
		return len(st.Nodes) == 3, fmt.Sprintf("%d members", len(st.Nodes))
	})
	if strings.Contains(lost.log(), sharedToken) {
		t.Error("the replaced node's log shows the admin token")
	}
}
