// Package reporting is the database side of the "reporting" replication
// type: it writes committed engine events (command.Event) into the central
// reporting server, a PostgreSQL database reached through pgx.
//
// # What it owns
//
// Everything inside one PostgreSQL schema (default "tandem", see
// WithSchema) of the reporting database: its creation and versioned
// migrations (schema_migrations), the cluster registry (clusters), the
// delivery position of each cluster (delivery), the raw event log (events)
// and the typed reporting tables filled from it (calls,
// agent_state_changes, queue_statistics, callbacks, chats, emails,
// problem_reports, and the contacts view across channels), the
// administration data that names what those tables refer to by ID
// (agents, queues, users, business_units, and admin_sync, the last sync
// per cluster), plus the retention settings the database's maintenance
// applies (retention). It also owns the checks that diagnose a reporting
// DSN (Check), whose Report the replication layer writes into its
// numbered diagnostic files.
//
// # What it must not touch
//
// It knows nothing of Raft, of the replication buffer, of leadership or of
// alarms: the replication layer reads events from the buffer, calls Deliver
// on the leader only, and acknowledges to the buffer what Deliver reports as
// delivered. It never reads the engine's state — the administration data
// is handed to it (AdminData, which has no field for a secret) — and never
// writes outside its schema.
//
// # Delivery guarantees
//
// Every row carries its cluster and the Raft position (raft_index, seq) of
// the event it came from; events is keyed by (cluster_id, raft_index, seq).
// Deliver writes one batch in one transaction that also moves the cluster's
// delivery position, so a batch is either wholly delivered or not at all.
// The transaction first locks the cluster's delivery row: two nodes that
// both believe they lead (a failover in progress) are serialised, and the
// second one skips what the first already wrote. Events at or before the
// delivery position are skipped (after checking that the stored event at
// the overlap is the same one, so a re-created cluster reusing a name is
// refused instead of being silently dropped); the rest are copied with
// COPY FROM STDIN BINARY (pgconn's CopyFrom, fed by an encoder that writes
// the binary format straight from the events, copy.go) into their tables.
// Should a copied row collide anyway (rows written by Backfill ahead of
// the position), the batch is redone the slow way: CopyFrom into a staging
// table, then INSERT … ON CONFLICT DO NOTHING, projecting only the rows
// that were really new. Either way,
// resuming, restarting a node or failing over to another leader leaves no
// gap and no duplicate: delivery from the buffer is at least once, the
// database makes it exactly once.
//
// A session that stalls inside its delivery transaction is ended by the
// server after a minute (idle_in_transaction_session_timeout), and a
// deliverer waits at most two minutes for the lock (ErrBusy), unless the
// DSN sets these itself.
//
// Batches should be bounded (a few thousand events, a few MB): a batch is
// encoded in memory before it is sent.
//
// # Typed tables
//
// A small registry (registry.go) routes event types to typed tables by
// family ("call.*" → calls) or exact type, and says which top-level JSON
// fields of the event's data fill which column. Every event lands in
// events whatever its type, so types unknown to the registry (configuration
// changes, or events newer than this build) are kept and can be projected
// by a later migration. Typed tables carry no unique key: a typed row is
// only written in the transaction that first inserts its event into
// events. Because the binary COPY streams must match the column types
// exactly, each new connection checks the catalog and refuses a schema
// altered by hand (ErrSchema).
//
// # Administration data
//
// SyncAdmin makes the cluster's rows of agents, queues, users and
// business_units, keyed by (cluster_id, id), hold exactly the AdminData
// it is given: one transaction upserts every row (synced_at: that sync)
// and deletes the cluster's rows of entities no longer there, then records
// the sync in admin_sync. Other clusters' rows are never touched; running
// it again with the same data changes nothing but synced_at. Syncs of one
// cluster are serialised by a lock on its admin_sync row, not on its
// delivery row, so delivery does not wait for them. These rows are not
// written from events: the replication layer runs SyncAdmin on its own
// (`replication sync --target reporting --admin`, first in every full
// sync, and at each activation of delivery on a leader).
package reporting
