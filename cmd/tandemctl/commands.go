package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/contactcenter"
	"github.com/tandemcc/tandem/mail"
	"github.com/tandemcc/tandem/replication"
	"github.com/tandemcc/tandem/replication/standby"
	"github.com/tandemcc/tandem/snmp"
)

// statusDoc is GET /v1/status as the text output reads it.
type statusDoc struct {
	cluster.Status
	Replication map[string]struct {
		State         string  `json:"state"`
		BufferPercent float64 `json:"buffer_percent"`
	} `json:"replication"`
	Backup struct {
		LastFull        *backupRun `json:"last_full"`
		LastIncremental *backupRun `json:"last_incremental"`
	} `json:"backup"`
	Standby *standbyDoc  `json:"standby"`
	SNMP    *snmp.Status `json:"snmp"`
	Mail    *mail.Status `json:"mail"`
}

// newStatusCmd is `tandemctl status`.
func newStatusCmd(g *globals, e env) *cobra.Command {
	return &cobra.Command{
		Use:               "status",
		Short:             "node, cluster, replication and backup state",
		Long:              "Node, cluster, replication and backup state of the node at --addr (-o json: the document of GET /v1/status).",
		Args:              argsBetween(0, 0),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(c *cobra.Command, _ []string) error {
			return cmdStatus(c.Context(), g, e)
		},
	}
}

// newClusterCmd is `tandemctl cluster …`: membership, leadership,
// snapshots, and the offline repairs of a stopped node.
func newClusterCmd(g *globals, e env) *cobra.Command {
	join := &cobra.Command{
		Use:               "join MEMBER_ADMIN_ADDR",
		Short:             "make the node at --addr join MEMBER's cluster",
		Args:              argsBetween(1, 1),
		ValidArgsFunction: cobra.NoFileCompletions,
		Example:           "  tandemctl --addr 127.0.0.1:7072 cluster join 127.0.0.1:7071",
		RunE: func(c *cobra.Command, args []string) error {
			return cmdJoin(c.Context(), g, e, args[0])
		},
	}
	remove := &cobra.Command{
		Use:               "remove NODE_ID",
		Short:             "remove a node from the cluster",
		Args:              argsBetween(1, 1),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(c *cobra.Command, args []string) error {
			return cmdRemove(c.Context(), g, e, args[0])
		},
	}
	transfer := &cobra.Command{
		Use:               "transfer-leader [NODE_ID]",
		Short:             "hand leadership to NODE_ID (or any voter)",
		Args:              argsBetween(0, 1),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(c *cobra.Command, args []string) error {
			id := ""
			if len(args) == 1 {
				id = args[0]
			}
			return cmdTransfer(c.Context(), g, e, id)
		},
	}
	snapshot := &cobra.Command{
		Use:               "snapshot",
		Short:             "take a Raft snapshot of the node at --addr now",
		Args:              argsBetween(0, 0),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(c *cobra.Command, _ []string) error {
			return cmdSnapshot(c.Context(), g, e)
		},
	}
	var ro recoverOptions
	recoverCmd := &cobra.Command{
		Use:               "recover --force-quorum --data-dir DIR [--raft-addr A] [--yes]",
		Short:             "offline: make a stopped node the only voter",
		Long:              "Offline: make a stopped node the only voter of its cluster, from its data (when a majority is lost for good).",
		Args:              argsBetween(0, 0),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(c *cobra.Command, _ []string) error {
			return cmdRecover(c.Context(), e, ro)
		},
	}
	f := recoverCmd.Flags()
	f.BoolVar(&ro.force, "force-quorum", false, "make this node the only voter (required)")
	f.StringVar(&ro.dataDir, "data-dir", "", "data directory `DIR` of the stopped node")
	f.StringVar(&ro.raftAddr, "raft-addr", "", "Raft address (`HOST:PORT`) the node will use (default: the one in its log)")
	f.BoolVar(&ro.yes, "yes", false, "do not ask for confirmation on a terminal")
	must(recoverCmd.MarkFlagDirname("data-dir"))
	completeFlag(recoverCmd, "raft-addr", cobra.NoFileCompletions)
	var migrateDir string
	migrate := &cobra.Command{
		Use:               "migrate-log --data-dir DIR",
		Short:             "offline: convert a stopped node's Raft log from earlier builds' raft-wal format",
		Args:              argsBetween(0, 0),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(c *cobra.Command, _ []string) error {
			return cmdMigrateLog(c.Context(), e, migrateDir)
		},
	}
	migrate.Flags().StringVar(&migrateDir, "data-dir", "", "data directory `DIR` of the stopped node")
	must(migrate.MarkFlagDirname("data-dir"))
	return group("cluster", "Raft cluster membership, leadership, snapshots, offline recovery",
		"The Raft cluster of the node at --addr: membership, leadership and snapshots;\nrecover and migrate-log work offline on a stopped node's data directory.",
		join, remove, transfer, snapshot, recoverCmd, migrate)
}

