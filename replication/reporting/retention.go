package reporting

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// AllTables is the retention key that applies to every table without its
// own entry.
const AllTables = "*"

const day = 24 * time.Hour

// RetainedTables lists the tables retention applies to.
func RetainedTables() []string {
	names := []string{"events"}
	for _, t := range typedTables {
		names = append(names, t.Name)
	}
	return names
}

// Retention returns the retention periods recorded in the reporting
// database (table → period, AllTables for the default). The database's
// own maintenance deletes older rows; Tandem only reads the settings to
// warn before a sync. A table without an entry, and without a default, is
// kept forever.
func (db *DB) Retention(ctx context.Context) (map[string]time.Duration, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	conn, err := db.connLocked(ctx)
	if err != nil {
		return nil, err
	}
	if err := db.readyLocked(ctx, conn); err != nil {
		db.dropIfBroken(conn)
		return nil, err
	}
	rows, err := conn.Query(ctx, db.sqlFor("SELECT table_name, keep_days FROM {{schema}}.retention"))
	if err != nil {
		db.dropIfBroken(conn)
		return nil, db.opError("reading retention settings", err)
	}
	defer rows.Close()
	out := map[string]time.Duration{}
	for rows.Next() {
		var (
			name string
			days int32
		)
		if err := rows.Scan(&name, &days); err != nil {
			return nil, db.opError("reading retention settings", err)
		}
		out[name] = time.Duration(days) * day
	}
	if err := rows.Err(); err != nil {
		db.dropIfBroken(conn)
		return nil, db.opError("reading retention settings", err)
	}
	return out, nil
}

// SetRetention records that the database keeps table's rows (AllTables:
// every table's) for keep, rounded up to whole days; keep ≤ 0 removes the
// entry (kept forever).
func (db *DB) SetRetention(ctx context.Context, table string, keep time.Duration) error {
	if table != AllTables && !knownTable(table) {
		return fmt.Errorf("reporting: retention: unknown table %q (want one of %v or %q)", table, RetainedTables(), AllTables)
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	conn, err := db.connLocked(ctx)
	if err != nil {
		return err
	}
	if err := db.readyLocked(ctx, conn); err != nil {
		db.dropIfBroken(conn)
		return err
	}
	if keep <= 0 {
		_, err = conn.Exec(ctx, db.sqlFor("DELETE FROM {{schema}}.retention WHERE table_name = $1"), table)
	} else {
		days := int32((keep + day - 1) / day)
		_, err = conn.Exec(ctx, db.sqlFor(`INSERT INTO {{schema}}.retention (table_name, keep_days) VALUES ($1, $2)
ON CONFLICT (table_name) DO UPDATE SET keep_days = excluded.keep_days, updated_at = now()`), table, days)
	}
	if err != nil {
		db.dropIfBroken(conn)
		return db.opError("writing retention settings", err)
	}
	return nil
}

func knownTable(name string) bool {
	for _, t := range RetainedTables() {
		if t == name {
			return true
		}
	}
	return false
}

// RetentionWarnings compares the database's retention with the cluster's
// (how far back the cluster holds history a sync could send) and returns
// one warning per table that would lose synchronised data at the
// database's next maintenance. None when cluster ≤ 0.
func (db *DB) RetentionWarnings(ctx context.Context, cluster time.Duration) ([]string, error) {
	r, err := db.Retention(ctx)
	if err != nil || cluster <= 0 {
		return nil, err
	}
	return retentionWarnings(r, cluster), nil
}

func retentionWarnings(r map[string]time.Duration, cluster time.Duration) []string {
	var out []string
	for _, t := range RetainedTables() {
		keep, ok := r[t]
		if !ok {
			keep, ok = r[AllTables]
		}
		if ok && keep < cluster {
			out = append(out, fmt.Sprintf(
				"reporting table %s keeps %d days, the cluster keeps %d days: synchronised rows older than %d days will be deleted at the reporting database's next maintenance",
				t, keep/day, (cluster+day-1)/day, keep/day))
		}
	}
	sort.Strings(out)
	return out
}
