package cluster

import (
	"encoding/json"
	"fmt"

	"github.com/tandemcc/tandem/command"
)

// Family is the command family the cluster layer applies itself.
const Family = "cluster"

// Cluster command types.
const (
	// TypeNodeUpsert records how to reach a member (payload NodeMeta).
	TypeNodeUpsert = "cluster.node_upsert"
	// TypeNodeRemove forgets a removed member (payload NodeMeta, ID only).
	TypeNodeRemove = "cluster.node_remove"
	// TypeNoop commits an opaque payload and changes nothing; it measures
	// the commit path (bench) and anchors a new leader's term.
	TypeNoop = "cluster.noop"
)

func (f *fsm) applyCluster(index uint64, env command.Envelope, em *command.Emitter) (any, error) {
	switch env.Type {
	case TypeNoop:
		return nil, nil
	case TypeCheckpoint:
		return nil, f.checkpoint(index)
	case TypeNodeUpsert, TypeNodeRemove:
		var m NodeMeta
		if err := json.Unmarshal(env.Payload, &m); err != nil {
			return nil, fmt.Errorf("decoding %s: %w", env.Type, err)
		}
		if m.ID == "" {
			return nil, fmt.Errorf("%s: missing node id", env.Type)
		}
		if env.Type == TypeNodeRemove {
			if _, ok := f.st.Nodes[m.ID]; ok {
				delete(f.st.Nodes, m.ID)
				f.noteFormats()
				em.Emit("cluster.node.removed", map[string]string{"id": m.ID})
			}
			return nil, nil
		}
		if m.RaftAddr == "" || m.AdminAddr == "" {
			return nil, fmt.Errorf("%s: node %s needs raft_addr and admin_addr", env.Type, m.ID)
		}
		if f.st.Nodes[m.ID] != m {
			f.st.Nodes[m.ID] = m
			f.noteFormats()
			em.Emit("cluster.node.updated", m)
		}
		return nil, nil
	}
	return nil, fmt.Errorf("unknown cluster command %q", env.Type)
}