// newApplyCmd is `tandemctl apply -f FILE [--prune]`.
func newApplyCmd(g *globals, e env) *cobra.Command {
	var file string
	var prune bool
	c := &cobra.Command{
		Use:   "apply -f FILE [--prune]",
		Short: "declarative configuration (idempotent)",
		Long: "Apply a declarative configuration (YAML or JSON): agents, queues, extensions and phones,\n" +
			"users, business units, excluded numbers, callback routing, mail settings. Applying the\n" +
			"same file again changes nothing. The file is checked here before it is sent.",
		Args:              argsBetween(0, 0),
		ValidArgsFunction: cobra.NoFileCompletions,
		Example:           "  tandemctl apply -f center.yaml\n  tandemctl apply -f center.yaml --prune",
		RunE: func(c *cobra.Command, _ []string) error {
			return cmdApply(c.Context(), g, e, file, prune)
		},
	}
	c.Flags().StringVarP(&file, "filename", "f", "", "configuration `FILE` (YAML or JSON); - for stdin")
	c.Flags().BoolVar(&prune, "prune", false, "remove objects the file does not mention")
	must(c.MarkFlagFilename("filename", "yaml", "yml", "json"))
	return c
}

func cmdStatus(ctx context.Context, g *globals, e env) error {
	c, err := g.client(e)
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if err := c.do(ctx, "GET", "/v1/status", "", nil, &raw); err != nil {
		return err
	}
	if c.json {
		return printJSON(e.stdout, raw)
	}
	var st statusDoc
	if err := json.Unmarshal(raw, &st); err != nil {
		return fmt.Errorf("decoding status: %w", err)
	}
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "node\t%s (%s)\n", st.NodeID, st.Role)
	leader := st.LeaderID
	if leader == "" {
		leader = "none"
	}
	fmt.Fprintf(w, "leader\t%s\tterm %d\tcommit %d\tapplied %d\n", leader, st.Term, st.CommitIndex, st.AppliedIndex)
	fmt.Fprintf(w, "ready\t%v\n", st.Ready)
	if st.JoinError != "" {
		fmt.Fprintf(w, "join error\t%s\n", st.JoinError)
	}
	clock := fmt.Sprintf("ok, skew vs leader %d ms", st.Clock.SkewVsLeaderMS)
	if st.Clock.Alarm {
		clock = fmt.Sprintf("ALARM: skew over 2 s (vs leader %d ms, peers %v)", st.Clock.SkewVsLeaderMS, st.Clock.PeersMS)
	}
	fmt.Fprintf(w, "clock\t%s\n", clock)
	switch {
	case len(st.Replicas.Diverged) > 0:
		for _, d := range st.Replicas.Diverged {
			if d.State {
				fmt.Fprintf(w, "replicas\tDIVERGED: %s holds another state than this node at checkpoint %d (found %s)\n",
					d.Node, d.From, d.Since.Format(time.RFC3339))
				continue
			}
			fmt.Fprintf(w, "replicas\tDIVERGED: %s applied other log entries than this node in indices %d-%d (found %s)\n",
				d.Node, d.From, d.To, d.Since.Format(time.RFC3339))
		}
	case st.Replicas.CheckedTo > 0 && st.Replicas.StateCheckedTo > 0:
		fmt.Fprintf(w, "replicas\tsame entries applied as the members compared, to index %d; same state at checkpoint %d\n",
			st.Replicas.CheckedTo, st.Replicas.StateCheckedTo)
	case st.Replicas.CheckedTo > 0:
		fmt.Fprintf(w, "replicas\tsame entries applied as the members compared, to index %d\n", st.Replicas.CheckedTo)
	case len(st.Nodes) <= 1:
		fmt.Fprintf(w, "replicas\tno other member to compare with\n")
	default:
		fmt.Fprintf(w, "replicas\tnot compared yet (a window of 256 log indices is compared once the members applied past it)\n")
	}
	if st.NoSpace != nil {
		fmt.Fprintf(w, "disk\tFULL since %s: %s\n", st.NoSpace.Since.Format(time.RFC3339), st.NoSpace.Message)
	}
	fmt.Fprintf(w, "nodes\n")
	for _, n := range st.Nodes {
		state := n.State
		if state == "" {
			state = "?"
		}
		if n.LastSeen != nil {
			state += " since " + n.LastSeen.Format(time.RFC3339)
		}
		applied := ""
		if n.AppliedIndex > 0 {
			applied = fmt.Sprintf("applied %d", n.AppliedIndex)
		}
		if n.LaggingSince != nil {
			applied += " LAGGING since " + n.LaggingSince.Format(time.RFC3339)
		}
		fmt.Fprintf(w, "  %s\t%s\t%s\t%s\t%s\t%s\n", n.ID, n.Address, n.Suffrage, state, n.AdminAddr, applied)
	}
	if len(st.Replication) == 0 {
		fmt.Fprintf(w, "replication\tnone configured\n")
	}
	for name, r := range st.Replication {
		fmt.Fprintf(w, "replication %s\t%s\tbuffer %.1f%%\n", name, r.State, r.BufferPercent)
	}
	if st.Standby != nil {
		for i, l := range st.Standby.lines() {
			label := ""
			if i == 0 {
				label = "standby"
			}
			fmt.Fprintf(w, "%s\t%s\n", label, l)
		}
	}
	fmt.Fprintf(w, "backup\tlast full %s\tlast incremental %s\n", st.Backup.LastFull, st.Backup.LastIncremental)
	if a := st.SNMP; a != nil {
		if a.Addr == "" {
			fmt.Fprintf(w, "snmp\tdisabled\ttraps sent %s\tfailed %s\n", counts(a.TrapsSent), counts(a.TrapsFailed))
		} else {
			fmt.Fprintf(w, "snmp\t%s\tpackets %d\trequests %s\treports %d\n", a.Addr, a.Packets, counts(a.Requests), a.Reports)
			fmt.Fprintf(w, "\tdropped %s\n", counts(a.Dropped))
			fmt.Fprintf(w, "\ttraps (%s) sent %s\tfailed %s\n", a.TrapProfile, counts(a.TrapsSent), counts(a.TrapsFailed))
		}
	}
	if m := st.Mail; m != nil && m.State != "off" {
		fmt.Fprintf(w, "mail\t%s\t%s\tlast UID %d\tcontacts %d, skipped %d, duplicates %d\n", m.State, m.Server, m.LastUID, m.Ingested, m.Skipped, m.Duplicates)
		if m.Unreachable {
			fmt.Fprintf(w, "\tUNREACHABLE since %s (%d attempts): %s\n", m.Since.Format(time.RFC3339), m.Failures, m.LastError)
		}
	}
	return w.Flush()
}

