package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandemcc/tandem/backup"
	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/contactcenter"
	"github.com/tandemcc/tandem/replication"
	"github.com/tandemcc/tandem/replication/standby"
)

// newBackupCmd is `tandemctl backup now|list|verify|restore`. now, list
// and verify speak to the node at --addr (each node backs itself up into
// its --backup-dir); restore works offline on a data directory.
func newBackupCmd(g *globals, e env) *cobra.Command {
	var level int
	var noWait bool
	var poll time.Duration
	now := &cobra.Command{
		Use:               "now --level 0|1 [--no-wait]",
		Short:             "a full (0) or incremental (1) backup of the node now (progress bar)",
		Long:              "Take a full (0) or incremental (1) backup on the node at --addr now, into its --backup-dir\n(a progress bar on a terminal, plain progress lines otherwise).",
		Args:              argsBetween(0, 0),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(c *cobra.Command, _ []string) error {
			if !c.Flags().Changed("level") {
				level = -1 // required: no default level
			}
			return backupNow(c.Context(), g, e, level, noWait, poll)
		},
	}
	now.Flags().IntVar(&level, "level", 0, "backup level `0|1`: 0 a full backup, 1 an incremental (the commands since the last full)")
	now.Flags().BoolVar(&noWait, "no-wait", false, "start the backup and return")
	now.Flags().DurationVar(&poll, "poll", time.Second, "`DURATION` between two questions to the node about progress")
	completeFlag(now, "level", cobra.FixedCompletions([]string{"0\tfull", "1\tincremental"}, cobra.ShellCompDirectiveNoFileComp))
	completeFlag(now, "poll", cobra.NoFileCompletions)
	list := &cobra.Command{
		Use:               "list",
		Short:             "the backups in the node's --backup-dir, as chains",
		Long:              "The backups in the node's --backup-dir: each full backup and its incrementals, sizes, age.",
		Args:              argsBetween(0, 0),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(c *cobra.Command, _ []string) error {
			return backupList(c.Context(), g, e)
		},
	}
	verify := &cobra.Command{
		Use:               "verify ID",
		Short:             "check a backup without restoring it",
		Long:              "Check a backup of the node's --backup-dir without restoring it: checksums, decryption,\ndecoding, its full backup (IDs: tandemctl backup list).",
		Args:              argsBetween(1, 1),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(c *cobra.Command, args []string) error {
			return backupVerify(c.Context(), g, e, args[0])
		},
	}
	var ro restoreOptions
	restore := &cobra.Command{
		Use:   "restore --from DIR --data-dir DIR [--replace] [--no-incremental] [--key-file F] [--yes]",
		Short: "offline: write a stopped node's data directory from a backup",
		Long: "Offline: write a stopped node's data directory from a backup (full, or full + latest\n" +
			"incremental), as a new one-node cluster or, with --replace, as the backed-up node\n" +
			"rejoining its cluster.",
		Args:              argsBetween(0, 0),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(c *cobra.Command, _ []string) error {
			return backupRestore(c.Context(), g, e, ro)
		},
	}
	f := restore.Flags()
	f.StringVar(&ro.from, "from", "", "a backup's `DIR`, or a backup directory (its newest full backup)")
	f.StringVar(&ro.dataDir, "data-dir", "", "the data directory `DIR` to write (new or empty)")
	f.BoolVar(&ro.replace, "replace", false, "take the identity of the backed-up node and rejoin its cluster (else: a new one-node cluster)")
	f.BoolVar(&ro.noIncremental, "no-incremental", false, "restore the full backup alone, not its latest incremental")
	f.StringVar(&ro.keyFile, "key-file", "", "the `FILE` holding the backup key (age identity or passphrase) of an encrypted backup")
	f.StringVar(&ro.nodeID, "node-id", "", "new cluster only: the restored node's `ID` (default: the backed-up node's)")
	f.StringVar(&ro.raftAddr, "raft-addr", "", "new cluster only: the restored node's Raft address `HOST:PORT` (default: the backed-up node's)")
	f.StringVar(&ro.node, "node", "", "with a directory of several nodes' backups: restore `NODE_ID`'s newest")
	f.BoolVar(&ro.yes, "yes", false, "do not ask: restore (and apply the latest incremental unless --no-incremental)")
	must(restore.MarkFlagDirname("from"))
	must(restore.MarkFlagDirname("data-dir"))
	must(restore.MarkFlagFilename("key-file"))
	for _, name := range []string{"node-id", "raft-addr", "node"} {
		completeFlag(restore, name, cobra.NoFileCompletions)
	}
	return group("backup", "backups of the node: take, list, verify, restore",
		"Backups: now, list and verify speak to the node at --addr (each node backs itself up into\n"+
			"its --backup-dir); restore works offline on a stopped node's data directory.",
		now, list, verify, restore)
}

