package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandemcc/tandem/replication"
)

// syncJob is the part of the node's sync progress the CLI shows.
type syncJob struct {
	ID       int64    `json:"id"`
	Target   string   `json:"target"`
	Mode     string   `json:"mode"`
	Cluster  string   `json:"cluster"`
	State    string   `json:"state"`
	Done     int64    `json:"done"`
	Total    int64    `json:"total"`
	Percent  float64  `json:"percent"`
	Written  int64    `json:"written"`
	Warnings []string `json:"warnings"`
	Error    string   `json:"error"`
	Message  string   `json:"message"`
}

// syncOptions are the flags of `replication sync`.
type syncOptions struct {
	target                        string
	admin, recent, all, continue_ bool
	runFor                        time.Duration
	status, noWait                bool
	poll                          time.Duration
}

// check refuses combinations that do not fit, before anything is sent
// (the node checks them again).
func (o syncOptions) check() error {
	if o.status {
		if o.admin || o.recent || o.all || o.continue_ || o.runFor != 0 {
			return usagef("replication sync --status shows the last sync; it takes only --target")
		}
		if o.target == "" {
			return usagef("replication sync --status: --target reporting|standby is required")
		}
		return nil
	}
	q := replication.SyncRequest{Target: o.target, Admin: o.admin, Recent: o.recent, All: o.all, Continue: o.continue_, RunFor: o.runFor}
	if err := q.Check(); err != nil {
		return usagef("replication %v", err)
	}
	return nil
}

// newReplicationSyncCmd is `tandemctl replication sync`.
func newReplicationSyncCmd(g *globals, e env) *cobra.Command {
	var o syncOptions
	c := &cobra.Command{
		Use:   "sync --target reporting|standby (--admin | --recent | --all --run-for D | --continue --run-for D | --status)",
		Short: "re-send history or administration data to a target",
		Long: "Re-send history from this node's archive to --target reporting (after the administration\n" +
			"data), or the administration data alone: for reporting the names reports need (agents,\n" +
			"queues, users, business units), for standby the whole engine state. A progress bar on a\n" +
			"terminal, plain progress lines otherwise; --status shows the last sync's progress.",
		Example: "  tandemctl replication sync --target reporting --recent                # current and previous month\n" +
			"  tandemctl replication sync --target reporting --all --run-for 2h      # all history, stops after 2h\n" +
			"  tandemctl replication sync --target reporting --continue --run-for 2h # resume an interrupted full sync\n" +
			"  tandemctl replication sync --target reporting --admin                 # administration data only\n" +
			"  tandemctl replication sync --target standby --admin                   # the whole engine state\n" +
			"  tandemctl replication sync --status --target reporting                # the last sync's progress",
		Args:              argsBetween(0, 0),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(c *cobra.Command, _ []string) error {
			return replicationSync(c.Context(), g, e, o)
		},
	}
	f := c.Flags()
	f.StringVar(&o.target, "target", "", "the replication target, `reporting|standby`")
	f.BoolVar(&o.admin, "admin", false, "administration data: reporting the names reports need (agents, queues, users, business units), standby the whole engine state")
	f.BoolVar(&o.recent, "recent", false, "reporting: the current and previous month (administration data first)")
	f.BoolVar(&o.all, "all", false, "reporting: all history this node holds (with --run-for; administration data first)")
	f.BoolVar(&o.continue_, "continue", false, "reporting: continue an interrupted full sync (with --run-for; administration data first)")
	f.DurationVar(&o.runFor, "run-for", 0, "how long a full sync may run, a `DURATION` such as 2h")
	f.BoolVar(&o.status, "status", false, "show the last sync of --target (no new sync)")
	f.BoolVar(&o.noWait, "no-wait", false, "start the sync and return (follow it with --status)")
	f.DurationVar(&o.poll, "poll", time.Second, "`DURATION` between two questions to the node about progress")
	completeFlag(c, "target", completeTarget)
	completeFlag(c, "run-for", cobra.NoFileCompletions)
	completeFlag(c, "poll", cobra.NoFileCompletions)
	return c
}

