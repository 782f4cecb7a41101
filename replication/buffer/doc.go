// Package buffer is the durable, bounded, on-disk replication buffer of one
// node (replication.md, "Two replication types, one buffer").
//
// Committed engine events (command.Event) are appended in stream order by
// the cluster's event sink; each named consumer ("reporting", "standby")
// reads batches from its own durable cursor (a command.Position) and
// acknowledges what its target has stored. Space is reclaimed, a whole
// segment file at a time, once every attached consumer has acknowledged
// past it; a detached consumer (a stopped replication) holds nothing back.
//
// What it owns: the files in its directory and their format — segment
// files (seg-<index>-<seq>.log, named by their first record), one cursor
// file per consumer (cursor-<name>), meta.json (the reclaim floor and the
// last durable mark) and LOCK. It owns the invariants that nothing it
// acknowledged is lost or stored twice, and it measures its fill.
//
// What it must not touch: the network, Raft, the engines, the delivery
// targets and the policy built on its fill. It never stops or restarts a
// replication, raises an alarm or logs a fill percentage: it reports
// (Stats, ErrFull, Gap) and the replication package decides. It imports
// only the command package's event types.
//
// # Durability, in one paragraph
//
// Append writes each batch with one write(2) per segment, so a SIGKILL
// loses nothing it returned from (the page cache outlives the process) and
// at most leaves a torn record, which Open detects by its CRC32C and cuts.
// Against power loss, appended events are durable once Sync returns (or
// Append itself, with Options.SyncEveryAppend); the cluster calls Sync
// before each Raft snapshot is persisted, and Raft re-applies the log
// after that snapshot at restart, whose events Append skips when already
// stored (idempotent by position). Ack, Detach and Reset are durable when
// they return. DESIGN.md has the file format, the request paths and the
// invariants.
//
// # Concurrency
//
// One goroutine appends while Sync, Stats and the consumers (each from
// one goroutine at a time) run concurrently; reads stream from the files
// with bounded memory and never hold up Append.
package buffer