// backupNow takes a backup at level (backup.Full or backup.Incremental;
// anything else is a usage error) and follows it unless noWait.
func backupNow(ctx context.Context, g *globals, e env, level int, noWait bool, poll time.Duration) error {
	if level != backup.Full && level != backup.Incremental {
		return usagef("backup now: --level 0 (full) or --level 1 (incremental) is required")
	}
	if poll <= 0 {
		return usagef("backup now: --poll must be positive")
	}
	c, err := g.client(e)
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if err := c.postJSON(ctx, "/v1/backup/now", map[string]int{"level": level}, &raw); err != nil {
		return err
	}
	var res struct {
		Message string            `json:"message"`
		Job     *backup.JobStatus `json:"job"`
	}
	if err := json.Unmarshal(raw, &res); err != nil || res.Job == nil {
		return fmt.Errorf("decoding the answer to backup now: %v", err)
	}
	if noWait {
		return result(c, e, raw, res.Message)
	}
	return followBackup(ctx, c, e, *res.Job, poll)
}

// followBackup polls the node's backup job until it ends: a progress bar
// on a terminal, plain progress lines otherwise.
func followBackup(ctx context.Context, c *client, e env, job backup.JobStatus, poll time.Duration) error {
	f, _ := e.stdout.(*os.File)
	bar := !c.json && f != nil && isTerminal(f)
	var raw json.RawMessage
	lastLine := time.Time{}
	for job.State == "running" {
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			if bar {
				fmt.Fprintln(e.stdout)
			}
			return errors.New("stopped following the backup; it goes on on the node (see `tandemctl status`)")
		case <-t.C:
		}
		var next backup.JobStatus
		if err := c.do(ctx, "GET", "/v1/backup/job", "", nil, &raw); err != nil {
			if bar {
				fmt.Fprintln(e.stdout)
			}
			return fmt.Errorf("following the backup: %w", err)
		}
		if err := json.Unmarshal(raw, &next); err != nil {
			return fmt.Errorf("decoding backup progress: %w", err)
		}
		if next.ID != job.ID {
			return fmt.Errorf("another backup (%d) replaced this one (%d) on the node", next.ID, job.ID)
		}
		job = next
		switch {
		case c.json:
		case bar:
			const width = 30
			n := max(0, min(width, int(job.Percent/100*width)))
			fmt.Fprintf(e.stdout, "\r[%s%s] %5.1f%%  %-30s", strings.Repeat("#", n), strings.Repeat("-", width-n), job.Percent, job.Phase)
		case job.State == "running" && time.Since(lastLine) >= 2*time.Second:
			fmt.Fprintf(e.stdout, "backup: %s %.1f%%\n", job.Phase, job.Percent)
			lastLine = time.Now()
		}
	}
	if bar {
		fmt.Fprintln(e.stdout)
	}
	if c.json {
		if len(raw) == 0 {
			raw, _ = json.Marshal(job)
		}
		if err := printJSON(e.stdout, raw); err != nil {
			return err
		}
	} else if job.State != "failed" {
		fmt.Fprintln(e.stdout, job.Message)
	}
	if job.State == "failed" {
		return errors.New(job.Message)
	}
	return nil
}

