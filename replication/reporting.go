package replication

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tandemcc/tandem/command"
	"github.com/tandemcc/tandem/replication/reporting"
)

// ReportingTarget delivers to the central reporting database. It connects
// lazily and reconnects after failures, so a node starts and keeps
// buffering while the database is down; the schema is migrated on first
// connection.
type ReportingTarget struct {
	DSN  string
	Opts []reporting.Option
	// Admin reads the cluster's current administration data from the
	// engine, in one consistent view and without secrets. nil: this node
	// cannot synchronise administration data (SyncAdmin fails).
	Admin func(ctx context.Context) (reporting.AdminData, error)

	mu sync.Mutex
	db *reporting.DB
}

func (r *ReportingTarget) conn(ctx context.Context) (*reporting.DB, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.db != nil {
		return r.db, nil
	}
	db, err := reporting.Open(ctx, r.DSN, r.Opts...)
	if err != nil {
		return nil, err
	}
	if _, err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrating reporting schema: %w", err)
	}
	r.db = db
	return db, nil
}

// Deliver implements Target. Command records (the standby's) are not
// reporting data: they are skipped, and a batch that delivered everything
// else is acknowledged through its last record, skipped ones included.
func (r *ReportingTarget) Deliver(ctx context.Context, events []command.Event) (command.Position, error) {
	rows, last := withoutCommandRecords(events)
	if len(rows) == 0 {
		return last, nil
	}
	db, err := r.conn(ctx)
	if err != nil {
		return command.Position{}, err
	}
	pos, err := db.Deliver(ctx, rows)
	if err == nil && !rows[len(rows)-1].Pos().After(pos) && last.After(pos) {
		pos = last
	}
	return pos, err
}

// Backfill implements Backfiller: a reporting sync re-sends history; the
// database skips what it holds (reporting.DB.Backfill).
func (r *ReportingTarget) Backfill(ctx context.Context, events []command.Event) (int, error) {
	db, err := r.conn(ctx)
	if err != nil {
		return 0, err
	}
	return db.Backfill(ctx, events)
}

// RetentionWarnings implements Backfiller.
func (r *ReportingTarget) RetentionWarnings(ctx context.Context, cluster time.Duration) ([]string, error) {
	db, err := r.conn(ctx)
	if err != nil {
		return nil, err
	}
	return db.RetentionWarnings(ctx, cluster)
}

// ClusterName implements ClusterNamer: the name this cluster's rows carry
// in the reporting database.
func (r *ReportingTarget) ClusterName() string { return reporting.ClusterName(r.Opts...) }

// SyncAdmin implements AdminSyncer.
func (r *ReportingTarget) SyncAdmin(ctx context.Context, progress func(done, total int64)) error {
	_, err := r.SyncAdminSummary(ctx, progress)
	return err
}

// SyncAdminSummary implements AdminSummarizer: it makes the reporting
// database's administration tables hold exactly the engine's current
// agents, queues, users and business units for this cluster
// (reporting.DB.SyncAdmin). It runs on a connection of its own, so
// delivery does not wait for it; progress counts rows.
func (r *ReportingTarget) SyncAdminSummary(ctx context.Context, progress func(done, total int64)) (string, error) {
	if r.Admin == nil {
		return "", errors.New("this node cannot read its administration data")
	}
	if _, err := r.conn(ctx); err != nil { // the schema is migrated
		return "", err
	}
	data, err := r.Admin(ctx)
	if err != nil {
		return "", fmt.Errorf("reading the administration data: %w", err)
	}
	db, err := reporting.Open(ctx, r.DSN, r.Opts...)
	if err != nil {
		return "", err
	}
	defer db.Close()
	res, err := db.SyncAdmin(ctx, data, progress)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("administration data of cluster %s synchronised to reporting: %s", res.Cluster, res), nil
}

// LastDelivered implements Target.
func (r *ReportingTarget) LastDelivered(ctx context.Context) (command.Position, error) {
	db, err := r.conn(ctx)
	if err != nil {
		return command.Position{}, err
	}
	return db.LastDelivered(ctx)
}

// Diagnose implements Target: the checks of reporting.Check.
func (r *ReportingTarget) Diagnose(ctx context.Context) (string, error) {
	rep := reporting.Check(ctx, r.DSN, r.Opts...)
	return rep.String(), rep.Err()
}

// Close closes the connection.
func (r *ReportingTarget) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.db == nil {
		return nil
	}
	err := r.db.Close()
	r.db = nil
	return err
}
