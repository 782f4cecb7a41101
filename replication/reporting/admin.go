package reporting

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// AdminData is one cluster's administration data as reports need it: the
// names and attributes of its agents, queues, users and business units,
// which the event tables refer to by ID. It has no field for a secret (a
// password hash, a phone secret): none can reach the database through it.
// The caller reads it from the engine in one consistent view.
type AdminData struct {
	// Index is the Raft index the data was read at (0: unknown), recorded
	// in admin_sync for information.
	Index         uint64
	Agents        []AdminAgent
	Queues        []AdminQueue
	Users         []AdminUser
	BusinessUnits []AdminBusinessUnit
}

// AdminAgent is an agent: its display name (its user's when it has none
// of its own), the user it logs in as, its extension, the queues it serves
// and its skills (skill → level).
type AdminAgent struct {
	ID            string
	Name          string
	User          string
	Extension     string
	Queues        []string
	Skills        map[string]int
	WrapUpSeconds int
}

// AdminQueue is a queue: name, business unit, routing strategy, service
// level target and the skills its calls require.
type AdminQueue struct {
	ID                  string
	Name                string
	BusinessUnit        string
	Strategy            string
	ServiceLevelSeconds int
	Skills              map[string]int
}

// AdminUser is a user (an employee with an extension): names, company,
// extension, business unit and permission categories.
type AdminUser struct {
	ID                 string
	Name               string
	FirstName          string
	LastName           string
	Company            string
	Extension          string
	BusinessUnit       string
	CallCategory       string
	ForwardingCategory string
}

// AdminBusinessUnit is a business unit (a tenant).
type AdminBusinessUnit struct {
	ID   string
	Name string
}

// AdminCount is what a sync did to one table.
type AdminCount struct {
	Table   string `json:"table"`
	Rows    int    `json:"rows"`    // rows the sync wrote (every entity of the cluster)
	New     int    `json:"new"`     // of which were not there before
	Removed int    `json:"removed"` // rows of entities the cluster no longer has
}

// AdminResult is what DB.SyncAdmin did.
type AdminResult struct {
	Cluster string       `json:"cluster"`
	Index   uint64       `json:"raft_index"`
	Tables  []AdminCount `json:"tables"` // in AdminTables order
}

// Count returns the count of table (zero when it is not one of
// AdminTables).
func (r AdminResult) Count(table string) AdminCount {
	for _, c := range r.Tables {
		if c.Table == table {
			return c
		}
	}
	return AdminCount{Table: table}
}

