package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// standbyDoc is GET /v1/standby/status as the text output reads it.
type standbyDoc struct {
	Mode      string                 `json:"mode"`
	Of        string                 `json:"of"`
	NodeID    string                 `json:"node_id"`
	Promoted  *time.Time             `json:"promoted"`
	Position  struct{ Index uint64 } `json:"position"`
	N         uint64                 `json:"n"`
	Applied   uint64                 `json:"applied"`
	NeedsSync string                 `json:"needs_sync"`
	Syncs     uint64                 `json:"syncs"`
	LastSync  *time.Time             `json:"last_sync"`
	LastCmd   *time.Time             `json:"last_command"`
	LastBatch *time.Time             `json:"last_batch"`
	Lag       float64                `json:"lag_seconds"`
	Target    []string               `json:"target"`
}

// lines renders the standby state for `standby status` and `status`.
func (d standbyDoc) lines() []string {
	switch d.Mode {
	case "standby":
		out := []string{
			fmt.Sprintf("standby of %s", d.Of),
			fmt.Sprintf("applied up to the primary's index %d (%d commands, %d shipped here, %d syncs)", d.Position.Index, d.N, d.Applied, d.Syncs),
			fmt.Sprintf("last batch %s, last command %s, lag %.1fs", when(d.LastBatch), when(d.LastCmd), d.Lag),
		}
		if d.NeedsSync != "" {
			out = append(out, "NEEDS SYNC: "+d.NeedsSync+" (run `tandemctl replication sync --target standby --admin` on the primary)")
		}
		return out
	case "promoted":
		return []string{fmt.Sprintf("promoted at %s (was a standby of %s up to its index %d); accepts writes", when(d.Promoted), d.Of, d.Position.Index)}
	}
	if len(d.Target) > 0 {
		return []string{fmt.Sprintf("primary, shipping to the standby at %v (see `tandemctl replication status`)", d.Target)}
	}
	return []string{"primary (no standby configured)"}
}

// newStandbyCmd is `tandemctl standby status|promote`.
func newStandbyCmd(g *globals, e env) *cobra.Command {
	status := &cobra.Command{
		Use:               "status",
		Short:             "this cluster's standby mode, position and lag",
		Args:              argsBetween(0, 0),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(c *cobra.Command, _ []string) error {
			return standbyStatus(c.Context(), g, e)
		},
	}
	promote := &cobra.Command{
		Use:               "promote",
		Short:             "make this standby cluster accept writes (and refuse shipments)",
		Args:              argsBetween(0, 0),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(c *cobra.Command, _ []string) error {
			return standbyPromote(c.Context(), g, e)
		},
	}
	return group("standby", "a standby cluster: its state, its promotion",
		"The standby cluster at --addr, which applies what its primary ships: its state, its promotion.",
		status, promote)
}

func standbyStatus(ctx context.Context, g *globals, e env) error {
	c, err := g.client(e)
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodGet, "/v1/standby/status", "", nil, &raw); err != nil {
		return err
	}
	if c.json {
		return printJSON(e.stdout, raw)
	}
	var d standbyDoc
	if err := json.Unmarshal(raw, &d); err != nil {
		return fmt.Errorf("decoding standby status: %w", err)
	}
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "node\t%s\n", d.NodeID)
	for i, l := range d.lines() {
		label := ""
		if i == 0 {
			label = "standby"
		}
		fmt.Fprintf(w, "%s\t%s\n", label, l)
	}
	return w.Flush()
}

func standbyPromote(ctx context.Context, g *globals, e env) error {
	c, err := g.client(e)
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if err := c.postJSON(ctx, "/v1/standby/promote", map[string]any{}, &raw); err != nil {
		return err
	}
	var res struct {
		Message string `json:"message"`
	}
	json.Unmarshal(raw, &res)
	return result(c, e, raw, res.Message)
}
