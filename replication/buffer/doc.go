// Package buffer is the durable, bounded, on-disk replication buffer of one
// node.
//
// Committed engine events (command.Event) are appended in log order; each
// named consumer ("reporting", "standby") reads from its own durable cursor
// and acknowledges what it has delivered. A record is dropped only when
// every active consumer has acknowledged past it; a detached consumer (a
// stopped replication) no longer holds data back.
//
// What it owns: the files in its directory — segment files
// (seg-<index>-<seq>.log, named by their first position), one cursor file
// per consumer (cursor-<name>.json), meta.json (the position up to which
// records were dropped) and LOCK. What it must not touch: the network, the
// engines, the delivery targets, alarm policy. It only reports its fill
// (Stats); the replication layer decides what to stop and when.
//
// # On-disk format
//
// A segment is a sequence of records, each framed as
//
//	uint32 LE payload length | uint32 LE CRC32C(length bytes ‖ payload) | payload
//
// where the payload is a compact binary encoding of one event (see
// record.go). Open scans every segment; a short or corrupt record at the
// tail of the last segment (a torn write) is truncated away together with
// anything after it. Corruption anywhere else is reported as ErrCorrupt.
//
// # Durability contract
//
// Append writes each batch with one write(2) per segment straight to the
// file (no user-space buffering), so a killed process loses at most the
// record being written, which Open truncates. With Options.SyncEveryAppend
// the batch is also fsynced before Append returns. Without it (group sync)
// events appended since the last Sync may be lost by an OS crash or power
// loss; that is safe because the Raft FSM re-applies the log entries after
// its last snapshot on restart and re-appends their events. Hence the rule:
// the cluster layer calls Sync before a Raft snapshot is persisted, so that
// no event whose log entry may then be compacted away exists only in the
// page cache. Appends are idempotent by position: an event at or before the
// last stored (Index, Seq) is skipped, so re-applied entries are not stored
// twice. Sealed segments are fsynced when the next one starts.
//
// Cursor files are written atomically (temp file, fsync, rename, fsync of
// the directory) on every Ack, so after a restart a consumer resumes just
// after the last position it acknowledged: delivery is at least once, and
// the target dedupes by Raft index.
//
// # Accounting
//
// UsedBytes counts the framed bytes of records some active consumer has not
// acknowledged yet, exactly. Space is returned to the file system a whole
// segment at a time, so the directory may hold up to MaxBytes plus about
// one segment (Options.SegmentBytes).
//
// # Concurrency
//
// One appender and any number of consumer goroutines may use a Buffer at
// once. Reads stream from the files without holding the buffer's lock;
// memory does not grow with the amount of data buffered.
package buffer