// replicationSync starts a sync on the node at --addr and follows it until
// it ends: a progress bar on a terminal, plain progress lines otherwise.
func replicationSync(ctx context.Context, g *globals, e env, o syncOptions) error {
	if err := o.check(); err != nil {
		return err
	}
	if o.poll <= 0 {
		return usagef("replication sync: --poll must be positive")
	}
	c, err := g.client(e)
	if err != nil {
		return err
	}
	path := "/v1/replication/sync?target=" + url.QueryEscape(o.target)
	if o.status {
		var raw json.RawMessage
		if err := c.do(ctx, "GET", path, "", nil, &raw); err != nil {
			return err
		}
		var j syncJob
		if err := json.Unmarshal(raw, &j); err != nil {
			return fmt.Errorf("decoding sync progress: %w", err)
		}
		return result(c, e, raw, describeJob(j))
	}
	body := map[string]any{"target": o.target, "admin": o.admin, "recent": o.recent, "all": o.all, "continue": o.continue_}
	if o.runFor > 0 {
		body["run_for"] = o.runFor.String()
	}
	var raw json.RawMessage
	if err := c.postJSON(ctx, "/v1/replication/sync", body, &raw); err != nil {
		return err
	}
	var res struct {
		Message    string   `json:"message"`
		Diagnostic string   `json:"diagnostic"`
		Warnings   []string `json:"warnings"`
		Sync       *syncJob `json:"sync"`
	}
	if err := json.Unmarshal(raw, &res); err != nil || res.Sync == nil {
		return fmt.Errorf("decoding the answer to sync: %v", err)
	}
	if !c.json {
		for _, w := range res.Warnings {
			fmt.Fprintf(e.stderr, "warning: %s\n", w)
		}
		line := res.Message
		if res.Diagnostic != "" {
			line += fmt.Sprintf(" (diagnostic: %s)", res.Diagnostic)
		}
		fmt.Fprintln(e.stdout, line)
	}
	if o.noWait {
		if c.json {
			return printJSON(e.stdout, raw)
		}
		return nil
	}
	return followSync(ctx, c, e, path, *res.Sync, o.poll)
}

// followSync polls the job until it leaves the running state. It gives up
// (the sync goes on) when the node reports no progress for ten minutes.
func followSync(ctx context.Context, c *client, e env, path string, job syncJob, poll time.Duration) error {
	f, _ := e.stdout.(*os.File)
	bar := !c.json && f != nil && isTerminal(f)
	lastDone, lastLine, lastMove := int64(-1), time.Time{}, time.Now()
	var raw json.RawMessage
	for job.State == "running" {
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			if bar {
				fmt.Fprintln(e.stdout)
			}
			return fmt.Errorf("stopped following the sync; it goes on on the node (see `tandemctl replication sync --status --target %s`)", job.Target)
		case <-t.C:
		}
		var next syncJob
		if err := c.do(ctx, "GET", path, "", nil, &raw); err != nil {
			if bar {
				fmt.Fprintln(e.stdout)
			}
			return fmt.Errorf("following the sync: %w", err)
		}
		if err := json.Unmarshal(raw, &next); err != nil {
			return fmt.Errorf("decoding sync progress: %w", err)
		}
		if next.ID != job.ID {
			return fmt.Errorf("another sync (%d) replaced this one (%d) on the node", next.ID, job.ID)
		}
		job = next
		if job.Done != lastDone {
			lastMove = time.Now()
		} else if time.Since(lastMove) > 10*time.Minute {
			return fmt.Errorf("the sync made no progress for 10 minutes; it goes on on the node (see `tandemctl replication sync --status --target %s`)", job.Target)
		}
		switch {
		case c.json:
		case bar:
			drawBar(e.stdout, job)
		case job.Done != lastDone && (time.Since(lastLine) >= 2*time.Second || job.State != "running"):
			fmt.Fprintf(e.stdout, "sync %s%s: %.1f%% (%d of %d)\n", job.Target, forCluster(job.Cluster), job.Percent, job.Done, job.Total)
			lastLine = time.Now()
		}
		lastDone = job.Done
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
		fmt.Fprintln(e.stdout, describeJob(job))
	}
	if job.State == "failed" {
		return errors.New(describeJob(job))
	}
	return nil
}

func describeJob(j syncJob) string {
	if j.Message != "" {
		return j.Message
	}
	return fmt.Sprintf("%s sync of %s%s %s: %.1f%% (%d of %d)", j.Mode, j.Target, forCluster(j.Cluster), j.State, j.Percent, j.Done, j.Total)
}

// forCluster is " for cluster NAME" when the node named the cluster the
// sync is for (reporting).
func forCluster(name string) string {
	if name == "" {
		return ""
	}
	return " for cluster " + name
}

// drawBar redraws one progress line in place.
func drawBar(w io.Writer, j syncJob) {
	const width = 30
	n := int(j.Percent / 100 * width)
	n = max(0, min(width, n))
	fmt.Fprintf(w, "\r[%s%s] %5.1f%%  %d/%d", strings.Repeat("#", n), strings.Repeat("-", width-n), j.Percent, j.Done, j.Total)
}
