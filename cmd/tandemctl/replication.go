package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// newReplicationCmd is `tandemctl replication status|suspend|resume|stop|
// shutdown|restart|sync`, against the node at --addr (replication is per
// node).
func newReplicationCmd(g *globals, e env) *cobra.Command {
	simple := func(use, short string, flags ...string) *cobra.Command {
		var target string
		var rate int
		c := &cobra.Command{
			Use:               use,
			Short:             short,
			Args:              argsBetween(0, 0),
			ValidArgsFunction: cobra.NoFileCompletions,
		}
		c.RunE = func(cmd *cobra.Command, _ []string) error {
			return replicationCommand(cmd.Context(), g, e, cmd.Name(), target, rate)
		}
		// Every subcommand takes both flags, so that a misplaced one is
		// refused with the reason replicationCommand gives rather than
		// "unknown flag"; its help lists only those that apply.
		c.Flags().StringVar(&target, "target", "", "the replication target, `reporting|standby`")
		c.Flags().IntVar(&rate, "rate", 0, "deliver at most `N` events per second (0 = unlimited)")
		completeFlag(c, "target", completeTarget)
		completeFlag(c, "rate", cobra.NoFileCompletions)
		for _, f := range []string{"target", "rate"} {
			if !slices.Contains(flags, f) {
				must(c.Flags().MarkHidden(f))
			}
		}
		return c
	}
	return group("replication", "this node's replication to reporting and standby",
		"Replication of the node at --addr to its targets: reporting (a PostgreSQL database)\n"+
			"and standby (another cluster). Each node replicates; the leader delivers.",
		simple("status", "this node's replication targets and buffer"),
		simple("suspend --target T", "pause delivery to target T (reporting or standby); the buffer keeps filling", "target"),
		simple("resume --target T [--rate N]", "deliver the backlog of target T, at most N events/s", "target", "rate"),
		simple("stop --target T", "stop replicating to target T", "target"),
		simple("shutdown", "shut down all replication of the cluster"),
		simple("restart", "restart all replication of the cluster (clears every buffer)"),
		newReplicationSyncCmd(g, e),
	)
}

// replicationCommand runs one of the subcommands but sync.
func replicationCommand(ctx context.Context, g *globals, e env, sub, target string, rate int) error {
	switch sub {
	case "status":
		return replicationStatus(ctx, g, e)
	case "suspend", "resume", "stop":
		if target == "" {
			return usagef("replication %s: --target reporting|standby is required", sub)
		}
	case "shutdown", "restart":
		if target != "" {
			return usagef("replication %s acts on all replication of the node; it takes no --target", sub)
		}
	}
	if sub != "resume" && rate != 0 {
		return usagef("replication %s: --rate applies to resume only", sub)
	}
	c, err := g.client(e)
	if err != nil {
		return err
	}
	var raw json.RawMessage
	body := map[string]any{}
	if target != "" {
		body["target"] = target
	}
	if rate != 0 {
		body["rate"] = rate
	}
	if err := c.postJSON(ctx, "/v1/replication/"+sub, body, &raw); err != nil {
		return err
	}
	var res struct {
		Message    string `json:"message"`
		Diagnostic string `json:"diagnostic"`
	}
	json.Unmarshal(raw, &res)
	text := res.Message
	if res.Diagnostic != "" {
		text += fmt.Sprintf(" (diagnostic: %s)", res.Diagnostic)
	}
	return result(c, e, raw, text)
}

func replicationStatus(ctx context.Context, g *globals, e env) error {
	c, err := g.client(e)
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if err := c.do(ctx, "GET", "/v1/replication/status", "", nil, &raw); err != nil {
		return err
	}
	if c.json {
		return printJSON(e.stdout, raw)
	}
	var st struct {
		Leader        bool    `json:"leader"`
		BufferPercent float64 `json:"buffer_percent"`
		Used          int64   `json:"buffer_used_bytes"`
		Max           int64   `json:"buffer_max_bytes"`
		Level         string  `json:"alarm_level"`
		LastAlarm     *struct {
			Message string `json:"message"`
		} `json:"last_alarm"`
		Targets map[string]struct {
			State         string  `json:"state"`
			BufferPercent float64 `json:"buffer_percent"`
			Reason        string  `json:"reason"`
			NeedsSync     bool    `json:"needs_sync"`
			BacklogEvents int64   `json:"backlog_events"`
			LastError     string  `json:"last_error"`
			Delivered     struct {
				Index uint64 `json:"index"`
			} `json:"delivered"`
			AdminSync *struct {
				State   string `json:"state"`
				Message string `json:"message"`
				Error   string `json:"error"`
			} `json:"admin_sync"`
		} `json:"targets"`
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return fmt.Errorf("decoding replication status: %w", err)
	}
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	role := "follower (tracks what the leader delivers)"
	if st.Leader {
		role = "leader (delivers)"
	}
	fmt.Fprintf(w, "node\t%s\n", role)
	fmt.Fprintf(w, "buffer\t%.1f%% used (%d of %d bytes), alarm level %s\n", st.BufferPercent, st.Used, st.Max, st.Level)
	if st.LastAlarm != nil {
		fmt.Fprintf(w, "last alarm\t%s\n", st.LastAlarm.Message)
	}
	if len(st.Targets) == 0 {
		fmt.Fprintf(w, "targets\tnone configured\n")
	}
	names := make([]string, 0, len(st.Targets))
	for n := range st.Targets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t := st.Targets[n]
		line := fmt.Sprintf("%s\t%s\tbuffer %.1f%%\tbacklog %d\tdelivered up to index %d", n, t.State, t.BufferPercent, t.BacklogEvents, t.Delivered.Index)
		if t.NeedsSync {
			line += "\tNEEDS SYNC"
		}
		fmt.Fprintln(w, line)
		if t.Reason != "" {
			fmt.Fprintf(w, "\treason: %s\n", t.Reason)
		}
		if t.LastError != "" {
			fmt.Fprintf(w, "\tlast error: %s\n", t.LastError)
		}
		if a := t.AdminSync; a != nil {
			line := a.Message
			if a.Error != "" {
				line += ": " + a.Error
			}
			fmt.Fprintf(w, "\tadmin data sync after activation (%s): %s\n", a.State, line)
		}
	}
	return w.Flush()
}