func backupList(ctx context.Context, g *globals, e env) error {
	c, err := g.client(e)
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if err := c.do(ctx, "GET", "/v1/backup/list", "", nil, &raw); err != nil {
		return err
	}
	if c.json {
		return printJSON(e.stdout, raw)
	}
	var l backup.Listing
	if err := json.Unmarshal(raw, &l); err != nil {
		return fmt.Errorf("decoding the backup list: %w", err)
	}
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "ID\tNODE\tLEVEL\tINDEX\tSIZE\tAGE\tNOTE\n")
	row := func(prefix string, m backup.Manifest) {
		note := m.Note
		if m.Encryption != backup.EncNone {
			note = strings.TrimSpace("encrypted " + note)
		}
		fmt.Fprintf(w, "%s%s\t%s\t%s\t%d\t%s\t%s\t%s\n", prefix, m.ID, m.Node.ID, m.Kind(), m.Index, sizeText(m.Size), age(time.Since(m.Time)), note)
	}
	for _, ch := range l.Chains {
		row("", ch.Full.Manifest)
		for _, inc := range ch.Incrementals {
			row("  └ ", inc.Manifest)
		}
	}
	for _, o := range l.Orphans {
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\tits full backup %s is missing: cannot be restored\n", o.ID, o.Node.ID, o.Kind(), o.Index, sizeText(o.Size), age(time.Since(o.Time)), o.Base)
	}
	for _, d := range l.Damaged {
		fmt.Fprintf(w, "%s\t\tdamaged\t\t\t\t%s\n", d.ID, d.Error)
	}
	if len(l.Chains) == 0 && len(l.Orphans) == 0 && len(l.Damaged) == 0 {
		fmt.Fprintf(w, "(no backups in %s)\n", l.Dir)
	}
	return w.Flush()
}

func sizeText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "now"
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func backupVerify(ctx context.Context, g *globals, e env, id string) error {
	c, err := g.client(e)
	if err != nil {
		return err
	}
	c.http.Timeout = 30 * time.Minute // reads every file of the backup
	var raw json.RawMessage
	if err := c.postJSON(ctx, "/v1/backup/verify", map[string]string{"id": id}, &raw); err != nil {
		return err
	}
	var rep backup.Report
	if err := json.Unmarshal(raw, &rep); err != nil {
		return fmt.Errorf("decoding the verification: %w", err)
	}
	return result(c, e, raw, fmt.Sprintf("backup %s is whole: %s", rep.ID, strings.Join(rep.Checks, "; ")))
}

// restoreOptions are the flags of `backup restore`.
type restoreOptions struct {
	from, dataDir          string
	replace, noIncremental bool
	keyFile                string
	nodeID, raftAddr, node string
	yes                    bool
}

