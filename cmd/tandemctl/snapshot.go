package main

import (
	"context"
	"encoding/json"
)

// cmdSnapshot runs `tandemctl cluster snapshot`: a Raft snapshot of the
// node addressed, now.
func cmdSnapshot(ctx context.Context, g *globals, args []string, e env) error {
	if _, err := parseArgs(newFlagSet("cluster snapshot", g), args, 0, 0); err != nil {
		return err
	}
	c, err := g.client(e)
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if err := c.postJSON(ctx, "/v1/cluster/snapshot", map[string]string{}, &raw); err != nil {
		return err
	}
	var out struct {
		Message string `json:"message"`
	}
	json.Unmarshal(raw, &out)
	return result(c, e, raw, out.Message)
}