// String summarises the sync: "3 agents (1 new), 2 queues, 4 users, 2
// business units; removed 1 agent".
func (r AdminResult) String() string {
	var rows, removed []string
	for i, c := range r.Tables {
		noun := adminTables[i].Noun
		s := plural(c.Rows, noun)
		if c.New > 0 && c.New < c.Rows {
			s += fmt.Sprintf(" (%d new)", c.New)
		}
		rows = append(rows, s)
		if c.Removed > 0 {
			removed = append(removed, plural(c.Removed, noun))
		}
	}
	out := strings.Join(rows, ", ")
	if len(removed) > 0 {
		out += "; removed " + strings.Join(removed, ", ")
	}
	return out
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// ClusterName is the cluster name opts give (DefaultCluster unless
// WithCluster): the name every row of that cluster carries.
func ClusterName(opts ...Option) string {
	o := defaultOptions()
	for _, f := range opts {
		f(&o)
	}
	return o.cluster
}

// SyncAdmin makes this cluster's administration tables (AdminTables) hold
// exactly data: it upserts a row per entity and deletes the cluster's rows
// of entities data no longer has, in one transaction, and records the sync
// in admin_sync. Other clusters' rows are never touched. Running it twice
// with the same data changes nothing but synced_at. Two syncs of one
// cluster are serialised by a lock on its admin_sync row (delivery is not
// blocked by it). progress, when set, is told how many of the rows were
// written (done, total).
func (db *DB) SyncAdmin(ctx context.Context, data AdminData, progress func(done, total int64)) (AdminResult, error) {
	rows, err := data.rows()
	if err != nil {
		return AdminResult{}, err
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	conn, err := db.connLocked(ctx)
	if err != nil {
		return AdminResult{}, err
	}
	if err := db.readyLocked(ctx, conn); err != nil {
		db.dropIfBroken(conn)
		return AdminResult{}, err
	}
	res, err := db.syncAdminTx(ctx, conn, rows, data.Index, progress)
	if err != nil {
		db.dropIfBroken(conn)
		return AdminResult{}, db.opError("synchronising administration data", err)
	}
	res.Cluster = db.opts.cluster
	return res, nil
}

func (db *DB) syncAdminTx(ctx context.Context, conn *pgx.Conn, rows [][]map[string]any, index uint64, progress func(done, total int64)) (AdminResult, error) {
	res := AdminResult{Index: index}
	var total, done int64
	for _, r := range rows {
		total += int64(len(r))
	}
	if progress != nil {
		progress(0, total)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return res, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after Commit
	// The cluster's admin_sync row is the lock that serialises its syncs.
	if _, err := tx.Exec(ctx, db.sqlFor(`INSERT INTO {{schema}}.admin_sync (cluster_id) VALUES ($1)
ON CONFLICT (cluster_id) DO UPDATE SET cluster_id = EXCLUDED.cluster_id`), db.clusterID); err != nil {
		return res, fmt.Errorf("locking the cluster's administration data: %w", err)
	}
	counts := map[string]int{}
	for i, t := range adminTables {
		c, err := db.syncAdminTable(ctx, tx, t, rows[i])
		if err != nil {
			return res, err
		}
		res.Tables = append(res.Tables, c)
		counts[t.Name] = c.Rows
		done += int64(len(rows[i]))
		if progress != nil && done < total {
			progress(done, total)
		}
	}
	if _, err := tx.Exec(ctx, db.sqlFor(`UPDATE {{schema}}.admin_sync
   SET raft_index = $2, agents = $3, queues = $4, users = $5, business_units = $6, synced_at = now()
 WHERE cluster_id = $1`), db.clusterID, int64(index), counts["agents"], counts["queues"], counts["users"],
		counts["business_units"]); err != nil {
		return res, fmt.Errorf("recording the administration-data sync: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return res, fmt.Errorf("committing the administration data: %w", err)
	}
	if progress != nil {
		progress(total, total)
	}
	return res, nil
}

// syncAdminTable writes one table's rows and deletes the cluster's rows
// that are not among them.
func (db *DB) syncAdminTable(ctx context.Context, tx pgx.Tx, t *adminTable, rows []map[string]any) (AdminCount, error) {
	c := AdminCount{Table: t.Name}
	doc, err := json.Marshal(rows)
	if err != nil {
		return c, fmt.Errorf("encoding %s: %w", t.Name, err)
	}
	var n, fresh int64
	if err := tx.QueryRow(ctx, db.sqlFor(t.upsertSQL()), db.clusterID, doc).Scan(&n, &fresh); err != nil {
		return c, fmt.Errorf("writing %s: %w", t.Name, err)
	}
	ids := make([]string, 0, len(rows))
	for _, r := range rows {
		ids = append(ids, r[t.Key].(string))
	}
	tag, err := tx.Exec(ctx, db.sqlFor(t.deleteSQL()), db.clusterID, ids)
	if err != nil {
		return c, fmt.Errorf("removing %s the cluster no longer has: %w", t.Name, err)
	}
	c.Rows, c.New, c.Removed = int(n), int(fresh), int(tag.RowsAffected())
	return c, nil
}

// rows turns data into the JSON rows of each of adminTables (same order),
// refusing an entity without an ID or an ID given twice.
func (d AdminData) rows() ([][]map[string]any, error) {
	out := make([][]map[string]any, len(adminTables))
	seen := make([]map[string]bool, len(adminTables))
	add := func(i int, id string, cols map[string]any) error {
		t := adminTables[i]
		id = cleanText(id)
		if id == "" {
			return fmt.Errorf("reporting: administration data: a %s without an ID", t.Noun)
		}
		if seen[i] == nil {
			seen[i] = map[string]bool{}
		}
		if seen[i][id] {
			return fmt.Errorf("reporting: administration data: %s %q given twice", t.Noun, id)
		}
		seen[i][id] = true
		row := map[string]any{t.Key: id}
		for k, v := range cols {
			if s, ok := v.(string); ok {
				v = cleanText(s)
			}
			row[k] = v
		}
		out[i] = append(out[i], row)
		return nil
	}
	for _, a := range d.Agents {
		queues := make([]string, len(a.Queues))
		for i, q := range a.Queues {
			queues[i] = cleanText(q)
		}
		if err := add(0, a.ID, map[string]any{"name": a.Name, "user_id": a.User, "extension": a.Extension,
			"queues": queues, "skills": cleanSkills(a.Skills), "wrap_up_seconds": a.WrapUpSeconds}); err != nil {
			return nil, err
		}
	}
	for _, q := range d.Queues {
		if err := add(1, q.ID, map[string]any{"name": q.Name, "business_unit": q.BusinessUnit, "strategy": q.Strategy,
			"service_level_seconds": q.ServiceLevelSeconds, "skills": cleanSkills(q.Skills)}); err != nil {
			return nil, err
		}
	}
	for _, u := range d.Users {
		if err := add(2, u.ID, map[string]any{"name": u.Name, "first_name": u.FirstName, "last_name": u.LastName,
			"company": u.Company, "extension": u.Extension, "business_unit": u.BusinessUnit,
			"call_category": u.CallCategory, "forwarding_category": u.ForwardingCategory}); err != nil {
			return nil, err
		}
	}
	for _, b := range d.BusinessUnits {
		if err := add(3, b.ID, map[string]any{"name": b.Name}); err != nil {
			return nil, err
		}
	}
	for i := range out {
		if out[i] == nil {
			out[i] = []map[string]any{}
		}
	}
	return out, nil
}

// cleanSkills makes skill names storable (jsonb refuses NUL).
func cleanSkills(s map[string]int) map[string]int {
	out := make(map[string]int, len(s))
	for k, v := range s {
		out[cleanText(k)] = v
	}
	return out
}
