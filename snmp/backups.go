package snmp

import "time"

// Backup levels (backup.md: full is level 0, incremental level 1).
const (
	BackupFull        = 0
	BackupIncremental = 1
)

// Backups is the node's backup scheduler as the agent reads it, at
// request time (tandemBackupTable). Package backup implements it and
// tandemd passes it in Sources; without it the table says never.
type Backups interface {
	BackupStatus() BackupStatus
}

// BackupStatus is this node's last backup of each level.
type BackupStatus struct {
	Full, Incremental BackupRun
}

// BackupRun is one backup's outcome. A zero At is a backup never run.
type BackupRun struct {
	At     time.Time // when it ended
	Failed bool
	Error  string // why it failed: no secret, no path the NOC must not see
}
