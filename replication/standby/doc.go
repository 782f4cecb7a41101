// Package standby is the standby replication type (replication.md,
// "standby"), both of its sides: a primary cluster ships its committed
// engine commands to a standby tandemd at another site, which applies
// them read-only through its own Raft log and can be promoted.
//
// Target (target.go) is the primary's side, a replication.Target fed from
// the node's replication buffer: it sends the buffer's command records to
// the standby's admin API, asks how far the standby got, diagnoses the
// link (diagnose.go) and ships a whole engine state when the standby must
// be brought level (`replication sync --target standby --admin`).
//
// Receiver is the standby's side, on every node: the cluster.Gate attached
// to the FSM (gate.go: the replicated mode, the refusal of local writes,
// idempotent apply of shipments, sync, promotion, all inside apply), the
// commits of shipments and promotion (receiver.go) and the HTTP routes
// /v1/standby/… that package ops mounts behind its admin token
// (routes.go). Status is the document both sides report. See DESIGN.md
// beside this file.
//
// It must not reach into the buffer's files, the engine's state (it
// applies to the engine only through cluster.Engine, inside apply) or Raft
// beyond proposing through the node's store.
package standby
