package replication

import (
	"context"
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
