package snmp

import (
	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/contactcenter"
	"github.com/tandemcc/tandem/replication"
)

// The agent reads the node only through these seams, at request time, so
// that every answer is live and the tree is tested with fakes.

// Cluster is the node's view of the Raft cluster (*cluster.Store).
type Cluster interface {
	Status() cluster.Status
}

// Engine is the replicated contact-center state (*contactcenter.Engine).
// A follower's engine has applied the same log as the leader's, so
// reading it serves the cluster's values.
type Engine interface {
	View(fn func(*contactcenter.State))
	Queues() []contactcenter.QueueView
	ExtensionUsage() contactcenter.ExtensionUsage
}

// Replication is the node's replication manager (*replication.Manager).
type Replication interface {
	Status() replication.Status
}

// Sources are what the agent reads. Replication is nil on a node
// without replication targets (a nil *replication.Manager must not be
// passed: it would be a non-nil interface); so are the channels and
// backups a node does not have (yet).
type Sources struct {
	Cluster     Cluster
	Engine      Engine
	Replication Replication
	// Callback, Chat and Email count their media's contacts (voice is
	// counted from the engine's events: Agent.ContactEvents).
	Callback, Chat, Email Contacts
	Backups               Backups
}
