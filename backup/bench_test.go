package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/contactcenter"
	"github.com/tandemcc/tandem/replication"
)

// BenchmarkBackupNode is bench/backup.sh's measure (issue 14): a real
// tandemd (TANDEM_BIN_DIR) holding TANDEM_BACKUP_STATE_MB megabytes of
// engine state (directory contacts) is backed up — `tandemctl backup now
// --level 0`, timed from the command line — beside `tar` and `tar |
// zstd -1 -T0` of the same data directory, in alternating rounds; then 1 %
// of the contacts change and an incremental is taken; then the node stops
// and the full + incremental are restored into a new directory. The
// figures go to the benchmark log and to TANDEM_BACKUP_BENCH_OUT.
func BenchmarkBackupNode(b *testing.B) {
	mb, _ := strconv.Atoi(os.Getenv("TANDEM_BACKUP_STATE_MB"))
	bin := os.Getenv("TANDEM_BIN_DIR")
	if mb <= 0 || bin == "" {
		b.Skip("TANDEM_BACKUP_STATE_MB and TANDEM_BIN_DIR are set by bench/backup.sh")
	}
	rounds, _ := strconv.Atoi(os.Getenv("TANDEM_BACKUP_ROUNDS"))
	rounds = max(rounds, 1)
	work := b.TempDir()
	dataDir, bdir := filepath.Join(work, "data"), filepath.Join(work, "backups")
	raftAddr := freeAddr(b)
	contacts := mb << 20 / 150 // about 150 bytes of state each
	b.Logf("building a node of %d contacts", contacts)
	stateBytes := seedNode(b, dataDir, raftAddr, contacts)
	// The seeding held the state several times over (the synthesised
	// document, the engine, its snapshot): give that memory back before
	// the node starts, which holds the state again (at 1 GiB of state
	// the two would not fit beside each other on the development VM).
	debug.FreeOSMemory()

	admin := freeAddr(b)
	token := "bench-token-0123456789abcdef"
	tandemd := exec.Command(filepath.Join(bin, "tandemd"), "--data-dir", dataDir, "--node-id", "n1", "--raft-addr", raftAddr,
		"--admin-addr", admin, "--http-addr", "", "--snmp-addr", "", "--sip-addr", "", "--admin-token", token, "--backup-dir", bdir,
		"--snapshot-threshold", "1000000")
	logf, _ := os.Create(filepath.Join(work, "tandemd.log"))
	defer logf.Close()
	tandemd.Stdout, tandemd.Stderr = logf, logf
	startBegan := time.Now()
	if err := tandemd.Start(); err != nil {
		b.Fatal(err)
	}
	defer tandemd.Process.Kill()
	if err := waitReady(tandemd, admin); err != nil {
		logf.Sync()
		log, _ := os.ReadFile(logf.Name())
		if len(log) > 4000 {
			log = log[len(log)-4000:]
		}
		b.Fatalf("%v\n%s", err, log)
	}
	startT := time.Since(startBegan)
	ctl := func(args ...string) (string, time.Duration) {
		b.Helper()
		cmd := exec.Command(filepath.Join(bin, "tandemctl"), append([]string{"--addr", admin, "--token", token}, args...)...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		began := time.Now()
		if err := cmd.Run(); err != nil {
			b.Fatalf("tandemctl %v: %v\n%s", args, err, out.String())
		}
		return out.String(), time.Since(began)
	}
	timed := func(script string) time.Duration {
		b.Helper()
		began := time.Now()
		if out, err := exec.Command("bash", "-c", script).CombinedOutput(); err != nil {
			b.Fatalf("%s: %v\n%s", script, err, out)
		}
		return time.Since(began)
	}
	dirBytes := duBytes(b, dataDir)
	haveZstd := exec.Command("zstd", "--version").Run() == nil
	var ours, nodeSide, tarT, tarZ []time.Duration
	var full struct {
		Result Result `json:"result"`
	}
	for r := 0; r < rounds; r++ {
		tarT = append(tarT, timed(fmt.Sprintf("tar -cf %s/dd.tar -C %s . && sync -f %s/dd.tar && rm %s/dd.tar", work, dataDir, work, work)))
		if haveZstd {
			tarZ = append(tarZ, timed(fmt.Sprintf("tar -cf - -C %s . | zstd -q -1 -T0 -o %s/dd.tar.zst && sync -f %s/dd.tar.zst && rm %s/dd.tar.zst", dataDir, work, work, work)))
		}
		out, d := ctl("-o", "json", "backup", "now", "--level", "0", "--poll", "50ms")
		ours = append(ours, d)
		if err := json.Unmarshal([]byte(out), &full); err != nil || full.Result.Result != ResultOK {
			b.Fatalf("backup now: %v %s", err, out)
		}
		nodeSide = append(nodeSide, time.Duration(max(full.Result.DurationMS, 1))*time.Millisecond)
		if r < rounds-1 {
			os.RemoveAll(filepath.Join(bdir, full.Result.ID))
		}
	}
	fullSize := full.Result.Size

	// 1 % of the contacts change, through the admin API.
	changed := max(contacts/100, 1)
	changeBegan := time.Now()
	for from := 0; from < changed; from += 5000 {
		var doc strings.Builder
		doc.WriteString("contacts:\n")
		for i := from; i < min(from+5000, changed); i++ {
			fmt.Fprintf(&doc, "  - {id: c%08d, first_name: Changed%d, last_name: Contact%d, company: Company %d, mobile: '+4917%08d'}\n", i*100, i, i, i%997, i)
		}
		// A configuration document applies idempotently: on a busy
		// machine a timed-out apply is sent again.
		var err error
		for try := 0; try < 5; try++ {
			if err = postConfig(admin, token, doc.String()); err == nil {
				break
			}
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	changeT := time.Since(changeBegan)
	out, incrT := ctl("-o", "json", "backup", "now", "--level", "1", "--poll", "50ms")
	var incr struct {
		Result Result `json:"result"`
	}
	if err := json.Unmarshal([]byte(out), &incr); err != nil || incr.Result.Result != ResultOK || incr.Result.Level != Incremental {
		b.Fatalf("incremental: %v %s", err, out)
	}
	tandemd.Process.Signal(syscall.SIGTERM)
	tandemd.Wait()
	target := filepath.Join(work, "restored")
	restoreOut, restoreT := ctl("backup", "restore", "--from", bdir, "--data-dir", target, "--raft-addr", raftAddr, "--yes")
	b.Logf("restore:\n%s", restoreOut)

	med := func(ds []time.Duration) time.Duration {
		s := append([]time.Duration(nil), ds...)
		for i := range s {
			for j := i + 1; j < len(s); j++ {
				if s[j] < s[i] {
					s[i], s[j] = s[j], s[i]
				}
			}
		}
		return s[len(s)/2]
	}
	mbps := func(n int64, d time.Duration) float64 { return float64(n) / (1 << 20) / d.Seconds() }
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	var lines []string
	add := func(format string, a ...any) { lines = append(lines, fmt.Sprintf(format, a...)) }
	add("state: %d contacts, engine state %.0f MiB, data dir %.0f MiB; %d round(s), medians", contacts, float64(stateBytes)/(1<<20), float64(dirBytes)/(1<<20), rounds)
	oursRate := mbps(dirBytes, med(ours))
	nodeRate := mbps(dirBytes, med(nodeSide))
	add("full backup, tandemctl backup now --level 0: %v, %.1f MiB/s of data dir (the node's own part: %v, %.1f MiB/s); %.1f MiB on disk (%.2f of the state)",
		med(ours).Round(time.Millisecond), oursRate, med(nodeSide), nodeRate, float64(fullSize)/(1<<20), float64(fullSize)/float64(stateBytes))
	add("tar of the data dir:               %v, %.1f MiB/s", med(tarT).Round(time.Millisecond), mbps(dirBytes, med(tarT)))
	ratio := oursRate / mbps(dirBytes, med(tarT))
	add("ours ÷ tar: %.2f by tandemctl's wall time, %.2f by the node's (target ≥ 0.7: %s)", ratio, nodeRate/mbps(dirBytes, med(tarT)), verdict(ratio >= 0.7))
	if haveZstd {
		rz := oursRate / mbps(dirBytes, med(tarZ))
		add("tar | zstd -1 -T0:                 %v, %.1f MiB/s", med(tarZ).Round(time.Millisecond), mbps(dirBytes, med(tarZ)))
		add("ours ÷ (tar | zstd): %.2f by tandemctl's wall time, %.2f by the node's (target ≥ 0.7: %s)", rz, nodeRate/mbps(dirBytes, med(tarZ)), verdict(rz >= 0.7))
	}
	share := float64(incr.Result.Size) / float64(fullSize)
	timeShare := incrT.Seconds() / med(ours).Seconds()
	nodeShare := float64(max(incr.Result.DurationMS, 1)) / float64(med(nodeSide).Milliseconds()+1)
	add("incremental after 1%% of the contacts changed (%d): %v (the node's part %v), %.1f KiB",
		changed, incrT.Round(time.Millisecond), time.Duration(incr.Result.DurationMS)*time.Millisecond, float64(incr.Result.Size)/1024)
	add("incremental ÷ full: size %.3f (target ≤ 0.05: %s), time %.3f by tandemctl's wall time (target ≤ 0.05: %s), %.3f by the node's",
		share, verdict(share <= 0.05), timeShare, verdict(timeShare <= 0.05), nodeShare)
	if incr.Result.Note != "" {
		add("incremental note: %s", incr.Result.Note)
	}
	add("restore of full + incremental (tandemctl backup restore): %v; for scale, the node applied the 1%% change in %v and took %v to start on the seeded data dir",
		restoreT.Round(time.Millisecond), changeT.Round(time.Millisecond), startT.Round(time.Millisecond))
	for _, l := range lines {
		b.Log(l)
	}
	if p := os.Getenv("TANDEM_BACKUP_BENCH_OUT"); p != "" {
		os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	}
}

// seedNode writes a one-node cluster's data directory whose engine holds
// n directory contacts, as a Raft snapshot (a node that has run for a
// while). It returns the size of the engine's state.
func seedNode(b *testing.B, dir, raftAddr string, n int) int64 {
	b.Helper()
	eng, err := buildEngine(n)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	st, err := cluster.Open(ctx, cluster.Config{NodeID: "n1", RaftAddr: raftAddr, AdminURL: "http://127.0.0.1:1", DataDir: dir,
		Token: "t", Machines: []cluster.Machine{eng}, Control: []cluster.Machine{replication.NewControl()},
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close(context.Background())
	for !(st.Ready() && st.IsLeader()) {
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := st.Propose(ctx, cluster.TypeNoop, nil); err != nil {
		b.Fatal(err)
	}
	if _, err := st.Snapshot(ctx); err != nil {
		b.Fatal(err)
	}
	s, _ := eng.Snapshot()
	return int64(len(s))
}

// waitReady waits until tandemd serves (a large state takes a while to
// restore) or exits.
func waitReady(cmd *exec.Cmd, admin string) error {
	exited := make(chan struct{})
	go func() {
		cmd.Process.Wait()
		close(exited)
	}()
	deadline := time.Now().Add(10 * time.Minute)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("tandemd exited")
		default:
		}
		resp, err := http.Get("http://" + admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("tandemd not ready after 10 minutes")
}

func postConfig(admin, token, doc string) error {
	req, _ := http.NewRequest(http.MethodPost, "http://"+admin+"/v1/config", strings.NewReader(doc))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/yaml")
	resp, err := (&http.Client{Timeout: 10 * time.Minute}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("config apply: HTTP %d %s", resp.StatusCode, body)
	}
	return nil
}

func duBytes(b *testing.B, dir string) int64 {
	b.Helper()
	var n int64
	filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			n += info.Size()
		}
		return nil
	})
	return n
}

// buildEngine is an engine holding n directory contacts, restored from a
// synthesised snapshot (applying them would take far longer).
func buildEngine(n int) (*contactcenter.Engine, error) {
	eng := contactcenter.New()
	raw, err := eng.Snapshot()
	if err != nil {
		return nil, err
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(doc["config"], &cfg); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i := 0; i < n; i++ {
		if i > 0 {
			buf.WriteByte(',')
		}
		fmt.Fprintf(&buf, `"c%08d":{"id":"c%08d","first_name":"First%d","last_name":"Last%d","company":"Company %d","mobile":"+4917%08d"}`,
			i, i, i, i, i%997, i)
	}
	buf.WriteByte('}')
	cfg["contacts"] = buf.Bytes()
	doc["config"], _ = json.Marshal(cfg)
	raw, _ = json.Marshal(doc)
	return eng, eng.Restore(raw)
}
