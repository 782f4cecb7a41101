package main

import (
	"context"
	"encoding/json"
)

// cmdSnapshot runs `tandemctl cluster snapshot`: a Raft snapshot of the
// node addressed, now.
func cmdSnapshot(ctx context.Context, g *globals, e env) error {
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