// backupRestore writes a data directory from a backup, offline: the
// service must be stopped on that node (the target must be empty).
func backupRestore(ctx context.Context, g *globals, e env, o restoreOptions) error {
	if o.from == "" || o.dataDir == "" {
		return usagef("backup restore: --from and --data-dir are required")
	}
	in, _ := e.stdin.(*os.File)
	terminal := in != nil && isTerminal(in)
	if !o.yes && !terminal {
		return usagef("backup restore: not on a terminal: pass --yes to confirm")
	}
	req := backup.RestoreRequest{From: o.from, DataDir: o.dataDir, Replace: o.replace, NoIncremental: o.noIncremental,
		NodeID: o.nodeID, RaftAddr: o.raftAddr, Node: o.node}
	if o.keyFile != "" {
		k, err := backup.LoadKey(o.keyFile)
		if err != nil {
			return err
		}
		req.Key = k
	}
	logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	req.Engine = func() ([]cluster.Machine, []cluster.Machine, cluster.Gate) {
		// What tandemd runs: a standby's shipments replay as on the node.
		return []cluster.Machine{contactcenter.New()}, []cluster.Machine{replication.NewControl()}, standby.NewReceiver("", logger)
	}
	plan, err := backup.PlanRestore(req)
	if err != nil {
		return err
	}
	if terminal && !o.yes {
		r := bufio.NewReader(in)
		if plan.Incremental != nil {
			fmt.Fprintf(e.stderr, "Apply incremental %s (index %d) after full backup %s? [Y/n] ", plan.Incremental.ID, plan.Incremental.Index, plan.Full.ID)
			line, _ := r.ReadString('\n')
			if a := strings.ToLower(strings.TrimSpace(line)); a == "n" || a == "no" {
				plan.WithoutIncremental()
			}
		}
		fmt.Fprintf(e.stderr, "About to %s.\nType 'yes' to continue: ", plan.Describe())
		line, _ := r.ReadString('\n')
		if strings.TrimSpace(line) != "yes" {
			return errors.New("restore cancelled; nothing changed")
		}
	}
	fmt.Fprintln(e.stderr, strings.ToUpper(plan.Describe()[:1])+plan.Describe()[1:])
	errBar := terminal
	last := time.Time{}
	req.Progress = func(phase string, done, total int64) {
		if time.Since(last) < time.Second && done != total {
			return
		}
		last = time.Now()
		switch {
		case errBar && total > 0:
			fmt.Fprintf(e.stderr, "\r%s: %5.1f%%   ", phase, float64(done)*100/float64(total))
		case total > 0:
			fmt.Fprintf(e.stderr, "%s: %d of %d\n", phase, done, total)
		default:
			fmt.Fprintf(e.stderr, "%s\n", phase)
		}
	}
	res, err := backup.Restore(ctx, plan, req)
	if errBar {
		fmt.Fprintln(e.stderr)
	}
	if err != nil {
		return err
	}
	if g.output == "json" {
		b, _ := json.Marshal(map[string]any{"data_dir": o.dataDir, "node_id": res.NodeID, "raft_addr": res.RaftAddr,
			"index": res.Index, "term": res.Term, "members": res.Members, "state_hashes": res.Hashes, "replace": o.replace,
			"checkpoints_verified": res.Checked, "snmp_engine": res.SNMPEngine})
		return printJSON(e.stdout, b)
	}
	how := "a new one-node cluster"
	if o.replace {
		how = "its cluster, which it rejoins and catches up with"
	}
	fmt.Fprintf(e.stdout, "%s restored at index %d (term %d), engine state hash %s, as node %s of %s;\nstart it with: tandemd --data-dir %s --node-id %s --raft-addr %s\n",
		o.dataDir, res.Index, res.Term, res.Hashes["contactcenter"], res.NodeID, how, o.dataDir, res.NodeID, res.RaftAddr)
	if res.SNMPEngine != "" {
		fmt.Fprintln(e.stdout, res.SNMPEngine)
	}
	for _, i := range res.Checked {
		fmt.Fprintf(e.stdout, "the replay reproduced the node's own snapshot at index %d exactly\n", i)
	}
	return nil
}

// backupRun is one backup in the status: the result object, or the bare
// time older builds answered.
type backupRun struct {
	Time   *time.Time `json:"time"`
	Index  uint64     `json:"index"`
	Size   int64      `json:"size"`
	Result string     `json:"result"`
	Error  string     `json:"error"`
	ID     string     `json:"id"`
}

func (r *backupRun) UnmarshalJSON(b []byte) error {
	var t time.Time
	if json.Unmarshal(b, &t) == nil {
		r.Time, r.Result = &t, backup.ResultOK
		return nil
	}
	type plain backupRun
	return json.Unmarshal(b, (*plain)(r))
}

func (r *backupRun) String() string {
	if r == nil || r.Time == nil {
		return "never"
	}
	s := r.Time.Format(time.RFC3339)
	if r.Result != "" && r.Result != backup.ResultOK {
		return s + " " + strings.ToUpper(r.Result) + ": " + r.Error
	}
	if r.ID != "" {
		s += fmt.Sprintf(" (index %d, %s)", r.Index, sizeText(r.Size))
	}
	return s
}
