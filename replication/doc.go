// Package replication runs the node's two replication types, reporting
// (to the central PostgreSQL) and standby (to a disaster-recovery node),
// from the node's replication buffer (replication.md).
//
// It owns the per-node replication state (active, suspended, stopped,
// shutdown, auto-stopped), the fill alarms at 50/75/95 %, the
// administration commands and their diagnostic files, and leader-only
// delivery. The buffer's file format lives in replication/buffer and the
// database side in replication/reporting; this package must not reach
// into either's internals, nor into the engine's state.
package replication