// counts prints a map of counters as "a 1, b 2" in key order, leaving
// out zeros; "none" when nothing counted.
func counts(m map[string]uint64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func when(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.Format(time.RFC3339)
}

// result prints a simple answer: JSON as received, or one text line.
func result(c *client, e env, raw json.RawMessage, text string) error {
	if c.json {
		return printJSON(e.stdout, raw)
	}
	_, err := fmt.Fprintln(e.stdout, text)
	return err
}

func cmdJoin(ctx context.Context, g *globals, e env, member string) error {
	c, err := g.client(e)
	if err != nil {
		return err
	}
	if !strings.Contains(member, "://") {
		member = "http://" + member
	}
	var raw json.RawMessage
	if err := c.postJSON(ctx, "/v1/cluster/join", map[string]string{"addr": member}, &raw); err != nil {
		return err
	}
	return result(c, e, raw, fmt.Sprintf("%s joined the cluster of %s", c.base, member))
}

func cmdRemove(ctx context.Context, g *globals, e env, id string) error {
	c, err := g.client(e)
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if err := c.postJSON(ctx, "/v1/cluster/remove", map[string]string{"id": id}, &raw); err != nil {
		return err
	}
	return result(c, e, raw, fmt.Sprintf("removed %s", id))
}

// cmdTransfer hands leadership to id ("": any voter).
func cmdTransfer(ctx context.Context, g *globals, e env, id string) error {
	c, err := g.client(e)
	if err != nil {
		return err
	}
	var out struct {
		LeaderID string `json:"leader_id"`
	}
	var raw json.RawMessage
	if err := c.postJSON(ctx, "/v1/cluster/transfer-leader", map[string]string{"id": id}, &raw); err != nil {
		return err
	}
	json.Unmarshal(raw, &out)
	return result(c, e, raw, fmt.Sprintf("leadership transferred; leader is now %s", out.LeaderID))
}

func cmdApply(ctx context.Context, g *globals, e env, file string, prune bool) error {
	if file == "" {
		return usagef("apply: -f FILE is required")
	}
	var body []byte
	var err error
	if file == "-" {
		body, err = io.ReadAll(e.stdin)
	} else {
		body, err = os.ReadFile(file)
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", file, err)
	}
	// Check locally first so a typo is reported before any network call;
	// the server checks again.
	if doc, err := contactcenter.ParseDocument(body); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	} else if err := doc.Validate(); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	c, err := g.client(e)
	if err != nil {
		return err
	}
	path := "/v1/config"
	if prune {
		path += "?prune=true"
	}
	var raw json.RawMessage
	if err := c.do(ctx, "POST", path, "application/yaml", body, &raw); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	var res struct {
		Index  uint64 `json:"index"`
		Result struct {
			Created, Updated, Removed, Unchanged int
		} `json:"result"`
	}
	json.Unmarshal(raw, &res)
	r := res.Result
	text := fmt.Sprintf("applied %s: %d created, %d updated, %d removed, %d unchanged (index %d)",
		file, r.Created, r.Updated, r.Removed, r.Unchanged, res.Index)
	if r.Created+r.Updated+r.Removed == 0 {
		text = fmt.Sprintf("%s: no changes (%d objects unchanged)", file, r.Unchanged)
	}
	return result(c, e, raw, text)
}

