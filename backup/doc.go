// Package backup owns a node's backups (../shared/spec/backup.md): full
// backups (the state at one Raft index, the node's identity and the
// cluster's membership) and incremental ones (the committed log entries
// since the last full), their self-describing directory format
// (manifest, SHA-256 checksums, zstd, age encryption), the cron
// schedules with missed and overlapping runs reported, retention,
// verification, and the offline restore that writes a data directory.
//
// It reads the node only through Source (a consistent cut and the log,
// package cluster) and its command journal (a sink of the node's FSM:
// journal.go), and writes only into the backup directory and
// <data-dir>/backup; a restore writes a new data directory through
// cluster.WriteDataDir. It must not import the engine, replication, SNMP
// or HTTP packages: the machines a restore replays through are given to
// it, and ops serves its routes. See DESIGN.md beside this file.
package backup
