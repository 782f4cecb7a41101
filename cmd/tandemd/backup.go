package main

import (
	"log/slog"
	"time"

	"github.com/tandemcc/tandem/backup"
	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/contactcenter"
	"github.com/tandemcc/tandem/snmp"
)

// newBackups is this node's backup manager when --backup-dir is given
// (nil otherwise); node.go runs its schedules. Backups hold password
// hashes, phone secrets and the admin token: without --backup-key-file
// one warning says so at start (never anything of their content). A
// failed run is a tandemBackupFailed notification of the SNMP agent.
func newBackups(o options, store *cluster.Store, journal *backup.Journal, agent *snmp.Agent, logger *slog.Logger) (*backup.Manager, error) {
	if o.Backup.Dir == "" {
		return nil, nil
	}
	set, err := o.Backup.Settings()
	if err != nil {
		return nil, err
	}
	if set.Key == nil {
		logger.Warn("backups are not encrypted: they hold password hashes, phone secrets and the admin token; give --backup-key-file to encrypt them",
			"backup_dir", set.Dir)
	}
	onResult := func(r backup.Result) {
		if r.Result == backup.ResultFailed {
			agent.BackupFailed(r.Level, snmpRun(&r))
		}
	}
	return backup.New(backup.Config{Settings: set, NodeID: o.NodeID, DataDir: o.DataDir, Source: store, Logger: logger, OnResult: onResult,
		Journal: journal, ApplyTypes: []string{contactcenter.TypeConfigApply}})
}

// openJournal opens this node's backup journal when --backup-dir is
// given (nil otherwise): incrementals are read from it.
func openJournal(o options, logger *slog.Logger) (*backup.Journal, error) {
	if o.Backup.Dir == "" {
		return nil, nil
	}
	return backup.OpenJournal(o.DataDir, logger)
}

// backupsMIB shows the backup manager in TANDEM-MIB's tandemBackupTable.
type backupsMIB struct{ m *backup.Manager }

func (b backupsMIB) BackupStatus() snmp.BackupStatus {
	st := b.m.Status()
	return snmp.BackupStatus{Full: snmpRun(st.LastFull), Incremental: snmpRun(st.LastIncremental)}
}

// snmpRun is a backup run as the MIB shows it: when it ended, and why it
// failed. A nil run is one never taken.
func snmpRun(r *backup.Result) snmp.BackupRun {
	if r == nil {
		return snmp.BackupRun{}
	}
	return snmp.BackupRun{
		At:     r.Time.Add(time.Duration(r.DurationMS) * time.Millisecond),
		Failed: r.Result == backup.ResultFailed,
		Error:  r.Error,
	}
}