// recoverOptions are the flags of `cluster recover`.
type recoverOptions struct {
	force    bool
	dataDir  string
	raftAddr string
	yes      bool
}

func cmdRecover(ctx context.Context, e env, o recoverOptions) error {
	if !o.force {
		return usagef("cluster recover: --force-quorum is required")
	}
	if o.dataDir == "" {
		return usagef("cluster recover: --data-dir is required")
	}
	fmt.Fprintln(e.stderr, cluster.ForceQuorumWarning)
	if f, ok := e.stdin.(*os.File); ok && !o.yes && isTerminal(f) {
		fmt.Fprint(e.stderr, "Type 'yes' to continue: ")
		line, _ := bufio.NewReader(f).ReadString('\n')
		if strings.TrimSpace(line) != "yes" {
			return errors.New("recovery cancelled; nothing changed")
		}
	}
	logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	machines := []cluster.Machine{contactcenter.New()}
	gate := standby.NewReceiver("", logger) // replays a standby's shipments as tandemd does
	control := []cluster.Machine{replication.NewControl()}
	if err := cluster.RecoverOffline(ctx, o.dataDir, o.raftAddr, machines, control, gate, logger); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s is now a one-node cluster holding every committed command; start tandemd on it\n", o.dataDir)
	return nil
}

func cmdMigrateLog(ctx context.Context, e env, dataDir string) error {
	if dataDir == "" {
		return usagef("cluster migrate-log: --data-dir is required")
	}
	res, err := cluster.MigrateLog(ctx, dataDir, e.stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s: raft log entries %d..%d now in the current format (old log kept in %s); start tandemd on it\n",
		dataDir, res.First, res.Last, res.Kept)
	return nil
}

// isTerminal reports whether f is a terminal. /dev/null is a character
// device too, but nobody can type "yes" into it (scripts, CI).
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	if null, err := os.Stat(os.DevNull); err == nil && os.SameFile(st, null) {
		return false
	}
	return true
}
